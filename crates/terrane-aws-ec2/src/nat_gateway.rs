//! `aws.ec2.nat_gateway`: a NAT gateway in a subnet, public (with an Elastic IP) or private.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{
    ConnectivityType, Filter, NatGatewayState, ResourceType as Ec2ResourceType,
};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    api_error, created_id, describe_ids, filter, gone_is_ok, input_str, is_changed,
    ownership_filters, put_str, require_str, retain_owned, sync_tags, tag_specification,
    tags_to_value, waiter_error,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.nat_gateway";

const NOT_FOUND: &[&str] = &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"];

/// A NAT gateway usually becomes available in one to five minutes.
const WAIT_FOR_AVAILABLE: Duration = Duration::from_secs(600);
/// And is usually deleted within a minute or two.
const WAIT_FOR_DELETED: Duration = Duration::from_secs(600);

pub struct NatGateway {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A NAT gateway: lets instances in private subnets reach out (public: to the internet through an Elastic IP; private: to other networks).",
        attributes: vec![
            AttrSchema::required("subnet_id", String)
                .forces_replacement()
                .describe(
                    "The subnet the gateway lives in (a public subnet for a public gateway).",
                ),
            AttrSchema::optional("allocation_id", String)
                .forces_replacement()
                .describe("The Elastic IP allocation id of a public gateway."),
            AttrSchema::optional("connectivity_type", String)
                .forces_replacement()
                .default(DefaultValue::Str("public"))
                .describe("`public` (needs allocation_id) or `private`."),
            AttrSchema::optional("tags", Map).describe("Tags on the NAT gateway."),
            AttrSchema::computed("id", String).describe("The NAT gateway id (nat-...)."),
            AttrSchema::computed("vpc_id", String).describe("The VPC of the gateway's subnet."),
            AttrSchema::computed("public_ip", String)
                .describe("The primary public IPv4 address (public gateways)."),
            AttrSchema::computed("private_ip", String)
                .describe("The primary private IPv4 address."),
            AttrSchema::computed("network_interface_id", String)
                .describe("The gateway's primary network interface."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "nat:\n  type: aws.ec2.nat_gateway\n  properties:\n    subnet_id: ${public_subnet.id}\n    allocation_id: ${nat_ip.id}\n    tags:\n      Name: nat\n",
    }
}

/// A gateway in one of these states is gone or never came up: it is treated as absent
/// (AWS, like the local endpoint, keeps deleted gateways listed for a while).
fn is_gone(state: Option<&NatGatewayState>) -> bool {
    matches!(
        state,
        Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed)
    )
}

impl NatGateway {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        NatGateway {
            clients,
            schema: schema(),
        }
    }

    /// The live gateways matching `filters`, by id, with every attribute of the schema.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let gateways: Vec<_> = crate::client(&self.clients, region)
            .describe_nat_gateways()
            .set_filter(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeNatGateways"))?;
        let mut found = BTreeMap::new();
        for g in &gateways {
            let Some(id) = g.nat_gateway_id() else {
                continue;
            };
            if is_gone(g.state()) {
                continue;
            }
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "subnet_id", g.subnet_id());
            put_str(&mut attrs, "vpc_id", g.vpc_id());
            put_str(
                &mut attrs,
                "connectivity_type",
                g.connectivity_type().map(ConnectivityType::as_str),
            );
            let addresses = g.nat_gateway_addresses();
            let primary = addresses
                .iter()
                .find(|a| a.is_primary() == Some(true))
                .or(addresses.first());
            if let Some(a) = primary {
                put_str(&mut attrs, "allocation_id", a.allocation_id());
                put_str(&mut attrs, "public_ip", a.public_ip());
                put_str(&mut attrs, "private_ip", a.private_ip());
                put_str(&mut attrs, "network_interface_id", a.network_interface_id());
            }
            attrs.insert("tags".into(), tags_to_value(g.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![filter("nat-gateway-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("NAT gateway {id}")))
    }
}

#[async_trait]
impl ResourceType for NatGateway {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = describe_ids(req.ids, "nat-gateway-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let out = client
            .create_nat_gateway()
            .subnet_id(require_str(inputs, "subnet_id")?)
            .set_allocation_id(input_str(inputs, "allocation_id"))
            .set_connectivity_type(
                input_str(inputs, "connectivity_type").map(|c| ConnectivityType::from(c.as_str())),
            )
            .client_token(req.client_token)
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::Natgateway, inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateNatGateway"))?;
        let id = created_id(
            "CreateNatGateway",
            out.nat_gateway().and_then(|g| g.nat_gateway_id()),
        )?;
        client
            .wait_until_nat_gateway_available()
            .nat_gateway_ids(&id)
            .wait(WAIT_FOR_AVAILABLE)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!(
                        "wait (up to {} s) for NAT gateway {id} to be available",
                        WAIT_FOR_AVAILABLE.as_secs()
                    ),
                    e,
                )
            })?;
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        if is_changed(req.changed, "tags") {
            let client = crate::client(&self.clients, req.region);
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteNatGateway",
            client
                .delete_nat_gateway()
                .nat_gateway_id(req.id)
                .send()
                .await,
            NOT_FOUND,
        )?;
        // The gateway holds its Elastic IP and network interface until it is deleted:
        // wait, so that what depends on it (the address, the subnet) can go next.
        client
            .wait_until_nat_gateway_deleted()
            .nat_gateway_ids(req.id)
            .wait(WAIT_FOR_DELETED)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!(
                        "wait (up to {} s) for NAT gateway {} to be deleted",
                        WAIT_FOR_DELETED.as_secs(),
                        req.id
                    ),
                    e,
                )
            })?;
        Ok(())
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        // The stack filter narrows the answer on AWS; the match on both ownership tags is
        // made here in any case (some EC2-compatible endpoints ignore tag filters on
        // DescribeNatGateways).
        let found = self.describe(req.region, ownership_filters(&req)).await?;
        Ok(retain_owned(&req, found))
    }
}
