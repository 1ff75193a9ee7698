//! `aws.ec2.internet_gateway`: an internet gateway, attached to at most one VPC.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{
    AttachmentStatus, Filter, InternetGateway as Igw, ResourceType as Ec2ResourceType,
};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    WAIT_FOR_CREATE, api_error, describe_ids, filter, gone_is_ok, input_str, ownership_filters,
    put_str, retain_owned, sync_tags, tag_specification, tags_to_value, waiter_error,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.internet_gateway";

const NOT_FOUND: &str = "InvalidInternetGatewayID.NotFound";
/// Codes that mean a detach has nothing to do.
const NOT_ATTACHED: &[&str] = &["Gateway.NotAttached", NOT_FOUND, "InvalidVpcID.NotFound"];

pub struct InternetGateway {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An internet gateway, giving the VPC it is attached to a route to the internet.",
        attributes: vec![
            AttrSchema::optional("vpc_id", String)
                .describe("The VPC to attach the gateway to; changing it detaches and reattaches."),
            AttrSchema::optional("tags", Map).describe("Tags on the internet gateway."),
            AttrSchema::computed("id", String).describe("The internet gateway id (igw-...)."),
            AttrSchema::computed("owner_id", String)
                .describe("The AWS account that owns the internet gateway."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "igw:\n  type: aws.ec2.internet_gateway\n  properties:\n    vpc_id: ${vpc.id}\n    tags:\n      Name: main\n",
    }
}

/// The VPCs the gateway is attached (or attaching) to.
fn attached_vpcs(igw: &Igw) -> impl Iterator<Item = &str> {
    igw.attachments()
        .iter()
        .filter(|a| {
            !matches!(
                a.state(),
                Some(AttachmentStatus::Detached | AttachmentStatus::Detaching)
            )
        })
        .filter_map(|a| a.vpc_id())
}

impl InternetGateway {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        InternetGateway {
            clients,
            schema: schema(),
        }
    }

    async fn describe_raw(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<Vec<Igw>, ProviderError> {
        crate::client(&self.clients, region)
            .describe_internet_gateways()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeInternetGateways"))
    }

    /// The gateways matching `filters`, by id, with every attribute of the schema.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = BTreeMap::new();
        for igw in self.describe_raw(region, filters).await? {
            let Some(id) = igw.internet_gateway_id() else {
                continue;
            };
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "owner_id", igw.owner_id());
            // Detached is a state worth seeing (drift from a declared vpc_id): null.
            attrs.insert(
                "vpc_id".into(),
                attached_vpcs(&igw)
                    .next()
                    .map(Value::string)
                    .unwrap_or(Value::Null),
            );
            attrs.insert("tags".into(), tags_to_value(igw.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![filter("internet-gateway-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("internet gateway {id}")))
    }
}

async fn attach(client: &aws_sdk_ec2::Client, id: &str, vpc_id: &str) -> Result<(), ProviderError> {
    client
        .attach_internet_gateway()
        .internet_gateway_id(id)
        .vpc_id(vpc_id)
        .send()
        .await
        .map_err(api_error("AttachInternetGateway"))?;
    Ok(())
}

async fn detach(client: &aws_sdk_ec2::Client, id: &str, vpc_id: &str) -> Result<(), ProviderError> {
    gone_is_ok(
        "DetachInternetGateway",
        client
            .detach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc_id)
            .send()
            .await,
        NOT_ATTACHED,
    )
}

#[async_trait]
impl ResourceType for InternetGateway {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = describe_ids(req.ids, "internet-gateway-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let out = client
            .create_internet_gateway()
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::InternetGateway, req.inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateInternetGateway"))?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| {
                ProviderError::api(
                    "CreateInternetGateway",
                    "the response carries no gateway id",
                )
            })?
            .to_string();
        if let Some(vpc_id) = input_str(req.inputs, "vpc_id") {
            client
                .wait_until_internet_gateway_exists()
                .filters(filter("internet-gateway-id", [id.as_str()]))
                .wait(WAIT_FOR_CREATE)
                .await
                .map_err(|e| waiter_error("wait for the internet gateway to exist", e))?;
            attach(&client, &id, &vpc_id).await?;
        }
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        if changed("vpc_id") {
            let old = input_str(req.prior, "vpc_id");
            let new = input_str(req.inputs, "vpc_id");
            if old != new {
                if let Some(old) = &old {
                    detach(&client, req.id, old).await?;
                }
                if let Some(new) = &new {
                    attach(&client, req.id, new).await?;
                }
            }
        }
        if changed("tags") {
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        // A gateway cannot be deleted while attached: detach it from the VPC it is attached
        // to now, read live rather than from `prior`, which may be stale.
        let live = self
            .describe_raw(req.region, vec![filter("internet-gateway-id", [req.id])])
            .await?;
        let Some(igw) = live.first() else {
            return Ok(());
        };
        let vpcs: Vec<String> = attached_vpcs(igw).map(str::to_string).collect();
        for vpc_id in &vpcs {
            detach(&client, req.id, vpc_id).await?;
        }
        gone_is_ok(
            "DeleteInternetGateway",
            client
                .delete_internet_gateway()
                .internet_gateway_id(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self.describe(req.region, ownership_filters(&req)).await?;
        Ok(retain_owned(&req, found))
    }
}
