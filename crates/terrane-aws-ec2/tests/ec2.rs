//! The EC2 resource types against a local moto server: create with tags, batched observe
//! (with unknown ids mixed in), in-place updates, discovery by ownership tags, and
//! idempotent deletes.

use std::sync::Arc;

use terrane_aws_ec2::AwsClients;
use terrane_aws_ec2::internet_gateway::InternetGateway;
use terrane_aws_ec2::security_group::{self, SecurityGroup};
use terrane_aws_ec2::subnet::Subnet;
use terrane_aws_ec2::vpc::Vpc;
use terrane_core::{Address, Value};
use terrane_provider::{Attributes, CreateRequest, ProviderError, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "ec2-test";

terrane_testkit::provider_test_helpers!(
    attrs,
    map,
    strings,
    tags,
    create,
    observe,
    update,
    delete,
    find,
    delete_twice_and_gone,
    s
);

async fn clients(moto: &Moto) -> Arc<AwsClients> {
    moto.clients(REGION).await
}

async fn make_vpc(vpcs: &Vpc, address: &str, cidr: &str) -> (String, Attributes) {
    create(
        vpcs,
        address,
        &attrs(&[
            ("cidr_block", Value::string(cidr)),
            ("tags", tags(address, &[])),
        ]),
    )
    .await
}

#[tokio::test]
async fn vpc_lifecycle() {
    let moto = Moto::start();
    let vpcs = Vpc::new(clients(&moto).await);
    let inputs = attrs(&[
        ("cidr_block", Value::string("10.1.0.0/16")),
        ("enable_dns_support", Value::Bool(true)),
        ("enable_dns_hostnames", Value::Bool(false)),
        ("tags", tags("vpc", &[("Name", "main"), ("team", "net")])),
    ]);
    let (id, created) = create(&vpcs, "vpc", &inputs).await;
    assert!(id.starts_with("vpc-"), "{id}");
    assert_eq!(s(&created, "id"), id);
    assert_eq!(s(&created, "cidr_block"), "10.1.0.0/16");
    assert_eq!(s(&created, "instance_tenancy"), "default");
    assert_eq!(created["enable_dns_support"], Value::Bool(true));
    assert_eq!(created["enable_dns_hostnames"], Value::Bool(false));
    assert_eq!(created["tags"], inputs["tags"]);
    let owner = s(&created, "owner_id");
    assert_eq!(
        s(&created, "arn"),
        format!("arn:aws:ec2:{REGION}:{owner}:vpc/{id}")
    );
    assert!(s(&created, "default_security_group_id").starts_with("sg-"));

    // Batched observe: an unknown id does not hide the known one.
    let found = observe(&vpcs, &[&id, "vpc-0123456789abcdef0"]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // DNS hostnames (and a tag) change in place.
    let mut wanted = inputs.clone();
    wanted.insert("enable_dns_hostnames".into(), Value::Bool(true));
    wanted.insert("tags".into(), tags("vpc", &[("Name", "renamed")]));
    let updated = update(
        &vpcs,
        &id,
        &wanted,
        &created,
        &["enable_dns_hostnames", "tags"],
    )
    .await;
    let live = &observe(&vpcs, &[&id]).await[&id];
    assert_eq!(&updated, live);
    assert_eq!(live["enable_dns_hostnames"], Value::Bool(true));
    assert_eq!(live["enable_dns_support"], Value::Bool(true));
    assert_eq!(live["tags"], wanted["tags"], "team removed, Name changed");

    // Turning DNS support off needs hostnames off first; both in one update.
    let mut off = wanted.clone();
    off.insert("enable_dns_support".into(), Value::Bool(false));
    off.insert("enable_dns_hostnames".into(), Value::Bool(false));
    let updated = update(
        &vpcs,
        &id,
        &off,
        live,
        &["enable_dns_support", "enable_dns_hostnames"],
    )
    .await;
    assert_eq!(updated["enable_dns_support"], Value::Bool(false));
    assert_eq!(updated["enable_dns_hostnames"], Value::Bool(false));

    // A create that changes both DNS defaults, and a dedicated tenancy.
    let (other, other_attrs) = create(
        &vpcs,
        "other",
        &attrs(&[
            ("cidr_block", Value::string("10.2.0.0/16")),
            ("instance_tenancy", Value::string("dedicated")),
            ("enable_dns_support", Value::Bool(true)),
            ("enable_dns_hostnames", Value::Bool(true)),
            ("tags", tags("other", &[])),
        ]),
    )
    .await;
    assert_eq!(other_attrs["enable_dns_hostnames"], Value::Bool(true));
    assert_eq!(s(&other_attrs, "instance_tenancy"), "dedicated");

    // Found again by ownership tags.
    assert_eq!(find(&vpcs, STACK, Some("vpc")).await, vec![id.clone()]);
    let mut both = vec![id.clone(), other.clone()];
    both.sort();
    assert_eq!(find(&vpcs, STACK, None).await, both);
    assert!(find(&vpcs, STACK, Some("nothing")).await.is_empty());
    // Addresses are matched literally, not as EC2 filter wildcards.
    assert!(find(&vpcs, STACK, Some("vp?")).await.is_empty());
    assert!(find(&vpcs, STACK, Some("*")).await.is_empty());
    assert!(find(&vpcs, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&vpcs, &id, &updated).await;
    delete_twice_and_gone(&vpcs, &other, &other_attrs).await;
    assert!(observe(&vpcs, &[&id, &other]).await.is_empty());
}

#[tokio::test]
async fn subnet_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let vpcs = Vpc::new(clients.clone());
    let subnets = Subnet::new(clients);
    let (vpc_id, vpc_attrs) = make_vpc(&vpcs, "vpc", "10.3.0.0/16").await;

    let inputs_a = attrs(&[
        ("vpc_id", Value::string(&vpc_id)),
        ("cidr_block", Value::string("10.3.1.0/24")),
        ("availability_zone", Value::string("us-east-1b")),
        ("map_public_ip_on_launch", Value::Bool(true)),
        ("tags", tags("subnet[\"a\"]", &[("tier", "public")])),
    ]);
    let (a, a_attrs) = create(&subnets, "subnet[\"a\"]", &inputs_a).await;
    assert!(a.starts_with("subnet-"), "{a}");
    assert_eq!(s(&a_attrs, "vpc_id"), vpc_id);
    assert_eq!(s(&a_attrs, "cidr_block"), "10.3.1.0/24");
    assert_eq!(s(&a_attrs, "availability_zone"), "us-east-1b");
    assert!(!s(&a_attrs, "availability_zone_id").is_empty());
    assert_eq!(a_attrs["map_public_ip_on_launch"], Value::Bool(true));
    assert_eq!(a_attrs["tags"], inputs_a["tags"]);
    assert!(s(&a_attrs, "arn").starts_with("arn:aws:ec2:us-east-1:"));
    assert!(s(&a_attrs, "arn").ends_with(&format!(":subnet/{a}")));

    // Without an availability zone AWS picks one, and observe reports it.
    let inputs_b = attrs(&[
        ("vpc_id", Value::string(&vpc_id)),
        ("cidr_block", Value::string("10.3.2.0/24")),
        ("tags", tags("subnet[\"b\"]", &[])),
    ]);
    let (b, b_attrs) = create(&subnets, "subnet[\"b\"]", &inputs_b).await;
    assert!(s(&b_attrs, "availability_zone").starts_with("us-east-1"));
    assert_eq!(b_attrs["map_public_ip_on_launch"], Value::Bool(false));

    // AWS's refusal comes back with its error code and message.
    let err = subnets
        .create(CreateRequest {
            region: REGION,
            address: &Address::new("outside"),
            inputs: &attrs(&[
                ("vpc_id", Value::string(&vpc_id)),
                ("cidr_block", Value::string("192.168.0.0/24")),
            ]),
            client_token: "t",
        })
        .await
        .expect_err("a CIDR outside the VPC is refused");
    match err {
        ProviderError::Api { operation, message } => {
            assert_eq!(operation, "CreateSubnet");
            assert!(message.starts_with("InvalidSubnet.Range: "), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let found = observe(&subnets, &["subnet-0123456789abcdef0", &a, &b]).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[&a], a_attrs);
    assert_eq!(found[&b], b_attrs);

    // map_public_ip_on_launch changes in place.
    let mut wanted = inputs_a.clone();
    wanted.insert("map_public_ip_on_launch".into(), Value::Bool(false));
    update(
        &subnets,
        &a,
        &wanted,
        &a_attrs,
        &["map_public_ip_on_launch"],
    )
    .await;
    let live = observe(&subnets, &[&a]).await.remove(&a).unwrap();
    assert_eq!(live["map_public_ip_on_launch"], Value::Bool(false));
    assert_eq!(s(&live, "id"), a, "the same subnet");

    // The address is matched on terrane's side, so bracketed addresses are found even on
    // endpoints that read `[` in a filter value as a glob (moto 5.2.5 does).
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(find(&subnets, STACK, None).await, both);
    assert_eq!(
        find(&subnets, STACK, Some("subnet[\"a\"]")).await,
        vec![a.clone()]
    );
    assert_eq!(
        find(&subnets, STACK, Some("subnet[\"b\"]")).await,
        vec![b.clone()]
    );
    assert!(find(&subnets, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&subnets, &a, &live).await;
    delete_twice_and_gone(&subnets, &b, &b_attrs).await;
    delete_twice_and_gone(&vpcs, &vpc_id, &vpc_attrs).await;
}

#[tokio::test]
async fn internet_gateway_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let vpcs = Vpc::new(clients.clone());
    let igws = InternetGateway::new(clients);
    let (vpc1, vpc1_attrs) = make_vpc(&vpcs, "vpc1", "10.4.0.0/16").await;
    let (vpc2, vpc2_attrs) = make_vpc(&vpcs, "vpc2", "10.5.0.0/16").await;

    let inputs = attrs(&[
        ("vpc_id", Value::string(&vpc1)),
        ("tags", tags("igw", &[("Name", "gw")])),
    ]);
    let (id, created) = create(&igws, "igw", &inputs).await;
    assert!(id.starts_with("igw-"), "{id}");
    assert_eq!(s(&created, "vpc_id"), vpc1);
    assert!(!s(&created, "owner_id").is_empty());
    assert_eq!(created["tags"], inputs["tags"]);

    let found = observe(&igws, &[&id, "igw-0123456789abcdef0"]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // Reattach to another VPC in place.
    let mut wanted = inputs.clone();
    wanted.insert("vpc_id".into(), Value::string(&vpc2));
    update(&igws, &id, &wanted, &created, &["vpc_id"]).await;
    let live = observe(&igws, &[&id]).await.remove(&id).unwrap();
    assert_eq!(s(&live, "vpc_id"), vpc2);

    // Detach (vpc_id unset), then attach again.
    let mut detached = wanted.clone();
    detached.remove("vpc_id");
    let after = update(&igws, &id, &detached, &live, &["vpc_id"]).await;
    assert_eq!(after["vpc_id"], Value::Null);
    let after = update(&igws, &id, &wanted, &after, &["vpc_id"]).await;
    assert_eq!(s(&after, "vpc_id"), vpc2);

    assert_eq!(find(&igws, STACK, Some("igw")).await, vec![id.clone()]);
    assert!(find(&igws, STACK, Some("vpc1")).await.is_empty());

    // Delete detaches first (from the live attachment, whatever prior says).
    delete_twice_and_gone(&igws, &id, &created).await;
    // The VPCs are free of it: they delete.
    delete_twice_and_gone(&vpcs, &vpc1, &vpc1_attrs).await;
    delete_twice_and_gone(&vpcs, &vpc2, &vpc2_attrs).await;
}

fn rule(pairs: &[(&str, Value)]) -> Value {
    Value::Map(attrs(pairs))
}

fn ports(protocol: &str, from: i64, to: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("protocol", Value::string(protocol)),
        ("from_port", Value::int(from)),
        ("to_port", Value::int(to)),
    ]
}

fn with(mut base: Vec<(&'static str, Value)>, more: &[(&'static str, Value)]) -> Value {
    base.extend_from_slice(more);
    rule(&base)
}

#[tokio::test]
async fn security_group_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let vpcs = Vpc::new(clients.clone());
    let sgs = SecurityGroup::new(clients);
    let (vpc_id, vpc_attrs) = make_vpc(&vpcs, "vpc", "10.6.0.0/16").await;
    let default_sg = s(&vpc_attrs, "default_security_group_id");

    let ingress = Value::List(vec![
        with(
            ports("tcp", 443, 443),
            &[
                ("cidr_blocks", strings(&["0.0.0.0/0", "10.0.0.0/8"])),
                ("description", Value::string("HTTPS")),
            ],
        ),
        with(
            ports("tcp", 22, 22),
            &[("source_security_group_ids", strings(&[&default_sg]))],
        ),
    ]);
    let inputs = attrs(&[
        ("name", Value::string("web")),
        ("description", Value::string("Managed by terrane")),
        ("vpc_id", Value::string(&vpc_id)),
        ("ingress", ingress.clone()),
        ("tags", tags("web", &[("Name", "web")])),
    ]);
    let (id, created) = create(&sgs, "web", &inputs).await;
    assert!(id.starts_with("sg-"), "{id}");
    assert_eq!(s(&created, "name"), "web");
    assert_eq!(s(&created, "description"), "Managed by terrane");
    assert_eq!(s(&created, "vpc_id"), vpc_id);
    let owner = s(&created, "owner_id");
    assert_eq!(
        s(&created, "arn"),
        format!("arn:aws:ec2:{REGION}:{owner}:security-group/{id}")
    );
    assert_eq!(created["tags"], inputs["tags"]);
    // Observed rules are in canonical form: the stack form normalises to exactly them.
    assert_eq!(
        created["ingress"],
        security_group::normalize("ingress", &ingress)
    );
    assert_eq!(created["ingress"].as_list().unwrap().len(), 3);
    // Egress unset: AWS's default egress is left in place.
    let default_egress = Value::List(vec![rule(&[
        ("protocol", Value::string("-1")),
        ("cidr_block", Value::string("0.0.0.0/0")),
    ])]);
    assert_eq!(created["egress"], default_egress);

    let found = observe(&sgs, &["sg-0123456789abcdef0", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // Rules change in place: 10.0.0.0/8 removed, a UDP IPv6 rule added, the HTTPS rule
    // re-described, the SSH rule kept; egress becomes HTTPS only.
    let ingress2 = Value::List(vec![
        with(
            ports("tcp", 22, 22),
            &[("source_security_group_ids", strings(&[&default_sg]))],
        ),
        with(
            ports("udp", 53, 53),
            &[("ipv6_cidr_blocks", strings(&["::/0"]))],
        ),
        with(
            ports("tcp", 443, 443),
            &[
                ("cidr_blocks", strings(&["0.0.0.0/0"])),
                ("description", Value::string("HTTPS from anywhere")),
            ],
        ),
    ]);
    let egress2 = Value::List(vec![with(
        ports("tcp", 443, 443),
        &[("cidr_blocks", strings(&["0.0.0.0/0"]))],
    )]);
    let mut wanted = inputs.clone();
    wanted.insert("ingress".into(), ingress2.clone());
    wanted.insert("egress".into(), egress2.clone());
    update(&sgs, &id, &wanted, &created, &["ingress", "egress"]).await;
    let live = observe(&sgs, &[&id]).await.remove(&id).unwrap();
    assert_eq!(
        live["ingress"],
        security_group::normalize("ingress", &ingress2)
    );
    assert_eq!(
        live["egress"],
        security_group::normalize("egress", &egress2)
    );

    // Egress set at create replaces AWS's default.
    let (db, db_attrs) = create(
        &sgs,
        "db",
        &attrs(&[
            ("name", Value::string("db")),
            ("vpc_id", Value::string(&vpc_id)),
            ("egress", egress2.clone()),
            ("tags", tags("db", &[])),
        ]),
    )
    .await;
    assert_eq!(
        db_attrs["egress"],
        security_group::normalize("egress", &egress2)
    );
    assert_eq!(db_attrs["ingress"], Value::List(vec![]));
    assert_eq!(s(&db_attrs, "description"), "Managed by terrane");

    assert_eq!(find(&sgs, STACK, Some("web")).await, vec![id.clone()]);
    assert_eq!(find(&sgs, STACK, None).await.len(), 2);

    // A rule without ports is refused before anything is made.
    let bad = sgs
        .create(CreateRequest {
            region: REGION,
            address: &Address::new("bad"),
            inputs: &attrs(&[
                ("name", Value::string("bad")),
                ("vpc_id", Value::string(&vpc_id)),
                (
                    "ingress",
                    Value::List(vec![rule(&[
                        ("protocol", Value::string("tcp")),
                        ("cidr_blocks", strings(&["0.0.0.0/0"])),
                    ])]),
                ),
                ("tags", tags("bad", &[])),
            ]),
            client_token: "t",
        })
        .await;
    assert!(bad.is_err());
    assert!(find(&sgs, STACK, Some("bad")).await.is_empty());

    delete_twice_and_gone(&sgs, &id, &live).await;
    delete_twice_and_gone(&sgs, &db, &db_attrs).await;
    delete_twice_and_gone(&vpcs, &vpc_id, &vpc_attrs).await;
}

#[test]
fn security_group_normalizer_equates_stack_and_observed_forms() {
    // As written in a stack: grouped sources, a numeric protocol, string ports.
    let stack = Value::List(vec![
        rule(&[
            ("protocol", Value::string("6")),
            ("from_port", Value::string("80")),
            ("to_port", Value::int(80)),
            ("cidr_blocks", strings(&["10.0.0.0/8", "0.0.0.0/0"])),
            ("ipv6_cidr_blocks", strings(&["::/0"])),
            ("description", Value::string("web")),
        ]),
        rule(&[
            ("protocol", Value::string("-1")),
            ("source_security_group_ids", strings(&["sg-1"])),
        ]),
    ]);
    // As observe reports it: one source per rule, in another order.
    let observed = Value::List(vec![
        rule(&[
            ("protocol", Value::string("tcp")),
            ("from_port", Value::int(80)),
            ("to_port", Value::int(80)),
            ("ipv6_cidr_block", Value::string("::/0")),
            ("description", Value::string("web")),
        ]),
        rule(&[
            ("protocol", Value::string("-1")),
            ("source_security_group_id", Value::string("sg-1")),
        ]),
        rule(&[
            ("protocol", Value::string("tcp")),
            ("from_port", Value::int(80)),
            ("to_port", Value::int(80)),
            ("cidr_block", Value::string("0.0.0.0/0")),
            ("description", Value::string("web")),
        ]),
        rule(&[
            ("protocol", Value::string("tcp")),
            ("from_port", Value::int(80)),
            ("to_port", Value::int(80)),
            ("cidr_block", Value::string("10.0.0.0/8")),
            ("description", Value::string("web")),
        ]),
    ]);
    let a = security_group::normalize("ingress", &stack);
    let b = security_group::normalize("ingress", &observed);
    assert_eq!(a, b);
    assert_eq!(a.as_list().unwrap().len(), 4);

    // A different description is a different rule.
    let mut changed = observed.as_list().unwrap().to_vec();
    changed.pop();
    changed.push(rule(&[
        ("protocol", Value::string("tcp")),
        ("from_port", Value::int(80)),
        ("to_port", Value::int(80)),
        ("cidr_block", Value::string("10.0.0.0/8")),
    ]));
    assert_ne!(
        security_group::normalize("ingress", &Value::List(changed)),
        a
    );
}

#[test]
fn registry_declares_the_four_types_with_documented_schemas() {
    let mut registry = terrane_provider::Registry::new();
    terrane_aws_ec2::register(&mut registry, &Arc::new(AwsClients::offline()));
    for name in [
        "aws.ec2.vpc",
        "aws.ec2.subnet",
        "aws.ec2.internet_gateway",
        "aws.ec2.security_group",
    ] {
        let t = registry
            .get(name)
            .unwrap_or_else(|| panic!("{name} registered"));
        let schema = t.schema();
        assert!(schema.taggable, "{name}");
        assert_eq!(schema.id_attribute, "id", "{name}");
        assert!(!schema.description.is_empty(), "{name}");
        assert!(schema.example.contains(&format!("type: {name}")), "{name}");
        assert!(
            schema.attribute("tags").is_some_and(|a| a.settable()),
            "{name}"
        );
        assert!(
            schema.attribute("id").is_some_and(|a| !a.settable()),
            "{name}"
        );
        for a in &schema.attributes {
            assert!(!a.description.is_empty(), "{name}.{}", a.name);
        }
    }
}

#[tokio::test]
async fn security_group_rules_are_tracked_one_by_one() {
    use terrane_aws_ec2::security_group_rule::SecurityGroupRule;
    let moto = Moto::start();
    let c = clients(&moto).await;
    let (vpc, _) = make_vpc(&Vpc::new(c.clone()), "vpc", "10.9.0.0/16").await;
    let groups = SecurityGroup::new(c.clone());
    let (web, _) = create(
        &groups,
        "web",
        &attrs(&[
            ("name", Value::string("web")),
            ("vpc_id", Value::string(&vpc)),
            ("tags", tags("web", &[])),
        ]),
    )
    .await;
    let (db, _) = create(
        &groups,
        "db",
        &attrs(&[
            ("name", Value::string("db")),
            ("vpc_id", Value::string(&vpc)),
            ("tags", tags("db", &[])),
        ]),
    )
    .await;
    let rules = SecurityGroupRule::new(c);
    let https = attrs(&[
        ("security_group_id", Value::string(&web)),
        ("direction", Value::string("ingress")),
        ("protocol", Value::string("tcp")),
        ("from_port", Value::int(443)),
        ("to_port", Value::int(443)),
        ("cidr_ipv4", Value::string("0.0.0.0/0")),
        ("description", Value::string("HTTPS")),
        ("tags", tags("https_in", &[("purpose", "web")])),
    ]);
    let (https_id, https_attrs) = create(&rules, "https_in", &https).await;
    assert!(https_id.starts_with("sgr-"), "{https_id}");
    for (k, v) in &https {
        assert_eq!(&https_attrs[k], v, "{k}");
    }
    let from_web = attrs(&[
        ("security_group_id", Value::string(&db)),
        ("direction", Value::string("ingress")),
        ("protocol", Value::string("tcp")),
        ("from_port", Value::int(5432)),
        ("to_port", Value::int(5432)),
        ("referenced_security_group_id", Value::string(&web)),
        ("tags", tags("db_from_web", &[])),
    ]);
    let (pg_id, pg_attrs) = create(&rules, "db_from_web", &from_web).await;
    assert_eq!(s(&pg_attrs, "referenced_security_group_id"), web);
    let egress = attrs(&[
        ("security_group_id", Value::string(&db)),
        ("direction", Value::string("egress")),
        ("protocol", Value::string("-1")),
        ("cidr_ipv4", Value::string("10.9.0.0/16")),
        ("tags", tags("db_out", &[])),
    ]);
    let (out_id, out_attrs) = create(&rules, "db_out", &egress).await;
    assert_eq!(s(&out_attrs, "direction"), "egress");
    assert!(
        !out_attrs.contains_key("from_port"),
        "all traffic has no ports"
    );

    // One batched read answers for all three; an unknown id is simply absent.
    let found = observe(
        &rules,
        &[&https_id, "sgr-0123456789abcdef0", &pg_id, &out_id],
    )
    .await;
    assert_eq!(found.len(), 3);
    assert_eq!(found[&https_id], https_attrs);

    // Description and tags change in place, keeping the rule id.
    let mut wanted = https.clone();
    wanted.insert("description".into(), Value::string("HTTPS from anywhere"));
    wanted.insert("tags".into(), tags("https_in", &[("purpose", "edge")]));
    let updated = update(
        &rules,
        &https_id,
        &wanted,
        &https_attrs,
        &["description", "tags"],
    )
    .await;
    assert_eq!(s(&updated, "description"), "HTTPS from anywhere");
    assert_eq!(updated["tags"], wanted["tags"]);
    assert_eq!(s(&updated, "id"), https_id);

    // Two peers at once is refused before anything reaches AWS.
    let mut both = https.clone();
    both.insert("cidr_ipv6".into(), Value::string("::/0"));
    let err = rules
        .create(CreateRequest {
            region: REGION,
            address: &Address::new("bad"),
            inputs: &both,
            client_token: "t",
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Invalid(_)), "{err}");

    let mut mine = find(&rules, STACK, None).await;
    mine.sort();
    let mut all = vec![https_id.clone(), pg_id.clone(), out_id.clone()];
    all.sort();
    assert_eq!(mine, all);
    assert_eq!(
        find(&rules, STACK, Some("db_out")).await,
        vec![out_id.clone()]
    );
    assert!(find(&rules, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&rules, &https_id, &updated).await;
    delete_twice_and_gone(&rules, &pg_id, &pg_attrs).await;
    delete_twice_and_gone(&rules, &out_id, &out_attrs).await;
}
