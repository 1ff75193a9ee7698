//! SIGINT during apply: what is in flight finishes and is recorded, nothing new starts,
//! the lock is released, state matches AWS, and a rerun converges.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

#[tokio::test]
async fn sigint_stops_an_apply_cleanly_and_a_rerun_converges() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/thirty");
    let dir = work.path().to_str().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args(["apply", dir, "--auto-approve", "--parallelism", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    // Interrupt once the apply has made a few resources.
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the apply never got going"
        );
        let out = terrane(Some(&moto), &["state", "journal", dir, "--json"]);
        let made = serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
            .map(|j| j.iter().filter(|e| e["outcome"] == "succeeded").count())
            .unwrap_or(0);
        if made >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an interrupted apply does not report success\n{}",
        text(&out)
    );
    assert!(
        stderr(&out).contains("interrupted: finishing the operations in flight"),
        "{}",
        text(&out)
    );
    assert!(
        stdout(&out).contains("skipped: the run was interrupted before this started"),
        "{}",
        text(&out)
    );

    // The lock was released, every operation has an outcome, and state is exactly AWS.
    let probe = terrane(Some(&moto), &["state", "unlock", dir]);
    assert!(stdout(&probe).contains("is not locked"), "{}", text(&probe));
    let journal: Vec<serde_json::Value> =
        serde_json::from_slice(&terrane(Some(&moto), &["state", "journal", dir, "--json"]).stdout)
            .unwrap();
    assert!(
        journal.iter().all(|e| !e["outcome"].is_null()),
        "an operation was left open: {journal:#?}"
    );
    let in_state = state_list(&moto, work.path()).len();
    let ec2 = ec2(&moto, "us-east-1").await;
    assert_eq!(
        owned_count(&ec2, "thirty").await,
        in_state,
        "state records exactly what exists"
    );
    assert!(
        in_state < 30,
        "the interrupt stopped the apply early ({in_state} made)"
    );

    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    assert_eq!(owned_count(&ec2, "thirty").await, 30);
    expect_code(
        &terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]),
        0,
    );
}
