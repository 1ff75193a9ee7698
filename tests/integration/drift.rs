//! Drift on demand: found, explained, never absorbed, recorded as history, resolved.

use aws_sdk_ec2::types::{IpPermission, IpRange, Tag};

use crate::support::*;

const STACK: &str = "minimal";

fn drift_json(moto: &Moto, dir: &str, code: i32) -> serde_json::Value {
    let out = terrane(Some(moto), &["drift", dir, "--json"]);
    expect_code(&out, code);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", text(&out)))
}

fn finding<'a>(
    report: &'a serde_json::Value,
    address: &str,
    kind: &str,
) -> Option<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["address"] == address && f["kind"] == kind)
}

#[tokio::test]
async fn out_of_band_changes_are_found_recorded_and_resolved() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    let clean = drift_json(&moto, dir, 0);
    assert_eq!(clean["checked"], 5);
    assert_eq!(clean["drift"], false);

    let ec2 = ec2(&moto, "us-east-1").await;
    let state = state_list(&moto, work.path());
    let id_of = |addr: &str| {
        state.iter().find(|e| e["address"] == addr).unwrap()["cloud_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Someone opens SSH on the web group, retags the VPC, deletes a subnet, and makes a
    // VPC carrying the stack's tags.
    ec2.authorize_security_group_ingress()
        .group_id(id_of("web"))
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(id_of("vpc"))
        .tags(Tag::builder().key("Name").value("hand-made").build())
        .send()
        .await
        .unwrap();
    ec2.delete_subnet()
        .subnet_id(id_of("subnet[\"b\"]"))
        .send()
        .await
        .unwrap();
    let stray = ec2
        .create_vpc()
        .cidr_block("10.99.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(Tag::builder().key("terrane:stack").value(STACK).build())
                .tags(
                    Tag::builder()
                        .key("terrane:address")
                        .value("old_vpc")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let stray_id = stray.vpc().unwrap().vpc_id().unwrap().to_string();

    let report = drift_json(&moto, dir, 2);
    let web = finding(&report, "web", "modified").expect("web modified");
    assert_eq!(web["cloud_id"], id_of("web").as_str());
    assert_eq!(web["type"], "aws.ec2.security_group");
    assert_eq!(web["region"], "us-east-1");
    let ingress = &web["changes"].as_array().unwrap()[0];
    assert_eq!(ingress["attribute"], "ingress");
    assert_eq!(ingress["recorded"].as_array().unwrap().len(), 1);
    assert_eq!(ingress["live"].as_array().unwrap().len(), 2);
    let vpc = finding(&report, "vpc", "modified").expect("vpc modified");
    let tags = &vpc["changes"].as_array().unwrap()[0];
    assert_eq!(tags["attribute"], "tags");
    assert_eq!(tags["recorded"]["Name"], "minimal-dev");
    assert_eq!(tags["live"]["Name"], "hand-made");
    assert!(
        finding(&report, "subnet[\"b\"]", "deleted").is_some(),
        "{report:#}"
    );
    let unmanaged = finding(&report, "old_vpc", "unmanaged").expect("the stray VPC");
    assert_eq!(unmanaged["cloud_id"], stray_id.as_str());
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        4,
        "{report:#}"
    );
    assert_eq!(report["new"], 4);

    // Never absorbed: a second run finds the same, and the plan still restores.
    let again = drift_json(&moto, dir, 2);
    assert_eq!(again["findings"], report["findings"]);
    assert_eq!(again["new"], 0);
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 2);
    assert!(stdout(&out).contains("+ subnet[\"b\"]"), "{}", text(&out));

    // Apply restores the declared state; the unmanaged VPC is left alone (not the stack's).
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    let after = drift_json(&moto, dir, 2);
    assert_eq!(after["findings"].as_array().unwrap().len(), 1, "{after:#}");
    assert_eq!(after["resolved"].as_array().unwrap().len(), 3);
    assert!(
        after["resolved"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["resolution"] == "applied"),
        "{after:#}"
    );
    ec2.delete_vpc().vpc_id(&stray_id).send().await.unwrap();
    let done = drift_json(&moto, dir, 0);
    assert_eq!(done["resolved"][0]["resolution"], "reverted");

    // History: each finding with when it appeared and how it ended.
    let out = terrane(Some(&moto), &["drift", "history", "--stack", dir, "--json"]);
    expect_code(&out, 0);
    let history: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(history.len(), 4);
    assert!(
        history.iter().all(|h| !h["resolved_at"].is_null()),
        "{history:#?}"
    );
    let out = terrane(Some(&moto), &["drift", "history", "web", "--stack", dir]);
    expect_code(&out, 0);
    assert!(stdout(&out).contains("web modified"), "{}", text(&out));
    assert!(stdout(&out).contains("(applied)"), "{}", text(&out));
}

#[tokio::test]
async fn accepting_drift_makes_the_live_value_the_baseline() {
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
        .tags(Tag::builder().key("cost-center").value("42").build())
        .send()
        .await
        .unwrap();
    drift_json(&moto, dir, 2);
    let out = terrane(Some(&moto), &["drift", dir, "--accept", "vpc"]);
    expect_code(&out, 0);
    assert!(
        stderr(&out).contains("edit it to keep the change"),
        "{}",
        text(&out)
    );
    drift_json(&moto, dir, 0);
    let out = terrane(
        Some(&moto),
        &["drift", "history", "vpc", "--stack", dir, "--json"],
    );
    let history: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(history[0]["resolution"], "accepted");
}
