//! Stack-level tests of RDS and ElastiCache against the local endpoint.
//!
//! Gaps of the local endpoint (moto 5.2.5) this test works around, each where it matters:
//! - ElastiCache deletes never finish (a replication group stays `deleting`): terrane runs
//!   with `TERRANE_ELASTICACHE_DELETE_WAIT_SECS=1`, and the final check accepts groups of
//!   the stack that are `deleting`.
//! - ElastiCache subnet groups cannot be deleted and parameter groups do not exist at all
//!   (HTTP 500), so the stack has neither; their provider tests say what is checked.
//! - Cross-region RDS replicas work only without a subnet group and parameter group.
//! - Every DB instance has the same `DbiResourceId` (a constant): that an instance is the
//!   same one (or a new one) is told by its `InstanceCreateTime` as well; clusters' resource
//!   ids are unique, as in AWS.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use crate::support::*;

const STACK: &str = "rds-elasticache";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const PASSWORD: &str = "db_password=correct-horse-battery";

/// The terrane binary as `support::terrane` runs it, waiting at most a second for an
/// ElastiCache delete to finish (moto never finishes one).
fn terrane_cli(moto: &Moto, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("TERRANE_ELASTICACHE_DELETE_WAIT_SECS", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("TERRANE_STATE");
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.output().expect("run terrane")
}

/// Applies the stack, which must succeed without showing the password; returns its output.
fn apply(moto: &Moto, dir: &str) -> Output {
    let out = terrane_cli(moto, &["apply", dir, "--var", PASSWORD, "--auto-approve"]);
    expect_code(&out, 0);
    assert!(
        !text(&out).contains("correct-horse-battery"),
        "the password is never shown\n{}",
        text(&out)
    );
    out
}

async fn config(moto: &Moto, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

async fn rds(moto: &Moto, region: &str) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&config(moto, region).await)
}

async fn elasticache(moto: &Moto, region: &str) -> aws_sdk_elasticache::Client {
    aws_sdk_elasticache::Client::new(&config(moto, region).await)
}

fn rds_tags(tags: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn db_instance(
    rds: &aws_sdk_rds::Client,
    id: &str,
) -> Option<aws_sdk_rds::types::DbInstance> {
    rds.describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
        .iter()
        .find(|d| d.db_instance_identifier() == Some(id))
        .cloned()
}

async fn db_cluster(rds: &aws_sdk_rds::Client, id: &str) -> Option<aws_sdk_rds::types::DbCluster> {
    rds.describe_db_clusters()
        .send()
        .await
        .unwrap()
        .db_clusters()
        .iter()
        .find(|c| c.db_cluster_identifier() == Some(id))
        .cloned()
}

/// What tells one DB instance from another: its resource id (a constant in moto) and its
/// creation time.
fn instance_identity(db: &aws_sdk_rds::types::DbInstance) -> (String, String) {
    (
        db.dbi_resource_id().unwrap().to_string(),
        db.instance_create_time().unwrap().to_string(),
    )
}

/// The cluster's members as (instance, is the writer).
fn cluster_members(c: &aws_sdk_rds::types::DbCluster) -> Vec<(String, bool)> {
    let mut members: Vec<(String, bool)> = c
        .db_cluster_members()
        .iter()
        .map(|m| {
            (
                m.db_instance_identifier().unwrap().to_string(),
                m.is_cluster_writer() == Some(true),
            )
        })
        .collect();
    members.sort();
    members
}

/// Checks one region's Aurora cluster `id` and its writer `writer` (with `class`, the
/// cluster keeping backups `retention` days) and returns the cluster's resource id and the
/// writer's identity.
async fn check_aurora(
    rds: &aws_sdk_rds::Client,
    region: &str,
    id: &str,
    writer: &str,
    class: &str,
    retention: i32,
) -> (String, (String, String)) {
    let cluster = db_cluster(rds, id)
        .await
        .unwrap_or_else(|| panic!("cluster {id} in {region}"));
    assert_eq!(cluster.engine(), Some("aurora-postgresql"), "{region}");
    assert_eq!(cluster.engine_version(), Some("16.4"), "{region}");
    assert_eq!(cluster.db_subnet_group(), Some("app-db"), "{region}");
    assert_eq!(cluster.storage_encrypted(), Some(true), "{region}");
    assert_eq!(
        cluster.backup_retention_period(),
        Some(retention),
        "{region}"
    );
    assert_eq!(cluster.database_name(), Some("app"), "{region}");
    assert_eq!(cluster.master_username(), Some("app"), "{region}");
    assert_eq!(
        cluster_members(&cluster),
        [(writer.to_string(), true)],
        "{region}: the writer is the one member"
    );
    let tags = rds_tags(cluster.tag_list());
    assert_eq!(tags["terrane:stack"], STACK, "{region}");
    assert_eq!(
        tags["terrane:address"],
        owned_address(&format!("module.region[\"{region}\"].aurora"))
    );
    assert_eq!(tags["Name"], format!("app-aurora-{region}"));
    assert_eq!(tags["project"], "terrane-tests", "default tags");

    let db = db_instance(rds, writer)
        .await
        .unwrap_or_else(|| panic!("writer {writer} in {region}"));
    assert_eq!(db.engine(), Some("aurora-postgresql"), "{region}");
    assert_eq!(db.db_instance_class(), Some(class), "{region}");
    assert_eq!(db.db_cluster_identifier(), Some(id), "{region}");
    let tags = rds_tags(db.tag_list());
    assert_eq!(tags["terrane:stack"], STACK, "{region}");
    assert_eq!(
        tags["terrane:address"],
        owned_address(&format!("module.region[\"{region}\"].aurora_writer"))
    );
    assert_eq!(tags["role"], "writer");
    assert_eq!(tags["project"], "terrane-tests", "default tags");
    (
        cluster.db_cluster_resource_id().unwrap().to_string(),
        instance_identity(&db),
    )
}

async fn replication_group(
    ec: &aws_sdk_elasticache::Client,
    id: &str,
) -> Option<aws_sdk_elasticache::types::ReplicationGroup> {
    ec.describe_replication_groups()
        .send()
        .await
        .unwrap()
        .replication_groups()
        .iter()
        .find(|g| g.replication_group_id() == Some(id) && g.status() != Some("deleting"))
        .cloned()
}

/// RDS resources of the region carrying the stack's ownership tag.
async fn owned_rds(rds: &aws_sdk_rds::Client) -> Vec<String> {
    let mut owned = Vec::new();
    for d in rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
    {
        if rds_tags(d.tag_list())
            .get("terrane:stack")
            .map(String::as_str)
            == Some(STACK)
        {
            owned.push(d.db_instance_arn().unwrap().to_string());
        }
    }
    for c in rds
        .describe_db_clusters()
        .send()
        .await
        .unwrap()
        .db_clusters()
    {
        if rds_tags(c.tag_list())
            .get("terrane:stack")
            .map(String::as_str)
            == Some(STACK)
        {
            owned.push(c.db_cluster_arn().unwrap().to_string());
        }
    }
    let mut arns: Vec<String> = rds
        .describe_db_subnet_groups()
        .send()
        .await
        .unwrap()
        .db_subnet_groups()
        .iter()
        .filter_map(|g| g.db_subnet_group_arn().map(str::to_string))
        .collect();
    arns.extend(
        rds.describe_db_parameter_groups()
            .send()
            .await
            .unwrap()
            .db_parameter_groups()
            .iter()
            .filter_map(|g| g.db_parameter_group_arn().map(str::to_string)),
    );
    for arn in arns {
        let tags = rds
            .list_tags_for_resource()
            .resource_name(&arn)
            .send()
            .await
            .unwrap();
        if rds_tags(tags.tag_list())
            .get("terrane:stack")
            .map(String::as_str)
            == Some(STACK)
        {
            owned.push(arn);
        }
    }
    owned
}

/// Replication groups of the region carrying the stack's ownership tag, with their status.
async fn owned_cache(ec: &aws_sdk_elasticache::Client) -> Vec<(String, String)> {
    let mut owned = Vec::new();
    for g in ec
        .describe_replication_groups()
        .send()
        .await
        .unwrap()
        .replication_groups()
    {
        let tags = ec
            .list_tags_for_resource()
            .resource_name(g.arn().unwrap())
            .send()
            .await
            .unwrap();
        if tags
            .tag_list()
            .iter()
            .any(|t| t.key() == Some("terrane:stack") && t.value() == Some(STACK))
        {
            owned.push((
                g.replication_group_id().unwrap().to_string(),
                g.status().unwrap_or_default().to_string(),
            ));
        }
    }
    owned
}

#[tokio::test]
async fn postgres_aurora_and_redis_in_two_regions_with_a_cross_region_replica() {
    let moto = Moto::start();
    // An absolute path (joined onto the repository root, it replaces it): the test kit's
    // root is fixed where it was compiled, which may be another checkout sharing the target.
    let work = Workdir::copy_of(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/stacks/rds-elasticache"
    ));
    let dir = work.path().to_str().unwrap();
    let out = apply(&moto, dir);
    assert!(
        stdout(&out).contains("Apply complete: 19 created, 0 updated, 0 replaced, 0 deleted"),
        "{}",
        text(&out)
    );

    let mut identities = BTreeMap::new();
    let mut aurora = BTreeMap::new();
    for region in REGIONS {
        let rds = rds(&moto, region).await;
        let db = db_instance(&rds, "app-db").await.expect("app-db");
        assert_eq!(db.engine(), Some("postgres"), "{region}");
        assert_eq!(db.engine_version(), Some("16.3"), "{region}");
        assert_eq!(db.db_instance_class(), Some("db.t4g.micro"), "{region}");
        assert_eq!(db.allocated_storage(), Some(20), "{region}");
        assert_eq!(db.storage_encrypted(), Some(true), "{region}");
        assert_eq!(db.master_username(), Some("app"), "{region}");
        assert_eq!(db.backup_retention_period(), Some(7), "{region}");
        assert_eq!(
            db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
            Some("app-db")
        );
        assert_eq!(
            db.db_parameter_groups()[0].db_parameter_group_name(),
            Some("app-pg16")
        );
        let tags = rds_tags(db.tag_list());
        assert_eq!(tags["terrane:stack"], STACK);
        assert_eq!(
            tags["terrane:address"],
            owned_address(&format!("module.region[\"{region}\"].db"))
        );
        assert_eq!(tags["Name"], format!("app-db-{region}"));
        assert_eq!(tags["project"], "terrane-tests", "default tags");
        identities.insert(region, instance_identity(&db));
        // The destroy check below sees clusters too.
        let owned = owned_rds(&rds).await;
        assert!(
            owned.iter().any(|arn| arn.ends_with(":cluster:app-aurora")),
            "{region}: {owned:?}"
        );
        aurora.insert(
            region,
            check_aurora(
                &rds,
                region,
                "app-aurora",
                "app-aurora-1",
                "db.r6g.large",
                7,
            )
            .await,
        );

        let subnets = rds
            .describe_db_subnet_groups()
            .db_subnet_group_name("app-db")
            .send()
            .await
            .unwrap();
        assert_eq!(subnets.db_subnet_groups()[0].subnets().len(), 2, "{region}");
        let params = rds
            .describe_db_parameters()
            .db_parameter_group_name("app-pg16")
            .source("user")
            .send()
            .await
            .unwrap();
        assert!(
            params
                .parameters()
                .iter()
                .any(|p| p.parameter_name() == Some("work_mem")
                    && p.parameter_value() == Some("8192")),
            "{params:?}"
        );

        let ec = elasticache(&moto, region).await;
        let cache = replication_group(&ec, "app-cache")
            .await
            .expect("app-cache");
        assert_eq!(cache.cache_node_type(), Some("cache.t4g.micro"));
        assert_eq!(cache.description(), Some("App cache"));
        assert_eq!(cache.node_groups().len(), 2, "two shards");
        assert_eq!(cache.at_rest_encryption_enabled(), Some(true));
        assert_eq!(cache.transit_encryption_enabled(), Some(true));
        assert_eq!(cache.snapshot_retention_limit(), Some(3));
        assert!(cache.configuration_endpoint().is_some());
        assert_eq!(owned_cache(&ec).await.len(), 1, "{region}");
    }
    let source_arn = db_instance(&rds(&moto, "us-east-1").await, "app-db")
        .await
        .unwrap()
        .db_instance_arn()
        .unwrap()
        .to_string();
    let eu = rds(&moto, "eu-west-1").await;
    let replica = db_instance(&eu, "app-db-replica").await.expect("replica");
    assert_eq!(
        replica.read_replica_source_db_instance_identifier(),
        Some(source_arn.as_str())
    );
    assert_eq!(rds_tags(replica.tag_list())["role"], "replica");

    // Nothing to do on an unchanged stack.
    let out = terrane_cli(
        &moto,
        &["plan", dir, "--var", PASSWORD, "--detailed-exitcode"],
    );
    expect_code(&out, 0);

    // In place: the instance classes (PostgreSQL and the Aurora writer), the cache's node
    // type and the cluster's backup retention.
    work.edit(
        "modules/regional/module.yaml",
        "instance_class: db.t4g.micro",
        "instance_class: db.t4g.small",
    );
    work.edit(
        "modules/regional/module.yaml",
        "node_type: cache.t4g.micro",
        "node_type: cache.t4g.small",
    );
    work.edit(
        "modules/regional/module.yaml",
        "instance_class: db.r6g.large",
        "instance_class: db.r6g.xlarge",
    );
    work.edit(
        "modules/regional/module.yaml",
        "backup_retention_period: 7\n      tags: { Name: \"app-aurora-",
        "backup_retention_period: 14\n      tags: { Name: \"app-aurora-",
    );
    let out = apply(&moto, dir);
    assert!(
        stdout(&out).contains("Apply complete: 0 created, 8 updated, 0 replaced, 0 deleted"),
        "{}",
        text(&out)
    );
    for region in REGIONS {
        let db = db_instance(&rds(&moto, region).await, "app-db")
            .await
            .unwrap();
        assert_eq!(db.db_instance_class(), Some("db.t4g.small"), "{region}");
        assert_eq!(
            instance_identity(&db),
            identities[region],
            "{region}: the same instance"
        );
        let rds = rds(&moto, region).await;
        let (cluster_id, writer) = check_aurora(
            &rds,
            region,
            "app-aurora",
            "app-aurora-1",
            "db.r6g.xlarge",
            14,
        )
        .await;
        assert_eq!(cluster_id, aurora[region].0, "{region}: the same cluster");
        assert_eq!(writer, aurora[region].1, "{region}: the same writer");
        let cache = replication_group(&elasticache(&moto, region).await, "app-cache")
            .await
            .unwrap();
        assert_eq!(cache.cache_node_type(), Some("cache.t4g.small"));
    }

    // Replaced: new ids for the cache groups, the replica, the Aurora clusters and their
    // writers.
    work.edit(
        "modules/regional/module.yaml",
        "replication_group_id: app-cache",
        "replication_group_id: app-cache-v2",
    );
    work.edit(
        "stack.yaml",
        "identifier: app-db-replica",
        "identifier: app-db-replica-v2",
    );
    work.edit(
        "modules/regional/module.yaml",
        "identifier: app-aurora\n",
        "identifier: app-aurora-v2\n",
    );
    work.edit(
        "modules/regional/module.yaml",
        "identifier: app-aurora-1\n",
        "identifier: app-aurora-v2-1\n",
    );
    let out = apply(&moto, dir);
    assert!(
        stdout(&out).contains("Apply complete: 0 created, 0 updated, 7 replaced, 0 deleted"),
        "{}",
        text(&out)
    );
    for region in REGIONS {
        let rds = rds(&moto, region).await;
        assert!(db_cluster(&rds, "app-aurora").await.is_none(), "{region}");
        assert!(
            db_instance(&rds, "app-aurora-1").await.is_none(),
            "{region}"
        );
        let (cluster_id, writer) = check_aurora(
            &rds,
            region,
            "app-aurora-v2",
            "app-aurora-v2-1",
            "db.r6g.xlarge",
            14,
        )
        .await;
        assert_ne!(cluster_id, aurora[region].0, "{region}: a new cluster");
        assert_ne!(writer.1, aurora[region].1.1, "{region}: a new writer");

        let ec = elasticache(&moto, region).await;
        assert!(replication_group(&ec, "app-cache-v2").await.is_some());
        // The old group was deleted; moto leaves it `deleting` forever.
        assert!(replication_group(&ec, "app-cache").await.is_none());
    }
    assert!(db_instance(&eu, "app-db-replica").await.is_none());
    let replica = db_instance(&eu, "app-db-replica-v2")
        .await
        .expect("new replica");
    assert_eq!(
        replica.read_replica_source_db_instance_identifier(),
        Some(source_arn.as_str())
    );

    let out = terrane_cli(
        &moto,
        &["plan", dir, "--var", PASSWORD, "--detailed-exitcode"],
    );
    expect_code(&out, 0);

    let out = terrane_cli(
        &moto,
        &["destroy", dir, "--var", PASSWORD, "--auto-approve"],
    );
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("Destroy complete: 0 created, 0 updated, 0 replaced, 19 deleted"),
        "{}",
        text(&out)
    );
    for region in REGIONS {
        assert!(
            owned_rds(&rds(&moto, region).await).await.is_empty(),
            "{region}"
        );
        assert_eq!(
            owned_count(&ec2(&moto, region).await, STACK).await,
            0,
            "{region}"
        );
        // moto never finishes an ElastiCache delete: what is left must be on its way out.
        let left = owned_cache(&elasticache(&moto, region).await).await;
        assert!(
            left.iter().all(|(_, status)| status == "deleting"),
            "{region}: {left:?}"
        );
    }
}
