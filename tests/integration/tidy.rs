//! Checks that generated files in the repository match what terrane generates now.

use crate::support::*;

#[test]
fn the_committed_json_schema_is_current() {
    let out = terrane(None, &["schema"]);
    expect_code(&out, 0);
    let path = repo_root().join("docs/stack.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != stdout(&out) {
        if std::env::var_os("TERRANE_BLESS").is_some() {
            std::fs::write(&path, stdout(&out)).unwrap();
        } else {
            panic!(
                "docs/stack.schema.json is out of date: run with TERRANE_BLESS=1 to regenerate it"
            );
        }
    }
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert!(schema["properties"]["resources"].is_object());
}

#[test]
fn every_example_stack_validates() {
    let root = repo_root().join("stacks/examples");
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        let out = terrane(None, &["validate", dir.to_str().unwrap()]);
        expect_code(&out, 0);
    }
}

#[test]
fn the_committed_resource_reference_is_current() {
    let tmp = tempfile::tempdir().unwrap();
    let out = terrane(None, &["docs", tmp.path().to_str().unwrap()]);
    expect_code(&out, 0);
    let committed = repo_root().join("docs/resources");
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(tmp.path()).unwrap() {
        let entry = entry.unwrap();
        let fresh = std::fs::read_to_string(entry.path()).unwrap();
        let target = committed.join(entry.file_name());
        if std::fs::read_to_string(&target).ok().as_deref() != Some(fresh.as_str()) {
            if std::env::var_os("TERRANE_BLESS").is_some() {
                std::fs::create_dir_all(&committed).unwrap();
                std::fs::write(&target, &fresh).unwrap();
            } else {
                stale.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/resources is out of date ({stale:?}): run with TERRANE_BLESS=1 to regenerate"
    );
}

#[test]
fn the_ai_tutor_graph_in_docs_is_current() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_terrane"))
        .args([
            "graph",
            "stacks/ai-tutor",
            "--env",
            "dev",
            "--format",
            "mermaid",
        ])
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env("TUTOR_OPENAI_API_KEY", "unused")
        .env("TUTOR_SUPABASE_SERVICE_KEY", "unused")
        .env("TUTOR_ELEVEN_API_KEY", "unused")
        .output()
        .unwrap();
    expect_code(&out, 0);
    let path = repo_root().join("docs/stacks.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- graph:start -->\n", "<!-- graph:end -->");
    let (Some(a), Some(b)) = (doc.find(start), doc.find(end)) else {
        panic!("docs/stacks.md has no graph markers");
    };
    let fresh = format!("```mermaid\n{}```\n", stdout(&out));
    if doc[a + start.len()..b] != fresh {
        if std::env::var_os("TERRANE_BLESS").is_some() {
            let updated = format!("{}{fresh}{}", &doc[..a + start.len()], &doc[b..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!("the AI Tutor graph in docs/stacks.md is out of date: run with TERRANE_BLESS=1");
        }
    }
}
