//! `aws.servicediscovery.private_dns_namespace`: a Cloud Map namespace resolvable by DNS
//! inside one VPC (Cloud Map makes a private Route53 zone for it). The cloud id is the
//! namespace's id (`ns-...`).
//!
//! Cloud Map does not report a namespace's VPC: `vpc` is compared with the value recorded
//! when terrane created the namespace (a write-only attribute).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_servicediscovery::types::{
    Namespace, NamespaceFilter, NamespaceFilterName, NamespaceSummary, NamespaceType,
    OperationTargetType, PrivateDnsNamespaceChange,
};
use terrane_aws_core::inputs::{input_str, is_owned, require_str, wanted};
use terrane_aws_core::{api_error, unless_gone};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, prior_arn, sdk_tags, sync_tags, wait_operation, with_tags};

pub const TYPE_NAME: &str = "aws.servicediscovery.private_dns_namespace";

const NOT_FOUND: &[&str] = &["NamespaceNotFound"];

pub struct PrivateDnsNamespace {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Cloud Map private DNS namespace: service names (`api.internal`) \
                      resolvable inside one VPC, through a private Route53 zone.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The namespace's DNS name, e.g. `app.internal`."),
            AttrSchema::required("vpc", String)
                .forces_replacement()
                .describe(
                    "The VPC whose resolver answers for the namespace (not reported back by Cloud \
                 Map: compared with the value recorded at creation).",
                ),
            AttrSchema::optional("description", String).describe("A description."),
            AttrSchema::optional("tags", Map).describe("Tags on the namespace."),
            AttrSchema::computed("id", String).describe("The namespace's id (`ns-...`)."),
            AttrSchema::computed("arn", String).describe("The namespace's ARN."),
            AttrSchema::computed("hosted_zone_id", String)
                .describe("The private Route53 zone Cloud Map made for the namespace."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "internal:\n  type: aws.servicediscovery.private_dns_namespace\n  properties:\n    \
                  name: app.internal\n    vpc: ${vpc.id}\n    description: service discovery\n",
    }
}

fn namespace_attributes(n: &Namespace) -> Attributes {
    attributes_of(
        [n.id(), n.arn(), n.name(), n.description()],
        n.properties()
            .and_then(|p| p.dns_properties())
            .and_then(|d| d.hosted_zone_id()),
    )
}

fn summary_attributes(n: &NamespaceSummary) -> Attributes {
    attributes_of(
        [n.id(), n.arn(), n.name(), n.description()],
        n.properties()
            .and_then(|p| p.dns_properties())
            .and_then(|d| d.hosted_zone_id()),
    )
}

/// id, arn, name, description, and the zone id (bare, as Route53 resources take it).
fn attributes_of(fields: [Option<&str>; 4], zone: Option<&str>) -> Attributes {
    let mut a = Attributes::new();
    for (k, v) in ["id", "arn", "name", "description"].into_iter().zip(fields) {
        if let Some(v) = v {
            a.insert(k.into(), Value::string(v));
        }
    }
    if let Some(z) = zone {
        a.insert(
            "hosted_zone_id".into(),
            Value::string(z.rsplit('/').next().unwrap_or(z)),
        );
    }
    a
}

impl PrivateDnsNamespace {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        PrivateDnsNamespace {
            clients,
            schema: schema(),
        }
    }

    /// The private DNS namespaces `keep` accepts (one paginated ListNamespaces filtered on
    /// type DNS_PRIVATE), with their tags (per namespace, concurrently).
    async fn list(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let filter = NamespaceFilter::builder()
            .name(NamespaceFilterName::Type)
            .values(NamespaceType::DnsPrivate.as_str())
            .build()
            .map_err(|e| ProviderError::Invalid(e.to_string()))?;
        let pages: Vec<_> = client
            .list_namespaces()
            .filters(filter)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListNamespaces"))?;
        let namespaces: Vec<_> = pages.iter().flat_map(|p| p.namespaces()).collect();
        let found = namespaces
            .iter()
            .filter(|n| n.r#type() == Some(&NamespaceType::DnsPrivate))
            .filter_map(|n| Some((n.id()?.to_string(), n)))
            .filter(|(id, _)| keep(id))
            .map(|(id, n)| (id, summary_attributes(n)))
            .collect();
        with_tags(&client, found).await
    }

    /// One namespace by GetNamespace (right after a change, not through the list).
    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        let client = crate::client(&self.clients, region);
        let out = client
            .get_namespace()
            .id(id)
            .send()
            .await
            .map_err(api_error("GetNamespace"))?;
        let n = out
            .namespace()
            .ok_or_else(|| ProviderError::NotFound(format!("Cloud Map namespace {id}")))?;
        let found = BTreeMap::from([(id.to_string(), namespace_attributes(n))]);
        with_tags(&client, found)
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("Cloud Map namespace {id}")))
    }
}

#[async_trait]
impl ResourceType for PrivateDnsNamespace {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// One paginated ListNamespaces, then tags per namespace found, concurrently.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids = wanted(req.ids);
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let found = self.list(req.region, |id| ids.contains(id)).await?;
        Ok(ObserveResponse { found })
    }

    /// CreatePrivateDnsNamespace (with tags, the client token as CreatorRequestId), then
    /// GetOperation until it succeeds; the namespace id is the operation's target.
    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let out = client
            .create_private_dns_namespace()
            .name(require_str(inputs, "name")?)
            .vpc(require_str(inputs, "vpc")?)
            .set_description(input_str(inputs, "description"))
            .set_tags(sdk_tags(inputs)?)
            .creator_request_id(req.client_token)
            .send()
            .await
            .map_err(api_error("CreatePrivateDnsNamespace"))?;
        let op_id = out.operation_id().ok_or_else(|| {
            ProviderError::api("CreatePrivateDnsNamespace", "no operation id returned")
        })?;
        let op = wait_operation(&client, op_id).await?;
        let id = op
            .targets()
            .and_then(|t| t.get(&OperationTargetType::Namespace))
            .cloned()
            .ok_or_else(|| {
                ProviderError::api(
                    "GetOperation",
                    format!("operation {op_id} names no namespace"),
                )
            })?;
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    /// Description: UpdatePrivateDnsNamespace (an operation, waited for). Tags in place.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        if req.changed.iter().any(|c| c == "description") {
            let out = client
                .update_private_dns_namespace()
                .id(req.id)
                .namespace(
                    PrivateDnsNamespaceChange::builder()
                        .description(input_str(req.inputs, "description").unwrap_or_default())
                        .build(),
                )
                .send()
                .await
                .map_err(api_error("UpdatePrivateDnsNamespace"))?;
            if let Some(op) = out.operation_id() {
                wait_operation(&client, op).await?;
            }
        }
        if req.changed.iter().any(|c| c == "tags") {
            let arn = match prior_arn(req.prior) {
                Some(a) => a,
                None => prior_arn(&self.read_one(req.region, req.id).await?).unwrap_or_default(),
            };
            sync_tags(&client, &arn, req.inputs, req.prior).await?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// DeleteNamespace (an operation, waited for); a namespace already gone is fine. Its
    /// services must be deleted first (they depend on it).
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let out = unless_gone(
            "DeleteNamespace",
            client.delete_namespace().id(req.id).send().await,
            NOT_FOUND,
        )?;
        if let Some(op) = out.as_ref().and_then(|o| o.operation_id()) {
            wait_operation(&client, op).await?;
        }
        Ok(())
    }

    /// ListNamespaces, then tags per namespace, keeping the owned ones.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = self.list(req.region, |_| true).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
