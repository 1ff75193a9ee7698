//! `aws.elbv2.target_group`: where a load balancer sends traffic (instances, IP addresses
//! such as ECS Fargate tasks, or a Lambda function), with its health check. Its cloud id
//! is its ARN.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_i32, input_str, is_owned, require_str};
use terrane_aws_core::{AwsError, api_error, gone_is_ok, unless_gone};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, NOT_FOUND, any_changed, as_bool, create_tags, input_map, m_bool, m_i32, m_str,
    sync_tags, wanted_arns, with_tags,
};

pub const TYPE_NAME: &str = "aws.elbv2.target_group";

/// Target groups whose attributes are read at the same time (no batched read exists).
const CONCURRENCY: usize = 8;

const HEALTH_KEYS: &[&str] = &[
    "path",
    "port",
    "protocol",
    "matcher",
    "interval",
    "timeout",
    "healthy_threshold",
    "unhealthy_threshold",
    "enabled",
];

/// AWS's health check of an HTTP(S) target group when nothing is said: left out when
/// comparing, and sent for every key the stack leaves out (so that removing a key from the
/// stack brings AWS back to the default).
const HTTP_HEALTH_DEFAULTS: &[(&str, HealthDefault)] = &[
    ("path", HealthDefault::Str("/")),
    ("port", HealthDefault::Str("traffic-port")),
    ("protocol", HealthDefault::Str("HTTP")),
    ("matcher", HealthDefault::Str("200")),
    ("interval", HealthDefault::Int(30)),
    ("timeout", HealthDefault::Int(5)),
    ("healthy_threshold", HealthDefault::Int(5)),
    ("unhealthy_threshold", HealthDefault::Int(2)),
    ("enabled", HealthDefault::Bool(true)),
];

#[derive(Clone, Copy)]
enum HealthDefault {
    Str(&'static str),
    Int(i64),
    Bool(bool),
}

impl HealthDefault {
    fn value(self) -> Value {
        match self {
            HealthDefault::Str(s) => Value::string(s),
            HealthDefault::Int(i) => Value::int(i),
            HealthDefault::Bool(b) => Value::Bool(b),
        }
    }
}

const STICKINESS_KEYS: &[&str] = &["enabled", "type", "cookie_duration", "cookie_name"];

pub struct TargetGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An Elastic Load Balancing v2 target group and its health check. Its id \
                      is its ARN.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The target group's name: up to 32 letters, digits and hyphens."),
            AttrSchema::optional("port", Number)
                .forces_replacement()
                .describe("The port targets receive traffic on (not for `lambda` targets)."),
            AttrSchema::optional("protocol", String)
                .forces_replacement()
                .describe(
                    "`HTTP`, `HTTPS` (application) or `TCP`, `TLS`, `UDP`, `TCP_UDP` (network).",
                ),
            AttrSchema::optional("vpc_id", String)
                .forces_replacement()
                .describe("The VPC of the targets (not for `lambda` targets)."),
            AttrSchema::optional("target_type", String)
                .default(DefaultValue::Str("instance"))
                .forces_replacement()
                .describe("`instance`, `ip` (ECS Fargate tasks), `lambda` or `alb`."),
            AttrSchema::optional("protocol_version", String)
                .forces_replacement()
                .describe("`HTTP1`, `HTTP2` or `GRPC` (HTTP/HTTPS target groups)."),
            AttrSchema::optional("health_check", Map).describe(
                "The health check: `path`, `port` (`traffic-port` by default), `protocol`, \
                 `matcher` (e.g. `200-299`), `interval`, `timeout`, `healthy_threshold`, \
                 `unhealthy_threshold` (seconds and counts), `enabled`. Keys left out take \
                 AWS's HTTP defaults (/, traffic-port, HTTP, 200, 30, 5, 5, 2, true); for \
                 TCP target groups state `protocol` and `timeout`.",
            ),
            AttrSchema::optional("deregistration_delay", Number).describe(
                "Seconds a deregistering target keeps its connections (0-3600, 300 by default).",
            ),
            AttrSchema::optional("stickiness", Map).describe(
                "Sticky sessions: `enabled` (bool), `type` (`lb_cookie`, `app_cookie`, \
                 `source_ip`), `cookie_duration` (seconds), `cookie_name` (`app_cookie`).",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the target group."),
            AttrSchema::computed("arn", String).describe("The target group's ARN (its id)."),
            AttrSchema::computed("arn_suffix", String).describe(
                "The ARN's last part (`targetgroup/name/id`), the CloudWatch `TargetGroup` \
                 dimension.",
            ),
            AttrSchema::computed("load_balancer_arns", List)
                .describe("The load balancers that route to this target group."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "api_targets:\n  type: aws.elbv2.target_group\n  properties:\n    name: api\n    \
                  port: 8000\n    protocol: HTTP\n    vpc_id: ${vpc.id}\n    target_type: ip\n    \
                  deregistration_delay: 30\n    health_check:\n      path: /health\n      \
                  matcher: 200-299\n      interval: 15\n",
    }
}

/// One canonical form: protocols in upper case, target types in lower case; health check
/// values typed (numbers, bools, text) with AWS's HTTP defaults left out; stickiness with
/// `enabled` a bool, its default duration left out, and nothing else when turned off.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match (attr, value) {
        ("protocol" | "protocol_version", Value::String(s)) => Value::string(s.to_uppercase()),
        ("target_type", Value::String(s)) => Value::string(s.to_lowercase()),
        ("health_check", Value::Map(m)) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let Some(v) = health_value(k, v) else {
                    continue;
                };
                let is_default = HTTP_HEALTH_DEFAULTS
                    .iter()
                    .any(|(dk, d)| dk == k && d.value().semantically_equal(&v));
                if !is_default {
                    out.insert(k.clone(), v);
                }
            }
            Value::Map(out)
        }
        ("stickiness", Value::Map(m)) => {
            let mut out = BTreeMap::new();
            let enabled = m.get("enabled").and_then(as_bool).unwrap_or(false);
            out.insert("enabled".to_string(), Value::Bool(enabled));
            // Turned off, the rest has no effect (AWS keeps reporting it).
            if !enabled {
                return Value::Map(out);
            }
            if let Some(t) = m_str(m, "type") {
                out.insert("type".to_string(), Value::string(t.to_lowercase()));
            }
            if let Some(d) = m.get("cookie_duration").and_then(Value::as_i64)
                && d != 86400
            {
                out.insert("cookie_duration".to_string(), Value::int(d));
            }
            if let Some(n) = m_str(m, "cookie_name").filter(|s| !s.is_empty()) {
                out.insert("cookie_name".to_string(), Value::string(n));
            }
            Value::Map(out)
        }
        _ => value.clone(),
    }
}

/// A health check entry in its typed form; `None` for null.
fn health_value(key: &str, v: &Value) -> Option<Value> {
    if v.is_null() {
        return None;
    }
    Some(match key {
        "interval" | "timeout" | "healthy_threshold" | "unhealthy_threshold" => {
            v.as_i64().map(Value::int).unwrap_or_else(|| v.clone())
        }
        "enabled" => as_bool(v).map(Value::Bool).unwrap_or_else(|| v.clone()),
        "protocol" => match v {
            Value::String(s) => Value::string(s.to_uppercase()),
            _ => v.clone(),
        },
        _ => match v {
            Value::Number(n) => Value::string(n.to_string()),
            _ => v.clone(),
        },
    })
}

/// The ARN's part after the last colon: `targetgroup/name/id`.
pub fn arn_suffix(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn tg_attributes(
    tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup,
) -> Option<(String, Attributes)> {
    let arn = tg.target_group_arn()?.to_string();
    let mut a = Attributes::new();
    a.insert("arn".into(), Value::string(&arn));
    a.insert("arn_suffix".into(), Value::string(arn_suffix(&arn)));
    let put = |a: &mut Attributes, k: &str, v: Option<&str>| {
        if let Some(v) = v {
            a.insert(k.into(), Value::string(v));
        }
    };
    put(&mut a, "name", tg.target_group_name());
    put(&mut a, "protocol", tg.protocol().map(|p| p.as_str()));
    put(&mut a, "vpc_id", tg.vpc_id());
    put(&mut a, "target_type", tg.target_type().map(|t| t.as_str()));
    put(&mut a, "protocol_version", tg.protocol_version());
    if let Some(p) = tg.port() {
        a.insert("port".into(), Value::int(p.into()));
    }
    let mut hc = BTreeMap::new();
    let mut s = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            hc.insert(k.to_string(), Value::string(v));
        }
    };
    s("path", tg.health_check_path());
    s("port", tg.health_check_port());
    s("protocol", tg.health_check_protocol().map(|p| p.as_str()));
    s(
        "matcher",
        tg.matcher().and_then(|m| m.http_code().or(m.grpc_code())),
    );
    for (k, v) in [
        ("interval", tg.health_check_interval_seconds()),
        ("timeout", tg.health_check_timeout_seconds()),
        ("healthy_threshold", tg.healthy_threshold_count()),
        ("unhealthy_threshold", tg.unhealthy_threshold_count()),
    ] {
        if let Some(v) = v {
            hc.insert(k.to_string(), Value::int(v.into()));
        }
    }
    if let Some(e) = tg.health_check_enabled() {
        hc.insert("enabled".to_string(), Value::Bool(e));
    }
    a.insert("health_check".into(), Value::Map(hc));
    a.insert(
        "load_balancer_arns".into(),
        crate::sorted_strings(tg.load_balancer_arns()),
    );
    Some((arn, a))
}

fn put_tg_attributes(a: &mut Attributes, attrs: &[TargetGroupAttribute]) {
    let get = |key: &str| {
        attrs
            .iter()
            .find(|x| x.key() == Some(key))
            .and_then(|x| x.value())
    };
    if let Some(n) = get("deregistration_delay.timeout_seconds").and_then(|s| s.parse::<i64>().ok())
    {
        a.insert("deregistration_delay".into(), Value::int(n));
    }
    let mut st = BTreeMap::new();
    if let Some(e) = get("stickiness.enabled") {
        st.insert("enabled".to_string(), Value::Bool(e == "true"));
    }
    let kind = get("stickiness.type");
    if let Some(t) = kind {
        st.insert("type".to_string(), Value::string(t));
    }
    let duration_key = if kind == Some("app_cookie") {
        "stickiness.app_cookie.duration_seconds"
    } else {
        "stickiness.lb_cookie.duration_seconds"
    };
    if let Some(d) = get(duration_key).and_then(|s| s.parse::<i64>().ok()) {
        st.insert("cookie_duration".to_string(), Value::int(d));
    }
    if kind == Some("app_cookie")
        && let Some(n) = get("stickiness.app_cookie.cookie_name")
    {
        st.insert("cookie_name".to_string(), Value::string(n));
    }
    if !st.is_empty() {
        a.insert("stickiness".into(), Value::Map(st));
    }
}

fn tg_attr(key: &str, value: impl Into<String>) -> TargetGroupAttribute {
    TargetGroupAttribute::builder()
        .key(key)
        .value(value)
        .build()
}

/// The target group attributes for the given inputs (those set among `names`).
fn attributes_for(
    inputs: &Attributes,
    names: &[&str],
) -> Result<Vec<TargetGroupAttribute>, ProviderError> {
    let mut out = Vec::new();
    if names.contains(&"deregistration_delay")
        && let Some(n) = input_i32(inputs, "deregistration_delay")?
    {
        out.push(tg_attr(
            "deregistration_delay.timeout_seconds",
            n.to_string(),
        ));
    }
    if names.contains(&"stickiness")
        && let Some(m) = input_map(inputs, "stickiness")?
    {
        if let Some(k) = m.keys().find(|k| !STICKINESS_KEYS.contains(&k.as_str())) {
            return Err(ProviderError::Invalid(format!(
                "`stickiness` has no `{k}` (expected {})",
                STICKINESS_KEYS.join(", ")
            )));
        }
        let enabled = m_bool(m, "enabled", "stickiness")?.unwrap_or(false);
        out.push(tg_attr("stickiness.enabled", enabled.to_string()));
        let kind = m_str(m, "type").map(|t| t.to_lowercase());
        if let Some(t) = &kind {
            out.push(tg_attr("stickiness.type", t.clone()));
        }
        if let Some(d) = m_i32(m, "cookie_duration", "stickiness")? {
            let key = if kind.as_deref() == Some("app_cookie") {
                "stickiness.app_cookie.duration_seconds"
            } else {
                "stickiness.lb_cookie.duration_seconds"
            };
            out.push(tg_attr(key, d.to_string()));
        }
        if let Some(n) = m_str(m, "cookie_name") {
            out.push(tg_attr("stickiness.app_cookie.cookie_name", n));
        }
    }
    Ok(out)
}

/// The health check as it is to be sent: the stack's keys, plus AWS's HTTP defaults for
/// the keys left out when the check speaks HTTP(S) (so a removed key goes back to its
/// default, and the stack and AWS agree on what an unset key means).
struct HealthCheck {
    path: Option<String>,
    port: Option<String>,
    protocol: Option<String>,
    matcher: Option<String>,
    interval: Option<i32>,
    timeout: Option<i32>,
    healthy: Option<i32>,
    unhealthy: Option<i32>,
    enabled: Option<bool>,
}

fn health_check(inputs: &Attributes) -> Result<HealthCheck, ProviderError> {
    let empty = BTreeMap::new();
    let m = input_map(inputs, "health_check")?.unwrap_or(&empty);
    if let Some(k) = m.keys().find(|k| !HEALTH_KEYS.contains(&k.as_str())) {
        return Err(ProviderError::Invalid(format!(
            "`health_check` has no `{k}` (expected {})",
            HEALTH_KEYS.join(", ")
        )));
    }
    let w = "health_check";
    let mut hc = HealthCheck {
        path: m_str(m, "path"),
        port: m_str(m, "port"),
        protocol: m_str(m, "protocol").map(|p| p.to_uppercase()),
        matcher: m_str(m, "matcher"),
        interval: m_i32(m, "interval", w)?,
        timeout: m_i32(m, "timeout", w)?,
        healthy: m_i32(m, "healthy_threshold", w)?,
        unhealthy: m_i32(m, "unhealthy_threshold", w)?,
        enabled: m_bool(m, "enabled", w)?,
    };
    let speaks_http = hc
        .protocol
        .clone()
        .or_else(|| input_str(inputs, "protocol").map(|p| p.to_uppercase()))
        .is_some_and(|p| p == "HTTP" || p == "HTTPS");
    let lambda = input_str(inputs, "target_type").is_some_and(|t| t.eq_ignore_ascii_case("lambda"));
    let grpc =
        input_str(inputs, "protocol_version").is_some_and(|v| v.eq_ignore_ascii_case("GRPC"));
    if speaks_http && !lambda && !grpc {
        hc.path.get_or_insert_with(|| "/".into());
        hc.port.get_or_insert_with(|| "traffic-port".into());
        hc.matcher.get_or_insert_with(|| "200".into());
        hc.interval.get_or_insert(30);
        hc.timeout.get_or_insert(5);
        hc.healthy.get_or_insert(5);
        hc.unhealthy.get_or_insert(2);
        hc.enabled.get_or_insert(true);
    }
    Ok(hc)
}

/// The matcher: HTTP codes, or gRPC codes for a `GRPC` target group.
fn matcher(inputs: &Attributes, m: Option<String>) -> Option<Matcher> {
    let grpc =
        input_str(inputs, "protocol_version").is_some_and(|v| v.eq_ignore_ascii_case("GRPC"));
    m.map(|code| {
        if grpc {
            Matcher::builder().grpc_code(code).build()
        } else {
            Matcher::builder().http_code(code).build()
        }
    })
}

impl TargetGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        TargetGroup {
            clients,
            schema: schema(),
        }
    }

    async fn list_all(
        client: &aws_sdk_elasticloadbalancingv2::Client,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let tgs: Vec<_> = client
            .describe_target_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeTargetGroups"))?;
        Ok(tgs.iter().filter_map(tg_attributes).collect())
    }

    /// DescribeTargetGroups by ARN, twenty a call; an unknown ARN fails the whole call
    /// (TargetGroupNotFound), so then all are listed (one paginated call) and the wanted
    /// ones kept.
    async fn describe(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        arns: &[String],
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = BTreeMap::new();
        for chunk in arns.chunks(crate::BATCH) {
            let r = client
                .describe_target_groups()
                .set_target_group_arns(Some(chunk.to_vec()))
                .send()
                .await;
            match r {
                Ok(out) => found.extend(out.target_groups().iter().filter_map(tg_attributes)),
                Err(e) => {
                    let e = AwsError::from_sdk(e);
                    if !e.is(&["TargetGroupNotFound", "ValidationError"]) {
                        return Err(e.into_provider("DescribeTargetGroups"));
                    }
                    let mut all = Self::list_all(client).await?;
                    all.retain(|arn, _| arns.contains(arn));
                    return Ok(all);
                }
            }
        }
        found.retain(|arn, _| arns.contains(arn));
        Ok(found)
    }

    /// Adds the target group attributes: one DescribeTargetGroupAttributes per target group
    /// (AWS has no batched read), concurrently.
    async fn add_attributes(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        mut found: BTreeMap<String, Attributes>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let arns: Vec<String> = found.keys().cloned().collect();
        let attrs: Vec<(String, Option<Vec<TargetGroupAttribute>>)> =
            futures::stream::iter(arns.into_iter().map(|arn| async move {
                let r = client
                    .describe_target_group_attributes()
                    .target_group_arn(&arn)
                    .send()
                    .await;
                let out = unless_gone("DescribeTargetGroupAttributes", r, NOT_FOUND)?;
                Ok::<_, ProviderError>((arn, out.map(|o| o.attributes().to_vec())))
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        for (arn, list) in attrs {
            match list {
                Some(list) => {
                    if let Some(a) = found.get_mut(&arn) {
                        put_tg_attributes(a, &list);
                    }
                }
                None => {
                    found.remove(&arn);
                }
            }
        }
        Ok(found)
    }

    async fn read_one(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        arn: &str,
    ) -> Result<Attributes, ProviderError> {
        let found = Self::describe(client, &[arn.to_string()]).await?;
        let found = with_tags(client, found).await?;
        Self::add_attributes(client, found)
            .await?
            .remove(arn)
            .ok_or_else(|| ProviderError::NotFound(format!("target group {arn}")))
    }

    async fn modify_attributes(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        arn: &str,
        attrs: Vec<TargetGroupAttribute>,
    ) -> Result<(), ProviderError> {
        if attrs.is_empty() {
            return Ok(());
        }
        client
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .set_attributes(Some(attrs))
            .send()
            .await
            .map_err(api_error("ModifyTargetGroupAttributes"))?;
        Ok(())
    }
}

#[async_trait]
impl ResourceType for TargetGroup {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// One DescribeTargetGroups per twenty ARNs (or one paginated listing when an ARN is
    /// unknown), one DescribeTags per twenty ARNs, and one DescribeTargetGroupAttributes
    /// per target group (no batched form), concurrently.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let client = crate::client(&self.clients, req.region);
        let found = Self::describe(&client, &wanted_arns(req.ids)).await?;
        let found = with_tags(&client, found).await?;
        let found = Self::add_attributes(&client, found).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let attrs = attributes_for(inputs, &["deregistration_delay", "stickiness"])?;
        let hc = health_check(inputs)?;
        let out = client
            .create_target_group()
            .name(require_str(inputs, "name")?)
            .set_port(input_i32(inputs, "port")?)
            .set_protocol(
                input_str(inputs, "protocol")
                    .map(|p| ProtocolEnum::from(p.to_uppercase().as_str())),
            )
            .set_protocol_version(input_str(inputs, "protocol_version").map(|p| p.to_uppercase()))
            .set_vpc_id(input_str(inputs, "vpc_id"))
            .set_target_type(
                input_str(inputs, "target_type")
                    .map(|t| TargetTypeEnum::from(t.to_lowercase().as_str())),
            )
            .set_health_check_path(hc.path)
            .set_health_check_port(hc.port)
            .set_health_check_protocol(hc.protocol.map(|p| ProtocolEnum::from(p.as_str())))
            .set_matcher(matcher(inputs, hc.matcher))
            .set_health_check_interval_seconds(hc.interval)
            .set_health_check_timeout_seconds(hc.timeout)
            .set_healthy_threshold_count(hc.healthy)
            .set_unhealthy_threshold_count(hc.unhealthy)
            .set_health_check_enabled(hc.enabled)
            .set_tags(create_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateTargetGroup"))?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .ok_or_else(|| ProviderError::api("CreateTargetGroup", "no target group returned"))?
            .to_string();
        Self::modify_attributes(&client, &arn, attrs).await?;
        let attributes = Self::read_one(&client, &arn).await?;
        Ok(CreateResponse {
            id: arn,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        if any_changed(req.changed, &["health_check"]) {
            let hc = health_check(inputs)?;
            client
                .modify_target_group()
                .target_group_arn(req.id)
                .set_health_check_path(hc.path)
                .set_health_check_port(hc.port)
                .set_health_check_protocol(hc.protocol.map(|p| ProtocolEnum::from(p.as_str())))
                .set_matcher(matcher(inputs, hc.matcher))
                .set_health_check_interval_seconds(hc.interval)
                .set_health_check_timeout_seconds(hc.timeout)
                .set_healthy_threshold_count(hc.healthy)
                .set_unhealthy_threshold_count(hc.unhealthy)
                .set_health_check_enabled(hc.enabled)
                .send()
                .await
                .map_err(api_error("ModifyTargetGroup"))?;
        }
        let names: Vec<&str> = ["deregistration_delay", "stickiness"]
            .into_iter()
            .filter(|n| any_changed(req.changed, &[n]))
            .collect();
        Self::modify_attributes(&client, req.id, attributes_for(inputs, &names)?).await?;
        if any_changed(req.changed, &["tags"]) {
            sync_tags(&client, req.id, inputs, req.prior).await?;
        }
        let attributes = Self::read_one(&client, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// AWS refuses while a listener or rule still forwards to the target group: those are
    /// deleted first by the plan's ordering.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteTargetGroup",
            client
                .delete_target_group()
                .target_group_arn(req.id)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    /// Lists every target group of the region, reads their tags (twenty a call) and keeps
    /// those carrying the ownership tags.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let all = with_tags(&client, Self::list_all(&client).await?).await?;
        let owned = all.into_iter().filter(|(_, a)| is_owned(&req, a)).collect();
        Self::add_attributes(&client, owned).await
    }
}
