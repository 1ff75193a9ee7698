//! `aws.memorydb.cluster`: a MemoryDB (Redis OSS or Valkey) cluster of shards and replicas.
//!
//! The SDK has no waiter for MemoryDB, so create and update wait for the cluster to be
//! `available`, and delete for it to be gone, by polling DescribeClusters (bounded).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_memorydb::types::{ReplicaConfigurationRequest, ShardConfigurationRequest};
use terrane_aws_core::inputs::{
    input_bool, input_i32, input_str, put_bool, put_int, put_str, require_str, retain_owned, wanted,
};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, add_tags, input_strings, sdk_tags, strings_value, sync_tags};

pub const TYPE_NAME: &str = "aws.memorydb.cluster";

const NOT_FOUND: &[&str] = &["ClusterNotFoundFault"];

/// How long a cluster may take to become available (a create or a resharding can take
/// tens of minutes) or to go away.
const WAIT: Duration = Duration::from_secs(90 * 60);
const POLL: Duration = Duration::from_secs(15);

const AVAILABLE: &str = "available";

pub struct Cluster {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A MemoryDB cluster: a durable in-memory Redis OSS or Valkey database of shards, each a primary and its replicas.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The cluster's name (unique in the region); also its id."),
            AttrSchema::optional("description", String).describe("A description of the cluster."),
            AttrSchema::required("node_type", String)
                .describe("The nodes' instance class, e.g. `db.t4g.small` (changed in place)."),
            AttrSchema::optional("engine", String)
                .describe("`redis` or `valkey` (a Redis OSS cluster can be moved to Valkey in place)."),
            AttrSchema::optional("engine_version", String)
                .describe("The engine version, e.g. `7.1` (upgraded in place)."),
            AttrSchema::optional("num_shards", Number)
                .default(DefaultValue::Int(1))
                .describe("The number of shards (resharded in place)."),
            AttrSchema::optional("num_replicas_per_shard", Number)
                .default(DefaultValue::Int(1))
                .describe("Replicas per shard, 0-5 (changed in place)."),
            AttrSchema::optional("subnet_group_name", String)
                .forces_replacement()
                .describe("The MemoryDB subnet group the nodes are placed in."),
            AttrSchema::optional("security_group_ids", List)
                .unordered()
                .describe("The VPC security groups of the nodes."),
            AttrSchema::optional("port", Number)
                .forces_replacement()
                .describe("The port the nodes accept connections on (6379 by default)."),
            AttrSchema::optional("tls_enabled", Bool)
                .default(DefaultValue::Bool(true))
                .forces_replacement()
                .describe("Whether connections use TLS (in-transit encryption)."),
            AttrSchema::optional("kms_key_id", String)
                .forces_replacement()
                .describe("The KMS key that encrypts data at rest (AWS's own key when unset)."),
            AttrSchema::optional("acl_name", String)
                .default(DefaultValue::Str("open-access"))
                .describe("The access control list of users allowed to connect."),
            AttrSchema::optional("parameter_group_name", String)
                .describe("The parameter group of the engine settings."),
            AttrSchema::optional("snapshot_retention_limit", Number)
                .describe("Days automatic snapshots are kept (0 turns them off)."),
            AttrSchema::optional("snapshot_window", String)
                .describe("The daily UTC time range of automatic snapshots, e.g. `03:00-04:00`."),
            AttrSchema::optional("maintenance_window", String)
                .describe("The weekly UTC maintenance range, e.g. `sun:05:00-sun:06:00`."),
            AttrSchema::optional("auto_minor_version_upgrade", Bool)
                .forces_replacement()
                .describe("Whether minor engine upgrades are applied automatically (UpdateCluster cannot change it)."),
            AttrSchema::optional("tags", Map).describe("Tags on the cluster."),
            AttrSchema::computed("id", String).describe("The cluster's name."),
            AttrSchema::computed("arn", String).describe("The cluster's ARN."),
            AttrSchema::computed("cluster_endpoint", Map)
                .describe("The cluster's configuration endpoint: `address` and `port`."),
            AttrSchema::computed("status", String).describe("The cluster's status, e.g. `available`."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "cache:\n  type: aws.memorydb.cluster\n  properties:\n    name: tutor-cache\n    node_type: db.t4g.small\n    engine: valkey\n    engine_version: \"7.2\"\n    num_shards: 1\n    num_replicas_per_shard: 1\n    subnet_group_name: ${memorydb_subnets.id}\n    security_group_ids: [\"${cache_sg.id}\"]\n    snapshot_retention_limit: 7\n",
    }
}

/// A described cluster as terrane's attributes (described with its shard details, which
/// alone tell the replicas per shard).
fn cluster_attributes(c: &aws_sdk_memorydb::types::Cluster) -> Option<(String, Attributes)> {
    let name = c.name()?;
    let mut a = Attributes::new();
    a.insert("id".into(), Value::string(name));
    a.insert("name".into(), Value::string(name));
    put_str(&mut a, "description", c.description());
    put_str(&mut a, "node_type", c.node_type());
    put_str(&mut a, "engine", c.engine());
    put_str(&mut a, "engine_version", c.engine_version());
    put_int(&mut a, "num_shards", c.number_of_shards());
    let replicas = c
        .shards()
        .iter()
        .filter_map(|s| s.number_of_nodes())
        .max()
        .map(|nodes| nodes - 1);
    put_int(&mut a, "num_replicas_per_shard", replicas);
    put_str(&mut a, "subnet_group_name", c.subnet_group_name());
    a.insert(
        "security_group_ids".into(),
        strings_value(
            c.security_groups()
                .iter()
                .filter_map(|g| g.security_group_id()),
        ),
    );
    put_bool(&mut a, "tls_enabled", c.tls_enabled());
    put_str(&mut a, "kms_key_id", c.kms_key_id());
    put_str(&mut a, "acl_name", c.acl_name());
    put_str(&mut a, "parameter_group_name", c.parameter_group_name());
    put_int(
        &mut a,
        "snapshot_retention_limit",
        c.snapshot_retention_limit(),
    );
    put_str(&mut a, "snapshot_window", c.snapshot_window());
    put_str(&mut a, "maintenance_window", c.maintenance_window());
    put_bool(
        &mut a,
        "auto_minor_version_upgrade",
        c.auto_minor_version_upgrade(),
    );
    put_str(&mut a, "arn", c.arn());
    put_str(&mut a, "status", c.status());
    if let Some(e) = c.cluster_endpoint() {
        put_int(&mut a, "port", Some(e.port()));
        let mut endpoint = BTreeMap::new();
        if let Some(address) = e.address() {
            endpoint.insert("address".to_string(), Value::string(address));
        }
        endpoint.insert("port".to_string(), Value::int(e.port().into()));
        a.insert("cluster_endpoint".into(), Value::Map(endpoint));
    }
    a.insert("tags".into(), Value::Map(BTreeMap::new()));
    Some((name.to_string(), a))
}

impl Cluster {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Cluster {
            clients,
            schema: schema(),
        }
    }

    /// Every cluster of the region (one paginated DescribeClusters with shard details: by
    /// name it takes a single cluster and fails when that one is unknown), kept where
    /// `keep` says so, then their tags: DescribeClusters returns none, so one ListTags per
    /// cluster kept, a few at once.
    async fn describe(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let clusters: Vec<_> = client
            .describe_clusters()
            .show_shard_details(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeClusters"))?;
        let found = clusters
            .iter()
            .filter_map(cluster_attributes)
            .filter(|(name, _)| keep(name))
            .collect();
        add_tags(&client, found, NOT_FOUND).await
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, |n| n == id)
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("MemoryDB cluster {id}")))
    }

    /// The cluster's status; `None` once it is gone.
    async fn status(
        client: &aws_sdk_memorydb::Client,
        name: &str,
    ) -> Result<Option<String>, ProviderError> {
        match client.describe_clusters().cluster_name(name).send().await {
            Ok(out) => Ok(Some(
                out.clusters()
                    .first()
                    .and_then(|c| c.status())
                    .unwrap_or_default()
                    .to_string(),
            )),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    Ok(None)
                } else {
                    Err(e.into_provider("DescribeClusters"))
                }
            }
        }
    }

    /// Polls until the cluster is `available` (MemoryDB has no SDK waiter), at most [`WAIT`].
    async fn wait_available(
        client: &aws_sdk_memorydb::Client,
        name: &str,
    ) -> Result<(), ProviderError> {
        let start = Instant::now();
        loop {
            match Self::status(client, name).await? {
                Some(s) if s == AVAILABLE => return Ok(()),
                Some(s) if s == "create-failed" => {
                    return Err(ProviderError::api(
                        "CreateCluster",
                        format!("MemoryDB cluster {name} failed to create"),
                    ));
                }
                None => return Err(ProviderError::NotFound(format!("MemoryDB cluster {name}"))),
                Some(s) => {
                    if start.elapsed() > WAIT {
                        return Err(ProviderError::Timeout(format!(
                            "MemoryDB cluster {name} still `{s}` after {} minutes (waiting for `available`)",
                            WAIT.as_secs() / 60
                        )));
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until the cluster is gone (MemoryDB has no SDK waiter), at most [`WAIT`].
    async fn wait_gone(client: &aws_sdk_memorydb::Client, name: &str) -> Result<(), ProviderError> {
        let start = Instant::now();
        while let Some(s) = Self::status(client, name).await? {
            if start.elapsed() > WAIT {
                return Err(ProviderError::Timeout(format!(
                    "MemoryDB cluster {name} still `{s}` after {} minutes (waiting for its deletion)",
                    WAIT.as_secs() / 60
                )));
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for Cluster {
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
        let name = require_str(inputs, "name")?;
        client
            .create_cluster()
            .cluster_name(&name)
            .set_description(input_str(inputs, "description"))
            .node_type(require_str(inputs, "node_type")?)
            .set_engine(input_str(inputs, "engine"))
            .set_engine_version(input_str(inputs, "engine_version"))
            .set_num_shards(input_i32(inputs, "num_shards")?)
            .set_num_replicas_per_shard(input_i32(inputs, "num_replicas_per_shard")?)
            .set_subnet_group_name(input_str(inputs, "subnet_group_name"))
            .set_security_group_ids(input_strings(inputs, "security_group_ids")?)
            .set_port(input_i32(inputs, "port")?)
            .tls_enabled(input_bool(inputs, "tls_enabled")?.unwrap_or(true))
            .set_kms_key_id(input_str(inputs, "kms_key_id"))
            .acl_name(input_str(inputs, "acl_name").unwrap_or_else(|| "open-access".into()))
            .set_parameter_group_name(input_str(inputs, "parameter_group_name"))
            .set_snapshot_retention_limit(input_i32(inputs, "snapshot_retention_limit")?)
            .set_snapshot_window(input_str(inputs, "snapshot_window"))
            .set_maintenance_window(input_str(inputs, "maintenance_window"))
            .set_auto_minor_version_upgrade(input_bool(inputs, "auto_minor_version_upgrade")?)
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateCluster"))?;
        Self::wait_available(&client, &name).await?;
        let attributes = self.observe_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    /// Settings are changed in one UpdateCluster; then each scaling change (node type,
    /// engine, shards, replicas), which MemoryDB applies one at a time, in its own
    /// UpdateCluster, waiting for the cluster to be available after each.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        let when = |name: &str| changed(name).then(|| input_str(inputs, name)).flatten();
        let settings = [
            "description",
            "security_group_ids",
            "acl_name",
            "parameter_group_name",
            "snapshot_retention_limit",
            "snapshot_window",
            "maintenance_window",
        ];
        if settings.iter().any(|s| changed(s)) {
            client
                .update_cluster()
                .cluster_name(req.id)
                .set_description(when("description"))
                .set_security_group_ids(if changed("security_group_ids") {
                    Some(input_strings(inputs, "security_group_ids")?.unwrap_or_default())
                } else {
                    None
                })
                .set_acl_name(when("acl_name"))
                .set_parameter_group_name(when("parameter_group_name"))
                .set_snapshot_retention_limit(if changed("snapshot_retention_limit") {
                    input_i32(inputs, "snapshot_retention_limit")?
                } else {
                    None
                })
                .set_snapshot_window(when("snapshot_window"))
                .set_maintenance_window(when("maintenance_window"))
                .send()
                .await
                .map_err(api_error("UpdateCluster"))?;
            Self::wait_available(&client, req.id).await?;
        }
        if changed("engine") || changed("engine_version") {
            client
                .update_cluster()
                .cluster_name(req.id)
                .set_engine(input_str(inputs, "engine"))
                .set_engine_version(input_str(inputs, "engine_version"))
                .send()
                .await
                .map_err(api_error("UpdateCluster"))?;
            Self::wait_available(&client, req.id).await?;
        }
        if changed("node_type") {
            client
                .update_cluster()
                .cluster_name(req.id)
                .node_type(require_str(inputs, "node_type")?)
                .send()
                .await
                .map_err(api_error("UpdateCluster"))?;
            Self::wait_available(&client, req.id).await?;
        }
        if changed("num_shards") {
            let count = input_i32(inputs, "num_shards")?.unwrap_or(1);
            client
                .update_cluster()
                .cluster_name(req.id)
                .shard_configuration(
                    ShardConfigurationRequest::builder()
                        .shard_count(count)
                        .build(),
                )
                .send()
                .await
                .map_err(api_error("UpdateCluster"))?;
            Self::wait_available(&client, req.id).await?;
        }
        if changed("num_replicas_per_shard") {
            let count = input_i32(inputs, "num_replicas_per_shard")?.unwrap_or(1);
            client
                .update_cluster()
                .cluster_name(req.id)
                .replica_configuration(
                    ReplicaConfigurationRequest::builder()
                        .replica_count(count)
                        .build(),
                )
                .send()
                .await
                .map_err(api_error("UpdateCluster"))?;
            Self::wait_available(&client, req.id).await?;
        }
        if changed("tags") {
            let arn = require_str(req.prior, "arn")?;
            sync_tags(&client, &arn, inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        match client.delete_cluster().cluster_name(req.id).send().await {
            Ok(_) => {}
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    return Ok(());
                }
                // Already deleting (a retried delete), or busy with an update: wait for
                // the one to finish, or retry once the other has.
                if !e.is(&["InvalidClusterStateFault"]) {
                    return Err(e.into_provider("DeleteCluster"));
                }
                match Self::status(&client, req.id).await? {
                    None => return Ok(()),
                    Some(s) if s == "deleting" => {}
                    Some(_) => {
                        Self::wait_available(&client, req.id).await?;
                        terrane_aws_core::gone_is_ok(
                            "DeleteCluster",
                            client.delete_cluster().cluster_name(req.id).send().await,
                            NOT_FOUND,
                        )?;
                    }
                }
            }
        }
        Self::wait_gone(&client, req.id).await
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self.describe(req.region, |_| true).await?;
        Ok(retain_owned(&req, found))
    }
}
