//! The bad-input corpus: every stack under tests/bad-stacks fails validation with exactly
//! its snapshot (file, line, column and an actionable message), exit code 1, no panic.

use crate::support::*;

#[test]
fn every_bad_stack_fails_with_its_snapshot() {
    let root = repo_root().join("tests/bad-stacks");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 40,
        "the corpus holds at least 40 stacks, found {}",
        cases.len()
    );
    let bless = std::env::var_os("TERRANE_BLESS").is_some();
    let mut mismatches = Vec::new();
    for case in &cases {
        let dir = case.to_str().unwrap();
        let out = terrane(None, &["validate", dir]);
        let err = stderr(&out).replace(dir, "$DIR");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{dir} must fail validation\n{}",
            text(&out)
        );
        assert!(!err.contains("panicked"), "{dir} panicked:\n{err}");
        assert!(
            err.contains("$DIR/"),
            "{dir}: the error names no file\n{err}"
        );
        let snapshot = case.join("expected.txt");
        let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
        if expected != err {
            if bless {
                std::fs::write(&snapshot, &err).unwrap();
            } else {
                mismatches.push(format!(
                    "--- {}\nexpected:\n{expected}\nactual:\n{err}",
                    case.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} snapshot(s) differ (TERRANE_BLESS=1 regenerates):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
