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

#[tokio::test]
async fn a_two_region_stack_drifting_in_every_way_is_reported_restored_and_resolved() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/drift-regions");
    let dir = work.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_terrane"));
        cmd.args(args)
            .env("NO_COLOR", "1")
            .env("DRIFT_DB_PASSWORD", "drift-test-password-1");
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    expect_code(&run(&["apply", dir, "--auto-approve"]), 0);
    let out = run(&["drift", dir, "--json"]);
    expect_code(&out, 0);
    let state = state_list(&moto, work.path());
    let id_of = |addr: &str| {
        state
            .iter()
            .find(|e| e["address"] == addr)
            .unwrap_or_else(|| panic!("{addr} in {state:?}"))["cloud_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let us = ec2(&moto, "us-east-1").await;
    let eu = ec2(&moto, "eu-west-1").await;
    let sdk = |region: &'static str| {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(moto.endpoint())
            .region(aws_config::Region::new(region))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "t", "t", None, None, "t",
            ))
            .load()
    };

    // Out of band: a rule in Europe, tags in America, a node group scaled by hand, an
    // instance class changed, a subnet deleted, and a VPC made with the stack's tags.
    eu.authorize_security_group_ingress()
        .group_id(id_of("module.region[\"eu-west-1\"].web"))
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
    us.create_tags()
        .resources(id_of("module.region[\"us-east-1\"].vpc"))
        .tags(Tag::builder().key("Name").value("renamed").build())
        .send()
        .await
        .unwrap();
    let eks = aws_sdk_eks::Client::new(&sdk("eu-west-1").await);
    eks.update_nodegroup_config()
        .cluster_name("drift-eu-west-1")
        .nodegroup_name("workers")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(1)
                .max_size(4)
                .desired_size(3)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let rds = aws_sdk_rds::Client::new(&sdk("us-east-1").await);
    rds.modify_db_instance()
        .db_instance_identifier("drift-us-east-1-db")
        .db_instance_class("db.t4g.small")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    eu.delete_subnet()
        .subnet_id(id_of("module.region[\"eu-west-1\"].spare"))
        .send()
        .await
        .unwrap();
    eu.create_vpc()
        .cidr_block("10.99.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(
                    Tag::builder()
                        .key("terrane:stack")
                        .value("drift-regions")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let out = run(&["drift", dir, "--json"]);
    expect_code(&out, 2);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let change = |address: &str, attribute: &str| -> (serde_json::Value, serde_json::Value) {
        let f = finding(&report, address, "modified")
            .unwrap_or_else(|| panic!("{address} modified: {report:#}"));
        let c = f["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["attribute"] == attribute)
            .unwrap_or_else(|| panic!("{address}.{attribute}: {f:#}"));
        (c["recorded"].clone(), c["live"].clone())
    };
    let (rec, live) = change("module.region[\"eu-west-1\"].web", "ingress");
    assert_eq!(
        (
            rec.as_array().unwrap().len(),
            live.as_array().unwrap().len()
        ),
        (1, 2)
    );
    let (rec, live) = change("module.region[\"us-east-1\"].vpc", "tags");
    assert_eq!(
        (rec["Name"].as_str(), live["Name"].as_str()),
        (Some("drift-us-east-1"), Some("renamed"))
    );
    let (rec, live) = change("module.region[\"eu-west-1\"].workers", "scaling");
    assert_eq!(
        (rec["desired"].as_i64(), live["desired"].as_i64()),
        (Some(2), Some(3)),
        "{rec} {live}"
    );
    let (rec, live) = change("module.region[\"us-east-1\"].db", "instance_class");
    assert_eq!(
        (rec.as_str(), live.as_str()),
        (Some("db.t4g.micro"), Some("db.t4g.small"))
    );
    let deleted = finding(&report, "module.region[\"eu-west-1\"].spare", "deleted")
        .expect("the deleted subnet");
    assert_eq!(deleted["region"], "eu-west-1");
    let unmanaged: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "unmanaged")
        .collect();
    assert_eq!(unmanaged.len(), 1, "{report:#}");
    assert_eq!(
        (
            unmanaged[0]["type"].as_str(),
            unmanaged[0]["region"].as_str()
        ),
        (Some("aws.ec2.vpc"), Some("eu-west-1"))
    );
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        6,
        "{report:#}"
    );
    // The password is never compared, and says so.
    assert!(
        report["not_checked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["what"] == "password"),
        "{report:#}"
    );

    // Apply restores everything declared; the stray VPC is removed by its owner.
    expect_code(&run(&["apply", dir, "--auto-approve"]), 0);
    eu.delete_vpc()
        .vpc_id(unmanaged[0]["cloud_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let out = run(&["drift", dir, "--json"]);
    expect_code(&out, 0);
    let after: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(after["resolved"].as_array().unwrap().len(), 6, "{after:#}");
    let out = run(&["drift", "history", "--stack", dir, "--json"]);
    let history: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(history.len(), 6);
    assert!(
        history.iter().all(|h| h["resolution"] == "applied"
            || (h["kind"] == "unmanaged" && h["resolution"] == "reverted")),
        "{history:#?}"
    );
}

/// IAM is global: its search answers the same roles in every region the stack uses, and a
/// role left with the stack's tags is one unmanaged finding, not one per region.
#[tokio::test]
async fn an_unmanaged_resource_of_a_global_service_is_reported_once() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/thirty");
    let role = |name: &str, region: &str| {
        format!(
            "  {name}:\n    type: aws.iam.role\n    region: {region}\n    properties:\n      name: {name}\n      assume_role_policy:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal: {{ Service: ec2.amazonaws.com }}\n            Action: sts:AssumeRole\n"
        )
    };
    work.write(
        "stack.yaml",
        &format!(
            "stack: global\nregion: us-east-1\nresources:\n{}{}",
            role("us_role", "us-east-1"),
            role("eu_role", "eu-west-1")
        ),
    );
    let dir = work.path().to_str().unwrap();
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    drift_json(&moto, dir, 0);

    aws_sdk_iam::Client::new(&moto.sdk_config("us-east-1").await)
        .create_role()
        .role_name("stray")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("terrane:stack")
                .value("global")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let report = drift_json(&moto, dir, 2);
    let unmanaged: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "unmanaged")
        .collect();
    assert_eq!(unmanaged.len(), 1, "{report:#}");
    assert_eq!(unmanaged[0]["type"], "aws.iam.role");
}
