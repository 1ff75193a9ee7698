//! `aws.ec2.vpc_endpoint`: a VPC endpoint, Gateway (S3, DynamoDB: routes in route tables)
//! or Interface (network interfaces in subnets).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, ResourceType as Ec2ResourceType, State, VpcEndpoint as Vpce, VpcEndpointType,
};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    api_error, created_id, input_bool, input_str, input_strings, is_changed, ownership_filters,
    put_str, require_str, retain_owned, strings_value, sync_tags, tag_specification, tags_to_value,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.vpc_endpoint";

const NOT_FOUND: &str = "InvalidVpcEndpointId.NotFound";

pub struct VpcEndpoint {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A VPC endpoint: private access from a VPC to an AWS service (Gateway: through route tables; Interface: through network interfaces in subnets).",
        attributes: vec![
            AttrSchema::required("vpc_id", String)
                .forces_replacement()
                .describe("The VPC."),
            AttrSchema::required("service_name", String)
                .forces_replacement()
                .describe("The service, e.g. com.amazonaws.us-east-1.s3."),
            AttrSchema::optional("vpc_endpoint_type", String)
                .forces_replacement()
                .default(DefaultValue::Str("Gateway"))
                .describe("`Gateway` or `Interface`."),
            AttrSchema::optional("route_table_ids", List)
                .unordered()
                .describe("Route tables that get a route to the service (Gateway endpoints)."),
            AttrSchema::optional("subnet_ids", List)
                .unordered()
                .describe("Subnets that get a network interface (Interface endpoints)."),
            AttrSchema::optional("security_group_ids", List)
                .unordered()
                .describe("Security groups of the network interfaces (Interface endpoints)."),
            AttrSchema::optional("private_dns_enabled", Bool).describe(
                "Whether the service's public name resolves to the endpoint in the VPC (Interface endpoints).",
            ),
            AttrSchema::optional("policy", String).describe(
                "The endpoint policy, a JSON document (compared as JSON, not as text); AWS's default allows everything.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the endpoint."),
            AttrSchema::computed("id", String).describe("The endpoint id (vpce-...)."),
            AttrSchema::computed("state", String).describe("The endpoint's state, e.g. available."),
            AttrSchema::computed("owner_id", String)
                .describe("The AWS account that owns the endpoint."),
            AttrSchema::computed("dns_names", List)
                .describe("The endpoint's DNS names (Interface endpoints)."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "s3:\n  type: aws.ec2.vpc_endpoint\n  properties:\n    vpc_id: ${vpc.id}\n    service_name: com.amazonaws.us-east-1.s3\n    vpc_endpoint_type: Gateway\n    route_table_ids: [\"${private.id}\"]\n",
    }
}

/// An endpoint in one of these states is gone or never came up: treated as absent (AWS,
/// like the local endpoint, keeps deleted endpoints listed for a while). DescribeVpcEndpoints
/// writes states in lower case (`deleted`) while the SDK's shared `State` enum spells its
/// variants capitalised (`Deleted`), so they are compared as text, ignoring case.
fn is_gone(state: Option<&State>) -> bool {
    state.is_some_and(|s| {
        ["deleted", "deleting", "rejected", "failed", "expired"]
            .iter()
            .any(|g| s.as_str().eq_ignore_ascii_case(g))
    })
}

/// Ids added and removed.
type ListChange = (Vec<String>, Vec<String>);

/// `(added, removed)` going from the list `prior[attr]` to `inputs[attr]`; `None` when the
/// input is unset (not managed).
fn list_change(
    inputs: &Attributes,
    prior: &Attributes,
    attr: &str,
) -> Result<Option<ListChange>, ProviderError> {
    let Some(want) = input_strings(inputs, attr)? else {
        return Ok(None);
    };
    let have = input_strings(prior, attr)?.unwrap_or_default();
    let want: BTreeSet<String> = want.into_iter().collect();
    let have: BTreeSet<String> = have.into_iter().collect();
    Ok(Some((
        want.difference(&have).cloned().collect(),
        have.difference(&want).cloned().collect(),
    )))
}

/// `Some(list)` when non-empty, for optional SDK list parameters.
fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

impl VpcEndpoint {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        VpcEndpoint {
            clients,
            schema: schema(),
        }
    }

    async fn describe_raw(
        &self,
        region: &str,
        filters: Vec<Filter>,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<Vpce>, ProviderError> {
        crate::client(&self.clients, region)
            .describe_vpc_endpoints()
            .set_filters(Some(filters))
            .set_vpc_endpoint_ids(ids)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeVpcEndpoints"))
    }

    /// The live endpoints matching `filters`, by id, with every attribute of the schema.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
        ids: Option<Vec<String>>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = BTreeMap::new();
        for e in self.describe_raw(region, filters, ids).await? {
            let Some(id) = e.vpc_endpoint_id() else {
                continue;
            };
            if is_gone(e.state()) {
                continue;
            }
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "vpc_id", e.vpc_id());
            put_str(&mut attrs, "service_name", e.service_name());
            put_str(
                &mut attrs,
                "vpc_endpoint_type",
                e.vpc_endpoint_type().map(VpcEndpointType::as_str),
            );
            attrs.insert(
                "route_table_ids".into(),
                strings_value(e.route_table_ids().iter().map(String::as_str)),
            );
            attrs.insert(
                "subnet_ids".into(),
                strings_value(e.subnet_ids().iter().map(String::as_str)),
            );
            attrs.insert(
                "security_group_ids".into(),
                strings_value(e.groups().iter().filter_map(|g| g.group_id())),
            );
            if let Some(p) = e.private_dns_enabled() {
                attrs.insert("private_dns_enabled".into(), Value::Bool(p));
            }
            put_str(&mut attrs, "policy", e.policy_document());
            put_str(&mut attrs, "state", e.state().map(State::as_str));
            put_str(&mut attrs, "owner_id", e.owner_id());
            attrs.insert(
                "dns_names".into(),
                Value::List(
                    e.dns_entries()
                        .iter()
                        .filter_map(|d| d.dns_name())
                        .map(Value::string)
                        .collect(),
                ),
            );
            attrs.insert("tags".into(), tags_to_value(e.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        // By id: it exists (it was just made or is being changed).
        self.describe(region, Vec::new(), Some(vec![id.to_string()]))
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("VPC endpoint {id}")))
    }
}

#[async_trait]
impl ResourceType for VpcEndpoint {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        // One paginated describe of the region's VPC endpoints, keeping the requested ids: a
        // filter on `vpc-endpoint-id` is not understood by every EC2-compatible endpoint, and the
        // id-list parameter fails the whole call when one id is unknown.
        let mut found = if req.ids.is_empty() {
            BTreeMap::new()
        } else {
            self.describe(req.region, Vec::new(), None).await?
        };
        let wanted = terrane_aws_core::inputs::wanted(req.ids);
        found.retain(|id, _| wanted.contains(id.as_str()));
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        // The type is always sent, even for AWS's default (Gateway): an endpoint created
        // without it cannot be deleted on some EC2-compatible endpoints.
        let kind = input_str(inputs, "vpc_endpoint_type").unwrap_or_else(|| "Gateway".into());
        let out = crate::client(&self.clients, req.region)
            .create_vpc_endpoint()
            .vpc_id(require_str(inputs, "vpc_id")?)
            .service_name(require_str(inputs, "service_name")?)
            .vpc_endpoint_type(VpcEndpointType::from(kind.as_str()))
            .set_route_table_ids(input_strings(inputs, "route_table_ids")?.and_then(non_empty))
            .set_subnet_ids(input_strings(inputs, "subnet_ids")?.and_then(non_empty))
            .set_security_group_ids(
                input_strings(inputs, "security_group_ids")?.and_then(non_empty),
            )
            .set_private_dns_enabled(input_bool(inputs, "private_dns_enabled")?)
            .set_policy_document(input_str(inputs, "policy"))
            .client_token(req.client_token)
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::VpcEndpoint, inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateVpcEndpoint"))?;
        // There is no SDK waiter for VPC endpoints; Gateway endpoints are available at
        // once, Interface ones are usable by id while still `pending`.
        let id = created_id(
            "CreateVpcEndpoint",
            out.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()),
        )?;
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| is_changed(req.changed, name);
        let mut call = client.modify_vpc_endpoint().vpc_endpoint_id(req.id);
        let mut any = false;
        if changed("route_table_ids")
            && let Some((add, remove)) = list_change(req.inputs, req.prior, "route_table_ids")?
        {
            call = call
                .set_add_route_table_ids(non_empty(add))
                .set_remove_route_table_ids(non_empty(remove));
            any = true;
        }
        if changed("subnet_ids")
            && let Some((add, remove)) = list_change(req.inputs, req.prior, "subnet_ids")?
        {
            call = call
                .set_add_subnet_ids(non_empty(add))
                .set_remove_subnet_ids(non_empty(remove));
            any = true;
        }
        if changed("security_group_ids")
            && let Some((add, remove)) = list_change(req.inputs, req.prior, "security_group_ids")?
        {
            call = call
                .set_add_security_group_ids(non_empty(add))
                .set_remove_security_group_ids(non_empty(remove));
            any = true;
        }
        if changed("private_dns_enabled")
            && let Some(on) = input_bool(req.inputs, "private_dns_enabled")?
        {
            call = call.private_dns_enabled(on);
            any = true;
        }
        if changed("policy") {
            call = match input_str(req.inputs, "policy") {
                Some(p) => call.policy_document(p),
                None => call.reset_policy(true),
            };
            any = true;
        }
        if any {
            call.send().await.map_err(api_error("ModifyVpcEndpoint"))?;
        }
        if changed("tags") {
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        // Read it first: a deleted endpoint stays listed as `deleted` for a while, and
        // deleting it again is not a no-op everywhere.
        match client
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(req.id)
            .send()
            .await
        {
            Ok(out) => {
                if out.vpc_endpoints().iter().all(|e| is_gone(e.state())) {
                    return Ok(());
                }
            }
            Err(e) => {
                let e = super::AwsError::from_sdk(e);
                if e.is(&[NOT_FOUND]) {
                    return Ok(());
                }
                return Err(e.into_provider("DescribeVpcEndpoints"));
            }
        }
        let out = client
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(req.id)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let e = super::AwsError::from_sdk(e);
                if e.is(&[NOT_FOUND]) {
                    return Ok(());
                }
                return Err(e.into_provider("DeleteVpcEndpoints"));
            }
        };
        // Failures of a batch delete come back as items, not as an error.
        for item in out.unsuccessful() {
            let Some(err) = item.error() else { continue };
            if err.code() == Some(NOT_FOUND) {
                continue;
            }
            return Err(ProviderError::api(
                "DeleteVpcEndpoints",
                format!(
                    "{}: {}",
                    err.code().unwrap_or("error"),
                    err.message().unwrap_or_default()
                ),
            ));
        }
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
