//! `aws.elasticache.replication_group`: a Redis replication group, cluster mode disabled
//! (one primary and its replicas) or enabled (shards, each with replicas).
//!
//! Deletion: ElastiCache deletes a group over several minutes, during which its status is
//! `deleting` and nothing can stop it. `delete` waits for the end with the SDK's waiter, up
//! to a bound ([`DEFAULT_DELETE_WAIT`], or `TERRANE_ELASTICACHE_DELETE_WAIT_SECS`); when
//! the bound passes with the group still `deleting`, it logs a warning and succeeds, since
//! AWS has accepted the delete and it cannot be undone. `observe` and `find_by_ownership`
//! accordingly report a `deleting` group as absent: it is on its way out and is no longer a
//! resource anything can use. (The id stays taken until AWS finishes, so a re-create of the
//! same id fails with ReplicationGroupAlreadyExists until then.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticache::client::Waiters;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, ClusterMode, MultiAzStatus,
    ReplicationGroup as SdkReplicationGroup,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::{AwsError, api_error, waiter_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, TAG_CONCURRENCY, input_bool, input_i32, input_str, input_strings, list_tags,
    put_bool, put_int, put_str, require_str, retain_owned, sdk_tags, strings_value, sync_tags,
    wanted,
};

pub const TYPE_NAME: &str = "aws.elasticache.replication_group";

const NOT_FOUND: &[&str] = &["ReplicationGroupNotFoundFault"];

const DEFAULT_DESCRIPTION: &str = "Managed by terrane";

/// How long a create or modify waits for the group to be available.
const WAIT_FOR_AVAILABLE: Duration = Duration::from_secs(60 * 60);

/// How long a delete waits for the group to be gone, unless
/// `TERRANE_ELASTICACHE_DELETE_WAIT_SECS` says otherwise (see the module's documentation).
pub const DEFAULT_DELETE_WAIT: Duration = Duration::from_secs(30 * 60);

pub struct ReplicationGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
    delete_wait: Duration,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Redis replication group: a primary with replicas (cluster mode disabled) or shards with replicas (cluster mode enabled).",
        attributes: vec![
            AttrSchema::required("replication_group_id", String)
                .forces_replacement()
                .describe("The group's id (lower case, unique in the region); also terrane's id."),
            AttrSchema::optional("description", String)
                .default(DefaultValue::Str(DEFAULT_DESCRIPTION))
                .describe("A description of the group."),
            AttrSchema::required("node_type", String)
                .describe("The node type, e.g. cache.t4g.micro; changed in place."),
            AttrSchema::optional("engine_version", String)
                .describe("The Redis version, e.g. 7.1; upgraded in place."),
            AttrSchema::optional("cluster_mode", String).describe(
                "`disabled` (one shard), `enabled` (several shards) or `compatible` (the step between them).",
            ),
            AttrSchema::optional("num_cache_clusters", Number).describe(
                "Cluster mode disabled: the number of nodes, primary included; changed in place by adding or removing replicas.",
            ),
            AttrSchema::optional("num_node_groups", Number)
                .describe("Cluster mode enabled: the number of shards; changed in place by resharding."),
            AttrSchema::optional("replicas_per_node_group", Number)
                .describe("Cluster mode enabled: replicas in each shard; changed in place."),
            AttrSchema::optional("at_rest_encryption", Bool)
                .forces_replacement()
                .describe("Whether data at rest is encrypted."),
            AttrSchema::optional("transit_encryption", Bool)
                .forces_replacement()
                .describe("Whether connections use TLS."),
            AttrSchema::optional("automatic_failover", Bool)
                .describe("Whether a replica is promoted when the primary fails (needs a replica)."),
            AttrSchema::optional("multi_az", Bool)
                .describe("Whether replicas are kept in other availability zones (needs automatic failover)."),
            AttrSchema::optional("subnet_group_name", String)
                .forces_replacement()
                .describe("The cache subnet group, and so the VPC, of the nodes."),
            AttrSchema::optional("security_group_ids", List)
                .unordered()
                .describe("The VPC security groups of the nodes."),
            AttrSchema::optional("parameter_group_name", String)
                .describe("The cache parameter group; the family's default when unset."),
            AttrSchema::optional("snapshot_retention_limit", Number)
                .describe("Days automatic snapshots are kept (0 turns them off)."),
            AttrSchema::optional("tags", Map).describe("Tags on the group."),
            AttrSchema::computed("id", String).describe("The group's id."),
            AttrSchema::computed("arn", String).describe("The group's ARN."),
            AttrSchema::computed("primary_endpoint", String)
                .describe("Cluster mode disabled: the address writes go to."),
            AttrSchema::computed("reader_endpoint", String)
                .describe("Cluster mode disabled: the address spreading reads over the replicas."),
            AttrSchema::computed("configuration_endpoint", String)
                .describe("Cluster mode enabled: the address clients discover the shards from."),
            AttrSchema::computed("port", Number).describe("The port clients connect to."),
            AttrSchema::computed("status", String).describe("The group's status, e.g. available."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "cache:\n  type: aws.elasticache.replication_group\n  properties:\n    replication_group_id: app-cache\n    node_type: cache.t4g.micro\n    engine_version: \"7.1\"\n    num_cache_clusters: 2\n    automatic_failover: true\n    at_rest_encryption: true\n    transit_encryption: true\n    subnet_group_name: ${cache_subnets.id}\n",
    }
}

/// A group as terrane's attributes; `clusters` are its member cache clusters, which alone
/// report the engine version, subnet group, security groups and parameter group. Where no
/// member is described, those attributes are left out (the plan then compares them with
/// what was recorded).
fn attributes(g: &SdkReplicationGroup, clusters: &[&CacheCluster]) -> Option<(String, Attributes)> {
    let id = g.replication_group_id()?;
    let mut a = Attributes::new();
    a.insert("id".into(), Value::string(id));
    a.insert("replication_group_id".into(), Value::string(id));
    put_str(&mut a, "description", g.description());
    put_str(&mut a, "node_type", g.cache_node_type());
    let cluster_mode = match g.cluster_mode() {
        Some(m) => Some(m.as_str().to_string()),
        None => g
            .cluster_enabled()
            .map(|on| if on { "enabled" } else { "disabled" }.to_string()),
    };
    put_str(&mut a, "cluster_mode", cluster_mode.as_deref());
    let members = i32::try_from(g.member_clusters().len()).unwrap_or(i32::MAX);
    put_int(&mut a, "num_cache_clusters", Some(members));
    let shards = g.node_groups();
    put_int(
        &mut a,
        "num_node_groups",
        Some(i32::try_from(shards.len()).unwrap_or(i32::MAX)),
    );
    if let Some(first) = shards.first() {
        let replicas = i32::try_from(first.node_group_members().len()).unwrap_or(i32::MAX) - 1;
        put_int(&mut a, "replicas_per_node_group", Some(replicas.max(0)));
    }
    put_bool(&mut a, "at_rest_encryption", g.at_rest_encryption_enabled());
    put_bool(&mut a, "transit_encryption", g.transit_encryption_enabled());
    put_bool(
        &mut a,
        "automatic_failover",
        g.automatic_failover().map(|s| {
            matches!(
                s,
                AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling
            )
        }),
    );
    put_bool(
        &mut a,
        "multi_az",
        g.multi_az().map(|s| matches!(s, MultiAzStatus::Enabled)),
    );
    put_int(
        &mut a,
        "snapshot_retention_limit",
        g.snapshot_retention_limit(),
    );
    if let Some(c) = clusters.first() {
        put_str(&mut a, "engine_version", c.engine_version());
        put_str(&mut a, "subnet_group_name", c.cache_subnet_group_name());
        put_str(
            &mut a,
            "parameter_group_name",
            c.cache_parameter_group()
                .and_then(|p| p.cache_parameter_group_name()),
        );
        a.insert(
            "security_group_ids".into(),
            strings_value(
                c.security_groups()
                    .iter()
                    .filter_map(|s| s.security_group_id()),
            ),
        );
    }
    put_str(&mut a, "arn", g.arn());
    if let Some(e) = g.configuration_endpoint() {
        put_str(&mut a, "configuration_endpoint", e.address());
        put_int(&mut a, "port", e.port());
    }
    if let Some(shard) = shards.first() {
        if let Some(e) = shard.primary_endpoint() {
            put_str(&mut a, "primary_endpoint", e.address());
            put_int(&mut a, "port", e.port());
        }
        if let Some(e) = shard.reader_endpoint() {
            put_str(&mut a, "reader_endpoint", e.address());
        }
    }
    put_str(&mut a, "status", g.status());
    Some((id.to_string(), a))
}

fn is_deleting(g: &SdkReplicationGroup) -> bool {
    matches!(g.status(), Some("deleting" | "deleted"))
}

impl ReplicationGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        let delete_wait = std::env::var("TERRANE_ELASTICACHE_DELETE_WAIT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_DELETE_WAIT);
        ReplicationGroup {
            clients,
            schema: schema(),
            delete_wait,
        }
    }

    /// The same, waiting at most `wait` for a delete to finish.
    pub fn with_delete_wait(mut self, wait: Duration) -> Self {
        self.delete_wait = wait;
        self
    }

    /// The region's replication groups kept by `keep` (`deleting` ones left out): one
    /// paginated DescribeReplicationGroups (it takes a single id, which fails the call when
    /// unknown), one paginated DescribeCacheClusters for the members' settings, then one
    /// ListTagsForResource per group (no describe call returns tags), a few at once.
    async fn describe(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let groups: Vec<SdkReplicationGroup> = client
            .describe_replication_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeReplicationGroups"))?;
        let groups: Vec<&SdkReplicationGroup> = groups
            .iter()
            .filter(|g| !is_deleting(g) && g.replication_group_id().is_some_and(&keep))
            .collect();
        if groups.is_empty() {
            return Ok(BTreeMap::new());
        }
        let clusters: Vec<CacheCluster> = client
            .describe_cache_clusters()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeCacheClusters"))?;
        let found: Vec<(String, Attributes)> = groups
            .iter()
            .filter_map(|g| {
                let members: Vec<&CacheCluster> = clusters
                    .iter()
                    .filter(|c| c.replication_group_id() == g.replication_group_id())
                    .collect();
                attributes(g, &members)
            })
            .collect();
        futures::stream::iter(found.into_iter().map(|(id, mut attrs)| {
            let client = client.clone();
            async move {
                let Some(arn) = attrs.get("arn").and_then(Value::as_str).map(str::to_string) else {
                    return Ok(Some((id, attrs)));
                };
                Ok(list_tags(&client, &arn, NOT_FOUND).await?.map(|t| {
                    attrs.insert("tags".into(), t);
                    (id, attrs)
                }))
            }
        }))
        .buffer_unordered(TAG_CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, |n| n == id)
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("replication group {id}")))
    }

    async fn wait_available(
        &self,
        client: &aws_sdk_elasticache::Client,
        id: &str,
    ) -> Result<(), ProviderError> {
        client
            .wait_until_replication_group_available()
            .replication_group_id(id)
            .wait(WAIT_FOR_AVAILABLE)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!(
                        "wait (up to {} min) for replication group {id} to be available",
                        WAIT_FOR_AVAILABLE.as_secs() / 60
                    ),
                    e,
                )
            })?;
        Ok(())
    }
}

fn cluster_mode(inputs: &Attributes) -> Option<ClusterMode> {
    input_str(inputs, "cluster_mode").map(|m| ClusterMode::from(m.as_str()))
}

#[async_trait]
impl ResourceType for ReplicationGroup {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids = wanted(req.ids);
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let found = self.describe(req.region, |n| ids.contains(n)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let id = require_str(inputs, "replication_group_id")?;
        // CreateReplicationGroup takes no idempotency token: a repeat fails with
        // ReplicationGroupAlreadyExists, and crash recovery finds the group by its tags.
        client
            .create_replication_group()
            .replication_group_id(&id)
            .replication_group_description(
                input_str(inputs, "description").unwrap_or_else(|| DEFAULT_DESCRIPTION.into()),
            )
            .engine("redis")
            .set_engine_version(input_str(inputs, "engine_version"))
            .cache_node_type(require_str(inputs, "node_type")?)
            .set_cluster_mode(cluster_mode(inputs))
            .set_num_cache_clusters(input_i32(inputs, "num_cache_clusters")?)
            .set_num_node_groups(input_i32(inputs, "num_node_groups")?)
            .set_replicas_per_node_group(input_i32(inputs, "replicas_per_node_group")?)
            .set_at_rest_encryption_enabled(input_bool(inputs, "at_rest_encryption")?)
            .set_transit_encryption_enabled(input_bool(inputs, "transit_encryption")?)
            .set_automatic_failover_enabled(input_bool(inputs, "automatic_failover")?)
            .set_multi_az_enabled(input_bool(inputs, "multi_az")?)
            .set_cache_subnet_group_name(input_str(inputs, "subnet_group_name"))
            .set_security_group_ids(input_strings(inputs, "security_group_ids")?)
            .set_cache_parameter_group_name(input_str(inputs, "parameter_group_name"))
            .set_snapshot_retention_limit(input_i32(inputs, "snapshot_retention_limit")?)
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateReplicationGroup"))?;
        self.wait_available(&client, &id).await?;
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        let changed = |name: &str| req.changed.iter().any(|c| c == name);

        // Settings of ModifyReplicationGroup, in one call.
        let mut modify = client
            .modify_replication_group()
            .replication_group_id(req.id)
            .apply_immediately(true);
        let mut any = false;
        for (name, set) in [
            ("description", 0),
            ("node_type", 1),
            ("engine_version", 2),
            ("cluster_mode", 3),
            ("automatic_failover", 4),
            ("multi_az", 5),
            ("security_group_ids", 6),
            ("parameter_group_name", 7),
            ("snapshot_retention_limit", 8),
        ] {
            if !changed(name) {
                continue;
            }
            any = true;
            modify = match set {
                0 => modify.set_replication_group_description(input_str(inputs, name)),
                1 => modify.set_cache_node_type(input_str(inputs, name)),
                2 => modify.set_engine_version(input_str(inputs, name)),
                3 => modify.set_cluster_mode(cluster_mode(inputs)),
                4 => modify.set_automatic_failover_enabled(input_bool(inputs, name)?),
                5 => modify.set_multi_az_enabled(input_bool(inputs, name)?),
                6 => modify.set_security_group_ids(input_strings(inputs, name)?),
                7 => modify.set_cache_parameter_group_name(input_str(inputs, name)),
                _ => modify.set_snapshot_retention_limit(input_i32(inputs, name)?),
            };
        }
        if any {
            modify
                .send()
                .await
                .map_err(api_error("ModifyReplicationGroup"))?;
            self.wait_available(&client, req.id).await?;
        }

        // Shards: ModifyReplicationGroupShardConfiguration.
        if changed("num_node_groups")
            && let Some(count) = input_i32(inputs, "num_node_groups")?
        {
            client
                .modify_replication_group_shard_configuration()
                .replication_group_id(req.id)
                .node_group_count(count)
                .apply_immediately(true)
                .send()
                .await
                .map_err(api_error("ModifyReplicationGroupShardConfiguration"))?;
            self.wait_available(&client, req.id).await?;
        }

        // Replicas: IncreaseReplicaCount / DecreaseReplicaCount, to a count of replicas
        // (per shard with cluster mode enabled; nodes minus the primary without).
        let replicas = |have: Option<i32>, want: Option<i32>| have.zip(want);
        let target = if changed("replicas_per_node_group") {
            replicas(
                input_i32(req.prior, "replicas_per_node_group")?,
                input_i32(inputs, "replicas_per_node_group")?,
            )
        } else if changed("num_cache_clusters") {
            replicas(
                input_i32(req.prior, "num_cache_clusters")?.map(|n| n - 1),
                input_i32(inputs, "num_cache_clusters")?.map(|n| n - 1),
            )
        } else {
            None
        };
        if let Some((have, want)) = target
            && have != want
        {
            if want > have {
                client
                    .increase_replica_count()
                    .replication_group_id(req.id)
                    .new_replica_count(want)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(api_error("IncreaseReplicaCount"))?;
            } else {
                client
                    .decrease_replica_count()
                    .replication_group_id(req.id)
                    .new_replica_count(want)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(api_error("DecreaseReplicaCount"))?;
            }
            self.wait_available(&client, req.id).await?;
        }

        if changed("tags") {
            let arn = match input_str(req.prior, "arn") {
                Some(a) => a,
                None => require_str(&self.observe_one(req.region, req.id).await?, "arn")?,
            };
            sync_tags(&client, &arn, inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        match client
            .delete_replication_group()
            .replication_group_id(req.id)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    return Ok(());
                }
                // Already being deleted (a retried delete): wait for it like a new one.
                if !e.is(&[
                    "InvalidReplicationGroupState",
                    "InvalidReplicationGroupStateFault",
                ]) {
                    return Err(e.into_provider("DeleteReplicationGroup"));
                }
            }
        }
        let waited = client
            .wait_until_replication_group_deleted()
            .replication_group_id(req.id)
            .wait(self.delete_wait)
            .await;
        let Err(err) = waited else { return Ok(()) };
        // The bound passed (or the waiter gave up): fine if AWS is still deleting it.
        let status = client
            .describe_replication_groups()
            .replication_group_id(req.id)
            .send()
            .await
            .map_err(AwsError::from_sdk);
        match status {
            Ok(out) if out.replication_groups().iter().all(is_deleting) => {
                tracing::warn!(
                    id = req.id,
                    "replication group still deleting after {} s; AWS finishes it on its own",
                    self.delete_wait.as_secs()
                );
                Ok(())
            }
            Err(e) if e.is(NOT_FOUND) => Ok(()),
            _ => Err(waiter_error(
                &format!("wait for replication group {} to be deleted", req.id),
                err,
            )),
        }
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self.describe(req.region, |_| true).await?;
        Ok(retain_owned(&req, found))
    }
}
