//! `aws.rds.db_parameter_group`: engine parameters for DB instances, of one engine family.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_rds::types::{ApplyMethod, Parameter};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, TAG_CONCURRENCY, input_str, input_string_map, list_tags, put_str, require_str,
    retain_owned, sdk_tags, sync_tags, wanted,
};

pub const TYPE_NAME: &str = "aws.rds.db_parameter_group";

const NOT_FOUND: &[&str] = &["DBParameterGroupNotFound", "DBParameterGroupNotFoundFault"];

const DEFAULT_DESCRIPTION: &str = "Managed by terrane";

/// ModifyDBParameterGroup and ResetDBParameterGroup take at most 20 parameters per call.
const PARAMETERS_PER_CALL: usize = 20;

pub struct DbParameterGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A DB parameter group: engine settings (e.g. PostgreSQL's work_mem) that DB instances use.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The group's name (unique in the region); also its id."),
            AttrSchema::required("family", String)
                .forces_replacement()
                .describe("The engine family, e.g. postgres16."),
            AttrSchema::optional("description", String)
                .forces_replacement()
                .default(terrane_core::DefaultValue::Str(DEFAULT_DESCRIPTION))
                .describe("A description of the group."),
            AttrSchema::optional("parameters", Map).describe(
                "Parameter name -> value, for the parameters this group sets (the others keep the engine's defaults). Dynamic parameters apply at once, static ones at the instances' next reboot.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the group."),
            AttrSchema::computed("id", String).describe("The group's name."),
            AttrSchema::computed("arn", String).describe("The group's ARN."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "db_params:\n  type: aws.rds.db_parameter_group\n  properties:\n    name: app-pg16\n    family: postgres16\n    parameters:\n      work_mem: \"8192\"\n      log_min_duration_statement: \"500\"\n",
    }
}

impl DbParameterGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        DbParameterGroup {
            clients,
            schema: schema(),
        }
    }

    /// Every parameter group of the region (one paginated call), kept where `keep` says so.
    /// DescribeDBParameterGroups returns neither the parameters nor the tags, so each group
    /// kept costs one DescribeDBParameters (`Source=user`: only what the group sets) and one
    /// ListTagsForResource, a few in flight at once.
    async fn describe(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let groups: Vec<_> = client
            .describe_db_parameter_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeDBParameterGroups"))?;
        let mut found = Vec::new();
        for g in &groups {
            let Some(name) = g.db_parameter_group_name() else {
                continue;
            };
            if !keep(name) {
                continue;
            }
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(name));
            attrs.insert("name".into(), Value::string(name));
            put_str(&mut attrs, "family", g.db_parameter_group_family());
            put_str(&mut attrs, "description", g.description());
            put_str(&mut attrs, "arn", g.db_parameter_group_arn());
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
            .ok_or_else(|| ProviderError::NotFound(format!("DB parameter group {id}")))
    }
}

/// The parameters a group sets (name -> value); `None` when the group is gone.
async fn user_parameters(
    client: &aws_sdk_rds::Client,
    group: &str,
) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
    let result: Result<Vec<Parameter>, _> = client
        .describe_db_parameters()
        .db_parameter_group_name(group)
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
                Err(e.into_provider("DescribeDBParameters"))
            }
        }
    }
}

/// Which of `names` are static (applied only at reboot), from the group's full parameter
/// list. A parameter the list does not describe is taken as dynamic.
async fn static_parameters(
    client: &aws_sdk_rds::Client,
    group: &str,
    names: &[&String],
) -> Result<Vec<String>, ProviderError> {
    let all: Vec<Parameter> = client
        .describe_db_parameters()
        .db_parameter_group_name(group)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(api_error("DescribeDBParameters"))?;
    Ok(all
        .iter()
        .filter(|p| p.apply_type() == Some("static"))
        .filter_map(|p| p.parameter_name())
        .filter(|n| names.iter().any(|w| w.as_str() == *n))
        .map(str::to_string)
        .collect())
}

/// Sets `set` and resets `reset` to the engine's defaults: dynamic parameters at once,
/// static ones at the next reboot (AWS refuses `immediate` for those).
async fn apply_parameters(
    client: &aws_sdk_rds::Client,
    group: &str,
    set: &BTreeMap<String, String>,
    reset: &[String],
) -> Result<(), ProviderError> {
    if set.is_empty() && reset.is_empty() {
        return Ok(());
    }
    let names: Vec<&String> = set.keys().chain(reset.iter()).collect();
    let statics = static_parameters(client, group, &names).await?;
    let method = |name: &str| {
        if statics.iter().any(|s| s == name) {
            ApplyMethod::PendingReboot
        } else {
            ApplyMethod::Immediate
        }
    };
    let set: Vec<Parameter> = set
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_name(k)
                .parameter_value(v)
                .apply_method(method(k))
                .build()
        })
        .collect();
    for chunk in set.chunks(PARAMETERS_PER_CALL) {
        client
            .modify_db_parameter_group()
            .db_parameter_group_name(group)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api_error("ModifyDBParameterGroup"))?;
    }
    let reset: Vec<Parameter> = reset
        .iter()
        .map(|k| {
            Parameter::builder()
                .parameter_name(k)
                .apply_method(method(k))
                .build()
        })
        .collect();
    for chunk in reset.chunks(PARAMETERS_PER_CALL) {
        client
            .reset_db_parameter_group()
            .db_parameter_group_name(group)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api_error("ResetDBParameterGroup"))?;
    }
    Ok(())
}

#[async_trait]
impl ResourceType for DbParameterGroup {
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
            .create_db_parameter_group()
            .db_parameter_group_name(&name)
            .db_parameter_group_family(require_str(inputs, "family")?)
            .description(
                input_str(inputs, "description").unwrap_or_else(|| DEFAULT_DESCRIPTION.into()),
            )
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateDBParameterGroup"))?;
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
            "DeleteDBParameterGroup",
            client
                .delete_db_parameter_group()
                .db_parameter_group_name(req.id)
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
