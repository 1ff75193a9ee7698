//! `aws.ecs.cluster`: an ECS cluster (for Fargate services: capacity providers FARGATE
//! and FARGATE_SPOT). The cloud id is the cluster's name.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ClusterField, ClusterSetting, ClusterSettingName,
};
use terrane_aws_core::inputs::{input_bool, input_strings, is_owned, require_str, wanted};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, Fields, built, input_maps, last_part, map_of, sdk_tags, strings_value, sync_tags,
};

pub const TYPE_NAME: &str = "aws.ecs.cluster";

/// Cluster names per DescribeClusters call (ECS's limit).
const DESCRIBE_BATCH: usize = 100;

const NOT_FOUND: &[&str] = &["ClusterNotFoundException"];

pub struct Cluster {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An ECS cluster: where services and tasks run (on Fargate, on capacity \
                      providers FARGATE and FARGATE_SPOT).",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The cluster's name (its cloud id)."),
            AttrSchema::optional("container_insights", Bool).describe(
                "Whether CloudWatch Container Insights is on (setting `containerInsights`).",
            ),
            AttrSchema::optional("capacity_providers", List)
                .unordered()
                .describe(
                    "Capacity providers the cluster may use, e.g. `FARGATE`, `FARGATE_SPOT`.",
                ),
            AttrSchema::optional("default_capacity_provider_strategy", List).describe(
                "The strategy for services and tasks that name none: a list of maps with \
                 `capacity_provider`, `weight` and `base`.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the cluster."),
            AttrSchema::computed("id", String).describe("The cluster's name."),
            AttrSchema::computed("arn", String).describe("The cluster's ARN."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "cluster:\n  type: aws.ecs.cluster\n  properties:\n    name: app\n    \
                  container_insights: true\n    capacity_providers: [FARGATE, FARGATE_SPOT]\n    \
                  default_capacity_provider_strategy:\n      - capacity_provider: FARGATE\n        \
                  weight: 1\n        base: 1\n",
    }
}

/// Strategy items with ECS's defaults filled in (weight 0, base 0), so that an item
/// written without `base` equals the one ECS reports.
fn normalize(attr: &str, v: &Value) -> Value {
    match (attr, v) {
        ("default_capacity_provider_strategy", Value::List(items)) => Value::List(
            items
                .iter()
                .map(|i| match i {
                    Value::Map(m) => {
                        let mut m = m.clone();
                        for k in ["weight", "base"] {
                            if m.get(k).is_none_or(Value::is_null) {
                                m.insert(k.into(), Value::int(0));
                            }
                        }
                        Value::Map(m)
                    }
                    other => other.clone(),
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

fn strategy(inputs: &Attributes) -> Result<Vec<CapacityProviderStrategyItem>, ProviderError> {
    input_maps(inputs, "default_capacity_provider_strategy")?
        .into_iter()
        .map(|m| {
            built(
                CapacityProviderStrategyItem::builder()
                    .set_capacity_provider(m.str_of("capacity_provider"))
                    .set_weight(m.i32_of("weight")?)
                    .set_base(m.i32_of("base")?)
                    .build(),
            )
        })
        .collect()
}

fn insights_setting(on: bool) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(if on { "enabled" } else { "disabled" })
        .build()
}

fn cluster_attributes(c: &aws_sdk_ecs::types::Cluster) -> Attributes {
    let mut a = Attributes::new();
    let name = c.cluster_name().unwrap_or_default();
    a.insert("name".into(), Value::string(name));
    a.insert("id".into(), Value::string(name));
    if let Some(arn) = c.cluster_arn() {
        a.insert("arn".into(), Value::string(arn));
    }
    let insights = c
        .settings()
        .iter()
        .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
        .and_then(|s| s.value())
        // `enhanced` is Container Insights with enhanced observability: on.
        .map(|v| v != "disabled")
        .unwrap_or(false);
    a.insert("container_insights".into(), Value::Bool(insights));
    a.insert(
        "capacity_providers".into(),
        strings_value(c.capacity_providers()),
    );
    a.insert(
        "default_capacity_provider_strategy".into(),
        Value::List(
            c.default_capacity_provider_strategy()
                .iter()
                .map(|i| {
                    map_of(vec![
                        (
                            "capacity_provider",
                            Some(Value::string(i.capacity_provider())),
                        ),
                        ("weight", Some(Value::int(i.weight().into()))),
                        ("base", Some(Value::int(i.base().into()))),
                    ])
                })
                .collect(),
        ),
    );
    a.insert("tags".into(), crate::tags_value(c.tags()));
    a
}

impl Cluster {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Cluster {
            clients,
            schema: schema(),
        }
    }

    /// The clusters among `names` (names or ARNs) that exist and are not INACTIVE: one
    /// DescribeClusters (with tags and settings) per 100 names.
    async fn describe(
        &self,
        region: &str,
        names: &[&str],
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let mut found = BTreeMap::new();
        for chunk in names.chunks(DESCRIBE_BATCH) {
            let out = client
                .describe_clusters()
                .set_clusters(Some(chunk.iter().map(|s| s.to_string()).collect()))
                .include(ClusterField::Tags)
                .include(ClusterField::Settings)
                .send()
                .await
                .map_err(api_error("DescribeClusters"))?;
            for c in out.clusters() {
                if c.status() == Some("INACTIVE") {
                    continue;
                }
                let attrs = cluster_attributes(c);
                found.insert(c.cluster_name().unwrap_or_default().to_string(), attrs);
            }
        }
        Ok(found)
    }

    async fn read_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, &[name])
            .await?
            .remove(name)
            .ok_or_else(|| ProviderError::NotFound(format!("ECS cluster {name}")))
    }
}

#[async_trait]
impl ResourceType for Cluster {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids: Vec<&str> = wanted(req.ids).into_iter().collect();
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let live = self.describe(req.region, &ids).await?;
        // Under the ids asked for: a name, or an ARN (whose last part is the name).
        let found = ids
            .iter()
            .filter_map(|id| Some((id.to_string(), live.get(last_part(id))?.clone())))
            .collect();
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let name = require_str(inputs, "name")?;
        let providers = input_strings(inputs, "capacity_providers");
        let strategy = strategy(inputs)?;
        client
            .create_cluster()
            .cluster_name(&name)
            .set_settings(
                input_bool(inputs, "container_insights")?.map(|on| vec![insights_setting(on)]),
            )
            .set_capacity_providers((!providers.is_empty()).then_some(providers))
            .set_default_capacity_provider_strategy((!strategy.is_empty()).then_some(strategy))
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateCluster"))?;
        let attributes = self.read_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let changed = |n: &str| req.changed.iter().any(|c| c == n);
        if changed("container_insights") {
            let on = input_bool(inputs, "container_insights")?.unwrap_or(false);
            client
                .update_cluster()
                .cluster(req.id)
                .settings(insights_setting(on))
                .send()
                .await
                .map_err(api_error("UpdateCluster"))?;
        }
        if changed("capacity_providers") || changed("default_capacity_provider_strategy") {
            // PutClusterCapacityProviders replaces both lists: both are always sent.
            client
                .put_cluster_capacity_providers()
                .cluster(req.id)
                .set_capacity_providers(Some(input_strings(inputs, "capacity_providers")))
                .set_default_capacity_provider_strategy(Some(strategy(inputs)?))
                .send()
                .await
                .map_err(api_error("PutClusterCapacityProviders"))?;
        }
        if changed("tags") {
            let arn = req
                .prior
                .get("arn")
                .and_then(Value::as_str)
                .map(str::to_string);
            let arn = match arn {
                Some(a) => a,
                None => self
                    .read_one(req.region, req.id)
                    .await?
                    .get("arn")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            };
            sync_tags(&client, &arn, inputs, req.prior).await?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// DeleteCluster; a cluster already gone (or INACTIVE, which DeleteCluster accepts
    /// again) is fine. The cluster's services must be deleted first (they depend on it).
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteCluster",
            client.delete_cluster().cluster(req.id).send().await,
            NOT_FOUND,
        )
    }

    /// ListClusters, then DescribeClusters (with tags) per 100, keeping the owned ones.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let arns: Vec<String> = client
            .list_clusters()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListClusters"))?;
        let arns: Vec<&str> = arns.iter().map(String::as_str).collect();
        let mut found = self.describe(req.region, &arns).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
