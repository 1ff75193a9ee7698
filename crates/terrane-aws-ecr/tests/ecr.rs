//! `aws.ecr.repository` against a local moto server: create with scanning, tag
//! mutability, KMS encryption, a lifecycle policy and tags; observe (an unknown name mixed
//! in, which fails DescribeRepositories by names and falls back to listing); in-place
//! updates; discovery by ownership tags; force_delete of a repository with an image.

use std::sync::Arc;

use terrane_aws_ecr::AwsClients;
use terrane_aws_ecr::repository::Repository;
use terrane_core::Value;
use terrane_provider::{Attributes, DeleteRequest, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "ecr-test";

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
        if k == "force_delete" {
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

fn keep_last(n: u32) -> Value {
    json(&format!(
        r#"{{"rules":[{{"rulePriority":1,"description":"keep the last {n}",
        "selection":{{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":{n}}},
        "action":{{"type":"expire"}}}}]}}"#
    ))
}

#[tokio::test]
async fn repository_lifecycle() {
    let moto = Moto::start();
    let aws = clients(&moto).await;
    let repos = Repository::new(aws.clone());
    let inputs = attrs(&[
        ("name", Value::string("app/api")),
        ("image_tag_mutability", Value::string("IMMUTABLE")),
        ("scan_on_push", Value::Bool(false)),
        ("encryption_type", Value::string("AES256")),
        ("lifecycle_policy", keep_last(30)),
        ("force_delete", Value::Bool(false)),
        ("tags", tags("api", &[("team", "app")])),
    ]);
    let (id, created) = create(&repos, "api", &inputs).await;
    assert_eq!(id, "app/api");
    assert_inputs_match(&repos, &inputs, &created);
    assert!(s(&created, "arn").ends_with(":repository/app/api"));
    assert!(
        s(&created, "repository_url").ends_with(".dkr.ecr.us-east-1.amazonaws.com/app/api"),
        "{created:?}"
    );

    // Encrypted with a KMS key, no lifecycle policy.
    let config = moto.sdk_config(REGION).await;
    let key = aws_sdk_kms::Client::new(&config)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let kms_inputs = attrs(&[
        ("name", Value::string("app/worker")),
        ("encryption_type", Value::string("KMS")),
        ("kms_key", Value::string(&key)),
        ("tags", tags("worker", &[])),
    ]);
    let (worker, worker_attrs) = create(&repos, "worker", &kms_inputs).await;
    assert_inputs_match(&repos, &kms_inputs, &worker_attrs);
    assert!(!worker_attrs.contains_key("lifecycle_policy"));

    // The unknown name fails the batched describe; the fallback lists all and keeps these.
    let describes = || {
        aws.calls()
            .snapshot()
            .iter()
            .filter(|((_, op, _), _)| op == "DescribeRepositories")
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    aws.calls().reset();
    let found = observe(&repos, &["app/not-there", &id, &worker]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id, &worker]);
    assert_eq!(found[&id], created);
    assert_eq!(describes(), 2, "by names (refused), then all");
    aws.calls().reset();
    assert_eq!(observe(&repos, &[&id, &worker]).await, found);
    assert_eq!(describes(), 1, "one call for both names");

    let mut wanted = inputs.clone();
    wanted.insert("image_tag_mutability".into(), Value::string("MUTABLE"));
    // Turned on, not off: moto gap: the Rust SDK leaves `scanOnPush: false` out of
    // PutImageScanningConfiguration (it is the default, as AWS reads it), and moto ignores
    // the then-empty configuration, so turning scanning off is not seen here.
    wanted.insert("scan_on_push".into(), Value::Bool(true));
    wanted.insert("lifecycle_policy".into(), keep_last(10));
    wanted.insert("tags".into(), tags("api", &[("owner", "platform")]));
    let updated = update(
        &repos,
        &id,
        &wanted,
        &created,
        &[
            "image_tag_mutability",
            "scan_on_push",
            "lifecycle_policy",
            "tags",
        ],
    )
    .await;
    assert_inputs_match(&repos, &wanted, &updated);
    assert_eq!(s(&updated, "arn"), s(&created, "arn"));
    assert!(!updated["tags"].as_map().unwrap().contains_key("team"));

    // Removing the lifecycle policy.
    let mut bare = wanted.clone();
    bare.remove("lifecycle_policy");
    let cleared = update(&repos, &id, &bare, &updated, &["lifecycle_policy"]).await;
    assert!(!cleared.contains_key("lifecycle_policy"), "{cleared:?}");

    assert_eq!(find(&repos, STACK, Some("api")).await, vec![id.clone()]);
    assert_eq!(
        find(&repos, STACK, None).await,
        vec![id.clone(), worker.clone()]
    );
    assert!(find(&repos, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&repos, &id, &cleared).await;
    delete_twice_and_gone(&repos, &worker, &worker_attrs).await;
}

#[tokio::test]
async fn force_delete_removes_images() {
    let moto = Moto::start();
    let repos = Repository::new(clients(&moto).await);
    let inputs = attrs(&[
        ("name", Value::string("images")),
        ("tags", tags("images", &[])),
    ]);
    let (id, created) = create(&repos, "images", &inputs).await;
    let config = moto.sdk_config(REGION).await;
    aws_sdk_ecr::Client::new(&config)
        .put_image()
        .repository_name(&id)
        .image_tag("v1")
        .image_manifest(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[]}"#,
        )
        .send()
        .await
        .expect("PutImage");

    let err = repos
        .delete(DeleteRequest {
            region: REGION,
            id: &id,
            prior: &created,
        })
        .await
        .expect_err("a repository with images is not deleted");
    assert!(err.to_string().contains("force_delete"), "{err}");

    let mut prior = created.clone();
    prior.insert("force_delete".into(), Value::Bool(true));
    delete_twice_and_gone(&repos, &id, &prior).await;
}
