//! `terrane-bench startup`: how long the `terrane` binary takes to start and answer, and its
//! peak memory: `terrane --version`, and `terrane validate` of each reference stack (a
//! copy of `stacks/`, so that shared modules resolve). Median of N runs each; no network.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::live::{self, run_measured};

/// A reference stack: its directory under stacks/, the environment its documentation
/// uses, and the secrets it reads from the environment (dummy values).
struct Reference {
    dir: &'static str,
    env: &'static str,
    secrets: &'static [(&'static str, &'static str)],
}

const REFERENCES: &[Reference] = &[
    Reference {
        dir: "ai-teddy-bear",
        env: "dev",
        secrets: &[("TEDDY_DB_PASSWORD", "bench-only-password")],
    },
    Reference {
        dir: "pyairtable",
        env: "dev",
        secrets: &[("PYAIRTABLE_DB_PASSWORD", "bench-only-password")],
    },
    Reference {
        dir: "ai-tutor",
        env: "dev",
        secrets: &[
            ("TUTOR_OPENAI_API_KEY", "bench-only"),
            ("TUTOR_SUPABASE_SERVICE_KEY", "bench-only"),
            ("TUTOR_ELEVEN_API_KEY", "bench-only"),
        ],
    },
    Reference {
        dir: "ai-nutritionist",
        env: "staging",
        secrets: &[],
    },
    Reference {
        dir: "babyrobots",
        env: "staging",
        secrets: &[("BABYROBOTS_DB_PASSWORD", "bench-only-password")],
    },
];

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("create a directory");
    for entry in std::fs::read_dir(src).expect("read a directory") {
        let entry = entry.expect("a directory entry");
        if entry.file_name() == ".terrane" {
            continue;
        }
        let target = dst.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy a file");
        }
    }
}

/// A command that cannot reach AWS (an unroutable endpoint makes any attempt fail fast).
fn offline_cmd(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("TERRANE_STATE")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

struct Row {
    what: String,
    resources: Option<usize>,
    wall_median: f64,
    wall_min: f64,
    rss_median: f64,
}

/// `runs` runs of `make()`, after one unmeasured warm-up run (page cache).
fn measure(what: String, runs: usize, make: &dyn Fn() -> Command) -> Row {
    let warm = run_measured(&mut make()).expect_ok(&what);
    let resources = resources_in(&warm.stdout);
    let mut walls = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        let r = run_measured(&mut make()).expect_ok(&what);
        walls.push(r.wall.as_secs_f64());
        rss.push(r.peak_rss_mib);
    }
    let wall_min = walls.iter().copied().fold(f64::INFINITY, f64::min);
    let row = Row {
        what,
        resources,
        wall_median: live::median(&mut walls),
        wall_min,
        rss_median: live::median(&mut rss),
    };
    eprintln!(
        "startup: {}: median {:.1} ms, {:.1} MiB",
        row.what,
        row.wall_median * 1000.0,
        row.rss_median
    );
    row
}

/// The resource count `validate` reports (`... N resources ...`), if it says one.
fn resources_in(stdout: &str) -> Option<usize> {
    let words: Vec<&str> = stdout.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        (w[1].trim_end_matches([',', '.', ')']) == "resources")
            .then(|| w[0].trim_start_matches('(').parse().ok())
            .flatten()
    })
}

/// Runs the benchmark and returns its markdown section (with markers).
pub fn run(args: &[String]) -> String {
    let bin = live::terrane_binary(args);
    let runs: usize = live::flag_num(args, "--runs", 15);
    let header = format!("{} Binary: `{}`.", live::measured_on(), bin.display());
    let copy = tempfile::tempdir().expect("temp dir");
    let stacks = copy.path().join("stacks");
    copy_dir(&terrane_testkit::repo_root().join("stacks"), &stacks);

    let mut rows = vec![measure("`terrane --version`".into(), runs, &|| {
        offline_cmd(&bin, &["--version"])
    })];
    for r in REFERENCES {
        let dir = stacks.join(r.dir);
        let dir = dir.to_str().expect("a UTF-8 temp path").to_string();
        rows.push(measure(
            format!("`terrane validate stacks/{} --env {}`", r.dir, r.env),
            runs,
            &|| {
                let mut cmd = offline_cmd(&bin, &["validate", &dir, "--env", r.env]);
                for (k, v) in r.secrets {
                    cmd.env(k, v);
                }
                cmd
            },
        ));
    }

    let mut md = String::from(
        "<!-- startup:start (written by `cargo run --release -p terrane-bench -- startup`) -->\n",
    );
    let _ = writeln!(md, "{header}\n");
    let _ = writeln!(
        md,
        "Median of {runs} runs each (after one unmeasured run), from spawn to exit; peak memory is the process's own high-water mark (wait4's rusage of that child).\n"
    );
    md.push_str("| command | resources | wall time (median) | fastest | peak memory (median) |\n| --- | ---: | ---: | ---: | ---: |\n");
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | **{:.1} ms** | {:.1} ms | {:.1} MiB |",
            r.what,
            r.resources
                .map(|n| n.to_string())
                .unwrap_or_else(|| "".into()),
            r.wall_median * 1000.0,
            r.wall_min * 1000.0,
            r.rss_median,
        );
    }
    md.push_str("<!-- startup:end -->\n");
    md
}
