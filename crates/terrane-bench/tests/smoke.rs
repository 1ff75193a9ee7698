//! The benchmark command runs end to end, on small sizes, with the debug `terrane` built
//! beside it by the same `cargo test`: every section is measured against the local
//! endpoint and written into a page, so `scripts/bench.sh` cannot rot between the (slow,
//! release-build) runs that regenerate docs/benchmarks.md. Nothing here is timed.

use std::path::PathBuf;
use std::process::Command;

/// The debug `terrane` binary: this test's executable is `<target>/debug/deps/smoke-*`.
fn debug_terrane() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the target's debug directory");
    debug.join("terrane")
}

fn section<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page
        .find(&format!("<!-- {name}:start"))
        .unwrap_or_else(|| panic!("no {name} section in\n{page}"));
    let end = page[start..]
        .find(&format!("<!-- {name}:end -->"))
        .unwrap_or_else(|| panic!("the {name} section does not end\n{page}"));
    &page[start..start + end]
}

#[test]
fn every_benchmark_runs_and_writes_its_section() {
    let terrane = debug_terrane();
    if !terrane.exists() {
        // `cargo test -p terrane-bench` alone does not build the CLI; the workspace run does.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "terrane-cli", "--bin", "terrane"])
            .status()
            .expect("cargo build");
        assert!(status.success());
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("benchmarks.md");
    std::fs::write(&page, "# Benchmarks\n\nProse the run must keep.\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_terrane-bench"))
        .args(["all", "--terrane"])
        .arg(&terrane)
        .arg("--out")
        .arg(&page)
        .args([
            "--sizes",
            "200,400",
            "--resources",
            "60",
            "--parallelism",
            "8",
            "--latency-ms",
            "20",
            "--wide",
            "4",
            "--chains",
            "2",
            "--depth",
            "3",
            "--runs",
            "1",
        ])
        .output()
        .expect("run terrane-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "terrane-bench all failed:\n{stderr}");
    let page = std::fs::read_to_string(&page).unwrap();
    assert!(page.starts_with("# Benchmarks\n\nProse the run must keep.\n"));

    let offline = section(&page, "offline");
    for n in ["| 200 |", "| 400 |"] {
        assert!(offline.contains(n), "{offline}");
    }
    let calls = section(&page, "calls");
    assert!(
        calls.contains("Stack: 60 resources over 3 regions"),
        "{calls}"
    );
    // Both unchanged reads are counted per operation: each type read in every region.
    for op in [
        "DescribeVpcs",
        "DescribeSubnets",
        "DescribeSecurityGroupRules",
    ] {
        let row = calls
            .lines()
            .find(|l| l.starts_with(&format!("| {op} |")))
            .unwrap_or_else(|| panic!("no {op} row in\n{calls}"));
        assert_eq!(row, format!("| {op} | 3 | 3 |"), "{calls}");
    }
    let latency = section(&page, "latency");
    for graph in [
        "| wide (4 x 1) | 4 |",
        "| deep (2 x 3) | 6 |",
        "| chain (1 x 3) | 3 |",
    ] {
        assert!(latency.contains(graph), "{latency}");
    }
    let startup = section(&page, "startup");
    assert!(startup.contains("`terrane --version`"), "{startup}");
    assert!(startup.contains("stacks/ai-teddy-bear"), "{startup}");
}
