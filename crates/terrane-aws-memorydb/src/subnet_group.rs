//! `aws.memorydb.subnet_group`: the subnets (of one VPC) that MemoryDB nodes may be placed in.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use terrane_aws_core::inputs::{input_str, put_str, require_str, retain_owned, wanted};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, add_tags, input_strings, sdk_tags, strings_value, sync_tags};

pub const TYPE_NAME: &str = "aws.memorydb.subnet_group";

const NOT_FOUND: &[&str] = &["SubnetGroupNotFoundFault"];

pub struct SubnetGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A MemoryDB subnet group: the subnets of one VPC where MemoryDB places cluster nodes.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The group's name (unique in the region); also its id."),
            AttrSchema::optional("description", String).describe("A description of the group."),
            AttrSchema::required("subnet_ids", List)
                .unordered()
                .describe("The subnets of the group (changed in place with UpdateSubnetGroup)."),
            AttrSchema::optional("tags", Map).describe("Tags on the group."),
            AttrSchema::computed("id", String).describe("The group's name."),
            AttrSchema::computed("arn", String).describe("The group's ARN."),
            AttrSchema::computed("vpc_id", String).describe("The VPC of the subnets."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "memorydb_subnets:\n  type: aws.memorydb.subnet_group\n  properties:\n    name: tutor-cache\n    description: Private subnets of the tutor cache\n    subnet_ids: [\"${private_a.id}\", \"${private_b.id}\"]\n",
    }
}

impl SubnetGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        SubnetGroup {
            clients,
            schema: schema(),
        }
    }

    /// Every subnet group of the region (one paginated DescribeSubnetGroups: by name it
    /// takes a single group and fails when that one is unknown), kept where `keep` says so,
    /// then their tags: DescribeSubnetGroups returns none, so one ListTags per group kept,
    /// a few at once.
    async fn describe(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let groups: Vec<_> = client
            .describe_subnet_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeSubnetGroups"))?;
        let mut found = BTreeMap::new();
        for g in &groups {
            let Some(name) = g.name() else {
                continue;
            };
            if !keep(name) {
                continue;
            }
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(name));
            attrs.insert("name".into(), Value::string(name));
            put_str(&mut attrs, "description", g.description());
            put_str(&mut attrs, "arn", g.arn());
            put_str(&mut attrs, "vpc_id", g.vpc_id());
            attrs.insert(
                "subnet_ids".into(),
                strings_value(g.subnets().iter().filter_map(|s| s.identifier())),
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
            .ok_or_else(|| ProviderError::NotFound(format!("MemoryDB subnet group {id}")))
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
            .create_subnet_group()
            .subnet_group_name(&name)
            .set_description(input_str(inputs, "description"))
            .set_subnet_ids(input_strings(inputs, "subnet_ids")?)
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateSubnetGroup"))?;
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
            client
                .update_subnet_group()
                .subnet_group_name(req.id)
                .set_description(
                    changed("description")
                        .then(|| input_str(req.inputs, "description"))
                        .flatten(),
                )
                .set_subnet_ids(if changed("subnet_ids") {
                    input_strings(req.inputs, "subnet_ids")?
                } else {
                    None
                })
                .send()
                .await
                .map_err(api_error("UpdateSubnetGroup"))?;
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
            "DeleteSubnetGroup",
            client
                .delete_subnet_group()
                .subnet_group_name(req.id)
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
