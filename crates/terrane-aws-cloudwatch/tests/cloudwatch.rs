//! The CloudWatch resource types against a local moto server: create with tags, batched
//! observe (with unknown ids mixed in), in-place updates, discovery by ownership tags, and
//! idempotent deletes.

use terrane_aws_cloudwatch::dashboard::Dashboard;
use terrane_aws_cloudwatch::log_group::LogGroup;
use terrane_aws_cloudwatch::metric_alarm::MetricAlarm;
use terrane_core::Value;
use terrane_provider::{Attributes, ResourceType};
use terrane_testkit::Moto;
use terrane_testkit::odd_address::{ODD_ADDRESS, assert_encoded_address, assert_plain_address};

const REGION: &str = "us-east-1";
const STACK: &str = "cloudwatch-test";

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

#[tokio::test]
async fn log_group_lifecycle() {
    let moto = Moto::start();
    let groups = LogGroup::new(moto.clients(REGION).await);
    // moto 5.2.5 neither stores nor returns `logGroupClass`, so the test leaves it unset.
    let inputs = attrs(&[
        ("name", Value::string("/aws/lambda/api")),
        ("retention_in_days", Value::int(30)),
        ("tags", tags("logs", &[("team", "api")])),
    ]);
    let (id, created) = create(&groups, "logs", &inputs).await;
    assert_eq!(id, "/aws/lambda/api");
    assert_inputs_match(&groups, &inputs, &created);
    assert!(s(&created, "arn").ends_with(":log-group:/aws/lambda/api"));

    // A second group sharing the prefix, and one without retention.
    let other_inputs = attrs(&[
        ("name", Value::string("/aws/lambda/api-worker")),
        ("tags", tags("worker", &[])),
    ]);
    let (other, other_attrs) = create(&groups, "worker", &other_inputs).await;
    assert!(!other_attrs.contains_key("retention_in_days"));

    let found = observe(&groups, &["/aws/lambda/nothing", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);
    // One id which is a prefix of another: only the exact name.
    assert_eq!(observe(&groups, &[&id]).await.len(), 1);
    assert_eq!(observe(&groups, &[&id, &other]).await.len(), 2);

    let mut wanted = inputs.clone();
    wanted.insert("retention_in_days".into(), Value::int(7));
    wanted.insert("tags".into(), tags("logs", &[("owner", "ops")]));
    let updated = update(
        &groups,
        &id,
        &wanted,
        &created,
        &["retention_in_days", "tags"],
    )
    .await;
    assert_inputs_match(&groups, &wanted, &updated);
    assert!(updated["tags"].as_map().unwrap().get("team").is_none());
    assert_eq!(observe(&groups, &[&id]).await[&id], updated);

    // Retention removed: events never expire.
    let mut forever = wanted.clone();
    forever.remove("retention_in_days");
    let updated = update(&groups, &id, &forever, &updated, &["retention_in_days"]).await;
    assert!(!updated.contains_key("retention_in_days"));

    assert_eq!(find(&groups, STACK, Some("logs")).await, vec![id.clone()]);
    assert_eq!(find(&groups, STACK, None).await.len(), 2);
    assert!(find(&groups, "another", None).await.is_empty());

    delete_twice_and_gone(&groups, &id, &updated).await;
    delete_twice_and_gone(&groups, &other, &other_attrs).await;
}

// moto 5.2.5 answers 404 to every CloudWatch (metrics) call of aws-sdk-cloudwatch 1.102,
// which speaks the Smithy RPC v2 CBOR protocol (`/service/GraniteServiceVersion20100801/
// operation/...`) that moto does not route. The test runs against a CBOR-capable endpoint
// with `cargo test -- --ignored`.
#[tokio::test]
async fn metric_alarm_lifecycle() {
    let moto = Moto::start();
    let alarms = MetricAlarm::new(moto.clients(REGION).await);
    let topic = "arn:aws:sns:us-east-1:123456789012:alerts";
    let inputs = attrs(&[
        ("name", Value::string("api-errors")),
        ("description", Value::string("Lambda errors")),
        ("namespace", Value::string("AWS/Lambda")),
        ("metric_name", Value::string("Errors")),
        ("dimensions", map(&[("FunctionName", "api")])),
        ("statistic", Value::string("Sum")),
        ("period", Value::int(300)),
        ("evaluation_periods", Value::int(2)),
        ("datapoints_to_alarm", Value::int(1)),
        ("threshold", Value::int(5)),
        (
            "comparison_operator",
            Value::string("GreaterThanOrEqualToThreshold"),
        ),
        ("treat_missing_data", Value::string("notBreaching")),
        ("alarm_actions", strings(&[topic])),
        ("ok_actions", strings(&[topic])),
        ("actions_enabled", Value::Bool(true)),
        ("tags", tags("errors", &[("team", "api")])),
    ]);
    let (id, created) = create(&alarms, "errors", &inputs).await;
    assert_eq!(id, "api-errors");
    assert_inputs_match(&alarms, &inputs, &created);
    assert!(s(&created, "arn").ends_with(":alarm:api-errors"));

    let found = observe(&alarms, &["no-such-alarm", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    let mut wanted = inputs.clone();
    wanted.insert("threshold".into(), Value::Number(serde_number(2.5)));
    wanted.insert("evaluation_periods".into(), Value::int(3));
    wanted.insert("ok_actions".into(), strings(&[]));
    wanted.insert("tags".into(), tags("errors", &[("owner", "ops")]));
    let updated = update(
        &alarms,
        &id,
        &wanted,
        &created,
        &["threshold", "evaluation_periods", "ok_actions", "tags"],
    )
    .await;
    assert_inputs_match(&alarms, &wanted, &updated);
    assert_eq!(s(&updated, "arn"), s(&created, "arn"));
    assert_eq!(observe(&alarms, &[&id]).await[&id], updated);

    assert_eq!(find(&alarms, STACK, Some("errors")).await, vec![id.clone()]);
    assert!(find(&alarms, STACK, Some("other")).await.is_empty());
    assert!(find(&alarms, "another", None).await.is_empty());

    delete_twice_and_gone(&alarms, &id, &updated).await;
    assert!(find(&alarms, STACK, None).await.is_empty());
}

fn serde_number(f: f64) -> serde_json::Number {
    serde_json::Number::from_f64(f).unwrap()
}

// moto 5.2.5 answers 404 to every CloudWatch (metrics) call of aws-sdk-cloudwatch 1.102,
// which speaks the Smithy RPC v2 CBOR protocol (`/service/GraniteServiceVersion20100801/
// operation/...`) that moto does not route. The test runs against a CBOR-capable endpoint
// with `cargo test -- --ignored`.
#[tokio::test]
async fn dashboard_lifecycle() {
    let moto = Moto::start();
    let dashboards = Dashboard::new(moto.clients(REGION).await);
    let widget = |title: &str| {
        Value::Map(
            [
                ("type".to_string(), Value::string("metric")),
                ("x".to_string(), Value::int(0)),
                ("y".to_string(), Value::int(0)),
                ("width".to_string(), Value::int(12)),
                ("height".to_string(), Value::int(6)),
                ("properties".to_string(), map(&[("title", title)])),
            ]
            .into_iter()
            .collect(),
        )
    };
    let body = |title: &str| {
        Value::Map(
            [("widgets".to_string(), Value::List(vec![widget(title)]))]
                .into_iter()
                .collect(),
        )
    };
    let inputs = attrs(&[("name", Value::string("ops")), ("body", body("Errors"))]);
    let (id, created) = create(&dashboards, "ops", &inputs).await;
    assert_eq!(id, "ops");
    assert_inputs_match(&dashboards, &inputs, &created);
    assert_eq!(created["body"], body("Errors"));

    // The body as JSON text compares equal to the same body as a map.
    let text = attrs(&[(
        "body",
        Value::string(
            r#"{"widgets":[{"height":6,"properties":{"title":"Errors"},"type":"metric","width":12,"x":0,"y":0}]}"#,
        ),
    )]);
    assert_inputs_match(&dashboards, &text, &created);

    let found = observe(&dashboards, &["no-such-dashboard", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    let wanted = attrs(&[("name", Value::string("ops")), ("body", body("Throttles"))]);
    let updated = update(&dashboards, &id, &wanted, &created, &["body"]).await;
    assert_inputs_match(&dashboards, &wanted, &updated);
    assert_eq!(observe(&dashboards, &[&id]).await[&id], updated);

    // Dashboards are not tagged: never found by ownership.
    assert!(find(&dashboards, STACK, None).await.is_empty());

    delete_twice_and_gone(&dashboards, &id, &updated).await;
}

/// Offline: a body written as JSON text and the same body as a map normalize alike, and a
/// different body does not.
#[test]
fn dashboard_body_compares_as_data() {
    let schema = terrane_aws_cloudwatch::dashboard::Dashboard::new(std::sync::Arc::new(
        terrane_aws_cloudwatch::AwsClients::offline(),
    ))
    .schema()
    .clone();
    let as_map = Value::Map(
        [(
            "widgets".to_string(),
            Value::List(vec![map(&[("type", "text")])]),
        )]
        .into_iter()
        .collect(),
    );
    let text = Value::string(r#"{ "widgets": [ { "type": "text" } ] }"#);
    let other = Value::string(r#"{"widgets":[{"type":"metric"}]}"#);
    assert_eq!(schema.normalized("body", &text), as_map);
    assert_ne!(schema.normalized("body", &other), as_map);
    assert!(
        schema
            .attribute("body")
            .unwrap()
            .description
            .contains("data")
    );
}

#[tokio::test]
async fn ownership_address_is_encoded_in_log_group_tags() {
    let moto = Moto::start();
    let groups = LogGroup::new(moto.clients(REGION).await);
    let inputs = attrs(&[
        ("name", Value::string("/odd")),
        ("tags", tags(ODD_ADDRESS, &[])),
    ]);
    let (id, created) = create(&groups, ODD_ADDRESS, &inputs).await;
    assert_plain_address(&created);

    let raw = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config(REGION).await)
        .list_tags_for_resource()
        .resource_arn(s(&created, "arn"))
        .send()
        .await
        .unwrap();
    let tag = raw
        .tags()
        .and_then(|t| t.get(terrane_core::OWNERSHIP_TAG_ADDRESS))
        .map(String::as_str);
    assert_encoded_address(tag);

    assert_plain_address(&observe(&groups, &[&id]).await[&id]);
    assert_eq!(
        find(&groups, STACK, Some(ODD_ADDRESS)).await,
        vec![id.clone()]
    );
    delete(&groups, &id, &created).await;
}
