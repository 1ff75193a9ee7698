//! `aws.servicediscovery.service`: a Cloud Map service in a namespace: the DNS records
//! (A, AAAA, SRV, CNAME) its instances (e.g. an ECS service's tasks) are published under.
//! The cloud id is the service's id (`srv-...`).
//!
//! Of `dns_config`, the records change in place (UpdateService); the routing policy cannot
//! change once the service exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsConfigChange, DnsRecord, HealthCheckCustomConfig, RecordType, RoutingPolicy,
    ServiceChange,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_str, is_owned, require_str, wanted};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, prior_arn, sdk_tags, sync_tags, wait_operation, with_tags};

pub const TYPE_NAME: &str = "aws.servicediscovery.service";

const NOT_FOUND: &[&str] = &["ServiceNotFound"];

/// GetService calls in flight at once (there is no batched read by id).
const CONCURRENCY: usize = 8;

pub struct Service {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Cloud Map service: a name in a namespace under which instances (an \
                      ECS service's tasks) are published as DNS records.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The service's name: `<name>.<namespace>` in DNS."),
            AttrSchema::required("namespace_id", String)
                .forces_replacement()
                .describe("The namespace's id."),
            AttrSchema::optional("description", String).describe("A description."),
            AttrSchema::optional("dns_config", Map).describe(
                "`routing_policy` (`MULTIVALUE` or `WEIGHTED`; fixed once created) and \
                 `records`: a list of maps of `type` (`A`, `AAAA`, `SRV`, `CNAME`) and `ttl` \
                 (seconds), changeable in place.",
            ),
            AttrSchema::optional("health_check_custom_config", Map)
                .forces_replacement()
                .describe("Custom health checking (ECS reports task health): `failure_threshold`."),
            AttrSchema::optional("tags", Map).describe("Tags on the service."),
            AttrSchema::computed("id", String).describe("The service's id (`srv-...`)."),
            AttrSchema::computed("arn", String).describe("The service's ARN."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "api_discovery:\n  type: aws.servicediscovery.service\n  properties:\n    \
                  name: api\n    namespace_id: ${internal.id}\n    dns_config:\n      \
                  routing_policy: MULTIVALUE\n      records:\n        - type: A\n          \
                  ttl: 10\n    health_check_custom_config:\n      failure_threshold: 1\n",
    }
}

/// The routing policy is MULTIVALUE unless set.
fn normalize(attr: &str, v: &Value) -> Value {
    match (attr, v) {
        ("dns_config", Value::Map(m)) => {
            let mut m = m.clone();
            m.entry("routing_policy".into())
                .or_insert_with(|| Value::string("MULTIVALUE"));
            Value::Map(m)
        }
        _ => v.clone(),
    }
}

fn records(m: &BTreeMap<String, Value>) -> Result<Vec<DnsRecord>, ProviderError> {
    m.get("records")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let r = r
                .as_map()
                .ok_or_else(|| ProviderError::Invalid("`records` must be a list of maps".into()))?;
            DnsRecord::builder()
                .set_type(r.get("type").and_then(Value::as_str).map(RecordType::from))
                .set_ttl(r.get("ttl").and_then(Value::as_i64))
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))
        })
        .collect()
}

fn dns_map(inputs: &Attributes) -> Option<&BTreeMap<String, Value>> {
    inputs.get("dns_config").and_then(Value::as_map)
}

fn service_attributes(s: &aws_sdk_servicediscovery::types::Service) -> Attributes {
    let mut a = Attributes::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            a.insert(k.into(), Value::string(v));
        }
    };
    put("id", s.id());
    put("arn", s.arn());
    put("name", s.name());
    put("namespace_id", s.namespace_id());
    put("description", s.description());
    if let Some(d) = s.dns_config() {
        let mut m = BTreeMap::new();
        if let Some(p) = d.routing_policy() {
            m.insert("routing_policy".to_string(), Value::string(p.as_str()));
        }
        m.insert(
            "records".to_string(),
            Value::List(
                d.dns_records()
                    .iter()
                    .map(|r| {
                        Value::Map(BTreeMap::from([
                            ("type".to_string(), Value::string(r.r#type().as_str())),
                            ("ttl".to_string(), Value::int(r.ttl())),
                        ]))
                    })
                    .collect(),
            ),
        );
        a.insert("dns_config".into(), Value::Map(m));
    }
    // Deprecated by AWS (the threshold is now always 1) but still part of the API.
    #[allow(deprecated)]
    if let Some(h) = s.health_check_custom_config() {
        let mut m = BTreeMap::new();
        if let Some(t) = h.failure_threshold() {
            m.insert("failure_threshold".to_string(), Value::int(t.into()));
        }
        a.insert("health_check_custom_config".into(), Value::Map(m));
    }
    a
}

impl Service {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Service {
            clients,
            schema: schema(),
        }
    }

    /// GetService per id, concurrently (ListServices does not give every setting back),
    /// then tags per service; ids not found are left out.
    async fn read(
        &self,
        region: &str,
        ids: Vec<String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let results: Vec<Option<(String, Attributes)>> = futures::stream::iter(ids)
            .map(|id| {
                let client = client.clone();
                async move {
                    match client.get_service().id(&id).send().await {
                        Ok(out) => Ok(out.service().map(|s| (id, service_attributes(s)))),
                        Err(e) => {
                            let e = AwsError::from_sdk(e);
                            if e.is(NOT_FOUND) {
                                Ok(None)
                            } else {
                                Err(e.into_provider("GetService"))
                            }
                        }
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        with_tags(&client, results.into_iter().flatten().collect()).await
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.read(region, vec![id.to_string()])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("Cloud Map service {id}")))
    }
}

#[async_trait]
impl ResourceType for Service {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// GetService and ListTagsForResource per id, concurrently (no batched read by id).
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids = wanted(req.ids).into_iter().map(str::to_string).collect();
        let found = self.read(req.region, ids).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let dns = match dns_map(inputs) {
            Some(m) => Some(
                DnsConfig::builder()
                    .set_routing_policy(
                        m.get("routing_policy")
                            .and_then(Value::as_str)
                            .map(RoutingPolicy::from),
                    )
                    .set_dns_records(Some(records(m)?))
                    .build()
                    .map_err(|e| ProviderError::Invalid(e.to_string()))?,
            ),
            None => None,
        };
        let health = inputs
            .get("health_check_custom_config")
            .and_then(Value::as_map)
            .map(|m| {
                // Deprecated by AWS (the threshold is now always 1) but still accepted.
                #[allow(deprecated)]
                HealthCheckCustomConfig::builder()
                    .set_failure_threshold(
                        m.get("failure_threshold")
                            .and_then(Value::as_i64)
                            .and_then(|i| i32::try_from(i).ok()),
                    )
                    .build()
            });
        let out = client
            .create_service()
            .name(require_str(inputs, "name")?)
            .namespace_id(require_str(inputs, "namespace_id")?)
            .set_description(input_str(inputs, "description"))
            .set_dns_config(dns)
            .set_health_check_custom_config(health)
            .set_tags(sdk_tags(inputs)?)
            .creator_request_id(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateService"))?;
        let id = out
            .service()
            .and_then(|s| s.id())
            .ok_or_else(|| ProviderError::api("CreateService", "no service returned"))?
            .to_string();
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    /// Description and DNS records: UpdateService (an operation, waited for). Tags in place.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |n: &str| req.changed.iter().any(|c| c == n);
        if changed("dns_config") {
            let policy = |a: &Attributes| {
                dns_map(a)
                    .and_then(|m| m.get("routing_policy"))
                    .and_then(Value::as_str)
                    .unwrap_or("MULTIVALUE")
                    .to_string()
            };
            if req.prior.contains_key("dns_config") && policy(req.inputs) != policy(req.prior) {
                return Err(ProviderError::Invalid(format!(
                    "the routing policy of Cloud Map service {} cannot change from {} to {}: \
                     replace the service (e.g. rename it)",
                    req.id,
                    policy(req.prior),
                    policy(req.inputs)
                )));
            }
        }
        if changed("description") || changed("dns_config") {
            let mut change = ServiceChange::builder()
                .description(input_str(req.inputs, "description").unwrap_or_default());
            if let Some(m) = dns_map(req.inputs) {
                change = change.dns_config(
                    DnsConfigChange::builder()
                        .set_dns_records(Some(records(m)?))
                        .build()
                        .map_err(|e| ProviderError::Invalid(e.to_string()))?,
                );
            }
            let out = client
                .update_service()
                .id(req.id)
                .service(change.build())
                .send()
                .await
                .map_err(api_error("UpdateService"))?;
            if let Some(op) = out.operation_id() {
                wait_operation(&client, op).await?;
            }
        }
        if changed("tags") {
            let arn = match prior_arn(req.prior) {
                Some(a) => a,
                None => prior_arn(&self.read_one(req.region, req.id).await?).unwrap_or_default(),
            };
            sync_tags(&client, &arn, req.inputs, req.prior).await?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// DeleteService; one already gone is fine. Instances registered by ECS go away when
    /// the ECS service that registered them is deleted (it depends on this service).
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteService",
            client.delete_service().id(req.id).send().await,
            NOT_FOUND,
        )
    }

    /// ListServices, then tags per service, keeping the owned ones; the owned ones are then
    /// read in full with GetService.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let pages: Vec<_> = client
            .list_services()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListServices"))?;
        let services: Vec<_> = pages.iter().flat_map(|p| p.services()).collect();
        let listed: BTreeMap<String, Attributes> = services
            .iter()
            .filter_map(|s| {
                let mut a = Attributes::new();
                a.insert("arn".into(), Value::string(s.arn()?));
                Some((s.id()?.to_string(), a))
            })
            .collect();
        let mut tagged = with_tags(&client, listed).await?;
        tagged.retain(|_, a| is_owned(&req, a));
        self.read(req.region, tagged.into_keys().collect()).await
    }
}
