//! `aws.secretsmanager.secret` against a local moto server: create with a value and tags,
//! observe (unknown ids mixed in, by ARN or name) that never reads the value back, in-place
//! updates (description, value, tags), discovery by ownership tags, and deletes with and
//! without a recovery window.

use std::sync::Arc;

use terrane_aws_secretsmanager::AwsClients;
use terrane_aws_secretsmanager::secret::Secret;
use terrane_core::{SecretString, Value};
use terrane_provider::{Attributes, ResourceType};
use terrane_testkit::Moto;
use terrane_testkit::odd_address::{ODD_ADDRESS, assert_encoded_address, assert_plain_address};

const REGION: &str = "us-east-1";
const STACK: &str = "secrets-test";

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

/// Each settable input the planner compares with what AWS reports: normalized. The value
/// and the recovery window are never observed (they are compared by digest with state).
fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        if k == "secret_string" || k == "recovery_window_in_days" {
            continue;
        }
        let got = live.get(k).unwrap_or(&Value::Null);
        assert!(
            schema
                .normalized(k, want)
                .semantically_equal(&schema.normalized(k, got)),
            "{k}: want {want}, live {got}"
        );
    }
}

fn secret(text: &str) -> Value {
    Value::Secret(SecretString::new(text))
}

/// The secret's current value, read by the test itself (terrane never reads it).
async fn current_value(moto: &Moto, arn: &str) -> String {
    let config = moto.sdk_config(REGION).await;
    aws_sdk_secretsmanager::Client::new(&config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .expect("GetSecretValue")
        .secret_string()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn secret_lifecycle() {
    let moto = Moto::start();
    let secrets = Secret::new(clients(&moto).await);
    let inputs = attrs(&[
        ("name", Value::string("prod/app/api-key")),
        ("description", Value::string("the upstream API's key")),
        ("secret_string", secret("s3cr3t-v1")),
        ("recovery_window_in_days", Value::int(7)),
        ("tags", tags("api_key", &[("team", "app")])),
    ]);
    let (id, created) = create(&secrets, "api_key", &inputs).await;
    assert!(id.starts_with("arn:aws:secretsmanager:us-east-1:"), "{id}");
    assert_eq!(s(&created, "arn"), id);
    assert_inputs_match(&secrets, &inputs, &created);
    assert!(
        !created.contains_key("secret_string"),
        "the value is never read back: {created:?}"
    );
    assert_eq!(current_value(&moto, &id).await, "s3cr3t-v1");

    // A second secret whose name the first one's is a prefix of: name filters match
    // prefixes, observe keeps exact matches only.
    let other_inputs = attrs(&[
        ("name", Value::string("prod/app/api-key-2")),
        ("tags", tags("other", &[])),
    ]);
    let (other, other_attrs) = create(&secrets, "other", &other_inputs).await;
    assert_inputs_match(&secrets, &other_inputs, &other_attrs);

    let unknown = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/none-AbCdEf";
    let found = observe(&secrets, &[unknown, &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);
    // Imported by name, it is found too.
    let by_name = observe(&secrets, &["prod/app/api-key"]).await;
    assert_eq!(by_name["prod/app/api-key"], created);

    let mut wanted = inputs.clone();
    wanted.insert("description".into(), Value::string("rotated by hand"));
    wanted.insert("secret_string".into(), secret("s3cr3t-v2"));
    wanted.insert("tags".into(), tags("api_key", &[("owner", "security")]));
    let updated = update(
        &secrets,
        &id,
        &wanted,
        &created,
        &["description", "secret_string", "tags"],
    )
    .await;
    assert_inputs_match(&secrets, &wanted, &updated);
    assert_eq!(s(&updated, "arn"), id);
    assert_eq!(current_value(&moto, &id).await, "s3cr3t-v2");

    assert_eq!(
        find(&secrets, STACK, Some("api_key")).await,
        vec![id.clone()]
    );
    let mut both = vec![id.clone(), other.clone()];
    both.sort();
    assert_eq!(find(&secrets, STACK, None).await, both);
    assert!(find(&secrets, "another-stack", None).await.is_empty());

    // With a recovery window: scheduled for deletion, which counts as gone.
    delete_twice_and_gone(&secrets, &id, &updated).await;
    // Without one (0): deleted at once.
    let mut now = other_attrs.clone();
    now.insert("recovery_window_in_days".into(), Value::int(0));
    delete_twice_and_gone(&secrets, &other, &now).await;
    assert!(find(&secrets, STACK, None).await.is_empty());
}

#[tokio::test]
async fn secret_with_kms_key_and_no_value() {
    let moto = Moto::start();
    let secrets = Secret::new(clients(&moto).await);
    let config = moto.sdk_config(REGION).await;
    let kms = aws_sdk_kms::Client::new(&config);
    let mut key_ids = Vec::new();
    for _ in 0..2 {
        let key = kms.create_key().send().await.unwrap();
        key_ids.push(key.key_metadata().unwrap().arn().unwrap().to_string());
    }
    let inputs = attrs(&[
        ("name", Value::string("db-password")),
        ("kms_key_id", Value::string(&key_ids[0])),
        ("tags", tags("db", &[])),
    ]);
    let (id, created) = create(&secrets, "db", &inputs).await;
    assert_inputs_match(&secrets, &inputs, &created);

    let mut wanted = inputs.clone();
    wanted.insert("kms_key_id".into(), Value::string(&key_ids[1]));
    let updated = update(&secrets, &id, &wanted, &created, &["kms_key_id"]).await;
    assert_inputs_match(&secrets, &wanted, &updated);
    delete_twice_and_gone(&secrets, &id, &updated).await;
}

#[tokio::test]
async fn ownership_address_is_encoded_in_secret_tags() {
    let moto = Moto::start();
    let secrets = Secret::new(clients(&moto).await);
    let inputs = attrs(&[
        ("name", Value::string("odd")),
        ("secret_string", secret("x")),
        ("tags", tags(ODD_ADDRESS, &[])),
    ]);
    let (id, created) = create(&secrets, ODD_ADDRESS, &inputs).await;
    assert_plain_address(&created);

    let raw = aws_sdk_secretsmanager::Client::new(&moto.sdk_config(REGION).await)
        .describe_secret()
        .secret_id(&id)
        .send()
        .await
        .unwrap();
    let tag = raw
        .tags()
        .iter()
        .find(|t| t.key() == Some(terrane_core::OWNERSHIP_TAG_ADDRESS))
        .and_then(|t| t.value());
    assert_encoded_address(tag);

    assert_plain_address(&observe(&secrets, &[&id]).await[&id]);
    assert_eq!(
        find(&secrets, STACK, Some(ODD_ADDRESS)).await,
        vec![id.clone()]
    );
    delete(&secrets, &id, &created).await;
}
