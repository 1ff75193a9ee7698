//! The KMS resource types against a local moto server: keys (create with tags and policy,
//! observe with an unknown id mixed in, in-place updates, discovery by ownership tags,
//! scheduled deletion counting as gone) and aliases (retargeted in place).

use std::sync::Arc;

use terrane_aws_kms::AwsClients;
use terrane_aws_kms::alias::Alias;
use terrane_aws_kms::key::Key;
use terrane_core::Value;
use terrane_provider::{Attributes, CreateRequest, DeleteRequest, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "kms-test";

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

/// Each settable input as the planner would compare it: normalized.
fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        if k == "deletion_window_in_days" {
            continue; // terrane-side, never observed
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

fn json(text: &str) -> Value {
    Value::from_json(&serde_json::from_str(text).unwrap())
}

fn key_policy(sid: &str) -> Value {
    json(&format!(
        r#"{{"Version":"2012-10-17","Id":"key-policy","Statement":[{{"Sid":"{sid}",
        "Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::123456789012:root"}},
        "Action":"kms:*","Resource":"*"}}]}}"#
    ))
}

#[tokio::test]
async fn key_lifecycle() {
    let moto = Moto::start();
    let keys = Key::new(clients(&moto).await);
    let inputs = attrs(&[
        ("description", Value::string("app data")),
        ("key_usage", Value::string("ENCRYPT_DECRYPT")),
        ("key_spec", Value::string("SYMMETRIC_DEFAULT")),
        ("enable_key_rotation", Value::Bool(true)),
        ("policy", key_policy("Root")),
        ("multi_region", Value::Bool(false)),
        ("deletion_window_in_days", Value::int(7)),
        ("tags", tags("data", &[("team", "platform")])),
    ]);
    let (id, created) = create(&keys, "data", &inputs).await;
    assert_inputs_match(&keys, &inputs, &created);
    assert_eq!(s(&created, "key_id"), id);
    assert!(s(&created, "arn").ends_with(&format!(":key/{id}")));

    // A signing key: no rotation (KMS rotates symmetric encryption keys only).
    let signing_inputs = attrs(&[
        ("key_usage", Value::string("SIGN_VERIFY")),
        ("key_spec", Value::string("ECC_NIST_P256")),
        ("enable_key_rotation", Value::Bool(false)),
        ("tags", tags("signing", &[])),
    ]);
    let (signing, signing_attrs) = create(&keys, "signing", &signing_inputs).await;
    assert_inputs_match(&keys, &signing_inputs, &signing_attrs);
    // Asking a signing key to rotate is refused before anything is created.
    let mut rotating = signing_inputs.clone();
    rotating.insert("enable_key_rotation".into(), Value::Bool(true));
    let refused = keys
        .create(CreateRequest {
            region: REGION,
            address: &terrane_core::Address::new("bad"),
            inputs: &rotating,
            client_token: "t",
        })
        .await;
    assert!(refused.is_err(), "a rotating signing key is refused");

    let found = observe(&keys, &["00000000-0000-0000-0000-000000000000", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    let mut wanted = inputs.clone();
    wanted.insert("description".into(), Value::string("app data, v2"));
    wanted.insert("enable_key_rotation".into(), Value::Bool(false));
    wanted.insert("policy".into(), key_policy("RootV2"));
    wanted.insert("tags".into(), tags("data", &[("owner", "security")]));
    let updated = update(
        &keys,
        &id,
        &wanted,
        &created,
        &["description", "enable_key_rotation", "policy", "tags"],
    )
    .await;
    assert_inputs_match(&keys, &wanted, &updated);
    assert_eq!(s(&updated, "key_id"), id);
    assert!(
        !updated["tags"].as_map().unwrap().contains_key("team"),
        "removed tag still there: {updated:?}"
    );

    assert_eq!(find(&keys, STACK, Some("data")).await, vec![id.clone()]);
    let mut both = vec![id.clone(), signing.clone()];
    both.sort();
    assert_eq!(find(&keys, STACK, None).await, both);
    assert!(find(&keys, "another-stack", None).await.is_empty());

    // Deleting schedules the deletion (7 days here); pending deletion counts as gone, and
    // a second delete is fine.
    let mut prior = updated.clone();
    prior.insert("deletion_window_in_days".into(), Value::int(7));
    delete_twice_and_gone(&keys, &id, &prior).await;
    assert_eq!(find(&keys, STACK, None).await, vec![signing.clone()]);
    delete_twice_and_gone(&keys, &signing, &signing_attrs).await;

    // A window KMS does not allow is refused.
    let mut bad = signing_attrs.clone();
    bad.insert("deletion_window_in_days".into(), Value::int(3));
    assert!(
        keys.delete(DeleteRequest {
            region: REGION,
            id: &signing,
            prior: &bad,
        })
        .await
        .is_err()
    );
}

#[tokio::test]
async fn alias_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let keys = Key::new(clients.clone());
    let aliases = Alias::new(clients);
    let (first, first_attrs) =
        create(&keys, "first", &attrs(&[("tags", tags("first", &[]))])).await;
    let (second, _) = create(&keys, "second", &attrs(&[("tags", tags("second", &[]))])).await;

    // Targeted by ARN: compared by key id, as KMS reports it.
    let inputs = attrs(&[
        ("name", Value::string("alias/app-data")),
        ("target_key_id", first_attrs["arn"].clone()),
    ]);
    let (id, created) = create(&aliases, "alias", &inputs).await;
    assert_eq!(id, "alias/app-data");
    assert_inputs_match(&aliases, &inputs, &created);
    assert_eq!(s(&created, "target_key_id"), first);
    assert!(s(&created, "arn").ends_with(":alias/app-data"));

    let found = observe(&aliases, &["alias/not-there", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    let mut wanted = inputs.clone();
    wanted.insert("target_key_id".into(), Value::string(&second));
    let updated = update(&aliases, &id, &wanted, &created, &["target_key_id"]).await;
    assert_eq!(s(&updated, "target_key_id"), second);
    assert_eq!(s(&updated, "name"), id);

    // Not taggable: nothing is found by ownership.
    assert!(find(&aliases, STACK, None).await.is_empty());

    // Names outside `alias/` are refused.
    let bad = attrs(&[
        ("name", Value::string("app-data")),
        ("target_key_id", Value::string(&second)),
    ]);
    assert!(
        aliases
            .create(CreateRequest {
                region: REGION,
                address: &terrane_core::Address::new("bad"),
                inputs: &bad,
                client_token: "t",
            })
            .await
            .is_err()
    );

    delete_twice_and_gone(&aliases, &id, &updated).await;
}
