//! `aws.elbv2.load_balancer`: an application or network load balancer. Its cloud id is its
//! ARN.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::client::Waiters;
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_i32, input_str, input_strings, is_owned, require_str,
};
use terrane_aws_core::{AwsError, api_error, unless_gone, waiter_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, BATCH, NOT_FOUND, any_changed, as_bool, create_tags, input_map, m_str,
    sorted_strings, sync_tags, wanted_arns, with_tags,
};

pub const TYPE_NAME: &str = "aws.elbv2.load_balancer";

/// How long a new load balancer may take to become active.
const CREATE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long a deleted load balancer may take to disappear.
const DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Load balancers whose attributes are read at the same time (no batched read exists).
const CONCURRENCY: usize = 8;

const ATTR_IDLE: &str = "idle_timeout.timeout_seconds";
const ATTR_DELETION: &str = "deletion_protection.enabled";
const ATTR_LOGS_ENABLED: &str = "access_logs.s3.enabled";
const ATTR_LOGS_BUCKET: &str = "access_logs.s3.bucket";
const ATTR_LOGS_PREFIX: &str = "access_logs.s3.prefix";
const ATTR_DROP_INVALID: &str = "routing.http.drop_invalid_header_fields.enabled";

/// The inputs kept as load balancer attributes (ModifyLoadBalancerAttributes).
const ATTRIBUTE_INPUTS: &[&str] = &[
    "idle_timeout",
    "deletion_protection",
    "access_logs",
    "drop_invalid_header_fields",
];

pub struct LoadBalancer {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An Elastic Load Balancing v2 load balancer (application or network). \
                      Its id is its ARN.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The load balancer's name: up to 32 letters, digits and hyphens."),
            AttrSchema::optional("type", String)
                .default(DefaultValue::Str("application"))
                .forces_replacement()
                .describe("`application` or `network`."),
            AttrSchema::optional("scheme", String)
                .default(DefaultValue::Str("internet-facing"))
                .forces_replacement()
                .describe("`internet-facing` or `internal`."),
            AttrSchema::required("subnets", List)
                .unordered()
                .describe("Subnet ids, at least two zones for an application load balancer."),
            AttrSchema::optional("security_groups", List)
                .unordered()
                .describe("Security group ids."),
            AttrSchema::optional("ip_address_type", String)
                .default(DefaultValue::Str("ipv4"))
                .describe("`ipv4` or `dualstack`."),
            AttrSchema::optional("idle_timeout", Number)
                .describe("Seconds a connection may stay idle (application load balancers)."),
            AttrSchema::optional("deletion_protection", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether AWS refuses to delete the load balancer."),
            AttrSchema::optional("access_logs", Map)
                .describe("Access logs to S3: `enabled` (bool), `bucket`, `prefix`."),
            AttrSchema::optional("drop_invalid_header_fields", Bool)
                .describe("Whether HTTP headers with invalid names are dropped (application)."),
            AttrSchema::optional("tags", Map).describe("Tags on the load balancer."),
            AttrSchema::computed("arn", String).describe("The load balancer's ARN (its id)."),
            AttrSchema::computed("dns_name", String).describe("The load balancer's DNS name."),
            AttrSchema::computed("zone_id", String).describe(
                "The canonical hosted zone id of the DNS name, for Route53 alias records.",
            ),
            AttrSchema::computed("arn_suffix", String).describe(
                "The ARN's last part (`app/name/id`), the CloudWatch `LoadBalancer` dimension.",
            ),
            AttrSchema::computed("vpc_id", String).describe("The VPC of the load balancer."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "alb:\n  type: aws.elbv2.load_balancer\n  properties:\n    name: web\n    \
                  subnets: [subnet-0a1b2c3d, subnet-4e5f6a7b]\n    security_groups: [sg-0123abcd]\n    \
                  idle_timeout: 60\n    drop_invalid_header_fields: true\n    access_logs:\n      \
                  enabled: true\n      bucket: my-alb-logs\n      prefix: web\n",
    }
}

/// Names in lower case; access logs with `enabled` as a bool (false when absent) and
/// empty parts left out.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match (attr, value) {
        ("type" | "scheme" | "ip_address_type", Value::String(s)) => {
            Value::string(s.to_lowercase())
        }
        ("access_logs", Value::Map(m)) => {
            let mut out = BTreeMap::new();
            out.insert(
                "enabled".to_string(),
                Value::Bool(m.get("enabled").and_then(as_bool).unwrap_or(false)),
            );
            for key in ["bucket", "prefix"] {
                if let Some(s) = m_str(m, key).filter(|s| !s.is_empty()) {
                    out.insert(key.to_string(), Value::string(s));
                }
            }
            Value::Map(out)
        }
        _ => value.clone(),
    }
}

/// The ARN's part after `loadbalancer/`: `app/name/id`.
pub fn arn_suffix(arn: &str) -> &str {
    arn.split_once(":loadbalancer/").map_or(arn, |(_, s)| s)
}

fn lb_attributes(
    lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
) -> Option<(String, Attributes)> {
    let arn = lb.load_balancer_arn()?.to_string();
    let mut a = Attributes::new();
    a.insert("arn".into(), Value::string(&arn));
    a.insert("arn_suffix".into(), Value::string(arn_suffix(&arn)));
    let put = |a: &mut Attributes, k: &str, v: Option<&str>| {
        if let Some(v) = v {
            a.insert(k.into(), Value::string(v));
        }
    };
    put(&mut a, "name", lb.load_balancer_name());
    put(&mut a, "type", lb.r#type().map(|t| t.as_str()));
    put(&mut a, "scheme", lb.scheme().map(|s| s.as_str()));
    put(
        &mut a,
        "ip_address_type",
        lb.ip_address_type().map(|t| t.as_str()),
    );
    put(&mut a, "dns_name", lb.dns_name());
    put(&mut a, "zone_id", lb.canonical_hosted_zone_id());
    put(&mut a, "vpc_id", lb.vpc_id());
    let subnets: Vec<&str> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect();
    a.insert("subnets".into(), sorted_strings(&subnets));
    a.insert(
        "security_groups".into(),
        sorted_strings(lb.security_groups()),
    );
    Some((arn, a))
}

/// The load balancer attributes as the schema's attributes.
fn put_lb_attributes(a: &mut Attributes, attrs: &[LoadBalancerAttribute]) {
    let get = |key: &str| {
        attrs
            .iter()
            .find(|x| x.key() == Some(key))
            .and_then(|x| x.value())
    };
    if let Some(n) = get(ATTR_IDLE).and_then(|s| s.parse::<i64>().ok()) {
        a.insert("idle_timeout".into(), Value::int(n));
    }
    if let Some(b) = get(ATTR_DELETION) {
        a.insert("deletion_protection".into(), Value::Bool(b == "true"));
    }
    if let Some(b) = get(ATTR_DROP_INVALID) {
        a.insert(
            "drop_invalid_header_fields".into(),
            Value::Bool(b == "true"),
        );
    }
    let mut logs = BTreeMap::new();
    if let Some(b) = get(ATTR_LOGS_ENABLED) {
        logs.insert("enabled".to_string(), Value::Bool(b == "true"));
    }
    for (key, attr) in [("bucket", ATTR_LOGS_BUCKET), ("prefix", ATTR_LOGS_PREFIX)] {
        if let Some(v) = get(attr) {
            logs.insert(key.to_string(), Value::string(v));
        }
    }
    if !logs.is_empty() {
        a.insert("access_logs".into(), Value::Map(logs));
    }
}

fn attr(key: &str, value: impl Into<String>) -> LoadBalancerAttribute {
    LoadBalancerAttribute::builder()
        .key(key)
        .value(value)
        .build()
}

/// The load balancer attributes for the given inputs (those set among `names`).
fn attributes_for(
    inputs: &Attributes,
    names: &[&str],
) -> Result<Vec<LoadBalancerAttribute>, ProviderError> {
    let mut out = Vec::new();
    for name in names {
        match *name {
            "idle_timeout" => {
                if let Some(n) = input_i32(inputs, "idle_timeout")? {
                    out.push(attr(ATTR_IDLE, n.to_string()));
                }
            }
            "deletion_protection" => {
                if let Some(b) = input_bool(inputs, "deletion_protection")? {
                    out.push(attr(ATTR_DELETION, b.to_string()));
                }
            }
            "drop_invalid_header_fields" => {
                if let Some(b) = input_bool(inputs, "drop_invalid_header_fields")? {
                    out.push(attr(ATTR_DROP_INVALID, b.to_string()));
                }
            }
            "access_logs" => {
                if let Some(m) = input_map(inputs, "access_logs")? {
                    if let Some(k) = m
                        .keys()
                        .find(|k| !["enabled", "bucket", "prefix"].contains(&k.as_str()))
                    {
                        return Err(ProviderError::Invalid(format!(
                            "`access_logs` has no `{k}` (expected enabled, bucket, prefix)"
                        )));
                    }
                    let enabled = m.get("enabled").and_then(as_bool).unwrap_or(false);
                    out.push(attr(ATTR_LOGS_ENABLED, enabled.to_string()));
                    out.push(attr(
                        ATTR_LOGS_BUCKET,
                        m_str(m, "bucket").unwrap_or_default(),
                    ));
                    out.push(attr(
                        ATTR_LOGS_PREFIX,
                        m_str(m, "prefix").unwrap_or_default(),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

impl LoadBalancer {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        LoadBalancer {
            clients,
            schema: schema(),
        }
    }

    /// Every load balancer of the region: one paginated DescribeLoadBalancers.
    async fn list_all(
        client: &aws_sdk_elasticloadbalancingv2::Client,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let lbs: Vec<_> = client
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeLoadBalancers"))?;
        Ok(lbs.iter().filter_map(lb_attributes).collect())
    }

    /// These load balancers: DescribeLoadBalancers by ARN, twenty a call. One unknown ARN
    /// fails the whole call (LoadBalancerNotFound), so then every load balancer is listed
    /// (one paginated call) and the wanted ones kept.
    async fn describe(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        arns: &[String],
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = BTreeMap::new();
        for chunk in arns.chunks(BATCH) {
            let r = client
                .describe_load_balancers()
                .set_load_balancer_arns(Some(chunk.to_vec()))
                .send()
                .await;
            match r {
                Ok(out) => found.extend(out.load_balancers().iter().filter_map(lb_attributes)),
                Err(e) => {
                    let e = AwsError::from_sdk(e);
                    if !e.is(&["LoadBalancerNotFound", "ValidationError"]) {
                        return Err(e.into_provider("DescribeLoadBalancers"));
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

    /// Adds tags (DescribeTags, twenty ARNs a call) and load balancer attributes.
    async fn complete(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        found: BTreeMap<String, Attributes>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = with_tags(client, found).await?;
        Self::add_attributes(client, found).await
    }

    /// Adds the load balancer attributes: one DescribeLoadBalancerAttributes per load
    /// balancer (AWS has no batched read), run concurrently.
    async fn add_attributes(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        mut found: BTreeMap<String, Attributes>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let arns: Vec<String> = found.keys().cloned().collect();
        let attrs: Vec<(String, Option<Vec<LoadBalancerAttribute>>)> =
            futures::stream::iter(arns.into_iter().map(|arn| async move {
                let r = client
                    .describe_load_balancer_attributes()
                    .load_balancer_arn(&arn)
                    .send()
                    .await;
                let out = unless_gone("DescribeLoadBalancerAttributes", r, NOT_FOUND)?;
                Ok::<_, ProviderError>((arn, out.map(|o| o.attributes().to_vec())))
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        for (arn, list) in attrs {
            match list {
                Some(list) => {
                    if let Some(a) = found.get_mut(&arn) {
                        put_lb_attributes(a, &list);
                    }
                }
                // Deleted between the two reads.
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
        Self::complete(client, found)
            .await?
            .remove(arn)
            .ok_or_else(|| ProviderError::NotFound(format!("load balancer {arn}")))
    }

    async fn modify_attributes(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        arn: &str,
        attrs: Vec<LoadBalancerAttribute>,
    ) -> Result<(), ProviderError> {
        if attrs.is_empty() {
            return Ok(());
        }
        client
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(attrs))
            .send()
            .await
            .map_err(api_error("ModifyLoadBalancerAttributes"))?;
        Ok(())
    }
}

#[async_trait]
impl ResourceType for LoadBalancer {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// One DescribeLoadBalancers per twenty ARNs (or one paginated listing when an ARN is
    /// unknown), one DescribeTags per twenty ARNs, and one DescribeLoadBalancerAttributes
    /// per load balancer (no batched form), concurrently.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let client = crate::client(&self.clients, req.region);
        let found = Self::describe(&client, &wanted_arns(req.ids)).await?;
        let found = Self::complete(&client, found).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        // Validate the attribute inputs before creating anything.
        let attrs = attributes_for(inputs, ATTRIBUTE_INPUTS)?;
        let security_groups = input_strings(inputs, "security_groups");
        let out = client
            .create_load_balancer()
            .name(require_str(inputs, "name")?)
            .set_subnets(Some(input_strings(inputs, "subnets")))
            .set_security_groups((!security_groups.is_empty()).then_some(security_groups))
            .set_scheme(
                input_str(inputs, "scheme")
                    .map(|s| LoadBalancerSchemeEnum::from(s.to_lowercase().as_str())),
            )
            .set_type(
                input_str(inputs, "type")
                    .map(|s| LoadBalancerTypeEnum::from(s.to_lowercase().as_str())),
            )
            .set_ip_address_type(
                input_str(inputs, "ip_address_type")
                    .map(|s| IpAddressType::from(s.to_lowercase().as_str())),
            )
            .set_tags(create_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateLoadBalancer"))?;
        let arn = out
            .load_balancers()
            .first()
            .and_then(|lb| lb.load_balancer_arn())
            .ok_or_else(|| ProviderError::api("CreateLoadBalancer", "no load balancer returned"))?
            .to_string();
        client
            .wait_until_load_balancer_available()
            .load_balancer_arns(&arn)
            .wait(CREATE_TIMEOUT)
            .await
            .map_err(|e| waiter_error(&format!("wait for load balancer {arn} to be active"), e))?;
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
        let changed = req.changed;
        if any_changed(changed, &["subnets"]) {
            client
                .set_subnets()
                .load_balancer_arn(req.id)
                .set_subnets(Some(input_strings(inputs, "subnets")))
                .send()
                .await
                .map_err(api_error("SetSubnets"))?;
        }
        if any_changed(changed, &["security_groups"]) {
            client
                .set_security_groups()
                .load_balancer_arn(req.id)
                .set_security_groups(Some(input_strings(inputs, "security_groups")))
                .send()
                .await
                .map_err(api_error("SetSecurityGroups"))?;
        }
        if any_changed(changed, &["ip_address_type"])
            && let Some(t) = input_str(inputs, "ip_address_type")
        {
            client
                .set_ip_address_type()
                .load_balancer_arn(req.id)
                .ip_address_type(IpAddressType::from(t.to_lowercase().as_str()))
                .send()
                .await
                .map_err(api_error("SetIpAddressType"))?;
        }
        let names: Vec<&str> = ATTRIBUTE_INPUTS
            .iter()
            .copied()
            .filter(|n| any_changed(changed, &[n]))
            .collect();
        Self::modify_attributes(&client, req.id, attributes_for(inputs, &names)?).await?;
        if any_changed(changed, &["tags"]) {
            sync_tags(&client, req.id, inputs, req.prior).await?;
        }
        let attributes = Self::read_one(&client, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Deletes and waits until the load balancer is gone (its listeners and rules go with
    /// it). With deletion protection on, AWS refuses: turn it off first.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let r = client
            .delete_load_balancer()
            .load_balancer_arn(req.id)
            .send()
            .await;
        if unless_gone("DeleteLoadBalancer", r, NOT_FOUND)?.is_none() {
            return Ok(());
        }
        client
            .wait_until_load_balancers_deleted()
            .load_balancer_arns(req.id)
            .wait(DELETE_TIMEOUT)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!("wait for load balancer {} to be deleted", req.id),
                    e,
                )
            })?;
        Ok(())
    }

    /// Lists every load balancer of the region, reads their tags (twenty a call) and keeps
    /// those carrying the ownership tags.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let all = with_tags(&client, Self::list_all(&client).await?).await?;
        let owned: BTreeMap<String, Attributes> =
            all.into_iter().filter(|(_, a)| is_owned(&req, a)).collect();
        Self::add_attributes(&client, owned).await
    }
}
