//! `aws.elbv2.listener_rule`: a rule of a listener (path or host based routing, e.g. `/api/*`
//! to the API's target group). Its cloud id is its ARN.
//!
//! `conditions` is a list of maps; each key of a map is one condition (a map may hold
//! several, they are compared one condition per map, in no particular order):
//! `path_patterns`, `host_headers`, `http_request_methods`, `source_ips` (lists of text),
//! `http_header` ({`name`, `values`}) and `query_strings` (a list of {`key`, `value`}).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    HostHeaderConditionConfig, HttpHeaderConditionConfig, HttpRequestMethodConditionConfig,
    PathPatternConditionConfig, QueryStringConditionConfig, QueryStringKeyValuePair, Rule,
    RuleCondition, RulePriorityPair, SourceIpConditionConfig,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_i32, is_owned, require_str};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::action::{action_from_value, action_value, normalize_action};
use crate::listener::{CONCURRENCY, all_listeners};
use crate::{
    AwsClients, NOT_FOUND, any_changed, create_tags, m_str, m_strings, sorted_strings, sync_tags,
    wanted_arns, with_tags,
};

pub const TYPE_NAME: &str = "aws.elbv2.listener_rule";

/// Condition keys whose value is a list of text, with the ELBv2 field each stands for.
const LIST_CONDITIONS: &[(&str, &str)] = &[
    ("path_patterns", "path-pattern"),
    ("host_headers", "host-header"),
    ("http_request_methods", "http-request-method"),
    ("source_ips", "source-ip"),
];

pub struct ListenerRule {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A rule of an Elastic Load Balancing v2 listener: conditions (paths, \
                      hosts, headers) and the action taken when they match. Its id is its ARN.",
        attributes: vec![
            AttrSchema::required("listener_arn", String)
                .forces_replacement()
                .describe("The listener's ARN."),
            AttrSchema::required("priority", Number)
                .describe("The rule's priority (1-50000, lower first); unique per listener."),
            AttrSchema::required("conditions", List)
                .unordered()
                .describe(
                    "Conditions, all of which must match: maps with `path_patterns`, \
                 `host_headers`, `http_request_methods`, `source_ips` (lists), `http_header` \
                 ({name, values}) or `query_strings` (list of {key, value}).",
                ),
            AttrSchema::required("action", Map).describe(
                "What matching requests get: same shape as a listener's `default_action` \
                 (`type` forward/redirect/fixed-response, `target_group_arn`, `redirect`, \
                 `fixed_response`).",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the rule."),
            AttrSchema::computed("arn", String).describe("The rule's ARN (its id)."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "api_rule:\n  type: aws.elbv2.listener_rule\n  properties:\n    \
                  listener_arn: ${https.arn}\n    priority: 10\n    conditions:\n      \
                  - path_patterns: [/api/*]\n    action:\n      type: forward\n      \
                  target_group_arn: ${api_targets.arn}\n",
    }
}

pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match attr {
        "action" => normalize_action(value),
        "conditions" => normalize_conditions(value),
        _ => value.clone(),
    }
}

/// One condition per map, lists sorted, the conditions sorted.
fn normalize_conditions(value: &Value) -> Value {
    let Value::List(items) = value else {
        return value.clone();
    };
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let Value::Map(m) = item else {
            out.push(item.clone());
            continue;
        };
        for (k, v) in m {
            let canon = match (k.as_str(), v) {
                ("http_header", Value::Map(h)) => {
                    let mut hm = BTreeMap::new();
                    if let Some(n) = m_str(h, "name") {
                        hm.insert("name".to_string(), Value::string(n));
                    }
                    hm.insert(
                        "values".to_string(),
                        sorted_strings(&m_strings(h, "values")),
                    );
                    Value::Map(hm)
                }
                ("query_strings", Value::List(l)) => {
                    let mut pairs: Vec<Value> = l
                        .iter()
                        .filter_map(|p| p.as_map())
                        .map(|p| {
                            let mut pm = BTreeMap::new();
                            if let Some(key) = m_str(p, "key").filter(|s| !s.is_empty()) {
                                pm.insert("key".to_string(), Value::string(key));
                            }
                            pm.insert(
                                "value".to_string(),
                                Value::string(m_str(p, "value").unwrap_or_default()),
                            );
                            Value::Map(pm)
                        })
                        .collect();
                    pairs.sort_by_key(|p| p.to_string());
                    Value::List(pairs)
                }
                (_, Value::List(_) | Value::String(_)) => sorted_strings(&m_strings(m, k)),
                _ => v.clone(),
            };
            let mut one = BTreeMap::new();
            one.insert(k.clone(), canon);
            out.push(Value::Map(one));
        }
    }
    out.sort_by_key(|v| v.to_string());
    Value::List(out)
}

/// The `conditions` input as ELBv2 rule conditions.
fn conditions_from_inputs(inputs: &Attributes) -> Result<Vec<RuleCondition>, ProviderError> {
    let Some(Value::List(items)) = inputs.get("conditions") else {
        return Err(ProviderError::Invalid(
            "`conditions` must be a list of maps".into(),
        ));
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Map(m) = item else {
            return Err(ProviderError::Invalid(
                "`conditions` must be a list of maps".into(),
            ));
        };
        for (k, v) in m {
            let b = RuleCondition::builder();
            let cond = match k.as_str() {
                "path_patterns" => b.field("path-pattern").path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some(m_strings(m, k)))
                        .build(),
                ),
                "host_headers" => b.field("host-header").host_header_config(
                    HostHeaderConditionConfig::builder()
                        .set_values(Some(m_strings(m, k)))
                        .build(),
                ),
                "http_request_methods" => {
                    b.field("http-request-method").http_request_method_config(
                        HttpRequestMethodConditionConfig::builder()
                            .set_values(Some(m_strings(m, k)))
                            .build(),
                    )
                }
                "source_ips" => b.field("source-ip").source_ip_config(
                    SourceIpConditionConfig::builder()
                        .set_values(Some(m_strings(m, k)))
                        .build(),
                ),
                "http_header" => {
                    let Value::Map(h) = v else {
                        return Err(ProviderError::Invalid(
                            "`conditions.http_header` must be a map {name, values}".into(),
                        ));
                    };
                    let name = m_str(h, "name").ok_or_else(|| {
                        ProviderError::Invalid("`conditions.http_header.name` is required".into())
                    })?;
                    b.field("http-header").http_header_config(
                        HttpHeaderConditionConfig::builder()
                            .http_header_name(name)
                            .set_values(Some(m_strings(h, "values")))
                            .build(),
                    )
                }
                "query_strings" => {
                    let Value::List(l) = v else {
                        return Err(ProviderError::Invalid(
                            "`conditions.query_strings` must be a list of {key, value}".into(),
                        ));
                    };
                    let pairs = l
                        .iter()
                        .filter_map(|p| p.as_map())
                        .map(|p| {
                            QueryStringKeyValuePair::builder()
                                .set_key(m_str(p, "key"))
                                .set_value(m_str(p, "value"))
                                .build()
                        })
                        .collect();
                    b.field("query-string").query_string_config(
                        QueryStringConditionConfig::builder()
                            .set_values(Some(pairs))
                            .build(),
                    )
                }
                other => {
                    return Err(ProviderError::Invalid(format!(
                        "unknown condition `{other}` (expected path_patterns, host_headers, \
                         http_request_methods, source_ips, http_header, query_strings)"
                    )));
                }
            };
            out.push(cond.build());
        }
    }
    if out.is_empty() {
        return Err(ProviderError::Invalid(
            "`conditions` needs at least one condition".into(),
        ));
    }
    Ok(out)
}

/// An ELBv2 rule condition as a one-key map.
fn condition_value(c: &RuleCondition) -> Option<Value> {
    let field = c.field()?;
    let list = |config: Option<&[String]>| {
        let values = match config {
            Some(v) if !v.is_empty() => v,
            _ => c.values(),
        };
        sorted_strings(values)
    };
    let (key, value) = match field {
        "http-header" => {
            let h = c.http_header_config()?;
            let mut hm = BTreeMap::new();
            if let Some(n) = h.http_header_name() {
                hm.insert("name".to_string(), Value::string(n));
            }
            hm.insert("values".to_string(), sorted_strings(h.values()));
            ("http_header", Value::Map(hm))
        }
        "query-string" => {
            let q = c.query_string_config()?;
            let pairs = q
                .values()
                .iter()
                .map(|p| {
                    let mut pm = BTreeMap::new();
                    if let Some(k) = p.key() {
                        pm.insert("key".to_string(), Value::string(k));
                    }
                    pm.insert("value".to_string(), Value::string(p.value().unwrap_or("")));
                    Value::Map(pm)
                })
                .collect();
            ("query_strings", Value::List(pairs))
        }
        "path-pattern" => (
            "path_patterns",
            list(c.path_pattern_config().map(|x| x.values())),
        ),
        "host-header" => (
            "host_headers",
            list(c.host_header_config().map(|x| x.values())),
        ),
        "http-request-method" => (
            "http_request_methods",
            list(c.http_request_method_config().map(|x| x.values())),
        ),
        "source-ip" => ("source_ips", list(c.source_ip_config().map(|x| x.values()))),
        _ => return None,
    };
    debug_assert!(
        LIST_CONDITIONS.iter().any(|(k, _)| *k == key)
            || key == "http_header"
            || key == "query_strings"
    );
    let mut m = BTreeMap::new();
    m.insert(key.to_string(), value);
    Some(Value::Map(m))
}

fn rule_attributes(r: &Rule) -> Option<(String, Attributes)> {
    if r.is_default() == Some(true) {
        return None;
    }
    let arn = r.rule_arn()?.to_string();
    let mut a = Attributes::new();
    a.insert("arn".into(), Value::string(&arn));
    // A rule ARN is its listener's ARN with `listener-rule` and one more path part.
    if let Some((prefix, _)) = arn
        .replace(":listener-rule/", ":listener/")
        .rsplit_once('/')
    {
        a.insert("listener_arn".into(), Value::string(prefix));
    }
    if let Some(p) = r.priority() {
        a.insert(
            "priority".into(),
            p.parse::<i64>()
                .map(Value::int)
                .unwrap_or_else(|_| Value::string(p)),
        );
    }
    a.insert(
        "conditions".into(),
        normalize_conditions(&Value::List(
            r.conditions().iter().filter_map(condition_value).collect(),
        )),
    );
    if let Some(first) = r.actions().iter().min_by_key(|x| x.order().unwrap_or(0)) {
        a.insert("action".into(), action_value(first));
    }
    Some((arn, a))
}

async fn describe_by_arns(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arns: &[String],
) -> Result<BTreeMap<String, Attributes>, AwsError> {
    let out = client
        .describe_rules()
        .set_rule_arns(Some(arns.to_vec()))
        .send()
        .await
        .map_err(AwsError::from_sdk)?;
    Ok(out.rules().iter().filter_map(rule_attributes).collect())
}

/// DescribeRules by ARN, twenty a call; a batch naming an unknown rule fails as a whole
/// (RuleNotFound) and is then read one ARN at a time (concurrently).
async fn describe_rules(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arns: &[String],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let missing = |e: &AwsError| e.is(NOT_FOUND) || e.is(&["ValidationError"]);
    let mut found = BTreeMap::new();
    for chunk in arns.chunks(crate::BATCH) {
        match describe_by_arns(client, chunk).await {
            Ok(f) => found.extend(f),
            Err(e) if missing(&e) => {
                let each: Vec<BTreeMap<String, Attributes>> =
                    futures::stream::iter(chunk.iter().cloned().map(|arn| async move {
                        match describe_by_arns(client, std::slice::from_ref(&arn)).await {
                            Ok(f) => Ok(f),
                            Err(e) if missing(&e) => Ok(BTreeMap::new()),
                            Err(e) => Err(e.into_provider("DescribeRules")),
                        }
                    }))
                    .buffer_unordered(CONCURRENCY)
                    .try_collect()
                    .await?;
                found.extend(each.into_iter().flatten());
            }
            Err(e) => return Err(e.into_provider("DescribeRules")),
        }
    }
    found.retain(|arn, _| arns.contains(arn));
    Ok(found)
}

fn action_input(
    inputs: &Attributes,
) -> Result<aws_sdk_elasticloadbalancingv2::types::Action, ProviderError> {
    action_from_value(inputs.get("action").unwrap_or(&Value::Null), "action")
}

fn priority(inputs: &Attributes) -> Result<i32, ProviderError> {
    input_i32(inputs, "priority")?
        .ok_or_else(|| ProviderError::Invalid("`priority` is required".into()))
}

impl ListenerRule {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        ListenerRule {
            clients,
            schema: schema(),
        }
    }

    async fn read_one(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        arn: &str,
    ) -> Result<Attributes, ProviderError> {
        let found = describe_rules(client, &[arn.to_string()]).await?;
        with_tags(client, found)
            .await?
            .remove(arn)
            .ok_or_else(|| ProviderError::NotFound(format!("listener rule {arn}")))
    }
}

#[async_trait]
impl ResourceType for ListenerRule {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// One DescribeRules per twenty ARNs (per ARN only for a batch naming an unknown
    /// rule), and one DescribeTags per twenty ARNs.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let client = crate::client(&self.clients, req.region);
        let found = describe_rules(&client, &wanted_arns(req.ids)).await?;
        let found = with_tags(&client, found).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let out = client
            .create_rule()
            .listener_arn(require_str(inputs, "listener_arn")?)
            .priority(priority(inputs)?)
            .set_conditions(Some(conditions_from_inputs(inputs)?))
            .actions(action_input(inputs)?)
            .set_tags(create_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateRule"))?;
        let arn = out
            .rules()
            .first()
            .and_then(|r| r.rule_arn())
            .ok_or_else(|| ProviderError::api("CreateRule", "no rule returned"))?
            .to_string();
        let attributes = Self::read_one(&client, &arn).await?;
        Ok(CreateResponse {
            id: arn,
            attributes,
        })
    }

    /// ModifyRule for conditions and action, SetRulePriorities for the priority.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let c = |n: &str| any_changed(req.changed, &[n]);
        if c("conditions") || c("action") {
            let mut m = client.modify_rule().rule_arn(req.id);
            if c("conditions") {
                m = m.set_conditions(Some(conditions_from_inputs(inputs)?));
            }
            if c("action") {
                m = m.actions(action_input(inputs)?);
            }
            m.send().await.map_err(api_error("ModifyRule"))?;
        }
        if c("priority") {
            client
                .set_rule_priorities()
                .rule_priorities(
                    RulePriorityPair::builder()
                        .rule_arn(req.id)
                        .priority(priority(inputs)?)
                        .build(),
                )
                .send()
                .await
                .map_err(api_error("SetRulePriorities"))?;
        }
        if c("tags") {
            sync_tags(&client, req.id, inputs, req.prior).await?;
        }
        let attributes = Self::read_one(&client, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteRule",
            client.delete_rule().rule_arn(req.id).send().await,
            NOT_FOUND,
        )
    }

    /// Lists every rule of every listener of the region (DescribeListeners per load
    /// balancer and DescribeRules per listener, concurrently: the API lists no other way),
    /// reads their tags (twenty a call) and keeps those carrying the ownership tags.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let listeners: Vec<String> = all_listeners(&client).await?.into_keys().collect();
        let client_ref = &client;
        let per_listener: Vec<BTreeMap<String, Attributes>> =
            futures::stream::iter(listeners.into_iter().map(|l| async move {
                let r: Result<Vec<_>, _> = client_ref
                    .describe_rules()
                    .listener_arn(&l)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await;
                match r {
                    Ok(rules) => Ok(rules.iter().filter_map(rule_attributes).collect()),
                    Err(e) => {
                        let e = AwsError::from_sdk(e);
                        if e.is(NOT_FOUND) {
                            Ok(BTreeMap::new())
                        } else {
                            Err(e.into_provider("DescribeRules"))
                        }
                    }
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let all: BTreeMap<String, Attributes> = per_listener.into_iter().flatten().collect();
        let all = with_tags(&client, all).await?;
        Ok(all.into_iter().filter(|(_, a)| is_owned(&req, a)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_compare_as_sets_one_per_map() {
        let stack = Value::List(vec![Value::Map(
            [
                (
                    "path_patterns".to_string(),
                    Value::List(vec![Value::string("/b/*"), Value::string("/a/*")]),
                ),
                (
                    "host_headers".to_string(),
                    Value::List(vec![Value::string("api.example.com")]),
                ),
            ]
            .into_iter()
            .collect(),
        )]);
        let live = Value::List(vec![
            Value::Map(
                [(
                    "host_headers".to_string(),
                    Value::List(vec![Value::string("api.example.com")]),
                )]
                .into_iter()
                .collect(),
            ),
            Value::Map(
                [(
                    "path_patterns".to_string(),
                    Value::List(vec![Value::string("/a/*"), Value::string("/b/*")]),
                )]
                .into_iter()
                .collect(),
            ),
        ]);
        assert_eq!(normalize_conditions(&stack), normalize_conditions(&live));
        let mut inputs = Attributes::new();
        inputs.insert("conditions".into(), stack);
        assert_eq!(conditions_from_inputs(&inputs).unwrap().len(), 2);
    }
}
