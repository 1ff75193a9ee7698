//! `aws.ec2.route_table_association`: which route table a subnet uses.
//!
//! The cloud id is the subnet's id, not AWS's association id: a subnet has at most one
//! explicit association, and ReplaceRouteTableAssociation (how the route table changes in
//! place, without a moment where the subnet falls back to the main table) answers with a
//! *new* association id, while a resource's cloud id never changes. The current association
//! id is the computed `association_id`. Associations take no tags.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::RouteTableAssociationStateCode;
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::route_table::describe_route_tables;
use super::{
    api_error, describe_ids, filter, gone_is_ok, input_str, is_changed, put_str, require_str,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.route_table_association";

const NOT_FOUND: &[&str] = &["InvalidAssociationID.NotFound"];

pub struct RouteTableAssociation {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "Associates a subnet with a route table (instead of the VPC's main one). Its id is the subnet's id.",
        attributes: vec![
            AttrSchema::required("subnet_id", String)
                .forces_replacement()
                .describe("The subnet."),
            AttrSchema::required("route_table_id", String)
                .describe("The route table the subnet uses; changed in place, atomically."),
            AttrSchema::computed("id", String).describe(
                "The subnet's id (a subnet has one association at most; the association id changes when the route table does).",
            ),
            AttrSchema::computed("association_id", String)
                .describe("The current association id (rtbassoc-...)."),
        ],
        taggable: false,
        id_attribute: "id",
        normalize: None,
        example: "private_a:\n  type: aws.ec2.route_table_association\n  properties:\n    subnet_id: ${subnet[\"a\"].id}\n    route_table_id: ${private.id}\n",
    }
}

impl RouteTableAssociation {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        RouteTableAssociation {
            clients,
            schema: schema(),
        }
    }

    /// The explicit associations of the subnets matching `filters`, by subnet id.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<aws_sdk_ec2::types::Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let mut found = BTreeMap::new();
        for t in describe_route_tables(&client, filters).await? {
            for a in t.associations() {
                let (Some(subnet), Some(assoc)) = (a.subnet_id(), a.route_table_association_id())
                else {
                    continue;
                };
                let state = a.association_state().and_then(|s| s.state());
                if matches!(
                    state,
                    Some(
                        RouteTableAssociationStateCode::Disassociated
                            | RouteTableAssociationStateCode::Disassociating
                            | RouteTableAssociationStateCode::Failed
                    )
                ) {
                    continue;
                }
                let mut attrs = Attributes::new();
                attrs.insert("id".into(), Value::string(subnet));
                attrs.insert("subnet_id".into(), Value::string(subnet));
                put_str(&mut attrs, "route_table_id", a.route_table_id());
                attrs.insert("association_id".into(), Value::string(assoc));
                found.insert(subnet.to_string(), attrs);
            }
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![filter("association.subnet-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("route table association of {id}")))
    }
}

#[async_trait]
impl ResourceType for RouteTableAssociation {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let mut found = describe_ids(req.ids, "association.subnet-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        let wanted = terrane_aws_core::inputs::wanted(req.ids);
        found.retain(|id, _| wanted.contains(id.as_str()));
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let subnet = require_str(req.inputs, "subnet_id")?;
        crate::client(&self.clients, req.region)
            .associate_route_table()
            .subnet_id(&subnet)
            .route_table_id(require_str(req.inputs, "route_table_id")?)
            .send()
            .await
            .map_err(api_error("AssociateRouteTable"))?;
        let attributes = self.observe_one(req.region, &subnet).await?;
        Ok(CreateResponse {
            id: subnet,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        if is_changed(req.changed, "route_table_id") {
            // The association as it is now (the prior one may be stale).
            let live = self.observe_one(req.region, req.id).await?;
            let assoc = input_str(&live, "association_id").ok_or_else(|| {
                ProviderError::api("DescribeRouteTables", "the association carries no id")
            })?;
            crate::client(&self.clients, req.region)
                .replace_route_table_association()
                .association_id(assoc)
                .route_table_id(require_str(req.inputs, "route_table_id")?)
                .send()
                .await
                .map_err(api_error("ReplaceRouteTableAssociation"))?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        // The live association id: it changes whenever the route table is replaced.
        let live = self
            .describe(req.region, vec![filter("association.subnet-id", [req.id])])
            .await?;
        let Some(assoc) = live
            .get(req.id)
            .and_then(|a| input_str(a, "association_id"))
        else {
            return Ok(());
        };
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DisassociateRouteTable",
            client
                .disassociate_route_table()
                .association_id(assoc)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    /// Associations carry no tags: there is nothing to find them by.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
