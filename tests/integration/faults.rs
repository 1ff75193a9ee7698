//! Fault injection: the real `terrane` binary talks to moto through
//! `terrane_testkit::proxy::FaultProxy`, which throttles, fails, rejects, or cuts the network.
//! Every run is bounded in time, everything stays on loopback, and what exists is counted
//! with independent SDK calls straight to moto (never through the proxy or terrane).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use terrane_testkit::proxy::{FaultConfig, FaultProxy};

use crate::support::*;

const STACK: &str = "fifty";
const RESOURCES: usize = 50;

/// The terrane binary with moto's environment, reaching AWS through `proxy`.
fn terrane_cmd(moto: &Moto, proxy: &FaultProxy, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("TERRANE_STATE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ENDPOINT_URL", proxy.endpoint());
    cmd
}

/// A started terrane whose output is drained as it comes (so a full pipe never blocks it).
struct Running {
    child: Child,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().expect("start terrane");
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                buf
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        Running {
            child,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit, failing the test (after killing it) if it takes longer than `limit`.
    fn wait(mut self, limit: Duration) -> Output {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let out = Output {
                    status: self.child.wait().unwrap(),
                    stdout: self.stdout.join().unwrap(),
                    stderr: self.stderr.join().unwrap(),
                };
                panic!("terrane ran longer than {limit:?}\n{}", text(&out));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap(),
        }
    }
}

/// Runs terrane through the proxy to its end, within `limit`.
fn run(moto: &Moto, proxy: &FaultProxy, args: &[&str], limit: Duration) -> Output {
    Running::start(terrane_cmd(moto, proxy, args)).wait(limit)
}

/// Every resource carrying the stack's ownership tag: address -> cloud ids (two or more is
/// a duplicate). Straight to moto.
async fn owned_by_address(ec2: &aws_sdk_ec2::Client) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |tags: &[aws_sdk_ec2::types::Tag], id: &str| {
        let address = tags_of(tags)
            .get("terrane:address")
            .cloned()
            .unwrap_or_default();
        out.entry(address).or_default().push(id.to_string());
    };
    let f = || stack_filter(STACK);
    for v in ec2
        .describe_vpcs()
        .filters(f())
        .send()
        .await
        .unwrap()
        .vpcs()
    {
        add(v.tags(), v.vpc_id().unwrap());
    }
    for s in ec2
        .describe_subnets()
        .filters(f())
        .send()
        .await
        .unwrap()
        .subnets()
    {
        add(s.tags(), s.subnet_id().unwrap());
    }
    for g in ec2
        .describe_internet_gateways()
        .filters(f())
        .send()
        .await
        .unwrap()
        .internet_gateways()
    {
        add(g.tags(), g.internet_gateway_id().unwrap());
    }
    for t in ec2
        .describe_route_tables()
        .filters(f())
        .send()
        .await
        .unwrap()
        .route_tables()
    {
        add(t.tags(), t.route_table_id().unwrap());
    }
    for g in ec2
        .describe_security_groups()
        .filters(f())
        .send()
        .await
        .unwrap()
        .security_groups()
    {
        add(g.tags(), g.group_id().unwrap());
    }
    out
}

/// (address, cloud id) of everything state records.
fn in_state(moto: &Moto, dir: &Path) -> BTreeSet<(String, String)> {
    state_list(moto, dir)
        .iter()
        .map(|e| {
            (
                e["address"].as_str().unwrap().to_string(),
                e["cloud_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Asserts no address has two resources, and state records exactly what exists.
async fn assert_state_is_aws(moto: &Moto, ec2: &aws_sdk_ec2::Client, dir: &Path, when: &str) {
    let owned = owned_by_address(ec2).await;
    let dupes: Vec<_> = owned.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(dupes.is_empty(), "{when}: duplicates {dupes:?}");
    let in_aws: BTreeSet<(String, String)> = owned
        .iter()
        .map(|(a, ids)| (a.clone(), ids[0].clone()))
        .collect();
    assert_eq!(
        in_state(moto, dir),
        in_aws,
        "{when}: state records exactly what exists"
    );
}

/// All fifty exist exactly once, state records exactly them, and a plan (through the proxy)
/// sees nothing to do.
async fn assert_converged(moto: &Moto, proxy: &FaultProxy, ec2: &aws_sdk_ec2::Client, dir: &Path) {
    let owned = owned_by_address(ec2).await;
    assert_eq!(
        owned.len(),
        RESOURCES,
        "exactly the declared resources: {:?}",
        owned.keys()
    );
    assert_state_is_aws(moto, ec2, dir, "converged").await;
    let d = dir.to_str().unwrap();
    let out = run(
        moto,
        proxy,
        &["plan", d, "--detailed-exitcode"],
        Duration::from_secs(120),
    );
    expect_code(&out, 0);
}

fn succeeded_in_journal(moto: &Moto, dir: &str) -> usize {
    let out = terrane(Some(moto), &["state", "journal", dir, "--json"]);
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
        .map(|j| j.iter().filter(|e| e["outcome"] == "succeeded").count())
        .unwrap_or(0)
}

/// Polls the journal until `n` operations have succeeded (the apply is under way).
fn wait_for_progress(moto: &Moto, dir: &str, n: usize, apply: &mut Running) {
    let start = Instant::now();
    while succeeded_in_journal(moto, dir) < n {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the apply never got going"
        );
        assert!(
            apply.child.try_wait().unwrap().is_none(),
            "the apply ended before {n} operations were done"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test]
async fn throttling_and_server_errors_are_absorbed_by_retries() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultConfig {
            throttle_rate: 0.20,
            server_error_rate: 0.05,
            seed: 8,
            ..FaultConfig::default()
        },
    );
    let work = Workdir::copy_of("tests/stacks/fifty");
    let dir = work.path().to_str().unwrap();
    let ec2 = ec2(&moto, "us-east-1").await;

    // With the CLI's default adaptive retry mode, each throttling answer slows the client's
    // request rate, down to the SDK's floor of 0.5 requests/s; a random 20% throttle
    // (unlike AWS's, which follows the request rate) keeps it there, and this apply took
    // 566-717 s. The standard mode, which a user selects with the usual AWS_RETRY_MODE,
    // retries with backoff alone: the same faults, absorbed in seconds.
    let start = Instant::now();
    let mut cmd = terrane_cmd(&moto, &proxy, &["apply", dir, "--auto-approve"]);
    cmd.env("AWS_RETRY_MODE", "standard")
        .env("AWS_MAX_ATTEMPTS", "8");
    let out = Running::start(cmd).wait(Duration::from_secs(300));
    let stats = proxy.stats();
    eprintln!(
        "apply under 20% throttling and 5% 500s: {:?}, {stats:?}",
        start.elapsed()
    );
    expect_code(&out, 0);
    assert!(
        stats.throttled >= 10 && stats.server_errors >= 2,
        "the faults were injected: {stats:?}"
    );
    assert!(
        stats.forwarded >= 100,
        "the apply went through the proxy: {stats:?}"
    );
    // Still faulty: the plan must absorb them too, and see nothing to do.
    assert_converged(&moto, &proxy, &ec2, work.path()).await;
}

#[tokio::test]
async fn a_permanent_failure_skips_only_its_dependants_and_a_rerun_converges() {
    let moto = Moto::start();
    // Every CreateInternetGateway is refused with a validation error the SDK does not retry.
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultConfig {
            reject_rate: 1.0,
            operations: vec!["CreateInternetGateway".into()],
            ..FaultConfig::default()
        },
    );
    let work = Workdir::copy_of("tests/stacks/fifty");
    let dir = work.path().to_str().unwrap();
    let ec2 = ec2(&moto, "us-east-1").await;

    let out = run(
        &moto,
        &proxy,
        &["apply", dir, "--auto-approve"],
        Duration::from_secs(180),
    );
    expect_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("igw (create): failed") && err.contains("InvalidParameterValue"),
        "the failure is named with AWS's error\n{}",
        text(&out)
    );
    for dependant in ["public", "edge[0]", "edge[1]", "edge[2]"] {
        assert!(
            err.contains(&format!(
                "{dependant} (create): skipped: depends on igw, which did not succeed"
            )),
            "{dependant} is skipped with its reason\n{}",
            text(&out)
        );
    }
    assert_eq!(proxy.stats().rejected, 1, "one gateway create was refused");

    // Every independent branch finished; nothing of the failed branch exists.
    let owned = owned_by_address(&ec2).await;
    assert_eq!(
        owned.len(),
        RESOURCES - 5,
        "all but the gateway and its four dependants: {:?}",
        owned.keys()
    );
    for missing in ["igw", "public", "edge[0]", "edge[1]", "edge[2]"] {
        assert!(!owned.contains_key(missing), "{missing} exists");
    }
    assert_state_is_aws(&moto, &ec2, work.path(), "after the failed apply").await;

    // The cause removed, a rerun makes the rest.
    proxy.set(FaultConfig::default());
    let out = run(
        &moto,
        &proxy,
        &["apply", dir, "--auto-approve"],
        Duration::from_secs(180),
    );
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("5 created"),
        "only the missing five are made\n{}",
        text(&out)
    );
    assert_converged(&moto, &proxy, &ec2, work.path()).await;
}

#[tokio::test]
async fn a_network_cut_mid_apply_ends_the_run_and_a_rerun_converges() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint(), FaultConfig::default());
    let work = Workdir::copy_of("tests/stacks/fifty");
    let dir = work.path().to_str().unwrap();
    let ec2 = ec2(&moto, "us-east-1").await;

    let mut apply = Running::start(terrane_cmd(
        &moto,
        &proxy,
        &["apply", dir, "--auto-approve", "--parallelism", "2"],
    ));
    wait_for_progress(&moto, dir, 5, &mut apply);
    proxy.set_cut(true);
    let cut_at = Instant::now();
    // The network stays down until the apply has given up on its own (SDK connect errors,
    // retries, then the retry quota runs out): it must end, and say it failed.
    let out = apply.wait(Duration::from_secs(240));
    let took = cut_at.elapsed();
    assert_ne!(
        out.status.code(),
        Some(0),
        "an apply cut off from AWS does not report success\n{}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("Apply failed"),
        "ends with the failure summary\n{}",
        text(&out)
    );
    assert!(proxy.stats().cut > 0, "the cut dropped requests");
    eprintln!("the cut apply ended {took:?} after the cut");

    // Its lock is released; what it made is in AWS once at most.
    let probe = terrane(Some(&moto), &["state", "unlock", dir]);
    assert!(stdout(&probe).contains("is not locked"), "{}", text(&probe));
    let owned = owned_by_address(&ec2).await;
    assert!(
        owned.values().all(|ids| ids.len() == 1),
        "no duplicates after the cut: {owned:?}"
    );
    assert!(owned.len() < RESOURCES, "the cut stopped the apply early");

    proxy.set_cut(false);
    let out = run(
        &moto,
        &proxy,
        &["apply", dir, "--auto-approve"],
        Duration::from_secs(180),
    );
    expect_code(&out, 0);
    assert_converged(&moto, &proxy, &ec2, work.path()).await;
    let journal: Vec<serde_json::Value> =
        serde_json::from_slice(&terrane(Some(&moto), &["state", "journal", dir, "--json"]).stdout)
            .unwrap();
    assert!(
        journal.iter().all(|e| !e["outcome"].is_null()),
        "every operation has an outcome after the rerun: {journal:#?}"
    );
}

#[tokio::test]
async fn a_timeout_bounds_an_apply_that_cannot_reach_aws() {
    let moto = Moto::start();
    // Every create is held without an answer: without a bound the apply would wait forever.
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultConfig {
            timeout_rate: 1.0,
            operations: vec!["CreateSecurityGroup".into()],
            ..FaultConfig::default()
        },
    );
    let work = Workdir::copy_of("tests/stacks/fifty");
    let dir = work.path().to_str().unwrap();
    let ec2 = ec2(&moto, "us-east-1").await;

    let start = Instant::now();
    let out = run(
        &moto,
        &proxy,
        &["apply", dir, "--auto-approve", "--timeout", "20s"],
        Duration::from_secs(120),
    );
    let took = start.elapsed();
    expect_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("timed out (--timeout)"), "{}", text(&out));
    assert!(
        err.contains("Apply aborted (timed out)"),
        "the held operations were cut off after the grace period\n{}",
        text(&out)
    );
    assert!(
        took < Duration::from_secs(20 + 30 + 20),
        "stopped at the deadline plus the grace: {took:?}"
    );
    assert!(proxy.stats().timeouts > 0);
    let probe = terrane(Some(&moto), &["state", "unlock", dir]);
    assert!(stdout(&probe).contains("is not locked"), "{}", text(&probe));

    proxy.set(FaultConfig::default());
    // Release the held requests (a cut drops them) before the rerun.
    proxy.set_cut(true);
    std::thread::sleep(Duration::from_millis(200));
    proxy.set_cut(false);
    let out = run(
        &moto,
        &proxy,
        &["apply", dir, "--auto-approve"],
        Duration::from_secs(180),
    );
    expect_code(&out, 0);
    assert_converged(&moto, &proxy, &ec2, work.path()).await;
}

#[tokio::test]
async fn a_second_sigint_aborts_at_once_and_a_rerun_converges() {
    let moto = Moto::start();
    // Slow answers keep operations in flight when the signals come.
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultConfig {
            latency: Duration::from_millis(250),
            ..FaultConfig::default()
        },
    );
    let work = Workdir::copy_of("tests/stacks/fifty");
    let dir = work.path().to_str().unwrap();
    let ec2 = ec2(&moto, "us-east-1").await;

    let mut apply = Running::start(terrane_cmd(
        &moto,
        &proxy,
        &["apply", dir, "--auto-approve", "--parallelism", "4"],
    ));
    wait_for_progress(&moto, dir, 3, &mut apply);
    signal(apply.pid(), "-INT");
    std::thread::sleep(Duration::from_millis(150));
    signal(apply.pid(), "-INT");
    let second = Instant::now();
    let out = apply.wait(Duration::from_secs(60));
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "the second SIGINT stops the apply at once ({:?})",
        second.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(130),
        "an aborted apply exits 130\n{}",
        text(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("interrupted: finishing the operations in flight")
            && err.contains("Apply aborted (interrupted twice)"),
        "{}",
        text(&out)
    );

    // The lock was released on the way out.
    let probe = terrane(Some(&moto), &["state", "unlock", dir]);
    assert!(stdout(&probe).contains("is not locked"), "{}", text(&probe));
    let owned = owned_by_address(&ec2).await;
    assert!(
        owned.values().all(|ids| ids.len() == 1),
        "no duplicates: {owned:?}"
    );
    assert!(owned.len() < RESOURCES, "the abort stopped the apply early");

    // The rerun resolves what was cut off (adopting creates AWS finished) and makes the rest.
    proxy.set(FaultConfig::default());
    let out = run(
        &moto,
        &proxy,
        &["apply", dir, "--auto-approve"],
        Duration::from_secs(180),
    );
    expect_code(&out, 0);
    assert_converged(&moto, &proxy, &ec2, work.path()).await;
    let journal: Vec<serde_json::Value> =
        serde_json::from_slice(&terrane(Some(&moto), &["state", "journal", dir, "--json"]).stdout)
            .unwrap();
    assert!(
        journal.iter().all(|e| !e["outcome"].is_null()),
        "every operation has an outcome after the rerun: {journal:#?}"
    );
}
