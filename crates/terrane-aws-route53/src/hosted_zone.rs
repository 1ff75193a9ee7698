//! `aws.route53.hosted_zone`: a public or private (VPC-associated) hosted zone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_route53::types::{HostedZoneConfig, TagResourceType, Vpc, VpcRegion};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, bare_id, dns_name, input_str, owned_by, require_str, sync_tags, tags_of, value_str,
    wait_in_sync,
};

pub const TYPE_NAME: &str = "aws.route53.hosted_zone";

const NOT_FOUND: &str = "NoSuchHostedZone";

/// GetHostedZone calls in flight at once during an observe.
const CONCURRENCY: usize = 8;

pub struct HostedZone {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Route53 hosted zone: public, or private to the VPCs it is associated with.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The zone's domain name, e.g. example.com (a final dot is optional)."),
            AttrSchema::optional("comment", String)
                .default(DefaultValue::Str(""))
                .describe("A comment on the zone."),
            AttrSchema::optional("vpcs", List).unordered().describe(
                "For a private zone, the VPCs it answers in: `{vpc_id, vpc_region}`. A zone \
                 created public cannot become private (or the reverse): AWS refuses.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the zone."),
            AttrSchema::computed("id", String)
                .describe("The zone id (Z...), without `/hostedzone/`."),
            AttrSchema::computed("name_servers", List)
                .describe("The zone's delegation set (public zones)."),
            AttrSchema::computed("private_zone", Bool).describe("Whether the zone is private."),
            AttrSchema::computed("arn", String).describe("The zone's ARN."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "zone:\n  type: aws.route53.hosted_zone\n  properties:\n    name: example.com\n    \
                  comment: public zone\n    tags:\n      team: web\n",
    }
}

/// `name` as a canonical DNS name; `vpcs` sorted.
pub fn normalize(attr: &str, value: &Value) -> Value {
    match (attr, value) {
        ("name", Value::String(s)) => Value::string(dns_name(s)),
        ("vpcs", Value::List(l)) if !value.contains_unknown() => {
            let mut l = l.clone();
            l.sort_by_key(|v| v.to_string());
            Value::List(l)
        }
        _ => value.clone(),
    }
}

fn vpc_set(attrs: &Attributes) -> BTreeSet<(String, String)> {
    attrs
        .get("vpcs")
        .and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(|v| {
                    let m = v.as_map()?;
                    Some((
                        m.get("vpc_id").and_then(value_str)?,
                        m.get("vpc_region").and_then(value_str)?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn sdk_vpc(vpc: &(String, String)) -> Vpc {
    Vpc::builder()
        .vpc_id(&vpc.0)
        .vpc_region(VpcRegion::from(vpc.1.as_str()))
        .build()
}

fn vpcs_value(vpcs: &BTreeSet<(String, String)>) -> Value {
    Value::List(
        vpcs.iter()
            .map(|(id, region)| {
                Value::Map(
                    [
                        ("vpc_id".to_string(), Value::string(id)),
                        ("vpc_region".to_string(), Value::string(region)),
                    ]
                    .into(),
                )
            })
            .collect(),
    )
}

impl HostedZone {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        HostedZone {
            clients,
            schema: schema(),
        }
    }

    /// One zone from GetHostedZone (the only call that tells its name servers and VPCs),
    /// without tags; `None` when it does not exist.
    async fn get(
        client: &aws_sdk_route53::Client,
        id: &str,
    ) -> Result<Option<Attributes>, ProviderError> {
        let out = match client.get_hosted_zone().id(id).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(&[NOT_FOUND]) {
                    return Ok(None);
                }
                return Err(e.into_provider("GetHostedZone"));
            }
        };
        let Some(zone) = out.hosted_zone() else {
            return Ok(None);
        };
        let id = bare_id(zone.id());
        let mut a = Attributes::new();
        a.insert("id".into(), Value::string(id));
        a.insert("name".into(), Value::string(dns_name(zone.name())));
        let config = zone.config();
        a.insert(
            "comment".into(),
            Value::string(config.and_then(|c| c.comment()).unwrap_or("")),
        );
        let private = config.is_some_and(|c| c.private_zone());
        a.insert("private_zone".into(), Value::Bool(private));
        let vpcs: BTreeSet<(String, String)> = out
            .vpcs()
            .iter()
            .filter_map(|v| {
                Some((
                    v.vpc_id()?.to_string(),
                    v.vpc_region()?.as_str().to_string(),
                ))
            })
            .collect();
        a.insert("vpcs".into(), vpcs_value(&vpcs));
        a.insert(
            "name_servers".into(),
            Value::List(
                out.delegation_set()
                    .map(|d| d.name_servers().iter().map(Value::string).collect())
                    .unwrap_or_default(),
            ),
        );
        a.insert(
            "arn".into(),
            Value::string(format!("arn:aws:route53:::hostedzone/{id}")),
        );
        Ok(Some(a))
    }

    /// The zones with these ids: GetHostedZone per zone (concurrently), and their tags in
    /// batches of ten.
    async fn read(
        &self,
        region: &str,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let zones: Vec<Option<Attributes>> = futures::stream::iter(ids)
            .map(|id| {
                let client = client.clone();
                async move { Self::get(&client, &id).await }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let mut found: BTreeMap<String, Attributes> = zones
            .into_iter()
            .flatten()
            .filter_map(|a| Some((a.get("id")?.as_str()?.to_string(), a)))
            .collect();
        let ids: Vec<String> = found.keys().cloned().collect();
        let mut tags = tags_of(&client, TagResourceType::Hostedzone, &ids).await?;
        for (id, a) in found.iter_mut() {
            a.insert(
                "tags".into(),
                tags.remove(id).unwrap_or(Value::Map(BTreeMap::new())),
            );
        }
        Ok(found)
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.read(region, [id.to_string()])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("hosted zone {id}")))
    }
}

#[async_trait]
impl ResourceType for HostedZone {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// ListHostedZones tells neither name servers nor VPC associations: one GetHostedZone
    /// per asked id is needed (run concurrently); tags come batched, ten zones a call.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids: BTreeSet<String> = req.ids.iter().map(|i| bare_id(i).to_string()).collect();
        let found = self.read(req.region, ids).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let vpcs = vpc_set(inputs);
        let mut vpc_iter = vpcs.iter();
        let first = vpc_iter.next();
        // CreateHostedZone takes no tags: they follow in ChangeTagsForResource. Its
        // CallerReference (the client token) makes a retried create return the same zone.
        let out = client
            .create_hosted_zone()
            .name(require_str(inputs, "name")?)
            .caller_reference(req.client_token)
            .hosted_zone_config(
                HostedZoneConfig::builder()
                    .set_comment(input_str(inputs, "comment").filter(|c| !c.is_empty()))
                    .private_zone(first.is_some())
                    .build(),
            )
            .set_vpc(first.map(sdk_vpc))
            .send()
            .await
            .map_err(api_error("CreateHostedZone"))?;
        let id = out
            .hosted_zone()
            .map(|z| bare_id(z.id()).to_string())
            .ok_or_else(|| ProviderError::api("CreateHostedZone", "no zone in the response"))?;
        sync_tags(
            &client,
            TagResourceType::Hostedzone,
            &id,
            inputs,
            &Attributes::new(),
        )
        .await?;
        for vpc in vpc_iter {
            let change = client
                .associate_vpc_with_hosted_zone()
                .hosted_zone_id(&id)
                .vpc(sdk_vpc(vpc))
                .send()
                .await
                .map_err(api_error("AssociateVPCWithHostedZone"))?;
            if let Some(c) = change.change_info() {
                wait_in_sync(&client, bare_id(c.id())).await?;
            }
        }
        if let Some(c) = out.change_info() {
            wait_in_sync(&client, bare_id(c.id())).await?;
        }
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |n: &str| req.changed.iter().any(|c| c == n);
        if changed("comment") {
            client
                .update_hosted_zone_comment()
                .id(req.id)
                .set_comment(input_str(req.inputs, "comment"))
                .send()
                .await
                .map_err(api_error("UpdateHostedZoneComment"))?;
        }
        if changed("vpcs") {
            let want = vpc_set(req.inputs);
            let have = vpc_set(req.prior);
            // Associate first: a private zone must keep at least one VPC.
            for vpc in want.difference(&have) {
                let out = client
                    .associate_vpc_with_hosted_zone()
                    .hosted_zone_id(req.id)
                    .vpc(sdk_vpc(vpc))
                    .send()
                    .await
                    .map_err(api_error("AssociateVPCWithHostedZone"))?;
                if let Some(c) = out.change_info() {
                    wait_in_sync(&client, bare_id(c.id())).await?;
                }
            }
            for vpc in have.difference(&want) {
                let out = client
                    .disassociate_vpc_from_hosted_zone()
                    .hosted_zone_id(req.id)
                    .vpc(sdk_vpc(vpc))
                    .send()
                    .await
                    .map_err(api_error("DisassociateVPCFromHostedZone"))?;
                if let Some(c) = out.change_info() {
                    wait_in_sync(&client, bare_id(c.id())).await?;
                }
            }
        }
        if changed("tags") {
            sync_tags(
                &client,
                TagResourceType::Hostedzone,
                req.id,
                req.inputs,
                req.prior,
            )
            .await?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// The zone must hold only its SOA and NS records; its other records are terrane
    /// resources of their own, deleted before it.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteHostedZone",
            client.delete_hosted_zone().id(req.id).send().await,
            &[NOT_FOUND],
        )
    }

    /// ListHostedZones (one paginated call), tags ten zones a call, then the zones that
    /// carry the ownership tags are read in full.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let zones = client
            .list_hosted_zones()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListHostedZones"))?;
        let ids: Vec<String> = zones.iter().map(|z| bare_id(z.id()).to_string()).collect();
        let tags = tags_of(&client, TagResourceType::Hostedzone, &ids).await?;
        let owned = tags.into_iter().filter_map(|(id, t)| {
            let a: Attributes = [("tags".to_string(), t)].into();
            owned_by(&req, &a).then_some(id)
        });
        let mut found = self.read(req.region, owned.collect::<Vec<_>>()).await?;
        found.retain(|_, a| owned_by(&req, a));
        Ok(found)
    }
}
