//! `aws.msk.cluster`: a provisioned Amazon MSK (managed Apache Kafka) cluster.
//!
//! The SDK has no waiter for MSK, so create and update wait for the cluster to be
//! `ACTIVE`, and delete for it to be gone, by polling (bounded). Every in-place change
//! names the cluster's current version, read just before the call, since each change
//! makes a new one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_kafka::types::{
    BrokerEbsVolumeInfo, BrokerNodeGroupInfo, ClientAuthentication, ClientBroker, ClusterState,
    ClusterType, EbsStorageInfo, EncryptionAtRest, EncryptionInTransit, EncryptionInfo,
    EnhancedMonitoring, Iam, Sasl, Scram, StorageInfo, Tls, Unauthenticated,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_i32, input_str, input_strings, is_owned, require_str, wanted,
};
use terrane_aws_core::tags::{aws_tags_from_inputs, decoded_tags_value};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.msk.cluster";

const NOT_FOUND: &[&str] = &["NotFoundException"];

/// How long a cluster may take to become active (a create takes 15-40 minutes, a broker
/// change longer) or to go away.
const WAIT: Duration = Duration::from_secs(120 * 60);
const POLL: Duration = Duration::from_secs(30);

/// GetBootstrapBrokers calls in flight at once: ListClustersV2 does not return brokers.
const BROKER_CONCURRENCY: usize = 8;

/// MSK's EBS volume size per broker when none is given (GiB).
const DEFAULT_VOLUME_SIZE: i64 = 1000;

pub struct Cluster {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
    wait: Duration,
    poll: Duration,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A provisioned Amazon MSK cluster: Apache Kafka brokers spread over the subnets of a VPC.",
        attributes: vec![
            AttrSchema::required("cluster_name", String)
                .forces_replacement()
                .describe("The cluster's name."),
            AttrSchema::required("kafka_version", String)
                .describe("The Apache Kafka version, e.g. `3.6.0` (upgraded in place with UpdateClusterKafkaVersion)."),
            AttrSchema::required("number_of_broker_nodes", Number)
                .describe("Brokers in all, a multiple of the number of client subnets (raised in place with UpdateBrokerCount)."),
            AttrSchema::required("broker_node_group_info", Map)
                .describe("The brokers: `instance_type` (e.g. `kafka.m5.large`; changed in place with UpdateBrokerType), `client_subnets` and `security_groups` (lists; MSK cannot change them: a change is refused, replace the cluster by renaming it), `ebs_volume_size` (GiB per broker, 1000 by default; grown in place with UpdateBrokerStorage)."),
            AttrSchema::optional("encryption_info", Map)
                .forces_replacement()
                .describe("Encryption: `at_rest_kms_key_arn` (AWS reports its own key when unset, so give it when the map is given), `in_transit_client_broker` (`TLS` by default, `TLS_PLAINTEXT` or `PLAINTEXT`), `in_transit_in_cluster` (bool, true by default)."),
            AttrSchema::optional("enhanced_monitoring", String)
                .default(DefaultValue::Str("DEFAULT"))
                .describe("`DEFAULT`, `PER_BROKER`, `PER_TOPIC_PER_BROKER` or `PER_TOPIC_PER_PARTITION` (changed in place with UpdateMonitoring)."),
            AttrSchema::optional("client_authentication", Map)
                .describe("How clients authenticate: `sasl_iam`, `sasl_scram`, `unauthenticated` (bools, false when unset), `tls_certificate_authority_arns` (ACM Private CA ARNs for mutual TLS); changed in place with UpdateSecurity."),
            AttrSchema::optional("tags", Map).describe("Tags on the cluster."),
            AttrSchema::computed("arn", String).describe("The cluster's ARN; also its id."),
            AttrSchema::computed("bootstrap_brokers", String)
                .describe("Plaintext bootstrap brokers (`host:9092,...`), when plaintext is allowed."),
            AttrSchema::computed("bootstrap_brokers_tls", String)
                .describe("TLS bootstrap brokers (`host:9094,...`), when TLS is allowed."),
            AttrSchema::computed("bootstrap_brokers_sasl_scram", String)
                .describe("SASL/SCRAM bootstrap brokers (`host:9096,...`), when SCRAM is on."),
            AttrSchema::computed("bootstrap_brokers_sasl_iam", String)
                .describe("IAM bootstrap brokers (`host:9098,...`), when IAM auth is on."),
            AttrSchema::computed("zookeeper_connect_string", String)
                .describe("The ZooKeeper connection string (ZooKeeper-mode clusters)."),
            AttrSchema::computed("current_version", String)
                .describe("The cluster's current version, which every in-place change names."),
            AttrSchema::computed("state", String).describe("The cluster's state, e.g. `ACTIVE`."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "events:\n  type: aws.msk.cluster\n  properties:\n    cluster_name: airtable-events\n    kafka_version: 3.6.0\n    number_of_broker_nodes: 3\n    broker_node_group_info:\n      instance_type: kafka.m5.large\n      client_subnets: [\"${private_a.id}\", \"${private_b.id}\", \"${private_c.id}\"]\n      security_groups: [\"${kafka_sg.id}\"]\n      ebs_volume_size: 100\n    encryption_info:\n      at_rest_kms_key_arn: ${kafka_key.arn}\n      in_transit_client_broker: TLS\n      in_transit_in_cluster: true\n    enhanced_monitoring: PER_BROKER\n    client_authentication:\n      sasl_iam: true\n",
    }
}

fn sorted_strings(v: Option<&Value>) -> Value {
    let mut items: Vec<Value> = v.and_then(Value::as_list).unwrap_or_default().to_vec();
    items.sort_by_key(|x| x.to_string());
    Value::List(items)
}

fn bool_or(m: &BTreeMap<String, Value>, k: &str, default: bool) -> Value {
    match m.get(k) {
        Some(Value::String(s)) if s == "true" => Value::Bool(true),
        Some(Value::String(s)) if s == "false" => Value::Bool(false),
        Some(v @ Value::Bool(_)) => v.clone(),
        Some(Value::Unknown) => Value::Unknown,
        _ => Value::Bool(default),
    }
}

/// The nested maps in one canonical form: lists inside them sorted (their order means
/// nothing), and what MSK fills in when unset filled in the same way.
fn normalize(attr: &str, v: &Value) -> Value {
    let Value::Map(m) = v else {
        return v.clone();
    };
    let mut m = m.clone();
    match attr {
        "broker_node_group_info" => {
            for k in ["client_subnets", "security_groups"] {
                let sorted = sorted_strings(m.get(k));
                m.insert(k.into(), sorted);
            }
            m.entry("ebs_volume_size".into())
                .or_insert(Value::int(DEFAULT_VOLUME_SIZE));
        }
        "encryption_info" => {
            m.entry("in_transit_client_broker".into())
                .or_insert(Value::string("TLS"));
            let in_cluster = bool_or(&m, "in_transit_in_cluster", true);
            m.insert("in_transit_in_cluster".into(), in_cluster);
        }
        "client_authentication" => {
            for k in ["sasl_iam", "sasl_scram", "unauthenticated"] {
                let b = bool_or(&m, k, false);
                m.insert(k.into(), b);
            }
            let arns = sorted_strings(m.get("tls_certificate_authority_arns"));
            m.insert("tls_certificate_authority_arns".into(), arns);
        }
        _ => return v.clone(),
    }
    Value::Map(m)
}

/// A nested map input; empty when unset.
fn input_map(inputs: &Attributes, name: &str) -> Result<Attributes, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(Attributes::new()),
        Some(Value::Map(m)) => Ok(m.clone()),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a map, found a {}",
            other.type_name()
        ))),
    }
}

fn broker_node_group(inputs: &Attributes) -> Result<BrokerNodeGroupInfo, ProviderError> {
    let b = input_map(inputs, "broker_node_group_info")?;
    let size = input_i32(&b, "ebs_volume_size")?;
    Ok(BrokerNodeGroupInfo::builder()
        .instance_type(require_str(&b, "instance_type").map_err(|_| {
            ProviderError::Invalid("`broker_node_group_info.instance_type` is required".into())
        })?)
        .set_client_subnets(Some(input_strings(&b, "client_subnets")))
        .set_security_groups(Some(input_strings(&b, "security_groups")).filter(|s| !s.is_empty()))
        .set_storage_info(size.map(|s| {
            StorageInfo::builder()
                .ebs_storage_info(EbsStorageInfo::builder().volume_size(s).build())
                .build()
        }))
        .build())
}

fn encryption(inputs: &Attributes) -> Result<Option<EncryptionInfo>, ProviderError> {
    if matches!(inputs.get("encryption_info"), None | Some(Value::Null)) {
        return Ok(None);
    }
    let e = input_map(inputs, "encryption_info")?;
    let at_rest = input_str(&e, "at_rest_kms_key_arn").map(|k| {
        EncryptionAtRest::builder()
            .data_volume_kms_key_id(k)
            .build()
    });
    let client_broker = input_str(&e, "in_transit_client_broker");
    let in_cluster = input_bool(&e, "in_transit_in_cluster")?;
    let in_transit = (client_broker.is_some() || in_cluster.is_some()).then(|| {
        EncryptionInTransit::builder()
            .set_client_broker(client_broker.as_deref().map(ClientBroker::from))
            .set_in_cluster(in_cluster)
            .build()
    });
    Ok(Some(
        EncryptionInfo::builder()
            .set_encryption_at_rest(at_rest)
            .set_encryption_in_transit(in_transit)
            .build(),
    ))
}

fn client_auth(inputs: &Attributes) -> Result<Option<ClientAuthentication>, ProviderError> {
    if matches!(
        inputs.get("client_authentication"),
        None | Some(Value::Null)
    ) {
        return Ok(None);
    }
    let c = input_map(inputs, "client_authentication")?;
    let cas = input_strings(&c, "tls_certificate_authority_arns");
    Ok(Some(
        ClientAuthentication::builder()
            .sasl(
                Sasl::builder()
                    .iam(
                        Iam::builder()
                            .enabled(input_bool(&c, "sasl_iam")?.unwrap_or(false))
                            .build(),
                    )
                    .scram(
                        Scram::builder()
                            .enabled(input_bool(&c, "sasl_scram")?.unwrap_or(false))
                            .build(),
                    )
                    .build(),
            )
            .tls(
                Tls::builder()
                    .enabled(!cas.is_empty())
                    .set_certificate_authority_arn_list(Some(cas))
                    .build(),
            )
            .unauthenticated(
                Unauthenticated::builder()
                    .enabled(input_bool(&c, "unauthenticated")?.unwrap_or(false))
                    .build(),
            )
            .build(),
    ))
}

fn strings_value(items: &[String]) -> Value {
    Value::List(items.iter().map(Value::string).collect())
}

/// A listed cluster as terrane's attributes (without its bootstrap brokers); `None` for a
/// serverless cluster, which this type does not manage.
fn cluster_attributes(c: &aws_sdk_kafka::types::Cluster) -> Option<(String, Attributes)> {
    let arn = c.cluster_arn()?;
    let p = c.provisioned()?;
    let mut a = Attributes::new();
    a.insert("arn".into(), Value::string(arn));
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            a.insert(k.into(), Value::string(v));
        }
    };
    put("cluster_name", c.cluster_name());
    put("current_version", c.current_version());
    put("state", c.state().map(ClusterState::as_str));
    put(
        "kafka_version",
        p.current_broker_software_info()
            .and_then(|s| s.kafka_version()),
    );
    put(
        "enhanced_monitoring",
        p.enhanced_monitoring().map(EnhancedMonitoring::as_str),
    );
    put("zookeeper_connect_string", p.zookeeper_connect_string());
    if let Some(n) = p.number_of_broker_nodes() {
        a.insert("number_of_broker_nodes".into(), Value::int(n.into()));
    }
    if let Some(b) = p.broker_node_group_info() {
        let mut m = BTreeMap::new();
        if let Some(t) = b.instance_type() {
            m.insert("instance_type".to_string(), Value::string(t));
        }
        m.insert(
            "client_subnets".to_string(),
            strings_value(b.client_subnets()),
        );
        m.insert(
            "security_groups".to_string(),
            strings_value(b.security_groups()),
        );
        if let Some(size) = b
            .storage_info()
            .and_then(|s| s.ebs_storage_info())
            .and_then(|e| e.volume_size())
        {
            m.insert("ebs_volume_size".to_string(), Value::int(size.into()));
        }
        a.insert("broker_node_group_info".into(), Value::Map(m));
    }
    if let Some(e) = p.encryption_info() {
        let mut m = BTreeMap::new();
        if let Some(k) = e
            .encryption_at_rest()
            .and_then(|r| r.data_volume_kms_key_id())
        {
            m.insert("at_rest_kms_key_arn".to_string(), Value::string(k));
        }
        if let Some(t) = e.encryption_in_transit() {
            if let Some(cb) = t.client_broker() {
                m.insert(
                    "in_transit_client_broker".to_string(),
                    Value::string(cb.as_str()),
                );
            }
            if let Some(ic) = t.in_cluster() {
                m.insert("in_transit_in_cluster".to_string(), Value::Bool(ic));
            }
        }
        a.insert("encryption_info".into(), Value::Map(m));
    }
    if let Some(ca) = p.client_authentication() {
        let enabled = |b: Option<bool>| Value::Bool(b.unwrap_or(false));
        let mut m = BTreeMap::new();
        let sasl = ca.sasl();
        m.insert(
            "sasl_iam".to_string(),
            enabled(sasl.and_then(|s| s.iam()).and_then(|i| i.enabled())),
        );
        m.insert(
            "sasl_scram".to_string(),
            enabled(sasl.and_then(|s| s.scram()).and_then(|i| i.enabled())),
        );
        m.insert(
            "unauthenticated".to_string(),
            enabled(ca.unauthenticated().and_then(|u| u.enabled())),
        );
        m.insert(
            "tls_certificate_authority_arns".to_string(),
            strings_value(
                ca.tls()
                    .map(|t| t.certificate_authority_arn_list())
                    .unwrap_or_default(),
            ),
        );
        a.insert("client_authentication".into(), Value::Map(m));
    }
    let tags = c
        .tags()
        .map(|t| {
            decoded_tags_value(
                t.iter()
                    .filter(|(k, _)| !k.starts_with("aws:"))
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
        })
        .unwrap_or(Value::Map(BTreeMap::new()));
    a.insert("tags".into(), tags);
    Some((arn.to_string(), a))
}

/// Whether MSK answers GetBootstrapBrokers for a cluster in this state (not while it is
/// being created, deleted, or after it failed).
fn has_brokers(state: Option<&Value>) -> bool {
    !matches!(
        state.and_then(Value::as_str),
        None | Some("CREATING" | "DELETING" | "FAILED")
    )
}

impl Cluster {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Cluster {
            clients,
            schema: schema(),
            wait: WAIT,
            poll: POLL,
        }
    }

    /// The same type with other bounds on its waits for `ACTIVE` and for deletion.
    pub fn with_wait(mut self, wait: Duration, poll: Duration) -> Self {
        self.wait = wait;
        self.poll = poll;
        self
    }

    /// Every provisioned cluster of the region (one paginated ListClustersV2, which
    /// returns tags too; `name_prefix` narrows it when known), kept where `keep` says so,
    /// with their bootstrap brokers (one GetBootstrapBrokers per cluster kept that has
    /// brokers, a few at once: MSK has no batched read of them).
    async fn list(
        &self,
        region: &str,
        name_prefix: Option<&str>,
        keep: impl Fn(&str, &Attributes) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let clusters: Vec<_> = client
            .list_clusters_v2()
            .cluster_type_filter(ClusterType::Provisioned.as_str())
            .set_cluster_name_filter(name_prefix.map(str::to_string))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListClustersV2"))?;
        let found: Vec<(String, Attributes)> = clusters
            .iter()
            .filter_map(cluster_attributes)
            .filter(|(arn, a)| keep(arn, a))
            .collect();
        futures::stream::iter(found.into_iter().map(|(arn, mut a)| {
            let client = client.clone();
            async move {
                if has_brokers(a.get("state")) {
                    let out = client
                        .get_bootstrap_brokers()
                        .cluster_arn(&arn)
                        .send()
                        .await;
                    match out {
                        Ok(b) => {
                            for (k, v) in [
                                ("bootstrap_brokers", b.bootstrap_broker_string()),
                                ("bootstrap_brokers_tls", b.bootstrap_broker_string_tls()),
                                (
                                    "bootstrap_brokers_sasl_scram",
                                    b.bootstrap_broker_string_sasl_scram(),
                                ),
                                (
                                    "bootstrap_brokers_sasl_iam",
                                    b.bootstrap_broker_string_sasl_iam(),
                                ),
                            ] {
                                if let Some(v) = v {
                                    a.insert(k.into(), Value::string(v));
                                }
                            }
                        }
                        Err(e) => {
                            let e = AwsError::from_sdk(e);
                            if e.is(NOT_FOUND) {
                                return Ok(None);
                            }
                            return Err(e.into_provider("GetBootstrapBrokers"));
                        }
                    }
                }
                Ok(Some((arn, a)))
            }
        }))
        .buffer_unordered(BROKER_CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
    }

    async fn observe_one(
        &self,
        region: &str,
        arn: &str,
        name: Option<&str>,
    ) -> Result<Attributes, ProviderError> {
        self.list(region, name, |a, _| a == arn)
            .await?
            .remove(arn)
            .ok_or_else(|| ProviderError::NotFound(format!("MSK cluster {arn}")))
    }

    /// The cluster's state and current version, without brokers; `None` once it is gone.
    async fn state(
        client: &aws_sdk_kafka::Client,
        arn: &str,
        name: Option<&str>,
    ) -> Result<Option<(String, String)>, ProviderError> {
        let clusters: Vec<_> = client
            .list_clusters_v2()
            .set_cluster_name_filter(name.map(str::to_string))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListClustersV2"))?;
        Ok(clusters
            .iter()
            .find(|c| c.cluster_arn() == Some(arn))
            .map(|c| {
                (
                    c.state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    c.current_version().unwrap_or_default().to_string(),
                )
            }))
    }

    /// The current version every in-place change must name, read just before the change.
    async fn current_version(
        client: &aws_sdk_kafka::Client,
        arn: &str,
    ) -> Result<String, ProviderError> {
        let out = client
            .describe_cluster_v2()
            .cluster_arn(arn)
            .send()
            .await
            .map_err(api_error("DescribeClusterV2"))?;
        out.cluster_info()
            .and_then(|c| c.current_version())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::api("DescribeClusterV2", "no current version"))
    }

    /// Polls until the cluster is `ACTIVE` (MSK has no SDK waiter), at most `self.wait`.
    async fn wait_active(
        &self,
        client: &aws_sdk_kafka::Client,
        arn: &str,
        name: Option<&str>,
    ) -> Result<(), ProviderError> {
        let start = Instant::now();
        loop {
            match Self::state(client, arn, name).await? {
                Some((s, _)) if s == "ACTIVE" => return Ok(()),
                Some((s, _)) if s == "FAILED" => {
                    return Err(ProviderError::api(
                        "CreateCluster",
                        format!("MSK cluster {arn} is FAILED"),
                    ));
                }
                None => return Err(ProviderError::NotFound(format!("MSK cluster {arn}"))),
                Some((s, _)) => {
                    if start.elapsed() >= self.wait {
                        return Err(ProviderError::Timeout(format!(
                            "MSK cluster {arn} still {s} after {} s (waiting for ACTIVE)",
                            self.wait.as_secs()
                        )));
                    }
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Polls until the cluster is gone, at most `self.wait`.
    async fn wait_gone(
        &self,
        client: &aws_sdk_kafka::Client,
        arn: &str,
        name: Option<&str>,
    ) -> Result<(), ProviderError> {
        let start = Instant::now();
        while let Some((s, _)) = Self::state(client, arn, name).await? {
            if start.elapsed() >= self.wait {
                return Err(ProviderError::Timeout(format!(
                    "MSK cluster {arn} still {s} after {} s (waiting for its deletion)",
                    self.wait.as_secs()
                )));
            }
            tokio::time::sleep(self.poll).await;
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
        let found = self
            .list(req.region, None, |arn, _| ids.contains(arn))
            .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let name = require_str(inputs, "cluster_name")?;
        let brokers = input_i32(inputs, "number_of_broker_nodes")?
            .ok_or_else(|| ProviderError::Invalid("`number_of_broker_nodes` is required".into()))?;
        let tags: HashMap<String, String> = aws_tags_from_inputs(inputs).into_iter().collect();
        // CreateCluster takes no idempotency token; a retry after a lost answer is found
        // again by its ownership tags.
        let out = client
            .create_cluster()
            .cluster_name(&name)
            .kafka_version(require_str(inputs, "kafka_version")?)
            .number_of_broker_nodes(brokers)
            .broker_node_group_info(broker_node_group(inputs)?)
            .set_encryption_info(encryption(inputs)?)
            .set_enhanced_monitoring(
                input_str(inputs, "enhanced_monitoring")
                    .as_deref()
                    .map(EnhancedMonitoring::from),
            )
            .set_client_authentication(client_auth(inputs)?)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(api_error("CreateCluster"))?;
        let arn = out
            .cluster_arn()
            .ok_or_else(|| ProviderError::api("CreateCluster", "no cluster ARN returned"))?
            .to_string();
        self.wait_active(&client, &arn, Some(&name)).await?;
        let attributes = self.observe_one(req.region, &arn, Some(&name)).await?;
        Ok(CreateResponse {
            id: arn,
            attributes,
        })
    }

    /// One MSK operation per kind of change, each naming the current version and waited
    /// on until the cluster is ACTIVE again; subnets and security groups cannot change.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        let arn = req.id;
        let name = input_str(inputs, "cluster_name");
        let name = name.as_deref();
        let changed = |n: &str| req.changed.iter().any(|c| c == n);

        if changed("broker_node_group_info") {
            let want = normalize(
                "broker_node_group_info",
                &Value::Map(input_map(inputs, "broker_node_group_info")?),
            );
            let have = normalize(
                "broker_node_group_info",
                &Value::Map(input_map(req.prior, "broker_node_group_info")?),
            );
            let (want, have) = (want.as_map().cloned(), have.as_map().cloned());
            let (want, have) = (want.unwrap_or_default(), have.unwrap_or_default());
            let differs = |k: &str| {
                !want
                    .get(k)
                    .unwrap_or(&Value::Null)
                    .semantically_equal(have.get(k).unwrap_or(&Value::Null))
            };
            for k in ["client_subnets", "security_groups"] {
                if differs(k) {
                    return Err(ProviderError::Invalid(format!(
                        "MSK cannot change a cluster's broker_node_group_info.{k} in place: \
                         replace the cluster (give it a new cluster_name)"
                    )));
                }
            }
            if differs("instance_type") {
                let version = Self::current_version(&client, arn).await?;
                client
                    .update_broker_type()
                    .cluster_arn(arn)
                    .current_version(version)
                    .target_instance_type(require_str(&want, "instance_type")?)
                    .send()
                    .await
                    .map_err(api_error("UpdateBrokerType"))?;
                self.wait_active(&client, arn, name).await?;
            }
            if differs("ebs_volume_size") {
                let size = input_i32(&want, "ebs_volume_size")?.unwrap_or(1000);
                let version = Self::current_version(&client, arn).await?;
                client
                    .update_broker_storage()
                    .cluster_arn(arn)
                    .current_version(version)
                    .target_broker_ebs_volume_info(
                        BrokerEbsVolumeInfo::builder()
                            .kafka_broker_node_id("All")
                            .volume_size_gb(size)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(api_error("UpdateBrokerStorage"))?;
                self.wait_active(&client, arn, name).await?;
            }
        }
        if changed("number_of_broker_nodes") {
            let count = input_i32(inputs, "number_of_broker_nodes")?.ok_or_else(|| {
                ProviderError::Invalid("`number_of_broker_nodes` is required".into())
            })?;
            let version = Self::current_version(&client, arn).await?;
            client
                .update_broker_count()
                .cluster_arn(arn)
                .current_version(version)
                .target_number_of_broker_nodes(count)
                .send()
                .await
                .map_err(api_error("UpdateBrokerCount"))?;
            self.wait_active(&client, arn, name).await?;
        }
        if changed("kafka_version") {
            let version = Self::current_version(&client, arn).await?;
            client
                .update_cluster_kafka_version()
                .cluster_arn(arn)
                .current_version(version)
                .target_kafka_version(require_str(inputs, "kafka_version")?)
                .send()
                .await
                .map_err(api_error("UpdateClusterKafkaVersion"))?;
            self.wait_active(&client, arn, name).await?;
        }
        if changed("enhanced_monitoring") {
            let version = Self::current_version(&client, arn).await?;
            client
                .update_monitoring()
                .cluster_arn(arn)
                .current_version(version)
                .enhanced_monitoring(EnhancedMonitoring::from(
                    input_str(inputs, "enhanced_monitoring")
                        .as_deref()
                        .unwrap_or("DEFAULT"),
                ))
                .send()
                .await
                .map_err(api_error("UpdateMonitoring"))?;
            self.wait_active(&client, arn, name).await?;
        }
        if changed("client_authentication") {
            let version = Self::current_version(&client, arn).await?;
            client
                .update_security()
                .cluster_arn(arn)
                .current_version(version)
                .set_client_authentication(client_auth(inputs)?)
                .send()
                .await
                .map_err(api_error("UpdateSecurity"))?;
            self.wait_active(&client, arn, name).await?;
        }
        if changed("tags") {
            let want: BTreeMap<String, String> = aws_tags_from_inputs(inputs).into_iter().collect();
            let have: BTreeMap<String, String> =
                aws_tags_from_inputs(req.prior).into_iter().collect();
            let removed: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            let added: HashMap<String, String> = want
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagResource"))?;
            }
            if !added.is_empty() {
                client
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(added))
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
        }
        let attributes = self.observe_one(req.region, arn, name).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Looks the cluster up first: gone is done, already DELETING is only waited on.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let name = input_str(req.prior, "cluster_name");
        let name = name.as_deref();
        let Some((state, version)) = Self::state(&client, req.id, name).await? else {
            return Ok(());
        };
        if state != "DELETING" {
            let out = client
                .delete_cluster()
                .cluster_arn(req.id)
                .set_current_version((!version.is_empty()).then_some(version))
                .send()
                .await;
            if terrane_aws_core::unless_gone("DeleteCluster", out, NOT_FOUND)?.is_none() {
                return Ok(());
            }
        }
        self.wait_gone(&client, req.id, name).await
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        self.list(req.region, None, |_, a| is_owned(&req, a)).await
    }
}
