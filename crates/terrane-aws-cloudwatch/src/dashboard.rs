//! `aws.cloudwatch.dashboard`: a CloudWatch dashboard. Its cloud id is its name. Dashboards
//! carry no tags through PutDashboard; terrane does not tag them, so they are never found
//! by ownership.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_json, json_value, require_str, wanted};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, CONCURRENCY, json_doc};

pub const TYPE_NAME: &str = "aws.cloudwatch.dashboard";

const NOT_FOUND: &str = "ResourceNotFound";

pub struct Dashboard {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A CloudWatch dashboard: widgets of metrics, alarms and logs on one page.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The dashboard's name, unique in the account; its cloud id."),
            AttrSchema::required("body", Any).describe(
                "The dashboard body (`{widgets: [...]}`), written as a map in the stack or \
                 as JSON text; compared as data, so key order and spacing never show as drift.",
            ),
            AttrSchema::computed("arn", String).describe("The dashboard's ARN."),
        ],
        taggable: false,
        id_attribute: "name",
        normalize: Some(normalize),
        example: "ops:\n  type: aws.cloudwatch.dashboard\n  properties:\n    name: ops\n    \
                  body:\n      widgets:\n        - type: metric\n          x: 0\n          \
                  y: 0\n          width: 12\n          height: 6\n          properties:\n            \
                  title: Lambda errors\n            region: us-east-1\n            \
                  metrics:\n              - [AWS/Lambda, Errors, FunctionName, api]\n",
    }
}

/// The body compares as data, whether written as a map or as JSON text.
pub fn normalize(attr: &str, value: &Value) -> Value {
    match attr {
        "body" if !value.contains_unknown() => json_doc(value),
        _ => value.clone(),
    }
}

impl Dashboard {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Dashboard {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        crate::client(&self.clients, region)
    }

    /// The dashboards `keep` accepts, by name: one paginated ListDashboards of the account
    /// (`prefix` narrows it for a single name), then GetDashboard per dashboard for its
    /// body, concurrently (AWS has no batched read of bodies).
    async fn read(
        &self,
        region: &str,
        prefix: Option<&str>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(region);
        let pages: Vec<_> = client
            .list_dashboards()
            .set_dashboard_name_prefix(prefix.map(str::to_string))
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListDashboards"))?;
        let names: Vec<String> = pages
            .iter()
            .flat_map(|p| p.dashboard_entries())
            .filter_map(|e| e.dashboard_name())
            .filter(|n| keep(n))
            .map(str::to_string)
            .collect();
        futures::stream::iter(names)
            .map(|name| {
                let client = client.clone();
                async move {
                    let out = match client.get_dashboard().dashboard_name(&name).send().await {
                        Ok(out) => out,
                        Err(e) => {
                            let e = AwsError::from_sdk(e);
                            if e.is(&[NOT_FOUND]) {
                                return Ok(None);
                            }
                            return Err(e.into_provider("GetDashboard"));
                        }
                    };
                    let mut a = Attributes::new();
                    a.insert("name".into(), Value::string(&name));
                    if let Some(arn) = out.dashboard_arn() {
                        a.insert("arn".into(), Value::string(arn));
                    }
                    if let Some(body) = out.dashboard_body() {
                        a.insert("body".into(), json_value(body));
                    }
                    Ok(Some((name, a)))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await
    }

    async fn read_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        self.read(region, Some(name), |n| n == name)
            .await?
            .remove(name)
            .ok_or_else(|| ProviderError::NotFound(format!("dashboard {name}")))
    }

    async fn put(
        &self,
        region: &str,
        name: &str,
        inputs: &Attributes,
    ) -> Result<(), ProviderError> {
        let body = input_json(inputs, "body")?
            .ok_or_else(|| ProviderError::Invalid("`body` is required".into()))?;
        let out = self
            .client(region)
            .put_dashboard()
            .dashboard_name(name)
            .dashboard_body(body)
            .send()
            .await
            .map_err(api_error("PutDashboard"))?;
        // Validation messages are warnings: the dashboard was saved.
        for m in out.dashboard_validation_messages() {
            tracing::warn!(
                dashboard = name,
                path = m.data_path().unwrap_or(""),
                "{}",
                m.message().unwrap_or("")
            );
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for Dashboard {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let ids = wanted(req.ids);
        let prefix = (ids.len() == 1)
            .then(|| ids.iter().next().copied())
            .flatten();
        let found = self.read(req.region, prefix, |n| ids.contains(n)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let name = require_str(req.inputs, "name")?;
        self.put(req.region, &name, req.inputs).await?;
        let attributes = self.read_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        if req.changed.iter().any(|c| c == "body") {
            self.put(req.region, req.id, req.inputs).await?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        gone_is_ok(
            "DeleteDashboards",
            self.client(req.region)
                .delete_dashboards()
                .dashboard_names(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// Dashboards carry no tags here: none is ever found by ownership.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
