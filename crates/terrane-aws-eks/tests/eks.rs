//! The EKS resource types against a local moto server: create with tags, observe (with
//! unknown ids mixed in), in-place updates, discovery by ownership tags, and idempotent
//! deletes. Where moto lacks an API the product code calls, the test says so and checks
//! that the call is made and fails with an error naming it.

use std::collections::BTreeMap;
use std::sync::Arc;

use terrane_aws_eks::AwsClients;
use terrane_aws_eks::addon::Addon;
use terrane_aws_eks::cluster::Cluster;
use terrane_aws_eks::node_group::NodeGroup;
use terrane_core::{Address, Value};
use terrane_provider::{
    Attributes, CreateRequest, DeleteRequest, ProviderError, ResourceType, UpdateRequest,
};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "eks-test";

terrane_testkit::provider_test_helpers!(
    attrs,
    map,
    strings,
    tags,
    observe,
    delete,
    find,
    delete_twice_and_gone,
    s
);
const ROLE: &str = "arn:aws:iam::123456789012:role/eks-cluster";
const NODE_ROLE: &str = "arn:aws:iam::123456789012:role/eks-nodes";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";

async fn clients(moto: &Moto) -> Arc<AwsClients> {
    moto.clients(REGION).await
}

async fn try_create(
    t: &dyn ResourceType,
    address: &str,
    inputs: &Attributes,
) -> Result<(String, Attributes), ProviderError> {
    let address = Address::new(address);
    t.create(CreateRequest {
        region: REGION,
        address: &address,
        inputs,
        client_token: "token",
    })
    .await
    .map(|out| (out.id, out.attributes))
}

async fn create(t: &dyn ResourceType, address: &str, inputs: &Attributes) -> (String, Attributes) {
    try_create(t, address, inputs)
        .await
        .unwrap_or_else(|e| panic!("create {address}: {e}"))
}

async fn try_update(
    t: &dyn ResourceType,
    id: &str,
    inputs: &Attributes,
    prior: &Attributes,
    changed: &[&str],
) -> Result<Attributes, ProviderError> {
    let changed: Vec<String> = changed.iter().map(|s| s.to_string()).collect();
    t.update(UpdateRequest {
        region: REGION,
        id,
        inputs,
        prior,
        changed: &changed,
    })
    .await
    .map(|out| out.attributes)
}

async fn update(
    t: &dyn ResourceType,
    id: &str,
    inputs: &Attributes,
    prior: &Attributes,
    changed: &[&str],
) -> Attributes {
    try_update(t, id, inputs, prior, changed)
        .await
        .unwrap_or_else(|e| panic!("update {id}: {e}"))
}

/// Asserts an API error naming `operation`.
#[track_caller]
fn assert_api_error<T: std::fmt::Debug>(result: Result<T, ProviderError>, operation: &str) {
    match result {
        Err(ProviderError::Api {
            operation: op,
            message,
        }) => {
            assert_eq!(op, operation, "{message}")
        }
        other => panic!("expected an API error from {operation}, got {other:?}"),
    }
}

/// API calls made so far, by operation (one region here).
fn calls(clients: &AwsClients) -> BTreeMap<String, u64> {
    clients
        .calls()
        .snapshot()
        .into_iter()
        .map(|((_, op, _), n)| (op, n))
        .collect()
}

fn cluster_inputs(name: &str, address: &str) -> Attributes {
    attrs(&[
        ("name", Value::string(name)),
        ("role_arn", Value::string(ROLE)),
        ("version", Value::string("1.30")),
        ("subnet_ids", strings(&["subnet-0a", "subnet-0b"])),
        ("security_group_ids", strings(&["sg-0a"])),
        ("endpoint_public_access", Value::Bool(true)),
        ("endpoint_private_access", Value::Bool(false)),
        ("public_access_cidrs", strings(&["203.0.113.0/24"])),
        ("enabled_log_types", strings(&["audit", "api"])),
        ("tags", tags(address, &[("team", "platform")])),
    ])
}

#[tokio::test]
async fn cluster_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let clusters = Cluster::new(clients.clone());

    let mut inputs = cluster_inputs("main", "cluster");
    inputs.insert("encryption_kms_key_arn".into(), Value::string(KEY));
    let (id, created) = create(&clusters, "cluster", &inputs).await;
    assert_eq!(id, "main");
    assert_eq!(s(&created, "id"), "main");
    assert_eq!(
        s(&created, "arn"),
        format!("arn:aws:eks:{REGION}:123456789012:cluster/main")
    );
    assert_eq!(s(&created, "status"), "ACTIVE");
    assert_eq!(s(&created, "version"), "1.30");
    assert_eq!(s(&created, "role_arn"), ROLE);
    assert!(s(&created, "endpoint").starts_with("https://"));
    assert!(!s(&created, "certificate_authority").is_empty());
    assert!(s(&created, "oidc_issuer").starts_with("https://oidc.eks."));
    assert!(!s(&created, "platform_version").is_empty());
    // Inputs come back in the shape the stack writes them.
    for attr in [
        "subnet_ids",
        "security_group_ids",
        "endpoint_public_access",
        "endpoint_private_access",
        "public_access_cidrs",
        "tags",
    ] {
        assert_eq!(created[attr], inputs[attr], "{attr}");
    }
    assert_eq!(created["enabled_log_types"], strings(&["api", "audit"]));
    assert_eq!(s(&created, "encryption_kms_key_arn"), KEY);

    // A second cluster, without encryption or explicit logging.
    let mut plain_inputs = cluster_inputs("plain", "plain");
    plain_inputs.remove("enabled_log_types");
    let (plain, plain_attrs) = create(&clusters, "plain", &plain_inputs).await;
    assert_eq!(plain_attrs["encryption_kms_key_arn"], Value::Null);

    // Observe: an unknown name is simply absent. EKS has no batched describe: one list,
    // then one describe per requested cluster that exists (none for the unknown one).
    clients.calls().reset();
    let found = observe(&clusters, &["main", "nope", "plain"]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), ["main", "plain"]);
    assert_eq!(found["main"], created);
    let made = calls(&clients);
    assert_eq!(made.get("ListClusters"), Some(&1), "{made:?}");
    assert_eq!(made.get("DescribeCluster"), Some(&2), "{made:?}");
    assert!(observe(&clusters, &[]).await.is_empty());

    // Logging and tags change in place.
    let mut wanted = inputs.clone();
    wanted.insert("enabled_log_types".into(), strings(&["scheduler"]));
    wanted.insert("tags".into(), tags("cluster", &[("env", "test")]));
    let updated = update(
        &clusters,
        "main",
        &wanted,
        &created,
        &["enabled_log_types", "tags"],
    )
    .await;
    let live = observe(&clusters, &["main"]).await.remove("main").unwrap();
    assert_eq!(updated, live);
    assert_eq!(live["enabled_log_types"], strings(&["scheduler"]));
    assert_eq!(live["tags"], wanted["tags"], "team removed, env added");
    assert_eq!(live["subnet_ids"], inputs["subnet_ids"]);

    // Endpoint access changes in place. UpdateClusterConfig answers with no update object
    // in moto (AWS returns one): the update is still awaited through the cluster's status.
    let mut private = wanted.clone();
    private.insert("endpoint_private_access".into(), Value::Bool(true));
    private.insert(
        "public_access_cidrs".into(),
        strings(&["198.51.100.0/24", "203.0.113.0/24"]),
    );
    let updated = update(
        &clusters,
        "main",
        &private,
        &live,
        &["endpoint_private_access", "public_access_cidrs"],
    )
    .await;
    assert_eq!(updated["endpoint_private_access"], Value::Bool(true));
    assert_eq!(updated["endpoint_public_access"], Value::Bool(true));
    assert_eq!(
        updated["public_access_cidrs"],
        private["public_access_cidrs"]
    );
    // moto replaces the whole VPC configuration with the request's, so the subnets it
    // reports afterwards are gone (AWS keeps them): not checked here.

    // Extra security groups change in place (sent with the unchanged subnets).
    let mut groups = private.clone();
    groups.insert("security_group_ids".into(), strings(&["sg-0b", "sg-0c"]));
    let updated = update(
        &clusters,
        "main",
        &groups,
        &updated,
        &["security_group_ids"],
    )
    .await;
    assert_eq!(updated["security_group_ids"], groups["security_group_ids"]);
    assert_eq!(updated["subnet_ids"], inputs["subnet_ids"]);

    // The Kubernetes version: moto has no UpdateClusterVersion (404); the call is made
    // and its failure names it. Whether the version changes is not checked.
    let mut newer = groups.clone();
    newer.insert("version".into(), Value::string("1.31"));
    assert_api_error(
        try_update(&clusters, "main", &newer, &updated, &["version"]).await,
        "UpdateClusterVersion",
    );

    // Secrets encryption can be added to a cluster without it: moto has no
    // AssociateEncryptionConfig (404), so only the call and its error are checked.
    let mut encrypted = plain_inputs.clone();
    encrypted.insert("encryption_kms_key_arn".into(), Value::string(KEY));
    assert_api_error(
        try_update(
            &clusters,
            "plain",
            &encrypted,
            &plain_attrs,
            &["encryption_kms_key_arn"],
        )
        .await,
        "AssociateEncryptionConfig",
    );
    // AWS cannot change the key of an encrypted cluster: a clear refusal, no call.
    let mut rekeyed = groups.clone();
    rekeyed.insert(
        "encryption_kms_key_arn".into(),
        Value::string("arn:aws:kms:us-east-1:123456789012:key/other"),
    );
    match try_update(
        &clusters,
        "main",
        &rekeyed,
        &updated,
        &["encryption_kms_key_arn"],
    )
    .await
    {
        Err(ProviderError::Invalid(m)) => assert!(m.contains("cannot change the key"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Found again by ownership tags (matched literally).
    assert_eq!(find(&clusters, STACK, Some("cluster")).await, ["main"]);
    assert_eq!(find(&clusters, STACK, None).await, ["main", "plain"]);
    assert!(find(&clusters, STACK, Some("nothing")).await.is_empty());
    assert!(find(&clusters, STACK, Some("clu*")).await.is_empty());
    assert!(find(&clusters, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&clusters, &id, &updated).await;
    delete_twice_and_gone(&clusters, &plain, &plain_attrs).await;
}

#[tokio::test]
async fn node_group_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let clusters = Cluster::new(clients.clone());
    let groups = NodeGroup::new(clients.clone());
    let (cluster, cluster_attrs) =
        create(&clusters, "cluster", &cluster_inputs("main", "cluster")).await;

    let taint = |key: &str, value: &str, effect: &str| {
        map(&[("key", key), ("value", value), ("effect", effect)])
    };
    let inputs = attrs(&[
        ("cluster_name", Value::string("main")),
        ("name", Value::string("workers")),
        ("node_role_arn", Value::string(NODE_ROLE)),
        ("subnet_ids", strings(&["subnet-0a", "subnet-0b"])),
        ("instance_types", strings(&["m6i.large", "m5.large"])),
        ("capacity_type", Value::string("SPOT")),
        ("ami_type", Value::string("AL2023_x86_64_STANDARD")),
        ("disk_size", Value::int(50)),
        (
            "scaling",
            Value::Map(BTreeMap::from([
                ("min".to_string(), Value::int(1)),
                ("max".to_string(), Value::int(4)),
                ("desired".to_string(), Value::int(2)),
            ])),
        ),
        ("labels", map(&[("role", "general")])),
        (
            "taints",
            Value::List(vec![taint("dedicated", "batch", "NO_SCHEDULE")]),
        ),
        ("version", Value::string("1.30")),
        ("tags", tags("workers", &[("team", "platform")])),
    ]);
    let (id, created) = create(&groups, "workers", &inputs).await;
    assert_eq!(id, "main/workers");
    assert_eq!(s(&created, "id"), id);
    assert!(
        s(&created, "arn").starts_with(&format!(
            "arn:aws:eks:{REGION}:123456789012:nodegroup/main/workers/"
        )),
        "{created:?}"
    );
    assert_eq!(s(&created, "status"), "ACTIVE");
    for (attr, want) in &inputs {
        assert_eq!(&created[attr], want, "{attr}");
    }

    // A second group with the defaults the stack would fill in.
    let minimal = attrs(&[
        ("cluster_name", Value::string("main")),
        ("name", Value::string("minimal")),
        ("node_role_arn", Value::string(NODE_ROLE)),
        ("subnet_ids", strings(&["subnet-0a"])),
        ("capacity_type", Value::string("ON_DEMAND")),
        ("disk_size", Value::int(20)),
        ("tags", tags("minimal", &[])),
    ]);
    let (minimal_id, minimal_attrs) = create(&groups, "minimal", &minimal).await;
    assert_eq!(minimal_attrs["disk_size"], Value::int(20));
    assert_eq!(minimal_attrs["taints"], Value::List(vec![]));

    // Observe: unknown node groups, clusters and malformed ids are simply absent.
    let found = observe(
        &groups,
        &[&id, "main/nope", "gone/workers", "garbage", &minimal_id],
    )
    .await;
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        [&minimal_id, &id],
        "{found:?}"
    );
    assert_eq!(found[&id], created);

    // Scaling, labels and taints change in place, in one configuration update.
    let mut wanted = inputs.clone();
    wanted.insert(
        "scaling".into(),
        Value::Map(BTreeMap::from([
            ("min".to_string(), Value::int(2)),
            ("max".to_string(), Value::int(6)),
            ("desired".to_string(), Value::int(3)),
        ])),
    );
    wanted.insert("labels".into(), map(&[("tier", "batch")]));
    wanted.insert(
        "taints".into(),
        Value::List(vec![
            taint("spot", "true", "PREFER_NO_SCHEDULE"),
            taint("dedicated", "gpu", "NO_SCHEDULE"),
        ]),
    );
    clients.calls().reset();
    let updated = update(
        &groups,
        &id,
        &wanted,
        &created,
        &["scaling", "labels", "taints"],
    )
    .await;
    assert_eq!(
        calls(&clients).get("UpdateNodegroupConfig"),
        Some(&1),
        "one update for all three"
    );
    let live = observe(&groups, &[&id]).await.remove(&id).unwrap();
    assert_eq!(updated, live);
    assert_eq!(live["scaling"], wanted["scaling"]);
    assert_eq!(live["labels"], wanted["labels"], "role removed, tier added");
    let schema = groups.schema();
    assert_eq!(
        schema.normalized("taints", &live["taints"]),
        schema.normalized("taints", &wanted["taints"]),
        "dedicated changed in place, spot added"
    );

    // Tags: moto's TagResource and UntagResource know only clusters and answer
    // ResourceNotFoundException for a node group's ARN; the calls are made and fail
    // naming themselves. Whether the tags change is not checked.
    let mut retagged = wanted.clone();
    retagged.insert("tags".into(), tags("workers", &[("team", "data")]));
    assert_api_error(
        try_update(&groups, &id, &retagged, &live, &["tags"]).await,
        "TagResource",
    );

    // The nodes' Kubernetes version: moto has no UpdateNodegroupVersion (404).
    let mut newer = wanted.clone();
    newer.insert("version".into(), Value::string("1.31"));
    assert_api_error(
        try_update(&groups, &id, &newer, &live, &["version"]).await,
        "UpdateNodegroupVersion",
    );

    // Found again by ownership tags.
    assert_eq!(find(&groups, STACK, Some("workers")).await, [id.as_str()]);
    assert_eq!(
        find(&groups, STACK, None).await,
        [minimal_id.clone(), id.clone()]
    );
    assert!(find(&groups, STACK, Some("work?rs")).await.is_empty());
    assert!(find(&groups, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&groups, &id, &live).await;
    delete_twice_and_gone(&groups, &minimal_id, &minimal_attrs).await;
    delete_twice_and_gone(&clusters, &cluster, &cluster_attrs).await;
    // With the cluster gone, its node groups are still simply absent, and deleting one
    // still succeeds.
    delete(&groups, &id, &live).await;
    assert!(observe(&groups, &[&id]).await.is_empty());
}

#[tokio::test]
async fn add_ons_are_created_through_the_real_api() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let clusters = Cluster::new(clients.clone());
    let addons = Addon::new(clients.clone());
    let (cluster, cluster_attrs) =
        create(&clusters, "cluster", &cluster_inputs("main", "cluster")).await;

    let inputs = attrs(&[
        ("cluster_name", Value::string("main")),
        ("name", Value::string("vpc-cni")),
        ("version", Value::string("v1.18.3-eksbuild.1")),
        ("resolve_conflicts", Value::string("OVERWRITE")),
        ("tags", tags("vpc_cni", &[])),
    ]);
    // moto has no EKS add-on API at all (CreateAddon, DescribeAddon, ListAddons... answer
    // 404): the create is made as against AWS and fails with an error naming it.
    assert_api_error(try_create(&addons, "vpc_cni", &inputs).await, "CreateAddon");
    assert_eq!(calls(&clients).get("CreateAddon"), Some(&1));
    // Malformed ids are refused before any call.
    let bad = addons
        .delete(DeleteRequest {
            region: REGION,
            id: "no-slash",
            prior: &Attributes::new(),
        })
        .await;
    assert!(matches!(bad, Err(ProviderError::Invalid(_))), "{bad:?}");

    delete_twice_and_gone(&clusters, &cluster, &cluster_attrs).await;
}
