//! The EventBridge rule against a local moto server: create with targets and tags, batched
//! observe (with unknown ids mixed in, on two buses), in-place updates of the schedule,
//! targets and tags, discovery by ownership tags, and idempotent deletes.

use terrane_aws_eventbridge::rule::Rule;
use terrane_core::Value;
use terrane_provider::{Attributes, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "eventbridge-test";

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

fn target(id: &str, arn: &str, input: Option<Value>) -> Value {
    let mut m = map(&[("id", id), ("arn", arn)]);
    if let (Value::Map(m), Some(i)) = (&mut m, input) {
        m.insert("input".into(), i);
    }
    m
}

#[tokio::test]
async fn rule_lifecycle() {
    let moto = Moto::start();
    let rules = Rule::new(moto.clients(REGION).await);
    let planner = "arn:aws:lambda:us-east-1:123456789012:function:planner";
    let queue = "arn:aws:sqs:us-east-1:123456789012:jobs";

    let inputs = attrs(&[
        ("name", Value::string("nightly")),
        ("schedule_expression", Value::string("cron(0 3 * * ? *)")),
        ("description", Value::string("nightly meal plans")),
        ("state", Value::string("ENABLED")),
        (
            "targets",
            Value::List(vec![
                target(
                    "planner",
                    planner,
                    Some(Value::string(r#"{"task": "weekly-plan"}"#)),
                ),
                target("jobs", queue, None),
            ]),
        ),
        ("tags", tags("nightly", &[("team", "plans")])),
    ]);
    let (id, created) = create(&rules, "nightly", &inputs).await;
    assert_eq!(
        id, "nightly",
        "a rule of the default bus is known by its name"
    );
    assert_inputs_match(&rules, &inputs, &created);
    assert!(s(&created, "arn").ends_with(":rule/nightly"));
    assert_eq!(created["event_bus_name"], Value::string("default"));

    // An event-pattern rule on a custom bus.
    let events = aws_sdk_eventbridge::Client::new(&moto.sdk_config(REGION).await);
    events
        .create_event_bus()
        .name("orders")
        .send()
        .await
        .expect("create bus");
    let pattern_inputs = attrs(&[
        ("name", Value::string("order-placed")),
        ("event_bus_name", Value::string("orders")),
        (
            "event_pattern",
            Value::string(r#"{"source":["shop"],"detail-type":["OrderPlaced"]}"#),
        ),
        ("targets", Value::List(vec![target("jobs", queue, None)])),
        ("tags", tags("placed", &[])),
    ]);
    let (placed, placed_attrs) = create(&rules, "placed", &pattern_inputs).await;
    assert_eq!(placed, "orders|order-placed");
    assert_inputs_match(&rules, &pattern_inputs, &placed_attrs);

    let found = observe(&rules, &["no-such-rule", &id, "orders|nothing", &placed]).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[&id], created);
    assert_eq!(found[&placed], placed_attrs);

    let mut wanted = inputs.clone();
    wanted.insert("schedule_expression".into(), Value::string("rate(6 hours)"));
    wanted.insert("state".into(), Value::string("DISABLED"));
    wanted.insert(
        "targets".into(),
        Value::List(vec![target(
            "planner",
            planner,
            Some(Value::string(r#"{"task": "daily-plan"}"#)),
        )]),
    );
    wanted.insert("tags".into(), tags("nightly", &[("owner", "ops")]));
    let updated = update(
        &rules,
        &id,
        &wanted,
        &created,
        &["schedule_expression", "state", "targets", "tags"],
    )
    .await;
    assert_inputs_match(&rules, &wanted, &updated);
    assert_eq!(updated["targets"].as_list().unwrap().len(), 1);
    assert!(updated["tags"].as_map().unwrap().get("team").is_none());
    assert_eq!(observe(&rules, &[&id]).await[&id], updated);

    assert_eq!(find(&rules, STACK, Some("nightly")).await, vec![id.clone()]);
    assert_eq!(
        find(&rules, STACK, Some("placed")).await,
        vec![placed.clone()]
    );
    assert!(find(&rules, "another", None).await.is_empty());

    delete_twice_and_gone(&rules, &id, &updated).await;
    delete_twice_and_gone(&rules, &placed, &placed_attrs).await;
    assert!(find(&rules, STACK, None).await.is_empty());
}
