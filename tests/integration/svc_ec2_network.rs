//! Stack-level tests of the EC2 networking types beyond the foundation's four against the local endpoint,
//! with security groups (inline rules) and separate security group rules.
//!
//! The separate rule goes into a group of its own (`web`, `ingress` unset): a group with
//! inline `ingress` owns every ingress rule it has, so a rule added beside it would be
//! revoked by the group's next apply and created again by the rule's (never converging).

use std::collections::BTreeMap;

use crate::support::*;

const STACK: &str = "ec2-network";
const REGIONS: [(&str, &str); 2] = [("us-east-1", "10.40.0.0/16"), ("eu-west-1", "10.41.0.0/16")];

/// `EC2 DescribeVpcs us-east-1: 1` lines of `--api-stats` as ((operation, region), count).
fn api_calls(stderr: &str) -> BTreeMap<(String, String), u64> {
    stderr
        .lines()
        .filter_map(|l| {
            let (key, n) = l.trim().rsplit_once(": ")?;
            let mut parts = key.split_whitespace();
            let (_service, op, region) = (parts.next()?, parts.next()?, parts.next()?);
            Some(((op.to_string(), region.to_string()), n.parse().ok()?))
        })
        .collect()
}

fn tag<'a>(tags: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    tags.get(key).map(String::as_str).unwrap_or_default()
}

/// What the stack made in one region, read with the SDK.
struct Region {
    vpc: String,
    public_subnet: String,
    private_subnet: String,
    igw: String,
    eip: String,
    nat: String,
    public_rt: String,
    private_rt: String,
    acl: String,
    endpoint: String,
    flow_log: String,
    app_sg: String,
    web_sg: String,
    https_rule: String,
}

/// What the security groups and the rule hold at a step of the test.
struct SgWant {
    app_description: &'static str,
    app_port: i32,
    web_tags: &'static [(&'static str, &'static str)],
    rule_port: i32,
    rule_description: &'static str,
}

const SG_FIRST: SgWant = SgWant {
    app_description: "App servers",
    app_port: 8080,
    web_tags: &[],
    rule_port: 443,
    rule_description: "HTTPS from the VPC",
};

/// After the in-place change: the app group's inline port, the web group's tags and the
/// rule's description.
const SG_UPDATED: SgWant = SgWant {
    app_port: 8081,
    web_tags: &[("tier", "web")],
    rule_description: "HTTPS from inside the VPC",
    ..SG_FIRST
};

/// After the replacement: the app group's description and the rule's port.
const SG_REPLACED: SgWant = SgWant {
    app_description: "Application servers",
    rule_port: 8443,
    ..SG_UPDATED
};

/// A group's ingress as sorted (protocol, from, to, cidr, description).
fn ingress_of(g: &aws_sdk_ec2::types::SecurityGroup) -> Vec<(String, i32, i32, String, String)> {
    let mut rules: Vec<_> = g
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            p.ip_ranges().iter().map(|r| {
                (
                    p.ip_protocol().unwrap_or_default().to_string(),
                    p.from_port().unwrap_or(-1),
                    p.to_port().unwrap_or(-1),
                    r.cidr_ip().unwrap_or_default().to_string(),
                    r.description().unwrap_or_default().to_string(),
                )
            })
        })
        .collect();
    rules.sort();
    rules
}

/// Security group rules of the region carrying the stack's ownership tag.
async fn owned_rules(ec2: &aws_sdk_ec2::Client) -> Vec<aws_sdk_ec2::types::SecurityGroupRule> {
    ec2.describe_security_group_rules()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .to_vec()
}

/// Reads and checks one region's security groups and the separate rule: (app, web, rule).
async fn check_security_groups(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    cidr: &str,
    vpc: &str,
    want: &SgWant,
) -> (String, String, String) {
    let groups = ec2
        .describe_security_groups()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(groups.security_groups().len(), 2, "{region}: {groups:?}");
    let group = |name: &str| {
        groups
            .security_groups()
            .iter()
            .find(|g| g.group_name() == Some(name))
            .unwrap_or_else(|| panic!("security group {name} in {region}"))
    };
    let (app, web) = (group("app"), group("web"));
    for (g, name) in [(app, "app"), (web, "web")] {
        assert_eq!(g.vpc_id(), Some(vpc), "{region} {name}");
        let tags = tags_of(g.tags());
        assert_eq!(tag(&tags, "terrane:stack"), STACK);
        assert_eq!(
            tag(&tags, "terrane:address"),
            format!("module.net[\"{region}\"].{name}")
        );
        assert_eq!(tag(&tags, "Name"), format!("{name}-{region}"));
        assert_eq!(tag(&tags, "project"), "terrane-test", "default tags");
    }
    assert_eq!(app.description(), Some(want.app_description), "{region}");
    assert_eq!(
        ingress_of(app),
        [(
            "tcp".to_string(),
            want.app_port,
            want.app_port,
            cidr.to_string(),
            "App port from the VPC".to_string()
        )],
        "{region}: the app group's inline rule"
    );
    assert_eq!(web.description(), Some("Web front ends"), "{region}");
    // The web group's one rule is the separate rule's.
    assert_eq!(
        ingress_of(web),
        [(
            "tcp".to_string(),
            want.rule_port,
            want.rule_port,
            cidr.to_string(),
            want.rule_description.to_string()
        )],
        "{region}: the web group's rule"
    );
    let web_tags = tags_of(web.tags());
    assert_eq!(
        web_tags.len(),
        4 + want.web_tags.len(),
        "{region}: {web_tags:?}"
    );
    for (k, v) in want.web_tags {
        assert_eq!(tag(&web_tags, k), *v, "{region}");
    }

    let web_id = web.group_id().unwrap().to_string();
    let rules = ec2
        .describe_security_group_rules()
        .filters(filter("group-id", &web_id))
        .send()
        .await
        .unwrap();
    let ingress: Vec<_> = rules
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .collect();
    assert_eq!(ingress.len(), 1, "{region}: {rules:?}");
    let rule = ingress[0];
    assert_eq!(rule.ip_protocol(), Some("tcp"));
    assert_eq!(rule.from_port(), Some(want.rule_port), "{region}");
    assert_eq!(rule.to_port(), Some(want.rule_port), "{region}");
    assert_eq!(rule.cidr_ipv4(), Some(cidr), "{region}");
    assert_eq!(rule.description(), Some(want.rule_description), "{region}");
    let tags = tags_of(rule.tags());
    assert_eq!(tag(&tags, "terrane:stack"), STACK);
    assert_eq!(
        tag(&tags, "terrane:address"),
        format!("module.net[\"{region}\"].https_in")
    );
    assert_eq!(tag(&tags, "Name"), format!("https-{region}"));
    assert_eq!(tag(&tags, "project"), "terrane-test", "default tags");
    let rule_id = rule.security_group_rule_id().unwrap().to_string();
    // The stack owns that one rule in the region (the app group's inline rule is the
    // group's, untagged).
    let owned: Vec<_> = owned_rules(ec2)
        .await
        .iter()
        .filter_map(|r| r.security_group_rule_id().map(str::to_string))
        .collect();
    assert_eq!(owned, std::slice::from_ref(&rule_id), "{region}");
    (app.group_id().unwrap().to_string(), web_id, rule_id)
}

fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

async fn owned_vpc(ec2: &aws_sdk_ec2::Client) -> String {
    let vpcs = ec2
        .describe_vpcs()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
    vpcs.vpcs()[0].vpc_id().unwrap().to_string()
}

/// Reads and checks one region's resources and their key attributes.
async fn check_region(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    cidr: &str,
    traffic: &str,
    sg: &SgWant,
) -> Region {
    let vpc = owned_vpc(ec2).await;
    let subnets = ec2
        .describe_subnets()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    let subnet = |name: &str| {
        subnets
            .subnets()
            .iter()
            .find(|s| tag(&tags_of(s.tags()), "Name") == format!("{name}-{region}"))
            .unwrap_or_else(|| panic!("{name} subnet in {region}"))
            .subnet_id()
            .unwrap()
            .to_string()
    };
    let (public_subnet, private_subnet) = (subnet("public"), subnet("private"));
    let igw = ec2
        .describe_internet_gateways()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .internet_gateways()[0]
        .internet_gateway_id()
        .unwrap()
        .to_string();

    // Elastic IP and NAT gateway.
    let eips = ec2
        .describe_addresses()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(eips.addresses().len(), 1, "{region}");
    let eip = eips.addresses()[0].allocation_id().unwrap().to_string();
    assert_eq!(
        tag(&tags_of(eips.addresses()[0].tags()), "project"),
        "terrane-test"
    );
    // moto ignores tag filters on DescribeNatGateways: matched here.
    let nats: Vec<_> = ec2
        .describe_nat_gateways()
        .send()
        .await
        .unwrap()
        .nat_gateways()
        .iter()
        .filter(|n| tag(&tags_of(n.tags()), "terrane:stack") == STACK)
        .filter(|n| n.state().map(|s| s.as_str()) == Some("available"))
        .cloned()
        .collect();
    assert_eq!(nats.len(), 1, "{region}");
    let nat = nats[0].nat_gateway_id().unwrap().to_string();
    assert_eq!(nats[0].subnet_id(), Some(public_subnet.as_str()));
    assert_eq!(
        nats[0].nat_gateway_addresses()[0].allocation_id(),
        Some(eip.as_str())
    );

    // Route tables, routes and associations.
    let tables = ec2
        .describe_route_tables()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(tables.route_tables().len(), 2, "{region}");
    let table = |tier: &str| {
        tables
            .route_tables()
            .iter()
            .find(|t| tag(&tags_of(t.tags()), "tier") == tier)
            .unwrap_or_else(|| panic!("{tier} route table in {region}"))
    };
    let (public_t, private_t) = (table("public"), table("private"));
    let default_route = |t: &aws_sdk_ec2::types::RouteTable| {
        t.routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .unwrap_or_else(|| panic!("default route in {region}"))
            .clone()
    };
    assert_eq!(default_route(public_t).gateway_id(), Some(igw.as_str()));
    assert_eq!(
        default_route(private_t).nat_gateway_id(),
        Some(nat.as_str())
    );
    let associated = |t: &aws_sdk_ec2::types::RouteTable| -> Vec<String> {
        t.associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect()
    };
    assert_eq!(associated(public_t), std::slice::from_ref(&public_subnet));
    assert_eq!(associated(private_t), std::slice::from_ref(&private_subnet));
    let (public_rt, private_rt) = (
        public_t.route_table_id().unwrap().to_string(),
        private_t.route_table_id().unwrap().to_string(),
    );

    // Network ACL.
    let acls = ec2
        .describe_network_acls()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(acls.network_acls().len(), 1, "{region}");
    let acl = &acls.network_acls()[0];
    let mut ingress: Vec<(i32, String, Option<i32>, String)> = acl
        .entries()
        .iter()
        .filter(|e| e.egress() == Some(false) && e.rule_number() != Some(32767))
        .map(|e| {
            (
                e.rule_number().unwrap(),
                e.protocol().unwrap().to_string(),
                e.port_range().and_then(|p| p.from()),
                e.cidr_block().unwrap().to_string(),
            )
        })
        .collect();
    ingress.sort();
    assert_eq!(ingress[0].0, 100);
    assert_eq!(ingress[0].1, "6");
    assert_eq!(ingress[1], (200, "-1".into(), None, cidr.into()));
    let acl_id = acl.network_acl_id().unwrap().to_string();

    // S3 gateway endpoint on the private route table.
    let endpoints: Vec<_> = ec2
        .describe_vpc_endpoints()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .vpc_endpoints()
        .iter()
        .filter(|e| e.state().map(|s| s.as_str().to_ascii_lowercase()) == Some("available".into()))
        .cloned()
        .collect();
    assert_eq!(endpoints.len(), 1, "{region}");
    assert_eq!(
        endpoints[0].service_name(),
        Some(format!("com.amazonaws.{region}.s3").as_str())
    );
    assert_eq!(
        endpoints[0].route_table_ids(),
        std::slice::from_ref(&private_rt)
    );
    assert_eq!(
        endpoints[0].vpc_endpoint_type().map(|t| t.as_str()),
        Some("Gateway")
    );

    // Flow log of the VPC.
    let logs = ec2
        .describe_flow_logs()
        .filter(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(logs.flow_logs().len(), 1, "{region}");
    let log = &logs.flow_logs()[0];
    assert_eq!(log.resource_id(), Some(vpc.as_str()));
    assert_eq!(log.traffic_type().map(|t| t.as_str()), Some(traffic));
    assert_eq!(
        log.log_destination(),
        Some(format!("arn:aws:logs:{region}:123456789012:log-group:vpc-flow-{region}").as_str())
    );

    let (app_sg, web_sg, https_rule) = check_security_groups(ec2, region, cidr, &vpc, sg).await;

    Region {
        vpc,
        public_subnet,
        private_subnet,
        igw,
        eip,
        nat,
        public_rt,
        private_rt,
        acl: acl_id,
        endpoint: endpoints[0].vpc_endpoint_id().unwrap().to_string(),
        flow_log: log.flow_log_id().unwrap().to_string(),
        app_sg,
        web_sg,
        https_rule,
    }
}

/// Everything of the kinds this stack makes that carries its ownership tag in `ec2`'s
/// region (deleted NAT gateways, endpoints and peerings, which stay listed, excepted).
/// Security groups are counted by `owned_count`; their separate rules here.
async fn owned_network_count(ec2: &aws_sdk_ec2::Client) -> usize {
    let owned = |tags: &[aws_sdk_ec2::types::Tag]| tag(&tags_of(tags), "terrane:stack") == STACK;
    let eips = ec2
        .describe_addresses()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .addresses()
        .len();
    let nats = ec2
        .describe_nat_gateways()
        .send()
        .await
        .unwrap()
        .nat_gateways()
        .iter()
        .filter(|n| owned(n.tags()) && n.state().map(|s| s.as_str()) != Some("deleted"))
        .count();
    let tables = ec2
        .describe_route_tables()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .route_tables()
        .len();
    let acls = ec2
        .describe_network_acls()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .network_acls()
        .len();
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .vpc_endpoints()
        .iter()
        .filter(|e| e.state().map(|s| s.as_str().to_ascii_lowercase()) != Some("deleted".into()))
        .count();
    let logs = ec2
        .describe_flow_logs()
        .filter(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .flow_logs()
        .len();
    let peerings = ec2
        .describe_vpc_peering_connections()
        .send()
        .await
        .unwrap()
        .vpc_peering_connections()
        .iter()
        .filter(|p| {
            owned(p.tags())
                && p.status().and_then(|s| s.code()).map(|c| c.as_str()) != Some("deleted")
        })
        .count();
    let templates = ec2
        .describe_launch_templates()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .launch_templates()
        .len();
    let rules = owned_rules(ec2).await.len();
    owned_count(ec2, STACK).await
        + rules
        + eips
        + nats
        + tables
        + acls
        + endpoints
        + logs
        + peerings
        + templates
}

async fn launch_template(ec2: &aws_sdk_ec2::Client) -> (String, i64, String) {
    let t = ec2
        .describe_launch_templates()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    assert_eq!(t.launch_templates().len(), 1);
    let t = &t.launch_templates()[0];
    let id = t.launch_template_id().unwrap().to_string();
    let v = ec2
        .describe_launch_template_versions()
        .launch_template_id(&id)
        .versions("$Default")
        .send()
        .await
        .unwrap();
    let data = v.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    (
        id,
        t.default_version_number().unwrap(),
        data.instance_type().unwrap().as_str().to_string(),
    )
}

#[tokio::test]
async fn ec2_network_stack_in_two_regions_applies_updates_replaces_and_destroys() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/ec2-network");
    let dir = work.path().to_str().unwrap();
    let us = ec2(&moto, "us-east-1").await;
    let eu = ec2(&moto, "eu-west-1").await;

    let out = terrane(Some(&moto), &["apply", dir, "--auto-approve"]);
    expect_code(&out, 0);

    let mut before = BTreeMap::new();
    for ((region, cidr), client) in REGIONS.iter().zip([&us, &eu]) {
        before.insert(
            *region,
            check_region(client, region, cidr, "ALL", &SG_FIRST).await,
        );
    }
    let (us_net, eu_net) = (&before["us-east-1"], &before["eu-west-1"]);
    assert_ne!(us_net.vpc, eu_net.vpc);

    // The peering is active in both regions, and routed from the US private table.
    let peerings = us
        .describe_vpc_peering_connections()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap();
    let pcx: Vec<_> = peerings
        .vpc_peering_connections()
        .iter()
        .filter(|p| tag(&tags_of(p.tags()), "terrane:stack") == STACK)
        .collect();
    assert_eq!(pcx.len(), 1);
    let pcx_id = pcx[0].vpc_peering_connection_id().unwrap().to_string();
    assert_eq!(
        pcx[0].requester_vpc_info().unwrap().vpc_id(),
        Some(us_net.vpc.as_str())
    );
    assert_eq!(
        pcx[0].accepter_vpc_info().unwrap().vpc_id(),
        Some(eu_net.vpc.as_str())
    );
    assert_eq!(
        pcx[0].accepter_vpc_info().unwrap().region(),
        Some("eu-west-1")
    );
    let seen_in_eu = eu
        .describe_vpc_peering_connections()
        .vpc_peering_connection_ids(&pcx_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        seen_in_eu.vpc_peering_connections()[0]
            .status()
            .and_then(|s| s.code())
            .map(|c| c.as_str()),
        Some("active")
    );
    let private = us
        .describe_route_tables()
        .route_table_ids(&us_net.private_rt)
        .send()
        .await
        .unwrap();
    assert!(
        private.route_tables()[0].routes().iter().any(|r| {
            r.destination_cidr_block() == Some("10.41.0.0/16")
                && r.vpc_peering_connection_id() == Some(pcx_id.as_str())
        }),
        "route to the peer"
    );
    let (template, version, instance_type) = launch_template(&us).await;
    assert_eq!((version, instance_type.as_str()), (1, "t3.micro"));

    // An unchanged stack plans nothing, reading each type once per region.
    let out = terrane(
        Some(&moto),
        &["plan", dir, "--detailed-exitcode", "--api-stats"],
    );
    expect_code(&out, 0);
    let calls = api_calls(&stderr(&out));
    let count = |op: &str, region: &str| {
        calls
            .get(&(op.to_string(), region.to_string()))
            .copied()
            .unwrap_or(0)
    };
    for (region, _) in REGIONS {
        for op in [
            "DescribeVpcs",
            "DescribeSubnets",
            "DescribeInternetGateways",
            "DescribeAddresses",
            "DescribeNatGateways",
            "DescribeNetworkAcls",
            "DescribeVpcEndpoints",
            "DescribeFlowLogs",
            "DescribeSecurityGroupRules",
        ] {
            assert_eq!(count(op, region), 1, "{op} in {region}: {calls:?}");
        }
        // The VPC's default security group, and the security groups.
        assert_eq!(count("DescribeSecurityGroups", region), 2, "{calls:?}");
        // Route tables, routes and associations: one each.
        assert_eq!(count("DescribeRouteTables", region), 3, "{calls:?}");
        // The VPC's two DNS attributes: no batched read exists.
        assert_eq!(count("DescribeVpcAttribute", region), 2, "{calls:?}");
    }
    for op in [
        "DescribeVpcPeeringConnections",
        "DescribeLaunchTemplates",
        "DescribeLaunchTemplateVersions",
    ] {
        assert_eq!(count(op, "us-east-1"), 1, "{op}: {calls:?}");
    }
    assert!(
        calls.keys().all(|(op, _)| op.starts_with("Describe")),
        "a plan changes nothing: {calls:?}"
    );

    // Mutable properties change in place: an ACL entry, the app group's inline rule, the
    // web group's tags, the separate rule's description (all in both regions) and the
    // launch template's instance type (a new default version).
    work.edit(
        "modules/regional/module.yaml",
        "from_port: 443, to_port: 443",
        "from_port: 8443, to_port: 8443",
    );
    work.edit(
        "stack.yaml",
        "instance_type: t3.micro",
        "instance_type: t3.large",
    );
    work.edit(
        "modules/regional/module.yaml",
        "from_port: 8080\n          to_port: 8080",
        "from_port: 8081\n          to_port: 8081",
    );
    work.edit(
        "modules/regional/module.yaml",
        "tags: { Name: \"web-${var.region}\" }",
        "tags: { Name: \"web-${var.region}\", tier: web }",
    );
    work.edit(
        "modules/regional/module.yaml",
        "description: HTTPS from the VPC",
        "description: HTTPS from inside the VPC",
    );
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode", "--json"]);
    expect_code(&out, 2);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut actions: Vec<(String, String)> = plan["changes"]
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
    actions.sort();
    let mut expected = vec![("app".to_string(), "update".to_string())];
    for region in ["eu-west-1", "us-east-1"] {
        for name in ["acl", "app", "https_in", "web"] {
            expected.push((
                format!("module.net[\"{region}\"].{name}"),
                "update".to_string(),
            ));
        }
    }
    assert_eq!(actions, expected);
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    for ((region, cidr), client) in REGIONS.iter().zip([&us, &eu]) {
        let was = &before[region];
        let (app, web, rule) =
            check_security_groups(client, region, cidr, &was.vpc, &SG_UPDATED).await;
        assert_eq!(app, was.app_sg, "{region}: the same app group");
        assert_eq!(web, was.web_sg, "{region}: the same web group");
        assert_eq!(rule, was.https_rule, "{region}: the same rule");
        let acl = client
            .describe_network_acls()
            .network_acl_ids(&before[region].acl)
            .send()
            .await
            .unwrap();
        let https = acl.network_acls()[0]
            .entries()
            .iter()
            .find(|e| e.rule_number() == Some(100) && e.egress() == Some(false))
            .unwrap()
            .clone();
        assert_eq!(
            https.port_range().and_then(|p| p.from()),
            Some(8443),
            "{region}"
        );
    }
    let (template_after, version, instance_type) = launch_template(&us).await;
    assert_eq!(template_after, template, "the same launch template");
    assert_eq!((version, instance_type.as_str()), (2, "t3.large"));

    // Immutable properties replace: the flow logs' traffic type, the app group's
    // description and the separate rule's port.
    work.edit("stack.yaml", "    default: ALL\n", "    default: REJECT\n");
    work.edit(
        "modules/regional/module.yaml",
        "description: App servers",
        "description: Application servers",
    );
    work.edit(
        "modules/regional/module.yaml",
        "from_port: 443\n      to_port: 443\n",
        "from_port: 8443\n      to_port: 8443\n",
    );
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 2);
    assert!(
        stdout(&out).contains("Plan: 0 to create, 0 to update, 6 to replace, 0 to delete"),
        "{}",
        text(&out)
    );
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    for ((region, cidr), client) in REGIONS.iter().zip([&us, &eu]) {
        let after = check_region(client, region, cidr, "REJECT", &SG_REPLACED).await;
        let was = &before[region];
        assert_ne!(after.flow_log, was.flow_log, "{region}: a new flow log");
        assert_ne!(after.app_sg, was.app_sg, "{region}: a new app group");
        assert_ne!(after.https_rule, was.https_rule, "{region}: a new rule");
        let old_app = client
            .describe_security_groups()
            .filters(filter("group-id", &was.app_sg))
            .send()
            .await
            .unwrap();
        assert!(
            old_app.security_groups().is_empty(),
            "{region}: {old_app:?}"
        );
        let old_rule = client
            .describe_security_group_rules()
            .filters(filter("security-group-rule-id", &was.https_rule))
            .send()
            .await
            .unwrap();
        assert!(
            old_rule.security_group_rules().is_empty(),
            "{region}: {old_rule:?}"
        );
        assert_eq!(after.web_sg, was.web_sg, "{region}: the same web group");
        // Everything else is the same resource.
        assert_eq!(after.vpc, was.vpc);
        assert_eq!(after.public_subnet, was.public_subnet);
        assert_eq!(after.private_subnet, was.private_subnet);
        assert_eq!(after.igw, was.igw);
        assert_eq!(after.eip, was.eip);
        assert_eq!(after.public_rt, was.public_rt);
        assert_eq!(after.nat, was.nat);
        assert_eq!(after.private_rt, was.private_rt);
        assert_eq!(after.acl, was.acl);
        assert_eq!(after.endpoint, was.endpoint);
    }

    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 0);

    // Destroy leaves nothing carrying the stack's ownership tag in either region.
    expect_code(
        &terrane(Some(&moto), &["destroy", dir, "--auto-approve"]),
        0,
    );
    for (client, region) in [(&us, "us-east-1"), (&eu, "eu-west-1")] {
        assert_eq!(owned_network_count(client).await, 0, "{region}");
    }
}
