//! The foundation's end-to-end checks on `stacks/examples/minimal`.

use crate::support::*;

const STACK: &str = "minimal";

#[tokio::test]
async fn minimal_stack_plans_applies_updates_replaces_deletes_and_destroys() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    let ec2 = ec2(&moto, "us-east-1").await;

    // Before apply: changes pending, exit code 2.
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 2);
    assert!(
        stdout(&out).contains("Plan: 5 to create, 0 to update, 0 to replace, 0 to delete"),
        "{}",
        text(&out)
    );

    let out = terrane(Some(&moto), &["apply", dir, "--auto-approve"]);
    expect_code(&out, 0);

    // The resources exist in the endpoint with the declared attributes and tags.
    let vpcs = ec2
        .describe_vpcs()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.20.0.0/16"));
    let vpc_tags = tags_of(vpc.tags());
    assert_eq!(
        vpc_tags.get("Name").map(String::as_str),
        Some("minimal-dev")
    );
    assert_eq!(
        vpc_tags.get("project").map(String::as_str),
        Some("terrane-demo")
    );
    assert_eq!(
        vpc_tags.get("terrane:address").map(String::as_str),
        Some("vpc")
    );
    let vpc_id = vpc.vpc_id().unwrap().to_string();
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(
        hostnames.enable_dns_hostnames().and_then(|a| a.value()),
        Some(true)
    );

    let subnets = ec2
        .describe_subnets()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    let mut cidrs: Vec<(String, String, bool)> = subnets
        .subnets()
        .iter()
        .map(|s| {
            (
                s.cidr_block().unwrap().to_string(),
                s.availability_zone().unwrap().to_string(),
                s.map_public_ip_on_launch().unwrap_or(false),
            )
        })
        .collect();
    cidrs.sort();
    assert_eq!(
        cidrs,
        [
            ("10.20.1.0/24".into(), "us-east-1a".into(), true),
            ("10.20.2.0/24".into(), "us-east-1b".into(), true)
        ]
    );
    assert!(
        subnets
            .subnets()
            .iter()
            .all(|s| s.vpc_id() == Some(vpc_id.as_str()))
    );

    let igws = ec2
        .describe_internet_gateways()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(igws.internet_gateways().len(), 1);
    assert_eq!(
        igws.internet_gateways()[0].attachments()[0].vpc_id(),
        Some(vpc_id.as_str())
    );

    let sgs = ec2
        .describe_security_groups()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(sgs.security_groups().len(), 1);
    let sg = &sgs.security_groups()[0];
    assert_eq!(sg.group_name(), Some("minimal-dev-web"));
    let rule = &sg.ip_permissions()[0];
    assert_eq!(
        (rule.ip_protocol(), rule.from_port(), rule.to_port()),
        (Some("tcp"), Some(443), Some(443))
    );
    assert_eq!(rule.ip_ranges()[0].cidr_ip(), Some("0.0.0.0/0"));

    // State lists each resource with its type, region and cloud id.
    let listed = state_list(&moto, work.path());
    assert_eq!(listed.len(), 5);
    let vpc_entry = listed.iter().find(|e| e["address"] == "vpc").unwrap();
    assert_eq!(vpc_entry["type"], "aws.ec2.vpc");
    assert_eq!(vpc_entry["region"], "us-east-1");
    assert_eq!(vpc_entry["cloud_id"], vpc_id.as_str());

    // A second plan has nothing to do.
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 0);
    assert!(stdout(&out).contains("No changes"), "{}", text(&out));

    // A mutable property (a tag) is updated in place.
    work.edit("stack.yaml", "tier: public", "tier: edge");
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode", "--json"]);
    expect_code(&out, 2);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("subnet[\"a\"]".to_string(), "update".to_string()),
            ("subnet[\"b\"]".to_string(), "update".to_string())
        ]
    );
    let subnet_ids_before: Vec<String> = subnets
        .subnets()
        .iter()
        .map(|s| s.subnet_id().unwrap().to_string())
        .collect();
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    let subnets = ec2
        .describe_subnets()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    let mut ids_after: Vec<String> = subnets
        .subnets()
        .iter()
        .map(|s| s.subnet_id().unwrap().to_string())
        .collect();
    let mut ids_before = subnet_ids_before.clone();
    ids_after.sort();
    ids_before.sort();
    assert_eq!(
        ids_after, ids_before,
        "an in-place update keeps the same subnets"
    );
    assert!(
        subnets
            .subnets()
            .iter()
            .all(|s| tags_of(s.tags()).get("tier").map(String::as_str) == Some("edge"))
    );

    // An immutable property (a subnet's CIDR) forces a replacement.
    let out = terrane(
        Some(&moto),
        &[
            "plan",
            dir,
            "--var",
            "subnets={\"a\": 1, \"b\": 7}",
            "--detailed-exitcode",
        ],
    );
    expect_code(&out, 2);
    let shown = stdout(&out);
    assert!(shown.contains("-/+ subnet[\"b\"]"), "{shown}");
    assert!(
        shown.contains("cidr_block = \"10.20.2.0/24\" -> \"10.20.7.0/24\"  # forces replacement"),
        "{shown}"
    );
    assert!(
        shown.contains("Plan: 0 to create, 0 to update, 1 to replace, 0 to delete"),
        "{shown}"
    );
    expect_code(
        &terrane(
            Some(&moto),
            &[
                "apply",
                dir,
                "--var",
                "subnets={\"a\": 1, \"b\": 7}",
                "--auto-approve",
            ],
        ),
        0,
    );
    // Filtered by address on this side: the endpoint reads `[` in a filter value as a glob.
    let subnets = ec2
        .describe_subnets()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    let b: Vec<_> = subnets
        .subnets()
        .iter()
        .filter(|s| {
            tags_of(s.tags()).get("terrane:address").map(String::as_str) == Some("subnet[\"b\"]")
        })
        .collect();
    assert_eq!(b.len(), 1, "the old subnet is gone, the new one exists");
    assert_eq!(b[0].cidr_block(), Some("10.20.7.0/24"));
    assert!(!subnet_ids_before.contains(&b[0].subnet_id().unwrap().to_string()));
    work.edit("stack.yaml", "      b: 2\n", "      b: 7\n");
    expect_code(
        &terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]),
        0,
    );

    // Removing a resource from the stack deletes it.
    let text_before = std::fs::read_to_string(work.file("stack.yaml")).unwrap();
    let start = text_before.find("  igw:\n").unwrap();
    let end = text_before.find("  web:\n").unwrap();
    work.write(
        "stack.yaml",
        &format!("{}{}", &text_before[..start], &text_before[end..]),
    );
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 2);
    assert!(
        stdout(&out).contains("- igw (aws.ec2.internet_gateway, us-east-1)"),
        "{}",
        text(&out)
    );
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    let igws = ec2
        .describe_internet_gateways()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert!(
        igws.internet_gateways().is_empty(),
        "the internet gateway was deleted"
    );
    assert_eq!(state_list(&moto, work.path()).len(), 4);

    // Outputs come from state.
    let out = terrane(Some(&moto), &["output", dir, "--name", "vpc_id"]);
    expect_code(&out, 0);
    assert_eq!(stdout(&out).trim(), vpc_id);

    // Destroy leaves nothing carrying the stack's ownership tag.
    expect_code(
        &terrane(Some(&moto), &["destroy", dir, "--auto-approve"]),
        0,
    );
    assert_eq!(owned_count(&ec2, STACK).await, 0);
    assert!(state_list(&moto, work.path()).is_empty());
}

#[tokio::test]
async fn a_saved_plan_applies_exactly_and_refuses_when_stale() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    let plan_file = work.file("minimal.tfplan");
    let plan_path = plan_file.to_str().unwrap();
    expect_code(&terrane(Some(&moto), &["plan", dir, "--out", plan_path]), 0);
    expect_code(&terrane(Some(&moto), &["apply", plan_path]), 0);
    let ec2 = ec2(&moto, "us-east-1").await;
    assert_eq!(owned_count(&ec2, STACK).await, 5);
    // The same file again: state moved on, so it is refused and nothing changes.
    let out = terrane(Some(&moto), &["apply", plan_path]);
    expect_code(&out, 1);
    assert!(stderr(&out).contains("stale"), "{}", text(&out));
    assert_eq!(owned_count(&ec2, STACK).await, 5);
}

#[tokio::test]
async fn changing_a_resource_out_of_band_is_planned_back() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    let ec2 = ec2(&moto, "us-east-1").await;
    let sg = ec2
        .describe_security_groups()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    // Someone opens SSH to the world from the console.
    ec2.authorize_security_group_ingress()
        .group_id(sg.group_id().unwrap())
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 2);
    assert!(
        stdout(&out).contains("~ web (aws.ec2.security_group"),
        "{}",
        text(&out)
    );
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    let sg = ec2
        .describe_security_groups()
        .group_ids(sg.group_id().unwrap())
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    assert_eq!(sg.ip_permissions().len(), 1, "the SSH rule was revoked");
    assert_eq!(sg.ip_permissions()[0].from_port(), Some(443));
    expect_code(
        &terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]),
        0,
    );
}
