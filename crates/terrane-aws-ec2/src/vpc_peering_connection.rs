//! `aws.ec2.vpc_peering_connection`: a peering connection from a VPC to another VPC, in
//! the same or another region (and account), optionally accepted by terrane.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{
    Filter, ResourceType as Ec2ResourceType, VpcPeeringConnection as Pcx,
    VpcPeeringConnectionStateReasonCode as Code,
};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    WAIT_FOR_CREATE, api_error, created_id, describe_ids, filter, gone_is_ok, input_bool,
    input_str, is_changed, ownership_filters, put_str, require_str, retain_owned, sync_tags,
    tag_specification, tags_to_value, waiter_error,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.vpc_peering_connection";

const NOT_FOUND: &str = "InvalidVpcPeeringConnectionID.NotFound";

const WAIT_FOR_DELETED: Duration = Duration::from_secs(300);

pub struct VpcPeeringConnection {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A VPC peering connection: routes private traffic between two VPCs, in one region or across regions.",
        attributes: vec![
            AttrSchema::required("vpc_id", String)
                .forces_replacement()
                .describe("The requester VPC (in the resource's region)."),
            AttrSchema::required("peer_vpc_id", String)
                .forces_replacement()
                .describe("The accepter VPC."),
            AttrSchema::optional("peer_region", String)
                .forces_replacement()
                .describe("The accepter VPC's region, for a cross-region peering; the resource's region when unset."),
            AttrSchema::optional("peer_owner_id", String)
                .forces_replacement()
                .describe("The accepter VPC's account, for a cross-account peering; this account when unset."),
            AttrSchema::optional("auto_accept", Bool).describe(
                "Accept the request (in the peer's region) when the peer VPC is in this account. Acted on at create and update; the live acceptance is the computed `status`.",
            ),
            AttrSchema::optional("tags", Map)
                .describe("Tags on the peering connection (as seen from the requester side)."),
            AttrSchema::computed("id", String).describe("The peering connection id (pcx-...)."),
            AttrSchema::computed("status", String)
                .describe("The connection's state, e.g. pending-acceptance or active."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "peering:\n  type: aws.ec2.vpc_peering_connection\n  properties:\n    vpc_id: ${vpc.id}\n    peer_vpc_id: ${module.eu.vpc_id}\n    peer_region: eu-west-1\n    auto_accept: true\n",
    }
}

/// A connection in one of these states is gone or never came up: treated as absent (AWS
/// keeps them listed for a while).
fn is_gone(code: Option<&Code>) -> bool {
    matches!(
        code,
        Some(Code::Deleted | Code::Deleting | Code::Rejected | Code::Failed | Code::Expired)
    )
}

impl VpcPeeringConnection {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        VpcPeeringConnection {
            clients,
            schema: schema(),
        }
    }

    /// The live connections matching `filters` whose id is in `ids` (when given), by id.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
        ids: Option<&BTreeSet<&str>>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let all: Vec<Pcx> = crate::client(&self.clients, region)
            .describe_vpc_peering_connections()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeVpcPeeringConnections"))?;
        let mut found = BTreeMap::new();
        for p in &all {
            let Some(id) = p.vpc_peering_connection_id() else {
                continue;
            };
            // The ids are also matched here: not every EC2-compatible endpoint applies the
            // filters of DescribeVpcPeeringConnections.
            if ids.is_some_and(|ids| !ids.contains(id)) {
                continue;
            }
            let code = p.status().and_then(|s| s.code());
            if is_gone(code) {
                continue;
            }
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            let requester = p.requester_vpc_info();
            let accepter = p.accepter_vpc_info();
            put_str(&mut attrs, "vpc_id", requester.and_then(|v| v.vpc_id()));
            put_str(&mut attrs, "peer_vpc_id", accepter.and_then(|v| v.vpc_id()));
            put_str(&mut attrs, "peer_region", accepter.and_then(|v| v.region()));
            put_str(
                &mut attrs,
                "peer_owner_id",
                accepter.and_then(|v| v.owner_id()),
            );
            put_str(&mut attrs, "status", code.map(Code::as_str));
            attrs.insert("tags".into(), tags_to_value(p.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        let ids = BTreeSet::from([id]);
        self.describe(
            region,
            vec![filter("vpc-peering-connection-id", [id])],
            Some(&ids),
        )
        .await?
        .remove(id)
        .ok_or_else(|| ProviderError::NotFound(format!("VPC peering connection {id}")))
    }

    /// Accepts the connection from the accepter's region, once it is visible there.
    async fn accept(
        &self,
        region: &str,
        inputs: &Attributes,
        id: &str,
    ) -> Result<(), ProviderError> {
        let peer_region = input_str(inputs, "peer_region").unwrap_or_else(|| region.to_string());
        let peer = crate::client(&self.clients, &peer_region);
        peer.wait_until_vpc_peering_connection_exists()
            .vpc_peering_connection_ids(id)
            .wait(WAIT_FOR_CREATE)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!("wait for peering connection {id} to reach {peer_region}"),
                    e,
                )
            })?;
        let live = peer
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(id)
            .send()
            .await
            .map_err(api_error("DescribeVpcPeeringConnections"))?;
        let pending = live.vpc_peering_connections().iter().any(|p| {
            p.vpc_peering_connection_id() == Some(id)
                && p.status().and_then(|s| s.code()) == Some(&Code::PendingAcceptance)
        });
        if pending {
            peer.accept_vpc_peering_connection()
                .vpc_peering_connection_id(id)
                .send()
                .await
                .map_err(api_error("AcceptVpcPeeringConnection"))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for VpcPeeringConnection {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let wanted: BTreeSet<&str> = req.ids.iter().map(String::as_str).collect();
        let found = describe_ids(req.ids, "vpc-peering-connection-id", |filters| {
            self.describe(req.region, filters, Some(&wanted))
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let out = client
            .create_vpc_peering_connection()
            .vpc_id(require_str(inputs, "vpc_id")?)
            .peer_vpc_id(require_str(inputs, "peer_vpc_id")?)
            .set_peer_region(input_str(inputs, "peer_region"))
            .set_peer_owner_id(input_str(inputs, "peer_owner_id"))
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::VpcPeeringConnection, inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateVpcPeeringConnection"))?;
        let id = created_id(
            "CreateVpcPeeringConnection",
            out.vpc_peering_connection()
                .and_then(|p| p.vpc_peering_connection_id()),
        )?;
        client
            .wait_until_vpc_peering_connection_exists()
            .vpc_peering_connection_ids(&id)
            .wait(WAIT_FOR_CREATE)
            .await
            .map_err(|e| waiter_error("wait for the peering connection to exist", e))?;
        if input_bool(inputs, "auto_accept")? == Some(true) {
            self.accept(req.region, inputs, &id).await?;
        }
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        if is_changed(req.changed, "auto_accept")
            && input_bool(req.inputs, "auto_accept")? == Some(true)
        {
            self.accept(req.region, req.inputs, req.id).await?;
        }
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
            "DeleteVpcPeeringConnection",
            client
                .delete_vpc_peering_connection()
                .vpc_peering_connection_id(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )?;
        client
            .wait_until_vpc_peering_connection_deleted()
            .vpc_peering_connection_ids(req.id)
            .wait(WAIT_FOR_DELETED)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!("wait for peering connection {} to be deleted", req.id),
                    e,
                )
            })?;
        Ok(())
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self
            .describe(req.region, ownership_filters(&req), None)
            .await?;
        Ok(retain_owned(&req, found))
    }
}
