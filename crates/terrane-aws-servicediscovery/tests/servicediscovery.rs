//! The Cloud Map resource types against a local moto server: create with tags (waiting on
//! Cloud Map operations), batched observe (with unknown ids mixed in), in-place updates,
//! discovery by ownership tags, and idempotent deletes.

use std::sync::Arc;

use terrane_aws_servicediscovery::AwsClients;
use terrane_aws_servicediscovery::private_dns_namespace::PrivateDnsNamespace;
use terrane_aws_servicediscovery::service::Service;
use terrane_core::Value;
use terrane_provider::{Attributes, ResourceType, UpdateRequest};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "servicediscovery-test";

terrane_testkit::provider_test_helpers!(
    attrs,
    map,
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

async fn vpc(moto: &Moto) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config(REGION).await);
    ec2.create_vpc()
        .cidr_block("10.2.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string()
}

fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        let got = live.get(k).unwrap_or(&Value::Null);
        assert!(
            schema
                .normalized(k, want)
                .semantically_equal(&schema.normalized(k, got)),
            "{k}: want {want}, live {got}"
        );
    }
}

#[tokio::test]
async fn private_dns_namespace_lifecycle() {
    let moto = Moto::start();
    let namespaces = PrivateDnsNamespace::new(clients(&moto).await);
    let vpc = vpc(&moto).await;
    let inputs = attrs(&[
        ("name", Value::string("app.internal")),
        ("vpc", Value::string(&vpc)),
        ("description", Value::string("service discovery")),
        ("tags", tags("internal", &[("team", "platform")])),
    ]);
    let (id, created) = create(&namespaces, "internal", &inputs).await;
    assert!(id.starts_with("ns-"), "{id}");
    assert_eq!(s(&created, "id"), id);
    assert!(s(&created, "arn").ends_with(&format!("namespace/{id}")));
    assert!(
        !s(&created, "hosted_zone_id").contains('/'),
        "a bare zone id"
    );
    // Cloud Map does not report the VPC: it is compared with the recorded input.
    assert!(!created.contains_key("vpc"));
    let mut reported = inputs.clone();
    reported.remove("vpc");
    assert_inputs_match(&namespaces, &reported, &created);

    let found = observe(&namespaces, &["ns-0000000000000000", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    let mut wanted = inputs.clone();
    wanted.insert("description".into(), Value::string("internal names"));
    wanted.insert("tags".into(), tags("internal", &[("owner", "ops")]));
    let updated = update(
        &namespaces,
        &id,
        &wanted,
        &created,
        &["description", "tags"],
    )
    .await;
    let mut reported = wanted.clone();
    reported.remove("vpc");
    assert_inputs_match(&namespaces, &reported, &updated);
    assert_eq!(observe(&namespaces, &[&id]).await[&id], updated);

    assert_eq!(
        find(&namespaces, STACK, Some("internal")).await,
        vec![id.clone()]
    );
    assert!(find(&namespaces, STACK, Some("other")).await.is_empty());
    assert!(find(&namespaces, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&namespaces, &id, &updated).await;
    assert!(find(&namespaces, STACK, None).await.is_empty());
}

fn dns(policy: &str, ttl: i64) -> Value {
    Value::Map(
        [
            ("routing_policy".to_string(), Value::string(policy)),
            (
                "records".to_string(),
                Value::List(vec![Value::Map(
                    [
                        ("type".to_string(), Value::string("A")),
                        ("ttl".to_string(), Value::int(ttl)),
                    ]
                    .into(),
                )]),
            ),
        ]
        .into(),
    )
}

#[tokio::test]
async fn service_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let namespaces = PrivateDnsNamespace::new(clients.clone());
    let services = Service::new(clients);
    let vpc = vpc(&moto).await;
    let (ns, ns_attrs) = create(
        &namespaces,
        "internal",
        &attrs(&[
            ("name", Value::string("app.internal")),
            ("vpc", Value::string(&vpc)),
            ("tags", tags("internal", &[])),
        ]),
    )
    .await;

    let inputs = attrs(&[
        ("name", Value::string("api")),
        ("namespace_id", Value::string(&ns)),
        ("description", Value::string("the API tasks")),
        ("dns_config", dns("MULTIVALUE", 10)),
        (
            "health_check_custom_config",
            Value::Map([("failure_threshold".to_string(), Value::int(1))].into()),
        ),
        ("tags", tags("api_discovery", &[("team", "api")])),
    ]);
    let (id, created) = create(&services, "api_discovery", &inputs).await;
    assert!(id.starts_with("srv-"), "{id}");
    assert!(s(&created, "arn").ends_with(&format!("service/{id}")));
    assert_inputs_match(&services, &inputs, &created);

    let found = observe(&services, &[&id, "srv-doesnotexist"]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    let mut wanted = inputs.clone();
    wanted.insert("description".into(), Value::string("API tasks"));
    wanted.insert("dns_config".into(), dns("MULTIVALUE", 30));
    wanted.insert("tags".into(), tags("api_discovery", &[("owner", "api")]));
    let updated = update(
        &services,
        &id,
        &wanted,
        &created,
        &["description", "dns_config", "tags"],
    )
    .await;
    assert_inputs_match(&services, &wanted, &updated);
    assert_eq!(s(&updated, "id"), id);
    assert_eq!(observe(&services, &[&id]).await[&id], updated);

    // The routing policy cannot change in place: refused, nothing changed.
    let mut weighted = wanted.clone();
    weighted.insert("dns_config".into(), dns("WEIGHTED", 30));
    let changed = vec!["dns_config".to_string()];
    let err = services
        .update(UpdateRequest {
            region: REGION,
            id: &id,
            inputs: &weighted,
            prior: &updated,
            changed: &changed,
        })
        .await
        .expect_err("a routing policy change is refused");
    assert!(err.to_string().contains("routing policy"), "{err}");
    assert_eq!(observe(&services, &[&id]).await[&id], updated);

    assert_eq!(
        find(&services, STACK, Some("api_discovery")).await,
        vec![id.clone()]
    );
    assert!(find(&services, STACK, Some("other")).await.is_empty());
    assert!(find(&services, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&services, &id, &updated).await;
    assert!(find(&services, STACK, None).await.is_empty());
    delete(&namespaces, &ns, &ns_attrs).await;
}
