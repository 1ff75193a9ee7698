//! `aws.elasticache.parameter_group`: engine parameters for cache nodes, of one family.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticache::types::{Parameter, ParameterNameValue};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, TAG_CONCURRENCY, input_str, input_string_map, list_tags, put_str, require_str,
    retain_owned, sdk_tags, sync_tags, wanted,
};

pub const TYPE_NAME: &str = "aws.elasticache.parameter_group";

const NOT_FOUND: &[&str] = &[
    "CacheParameterGroupNotFound",
    "CacheParameterGroupNotFoundFault",
];

const DEFAULT_DESCRIPTION: &str = "Managed by terrane";

/// ModifyCacheParameterGroup and ResetCacheParameterGroup take at most 20 parameters.
const PARAMETERS_PER_CALL: usize = 20;

pub struct ParameterGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A cache parameter group: engine settings (e.g. Redis's maxmemory-policy) that cache nodes use.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The group's name (unique in the region); also its id."),
            AttrSchema::required("family", String)
                .forces_replacement()
                .describe("The engine family, e.g. redis7."),
            AttrSchema::optional("description", String)
                .forces_replacement()
                .default(DefaultValue::Str(DEFAULT_DESCRIPTION))
                .describe("A description of the group."),
            AttrSchema::optional("parameters", Map).describe(
                "Parameter name -> value, for the parameters this group sets (the others keep the family's defaults).",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the group."),
            AttrSchema::computed("id", String).describe("The group's name."),
            AttrSchema::computed("arn", String).describe("The group's ARN."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "cache_params:\n  type: aws.elasticache.parameter_group\n  properties:\n    name: app-redis7\n    family: redis7\n    parameters:\n      maxmemory-policy: allkeys-lru\n",
    }
}

impl ParameterGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        ParameterGroup {
            clients,
            schema: schema(),
        }
    }

    /// Every parameter group of the region (one paginated call), kept where `keep` says so.
    /// DescribeCacheParameterGroups returns neither parameters nor tags, so each group kept
    /// costs one DescribeCacheParameters (`Source=user`) and one ListTagsForResource, a few
    /// in flight at once.
    async fn describe(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let groups: Vec<_> = client
            .describe_cache_parameter_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeCacheParameterGroups"))?;
        let mut found = Vec::new();
        for g in &groups {
            let Some(name) = g.cache_parameter_group_name() else {
                continue;
            };
            if !keep(name) {
                continue;
            }
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(name));
            attrs.insert("name".into(), Value::string(name));
            put_str(&mut attrs, "family", g.cache_parameter_group_family());
            put_str(&mut attrs, "description", g.description());
            put_str(&mut attrs, "arn", g.arn());
            found.push((name.to_string(), attrs));
        }
        futures::stream::iter(found.into_iter().map(|(name, mut attrs)| {
            let client = client.clone();
            async move {
                let Some(params) = user_parameters(&client, &name).await? else {
                    return Ok(None);
                };
                attrs.insert(
                    "parameters".into(),
                    Value::Map(
                        params
                            .into_iter()
                            .map(|(k, v)| (k, Value::string(v)))
                            .collect(),
                    ),
                );
                let tags = match attrs.get("arn").and_then(Value::as_str) {
                    Some(arn) => list_tags(&client, arn, NOT_FOUND).await?,
                    None => Some(Value::Map(Default::default())),
                };
                Ok(tags.map(|t| {
                    attrs.insert("tags".into(), t);
                    (name, attrs)
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
            .ok_or_else(|| ProviderError::NotFound(format!("cache parameter group {id}")))
    }
}

/// The parameters a group sets (name -> value); `None` when the group is gone.
async fn user_parameters(
    client: &aws_sdk_elasticache::Client,
    group: &str,
) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
    let result: Result<Vec<Parameter>, _> = client
        .describe_cache_parameters()
        .cache_parameter_group_name(group)
        .source("user")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    match result {
        Ok(params) => Ok(Some(
            params
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_name()?.to_string(),
                        p.parameter_value()?.to_string(),
                    ))
                })
                .collect(),
        )),
        Err(e) => {
            let e = AwsError::from_sdk(e);
            if e.is(NOT_FOUND) {
                Ok(None)
            } else {
                Err(e.into_provider("DescribeCacheParameters"))
            }
        }
    }
}

/// Sets `set` and resets `reset` to the family's defaults.
async fn apply_parameters(
    client: &aws_sdk_elasticache::Client,
    group: &str,
    set: &BTreeMap<String, String>,
    reset: &[String],
) -> Result<(), ProviderError> {
    let set: Vec<ParameterNameValue> = set
        .iter()
        .map(|(k, v)| {
            ParameterNameValue::builder()
                .parameter_name(k)
                .parameter_value(v)
                .build()
        })
        .collect();
    for chunk in set.chunks(PARAMETERS_PER_CALL) {
        client
            .modify_cache_parameter_group()
            .cache_parameter_group_name(group)
            .set_parameter_name_values(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api_error("ModifyCacheParameterGroup"))?;
    }
    let reset: Vec<ParameterNameValue> = reset
        .iter()
        .map(|k| ParameterNameValue::builder().parameter_name(k).build())
        .collect();
    for chunk in reset.chunks(PARAMETERS_PER_CALL) {
        client
            .reset_cache_parameter_group()
            .cache_parameter_group_name(group)
            .reset_all_parameters(false)
            .set_parameter_name_values(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api_error("ResetCacheParameterGroup"))?;
    }
    Ok(())
}

#[async_trait]
impl ResourceType for ParameterGroup {
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
        let parameters = input_string_map(inputs, "parameters")?.unwrap_or_default();
        client
            .create_cache_parameter_group()
            .cache_parameter_group_name(&name)
            .cache_parameter_group_family(require_str(inputs, "family")?)
            .description(
                input_str(inputs, "description").unwrap_or_else(|| DEFAULT_DESCRIPTION.into()),
            )
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateCacheParameterGroup"))?;
        apply_parameters(&client, &name, &parameters, &[]).await?;
        let attributes = self.observe_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        if changed("parameters")
            && let Some(want) = input_string_map(req.inputs, "parameters")?
        {
            let have = input_string_map(req.prior, "parameters")?.unwrap_or_default();
            let set: BTreeMap<String, String> = want
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let reset: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            apply_parameters(&client, req.id, &set, &reset).await?;
        }
        if changed("tags") {
            let arn = require_str(req.prior, "arn")?;
            sync_tags(&client, &arn, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteCacheParameterGroup",
            client
                .delete_cache_parameter_group()
                .cache_parameter_group_name(req.id)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        // Groups named `default.*` belong to AWS and carry no tags: skip their calls.
        let found = self
            .describe(req.region, |n| !n.starts_with("default."))
            .await?;
        Ok(retain_owned(&req, found))
    }
}
