//! Regression check on API calls (counts, not times): a plan and a drift run of an
//! unchanged 300-resource stack read each type once per region, a few calls in all.

use std::collections::BTreeMap;

use crate::support::*;

/// `--api-stats` lines (`  EC2 DescribeVpcs us-east-1: 1`) as operation -> calls.
fn calls(stderr: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for l in stderr.lines().filter(|l| l.starts_with("  ")) {
        let Some((key, n)) = l.trim().rsplit_once(": ") else {
            continue;
        };
        let op = key
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        *out.entry(op).or_default() += n.parse::<u64>().unwrap_or(0);
    }
    out
}

#[tokio::test]
async fn plan_and_drift_of_an_unchanged_300_resource_stack_make_few_calls() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/three-hundred");
    let dir = work.path().to_str().unwrap();
    let out = terrane(
        Some(&moto),
        &["apply", dir, "--auto-approve", "--parallelism", "16"],
    );
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("Apply complete: 300 created"),
        "{}",
        text(&out)
    );

    for (command, code) in [("plan", 0), ("drift", 0)] {
        let args: Vec<&str> = match command {
            "plan" => vec!["plan", dir, "--detailed-exitcode", "--api-stats"],
            _ => vec!["drift", dir, "--api-stats"],
        };
        let out = terrane(Some(&moto), &args);
        expect_code(&out, code);
        let by_op = calls(&stderr(&out));
        let total: u64 = by_op.values().sum();
        // One batched read per type and region; the VPC's DNS settings are the one
        // attribute EC2 only answers per VPC (two VPCs here).
        assert_eq!(
            by_op.get("DescribeSubnets"),
            Some(&1),
            "{command}: {by_op:?}"
        );
        assert_eq!(by_op.get("DescribeVpcs"), Some(&1), "{command}: {by_op:?}");
        assert!(
            by_op.get("DescribeSecurityGroups").copied().unwrap_or(0) <= 2,
            "{command}: {by_op:?}"
        );
        // Under 0.05 calls per resource (the speed goal), whatever the count of resources.
        assert!(
            total <= 10 && (total as f64) / 300.0 < 0.05,
            "{command}: {total} calls for 300 resources: {by_op:?}"
        );
        assert!(
            by_op.keys().all(|op| op.starts_with("Describe")),
            "{command} changes nothing: {by_op:?}"
        );
    }
}

/// `terrane plan` says how many calls its apply will make: each step at the average that
/// earlier applies measured for its type and operation (journalled per operation).
#[tokio::test]
async fn a_plan_states_the_calls_its_apply_will_make() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    let estimate = |moto: &Moto| {
        let out = terrane(Some(moto), &["plan", dir, "--json"]);
        expect_code(&out, 0);
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["api_calls"].clone()
    };
    let total = |out: &std::process::Output| -> u64 { calls(&stderr(out)).values().sum() };

    // Nothing measured yet: five creates at the assumed cost.
    let first = estimate(&moto);
    assert_eq!(first["measured_steps"], 0, "{first}");
    assert_eq!(first["assumed_steps"], 5, "{first}");
    let out = terrane(
        Some(&moto),
        &["apply", dir, "--auto-approve", "--api-stats"],
    );
    expect_code(&out, 0);

    // Each operation's calls are journalled.
    let out = terrane(Some(&moto), &["state", "journal", dir, "--json"]);
    expect_code(&out, 0);
    let journal: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(journal.len(), 5);
    let journalled: u64 = journal
        .iter()
        .map(|e| e["api_calls"].as_u64().expect("measured"))
        .sum();
    assert!(journalled >= 5, "{journal:?}");

    // Destroyed and planned again: the same five creates, now at their measured cost,
    // which is what the apply then makes beyond the refresh its plan also makes.
    expect_code(
        &terrane(Some(&moto), &["destroy", dir, "--auto-approve"]),
        0,
    );
    let again = estimate(&moto);
    assert_eq!(again["measured_steps"], 5, "{again}");
    assert_eq!(again["assumed_steps"], 0, "{again}");
    assert_eq!(again["total"].as_u64(), Some(journalled), "{again}");
    let planned = terrane(Some(&moto), &["plan", dir, "--api-stats"]);
    expect_code(&planned, 0);
    assert!(
        stdout(&planned).contains(&format!(
            "Applying it should make about {journalled} AWS API calls (as earlier applies measured)"
        )),
        "{}",
        text(&planned)
    );
    let applied = terrane(
        Some(&moto),
        &["apply", dir, "--auto-approve", "--api-stats"],
    );
    expect_code(&applied, 0);
    assert_eq!(
        total(&applied) - total(&planned),
        journalled,
        "apply: {:?}\nplan: {:?}",
        calls(&stderr(&applied)),
        calls(&stderr(&planned))
    );
}

/// The bucket line of `--api-stats` for `bucket` (`us-east-1/ec2/CreateSubnet`), if it
/// made a call wait.
fn bucket_line<'a>(stderr: &'a str, bucket: &str) -> Option<&'a str> {
    stderr
        .lines()
        .find(|l| l.starts_with(&format!("- {bucket}: ")))
}

/// `N waited` of a rate-limit line.
fn waited(line: &str) -> u64 {
    let (_, rest) = line.split_once(" attempts, ").expect("attempts");
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_accounts_own_api_quota_paces_the_calls() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/thirty");
    let dir = work.path().to_str().unwrap();

    // AWS's published default (50 at once) lets the 14 subnets through without a wait.
    let out = terrane(
        Some(&moto),
        &["apply", dir, "--auto-approve", "--api-stats"],
    );
    expect_code(&out, 0);
    assert_eq!(
        bucket_line(&stderr(&out), "us-east-1/ec2/CreateSubnet"),
        None,
        "{}",
        stderr(&out)
    );
    let out = terrane(Some(&moto), &["destroy", dir, "--auto-approve"]);
    expect_code(&out, 0);

    // Two at once, then four a second: twelve of the fourteen creates wait for a token.
    let out = terrane(
        Some(&moto),
        &[
            "apply",
            dir,
            "--auto-approve",
            "--api-stats",
            "--api-quota",
            "ec2:CreateSubnet=2/4",
        ],
    );
    expect_code(&out, 0);
    let err = stderr(&out);
    let line = bucket_line(&err, "us-east-1/ec2/CreateSubnet").expect(&err);
    assert!(line.contains("(seed 2 burst, 4/s)"), "{line}");
    assert!(waited(line) >= 12, "{line}");
    // Other EC2 calls keep the published figures.
    assert_eq!(
        bucket_line(&err, "us-east-1/ec2/CreateSecurityGroup"),
        None,
        "{err}"
    );
}

#[test]
fn a_malformed_api_quota_is_refused_before_anything_runs() {
    let work = Workdir::copy_of("tests/stacks/thirty");
    let dir = work.path().to_str().unwrap();
    let out = terrane(None, &["plan", dir, "--api-quota", "ec2:CreateSubnet=fast"]);
    expect_code(&out, 1);
    assert!(
        stderr(&out).contains("--api-quota `ec2:CreateSubnet=fast`: no `/`"),
        "{}",
        stderr(&out)
    );
}
