//! `aws.eks.node_group`: a managed node group of an EKS cluster: EC2 instances that join
//! the cluster, with their scaling, Kubernetes labels and taints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::client::Waiters;
use aws_sdk_eks::types::{
    AmiTypes, CapacityTypes, Nodegroup, NodegroupScalingConfig, Taint, TaintEffect, Update,
    UpdateLabelsPayload, UpdateTaintsPayload,
};
use futures::{StreamExt, TryStreamExt};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, DESCRIBE_CONCURRENCY, NOT_FOUND, api_error, check_update, composite_id,
    describe_each, found_or_none, ids_by_cluster, input_i32, input_str, input_string_map,
    input_strings, int_value, list_clusters, owned, pending_update, put_str, require_split_id,
    require_str, split_id, strings_value, sync_tags, tags_map, tags_to_value, wait_error,
};

pub const TYPE_NAME: &str = "aws.eks.node_group";

/// How long a new node group may take to become active.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long one update (version, scaling/labels/taints) may take.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long a deleted node group may take to disappear (its instances are drained).
const DELETE_TIMEOUT: Duration = Duration::from_secs(60 * 60);

pub struct NodeGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An EKS managed node group: EC2 instances, scaled by AWS, that join a cluster as Kubernetes nodes.",
        attributes: vec![
            AttrSchema::required("cluster_name", String)
                .forces_replacement()
                .describe("The cluster the nodes join."),
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The node group's name, unique in its cluster."),
            AttrSchema::required("node_role_arn", String)
                .forces_replacement()
                .describe("The IAM role of the nodes' instance profile."),
            AttrSchema::required("subnet_ids", List)
                .forces_replacement()
                .unordered()
                .describe("Subnets the instances are launched in."),
            AttrSchema::optional("instance_types", List)
                .forces_replacement()
                .describe("EC2 instance types, in order of preference (AWS's default: t3.medium)."),
            AttrSchema::optional("capacity_type", String)
                .forces_replacement()
                .default(DefaultValue::Str("ON_DEMAND"))
                .describe("ON_DEMAND or SPOT."),
            AttrSchema::optional("ami_type", String)
                .forces_replacement()
                .describe("The AMI family, e.g. AL2023_x86_64_STANDARD or BOTTLEROCKET_ARM_64; AWS picks one when unset."),
            AttrSchema::optional("disk_size", Number)
                .forces_replacement()
                .default(DefaultValue::Int(20))
                .describe("Root volume size of each node, in GiB."),
            AttrSchema::optional("scaling", Map).describe(
                "Node counts: `{min, max, desired}` (all three), changed in place.",
            ),
            AttrSchema::optional("labels", Map)
                .describe("Kubernetes labels put on every node."),
            AttrSchema::optional("taints", List).unordered().describe(
                "Kubernetes taints put on every node: `{key, value, effect}`, effect NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE.",
            ),
            AttrSchema::optional("version", String).describe(
                "Kubernetes version of the nodes; the cluster's when unset. Raised in place.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the node group."),
            AttrSchema::computed("id", String)
                .describe("The node group's id: `cluster_name/name`."),
            AttrSchema::computed("arn", String).describe("The node group's ARN."),
            AttrSchema::computed("status", String)
                .describe("CREATING, ACTIVE, UPDATING, DELETING, CREATE_FAILED, DEGRADED..."),
            AttrSchema::computed("release_version", String)
                .describe("The AMI release version of the nodes."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "workers:\n  type: aws.eks.node_group\n  properties:\n    cluster_name: ${cluster.name}\n    name: workers\n    node_role_arn: ${var.node_role_arn}\n    subnet_ids: [\"${subnet_a.id}\", \"${subnet_b.id}\"]\n    instance_types: [m6i.large]\n    scaling: { min: 1, max: 4, desired: 2 }\n    labels: { role: general }\n    taints:\n      - { key: dedicated, value: batch, effect: NO_SCHEDULE }\n",
    }
}

// ---------------------------------------------------------------------------------------
// Taints and scaling

/// A taint in canonical form. Identity (for updates) is key and effect, as in Kubernetes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TaintSpec {
    key: String,
    effect: String,
    value: Option<String>,
}

impl TaintSpec {
    fn to_sdk(&self) -> Taint {
        Taint::builder()
            .key(&self.key)
            .set_value(self.value.clone())
            .effect(TaintEffect::from(self.effect.as_str()))
            .build()
    }

    fn value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("key".to_string(), Value::string(&self.key));
        m.insert("effect".to_string(), Value::string(&self.effect));
        if let Some(v) = &self.value {
            m.insert("value".to_string(), Value::string(v));
        }
        Value::Map(m)
    }
}

/// AWS's spelling of a taint effect; Kubernetes' spelling (`NoSchedule`) is accepted.
fn canonical_effect(effect: &str) -> String {
    match effect {
        "NoSchedule" => "NO_SCHEDULE".into(),
        "NoExecute" => "NO_EXECUTE".into(),
        "PreferNoSchedule" => "PREFER_NO_SCHEDULE".into(),
        other => other.to_ascii_uppercase(),
    }
}

fn parse_taint(v: &Value) -> Result<TaintSpec, String> {
    let m = v
        .as_map()
        .ok_or_else(|| format!("a taint must be a map, found a {}", v.type_name()))?;
    for k in m.keys() {
        if !matches!(k.as_str(), "key" | "value" | "effect") {
            return Err(format!("unknown taint field `{k}` (key, value, effect)"));
        }
    }
    let text = |name: &str| -> Option<String> {
        match m.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let key = text("key").ok_or("a taint needs a `key`")?;
    let effect = canonical_effect(&text("effect").ok_or("a taint needs an `effect`")?);
    if !TaintEffect::values().contains(&effect.as_str()) {
        return Err(format!(
            "taint effect `{effect}` is not one of {}",
            TaintEffect::values().join(", ")
        ));
    }
    let value = text("value").filter(|v| !v.is_empty());
    Ok(TaintSpec { key, effect, value })
}

fn parse_taints(v: &Value) -> Result<BTreeSet<TaintSpec>, String> {
    v.as_list()
        .ok_or_else(|| format!("`taints` must be a list, found a {}", v.type_name()))?
        .iter()
        .map(parse_taint)
        .collect()
}

fn taints_value(taints: &BTreeSet<TaintSpec>) -> Value {
    Value::List(taints.iter().map(TaintSpec::value).collect())
}

fn taints_from_sdk(taints: &[Taint]) -> BTreeSet<TaintSpec> {
    taints
        .iter()
        .filter_map(|t| {
            Some(TaintSpec {
                key: t.key()?.to_string(),
                effect: t.effect()?.as_str().to_string(),
                value: t.value().filter(|v| !v.is_empty()).map(str::to_string),
            })
        })
        .collect()
}

/// The desired taints; `None` when unset.
fn desired_taints(inputs: &Attributes) -> Result<Option<BTreeSet<TaintSpec>>, ProviderError> {
    match inputs.get("taints") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_taints(v)
            .map(Some)
            .map_err(|e| ProviderError::Invalid(format!("taints: {e}"))),
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Scaling {
    min: i32,
    max: i32,
    desired: i32,
}

fn parse_scaling(v: &Value) -> Result<Scaling, String> {
    let m = v
        .as_map()
        .ok_or_else(|| format!("`scaling` must be a map, found a {}", v.type_name()))?;
    for k in m.keys() {
        if !matches!(k.as_str(), "min" | "max" | "desired") {
            return Err(format!("unknown scaling field `{k}` (min, max, desired)"));
        }
    }
    let get = |name: &str| {
        m.get(name)
            .ok_or_else(|| format!("`scaling` needs `{name}`"))
            .and_then(|v| {
                int_value(v).ok_or_else(|| format!("scaling `{name}` must be a whole number"))
            })
    };
    let s = Scaling {
        min: get("min")?,
        max: get("max")?,
        desired: get("desired")?,
    };
    if s.min > s.desired || s.desired > s.max {
        return Err(format!(
            "scaling needs min <= desired <= max, found {}, {}, {}",
            s.min, s.desired, s.max
        ));
    }
    Ok(s)
}

fn scaling_value(s: &Scaling) -> Value {
    Value::Map(BTreeMap::from([
        ("min".to_string(), Value::int(s.min.into())),
        ("max".to_string(), Value::int(s.max.into())),
        ("desired".to_string(), Value::int(s.desired.into())),
    ]))
}

fn desired_scaling(inputs: &Attributes) -> Result<Option<NodegroupScalingConfig>, ProviderError> {
    match inputs.get("scaling") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let s =
                parse_scaling(v).map_err(|e| ProviderError::Invalid(format!("scaling: {e}")))?;
            Ok(Some(
                NodegroupScalingConfig::builder()
                    .min_size(s.min)
                    .max_size(s.max)
                    .desired_size(s.desired)
                    .build(),
            ))
        }
    }
}

/// The schema's normalizer: taints (stack or observed) as the canonical sorted list, and
/// scaling counts as numbers. Anything unreadable or not yet known is left unchanged.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match attr {
        "taints" => parse_taints(value)
            .map(|t| taints_value(&t))
            .unwrap_or_else(|_| value.clone()),
        "scaling" => parse_scaling(value)
            .map(|s| scaling_value(&s))
            .unwrap_or_else(|_| value.clone()),
        _ => value.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// Reading

/// A described node group as the schema's attributes.
fn node_group_attributes(ng: &Nodegroup) -> Option<(String, Attributes)> {
    let cluster = ng.cluster_name()?;
    let name = ng.nodegroup_name()?;
    let id = composite_id(cluster, name);
    let mut attrs = Attributes::new();
    attrs.insert("id".into(), Value::string(&id));
    attrs.insert("cluster_name".into(), Value::string(cluster));
    attrs.insert("name".into(), Value::string(name));
    put_str(&mut attrs, "arn", ng.nodegroup_arn());
    put_str(&mut attrs, "node_role_arn", ng.node_role());
    if let Some(subnets) = &ng.subnets {
        attrs.insert("subnet_ids".into(), strings_value(subnets));
    }
    if let Some(types) = &ng.instance_types {
        attrs.insert("instance_types".into(), strings_value(types));
    }
    put_str(
        &mut attrs,
        "capacity_type",
        ng.capacity_type().map(CapacityTypes::as_str),
    );
    put_str(&mut attrs, "ami_type", ng.ami_type().map(AmiTypes::as_str));
    if let Some(size) = ng.disk_size() {
        attrs.insert("disk_size".into(), Value::int(size.into()));
    }
    if let Some(s) = ng.scaling_config()
        && let (Some(min), Some(max), Some(desired)) =
            (s.min_size(), s.max_size(), s.desired_size())
    {
        attrs.insert(
            "scaling".into(),
            scaling_value(&Scaling { min, max, desired }),
        );
    }
    attrs.insert(
        "labels".into(),
        Value::Map(
            ng.labels
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), Value::string(v)))
                .collect(),
        ),
    );
    attrs.insert("taints".into(), taints_value(&taints_from_sdk(ng.taints())));
    put_str(&mut attrs, "version", ng.version());
    put_str(&mut attrs, "release_version", ng.release_version());
    put_str(&mut attrs, "status", ng.status().map(|s| s.as_str()));
    attrs.insert("tags".into(), tags_to_value(ng.tags.as_ref()));
    Some((id, attrs))
}

impl NodeGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        NodeGroup {
            clients,
            schema: schema(),
        }
    }

    /// The names of the node groups of `cluster` (one paginated ListNodegroups); empty
    /// when the cluster does not exist.
    async fn list(
        client: &aws_sdk_eks::Client,
        cluster: &str,
    ) -> Result<BTreeSet<String>, ProviderError> {
        let listed: Result<Vec<String>, _> = client
            .list_nodegroups()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        Ok(found_or_none("ListNodegroups", listed)?
            .unwrap_or_default()
            .into_iter()
            .collect())
    }

    /// The node groups with these `cluster/name` ids, one DescribeNodegroup each (EKS has
    /// no batched describe), a few at once. Ids that do not exist are absent.
    async fn describe(
        &self,
        region: &str,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        describe_each(ids, |id| {
            let client = client.clone();
            async move {
                let Some((cluster, name)) = split_id(&id) else {
                    return Ok(None);
                };
                let out = found_or_none(
                    "DescribeNodegroup",
                    client
                        .describe_nodegroup()
                        .cluster_name(cluster)
                        .nodegroup_name(name)
                        .send()
                        .await,
                )?;
                Ok(out
                    .as_ref()
                    .and_then(|o| o.nodegroup())
                    .and_then(node_group_attributes)
                    .map(|(_, attrs)| attrs))
            }
        })
        .await
    }

    /// The existing `cluster/name` ids among `wanted` (by cluster), or every node group of
    /// the region when `None`: one ListClusters, then one paginated ListNodegroups per
    /// (wanted) cluster that exists, a few clusters at once.
    async fn existing(
        &self,
        region: &str,
        wanted: Option<BTreeMap<String, BTreeSet<String>>>,
    ) -> Result<Vec<String>, ProviderError> {
        let client = crate::client(&self.clients, region);
        // Only clusters that exist are asked for their list (one ListClusters first).
        let clusters = list_clusters(&client).await?;
        let by_cluster: Vec<(String, Option<BTreeSet<String>>)> = match wanted {
            None => clusters.into_iter().map(|c| (c, None)).collect(),
            Some(mut wanted) => clusters
                .into_iter()
                .filter_map(|c| wanted.remove(&c).map(|names| (c, Some(names))))
                .collect(),
        };
        let per_cluster: Vec<Vec<String>> =
            futures::stream::iter(by_cluster.into_iter().map(|(cluster, wanted)| {
                let client = client.clone();
                async move {
                    let listed = Self::list(&client, &cluster).await?;
                    Ok::<_, ProviderError>(
                        listed
                            .into_iter()
                            .filter(|n| wanted.as_ref().is_none_or(|w| w.contains(n)))
                            .map(|n| composite_id(&cluster, &n))
                            .collect(),
                    )
                }
            }))
            .buffer_unordered(DESCRIBE_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(per_cluster.into_iter().flatten().collect())
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, [id.to_string()])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("EKS node group {id}")))
    }
}

/// Waits for the node group to be active again after an update, then makes sure the
/// update succeeded (from its answer, or DescribeUpdate when it was still in progress).
async fn settle(
    client: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
    operation: &str,
    update: Option<&Update>,
) -> Result<(), ProviderError> {
    check_update(operation, update)?;
    client
        .wait_until_nodegroup_active()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .wait(UPDATE_TIMEOUT)
        .await
        .map_err(|e| wait_error("the EKS node group to be active", UPDATE_TIMEOUT, e))?;
    if let Some(id) = pending_update(update) {
        let out = client
            .describe_update()
            .name(cluster)
            .nodegroup_name(name)
            .update_id(id)
            .send()
            .await
            .map_err(api_error("DescribeUpdate"))?;
        check_update(operation, out.update())?;
    }
    Ok(())
}

/// The label changes taking `have` to `want`; `None` when there are none.
fn labels_payload(
    have: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
) -> Option<UpdateLabelsPayload> {
    let upsert: std::collections::HashMap<String, String> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove: Vec<String> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    (!upsert.is_empty() || !remove.is_empty()).then(|| {
        UpdateLabelsPayload::builder()
            .set_add_or_update_labels((!upsert.is_empty()).then_some(upsert))
            .set_remove_labels((!remove.is_empty()).then_some(remove))
            .build()
    })
}

/// The taint changes taking `have` to `want` (a taint is identified by key and effect);
/// `None` when there are none.
fn taints_payload(
    have: &BTreeSet<TaintSpec>,
    want: &BTreeSet<TaintSpec>,
) -> Option<UpdateTaintsPayload> {
    let upsert: Vec<Taint> = want.difference(have).map(TaintSpec::to_sdk).collect();
    let remove: Vec<Taint> = have
        .iter()
        .filter(|h| !want.iter().any(|w| w.key == h.key && w.effect == h.effect))
        .map(TaintSpec::to_sdk)
        .collect();
    (!upsert.is_empty() || !remove.is_empty()).then(|| {
        UpdateTaintsPayload::builder()
            .set_add_or_update_taints((!upsert.is_empty()).then_some(upsert))
            .set_remove_taints((!remove.is_empty()).then_some(remove))
            .build()
    })
}

fn observed_labels(attrs: &Attributes) -> BTreeMap<String, String> {
    attrs
        .get("labels")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn observed_taints(attrs: &Attributes) -> BTreeSet<TaintSpec> {
    attrs
        .get("taints")
        .and_then(|v| parse_taints(v).ok())
        .unwrap_or_default()
}

#[async_trait]
impl ResourceType for NodeGroup {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        // EKS has no batched describe: ListClusters, then one paginated ListNodegroups per
        // cluster holding requested ids, tell which exist; then one DescribeNodegroup
        // per existing requested id (concurrently).
        let existing = self
            .existing(req.region, Some(ids_by_cluster(req.ids)))
            .await?;
        let found = self.describe(req.region, existing).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let cluster = require_str(inputs, "cluster_name")?;
        let name = require_str(inputs, "name")?;
        let subnets = input_strings(inputs, "subnet_ids")?
            .ok_or_else(|| ProviderError::Invalid("`subnet_ids` is required".into()))?;
        let taints = desired_taints(inputs)?;
        let client = crate::client(&self.clients, req.region);
        client
            .create_nodegroup()
            .cluster_name(&cluster)
            .nodegroup_name(&name)
            .node_role(require_str(inputs, "node_role_arn")?)
            .set_subnets(Some(subnets))
            .set_instance_types(input_strings(inputs, "instance_types")?)
            .set_capacity_type(
                input_str(inputs, "capacity_type").map(|c| CapacityTypes::from(c.as_str())),
            )
            .set_ami_type(input_str(inputs, "ami_type").map(|a| AmiTypes::from(a.as_str())))
            .set_disk_size(input_i32(inputs, "disk_size")?)
            .set_scaling_config(desired_scaling(inputs)?)
            .set_labels(
                input_string_map(inputs, "labels")?
                    .filter(|l| !l.is_empty())
                    .map(|l| l.into_iter().collect()),
            )
            .set_taints(
                taints
                    .filter(|t| !t.is_empty())
                    .map(|t| t.iter().map(TaintSpec::to_sdk).collect()),
            )
            .set_version(input_str(inputs, "version"))
            .set_tags(tags_map(inputs))
            .client_request_token(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateNodegroup"))?;
        client
            .wait_until_nodegroup_active()
            .cluster_name(&cluster)
            .nodegroup_name(&name)
            .wait(CREATE_TIMEOUT)
            .await
            .map_err(|e| wait_error("the new EKS node group to be active", CREATE_TIMEOUT, e))?;
        let id = composite_id(&cluster, &name);
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        let (cluster, name) = require_split_id(req.id, "node group")?;
        let inputs = req.inputs;

        // One update at a time per node group: each is awaited before the next.
        if changed("version")
            && let Some(version) = input_str(inputs, "version")
        {
            let out = client
                .update_nodegroup_version()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .version(version)
                .send()
                .await
                .map_err(api_error("UpdateNodegroupVersion"))?;
            settle(
                &client,
                cluster,
                name,
                "UpdateNodegroupVersion",
                out.update(),
            )
            .await?;
        }

        // Scaling, labels and taints go in one configuration update.
        let scaling = if changed("scaling") {
            desired_scaling(inputs)?
        } else {
            None
        };
        let labels = match (changed("labels"), input_string_map(inputs, "labels")?) {
            (true, Some(want)) => labels_payload(&observed_labels(req.prior), &want),
            _ => None,
        };
        let taints = match (changed("taints"), desired_taints(inputs)?) {
            (true, Some(want)) => taints_payload(&observed_taints(req.prior), &want),
            _ => None,
        };
        if scaling.is_some() || labels.is_some() || taints.is_some() {
            let out = client
                .update_nodegroup_config()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .set_scaling_config(scaling)
                .set_labels(labels)
                .set_taints(taints)
                .send()
                .await
                .map_err(api_error("UpdateNodegroupConfig"))?;
            settle(
                &client,
                cluster,
                name,
                "UpdateNodegroupConfig",
                out.update(),
            )
            .await?;
        }

        if changed("tags") {
            let arn = match req.prior.get("arn").and_then(Value::as_str) {
                Some(arn) => arn.to_string(),
                None => self
                    .observe_one(req.region, req.id)
                    .await?
                    .get("arn")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        ProviderError::api("DescribeNodegroup", "the node group has no ARN")
                    })?
                    .to_string(),
            };
            sync_tags(&client, &arn, inputs, req.prior).await?;
        }

        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let (cluster, name) = require_split_id(req.id, "node group")?;
        let client = crate::client(&self.clients, req.region);
        // Not found covers both the node group and its cluster being gone.
        let deleted = client
            .delete_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await;
        if terrane_aws_core::unless_gone("DeleteNodegroup", deleted, &[NOT_FOUND])?.is_none() {
            return Ok(());
        }
        client
            .wait_until_nodegroup_deleted()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .wait(DELETE_TIMEOUT)
            .await
            .map_err(|e| wait_error("the EKS node group to be deleted", DELETE_TIMEOUT, e))?;
        Ok(())
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        // No EKS list call filters by tag: every node group of every cluster is described.
        let ids = self.existing(req.region, None).await?;
        let mut found = self.describe(req.region, ids).await?;
        found.retain(|_, attrs| owned(&req, attrs));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn taints_compare_in_canonical_form() {
        let stack = Value::List(vec![
            map(&[
                ("key", Value::string("b")),
                ("effect", Value::string("NoSchedule")),
            ]),
            map(&[
                ("key", Value::string("a")),
                ("value", Value::string("x")),
                ("effect", Value::string("no_execute")),
            ]),
        ]);
        let observed = taints_value(&taints_from_sdk(&[
            Taint::builder()
                .key("a")
                .value("x")
                .effect(TaintEffect::NoExecute)
                .build(),
            Taint::builder()
                .key("b")
                .value("")
                .effect(TaintEffect::NoSchedule)
                .build(),
        ]));
        assert_eq!(normalize("taints", &stack), observed);
        assert_eq!(normalize("taints", &observed), observed, "a fixed point");
        let bad = Value::List(vec![map(&[("key", Value::string("a"))])]);
        assert_eq!(normalize("taints", &bad), bad, "unreadable: unchanged");
    }

    #[test]
    fn scaling_needs_all_three_counts_in_order() {
        let ok = map(&[
            ("min", Value::int(1)),
            ("max", Value::string("3")),
            ("desired", Value::int(2)),
        ]);
        assert_eq!(
            normalize("scaling", &ok),
            scaling_value(&Scaling {
                min: 1,
                max: 3,
                desired: 2
            })
        );
        assert!(parse_scaling(&map(&[("min", Value::int(1))])).is_err());
        let inverted = map(&[
            ("min", Value::int(3)),
            ("max", Value::int(1)),
            ("desired", Value::int(2)),
        ]);
        assert!(parse_scaling(&inverted).is_err());
    }

    #[test]
    fn label_and_taint_payloads_carry_only_the_differences() {
        let have = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]);
        let want = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("c".to_string(), "3".to_string()),
        ]);
        let p = labels_payload(&have, &want).unwrap();
        assert_eq!(p.add_or_update_labels().unwrap().len(), 1);
        assert_eq!(p.remove_labels(), ["b"]);
        assert!(labels_payload(&want, &want).is_none());

        let t = |k: &str, v: Option<&str>| TaintSpec {
            key: k.into(),
            effect: "NO_SCHEDULE".into(),
            value: v.map(str::to_string),
        };
        let have = BTreeSet::from([t("a", Some("1")), t("b", None)]);
        let want = BTreeSet::from([t("a", Some("2"))]);
        let p = taints_payload(&have, &want).unwrap();
        assert_eq!(p.add_or_update_taints().len(), 1);
        assert_eq!(p.remove_taints().len(), 1, "a is changed, not removed");
        assert_eq!(p.remove_taints()[0].key(), Some("b"));
        assert!(taints_payload(&want, &want).is_none());
    }
}
