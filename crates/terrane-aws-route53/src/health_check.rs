//! `aws.route53.health_check`: an endpoint health check, for failover and other routing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType, TagResourceType};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, built, input_i64, input_str, owned_by, require_str, sync_tags, tags_of};

pub const TYPE_NAME: &str = "aws.route53.health_check";

const NOT_FOUND: &str = "NoSuchHealthCheck";

pub struct HealthCheck {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Route53 health check of an endpoint, by domain name or IP address.",
        attributes: vec![
            AttrSchema::required("type", String)
                .forces_replacement()
                .describe("`HTTP`, `HTTPS`, `HTTP_STR_MATCH`, `HTTPS_STR_MATCH` or `TCP`."),
            AttrSchema::optional("fqdn", String)
                .describe("The endpoint's domain name (or the Host header with `ip_address`)."),
            AttrSchema::optional("ip_address", String).describe("The endpoint's IP address."),
            AttrSchema::optional("port", Number)
                .describe("The endpoint's port (80 for HTTP, 443 for HTTPS by default)."),
            AttrSchema::optional("resource_path", String)
                .describe("The path requested, e.g. /health."),
            AttrSchema::optional("search_string", String)
                .describe("The text the response must contain (the `*_STR_MATCH` types)."),
            AttrSchema::optional("request_interval", Number)
                .default(DefaultValue::Int(30))
                .forces_replacement()
                .describe("Seconds between checks: 10 or 30."),
            AttrSchema::optional("failure_threshold", Number)
                .default(DefaultValue::Int(3))
                .describe("Consecutive failures (or successes) that change the status: 1-10."),
            AttrSchema::optional("tags", Map).describe("Tags on the health check."),
            AttrSchema::computed("id", String).describe("The health check's id."),
            AttrSchema::computed("arn", String).describe("The health check's ARN."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "api_health:\n  type: aws.route53.health_check\n  properties:\n    type: HTTPS\n    \
                  fqdn: api.example.com\n    resource_path: /health\n    failure_threshold: 3\n",
    }
}

fn check_attributes(h: &aws_sdk_route53::types::HealthCheck) -> Attributes {
    let mut a = Attributes::new();
    a.insert("id".into(), Value::string(h.id()));
    a.insert(
        "arn".into(),
        Value::string(format!("arn:aws:route53:::healthcheck/{}", h.id())),
    );
    if let Some(c) = h.health_check_config() {
        a.insert("type".into(), Value::string(c.r#type().as_str()));
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                a.insert(k.into(), Value::string(v));
            }
        };
        put("fqdn", c.fully_qualified_domain_name());
        put("ip_address", c.ip_address());
        put("resource_path", c.resource_path());
        put("search_string", c.search_string());
        for (k, v) in [
            ("port", c.port()),
            ("request_interval", c.request_interval()),
            ("failure_threshold", c.failure_threshold()),
        ] {
            if let Some(v) = v {
                a.insert(k.into(), Value::int(v.into()));
            }
        }
    }
    a
}

fn int(inputs: &Attributes, name: &str) -> Result<Option<i32>, ProviderError> {
    input_i64(inputs, name)?
        .map(|n| {
            i32::try_from(n).map_err(|_| ProviderError::Invalid(format!("`{name}` is too large")))
        })
        .transpose()
}

impl HealthCheck {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        HealthCheck {
            clients,
            schema: schema(),
        }
    }

    /// Every health check of the account (one paginated ListHealthChecks) that `keep`
    /// accepts, with its tags (ten checks a call).
    async fn list(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let checks = client
            .list_health_checks()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListHealthChecks"))?;
        let mut found: BTreeMap<String, Attributes> = checks
            .iter()
            .filter(|h| keep(h.id()))
            .map(|h| (h.id().to_string(), check_attributes(h)))
            .collect();
        let ids: Vec<String> = found.keys().cloned().collect();
        let mut tags = tags_of(&client, TagResourceType::Healthcheck, &ids).await?;
        for (id, a) in found.iter_mut() {
            a.insert(
                "tags".into(),
                tags.remove(id).unwrap_or(Value::Map(BTreeMap::new())),
            );
        }
        Ok(found)
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.list(region, |i| i == id)
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("health check {id}")))
    }
}

#[async_trait]
impl ResourceType for HealthCheck {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let ids: BTreeSet<&str> = req.ids.iter().map(String::as_str).collect();
        let found = self.list(req.region, |id| ids.contains(id)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let config = built(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::from(require_str(inputs, "type")?.as_str()))
                .set_fully_qualified_domain_name(input_str(inputs, "fqdn"))
                .set_ip_address(input_str(inputs, "ip_address"))
                .set_port(int(inputs, "port")?)
                .set_resource_path(input_str(inputs, "resource_path"))
                .set_search_string(input_str(inputs, "search_string"))
                .set_request_interval(int(inputs, "request_interval")?)
                .set_failure_threshold(int(inputs, "failure_threshold")?)
                .build(),
        )?;
        // CreateHealthCheck takes no tags (they follow in ChangeTagsForResource); its
        // CallerReference (the client token) makes a retried create return the same check.
        let out = client
            .create_health_check()
            .caller_reference(req.client_token)
            .health_check_config(config)
            .send()
            .await
            .map_err(api_error("CreateHealthCheck"))?;
        let id = out
            .health_check()
            .map(|h| h.id().to_string())
            .ok_or_else(|| ProviderError::api("CreateHealthCheck", "no health check returned"))?;
        sync_tags(
            &client,
            TagResourceType::Healthcheck,
            &id,
            inputs,
            &Attributes::new(),
        )
        .await?;
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        let config_attrs = [
            "fqdn",
            "ip_address",
            "port",
            "resource_path",
            "search_string",
            "failure_threshold",
        ];
        if req
            .changed
            .iter()
            .any(|c| config_attrs.contains(&c.as_str()))
        {
            client
                .update_health_check()
                .health_check_id(req.id)
                .set_fully_qualified_domain_name(input_str(inputs, "fqdn"))
                .set_ip_address(input_str(inputs, "ip_address"))
                .set_port(int(inputs, "port")?)
                .set_resource_path(input_str(inputs, "resource_path"))
                .set_search_string(input_str(inputs, "search_string"))
                .set_failure_threshold(int(inputs, "failure_threshold")?)
                .send()
                .await
                .map_err(api_error("UpdateHealthCheck"))?;
        }
        if req.changed.iter().any(|c| c == "tags") {
            sync_tags(
                &client,
                TagResourceType::Healthcheck,
                req.id,
                inputs,
                req.prior,
            )
            .await?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteHealthCheck",
            client
                .delete_health_check()
                .health_check_id(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = self.list(req.region, |_| true).await?;
        found.retain(|_, a| owned_by(&req, a));
        Ok(found)
    }
}
