//! The DynamoDB team backend: state, lock and migration in a table of the local endpoint.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

const TABLE: &str = "dynamodb://terrane-state";

fn json(moto: &Moto, args: &[&str]) -> serde_json::Value {
    let out = terrane(Some(moto), args);
    expect_code(&out, 0);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", text(&out)))
}

#[tokio::test]
async fn a_stack_applied_with_state_in_dynamodb_keeps_nothing_locally() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    expect_code(
        &terrane(
            Some(&moto),
            &["apply", dir, "--auto-approve", "--backend", TABLE],
        ),
        0,
    );
    assert!(
        !work.file(".terrane/state.db").exists(),
        "no local state with the team backend"
    );
    let listed = json(&moto, &["state", "list", dir, "--json", "--backend", TABLE]);
    assert_eq!(listed.as_array().unwrap().len(), 5);
    // Another machine (another working copy) sees the same state: nothing to do.
    let elsewhere = Workdir::copy_of("stacks/examples/minimal");
    let out = terrane(
        Some(&moto),
        &[
            "plan",
            elsewhere.path().to_str().unwrap(),
            "--detailed-exitcode",
            "--backend",
            TABLE,
        ],
    );
    expect_code(&out, 0);
    // The table really holds it (read with the SDK, not through terrane).
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .load()
        .await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let item = ddb
        .get_item()
        .table_name("terrane-state")
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("stack#minimal#state".into()),
        )
        .send()
        .await
        .unwrap();
    let doc = item.item().unwrap()["document"].as_s().unwrap().clone();
    assert!(doc.contains("aws.ec2.vpc"), "{doc}");
    expect_code(
        &terrane(
            Some(&moto),
            &["destroy", dir, "--auto-approve", "--backend", TABLE],
        ),
        0,
    );
    assert_eq!(
        owned_count(&ec2(&moto, "us-east-1").await, "minimal").await,
        0
    );
}

#[tokio::test]
async fn two_concurrent_applies_on_the_team_backend_one_is_refused() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/thirty");
    let dir = work.path().to_str().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args([
        "apply",
        dir,
        "--auto-approve",
        "--parallelism",
        "1",
        "--backend",
        TABLE,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let mut first = cmd.spawn().unwrap();
    // Under a loaded machine the first apply may take a while to start; give it time, but
    // notice if it finished before it was ever seen holding the lock.
    let mut locked = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let probe = terrane(Some(&moto), &["state", "unlock", dir, "--backend", TABLE]);
        if stderr(&probe).contains("the lock is held by") {
            locked = true;
            break;
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first apply ended before it was seen holding the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(locked, "the first apply never took the lock");
    let other = Workdir::copy_of("tests/stacks/thirty");
    let out = terrane(
        Some(&moto),
        &[
            "apply",
            other.path().to_str().unwrap(),
            "--auto-approve",
            "--backend",
            TABLE,
        ],
    );
    expect_code(&out, 1);
    assert!(
        stderr(&out).contains("is locked by")
            && stderr(&out).contains(&format!("(pid {})", first.id())),
        "names the holder: {}",
        text(&out)
    );
    assert!(first.wait().unwrap().success());
    let out = terrane(
        Some(&moto),
        &[
            "plan",
            other.path().to_str().unwrap(),
            "--detailed-exitcode",
            "--backend",
            TABLE,
        ],
    );
    expect_code(&out, 0);
}

#[tokio::test]
async fn state_migrates_from_the_local_file_to_dynamodb_with_nothing_lost() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    let local = json(&moto, &["state", "list", dir, "--json"]);
    expect_code(
        &terrane(Some(&moto), &["state", "migrate", "--to", TABLE, dir]),
        0,
    );
    assert_eq!(
        json(&moto, &["state", "list", dir, "--json", "--backend", TABLE]),
        local
    );
    // The stack now names its backend; runs use it without a flag.
    work.edit(
        "stack.yaml",
        "region: us-east-1\n",
        &format!("region: us-east-1\nbackend: {TABLE}\n"),
    );
    std::fs::remove_dir_all(work.file(".terrane")).unwrap();
    expect_code(
        &terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]),
        0,
    );
    assert!(!work.file(".terrane/state.db").exists());
}
