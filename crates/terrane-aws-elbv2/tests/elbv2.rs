//! The ELBv2 resource types against a local moto server: create with tags, batched observe
//! (with unknown ARNs mixed in), in-place updates, discovery by ownership tags, and
//! idempotent deletes.

use std::sync::Arc;

use terrane_aws_elbv2::AwsClients;
use terrane_aws_elbv2::listener::Listener;
use terrane_aws_elbv2::listener_rule::ListenerRule;
use terrane_aws_elbv2::load_balancer::LoadBalancer;
use terrane_aws_elbv2::target_group::TargetGroup;
use terrane_core::Value;
use terrane_provider::{Attributes, ResourceType};
use terrane_testkit::Moto;
use terrane_testkit::odd_address::{ODD_ADDRESS, assert_encoded_address, assert_plain_address};

const REGION: &str = "us-east-1";
const STACK: &str = "elbv2-test";
const UNKNOWN_LB: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/nothing/0123456789abcdef";
const UNKNOWN_TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nothing/0123456789abcdef";

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

/// Each input as the planner compares it: normalized, lists marked unordered as sets.
fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        let got = live.get(k).unwrap_or(&Value::Null);
        let attr = schema.attribute(k).expect("a schema attribute");
        let (a, b) = (schema.normalized(k, want), schema.normalized(k, got));
        let same = match (&a, &b) {
            (Value::List(x), Value::List(y)) if attr.unordered => {
                x.len() == y.len() && x.iter().all(|i| y.iter().any(|j| i.semantically_equal(j)))
            }
            _ => a.semantically_equal(&b),
        };
        assert!(same, "{k}: want {want}, live {got}");
    }
}

struct Network {
    vpc: String,
    subnets: Vec<String>,
    groups: Vec<String>,
}

/// A VPC with three subnets in three zones and two security groups, made with EC2 directly.
async fn network(moto: &Moto) -> Network {
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config(REGION).await);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let mut subnets = Vec::new();
    for (i, zone) in ["a", "b", "c"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(format!("{REGION}{zone}"))
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let mut groups = Vec::new();
    for name in ["alb-a", "alb-b"] {
        let g = ec2
            .create_security_group()
            .group_name(name)
            .description(name)
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap();
        groups.push(g.group_id().unwrap().to_string());
    }
    Network {
        vpc,
        subnets,
        groups,
    }
}

fn lb_inputs(name: &str, address: &str, net: &Network) -> Attributes {
    // As the planner hands them over: with the schema's defaults filled in. (moto reports
    // no scheme at all for a load balancer created without one; AWS says internet-facing.)
    attrs(&[
        ("name", Value::string(name)),
        ("type", Value::string("application")),
        ("scheme", Value::string("internet-facing")),
        ("ip_address_type", Value::string("ipv4")),
        ("subnets", strings(&[&net.subnets[0], &net.subnets[1]])),
        ("security_groups", strings(&[&net.groups[0]])),
        ("idle_timeout", Value::int(60)),
        ("drop_invalid_header_fields", Value::Bool(true)),
        ("deletion_protection", Value::Bool(false)),
        (
            "access_logs",
            Value::Map(
                [
                    ("enabled".to_string(), Value::Bool(true)),
                    ("bucket".to_string(), Value::string("alb-logs")),
                    ("prefix".to_string(), Value::string("web")),
                ]
                .into_iter()
                .collect(),
            ),
        ),
        ("tags", tags(address, &[("team", "web")])),
    ])
}

#[tokio::test]
async fn load_balancer_lifecycle() {
    let moto = Moto::start();
    let net = network(&moto).await;
    let aws = clients(&moto).await;
    let lbs = LoadBalancer::new(aws.clone());

    let inputs = lb_inputs("web", "alb", &net);
    let (arn, created) = create(&lbs, "alb", &inputs).await;
    assert!(arn.starts_with("arn:aws:elasticloadbalancing:"), "{arn}");
    assert_inputs_match(&lbs, &inputs, &created);
    assert_eq!(s(&created, "arn"), arn);
    assert_eq!(s(&created, "type"), "application");
    assert_eq!(s(&created, "scheme"), "internet-facing");
    assert_eq!(s(&created, "vpc_id"), net.vpc);
    assert!(!s(&created, "dns_name").is_empty());
    assert!(!s(&created, "zone_id").is_empty());
    assert!(s(&created, "arn_suffix").starts_with("app/web/"));

    // A second, internal one, for the batched observe.
    let mut internal_inputs = lb_inputs("api", "internal", &net);
    internal_inputs.insert("scheme".into(), Value::string("internal"));
    let (internal, internal_attrs) = create(&lbs, "internal", &internal_inputs).await;
    assert_eq!(s(&internal_attrs, "scheme"), "internal");

    // Two load balancers: one DescribeLoadBalancers, one DescribeTags, and attributes per
    // load balancer (ELBv2 has no batched form of that).
    aws.calls().reset();
    assert_eq!(observe(&lbs, &[&arn, &internal]).await.len(), 2);
    let calls = aws.calls().snapshot();
    let count = |op: &str| {
        calls
            .iter()
            .filter(|((_, o, _), _)| o == op)
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    assert_eq!(count("DescribeLoadBalancers"), 1, "{calls:?}");
    assert_eq!(count("DescribeTags"), 1, "{calls:?}");
    assert_eq!(count("DescribeLoadBalancerAttributes"), 2, "{calls:?}");

    // Known ARNs first, then an unknown one: the batched describe fails as a whole in AWS
    // and the type falls back to listing.
    let found = observe(&lbs, &[&arn, &internal, UNKNOWN_LB]).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[&arn], created);
    let found = observe(&lbs, &[UNKNOWN_LB, &arn]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&arn]);

    // Subnets, security groups, attributes and tags change in place.
    let mut wanted = inputs.clone();
    wanted.insert(
        "subnets".into(),
        strings(&[&net.subnets[2], &net.subnets[0], &net.subnets[1]]),
    );
    wanted.insert("security_groups".into(), strings(&[&net.groups[1]]));
    wanted.insert("idle_timeout".into(), Value::int(120));
    wanted.insert("drop_invalid_header_fields".into(), Value::Bool(false));
    wanted.insert(
        "access_logs".into(),
        Value::Map(
            [("enabled".to_string(), Value::Bool(false))]
                .into_iter()
                .collect(),
        ),
    );
    wanted.insert("tags".into(), tags("alb", &[("owner", "platform")]));
    let updated = update(
        &lbs,
        &arn,
        &wanted,
        &created,
        &[
            "subnets",
            "security_groups",
            "idle_timeout",
            "drop_invalid_header_fields",
            "access_logs",
            "tags",
        ],
    )
    .await;
    assert_eq!(s(&updated, "arn"), arn);
    assert_inputs_match(&lbs, &wanted, &updated);
    assert_eq!(observe(&lbs, &[&arn]).await[&arn], updated);
    assert!(updated["tags"].as_map().unwrap().get("team").is_none());

    assert_eq!(find(&lbs, STACK, Some("alb")).await, vec![arn.clone()]);
    let mut both = vec![arn.clone(), internal.clone()];
    both.sort();
    assert_eq!(find(&lbs, STACK, None).await, both);
    assert!(find(&lbs, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&lbs, &arn, &updated).await;
    delete_twice_and_gone(&lbs, &internal, &internal_attrs).await;
}

fn tg_inputs(name: &str, address: &str, vpc: &str) -> Attributes {
    attrs(&[
        ("name", Value::string(name)),
        ("port", Value::int(8000)),
        ("protocol", Value::string("HTTP")),
        ("vpc_id", Value::string(vpc)),
        ("target_type", Value::string("ip")),
        (
            "health_check",
            Value::Map(
                [
                    ("path".to_string(), Value::string("/health")),
                    ("matcher".to_string(), Value::string("200-299")),
                    ("interval".to_string(), Value::int(15)),
                    ("timeout".to_string(), Value::int(10)),
                    ("healthy_threshold".to_string(), Value::int(3)),
                ]
                .into_iter()
                .collect(),
            ),
        ),
        ("deregistration_delay", Value::int(30)),
        (
            "stickiness",
            Value::Map(
                [
                    ("enabled".to_string(), Value::Bool(true)),
                    ("type".to_string(), Value::string("lb_cookie")),
                    ("cookie_duration".to_string(), Value::int(3600)),
                ]
                .into_iter()
                .collect(),
            ),
        ),
        ("tags", tags(address, &[("service", "api")])),
    ])
}

#[tokio::test]
async fn target_group_lifecycle() {
    let moto = Moto::start();
    let net = network(&moto).await;
    let tgs = TargetGroup::new(clients(&moto).await);

    let inputs = tg_inputs("api", "api_targets", &net.vpc);
    let (arn, created) = create(&tgs, "api_targets", &inputs).await;
    assert_inputs_match(&tgs, &inputs, &created);
    assert_eq!(s(&created, "arn"), arn);
    assert!(s(&created, "arn_suffix").starts_with("targetgroup/api/"));
    let hc = created["health_check"].as_map().unwrap();
    assert_eq!(hc["path"], Value::string("/health"));
    assert_eq!(hc["interval"], Value::int(15));

    let found = observe(&tgs, &[UNKNOWN_TG, &arn]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&arn]);
    assert_eq!(found[&arn], created);

    // Health check, deregistration delay, stickiness and tags change in place.
    let mut wanted = inputs.clone();
    wanted.insert(
        "health_check".into(),
        Value::Map(
            [
                ("path".to_string(), Value::string("/ready")),
                ("interval".to_string(), Value::int(20)),
                ("timeout".to_string(), Value::int(10)),
            ]
            .into_iter()
            .collect(),
        ),
    );
    wanted.insert("deregistration_delay".into(), Value::int(10));
    wanted.insert(
        "stickiness".into(),
        Value::Map(
            [("enabled".to_string(), Value::Bool(false))]
                .into_iter()
                .collect(),
        ),
    );
    wanted.insert("tags".into(), tags("api_targets", &[("service", "api-v2")]));
    let updated = update(
        &tgs,
        &arn,
        &wanted,
        &created,
        &["health_check", "deregistration_delay", "stickiness", "tags"],
    )
    .await;
    assert_eq!(s(&updated, "arn"), arn);
    assert_inputs_match(&tgs, &wanted, &updated);
    let hc = updated["health_check"].as_map().unwrap();
    assert_eq!(hc["path"], Value::string("/ready"));
    // Left out of the stack now: back to AWS's default.
    assert_eq!(hc["healthy_threshold"], Value::int(5));
    assert_eq!(observe(&tgs, &[&arn]).await[&arn], updated);

    assert_eq!(
        find(&tgs, STACK, Some("api_targets")).await,
        vec![arn.clone()]
    );
    assert!(find(&tgs, STACK, Some("other")).await.is_empty());
    assert!(find(&tgs, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&tgs, &arn, &updated).await;
}

async fn certificate(moto: &Moto, domain: &str) -> String {
    let acm = aws_sdk_acm::Client::new(&moto.sdk_config(REGION).await);
    acm.request_certificate()
        .domain_name(domain)
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_string()
}

fn forward(tg: &str) -> Value {
    Value::Map(
        [
            ("type".to_string(), Value::string("forward")),
            ("target_group_arn".to_string(), Value::string(tg)),
        ]
        .into_iter()
        .collect(),
    )
}

#[tokio::test]
async fn listeners_and_rules_lifecycle() {
    let moto = Moto::start();
    let net = network(&moto).await;
    let c = clients(&moto).await;
    let (lbs, tgs) = (LoadBalancer::new(c.clone()), TargetGroup::new(c.clone()));
    let (listeners, rules) = (Listener::new(c.clone()), ListenerRule::new(c));
    let (lb, lb_attrs) = create(&lbs, "alb", &lb_inputs("web", "alb", &net)).await;
    let (api_tg, api_attrs) = create(&tgs, "api", &tg_inputs("api", "api", &net.vpc)).await;
    let (web_tg, web_attrs) = create(&tgs, "web", &tg_inputs("web", "web", &net.vpc)).await;
    let cert = certificate(&moto, "app.example.com").await;

    // HTTP redirects to HTTPS.
    let http_inputs = attrs(&[
        ("load_balancer_arn", Value::string(&lb)),
        ("port", Value::int(80)),
        ("protocol", Value::string("HTTP")),
        (
            "default_action",
            Value::Map(
                [
                    ("type".to_string(), Value::string("redirect")),
                    (
                        "redirect".to_string(),
                        map(&[
                            ("protocol", "HTTPS"),
                            ("port", "443"),
                            ("status_code", "HTTP_301"),
                        ]),
                    ),
                ]
                .into_iter()
                .collect(),
            ),
        ),
        ("tags", tags("http", &[])),
    ]);
    let (http, http_attrs) = create(&listeners, "http", &http_inputs).await;
    assert_inputs_match(&listeners, &http_inputs, &http_attrs);

    // HTTPS with an ACM certificate, forwarding to the web target group.
    let https_inputs = attrs(&[
        ("load_balancer_arn", Value::string(&lb)),
        ("port", Value::int(443)),
        ("protocol", Value::string("HTTPS")),
        (
            "ssl_policy",
            Value::string("ELBSecurityPolicy-TLS13-1-2-2021-06"),
        ),
        ("certificate_arn", Value::string(&cert)),
        ("default_action", forward(&web_tg)),
        ("tags", tags("https", &[("tier", "edge")])),
    ]);
    let (https, https_attrs) = create(&listeners, "https", &https_inputs).await;
    assert_inputs_match(&listeners, &https_inputs, &https_attrs);
    assert_eq!(s(&https_attrs, "arn"), https);

    let unknown_listener = format!(
        "{}/0000000000000000",
        lb.replace(":loadbalancer/", ":listener/")
    );
    let found = observe(&listeners, &[&http, &unknown_listener, &https]).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[&https], https_attrs);

    // The default action becomes a fixed response; tags change.
    let mut wanted = https_inputs.clone();
    wanted.insert(
        "default_action".into(),
        Value::Map(
            [
                ("type".to_string(), Value::string("fixed-response")),
                (
                    "fixed_response".to_string(),
                    map(&[
                        ("status_code", "404"),
                        ("content_type", "text/plain"),
                        ("message_body", "not found"),
                    ]),
                ),
            ]
            .into_iter()
            .collect(),
        ),
    );
    wanted.insert("tags".into(), tags("https", &[("tier", "front")]));
    let https_updated = update(
        &listeners,
        &https,
        &wanted,
        &https_attrs,
        &["default_action", "tags"],
    )
    .await;
    assert_eq!(s(&https_updated, "arn"), https);
    assert_inputs_match(&listeners, &wanted, &https_updated);

    // /api/* goes to the API.
    let rule_inputs = attrs(&[
        ("listener_arn", Value::string(&https)),
        ("priority", Value::int(10)),
        (
            "conditions",
            Value::List(vec![Value::Map(
                [("path_patterns".to_string(), strings(&["/api/*", "/v1/*"]))]
                    .into_iter()
                    .collect(),
            )]),
        ),
        ("action", forward(&api_tg)),
        ("tags", tags("api_rule", &[])),
    ]);
    let (rule, rule_attrs) = create(&rules, "api_rule", &rule_inputs).await;
    assert_inputs_match(&rules, &rule_inputs, &rule_attrs);
    assert_eq!(s(&rule_attrs, "listener_arn"), https);

    let unknown_rule = format!(
        "{}/0000000000000000",
        https.replace(":listener/", ":listener-rule/")
    );
    let found = observe(&rules, &[&unknown_rule, &rule]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&rule]);
    assert_eq!(found[&rule], rule_attrs);

    // Priority (SetRulePriorities), conditions and action (ModifyRule) change in place.
    let mut wanted_rule = rule_inputs.clone();
    wanted_rule.insert("priority".into(), Value::int(20));
    wanted_rule.insert(
        "conditions".into(),
        Value::List(vec![Value::Map(
            [
                ("path_patterns".to_string(), strings(&["/api/*"])),
                ("host_headers".to_string(), strings(&["app.example.com"])),
            ]
            .into_iter()
            .collect(),
        )]),
    );
    wanted_rule.insert("action".into(), forward(&web_tg));
    let rule_updated = update(
        &rules,
        &rule,
        &wanted_rule,
        &rule_attrs,
        &["priority", "conditions", "action"],
    )
    .await;
    assert_eq!(s(&rule_updated, "arn"), rule);
    assert_inputs_match(&rules, &wanted_rule, &rule_updated);
    assert_eq!(observe(&rules, &[&rule]).await[&rule], rule_updated);

    assert_eq!(
        find(&listeners, STACK, Some("https")).await,
        vec![https.clone()]
    );
    let mut both = vec![http.clone(), https.clone()];
    both.sort();
    assert_eq!(find(&listeners, STACK, None).await, both);
    assert!(find(&listeners, "another-stack", None).await.is_empty());
    assert_eq!(find(&rules, STACK, None).await, vec![rule.clone()]);
    assert!(find(&rules, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&rules, &rule, &rule_updated).await;
    delete_twice_and_gone(&listeners, &https, &https_updated).await;
    delete_twice_and_gone(&listeners, &http, &http_attrs).await;
    delete_twice_and_gone(&tgs, &api_tg, &api_attrs).await;
    delete_twice_and_gone(&tgs, &web_tg, &web_attrs).await;
    delete_twice_and_gone(&lbs, &lb, &lb_attrs).await;
}

#[tokio::test]
async fn invalid_actions_are_refused_before_any_call() {
    let moto = Moto::start();
    let listeners = Listener::new(clients(&moto).await);
    let inputs = attrs(&[
        ("load_balancer_arn", Value::string(UNKNOWN_LB)),
        ("port", Value::int(80)),
        ("protocol", Value::string("HTTP")),
        ("default_action", map(&[("type", "authenticate-oidc")])),
    ]);
    let err = listeners
        .create(terrane_provider::CreateRequest {
            region: REGION,
            address: &terrane_core::Address::new("bad"),
            inputs: &inputs,
            client_token: "t",
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, terrane_provider::ProviderError::Invalid(_)),
        "{err}"
    );
}

#[tokio::test]
async fn network_load_balancer_with_tcp_targets() {
    let moto = Moto::start();
    let net = network(&moto).await;
    let c = clients(&moto).await;
    let (lbs, tgs, listeners) = (
        LoadBalancer::new(c.clone()),
        TargetGroup::new(c.clone()),
        Listener::new(c),
    );
    let nlb_inputs = attrs(&[
        ("name", Value::string("tcp")),
        ("type", Value::string("network")),
        ("scheme", Value::string("internal")),
        ("ip_address_type", Value::string("ipv4")),
        ("deletion_protection", Value::Bool(false)),
        ("subnets", strings(&[&net.subnets[0], &net.subnets[1]])),
        ("tags", tags("nlb", &[])),
    ]);
    let (nlb, nlb_attrs) = create(&lbs, "nlb", &nlb_inputs).await;
    assert_inputs_match(&lbs, &nlb_inputs, &nlb_attrs);
    assert_eq!(s(&nlb_attrs, "type"), "network");
    // AWS names it `net/tcp/<id>`; moto writes `app/` into every load balancer's ARN.
    assert_eq!(
        s(&nlb_attrs, "arn_suffix"),
        nlb.split_once(":loadbalancer/").unwrap().1
    );
    assert!(
        s(&nlb_attrs, "arn_suffix").ends_with(&format!("/tcp/{}", nlb.rsplit('/').next().unwrap()))
    );

    // A TCP health check states its protocol and timeout (not HTTP's defaults).
    let tg_inputs = attrs(&[
        ("name", Value::string("redis")),
        ("port", Value::int(6379)),
        ("protocol", Value::string("TCP")),
        ("vpc_id", Value::string(&net.vpc)),
        ("target_type", Value::string("ip")),
        (
            "health_check",
            Value::Map(
                [
                    ("protocol".to_string(), Value::string("TCP")),
                    ("timeout".to_string(), Value::int(10)),
                ]
                .into_iter()
                .collect(),
            ),
        ),
        ("tags", tags("redis", &[])),
    ]);
    let (tg, tg_attrs) = create(&tgs, "redis", &tg_inputs).await;
    assert_inputs_match(&tgs, &tg_inputs, &tg_attrs);

    let listener_inputs = attrs(&[
        ("load_balancer_arn", Value::string(&nlb)),
        ("port", Value::int(6379)),
        ("protocol", Value::string("TCP")),
        ("default_action", forward(&tg)),
        ("tags", tags("redis_listener", &[])),
    ]);
    let (listener, listener_attrs) = create(&listeners, "redis_listener", &listener_inputs).await;
    assert_inputs_match(&listeners, &listener_inputs, &listener_attrs);
    assert_eq!(
        observe(&tgs, &[&tg]).await[&tg]["load_balancer_arns"],
        strings(&[&nlb])
    );

    delete_twice_and_gone(&listeners, &listener, &listener_attrs).await;
    delete_twice_and_gone(&tgs, &tg, &tg_attrs).await;
    delete_twice_and_gone(&lbs, &nlb, &nlb_attrs).await;
}

#[tokio::test]
async fn ownership_address_is_encoded_in_target_group_tags() {
    let moto = Moto::start();
    let net = network(&moto).await;
    let tgs = TargetGroup::new(clients(&moto).await);
    let inputs = tg_inputs("odd", ODD_ADDRESS, &net.vpc);
    let (arn, created) = create(&tgs, ODD_ADDRESS, &inputs).await;
    assert_plain_address(&created);

    let raw = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk_config(REGION).await)
        .describe_tags()
        .resource_arns(&arn)
        .send()
        .await
        .unwrap();
    let tag = raw.tag_descriptions()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some(terrane_core::OWNERSHIP_TAG_ADDRESS))
        .and_then(|t| t.value());
    assert_encoded_address(tag);

    assert_plain_address(&observe(&tgs, &[&arn]).await[&arn]);
    assert_eq!(
        find(&tgs, STACK, Some(ODD_ADDRESS)).await,
        vec![arn.clone()]
    );
    assert!(find(&tgs, STACK, Some("thing")).await.is_empty());
    delete(&tgs, &arn, &created).await;
}
