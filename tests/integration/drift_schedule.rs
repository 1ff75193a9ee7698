//! Scheduled drift: cycles that post to a webhook, metrics that can be scraped, a clean
//! stop on SIGTERM; and `--all` over a directory of stacks.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

/// A webhook receiver on loopback that keeps every JSON body it is sent.
fn receiver() -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut data = Vec::new();
            let mut buf = [0u8; 65536];
            // Read the head, then as many body bytes as Content-Length says.
            loop {
                let n = conn.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&data).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if data.len() >= head_end + 4 + len {
                        let body = &data[head_end + 4..head_end + 4 + len];
                        if let Ok(v) = serde_json::from_slice(body) {
                            kept.lock().unwrap().push(v);
                        }
                        break;
                    }
                }
            }
            let _ = conn.write_all(
                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (port, bodies)
}

fn scrape(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn scheduled_drift_posts_each_cycle_serves_metrics_and_stops_on_sigterm() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    let ec2 = ec2(&moto, "us-east-1").await;
    let vpc_id = state_list(&moto, work.path())
        .iter()
        .find(|e| e["address"] == "vpc")
        .unwrap()["cloud_id"]
        .as_str()
        .unwrap()
        .to_string();
    ec2.create_tags()
        .resources(&vpc_id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Name")
                .value("hand-made")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let (hook_port, bodies) = receiver();
    let metrics_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args([
        "drift",
        dir,
        "--every",
        "1s",
        "--webhook",
        &format!("http://127.0.0.1:{hook_port}/hook"),
        "--metrics-addr",
        &format!("127.0.0.1:{metrics_port}"),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    while bodies.lock().unwrap().len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "three cycles did not arrive"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the scheduler exited early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let posted = bodies.lock().unwrap().clone();
    for body in &posted[..3] {
        let stack = &body["stacks"][0];
        assert_eq!(stack["stack"], "minimal");
        assert_eq!(stack["drift"], true);
        assert_eq!(stack["findings"][0]["address"], "vpc");
    }
    let runs: Vec<i64> = posted
        .iter()
        .map(|b| b["stacks"][0]["run_id"].as_i64().unwrap())
        .collect();
    assert!(
        runs.windows(2).all(|w| w[0] < w[1]),
        "one run after another: {runs:?}"
    );

    let metrics = scrape(metrics_port);
    assert!(
        metrics.contains("terrane_drift_resources{stack=\"minimal\",kind=\"modified\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("terrane_drift_errors_total 0"),
        "{metrics}"
    );
    let runs_total: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("terrane_drift_runs_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(runs_total >= 3, "{metrics}");
    assert!(
        metrics.contains("terrane_drift_last_run_duration_seconds"),
        "{metrics}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "a clean stop: {exit:?}");
}

#[tokio::test]
async fn drift_all_checks_every_stack_under_a_directory() {
    let moto = Moto::start();
    let root = tempfile::tempdir().unwrap();
    let a = Workdir::copy_of("stacks/examples/minimal");
    let b = Workdir::copy_of("stacks/examples/multi-region");
    let a_dir = root.path().join("a");
    let b_dir = root.path().join("b");
    std::fs::rename(a.path(), &a_dir).unwrap();
    std::fs::rename(b.path(), &b_dir).unwrap();
    expect_code(
        &terrane(
            Some(&moto),
            &["apply", a_dir.to_str().unwrap(), "--auto-approve"],
        ),
        0,
    );
    expect_code(
        &terrane(
            Some(&moto),
            &["apply", b_dir.to_str().unwrap(), "--auto-approve"],
        ),
        0,
    );
    let out = terrane(
        Some(&moto),
        &["drift", "--all", root.path().to_str().unwrap(), "--json"],
    );
    expect_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = doc["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stack"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["minimal", "multi-region"]);
    assert_eq!(doc["stacks"][1]["checked"], 15);
    // One stack drifts: the combined run says so.
    let ec2 = ec2(&moto, "eu-west-1").await;
    let sg = ec2
        .describe_security_groups()
        .filters(stack_filter("multi-region"))
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string();
    ec2.delete_security_group()
        .group_id(sg)
        .send()
        .await
        .unwrap();
    let out = terrane(
        Some(&moto),
        &["drift", "--all", root.path().to_str().unwrap(), "--json"],
    );
    expect_code(&out, 2);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["stacks"][1]["findings"][0]["kind"], "deleted");
    assert_eq!(doc["stacks"][1]["findings"][0]["region"], "eu-west-1");
}
