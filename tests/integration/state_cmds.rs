//! The state commands on a real apply: history, show --at, rollback, mv, rm + import,
//! pull + push.

use crate::support::*;

fn json(moto: &Moto, args: &[&str]) -> serde_json::Value {
    let out = terrane(Some(moto), args);
    expect_code(&out, 0);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", text(&out)))
}

#[tokio::test]
async fn history_rollback_mv_import_pull_and_push() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    work.edit("stack.yaml", "tier: public", "tier: edge");
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);

    // History: the two applies, newest first, with what each wrote.
    let runs = json(&moto, &["state", "history", dir, "--json"]);
    let applies: Vec<&serde_json::Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "apply")
        .collect();
    assert_eq!(applies.len(), 2, "{runs:#}");
    assert_eq!(
        applies[0]["records_written"], 2,
        "the second apply updated the two subnets"
    );
    assert_eq!(applies[1]["records_written"], 5);
    let first_run = applies[1]["id"].as_i64().unwrap().to_string();

    // An older version of a record.
    let then = json(
        &moto,
        &[
            "state",
            "show",
            "subnet[\"a\"]",
            "--stack",
            dir,
            "--at",
            &first_run,
        ],
    );
    assert_eq!(then["inputs"]["tags"]["tier"], "public");
    let now = json(&moto, &["state", "show", "subnet[\"a\"]", "--stack", dir]);
    assert_eq!(now["inputs"]["tags"]["tier"], "edge");

    // Pull, then push into an empty store: the same list.
    let pulled = terrane(Some(&moto), &["state", "pull", dir]);
    expect_code(&pulled, 0);
    let doc = work.file("pulled.json");
    std::fs::write(&doc, &pulled.stdout).unwrap();
    let other = work.file("other.db");
    let other = other.to_str().unwrap();
    expect_code(
        &terrane(
            Some(&moto),
            &[
                "state",
                "push",
                doc.to_str().unwrap(),
                "--stack",
                dir,
                "--state",
                other,
            ],
        ),
        0,
    );
    assert_eq!(
        json(&moto, &["state", "list", dir, "--json", "--state", other]),
        json(&moto, &["state", "list", dir, "--json"])
    );
    // A second push into a store that has the stack is refused.
    expect_code(
        &terrane(
            Some(&moto),
            &[
                "state",
                "push",
                doc.to_str().unwrap(),
                "--stack",
                dir,
                "--state",
                other,
            ],
        ),
        1,
    );

    // Rollback changes state only.
    expect_code(
        &terrane(Some(&moto), &["state", "rollback", "--to", &first_run, dir]),
        0,
    );
    let rolled = json(&moto, &["state", "show", "subnet[\"a\"]", "--stack", dir]);
    assert_eq!(rolled["inputs"]["tags"]["tier"], "public");
    let ec2 = ec2(&moto, "us-east-1").await;
    assert_eq!(owned_count(&ec2, "minimal").await, 5, "AWS untouched");

    // mv: the stack still says `web`, so the plan would create `web` and delete `guard`.
    expect_code(
        &terrane(
            Some(&moto),
            &["state", "mv", "web", "guard", "--stack", dir],
        ),
        0,
    );
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 2);
    assert!(
        stdout(&out).contains("- guard (aws.ec2.security_group"),
        "{}",
        text(&out)
    );
    assert!(
        stdout(&out).contains("+ web (aws.ec2.security_group"),
        "{}",
        text(&out)
    );
    expect_code(
        &terrane(
            Some(&moto),
            &["state", "mv", "guard", "web", "--stack", dir],
        ),
        0,
    );

    // rm then import: the same resource, under management again, and nothing to change.
    let igw_id = json(&moto, &["state", "show", "igw", "--stack", dir])["cloud_id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_code(
        &terrane(Some(&moto), &["state", "rm", "igw", "--stack", dir]),
        0,
    );
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 2);
    assert!(
        stdout(&out).contains("+ igw (aws.ec2.internet_gateway"),
        "{}",
        text(&out)
    );
    expect_code(&terrane(Some(&moto), &["import", "igw", &igw_id, dir]), 0);
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 0);
    assert_eq!(
        owned_count(&ec2, "minimal").await,
        5,
        "no duplicate was made"
    );
}
