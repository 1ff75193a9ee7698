//! Secrets never land in plain text: not in the state database, `state pull`, a saved
//! plan, the output, or the logs, even at the highest log level. Checked by grepping bytes.

use std::process::Command;

use crate::support::*;

const PASSWORD: &str = "pw-Zq8vX2kTnL5r-never-store";

/// Runs terrane with the password in its environment and debug logging on.
fn run(moto: &Moto, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("SECRET_DB_PASSWORD", PASSWORD)
        .env("TERRANE_LOG", "trace");
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let hay = String::from_utf8_lossy(bytes);
    assert!(
        !hay.contains(PASSWORD),
        "{what} holds the password in plain text"
    );
}

#[tokio::test]
async fn an_rds_password_is_in_no_state_plan_output_or_log() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/secret-db");
    let dir = work.path().to_str().unwrap();
    let plan_file = work.file("secret.tfplan");

    let planned = run(
        &moto,
        &["plan", dir, "--out", plan_file.to_str().unwrap(), "-vv"],
    );
    expect_code(&planned, 0);
    assert!(
        stdout(&planned).contains("password = (sensitive)"),
        "{}",
        text(&planned)
    );
    let applied = run(&moto, &["apply", plan_file.to_str().unwrap(), "-vv"]);
    expect_code(&applied, 0);
    let json_plan = run(&moto, &["plan", dir, "--json"]);
    let pulled = run(&moto, &["state", "pull", dir]);
    let shown = run(&moto, &["state", "show", "db", "--stack", dir]);
    let outputs = run(&moto, &["output", dir, "--json"]);
    expect_code(&pulled, 0);
    expect_code(&outputs, 0);

    // The password did reach AWS: the instance exists (moto does not expose the password).
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .load()
        .await;
    let rds = aws_sdk_rds::Client::new(&config);
    let dbs = rds
        .describe_db_instances()
        .db_instance_identifier("secret-db")
        .send()
        .await
        .unwrap();
    assert_eq!(dbs.db_instances().len(), 1);

    for (what, out) in [
        ("plan", &planned),
        ("apply", &applied),
        ("plan --json", &json_plan),
        ("state show", &shown),
        ("output", &outputs),
    ] {
        assert_clean(&format!("{what} stdout"), &out.stdout);
        assert_clean(&format!("{what} logs"), &out.stderr);
    }
    assert_clean("state pull", &pulled.stdout);
    assert_clean("the saved plan", &std::fs::read(&plan_file).unwrap());
    // The database file and its WAL, byte for byte.
    for entry in std::fs::read_dir(work.file(".terrane")).unwrap() {
        let path = entry.unwrap().path();
        assert_clean(&path.display().to_string(), &std::fs::read(&path).unwrap());
    }
    // State keeps a salted digest, so a changed password is still planned.
    let pulled = String::from_utf8_lossy(&pulled.stdout).to_string();
    assert!(pulled.contains("$sensitive_digest"), "{pulled}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args(["plan", dir, "--detailed-exitcode"])
        .env("NO_COLOR", "1")
        .env("SECRET_DB_PASSWORD", "a-new-password-1");
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let changed = cmd.output().unwrap();
    expect_code(&changed, 2);
    assert!(
        stdout(&changed).contains("password = (sensitive) -> (sensitive)"),
        "{}",
        text(&changed)
    );
    assert!(!stdout(&changed).contains("a-new-password-1"));
}
