//! `aws.kms.alias`: a friendly name (`alias/...`) for a KMS key.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::types::AliasListEntry;
use terrane_aws_core::inputs::{require_str, wanted};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.kms.alias";

pub struct Alias {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An alias of a KMS key: a name, starting with `alias/`, that stands for the key in API calls and policies.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The alias, starting with `alias/` (not `alias/aws/`, AWS's own); also its id."),
            AttrSchema::required("target_key_id", String).describe(
                "The key the alias stands for: its id or ARN (compared by key id); changed in place.",
            ),
            AttrSchema::computed("arn", String).describe("The alias's ARN."),
        ],
        taggable: false,
        id_attribute: "name",
        normalize: Some(normalize),
        example: "data_key_alias:\n  type: aws.kms.alias\n  properties:\n    name: alias/app-data\n    \
                  target_key_id: ${data_key.key_id}\n",
    }
}

/// The key id of a key ARN (`arn:aws:kms:<region>:<account>:key/<id>`), or the text as is.
fn key_id_of(text: &str) -> &str {
    match text.split_once(":key/") {
        Some((arn, id)) if arn.starts_with("arn:") => id,
        _ => text,
    }
}

/// The schema's normalizer: `target_key_id` compared by key id, whether written as an id or
/// as an ARN (KMS reports the id).
pub fn normalize(attr: &str, value: &Value) -> Value {
    match (attr, value) {
        ("target_key_id", Value::String(s)) => Value::string(key_id_of(s)),
        _ => value.clone(),
    }
}

fn attributes(a: &AliasListEntry) -> Option<(String, Attributes)> {
    let name = a.alias_name()?;
    let mut out = Attributes::new();
    out.insert("name".into(), Value::string(name));
    if let Some(k) = a.target_key_id() {
        out.insert("target_key_id".into(), Value::string(k));
    }
    if let Some(arn) = a.alias_arn() {
        out.insert("arn".into(), Value::string(arn));
    }
    Some((name.to_string(), out))
}

fn check_name(name: &str) -> Result<(), ProviderError> {
    if !name.starts_with("alias/") || name.starts_with("alias/aws/") || name.len() <= 6 {
        return Err(ProviderError::Invalid(format!(
            "`name` must start with `alias/` (and not `alias/aws/`): {name}"
        )));
    }
    Ok(())
}

impl Alias {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Alias {
            clients,
            schema: schema(),
        }
    }

    /// Every alias of the region that `keep` accepts: one paginated ListAliases.
    async fn list(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let aliases: Vec<AliasListEntry> = crate::client(&self.clients, region)
            .list_aliases()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListAliases"))?;
        Ok(aliases
            .iter()
            .filter_map(attributes)
            .filter(|(name, _)| keep(name))
            .collect())
    }

    async fn read_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        self.list(region, |n| n == name)
            .await?
            .remove(name)
            .ok_or_else(|| ProviderError::NotFound(format!("KMS alias {name}")))
    }
}

#[async_trait]
impl ResourceType for Alias {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let ids = wanted(req.ids);
        let found = self.list(req.region, |n| ids.contains(n)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let name = require_str(req.inputs, "name")?;
        check_name(&name)?;
        let target = require_str(req.inputs, "target_key_id")?;
        crate::client(&self.clients, req.region)
            .create_alias()
            .alias_name(&name)
            .target_key_id(target)
            .send()
            .await
            .map_err(api_error("CreateAlias"))?;
        let attributes = self.read_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        if req.changed.iter().any(|c| c == "target_key_id") {
            crate::client(&self.clients, req.region)
                .update_alias()
                .alias_name(req.id)
                .target_key_id(require_str(req.inputs, "target_key_id")?)
                .send()
                .await
                .map_err(api_error("UpdateAlias"))?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        gone_is_ok(
            "DeleteAlias",
            crate::client(&self.clients, req.region)
                .delete_alias()
                .alias_name(req.id)
                .send()
                .await,
            &["NotFoundException"],
        )
    }

    /// Aliases carry no tags: nothing can be found by ownership (an alias is recovered by
    /// its name, which the stack gives).
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
