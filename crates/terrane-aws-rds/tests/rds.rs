//! The RDS resource types against a local moto server: create with tags, batched observe
//! (with unknown ids mixed in), in-place updates, discovery by ownership tags, and
//! idempotent deletes.

use std::sync::Arc;

use terrane_aws_rds::AwsClients;
use terrane_aws_rds::db_instance::DbInstance;
use terrane_aws_rds::db_parameter_group::DbParameterGroup;
use terrane_aws_rds::db_subnet_group::DbSubnetGroup;
use terrane_core::{Address, SecretString, Value};
use terrane_provider::{CreateRequest, DeleteRequest, ObserveRequest, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "rds-test";

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

async fn config(moto: &Moto, region: &str) -> aws_config::SdkConfig {
    moto.sdk_config(region).await
}

async fn clients(moto: &Moto) -> Arc<AwsClients> {
    Arc::new(AwsClients::with_config(config(moto, REGION).await))
}

/// Two subnets of a new VPC, in two zones of `region`.
async fn subnets(moto: &Moto, region: &str) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(&config(moto, region).await);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let mut ids = Vec::new();
    for (i, zone) in ["a", "b", "c"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(format!("{region}{zone}"))
            .send()
            .await
            .unwrap();
        ids.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    ids
}

fn sorted(ids: &[&str]) -> Value {
    let mut v: Vec<&str> = ids.to_vec();
    v.sort();
    strings(&v)
}

fn sorted_list(v: &Value) -> Value {
    let mut items: Vec<String> = v
        .as_list()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    items.sort();
    Value::List(items.into_iter().map(Value::String).collect())
}

#[tokio::test]
async fn db_subnet_group_lifecycle() {
    let moto = Moto::start();
    let groups = DbSubnetGroup::new(clients(&moto).await);
    let subnets = subnets(&moto, REGION).await;
    let inputs = attrs(&[
        ("name", Value::string("app-db")),
        ("description", Value::string("app subnets")),
        ("subnet_ids", strings(&[&subnets[1], &subnets[0]])),
        ("tags", tags("db_subnets", &[("team", "data")])),
    ]);
    let (id, created) = create(&groups, "db_subnets", &inputs).await;
    assert_eq!(id, "app-db");
    assert_eq!(s(&created, "id"), "app-db");
    assert_eq!(s(&created, "description"), "app subnets");
    assert_eq!(
        sorted_list(&created["subnet_ids"]),
        sorted(&[&subnets[0], &subnets[1]])
    );
    assert_eq!(created["tags"], inputs["tags"]);
    assert!(s(&created, "arn").ends_with(":subgrp:app-db"));
    assert!(s(&created, "vpc_id").starts_with("vpc-"));

    let (other, other_attrs) = create(
        &groups,
        "other",
        &attrs(&[
            ("name", Value::string("other-db")),
            ("subnet_ids", strings(&[&subnets[0], &subnets[1]])),
            ("tags", tags("other", &[])),
        ]),
    )
    .await;
    assert_eq!(s(&other_attrs, "description"), "Managed by terrane");

    let found = observe(&groups, &[&id, "no-such-group"]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // Tags change in place.
    let mut wanted = inputs.clone();
    wanted.insert("tags".into(), tags("db_subnets", &[("Name", "db")]));
    let updated = update(&groups, &id, &wanted, &created, &["tags"]).await;
    assert_eq!(updated["tags"], wanted["tags"], "team removed, Name added");
    assert_eq!(&observe(&groups, &[&id]).await[&id], &updated);
    // Subnets and description change in place with ModifyDBSubnetGroup on AWS. moto 5.2.5
    // deletes the group on ModifyDBSubnetGroup (a moto bug), so that call is not made here.

    assert_eq!(
        find(&groups, STACK, Some("db_subnets")).await,
        vec![id.clone()]
    );
    let mut both = vec![id.clone(), other.clone()];
    both.sort();
    assert_eq!(find(&groups, STACK, None).await, both);
    assert!(find(&groups, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&groups, &id, &updated).await;
    delete_twice_and_gone(&groups, &other, &other_attrs).await;
}

#[tokio::test]
async fn db_parameter_group_lifecycle() {
    let moto = Moto::start();
    let groups = DbParameterGroup::new(clients(&moto).await);
    let inputs = attrs(&[
        ("name", Value::string("app-pg16")),
        ("family", Value::string("postgres16")),
        ("description", Value::string("app settings")),
        (
            "parameters",
            map(&[("work_mem", "8192"), ("log_min_duration_statement", "500")]),
        ),
        ("tags", tags("params", &[("team", "data")])),
    ]);
    let (id, created) = create(&groups, "params", &inputs).await;
    assert_eq!(id, "app-pg16");
    assert_eq!(s(&created, "family"), "postgres16");
    assert_eq!(s(&created, "description"), "app settings");
    assert_eq!(created["parameters"], inputs["parameters"]);
    assert_eq!(created["tags"], inputs["tags"]);
    assert!(s(&created, "arn").ends_with(":pg:app-pg16"));

    let found = observe(&groups, &[&id, "no-such-group"]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // A value changes and one is added in place (ModifyDBParameterGroup). Removing one
    // resets it with ResetDBParameterGroup, which moto 5.2.5 answers with HTTP 500: no
    // parameter is removed here.
    let mut wanted = inputs.clone();
    wanted.insert(
        "parameters".into(),
        map(&[
            ("work_mem", "16384"),
            ("log_min_duration_statement", "500"),
            ("random_page_cost", "1.1"),
        ]),
    );
    wanted.insert("tags".into(), tags("params", &[]));
    let updated = update(&groups, &id, &wanted, &created, &["parameters", "tags"]).await;
    assert_eq!(updated["parameters"], wanted["parameters"]);
    assert_eq!(updated["tags"], wanted["tags"]);
    assert_eq!(&observe(&groups, &[&id]).await[&id], &updated);

    assert_eq!(find(&groups, STACK, Some("params")).await, vec![id.clone()]);
    assert!(find(&groups, STACK, Some("other")).await.is_empty());

    delete_twice_and_gone(&groups, &id, &updated).await;
}

#[tokio::test]
async fn db_instance_lifecycle_with_a_replica() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let groups = DbSubnetGroup::new(clients.clone());
    let dbs = DbInstance::new(clients.clone());
    let subnets = subnets(&moto, REGION).await;
    let (group, _) = create(
        &groups,
        "db_subnets",
        &attrs(&[
            ("name", Value::string("app-db")),
            ("subnet_ids", strings(&[&subnets[0], &subnets[1]])),
            ("tags", tags("db_subnets", &[])),
        ]),
    )
    .await;

    let inputs = attrs(&[
        ("identifier", Value::string("app-db")),
        ("engine", Value::string("postgres")),
        ("engine_version", Value::string("16.3")),
        ("instance_class", Value::string("db.t4g.micro")),
        ("allocated_storage", Value::int(20)),
        ("storage_type", Value::string("gp3")),
        ("storage_encrypted", Value::Bool(true)),
        ("multi_az", Value::Bool(false)),
        ("username", Value::string("app")),
        (
            "password",
            Value::Secret(SecretString::new("correct-horse-1")),
        ),
        ("db_subnet_group_name", Value::string(&group)),
        ("backup_retention_period", Value::int(7)),
        ("deletion_protection", Value::Bool(false)),
        ("skip_final_snapshot", Value::Bool(true)),
        ("tags", tags("db", &[("team", "data")])),
    ]);
    let (id, created) = create(&dbs, "db", &inputs).await;
    assert_eq!(id, "app-db");
    assert_eq!(s(&created, "identifier"), "app-db");
    assert_eq!(s(&created, "engine"), "postgres");
    assert_eq!(s(&created, "engine_version"), "16.3");
    assert_eq!(s(&created, "instance_class"), "db.t4g.micro");
    assert_eq!(created["allocated_storage"], Value::int(20));
    assert_eq!(s(&created, "storage_type"), "gp3");
    assert_eq!(created["storage_encrypted"], Value::Bool(true));
    assert_eq!(s(&created, "username"), "app");
    assert_eq!(s(&created, "db_subnet_group_name"), "app-db");
    assert_eq!(created["backup_retention_period"], Value::int(7));
    assert_eq!(created["tags"], inputs["tags"]);
    assert_eq!(s(&created, "status"), "available");
    assert!(s(&created, "arn").ends_with(":db:app-db"));
    assert!(!s(&created, "endpoint_address").is_empty());
    assert_eq!(created["endpoint_port"], Value::int(5432));
    assert!(
        !created.contains_key("password"),
        "the password is write-only"
    );

    // A same-region read replica.
    let replica_inputs = attrs(&[
        ("identifier", Value::string("app-db-ro")),
        ("instance_class", Value::string("db.t4g.micro")),
        ("replicate_source_db", Value::string("app-db")),
        ("tags", tags("replica", &[])),
    ]);
    let (replica, replica_attrs) = create(&dbs, "replica", &replica_inputs).await;
    assert_eq!(s(&replica_attrs, "replicate_source_db"), "app-db");
    assert_eq!(replica_attrs["tags"], replica_inputs["tags"]);

    let found = observe(&dbs, &[&id, "no-such-db", &replica]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id, &replica]);
    assert_eq!(found[&id], created);

    // In place: class, storage, backups, password, tags.
    let mut wanted = inputs.clone();
    wanted.insert("instance_class".into(), Value::string("db.t4g.small"));
    wanted.insert("allocated_storage".into(), Value::int(30));
    wanted.insert("backup_retention_period".into(), Value::int(14));
    wanted.insert(
        "password".into(),
        Value::Secret(SecretString::new("correct-horse-2")),
    );
    wanted.insert("tags".into(), tags("db", &[("Name", "app")]));
    let updated = update(
        &dbs,
        &id,
        &wanted,
        &created,
        &[
            "instance_class",
            "allocated_storage",
            "backup_retention_period",
            "password",
            "tags",
        ],
    )
    .await;
    assert_eq!(s(&updated, "instance_class"), "db.t4g.small");
    assert_eq!(updated["allocated_storage"], Value::int(30));
    assert_eq!(updated["backup_retention_period"], Value::int(14));
    assert_eq!(updated["tags"], wanted["tags"]);
    assert_eq!(s(&updated, "arn"), s(&created, "arn"), "same instance");
    assert_eq!(&observe(&dbs, &[&id]).await[&id], &updated);

    assert_eq!(find(&dbs, STACK, Some("db")).await, vec![id.clone()]);
    let mut both = vec![id.clone(), replica.clone()];
    both.sort();
    assert_eq!(find(&dbs, STACK, None).await, both);
    assert!(find(&dbs, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&dbs, &replica, &replica_inputs).await;
    // A final snapshot is taken when asked for.
    let mut keep_snapshot = updated.clone();
    keep_snapshot.insert("skip_final_snapshot".into(), Value::Bool(false));
    delete_twice_and_gone(&dbs, &id, &keep_snapshot).await;
    let rds = aws_sdk_rds::Client::new(&config(&moto, REGION).await);
    let snapshots = rds.describe_db_snapshots().send().await.unwrap();
    assert!(
        snapshots.db_snapshots().iter().any(|s| s
            .db_snapshot_identifier()
            .unwrap()
            .starts_with("app-db-final-")),
        "{snapshots:?}"
    );
}

#[tokio::test]
async fn a_cross_region_replica_is_made_in_its_own_region_from_the_source_arn() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let dbs = DbInstance::new(clients.clone());
    let (_, source) = create(
        &dbs,
        "db",
        &attrs(&[
            ("identifier", Value::string("src-db")),
            ("instance_class", Value::string("db.t4g.micro")),
            ("allocated_storage", Value::int(20)),
            ("username", Value::string("app")),
            ("password", Value::Secret(SecretString::new("pw-123456"))),
            ("tags", tags("db", &[])),
        ]),
    )
    .await;
    let arn = s(&source, "arn");
    // moto serves cross-region replicas only without a subnet group and with the default
    // parameter group (otherwise its describe and delete answer 500), so none is given.
    let inputs = attrs(&[
        ("identifier", Value::string("src-db-eu")),
        ("instance_class", Value::string("db.t4g.micro")),
        ("replicate_source_db", Value::string(&arn)),
        ("tags", tags("replica", &[])),
    ]);
    let address = Address::new("replica");
    let out = dbs
        .create(CreateRequest {
            region: "eu-west-1",
            address: &address,
            inputs: &inputs,
            client_token: "t",
        })
        .await
        .expect("create the cross-region replica");
    assert_eq!(s(&out.attributes, "replicate_source_db"), arn);
    assert!(s(&out.attributes, "arn").contains(":eu-west-1:"));
    let ids = vec![out.id.clone()];
    let found = dbs
        .observe(ObserveRequest {
            region: "eu-west-1",
            ids: &ids,
        })
        .await
        .unwrap()
        .found;
    assert_eq!(found[&out.id], out.attributes);
    for _ in 0..2 {
        dbs.delete(DeleteRequest {
            region: "eu-west-1",
            id: &out.id,
            prior: &out.attributes,
        })
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn aurora_cluster_with_instances() {
    let moto = Moto::start();
    let c = clients(&moto).await;
    let clusters = terrane_aws_rds::db_cluster::DbCluster::new(c.clone());
    let instances = DbInstance::new(c);
    let subnets = subnets(&moto, REGION).await;
    let groups = DbSubnetGroup::new(clients(&moto).await);
    let (group, _) = create(
        &groups,
        "aurora_subnets",
        &attrs(&[
            ("name", Value::string("aurora")),
            ("subnet_ids", strings(&[&subnets[0], &subnets[1]])),
            ("tags", tags("aurora_subnets", &[])),
        ]),
    )
    .await;
    let inputs = attrs(&[
        ("identifier", Value::string("app-aurora")),
        ("engine", Value::string("aurora-postgresql")),
        ("engine_version", Value::string("16.4")),
        ("database_name", Value::string("app")),
        ("username", Value::string("app")),
        (
            "password",
            Value::Secret(SecretString::new("aurora-password-1")),
        ),
        ("db_subnet_group_name", Value::string(&group)),
        ("backup_retention_period", Value::int(7)),
        ("storage_encrypted", Value::Bool(true)),
        ("tags", tags("aurora", &[("team", "data")])),
    ]);
    let (id, created) = create(&clusters, "aurora", &inputs).await;
    assert_eq!(id, "app-aurora");
    assert_eq!(s(&created, "engine"), "aurora-postgresql");
    assert_eq!(s(&created, "database_name"), "app");
    assert_eq!(s(&created, "db_subnet_group_name"), "aurora");
    assert_eq!(created["backup_retention_period"], Value::int(7));
    assert_eq!(created["tags"], inputs["tags"]);
    assert!(!created.contains_key("password"), "never read back");
    assert!(s(&created, "endpoint").contains("app-aurora"));
    assert!(s(&created, "arn").ends_with(":cluster:app-aurora"));

    // Two instances join the cluster: a writer and a reader.
    let mut members = Vec::new();
    for n in 1..=2 {
        let (iid, iattrs) = create(
            &instances,
            &format!("aurora_instance[{n}]"),
            &attrs(&[
                ("identifier", Value::string(format!("app-aurora-{n}"))),
                ("engine", Value::string("aurora-postgresql")),
                ("instance_class", Value::string("db.r6g.large")),
                ("db_cluster_identifier", Value::string(&id)),
                ("tags", tags(&format!("aurora_instance[{n}]"), &[])),
            ]),
        )
        .await;
        assert_eq!(s(&iattrs, "db_cluster_identifier"), id);
        members.push((iid, iattrs));
    }
    let found = observe(&clusters, &["not-a-cluster", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    let mut member_ids: Vec<String> = found[&id]["members"]
        .as_list()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    member_ids.sort();
    assert_eq!(member_ids, ["app-aurora-1", "app-aurora-2"]);

    let mut wanted = inputs.clone();
    wanted.insert("backup_retention_period".into(), Value::int(14));
    wanted.insert("tags".into(), tags("aurora", &[("team", "platform")]));
    let updated = update(
        &clusters,
        &id,
        &wanted,
        &found[&id],
        &["backup_retention_period", "tags"],
    )
    .await;
    assert_eq!(updated["backup_retention_period"], Value::int(14));
    assert_eq!(updated["tags"], wanted["tags"]);

    assert_eq!(
        find(&clusters, STACK, Some("aurora")).await,
        vec![id.clone()]
    );
    assert!(find(&clusters, "another-stack", None).await.is_empty());

    // The engine deletes instances before their cluster (they depend on it).
    for (iid, iattrs) in &members {
        delete_twice_and_gone(&instances, iid, iattrs).await;
    }
    delete_twice_and_gone(&clusters, &id, &updated).await;
}
