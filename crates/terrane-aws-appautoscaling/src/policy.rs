//! `aws.appautoscaling.policy`: a scaling policy of a scalable target. Target tracking
//! (keep a metric at a value, e.g. ECS service CPU at 70%) is supported; step scaling
//! configurations are not (yet).
//!
//! The cloud id is `<service_namespace>/<resource_id>/<scalable_dimension>/<policy_name>`.
//! Scaling policies carry no tags, so `find_by_ownership` finds none.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalingPolicy,
    ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use terrane_aws_core::inputs::{input_str, require_str};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, TargetKey, by_namespace, split_id};

pub const TYPE_NAME: &str = "aws.appautoscaling.policy";

/// Policy names per DescribeScalingPolicies call (the API's limit).
const DESCRIBE_BATCH: usize = 50;

const NOT_FOUND: &[&str] = &["ObjectNotFoundException"];

pub struct Policy {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An Application Auto Scaling policy on a scalable target: target tracking \
                      keeps a metric (an ECS service's average CPU or memory) near a value. Its \
                      id is `<service_namespace>/<resource_id>/<scalable_dimension>/<name>`. \
                      Not taggable.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The policy's name, unique on its target."),
            AttrSchema::required("service_namespace", String)
                .forces_replacement()
                .describe("The scalable target's service namespace, e.g. `ecs`."),
            AttrSchema::required("resource_id", String)
                .forces_replacement()
                .describe("The scalable target's resource id, e.g. `service/<cluster>/<service>`."),
            AttrSchema::required("scalable_dimension", String)
                .forces_replacement()
                .describe("The scalable target's dimension, e.g. `ecs:service:DesiredCount`."),
            AttrSchema::optional("policy_type", String)
                .default(DefaultValue::Str("TargetTrackingScaling"))
                .describe("`TargetTrackingScaling` (the only type supported yet)."),
            AttrSchema::optional("target_tracking", Map).describe(
                "`target_value`, `predefined_metric_type` (e.g. \
                 `ECSServiceAverageCPUUtilization`, `ECSServiceAverageMemoryUtilization`, \
                 `ALBRequestCountPerTarget` with `resource_label`), `scale_in_cooldown`, \
                 `scale_out_cooldown` (seconds) and `disable_scale_in` (bool).",
            ),
            AttrSchema::computed("id", String)
                .describe("`<service_namespace>/<resource_id>/<scalable_dimension>/<name>`."),
            AttrSchema::computed("arn", String).describe("The policy's ARN."),
            AttrSchema::computed("alarm_names", List)
                .describe("The CloudWatch alarms Application Auto Scaling made for the policy."),
        ],
        taggable: false,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "api_cpu:\n  type: aws.appautoscaling.policy\n  properties:\n    name: cpu-70\n    \
                  service_namespace: ${api_scaling.service_namespace}\n    \
                  resource_id: ${api_scaling.resource_id}\n    \
                  scalable_dimension: ${api_scaling.scalable_dimension}\n    \
                  target_tracking:\n      target_value: 70\n      \
                  predefined_metric_type: ECSServiceAverageCPUUtilization\n      \
                  scale_in_cooldown: 300\n      scale_out_cooldown: 60\n",
    }
}

/// `disable_scale_in` is false unless set.
fn normalize(attr: &str, v: &Value) -> Value {
    match (attr, v) {
        ("target_tracking", Value::Map(m)) => {
            let mut m = m.clone();
            m.entry("disable_scale_in".into())
                .or_insert(Value::Bool(false));
            Value::Map(m)
        }
        _ => v.clone(),
    }
}

fn key_of(inputs: &Attributes) -> Result<(TargetKey, String), ProviderError> {
    Ok((
        TargetKey {
            namespace: require_str(inputs, "service_namespace")?,
            resource_id: require_str(inputs, "resource_id")?,
            dimension: require_str(inputs, "scalable_dimension")?,
        },
        require_str(inputs, "name")?,
    ))
}

fn policy_id(key: &TargetKey, name: &str) -> String {
    format!("{}/{name}", key.id())
}

fn tracking(
    inputs: &Attributes,
) -> Result<TargetTrackingScalingPolicyConfiguration, ProviderError> {
    let m = match inputs.get("target_tracking") {
        Some(Value::Map(m)) => m,
        _ => {
            return Err(ProviderError::Invalid(
                "`target_tracking` is required for a TargetTrackingScaling policy".into(),
            ));
        }
    };
    let num = |k: &str| -> Result<Option<f64>, ProviderError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| ProviderError::Invalid(format!("`{k}` must be a number"))),
            Some(_) => Err(ProviderError::Invalid(format!("`{k}` must be a number"))),
        }
    };
    let int = |k: &str| -> Result<Option<i32>, ProviderError> {
        num(k)?
            .map(|f| {
                if f.fract() == 0.0 && f.abs() <= f64::from(i32::MAX) {
                    Ok(f as i32)
                } else {
                    Err(ProviderError::Invalid(format!(
                        "`{k}` must be a whole number"
                    )))
                }
            })
            .transpose()
    };
    let text = |k: &str| match m.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let disable = match m.get("disable_scale_in") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => Some(s == "true"),
        Some(_) => {
            return Err(ProviderError::Invalid(
                "`disable_scale_in` must be a bool".into(),
            ));
        }
    };
    let metric = match text("predefined_metric_type") {
        Some(t) => Some(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::from(t.as_str()))
                .set_resource_label(text("resource_label"))
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))?,
        ),
        None => None,
    };
    TargetTrackingScalingPolicyConfiguration::builder()
        .set_target_value(num("target_value")?)
        .set_predefined_metric_specification(metric)
        .set_scale_in_cooldown(int("scale_in_cooldown")?)
        .set_scale_out_cooldown(int("scale_out_cooldown")?)
        .set_disable_scale_in(disable)
        .build()
        .map_err(|e| ProviderError::Invalid(e.to_string()))
}

fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        Value::int(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn policy_attributes(p: &ScalingPolicy) -> Attributes {
    let key = TargetKey {
        namespace: p.service_namespace().as_str().to_string(),
        resource_id: p.resource_id().to_string(),
        dimension: p.scalable_dimension().as_str().to_string(),
    };
    let mut a = Attributes::new();
    a.insert("id".into(), Value::string(policy_id(&key, p.policy_name())));
    a.insert("name".into(), Value::string(p.policy_name()));
    a.insert("service_namespace".into(), Value::string(&key.namespace));
    a.insert("resource_id".into(), Value::string(&key.resource_id));
    a.insert("scalable_dimension".into(), Value::string(&key.dimension));
    a.insert(
        "policy_type".into(),
        Value::string(p.policy_type().as_str()),
    );
    a.insert("arn".into(), Value::string(p.policy_arn()));
    a.insert(
        "alarm_names".into(),
        Value::List(
            p.alarms()
                .iter()
                .map(|al| Value::string(al.alarm_name()))
                .collect(),
        ),
    );
    if let Some(t) = p.target_tracking_scaling_policy_configuration() {
        let mut m = BTreeMap::new();
        m.insert("target_value".to_string(), number(t.target_value()));
        if let Some(spec) = t.predefined_metric_specification() {
            m.insert(
                "predefined_metric_type".into(),
                Value::string(spec.predefined_metric_type().as_str()),
            );
            if let Some(l) = spec.resource_label() {
                m.insert("resource_label".into(), Value::string(l));
            }
        }
        if let Some(c) = t.scale_in_cooldown() {
            m.insert("scale_in_cooldown".into(), Value::int(c.into()));
        }
        if let Some(c) = t.scale_out_cooldown() {
            m.insert("scale_out_cooldown".into(), Value::int(c.into()));
        }
        m.insert(
            "disable_scale_in".into(),
            Value::Bool(t.disable_scale_in().unwrap_or(false)),
        );
        a.insert("target_tracking".into(), Value::Map(m));
    }
    a
}

impl Policy {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Policy {
            clients,
            schema: schema(),
        }
    }

    /// One paginated DescribeScalingPolicies per namespace and 50 policy names; policies
    /// are then matched on their whole id (target and name).
    async fn read(
        &self,
        region: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let mut found = BTreeMap::new();
        for (namespace, wanted) in by_namespace(ids) {
            let mut names: Vec<String> = wanted.iter().map(|(_, _, n)| n.clone()).collect();
            names.sort();
            names.dedup();
            for chunk in names.chunks(DESCRIBE_BATCH) {
                let policies: Vec<ScalingPolicy> = client
                    .describe_scaling_policies()
                    .service_namespace(ServiceNamespace::from(namespace.as_str()))
                    .set_policy_names(Some(chunk.to_vec()))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(api_error("DescribeScalingPolicies"))?;
                for p in &policies {
                    let a = policy_attributes(p);
                    let id = a.get("id").and_then(Value::as_str).unwrap_or_default();
                    if wanted.iter().any(|(asked, _, _)| asked == id) {
                        found.insert(id.to_string(), a);
                    }
                }
            }
        }
        Ok(found)
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.read(region, &[id.to_string()])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("scaling policy {id}")))
    }

    /// PutScalingPolicy: creates the policy or replaces its configuration.
    async fn put(&self, region: &str, inputs: &Attributes) -> Result<String, ProviderError> {
        let (key, name) = key_of(inputs)?;
        let policy_type =
            input_str(inputs, "policy_type").unwrap_or_else(|| "TargetTrackingScaling".into());
        if policy_type != "TargetTrackingScaling" {
            return Err(ProviderError::Invalid(format!(
                "policy_type `{policy_type}` is not supported yet (only TargetTrackingScaling)"
            )));
        }
        let client = crate::client(&self.clients, region);
        client
            .put_scaling_policy()
            .policy_name(&name)
            .service_namespace(ServiceNamespace::from(key.namespace.as_str()))
            .resource_id(&key.resource_id)
            .scalable_dimension(ScalableDimension::from(key.dimension.as_str()))
            .policy_type(PolicyType::from(policy_type.as_str()))
            .target_tracking_scaling_policy_configuration(tracking(inputs)?)
            .send()
            .await
            .map_err(api_error("PutScalingPolicy"))?;
        Ok(policy_id(&key, &name))
    }
}

#[async_trait]
impl ResourceType for Policy {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = self.read(req.region, req.ids).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let id = self.put(req.region, req.inputs).await?;
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    /// PutScalingPolicy again, with the whole configuration.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        self.put(req.region, req.inputs).await?;
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// DeleteScalingPolicy. A policy already gone is fine: on an error the policy is
    /// read, and the error counts only if it still exists.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let (key, name) = split_id(req.id)?;
        let client = crate::client(&self.clients, req.region);
        let result = client
            .delete_scaling_policy()
            .policy_name(name)
            .service_namespace(ServiceNamespace::from(key.namespace.as_str()))
            .resource_id(&key.resource_id)
            .scalable_dimension(ScalableDimension::from(key.dimension.as_str()))
            .send()
            .await;
        match gone_is_ok("DeleteScalingPolicy", result, NOT_FOUND) {
            Err(e)
                if self
                    .read(req.region, &[req.id.to_string()])
                    .await?
                    .is_empty() =>
            {
                tracing::debug!("scaling policy {} already gone: {e}", req.id);
                Ok(())
            }
            other => other,
        }
    }

    /// Scaling policies carry no tags: nothing can be found by ownership.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
