//! `aws.elasticache.subnet_group`: the subnets (of one VPC) that cache nodes may be placed in.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, add_tags, input_str, input_strings, put_str, require_str, retain_owned, sdk_tags,
    strings_value, sync_tags, wanted,
};

pub const TYPE_NAME: &str = "aws.elasticache.subnet_group";

const NOT_FOUND: &[&str] = &["CacheSubnetGroupNotFoundFault"];

/// What AWS requires when the stack gives no description.
const DEFAULT_DESCRIPTION: &str = "Managed by terrane";

pub struct SubnetGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A cache subnet group: the subnets of one VPC where ElastiCache places cache nodes.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The group's name (unique in the region); also its id."),
            AttrSchema::optional("description", String)
                .default(terrane_core::DefaultValue::Str(DEFAULT_DESCRIPTION))
                .describe("A description of the group."),
            AttrSchema::required("subnet_ids", List)
                .unordered()
                .describe("The subnets of the group."),
            AttrSchema::optional("tags", Map).describe("Tags on the group."),
            AttrSchema::computed("id", String).describe("The group's name."),
            AttrSchema::computed("arn", String).describe("The group's ARN."),
            AttrSchema::computed("vpc_id", String).describe("The VPC of the subnets."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "cache_subnets:\n  type: aws.elasticache.subnet_group\n  properties:\n    name: app-cache\n    description: Subnets of the app cache\n    subnet_ids: [\"${subnet_a.id}\", \"${subnet_b.id}\"]\n",
    }
}

impl SubnetGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        SubnetGroup {
            clients,
            schema: schema(),
        }
    }

    /// Every subnet group of the region (one paginated call: DescribeCacheSubnetGroups takes a
    /// single name, which fails the call when unknown), kept where `keep` says so, then their tags.
    /// DescribeCacheSubnetGroups does not return tags, so those are one ListTagsForResource
    /// per group kept.
    async fn describe(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let groups: Vec<_> = client
            .describe_cache_subnet_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeCacheSubnetGroups"))?;
        let mut found = BTreeMap::new();
        for g in &groups {
            let Some(name) = g.cache_subnet_group_name() else {
                continue;
            };
            if !keep(name) {
                continue;
            }
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(name));
            attrs.insert("name".into(), Value::string(name));
            put_str(
                &mut attrs,
                "description",
                g.cache_subnet_group_description(),
            );
            put_str(&mut attrs, "arn", g.arn());
            put_str(&mut attrs, "vpc_id", g.vpc_id());
            attrs.insert(
                "subnet_ids".into(),
                strings_value(g.subnets().iter().filter_map(|s| s.subnet_identifier())),
            );
            attrs.insert("tags".into(), Value::Map(Default::default()));
            found.insert(name.to_string(), attrs);
        }
        add_tags(&client, found, NOT_FOUND).await
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, |n| n == id)
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("cache subnet group {id}")))
    }
}

#[async_trait]
impl ResourceType for SubnetGroup {
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
            .create_cache_subnet_group()
            .cache_subnet_group_name(&name)
            .cache_subnet_group_description(
                input_str(inputs, "description").unwrap_or_else(|| DEFAULT_DESCRIPTION.into()),
            )
            .set_subnet_ids(input_strings(inputs, "subnet_ids")?)
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateCacheSubnetGroup"))?;
        // AWS returns the group as made; observing reads it back with its tags.
        let attributes = self.observe_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        if changed("description") || changed("subnet_ids") {
            // ModifyCacheSubnetGroup needs the whole subnet list, changed or not.
            let subnets = match input_strings(req.inputs, "subnet_ids")? {
                Some(s) => Some(s),
                None => input_strings(req.prior, "subnet_ids")?,
            };
            client
                .modify_cache_subnet_group()
                .cache_subnet_group_name(req.id)
                .set_cache_subnet_group_description(input_str(req.inputs, "description"))
                .set_subnet_ids(subnets)
                .send()
                .await
                .map_err(api_error("ModifyCacheSubnetGroup"))?;
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
            "DeleteCacheSubnetGroup",
            client
                .delete_cache_subnet_group()
                .cache_subnet_group_name(req.id)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self.describe(req.region, |_| true).await?;
        Ok(retain_owned(&req, found))
    }
}
