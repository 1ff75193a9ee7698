//! `aws.ec2.vpc`: a VPC, with its DNS attributes.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, ResourceType as Ec2ResourceType, Tenancy, VpcAttributeName,
};
use futures::{StreamExt, TryStreamExt};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    AwsError, WAIT_FOR_CREATE, api_error, arn, describe_ids, filter, gone_is_ok, input_bool,
    input_str, ownership_filters, put_str, require_str, retain_owned, sync_tags, tag_specification,
    tags_to_value, waiter_error,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.vpc";

const NOT_FOUND: &str = "InvalidVpcID.NotFound";

/// DescribeVpcAttribute calls in flight at once during an observe.
const ATTRIBUTE_CONCURRENCY: usize = 16;

pub struct Vpc {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A virtual private cloud: an isolated IPv4 network in one region.",
        attributes: vec![
            AttrSchema::required("cidr_block", String)
                .forces_replacement()
                .describe("The VPC's primary IPv4 CIDR block, e.g. 10.0.0.0/16."),
            AttrSchema::optional("instance_tenancy", String)
                .forces_replacement()
                .describe("Tenancy of instances launched into the VPC: `default` or `dedicated`."),
            AttrSchema::optional("enable_dns_support", Bool)
                .default(DefaultValue::Bool(true))
                .describe("Whether the Amazon-provided DNS server resolves names in the VPC."),
            AttrSchema::optional("enable_dns_hostnames", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether instances with public IPs get public DNS hostnames."),
            AttrSchema::optional("tags", Map).describe("Tags on the VPC."),
            AttrSchema::computed("id", String).describe("The VPC id (vpc-...)."),
            AttrSchema::computed("owner_id", String).describe("The AWS account that owns the VPC."),
            AttrSchema::computed("arn", String).describe("The VPC's ARN."),
            AttrSchema::computed("default_security_group_id", String)
                .describe("The id of the security group AWS created with the VPC."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "vpc:\n  type: aws.ec2.vpc\n  properties:\n    cidr_block: 10.0.0.0/16\n    enable_dns_hostnames: true\n    tags:\n      Name: main\n",
    }
}

impl Vpc {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Vpc {
            clients,
            schema: schema(),
        }
    }

    /// The VPCs matching `filters`, by id, with every attribute of the schema.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let vpcs = client
            .describe_vpcs()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeVpcs"))?;
        let mut found = BTreeMap::new();
        for vpc in &vpcs {
            let Some(id) = vpc.vpc_id() else { continue };
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "cidr_block", vpc.cidr_block());
            put_str(
                &mut attrs,
                "instance_tenancy",
                vpc.instance_tenancy().map(Tenancy::as_str),
            );
            put_str(&mut attrs, "owner_id", vpc.owner_id());
            if let Some(owner) = vpc.owner_id() {
                attrs.insert("arn".into(), Value::string(arn(region, owner, "vpc", id)));
            }
            attrs.insert("tags".into(), tags_to_value(vpc.tags()));
            found.insert(id.to_string(), attrs);
        }
        if found.is_empty() {
            return Ok(found);
        }

        // Two reads complete the VPCs, run concurrently:
        // - the default security group of each VPC: DescribeVpcs does not carry it, so one
        //   batched DescribeSecurityGroups (all the VPCs' `default` groups) per observe;
        // - the DNS attributes: neither DescribeVpcs nor any batched call carries them (AWS
        //   and moto alike), and DescribeVpcAttribute answers for one VPC and one attribute,
        //   so this is two calls per VPC, ATTRIBUTE_CONCURRENCY in flight at once. They are
        //   kept: without them drift of enable_dns_support/hostnames would go unseen. A VPC
        //   that vanished in between is left out of the result.
        let ids: Vec<String> = found.keys().cloned().collect();
        let groups = async {
            client
                .describe_security_groups()
                .filters(filter("vpc-id", ids.iter().map(String::as_str)))
                .filters(filter("group-name", ["default"]))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(api_error("DescribeSecurityGroups"))
        };
        let dns = futures::stream::iter(ids.iter().cloned().map(|id| {
            let client = client.clone();
            async move {
                let dns = dns_attributes(&client, &id).await?;
                Ok::<_, ProviderError>((id, dns))
            }
        }))
        .buffer_unordered(ATTRIBUTE_CONCURRENCY)
        .try_collect::<Vec<(String, Option<Dns>)>>();
        let (groups, dns) = futures::join!(groups, dns);
        for g in &groups? {
            if let (Some(vpc_id), Some(group_id)) = (g.vpc_id(), g.group_id())
                && let Some(attrs) = found.get_mut(vpc_id)
            {
                attrs.insert("default_security_group_id".into(), Value::string(group_id));
            }
        }
        for (id, dns) in dns? {
            match dns {
                Some(Dns { support, hostnames }) => {
                    let attrs = found.get_mut(&id).expect("described above");
                    if let Some(s) = support {
                        attrs.insert("enable_dns_support".into(), Value::Bool(s));
                    }
                    if let Some(h) = hostnames {
                        attrs.insert("enable_dns_hostnames".into(), Value::Bool(h));
                    }
                }
                None => {
                    found.remove(&id);
                }
            }
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![filter("vpc-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("VPC {id}")))
    }
}

/// A VPC's DNS attributes, as DescribeVpcAttribute reports them.
struct Dns {
    support: Option<bool>,
    hostnames: Option<bool>,
}

/// The DNS attributes of one VPC; `None` when the VPC is gone.
async fn dns_attributes(
    client: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Option<Dns>, ProviderError> {
    let support = client
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(VpcAttributeName::EnableDnsSupport)
        .send();
    let hostnames = client
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(VpcAttributeName::EnableDnsHostnames)
        .send();
    let (support, hostnames) = futures::join!(support, hostnames);
    match (support, hostnames) {
        (Ok(s), Ok(h)) => Ok(Some(Dns {
            support: s
                .enable_dns_support()
                .and_then(AttributeBooleanValue::value),
            hostnames: h
                .enable_dns_hostnames()
                .and_then(AttributeBooleanValue::value),
        })),
        (Err(e), _) | (_, Err(e)) => {
            let e = AwsError::from_sdk(e);
            if e.is(&[NOT_FOUND]) {
                Ok(None)
            } else {
                Err(e.into_provider("DescribeVpcAttribute"))
            }
        }
    }
}

/// Sets the DNS attributes that are `Some`. Hostnames need DNS support, so support is
/// turned on before hostnames, and hostnames off before support.
async fn set_dns(
    client: &aws_sdk_ec2::Client,
    id: &str,
    support: Option<bool>,
    hostnames: Option<bool>,
) -> Result<(), ProviderError> {
    let flag = |b: bool| AttributeBooleanValue::builder().value(b).build();
    let set_support = async |b: bool| {
        client
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_support(flag(b))
            .send()
            .await
            .map(|_| ())
            .map_err(api_error("ModifyVpcAttribute"))
    };
    if support == Some(true) {
        set_support(true).await?;
    }
    if let Some(h) = hostnames {
        client
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_hostnames(flag(h))
            .send()
            .await
            .map_err(api_error("ModifyVpcAttribute"))?;
    }
    if support == Some(false) {
        set_support(false).await?;
    }
    Ok(())
}

#[async_trait]
impl ResourceType for Vpc {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = describe_ids(req.ids, "vpc-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let support = input_bool(inputs, "enable_dns_support")?;
        let hostnames = input_bool(inputs, "enable_dns_hostnames")?;
        let out = client
            .create_vpc()
            .cidr_block(require_str(inputs, "cidr_block")?)
            .set_instance_tenancy(
                input_str(inputs, "instance_tenancy").map(|t| Tenancy::from(t.as_str())),
            )
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::Vpc, inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateVpc"))?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .ok_or_else(|| ProviderError::api("CreateVpc", "the response carries no VPC id"))?
            .to_string();
        client
            .wait_until_vpc_available()
            .filters(filter("vpc-id", [id.as_str()]))
            .wait(WAIT_FOR_CREATE)
            .await
            .map_err(|e| waiter_error("wait for the VPC to be available", e))?;
        // A new VPC has DNS support on and DNS hostnames off: change only what differs.
        set_dns(
            &client,
            &id,
            support.filter(|s| !s),
            hostnames.filter(|h| *h),
        )
        .await?;
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        let support = if changed("enable_dns_support") {
            input_bool(req.inputs, "enable_dns_support")?
        } else {
            None
        };
        let hostnames = if changed("enable_dns_hostnames") {
            input_bool(req.inputs, "enable_dns_hostnames")?
        } else {
            None
        };
        set_dns(&client, req.id, support, hostnames).await?;
        if changed("tags") {
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteVpc",
            client.delete_vpc().vpc_id(req.id).send().await,
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
