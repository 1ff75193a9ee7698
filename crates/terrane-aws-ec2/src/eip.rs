//! `aws.ec2.eip`: an Elastic IP address allocated for use in a VPC.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, Filter, ResourceType as Ec2ResourceType};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    api_error, created_id, describe_ids, filter, gone_is_ok, input_str, is_changed,
    ownership_filters, put_str, retain_owned, sync_tags, tag_specification, tags_to_value,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.eip";

const NOT_FOUND: &[&str] = &["InvalidAllocationID.NotFound", "InvalidAddress.NotFound"];

pub struct Eip {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An Elastic IP address: a static public IPv4 address, e.g. for a NAT gateway.",
        attributes: vec![
            AttrSchema::optional("domain", String)
                .forces_replacement()
                .default(DefaultValue::Str("vpc"))
                .describe("Where the address is used: `vpc` (the only choice in current accounts)."),
            AttrSchema::optional("tags", Map).describe("Tags on the address."),
            AttrSchema::computed("id", String).describe("The allocation id (eipalloc-...)."),
            AttrSchema::computed("public_ip", String).describe("The public IPv4 address."),
            AttrSchema::computed("association_id", String)
                .describe("The id of the address's association with an instance or network interface, if any."),
            AttrSchema::computed("network_border_group", String)
                .describe("Where AWS advertises the address from."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "nat_ip:\n  type: aws.ec2.eip\n  properties:\n    tags:\n      Name: nat\n",
    }
}

impl Eip {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Eip {
            clients,
            schema: schema(),
        }
    }

    /// The addresses matching `filters`, by allocation id. DescribeAddresses is not
    /// paginated: one call answers for every match.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let out = crate::client(&self.clients, region)
            .describe_addresses()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(api_error("DescribeAddresses"))?;
        let mut found = BTreeMap::new();
        for a in out.addresses() {
            let Some(id) = a.allocation_id() else {
                continue;
            };
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "domain", a.domain().map(DomainType::as_str));
            put_str(&mut attrs, "public_ip", a.public_ip());
            put_str(&mut attrs, "association_id", a.association_id());
            put_str(&mut attrs, "network_border_group", a.network_border_group());
            attrs.insert("tags".into(), tags_to_value(a.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![filter("allocation-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("Elastic IP {id}")))
    }
}

#[async_trait]
impl ResourceType for Eip {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = describe_ids(req.ids, "allocation-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        // AllocateAddress takes no idempotency token; the tags set here are how an
        // interrupted create is found again.
        let out = crate::client(&self.clients, req.region)
            .allocate_address()
            .domain(DomainType::from(
                input_str(req.inputs, "domain")
                    .unwrap_or_else(|| "vpc".into())
                    .as_str(),
            ))
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::ElasticIp, req.inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("AllocateAddress"))?;
        let id = created_id("AllocateAddress", out.allocation_id())?;
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
            "ReleaseAddress",
            client.release_address().allocation_id(req.id).send().await,
            NOT_FOUND,
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
