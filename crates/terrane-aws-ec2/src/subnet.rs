//! `aws.ec2.subnet`: a subnet of a VPC, in one availability zone.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType as Ec2ResourceType};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    WAIT_FOR_CREATE, api_error, arn, describe_ids, filter, gone_is_ok, input_bool, input_str,
    ownership_filters, put_str, require_str, retain_owned, sync_tags, tag_specification,
    tags_to_value, waiter_error,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.subnet";

const NOT_FOUND: &str = "InvalidSubnetID.NotFound";

pub struct Subnet {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A subnet: a range of a VPC's addresses in one availability zone.",
        attributes: vec![
            AttrSchema::required("vpc_id", String)
                .forces_replacement()
                .describe("The VPC the subnet belongs to."),
            AttrSchema::required("cidr_block", String)
                .forces_replacement()
                .describe("The subnet's IPv4 CIDR block, inside the VPC's."),
            AttrSchema::optional("availability_zone", String)
                .forces_replacement()
                .describe("The availability zone, e.g. us-east-1a; AWS picks one when unset."),
            AttrSchema::optional("map_public_ip_on_launch", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether instances launched here get a public IPv4 address."),
            AttrSchema::optional("tags", Map).describe("Tags on the subnet."),
            AttrSchema::computed("id", String).describe("The subnet id (subnet-...)."),
            AttrSchema::computed("arn", String).describe("The subnet's ARN."),
            AttrSchema::computed("availability_zone_id", String)
                .describe("The availability zone's account-independent id, e.g. use1-az1."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "subnet:\n  type: aws.ec2.subnet\n  properties:\n    vpc_id: ${vpc.id}\n    cidr_block: 10.0.1.0/24\n    availability_zone: us-east-1a\n    map_public_ip_on_launch: true\n",
    }
}

impl Subnet {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Subnet {
            clients,
            schema: schema(),
        }
    }

    /// The subnets matching `filters`, by id, with every attribute of the schema.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let subnets = crate::client(&self.clients, region)
            .describe_subnets()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeSubnets"))?;
        let mut found = BTreeMap::new();
        for s in &subnets {
            let Some(id) = s.subnet_id() else { continue };
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "vpc_id", s.vpc_id());
            put_str(&mut attrs, "cidr_block", s.cidr_block());
            put_str(&mut attrs, "availability_zone", s.availability_zone());
            put_str(&mut attrs, "availability_zone_id", s.availability_zone_id());
            attrs.insert(
                "map_public_ip_on_launch".into(),
                Value::Bool(s.map_public_ip_on_launch().unwrap_or(false)),
            );
            let arn = match (s.subnet_arn(), s.owner_id()) {
                (Some(a), _) => Some(a.to_string()),
                (None, Some(owner)) => Some(arn(region, owner, "subnet", id)),
                (None, None) => None,
            };
            put_str(&mut attrs, "arn", arn.as_deref());
            attrs.insert("tags".into(), tags_to_value(s.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![filter("subnet-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("subnet {id}")))
    }
}

async fn set_map_public_ip(
    client: &aws_sdk_ec2::Client,
    id: &str,
    on: bool,
) -> Result<(), ProviderError> {
    client
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build())
        .send()
        .await
        .map_err(api_error("ModifySubnetAttribute"))?;
    Ok(())
}

#[async_trait]
impl ResourceType for Subnet {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = describe_ids(req.ids, "subnet-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let map_public_ip = input_bool(inputs, "map_public_ip_on_launch")?;
        let out = client
            .create_subnet()
            .vpc_id(require_str(inputs, "vpc_id")?)
            .cidr_block(require_str(inputs, "cidr_block")?)
            .set_availability_zone(input_str(inputs, "availability_zone"))
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::Subnet, inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateSubnet"))?;
        let id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .ok_or_else(|| ProviderError::api("CreateSubnet", "the response carries no subnet id"))?
            .to_string();
        client
            .wait_until_subnet_available()
            .filters(filter("subnet-id", [id.as_str()]))
            .wait(WAIT_FOR_CREATE)
            .await
            .map_err(|e| waiter_error("wait for the subnet to be available", e))?;
        // A new subnet does not map public IPs on launch.
        if map_public_ip == Some(true) {
            set_map_public_ip(&client, &id, true).await?;
        }
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        if changed("map_public_ip_on_launch")
            && let Some(on) = input_bool(req.inputs, "map_public_ip_on_launch")?
        {
            set_map_public_ip(&client, req.id, on).await?;
        }
        if changed("tags") {
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteSubnet",
            client.delete_subnet().subnet_id(req.id).send().await,
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
