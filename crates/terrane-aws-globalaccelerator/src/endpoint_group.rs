//! `aws.globalaccelerator.endpoint_group`: the endpoints (load balancers, instances, EIPs)
//! of one region that a listener sends traffic to. Endpoint groups carry no tags; every
//! change waits for the accelerator to be `DEPLOYED` again (by polling: no SDK waiter).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_globalaccelerator::types::{EndpointConfiguration, HealthCheckProtocol, PortOverride};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_bool, input_i32, input_str, require_str, wanted};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;
use crate::accelerator::Accelerator;
use crate::listener::accelerator_of;

pub const TYPE_NAME: &str = "aws.globalaccelerator.endpoint_group";

const NOT_FOUND: &[&str] = &[
    "EndpointGroupNotFoundException",
    "ListenerNotFoundException",
    "AcceleratorNotFoundException",
];

/// ListEndpointGroups calls in flight at once (one per listener).
const CONCURRENCY: usize = 8;

/// The settings UpdateEndpointGroup changes.
const SETTINGS: &[&str] = &[
    "endpoint_configurations",
    "traffic_dial_percentage",
    "health_check_port",
    "health_check_protocol",
    "health_check_path",
    "health_check_interval_seconds",
    "threshold_count",
    "port_overrides",
];

pub struct EndpointGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Global Accelerator endpoint group: the endpoints of one region a listener sends traffic to, with their health checks and weights.",
        attributes: vec![
            AttrSchema::required("listener_arn", String)
                .forces_replacement()
                .describe("The listener's ARN."),
            AttrSchema::required("endpoint_group_region", String)
                .forces_replacement()
                .describe("The region of the endpoints, e.g. `eu-west-1`."),
            AttrSchema::optional("endpoint_configurations", List)
                .unordered()
                .describe("The endpoints, each a map: `endpoint_id` (an ALB/NLB ARN, instance id or EIP allocation id), `weight` (0-255), `client_ip_preservation_enabled` (bool)."),
            AttrSchema::optional("traffic_dial_percentage", Number)
                .default(DefaultValue::Int(100))
                .describe("The share of the listener's traffic sent to this region, 0-100."),
            AttrSchema::optional("health_check_port", Number)
                .describe("The port health checks go to (the listener's port by default)."),
            AttrSchema::optional("health_check_protocol", String)
                .default(DefaultValue::Str("TCP"))
                .describe("`TCP`, `HTTP` or `HTTPS`."),
            AttrSchema::optional("health_check_path", String)
                .describe("The path of HTTP(S) health checks (`/` by default)."),
            AttrSchema::optional("health_check_interval_seconds", Number)
                .default(DefaultValue::Int(30))
                .describe("Seconds between health checks: 10 or 30."),
            AttrSchema::optional("threshold_count", Number)
                .default(DefaultValue::Int(3))
                .describe("Consecutive checks that make an endpoint healthy or unhealthy."),
            AttrSchema::optional("port_overrides", List)
                .unordered()
                .describe("Listener ports mapped to other endpoint ports, each a map: `listener_port`, `endpoint_port`."),
            AttrSchema::computed("arn", String).describe("The endpoint group's ARN; also its id."),
        ],
        taggable: false,
        id_attribute: "arn",
        normalize: None,
        example: "eu_endpoints:\n  type: aws.globalaccelerator.endpoint_group\n  properties:\n    listener_arn: ${https_in.arn}\n    endpoint_group_region: eu-west-1\n    health_check_protocol: HTTPS\n    health_check_path: /health\n    endpoint_configurations:\n      - endpoint_id: ${eu_alb.arn}\n        weight: 100\n        client_ip_preservation_enabled: true\n",
    }
}

/// The listener an endpoint group ARN belongs to: its ARN up to `/endpoint-group/`.
fn listener_of(arn: &str) -> &str {
    arn.split("/endpoint-group/").next().unwrap_or(arn)
}

fn maps<'a>(inputs: &'a Attributes, name: &str) -> Result<Vec<&'a Attributes>, ProviderError> {
    inputs
        .get(name)
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .map(|v| {
            v.as_map()
                .ok_or_else(|| ProviderError::Invalid(format!("each of `{name}` must be a map")))
        })
        .collect()
}

fn endpoints(inputs: &Attributes) -> Result<Option<Vec<EndpointConfiguration>>, ProviderError> {
    if !inputs.contains_key("endpoint_configurations") {
        return Ok(None);
    }
    maps(inputs, "endpoint_configurations")?
        .into_iter()
        .map(|m| {
            Ok(EndpointConfiguration::builder()
                .endpoint_id(require_str(m, "endpoint_id")?)
                .set_weight(input_i32(m, "weight")?)
                .set_client_ip_preservation_enabled(input_bool(
                    m,
                    "client_ip_preservation_enabled",
                )?)
                .build())
        })
        .collect::<Result<Vec<_>, ProviderError>>()
        .map(Some)
}

fn overrides(inputs: &Attributes) -> Result<Option<Vec<PortOverride>>, ProviderError> {
    if !inputs.contains_key("port_overrides") {
        return Ok(None);
    }
    maps(inputs, "port_overrides")?
        .into_iter()
        .map(|m| {
            Ok(PortOverride::builder()
                .set_listener_port(input_i32(m, "listener_port")?)
                .set_endpoint_port(input_i32(m, "endpoint_port")?)
                .build())
        })
        .collect::<Result<Vec<_>, ProviderError>>()
        .map(Some)
}

fn traffic_dial(inputs: &Attributes) -> Result<Option<f32>, ProviderError> {
    match inputs.get("traffic_dial_percentage") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().map(|f| f as f32)),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| {
            ProviderError::Invalid("`traffic_dial_percentage` must be a number".into())
        }),
        Some(_) => Err(ProviderError::Invalid(
            "`traffic_dial_percentage` must be a number".into(),
        )),
    }
}

fn group_attributes(
    listener: &str,
    g: &aws_sdk_globalaccelerator::types::EndpointGroup,
) -> Option<(String, Attributes)> {
    let arn = g.endpoint_group_arn()?;
    let mut a = Attributes::new();
    a.insert("arn".into(), Value::string(arn));
    a.insert("listener_arn".into(), Value::string(listener));
    let mut put_str = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            a.insert(k.into(), Value::string(v));
        }
    };
    put_str("endpoint_group_region", g.endpoint_group_region());
    put_str(
        "health_check_protocol",
        g.health_check_protocol().map(HealthCheckProtocol::as_str),
    );
    put_str("health_check_path", g.health_check_path());
    for (k, v) in [
        ("health_check_port", g.health_check_port()),
        (
            "health_check_interval_seconds",
            g.health_check_interval_seconds(),
        ),
        ("threshold_count", g.threshold_count()),
    ] {
        if let Some(v) = v {
            a.insert(k.into(), Value::int(v.into()));
        }
    }
    if let Some(d) = g.traffic_dial_percentage() {
        let v = if d.fract() == 0.0 {
            Value::int(d as i64)
        } else {
            serde_json::Number::from_f64(d.into())
                .map(Value::Number)
                .unwrap_or(Value::Null)
        };
        a.insert("traffic_dial_percentage".into(), v);
    }
    a.insert(
        "endpoint_configurations".into(),
        Value::List(
            g.endpoint_descriptions()
                .iter()
                .map(|e| {
                    let mut m = BTreeMap::new();
                    if let Some(id) = e.endpoint_id() {
                        m.insert("endpoint_id".to_string(), Value::string(id));
                    }
                    if let Some(w) = e.weight() {
                        m.insert("weight".to_string(), Value::int(w.into()));
                    }
                    if let Some(c) = e.client_ip_preservation_enabled() {
                        m.insert("client_ip_preservation_enabled".to_string(), Value::Bool(c));
                    }
                    Value::Map(m)
                })
                .collect(),
        ),
    );
    a.insert(
        "port_overrides".into(),
        Value::List(
            g.port_overrides()
                .iter()
                .map(|p| {
                    let mut m = BTreeMap::new();
                    if let Some(l) = p.listener_port() {
                        m.insert("listener_port".to_string(), Value::int(l.into()));
                    }
                    if let Some(e) = p.endpoint_port() {
                        m.insert("endpoint_port".to_string(), Value::int(e.into()));
                    }
                    Value::Map(m)
                })
                .collect(),
        ),
    );
    Some((arn.to_string(), a))
}

impl EndpointGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        EndpointGroup {
            clients,
            schema: schema(),
        }
    }

    /// The wanted groups: one paginated ListEndpointGroups per listener they belong to
    /// (there is no account-wide listing), a few at once.
    async fn read(
        &self,
        ids: &BTreeSet<&str>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients);
        let listeners: BTreeSet<String> =
            ids.iter().map(|id| listener_of(id).to_string()).collect();
        let per: Vec<Vec<(String, Attributes)>> =
            futures::stream::iter(listeners.into_iter().map(|listener| {
                let client = client.clone();
                async move {
                    let listed: Result<Vec<_>, _> = client
                        .list_endpoint_groups()
                        .listener_arn(&listener)
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await;
                    match listed {
                        Ok(gs) => Ok(gs
                            .iter()
                            .filter_map(|g| group_attributes(&listener, g))
                            .collect()),
                        Err(e) => {
                            let e = AwsError::from_sdk(e);
                            if e.is(NOT_FOUND) {
                                Ok(Vec::new())
                            } else {
                                Err(e.into_provider("ListEndpointGroups"))
                            }
                        }
                    }
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(per
            .into_iter()
            .flatten()
            .filter(|(arn, _)| ids.contains(arn.as_str()))
            .collect())
    }

    async fn observe_one(&self, arn: &str) -> Result<Attributes, ProviderError> {
        self.read(&BTreeSet::from([arn]))
            .await?
            .remove(arn)
            .ok_or_else(|| ProviderError::NotFound(format!("endpoint group {arn}")))
    }
}

#[async_trait]
impl ResourceType for EndpointGroup {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// `req.region` is ignored: Global Accelerator answers in us-west-2 only (the group's
    /// own region is `endpoint_group_region`).
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids = wanted(req.ids);
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        Ok(ObserveResponse {
            found: self.read(&ids).await?,
        })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients);
        let listener = require_str(inputs, "listener_arn")?;
        let out = client
            .create_endpoint_group()
            .listener_arn(&listener)
            .endpoint_group_region(require_str(inputs, "endpoint_group_region")?)
            .set_endpoint_configurations(endpoints(inputs)?)
            .set_traffic_dial_percentage(traffic_dial(inputs)?)
            .set_health_check_port(input_i32(inputs, "health_check_port")?)
            .set_health_check_protocol(
                input_str(inputs, "health_check_protocol")
                    .as_deref()
                    .map(HealthCheckProtocol::from),
            )
            .set_health_check_path(input_str(inputs, "health_check_path"))
            .set_health_check_interval_seconds(input_i32(inputs, "health_check_interval_seconds")?)
            .set_threshold_count(input_i32(inputs, "threshold_count")?)
            .set_port_overrides(overrides(inputs)?)
            .idempotency_token(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateEndpointGroup"))?;
        let arn = out
            .endpoint_group()
            .and_then(|g| g.endpoint_group_arn())
            .ok_or_else(|| ProviderError::api("CreateEndpointGroup", "no endpoint group returned"))?
            .to_string();
        Accelerator::wait_deployed(&client, accelerator_of(&listener)).await?;
        let attributes = self.observe_one(&arn).await?;
        Ok(CreateResponse {
            id: arn,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients);
        let inputs = req.inputs;
        let changed = |n: &str| req.changed.iter().any(|c| c == n);
        if SETTINGS.iter().any(|s| changed(s)) {
            client
                .update_endpoint_group()
                .endpoint_group_arn(req.id)
                .set_endpoint_configurations(endpoints(inputs)?)
                .set_traffic_dial_percentage(traffic_dial(inputs)?)
                .set_health_check_port(input_i32(inputs, "health_check_port")?)
                .set_health_check_protocol(
                    input_str(inputs, "health_check_protocol")
                        .as_deref()
                        .map(HealthCheckProtocol::from),
                )
                .set_health_check_path(input_str(inputs, "health_check_path"))
                .set_health_check_interval_seconds(input_i32(
                    inputs,
                    "health_check_interval_seconds",
                )?)
                .set_threshold_count(input_i32(inputs, "threshold_count")?)
                .set_port_overrides(overrides(inputs)?)
                .send()
                .await
                .map_err(api_error("UpdateEndpointGroup"))?;
            Accelerator::wait_deployed(&client, accelerator_of(req.id)).await?;
        }
        let attributes = self.observe_one(req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients);
        gone_is_ok(
            "DeleteEndpointGroup",
            client
                .delete_endpoint_group()
                .endpoint_group_arn(req.id)
                .send()
                .await,
            NOT_FOUND,
        )?;
        match Accelerator::wait_deployed(&client, accelerator_of(req.id)).await {
            Err(ProviderError::NotFound(_)) => Ok(()),
            other => other,
        }
    }

    /// Endpoint groups carry no tags: none are found by ownership.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
