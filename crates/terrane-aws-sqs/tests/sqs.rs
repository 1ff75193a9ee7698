//! The SQS queue against a local moto server: create with tags and a dead-letter redrive,
//! batched observe (with an unknown URL mixed in), in-place updates, discovery by ownership
//! tags, and idempotent deletes.

use terrane_aws_sqs::queue::Queue;
use terrane_core::Value;
use terrane_provider::{Attributes, CreateRequest, ResourceType};
use terrane_testkit::Moto;
use terrane_testkit::odd_address::{ODD_ADDRESS, assert_encoded_address, assert_plain_address};

const REGION: &str = "us-east-1";
const STACK: &str = "sqs-test";

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

fn policy(queue_arn: &str, sid: &str) -> Value {
    Value::string(format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{sid}","Effect":"Allow","Principal":{{"Service":"events.amazonaws.com"}},"Action":"sqs:SendMessage","Resource":"{queue_arn}"}}]}}"#
    ))
}

#[tokio::test]
async fn queue_lifecycle() {
    let moto = Moto::start();
    let queues = Queue::new(moto.clients(REGION).await);

    let dlq_inputs = attrs(&[
        ("name", Value::string("jobs-dlq")),
        ("message_retention_seconds", Value::int(1_209_600)),
        ("tags", tags("dlq", &[])),
    ]);
    let (dlq, dlq_attrs) = create(&queues, "dlq", &dlq_inputs).await;
    assert_inputs_match(&queues, &dlq_inputs, &dlq_attrs);
    assert!(dlq.ends_with("/jobs-dlq"), "a queue URL: {dlq}");
    assert_eq!(s(&dlq_attrs, "url"), dlq);
    let dlq_arn = s(&dlq_attrs, "arn");

    let inputs = attrs(&[
        ("name", Value::string("jobs")),
        ("visibility_timeout_seconds", Value::int(120)),
        ("delay_seconds", Value::int(5)),
        ("receive_wait_time_seconds", Value::int(10)),
        (
            "redrive_policy",
            Value::Map(
                [
                    (
                        "dead_letter_target_arn".to_string(),
                        Value::string(&dlq_arn),
                    ),
                    ("max_receive_count".to_string(), Value::string("5")),
                ]
                .into_iter()
                .collect(),
            ),
        ),
        (
            "policy",
            policy("arn:aws:sqs:us-east-1:123456789012:jobs", "events"),
        ),
        ("tags", tags("jobs", &[("team", "jobs")])),
    ]);
    let (id, created) = create(&queues, "jobs", &inputs).await;
    assert_inputs_match(&queues, &inputs, &created);
    assert_eq!(created["fifo_queue"], Value::Bool(false));
    assert_eq!(
        created["redrive_policy"].as_map().unwrap()["max_receive_count"],
        Value::int(5)
    );

    let fifo_inputs = attrs(&[
        ("name", Value::string("orders.fifo")),
        ("fifo_queue", Value::Bool(true)),
        ("content_based_deduplication", Value::Bool(true)),
        ("tags", tags("orders", &[])),
    ]);
    let (fifo, fifo_attrs) = create(&queues, "orders", &fifo_inputs).await;
    assert_inputs_match(&queues, &fifo_inputs, &fifo_attrs);

    // A FIFO queue needs the `.fifo` suffix: refused before any call.
    let bad = attrs(&[
        ("name", Value::string("orders")),
        ("fifo_queue", Value::Bool(true)),
    ]);
    let err = queues
        .create(CreateRequest {
            region: REGION,
            address: &terrane_core::Address::new("bad"),
            inputs: &bad,
            client_token: "t",
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".fifo"), "{err}");

    let unknown = dlq.replace("jobs-dlq", "no-such-queue");
    let found = observe(&queues, &[&unknown, &id, &fifo]).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[&id], created);
    assert_eq!(found[&fifo], fifo_attrs);

    let mut wanted = inputs.clone();
    wanted.insert("visibility_timeout_seconds".into(), Value::int(300));
    wanted.insert(
        "redrive_policy".into(),
        Value::Map(
            [
                (
                    "dead_letter_target_arn".to_string(),
                    Value::string(&dlq_arn),
                ),
                ("max_receive_count".to_string(), Value::int(3)),
            ]
            .into_iter()
            .collect(),
        ),
    );
    wanted.insert(
        "policy".into(),
        policy("arn:aws:sqs:us-east-1:123456789012:jobs", "scheduler"),
    );
    wanted.insert("tags".into(), tags("jobs", &[("owner", "ops")]));
    let updated = update(
        &queues,
        &id,
        &wanted,
        &created,
        &[
            "visibility_timeout_seconds",
            "redrive_policy",
            "policy",
            "tags",
        ],
    )
    .await;
    assert_inputs_match(&queues, &wanted, &updated);
    assert_eq!(s(&updated, "url"), id);
    assert!(updated["tags"].as_map().unwrap().get("team").is_none());
    assert_eq!(observe(&queues, &[&id]).await[&id], updated);

    // The redrive and access policies removed.
    let mut plain = wanted.clone();
    plain.remove("redrive_policy");
    plain.remove("policy");
    let cleared = update(
        &queues,
        &id,
        &plain,
        &updated,
        &["redrive_policy", "policy"],
    )
    .await;
    assert!(!cleared.contains_key("redrive_policy"), "{cleared:?}");
    assert!(!cleared.contains_key("policy"), "{cleared:?}");

    assert_eq!(find(&queues, STACK, Some("jobs")).await, vec![id.clone()]);
    assert_eq!(find(&queues, STACK, None).await.len(), 3);
    assert!(find(&queues, "another", None).await.is_empty());

    delete_twice_and_gone(&queues, &id, &cleared).await;
    delete_twice_and_gone(&queues, &fifo, &fifo_attrs).await;
    delete_twice_and_gone(&queues, &dlq, &dlq_attrs).await;
}

#[tokio::test]
async fn ownership_address_is_encoded_in_queue_tags() {
    let moto = Moto::start();
    let queues = Queue::new(moto.clients(REGION).await);
    let inputs = attrs(&[
        ("name", Value::string("odd")),
        ("tags", tags(ODD_ADDRESS, &[])),
    ]);
    let (url, created) = create(&queues, ODD_ADDRESS, &inputs).await;
    assert_plain_address(&created);

    let raw = aws_sdk_sqs::Client::new(&moto.sdk_config(REGION).await)
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap();
    let tag = raw
        .tags()
        .and_then(|t| t.get(terrane_core::OWNERSHIP_TAG_ADDRESS))
        .map(String::as_str);
    assert_encoded_address(tag);

    assert_plain_address(&observe(&queues, &[&url]).await[&url]);
    assert_eq!(
        find(&queues, STACK, Some(ODD_ADDRESS)).await,
        vec![url.clone()]
    );
    delete(&queues, &url, &created).await;
}
