//! The Route53 resource types against a local moto server: create with tags, batched
//! observe (with unknown ids mixed in), in-place updates, discovery by ownership tags, and
//! idempotent deletes.

use std::sync::Arc;

use terrane_aws_route53::AwsClients;
use terrane_aws_route53::health_check::HealthCheck;
use terrane_aws_route53::hosted_zone::HostedZone;
use terrane_aws_route53::record::Record;
use terrane_core::{Address, Value};
use terrane_provider::{Attributes, CreateRequest, DeleteRequest, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "route53-test";

terrane_testkit::provider_test_helpers!(attrs, map, tags, observe, update, find, s);

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

async fn create(
    t: &dyn ResourceType,
    address: &str,
    inputs: &Attributes,
    token: &str,
) -> (String, Attributes) {
    let out = t
        .create(CreateRequest {
            region: REGION,
            address: &Address::new(address),
            inputs,
            client_token: token,
        })
        .await
        .unwrap_or_else(|e| panic!("create {address}: {e}"));
    (out.id, out.attributes)
}

async fn delete_twice_and_gone(t: &dyn ResourceType, id: &str, prior: &Attributes) {
    for _ in 0..2 {
        t.delete(DeleteRequest {
            region: REGION,
            id,
            prior,
        })
        .await
        .unwrap_or_else(|e| panic!("delete {id}: {e}"));
    }
    assert!(observe(t, &[id]).await.is_empty(), "{id} is still observed");
}

#[tokio::test]
async fn hosted_zone_lifecycle() {
    let moto = Moto::start();
    let zones = HostedZone::new(clients(&moto).await);
    let inputs = attrs(&[
        ("name", Value::string("example.com")),
        ("comment", Value::string("public zone")),
        ("tags", tags("zone", &[("team", "web")])),
    ]);
    let (id, created) = create(&zones, "zone", &inputs, "zone-token").await;
    assert!(!id.contains('/'), "a bare zone id: {id}");
    assert_inputs_match(&zones, &inputs, &created);
    assert_eq!(s(&created, "name"), "example.com");
    assert!(!created["name_servers"].as_list().unwrap().is_empty());
    assert_eq!(created["private_zone"], Value::Bool(false));
    assert_eq!(
        s(&created, "arn"),
        format!("arn:aws:route53:::hostedzone/{id}")
    );

    let found = observe(&zones, &["ZNOTAZONE0000", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    let mut wanted = inputs.clone();
    wanted.insert("comment".into(), Value::string("still public"));
    wanted.insert("tags".into(), tags("zone", &[("owner", "dns")]));
    let updated = update(&zones, &id, &wanted, &created, &["comment", "tags"]).await;
    assert_inputs_match(&zones, &wanted, &updated);
    assert_eq!(observe(&zones, &[&id]).await[&id], updated);

    // A private zone, associated with a VPC at creation.
    let private_inputs = attrs(&[
        ("name", Value::string("internal.example.")),
        (
            "vpcs",
            Value::List(vec![map(&[
                ("vpc_id", "vpc-12345678"),
                ("vpc_region", "us-east-1"),
            ])]),
        ),
        ("tags", tags("private", &[])),
    ]);
    let (private, private_attrs) =
        create(&zones, "private", &private_inputs, "private-token").await;
    assert_eq!(private_attrs["private_zone"], Value::Bool(true));
    assert_inputs_match(&zones, &private_inputs, &private_attrs);

    assert_eq!(find(&zones, STACK, Some("zone")).await, vec![id.clone()]);
    let mut both = vec![id.clone(), private.clone()];
    both.sort();
    assert_eq!(find(&zones, STACK, None).await, both);
    assert!(find(&zones, "another", None).await.is_empty());

    delete_twice_and_gone(&zones, &id, &updated).await;
    delete_twice_and_gone(&zones, &private, &private_attrs).await;
}

#[tokio::test]
async fn health_check_lifecycle() {
    let moto = Moto::start();
    let checks = HealthCheck::new(clients(&moto).await);
    let inputs = attrs(&[
        ("type", Value::string("HTTPS")),
        ("fqdn", Value::string("api.example.com")),
        ("port", Value::int(443)),
        ("resource_path", Value::string("/health")),
        ("request_interval", Value::int(30)),
        ("failure_threshold", Value::int(3)),
        ("tags", tags("check", &[("Name", "api")])),
    ]);
    let (id, created) = create(&checks, "check", &inputs, "check-token").await;
    assert_inputs_match(&checks, &inputs, &created);
    assert!(s(&created, "arn").ends_with(&id));

    let found = observe(&checks, &[&id, "00000000-0000-0000-0000-000000000000"]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    let mut wanted = inputs.clone();
    wanted.insert("resource_path".into(), Value::string("/ready"));
    wanted.insert("failure_threshold".into(), Value::int(5));
    wanted.insert("tags".into(), tags("check", &[("Name", "api-ready")]));
    let updated = update(
        &checks,
        &id,
        &wanted,
        &created,
        &["resource_path", "failure_threshold", "tags"],
    )
    .await;
    assert_inputs_match(&checks, &wanted, &updated);
    assert_eq!(s(&updated, "id"), id);

    assert_eq!(find(&checks, STACK, Some("check")).await, vec![id.clone()]);
    assert!(find(&checks, STACK, Some("other")).await.is_empty());
    delete_twice_and_gone(&checks, &id, &updated).await;
    assert!(find(&checks, STACK, None).await.is_empty());
}

#[tokio::test]
async fn record_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let zones = HostedZone::new(clients.clone());
    let checks = HealthCheck::new(clients.clone());
    let records = Record::new(clients);
    let (zone, zone_attrs) = create(
        &zones,
        "zone",
        &attrs(&[
            ("name", Value::string("example.org")),
            ("tags", tags("zone", &[])),
        ]),
        "zone",
    )
    .await;
    let (check, check_attrs) = create(
        &checks,
        "check",
        &attrs(&[
            ("type", Value::string("HTTP")),
            ("ip_address", Value::string("192.0.2.1")),
            ("port", Value::int(80)),
            ("tags", tags("check", &[])),
        ]),
        "check",
    )
    .await;

    let plain = attrs(&[
        ("zone_id", Value::string(&zone)),
        ("name", Value::string("www.example.org")),
        ("type", Value::string("A")),
        ("ttl", Value::int(300)),
        (
            "records",
            Value::List(vec![
                Value::string("192.0.2.10"),
                Value::string("192.0.2.11"),
            ]),
        ),
    ]);
    let (www, www_attrs) = create(&records, "www", &plain, "t").await;
    assert_eq!(www, format!("{zone}/www.example.org/A"));
    assert_inputs_match(&records, &plain, &www_attrs);

    let alias = attrs(&[
        ("zone_id", Value::string(&zone)),
        ("name", Value::string("cdn.example.org.")),
        ("type", Value::string("A")),
        (
            "alias",
            map(&[
                ("name", "d111111abcdef8.cloudfront.net"),
                ("zone_id", "Z2FDTNDATAQYW2"),
            ]),
        ),
    ]);
    let (cdn, cdn_attrs) = create(&records, "cdn", &alias, "t").await;
    assert_inputs_match(&records, &alias, &cdn_attrs);

    let routed = |ident: &str, extra: &[(&str, Value)]| {
        let mut a = attrs(&[
            ("zone_id", Value::string(&zone)),
            ("name", Value::string("api.example.org")),
            ("type", Value::string("CNAME")),
            ("ttl", Value::int(60)),
            (
                "records",
                Value::List(vec![Value::string(format!("{ident}.example.net"))]),
            ),
            ("set_identifier", Value::string(ident)),
        ]);
        a.extend(attrs(extra));
        a
    };
    let weighted = routed("blue", &[("weight", Value::int(10))]);
    let latency = routed("eu", &[("region", Value::string("eu-west-1"))]);
    let geo = routed("de", &[("geolocation", map(&[("country", "DE")]))]);
    let failover = attrs(&[
        ("zone_id", Value::string(&zone)),
        ("name", Value::string("db.example.org")),
        ("type", Value::string("A")),
        ("ttl", Value::int(60)),
        ("records", Value::List(vec![Value::string("192.0.2.1")])),
        ("set_identifier", Value::string("primary")),
        ("failover", Value::string("PRIMARY")),
        ("health_check_id", Value::string(&check)),
    ]);
    let mut routed_ids = Vec::new();
    for inputs in [&weighted, &latency, &geo, &failover] {
        let (id, a) = create(&records, "routed", inputs, "t").await;
        assert_inputs_match(&records, inputs, &a);
        routed_ids.push((id, a));
    }
    assert_eq!(
        routed_ids[0].0,
        format!("{zone}/api.example.org/CNAME/blue")
    );

    // One observe for all of them, with unknown records and an unknown zone mixed in.
    let mut ids: Vec<&str> = vec![&www, &cdn];
    ids.extend(routed_ids.iter().map(|(i, _)| i.as_str()));
    let mut asked = ids.clone();
    let missing_record = format!("{zone}/nothing.example.org/A");
    asked.push(&missing_record);
    asked.push("ZNOSUCHZONE/www.example.org/A");
    let found = observe(&records, &asked).await;
    assert_eq!(found.len(), ids.len());
    assert_eq!(found[&www], www_attrs);

    // TTL, values and weight change in place (UPSERT), same id.
    let mut wanted = plain.clone();
    wanted.insert("ttl".into(), Value::int(60));
    wanted.insert(
        "records".into(),
        Value::List(vec![Value::string("192.0.2.12")]),
    );
    let updated = update(&records, &www, &wanted, &www_attrs, &["ttl", "records"]).await;
    assert_inputs_match(&records, &wanted, &updated);
    assert_eq!(s(&updated, "id"), www);
    let mut heavier = weighted.clone();
    heavier.insert("weight".into(), Value::int(90));
    let w = update(
        &records,
        &routed_ids[0].0,
        &heavier,
        &routed_ids[0].1,
        &["weight"],
    )
    .await;
    assert_eq!(w["weight"], Value::int(90));

    // Records carry no tags: never found by ownership.
    assert!(find(&records, STACK, None).await.is_empty());

    delete_twice_and_gone(&records, &www, &updated).await;
    delete_twice_and_gone(&records, &cdn, &cdn_attrs).await;
    for (id, a) in &routed_ids {
        delete_twice_and_gone(&records, id, a).await;
    }
    delete_twice_and_gone(&checks, &check, &check_attrs).await;
    delete_twice_and_gone(&zones, &zone, &zone_attrs).await;
    // A record of a zone that is gone is gone too.
    delete_twice_and_gone(&records, &www, &updated).await;
}
