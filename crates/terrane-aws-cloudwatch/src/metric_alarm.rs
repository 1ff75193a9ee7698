//! `aws.cloudwatch.metric_alarm`: a CloudWatch alarm on one metric. Its cloud id is its
//! name. PutMetricAlarm both creates and updates it (the whole definition each time).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricAlarm as Alarm, Statistic, Tag,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_i32, input_str, input_string_map, input_strings, is_owned, put_bool, put_int,
    put_str, put_strings, require_str, wanted,
};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, CONCURRENCY, tag_changes, tag_map, tags_value};

pub const TYPE_NAME: &str = "aws.cloudwatch.metric_alarm";

const NOT_FOUND: &str = "ResourceNotFound";

/// Alarm names per DescribeAlarms call (AWS's limit).
const NAMES_PER_CALL: usize = 100;

/// The inputs PutMetricAlarm carries (everything but the tags).
const DEFINITION: &[&str] = &[
    "description",
    "namespace",
    "metric_name",
    "dimensions",
    "statistic",
    "extended_statistic",
    "period",
    "evaluation_periods",
    "datapoints_to_alarm",
    "threshold",
    "comparison_operator",
    "treat_missing_data",
    "alarm_actions",
    "ok_actions",
    "insufficient_data_actions",
    "actions_enabled",
];

pub struct MetricAlarm {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A CloudWatch metric alarm: watches one metric and notifies (an SNS topic, \
                      an Auto Scaling policy) when it crosses a threshold.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The alarm's name, unique in the region; its cloud id."),
            AttrSchema::optional("description", String).describe("What the alarm means."),
            AttrSchema::required("namespace", String)
                .describe("The metric's namespace, e.g. `AWS/Lambda`."),
            AttrSchema::required("metric_name", String)
                .describe("The metric's name, e.g. `Errors`."),
            AttrSchema::optional("dimensions", Map)
                .describe("The metric's dimensions, name to value, e.g. `{FunctionName: api}`."),
            AttrSchema::optional("statistic", String).describe(
                "`SampleCount`, `Average`, `Sum`, `Minimum` or `Maximum` (or use \
                 `extended_statistic`).",
            ),
            AttrSchema::optional("extended_statistic", String)
                .describe("A percentile such as `p99`, instead of `statistic`."),
            AttrSchema::required("period", Number).describe(
                "Seconds over which the statistic is computed: 10, 30 or a multiple of 60.",
            ),
            AttrSchema::required("evaluation_periods", Number)
                .describe("How many recent periods are compared with the threshold."),
            AttrSchema::optional("datapoints_to_alarm", Number).describe(
                "How many of those periods must breach to alarm (all of them when unset).",
            ),
            AttrSchema::required("threshold", Number).describe("The value compared with."),
            AttrSchema::required("comparison_operator", String).describe(
                "`GreaterThanOrEqualToThreshold`, `GreaterThanThreshold`, \
                 `LessThanThreshold` or `LessThanOrEqualToThreshold`.",
            ),
            AttrSchema::optional("treat_missing_data", String)
                .default(DefaultValue::Str("missing"))
                .describe("`missing`, `notBreaching`, `breaching` or `ignore`."),
            AttrSchema::optional("alarm_actions", List)
                .unordered()
                .describe("ARNs notified when the alarm goes to ALARM (SNS topics, policies)."),
            AttrSchema::optional("ok_actions", List)
                .unordered()
                .describe("ARNs notified when the alarm goes back to OK."),
            AttrSchema::optional("insufficient_data_actions", List)
                .unordered()
                .describe("ARNs notified when the alarm goes to INSUFFICIENT_DATA."),
            AttrSchema::optional("actions_enabled", Bool)
                .default(DefaultValue::Bool(true))
                .describe("Whether the actions run on state changes."),
            AttrSchema::optional("tags", Map).describe("Tags on the alarm."),
            AttrSchema::computed("arn", String).describe("The alarm's ARN."),
        ],
        taggable: true,
        id_attribute: "name",
        normalize: None,
        example: "api_errors:\n  type: aws.cloudwatch.metric_alarm\n  properties:\n    \
                  name: api-errors\n    namespace: AWS/Lambda\n    metric_name: Errors\n    \
                  dimensions:\n      FunctionName: api\n    statistic: Sum\n    period: 300\n    \
                  evaluation_periods: 1\n    threshold: 5\n    \
                  comparison_operator: GreaterThanOrEqualToThreshold\n    \
                  treat_missing_data: notBreaching\n    alarm_actions:\n      \
                  - ${alerts.arn}\n",
    }
}

fn alarm_attributes(a: &Alarm) -> Attributes {
    let mut out = Attributes::new();
    put_str(&mut out, "name", a.alarm_name());
    put_str(&mut out, "arn", a.alarm_arn());
    put_str(&mut out, "description", a.alarm_description());
    put_str(&mut out, "namespace", a.namespace());
    put_str(&mut out, "metric_name", a.metric_name());
    out.insert(
        "dimensions".into(),
        Value::Map(
            a.dimensions()
                .iter()
                .filter_map(|d| Some((d.name()?.to_string(), Value::string(d.value()?))))
                .collect(),
        ),
    );
    put_str(&mut out, "statistic", a.statistic().map(Statistic::as_str));
    put_str(&mut out, "extended_statistic", a.extended_statistic());
    put_int(&mut out, "period", a.period());
    put_int(&mut out, "evaluation_periods", a.evaluation_periods());
    put_int(&mut out, "datapoints_to_alarm", a.datapoints_to_alarm());
    if let Some(n) = a.threshold().and_then(serde_json::Number::from_f64) {
        out.insert("threshold".into(), Value::Number(n));
    }
    put_str(
        &mut out,
        "comparison_operator",
        a.comparison_operator().map(ComparisonOperator::as_str),
    );
    put_str(&mut out, "treat_missing_data", a.treat_missing_data());
    put_strings(&mut out, "alarm_actions", a.alarm_actions());
    put_strings(&mut out, "ok_actions", a.ok_actions());
    put_strings(
        &mut out,
        "insufficient_data_actions",
        a.insufficient_data_actions(),
    );
    put_bool(&mut out, "actions_enabled", a.actions_enabled());
    out
}

fn input_f64(inputs: &Attributes, name: &str) -> Result<Option<f64>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| ProviderError::Invalid(format!("`{name}` must be a number"))),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a number, found a {}",
            other.type_name()
        ))),
    }
}

impl MetricAlarm {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        MetricAlarm {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        crate::client(&self.clients, region)
    }

    /// The definition of the alarm in one PutMetricAlarm (create or full replace); tags
    /// only on create (AWS ignores them on an existing alarm).
    async fn put(
        &self,
        client: &aws_sdk_cloudwatch::Client,
        name: &str,
        inputs: &Attributes,
        with_tags: bool,
    ) -> Result<(), ProviderError> {
        let dimensions = input_string_map(inputs, "dimensions")?
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
            .collect::<Vec<_>>();
        let tags: Vec<Tag> = if with_tags {
            tag_map(inputs)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect()
        } else {
            Vec::new()
        };
        client
            .put_metric_alarm()
            .alarm_name(name)
            .set_alarm_description(input_str(inputs, "description"))
            .namespace(require_str(inputs, "namespace")?)
            .metric_name(require_str(inputs, "metric_name")?)
            .set_dimensions(Some(dimensions))
            .set_statistic(input_str(inputs, "statistic").map(|s| Statistic::from(s.as_str())))
            .set_extended_statistic(input_str(inputs, "extended_statistic"))
            .set_period(input_i32(inputs, "period")?)
            .set_evaluation_periods(input_i32(inputs, "evaluation_periods")?)
            .set_datapoints_to_alarm(input_i32(inputs, "datapoints_to_alarm")?)
            .set_threshold(input_f64(inputs, "threshold")?)
            .comparison_operator(ComparisonOperator::from(
                require_str(inputs, "comparison_operator")?.as_str(),
            ))
            .set_treat_missing_data(input_str(inputs, "treat_missing_data"))
            .set_alarm_actions(Some(input_strings(inputs, "alarm_actions")))
            .set_ok_actions(Some(input_strings(inputs, "ok_actions")))
            .set_insufficient_data_actions(Some(input_strings(inputs, "insufficient_data_actions")))
            .set_actions_enabled(input_bool(inputs, "actions_enabled")?)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(api_error("PutMetricAlarm"))?;
        Ok(())
    }

    /// Metric alarms, by name: DescribeAlarms for up to 100 names a call (or every alarm of
    /// the region when `names` is `None`), then ListTagsForResource per alarm, concurrently
    /// (CloudWatch has no batched tag read).
    async fn read(
        &self,
        region: &str,
        names: Option<Vec<String>>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(region);
        let mut alarms: Vec<Alarm> = Vec::new();
        let batches: Vec<Option<Vec<String>>> = match names {
            Some(names) => names
                .chunks(NAMES_PER_CALL)
                .map(|c| Some(c.to_vec()))
                .collect(),
            None => vec![None],
        };
        for batch in batches {
            let pages: Vec<_> = client
                .describe_alarms()
                .set_alarm_names(batch)
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(api_error("DescribeAlarms"))?;
            alarms.extend(
                pages
                    .into_iter()
                    .flat_map(|p| p.metric_alarms.unwrap_or_default()),
            );
        }
        futures::stream::iter(alarms)
            .map(|alarm| {
                let client = client.clone();
                async move {
                    let (Some(name), Some(arn)) = (alarm.alarm_name(), alarm.alarm_arn()) else {
                        return Ok(None);
                    };
                    let tags = match client
                        .list_tags_for_resource()
                        .resource_arn(arn)
                        .send()
                        .await
                    {
                        Ok(out) => out,
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|e| e.is_resource_not_found_exception()) =>
                        {
                            return Ok(None);
                        }
                        Err(e) => return Err(api_error("ListTagsForResource")(e)),
                    };
                    let mut attrs = alarm_attributes(&alarm);
                    attrs.insert(
                        "tags".into(),
                        tags_value(
                            tags.tags()
                                .iter()
                                .filter_map(|t| Some((t.key()?, t.value()?))),
                        ),
                    );
                    Ok(Some((name.to_string(), attrs)))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await
    }

    async fn read_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        self.read(region, Some(vec![name.to_string()]))
            .await?
            .remove(name)
            .ok_or_else(|| ProviderError::NotFound(format!("alarm {name}")))
    }
}

#[async_trait]
impl ResourceType for MetricAlarm {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let names: Vec<String> = wanted(req.ids).into_iter().map(str::to_string).collect();
        let mut found = self.read(req.region, Some(names)).await?;
        let ids = wanted(req.ids);
        found.retain(|name, _| ids.contains(name.as_str()));
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let client = self.client(req.region);
        let name = require_str(req.inputs, "name")?;
        self.put(&client, &name, req.inputs, true).await?;
        let attributes = self.read_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        if req.changed.iter().any(|c| DEFINITION.contains(&c.as_str())) {
            self.put(&client, req.id, req.inputs, false).await?;
        }
        if req.changed.iter().any(|c| c == "tags") {
            let arn = match req.prior.get("arn").and_then(Value::as_str) {
                Some(arn) => arn.to_string(),
                None => self
                    .read_one(req.region, req.id)
                    .await?
                    .get("arn")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| ProviderError::api("DescribeAlarms", "no ARN returned"))?,
            };
            let (set, removed) = tag_changes(req.inputs, req.prior);
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagResource"))?;
            }
            if !set.is_empty() {
                let tags = set
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Vec<_>>();
                client
                    .tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// DeleteAlarms succeeds for names that do not exist.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        gone_is_ok(
            "DeleteAlarms",
            self.client(req.region)
                .delete_alarms()
                .alarm_names(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// DescribeAlarms has no tag filter: every metric alarm of the region is listed with
    /// its tags, and those carrying the ownership tags are kept.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = self.read(req.region, None).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
