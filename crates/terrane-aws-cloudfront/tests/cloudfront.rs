//! `aws.cloudfront.distribution` against a local moto server: create with tags, batched
//! observe (with an unknown id mixed in), in-place updates through the ETag protocol,
//! discovery by ownership tags, and disable-then-delete.

use std::sync::Arc;

use terrane_aws_cloudfront::AwsClients;
use terrane_aws_cloudfront::distribution::Distribution;
use terrane_core::{Address, Value};
use terrane_provider::{Attributes, CreateRequest, DeleteRequest, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "cloudfront-test";

terrane_testkit::provider_test_helpers!(attrs, map, tags, observe, update, find);

async fn clients(moto: &Moto) -> Arc<AwsClients> {
    moto.clients(REGION).await
}

/// Each settable input as the planner would compare it: normalized.
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

fn origin(pairs: &[(&str, Value)]) -> Value {
    Value::Map(attrs(pairs))
}

#[tokio::test]
async fn distribution_lifecycle() {
    let moto = Moto::start();
    let cdn = Distribution::new(clients(&moto).await);
    let inputs = attrs(&[
        (
            "origins",
            Value::List(vec![
                origin(&[
                    ("id", Value::string("web")),
                    ("domain_name", Value::string("origin.example.com")),
                    ("protocol_policy", Value::string("https-only")),
                ]),
                origin(&[
                    ("id", Value::string("assets")),
                    ("domain_name", Value::string("assets.s3.amazonaws.com")),
                    ("type", Value::string("s3")),
                ]),
            ]),
        ),
        (
            "default_cache_behavior",
            origin(&[
                ("target_origin_id", Value::string("web")),
                ("viewer_protocol_policy", Value::string("redirect-to-https")),
            ]),
        ),
        (
            "ordered_cache_behaviors",
            Value::List(vec![origin(&[
                ("path_pattern", Value::string("/static/*")),
                ("target_origin_id", Value::string("assets")),
                ("compress", Value::Bool(true)),
                ("default_ttl", Value::int(3600)),
            ])]),
        ),
        ("enabled", Value::Bool(true)),
        ("comment", Value::string("website")),
        ("price_class", Value::string("PriceClass_100")),
        ("default_root_object", Value::string("index.html")),
        (
            "logging",
            map(&[("bucket", "logs.s3.amazonaws.com"), ("prefix", "cdn/")]),
        ),
        ("tags", tags("cdn", &[("team", "web")])),
    ]);
    let out = cdn
        .create(CreateRequest {
            region: REGION,
            address: &Address::new("cdn"),
            inputs: &inputs,
            client_token: "cdn-token",
        })
        .await
        .expect("create");
    let (id, created) = (out.id, out.attributes);
    assert_inputs_match(&cdn, &inputs, &created);
    assert!(
        created["domain_name"]
            .as_str()
            .unwrap()
            .ends_with(".cloudfront.net")
    );
    assert_eq!(created["hosted_zone_id"], Value::string("Z2FDTNDATAQYW2"));
    assert_eq!(created["status"], Value::string("Deployed"));
    assert!(
        created["arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("distribution/{id}"))
    );

    // The client token is the CallerReference: a second create with it is refused.
    let again = cdn
        .create(CreateRequest {
            region: REGION,
            address: &Address::new("cdn"),
            inputs: &inputs,
            client_token: "cdn-token",
        })
        .await;
    assert!(again.is_err(), "a repeated CallerReference makes no twin");

    let found = observe(&cdn, &[&id, "E0000000000000"]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // In place through GetDistributionConfig + UpdateDistribution(If-Match). moto 5.2.5
    // never changes the ETag and accepts a stale If-Match, so a lost-update race is not
    // exercised here.
    let mut wanted = inputs.clone();
    wanted.insert("comment".into(), Value::string("website v2"));
    wanted.insert("price_class".into(), Value::string("PriceClass_200"));
    wanted.insert(
        "ordered_cache_behaviors".into(),
        Value::List(vec![
            origin(&[
                ("path_pattern", Value::string("/api/*")),
                ("target_origin_id", Value::string("web")),
                ("viewer_protocol_policy", Value::string("https-only")),
                (
                    "allowed_methods",
                    Value::List(
                        ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
                            .iter()
                            .map(|m| Value::string(*m))
                            .collect(),
                    ),
                ),
                (
                    "cache_policy_id",
                    Value::string("4135ea2d-6df8-44a3-9df3-4b5a84be39ad"),
                ),
            ]),
            origin(&[
                ("path_pattern", Value::string("/static/*")),
                ("target_origin_id", Value::string("assets")),
                ("compress", Value::Bool(true)),
                ("default_ttl", Value::int(3600)),
            ]),
        ]),
    );
    wanted.insert("tags".into(), tags("cdn", &[("team", "platform")]));
    let updated = update(
        &cdn,
        &id,
        &wanted,
        &created,
        &["comment", "price_class", "ordered_cache_behaviors", "tags"],
    )
    .await;
    assert_inputs_match(&cdn, &wanted, &updated);
    assert_eq!(updated["id"], Value::string(&id), "the same distribution");
    assert_eq!(observe(&cdn, &[&id]).await[&id], updated);

    assert_eq!(find(&cdn, STACK, Some("cdn")).await, vec![id.clone()]);
    assert!(find(&cdn, STACK, Some("other")).await.is_empty());
    assert!(find(&cdn, "another", None).await.is_empty());

    // Delete disables, waits until deployed, then deletes with the new ETag; twice is fine.
    for _ in 0..2 {
        cdn.delete(DeleteRequest {
            region: REGION,
            id: &id,
            prior: &updated,
        })
        .await
        .expect("delete");
    }
    assert!(observe(&cdn, &[&id]).await.is_empty());
    assert!(find(&cdn, STACK, None).await.is_empty());
}
