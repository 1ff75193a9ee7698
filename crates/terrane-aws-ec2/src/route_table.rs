//! `aws.ec2.route_table`: a route table of a VPC. Its routes and subnet associations are
//! resources of their own (`aws.ec2.route`, `aws.ec2.route_table_association`).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType as Ec2ResourceType, RouteTable as Rtb};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    api_error, arn, created_id, describe_ids, filter, gone_is_ok, is_changed, ownership_filters,
    put_str, require_str, retain_owned, sync_tags, tag_specification, tags_to_value,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.route_table";

pub(crate) const NOT_FOUND: &str = "InvalidRouteTableID.NotFound";

pub struct RouteTable {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A route table of a VPC; add routes with aws.ec2.route and attach subnets with aws.ec2.route_table_association.",
        attributes: vec![
            AttrSchema::required("vpc_id", String)
                .forces_replacement()
                .describe("The VPC the route table belongs to."),
            AttrSchema::optional("tags", Map).describe("Tags on the route table."),
            AttrSchema::computed("id", String).describe("The route table id (rtb-...)."),
            AttrSchema::computed("owner_id", String)
                .describe("The AWS account that owns the route table."),
            AttrSchema::computed("arn", String).describe("The route table's ARN."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "private:\n  type: aws.ec2.route_table\n  properties:\n    vpc_id: ${vpc.id}\n    tags:\n      Name: private\n",
    }
}

/// The route tables matching `filters` (one paginated DescribeRouteTables).
pub(crate) async fn describe_route_tables(
    client: &aws_sdk_ec2::Client,
    filters: Vec<Filter>,
) -> Result<Vec<Rtb>, ProviderError> {
    client
        .describe_route_tables()
        .set_filters(Some(filters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(api_error("DescribeRouteTables"))
}

impl RouteTable {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        RouteTable {
            clients,
            schema: schema(),
        }
    }

    /// The route tables matching `filters`, by id, with every attribute of the schema.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let mut found = BTreeMap::new();
        for t in describe_route_tables(&client, filters).await? {
            let Some(id) = t.route_table_id() else {
                continue;
            };
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "vpc_id", t.vpc_id());
            put_str(&mut attrs, "owner_id", t.owner_id());
            if let Some(owner) = t.owner_id() {
                attrs.insert(
                    "arn".into(),
                    Value::string(arn(region, owner, "route-table", id)),
                );
            }
            attrs.insert("tags".into(), tags_to_value(t.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![filter("route-table-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("route table {id}")))
    }
}

#[async_trait]
impl ResourceType for RouteTable {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = describe_ids(req.ids, "route-table-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let out = crate::client(&self.clients, req.region)
            .create_route_table()
            .vpc_id(require_str(req.inputs, "vpc_id")?)
            .client_token(req.client_token)
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::RouteTable, req.inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateRouteTable"))?;
        let id = created_id(
            "CreateRouteTable",
            out.route_table().and_then(|t| t.route_table_id()),
        )?;
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
            "DeleteRouteTable",
            client
                .delete_route_table()
                .route_table_id(req.id)
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
