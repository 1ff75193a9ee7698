//! The WAFv2 resource types against a local moto server: create with tags, batched observe
//! (with unknown ids mixed in), in-place updates with fresh lock tokens, discovery by
//! ownership tags, and idempotent deletes.

use std::sync::Arc;

use terrane_aws_wafv2::AwsClients;
use terrane_aws_wafv2::web_acl::WebAcl;
use terrane_aws_wafv2::web_acl_association::WebAclAssociation;
use terrane_core::{Address, Value};
use terrane_provider::{Attributes, CreateRequest, ProviderError, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "wafv2-test";

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

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn rate_rule(limit: i64) -> Value {
    obj(&[
        ("name", Value::string("rate-limit")),
        ("priority", Value::int(1)),
        ("action", Value::string("block")),
        (
            "statement",
            obj(&[("rate_based", obj(&[("limit", Value::int(limit))]))]),
        ),
    ])
}

fn managed_rule() -> Value {
    obj(&[
        ("name", Value::string("aws-common")),
        ("priority", Value::int(2)),
        (
            "statement",
            obj(&[(
                "managed_rule_group",
                obj(&[
                    ("vendor_name", Value::string("AWS")),
                    ("name", Value::string("AWSManagedRulesCommonRuleSet")),
                    ("excluded_rules", strings(&["SizeRestrictions_BODY"])),
                ]),
            )]),
        ),
    ])
}

fn geo_rule() -> Value {
    obj(&[
        ("name", Value::string("geo")),
        ("priority", Value::int(3)),
        ("action", Value::string("count")),
        (
            "statement",
            obj(&[(
                "geo_match",
                obj(&[("country_codes", strings(&["RU", "KP"]))]),
            )]),
        ),
        (
            "visibility",
            obj(&[
                ("metric_name", Value::string("geo-blocked")),
                ("sampled_requests_enabled", Value::Bool(false)),
            ]),
        ),
    ])
}

fn acl_inputs(name: &str, address: &str) -> Attributes {
    attrs(&[
        ("name", Value::string(name)),
        ("scope", Value::string("REGIONAL")),
        ("description", Value::string("API protection")),
        ("default_action", Value::string("allow")),
        (
            "rules",
            Value::List(vec![geo_rule(), rate_rule(2000), managed_rule()]),
        ),
        ("tags", tags(address, &[("team", "security")])),
    ])
}

#[tokio::test]
async fn web_acl_lifecycle() {
    let moto = Moto::start();
    let acls = WebAcl::new(clients(&moto).await);

    let inputs = acl_inputs("api-waf", "waf");
    let (id, created) = create(&acls, "waf", &inputs).await;
    let aws_id = s(&created, "id");
    assert_eq!(id, format!("{aws_id}/api-waf/REGIONAL"));
    assert!(s(&created, "arn").contains(":regional/webacl/api-waf/"));
    assert_inputs_match(&acls, &inputs, &created);
    // The ACL's own metrics default to its name.
    assert_eq!(
        created["visibility_config"].as_map().unwrap()["metric_name"],
        Value::string("api-waf")
    );

    let (other, other_attrs) = create(&acls, "other", &acl_inputs("web-waf", "other")).await;

    // Unknown ids (well formed, and not) are simply absent.
    let unknown = "00000000-0000-0000-0000-000000000000/nothing/REGIONAL";
    let found = observe(&acls, &[unknown, &id, "not-an-id", &other]).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[&id], created);

    // Description, default action, rules and tags change in place; the lock token is read
    // fresh, so a change made meanwhile by someone else does not get in the way.
    let waf = aws_sdk_wafv2::Client::new(&moto.sdk_config(REGION).await);
    let current = waf
        .get_web_acl()
        .id(&aws_id)
        .name("api-waf")
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .send()
        .await
        .unwrap();
    let acl = current.web_acl().unwrap();
    waf.update_web_acl()
        .id(&aws_id)
        .name("api-waf")
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .lock_token(current.lock_token().unwrap())
        .set_default_action(acl.default_action().cloned())
        .set_rules(Some(acl.rules().to_vec()))
        .set_visibility_config(acl.visibility_config().cloned())
        .description("changed outside terrane")
        .send()
        .await
        .unwrap();

    let mut wanted = inputs.clone();
    wanted.insert(
        "description".into(),
        Value::string("API protection, stricter"),
    );
    wanted.insert("default_action".into(), Value::string("block"));
    wanted.insert(
        "rules".into(),
        Value::List(vec![managed_rule(), rate_rule(500)]),
    );
    wanted.insert("tags".into(), tags("waf", &[("owner", "platform")]));
    let updated = update(
        &acls,
        &id,
        &wanted,
        &created,
        &["description", "default_action", "rules", "tags"],
    )
    .await;
    assert_eq!(s(&updated, "id"), aws_id);
    assert_inputs_match(&acls, &wanted, &updated);
    assert!(updated["tags"].as_map().unwrap().get("team").is_none());
    assert_eq!(observe(&acls, &[&id]).await[&id], updated);

    assert_eq!(find(&acls, STACK, Some("waf")).await, vec![id.clone()]);
    let mut both = vec![id.clone(), other.clone()];
    both.sort();
    assert_eq!(find(&acls, STACK, None).await, both);
    assert!(find(&acls, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&acls, &id, &updated).await;
    delete_twice_and_gone(&acls, &other, &other_attrs).await;
}

async fn try_create(
    t: &dyn ResourceType,
    region: &str,
    inputs: &Attributes,
) -> Result<String, ProviderError> {
    t.create(CreateRequest {
        region,
        address: &Address::new("cf"),
        inputs,
        client_token: "t",
    })
    .await
    .map(|r| r.id)
}

#[tokio::test]
async fn cloudfront_scope_only_in_us_east_1() {
    let moto = Moto::start();
    let acls = WebAcl::new(clients(&moto).await);
    let mut inputs = acl_inputs("cdn-waf", "cf");
    inputs.insert("scope".into(), Value::string("CLOUDFRONT"));

    let err = try_create(&acls, "eu-west-1", &inputs).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Invalid(m) if m.contains("us-east-1")),
        "{err}"
    );

    let id = try_create(&acls, REGION, &inputs).await.unwrap();
    assert!(id.ends_with("/cdn-waf/CLOUDFRONT"), "{id}");
    let found = observe(&acls, &[&id]).await;
    assert_eq!(s(&found[&id], "scope"), "CLOUDFRONT");
    assert_eq!(find(&acls, STACK, Some("cf")).await, vec![id.clone()]);
    delete_twice_and_gone(&acls, &id, &found[&id]).await;
}

#[tokio::test]
async fn invalid_rules_are_refused() {
    let moto = Moto::start();
    let acls = WebAcl::new(clients(&moto).await);
    let mut inputs = acl_inputs("bad", "bad");
    let mut bad = managed_rule();
    if let Value::Map(m) = &mut bad {
        m.insert("action".into(), Value::string("block"));
    }
    inputs.insert("rules".into(), Value::List(vec![bad]));
    let err = try_create(&acls, REGION, &inputs).await.unwrap_err();
    assert!(matches!(err, ProviderError::Invalid(_)), "{err}");
}

/// An application load balancer made with ELBv2 directly, in a new VPC.
async fn load_balancer(moto: &Moto) -> String {
    let config = moto.sdk_config(REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let mut subnets = Vec::new();
    for (i, zone) in ["a", "b"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.1.{i}.0/24"))
            .availability_zone(format!("{REGION}{zone}"))
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    elb.create_load_balancer()
        .name("protected")
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn web_acl_association_lifecycle() {
    let moto = Moto::start();
    let c = clients(&moto).await;
    let (acls, assocs) = (WebAcl::new(c.clone()), WebAclAssociation::new(c));
    let alb = load_balancer(&moto).await;
    let (first, first_attrs) = create(&acls, "first", &acl_inputs("first", "first")).await;
    let (second, second_attrs) = create(&acls, "second", &acl_inputs("second", "second")).await;
    let first_arn = s(&first_attrs, "arn");
    let second_arn = s(&second_attrs, "arn");

    let inputs = attrs(&[
        ("resource_arn", Value::string(&alb)),
        ("web_acl_arn", Value::string(&second_arn)),
    ]);
    let (id, created) = create(&assocs, "assoc", &inputs).await;
    assert_eq!(id, alb);
    assert_inputs_match(&assocs, &inputs, &created);

    let unknown = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/nothing/0123456789abcdef";
    let found = observe(&assocs, &[unknown, &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // Another web ACL is associated in place (AssociateWebACL again). moto gap: it adds the
    // resource to the new ACL without taking it off the old one, and GetWebACLForResource
    // answers with the oldest ACL holding it; so the test moves from the newer ACL to the
    // older one, which moto then reports as AWS would. (For the same reason one
    // DisassociateWebACL leaves it on the other ACL in moto; the second delete below clears
    // that.)
    let mut wanted = inputs.clone();
    wanted.insert("web_acl_arn".into(), Value::string(&first_arn));
    let updated = update(&assocs, &id, &wanted, &created, &["web_acl_arn"]).await;
    assert_eq!(s(&updated, "resource_arn"), alb);
    assert_inputs_match(&assocs, &wanted, &updated);

    // Not taggable: never found by ownership.
    assert!(find(&assocs, STACK, None).await.is_empty());

    delete_twice_and_gone(&assocs, &id, &updated).await;
    delete_twice_and_gone(&acls, &first, &first_attrs).await;
    delete_twice_and_gone(&acls, &second, &second_attrs).await;
}
