//! Crash safety: an apply killed with SIGKILL at any moment, then run again, converges
//! with every declared resource existing exactly once and state matching AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

const STACK: &str = "thirty";

/// Every EC2 resource carrying the stack's tag: address -> cloud ids (more than one is a duplicate).
async fn owned_by_address(ec2: &aws_sdk_ec2::Client) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |tags: &[aws_sdk_ec2::types::Tag], id: &str| {
        let address = tags_of(tags)
            .get("terrane:address")
            .cloned()
            .unwrap_or_default();
        out.entry(address).or_default().push(id.to_string());
    };
    for v in ec2
        .describe_vpcs()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .vpcs()
    {
        add(v.tags(), v.vpc_id().unwrap());
    }
    for s in ec2
        .describe_subnets()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .subnets()
    {
        add(s.tags(), s.subnet_id().unwrap());
    }
    for g in ec2
        .describe_internet_gateways()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .internet_gateways()
    {
        add(g.tags(), g.internet_gateway_id().unwrap());
    }
    for g in ec2
        .describe_security_groups()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .security_groups()
    {
        add(g.tags(), g.group_id().unwrap());
    }
    out
}

#[tokio::test]
async fn an_apply_killed_at_many_points_converges_with_no_duplicate_and_no_orphan() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/thirty");
    let dir = work.path().to_str().unwrap();
    let ec2 = ec2(&moto, "us-east-1").await;

    // Kill points spread from before the first create to the last ones.
    for delay_ms in [30u64, 120, 250, 400, 550, 700, 900, 1200] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
        cmd.args(["apply", dir, "--auto-approve", "--parallelism", "4"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("NO_COLOR", "1");
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // The killed process leaves its lock behind; breaking it is the documented recovery.
        let out = terrane(Some(&moto), &["state", "unlock", dir, "--force"]);
        assert!(
            out.status.success() || stderr(&out).contains("no state"),
            "{}",
            text(&out)
        );
        let owned = owned_by_address(&ec2).await;
        let dupes: Vec<_> = owned.iter().filter(|(_, ids)| ids.len() > 1).collect();
        assert!(
            dupes.is_empty(),
            "after a kill at {delay_ms} ms: duplicates {dupes:?}"
        );
    }

    let out = terrane(Some(&moto), &["apply", dir, "--auto-approve"]);
    expect_code(&out, 0);
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 0);

    let owned = owned_by_address(&ec2).await;
    assert_eq!(
        owned.len(),
        30,
        "exactly the declared resources: {:?}",
        owned.keys()
    );
    assert!(
        owned.values().all(|ids| ids.len() == 1),
        "no duplicates: {owned:?}"
    );
    let in_aws: BTreeSet<(String, String)> = owned
        .iter()
        .map(|(a, ids)| (a.clone(), ids[0].clone()))
        .collect();
    let in_state: BTreeSet<(String, String)> = state_list(&moto, work.path())
        .iter()
        .map(|e| {
            (
                e["address"].as_str().unwrap().to_string(),
                e["cloud_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(in_state, in_aws, "state records exactly what exists");

    // The kills did land mid-apply: the journal holds operations a killed run left open
    // that a later run resolved (adopted from AWS by tag, or closed as never made).
    let out = terrane(Some(&moto), &["state", "journal", dir, "--json"]);
    expect_code(&out, 0);
    let journal: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let resolved = journal
        .iter()
        .filter(|e| e["outcome"] == "adopted" || e["outcome"] == "abandoned")
        .count();
    assert!(
        resolved > 0,
        "no interrupted operation was ever resolved: {journal:#?}"
    );
    assert!(
        journal.iter().all(|e| !e["outcome"].is_null()),
        "every operation has an outcome now"
    );
}

#[tokio::test]
async fn a_second_apply_is_refused_while_the_first_holds_the_lock() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/thirty");
    let dir = work.path().to_str().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args(["apply", dir, "--auto-approve", "--parallelism", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let mut first = cmd.spawn().unwrap();
    // Wait until the first apply holds the lock (`state unlock` without --force only reports).
    // Under a loaded machine the first apply may take a while to start; give it time, but
    // notice if it finished before it was ever seen holding the lock.
    let mut locked = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let probe = terrane(Some(&moto), &["state", "unlock", dir]);
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
    let out = terrane(Some(&moto), &["apply", dir, "--auto-approve"]);
    expect_code(&out, 1);
    let refused = Some(stderr(&out)).filter(|e| e.contains("is locked by"));
    let message = refused.expect("the second apply was never refused");
    assert!(
        message.contains(&format!("(pid {})", first.id())),
        "names the holder: {message}"
    );
    assert!(first.wait().unwrap().success());
    // With the first finished, the lock is free again.
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
}
