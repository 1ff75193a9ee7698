//! `aws.wafv2.web_acl`: a WAFv2 web ACL (rate limiting, AWS managed rule groups, IP sets,
//! geo matching) for application load balancers, API Gateway stages (scope REGIONAL) or
//! CloudFront distributions (scope CLOUDFRONT, in us-east-1 only).
//!
//! Its cloud id is `<id>/<name>/<scope>`, e.g.
//! `a1b2c3d4-5678-90ab-cdef-EXAMPLE11111/api-waf/REGIONAL`: WAFv2 needs all three to read,
//! change or delete a web ACL. That is what `terrane import` takes.
//!
//! The lock token WAFv2 requires for UpdateWebACL and DeleteWebACL is never an attribute: it
//! is read fresh (GetWebACL) right before each change, and a change refused with
//! WAFOptimisticLockException (someone else changed the ACL meanwhile) is retried once with
//! a fresh token.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, CountAction, CountryCode, DefaultAction, ExcludedRule,
    GeoMatchStatement, IpSetReferenceStatement, ManagedRuleGroupStatement, NoneAction,
    OverrideAction, RateBasedStatement, RateBasedStatementAggregateKeyType, Rule, RuleAction,
    Scope, Statement, Tag, VisibilityConfig,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_str, is_owned, require_str};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, CONCURRENCY, NOT_FOUND};

pub const TYPE_NAME: &str = "aws.wafv2.web_acl";

const LOCK_CONFLICT: &[&str] = &["WAFOptimisticLockException"];
const RULE_KEYS: &[&str] = &[
    "name",
    "priority",
    "action",
    "override_action",
    "statement",
    "visibility",
];
const VISIBILITY_KEYS: &[&str] = &[
    "metric_name",
    "cloudwatch_metrics_enabled",
    "sampled_requests_enabled",
];

pub struct WebAcl {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A WAFv2 web ACL. Its id is `<id>/<name>/<scope>` (WAFv2 needs all three), \
                      e.g. `a1b2c3d4-5678-90ab-cdef-EXAMPLE11111/api-waf/REGIONAL`.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The web ACL's name: letters, digits, `-` and `_`, up to 128."),
            AttrSchema::optional("scope", String)
                .default(DefaultValue::Str("REGIONAL"))
                .forces_replacement()
                .describe(
                    "`REGIONAL` (load balancers, API Gateway) or `CLOUDFRONT` (only in \
                     us-east-1).",
                ),
            AttrSchema::optional("description", String).describe("A description."),
            AttrSchema::optional("default_action", String)
                .default(DefaultValue::Str("allow"))
                .describe("What requests no rule matches get: `allow` or `block`."),
            AttrSchema::optional("rules", List).unordered().describe(
                "Rules, each a map: `name`, `priority`, `action` (`allow`, `block`, `count`) or, \
                 for managed rule groups, `override_action` (`none`, the default, or `count`); \
                 `statement`, one of `rate_based` {`limit`, `aggregate_key_type` (IP)}, \
                 `managed_rule_group` {`vendor_name` (AWS), `name`, `excluded_rules`}, \
                 `ip_set_reference` {`arn`}, `geo_match` {`country_codes`}; `visibility` \
                 {`metric_name` (the rule's name), `cloudwatch_metrics_enabled`, \
                 `sampled_requests_enabled` (both true)}.",
            ),
            AttrSchema::optional("visibility_config", Map).describe(
                "The ACL's metrics: `metric_name`, `cloudwatch_metrics_enabled`, \
                 `sampled_requests_enabled`. When unset: the ACL's name, true, true.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the web ACL."),
            AttrSchema::computed("arn", String)
                .describe("The web ACL's ARN (for associations and CloudFront)."),
            AttrSchema::computed("id", String).describe("The web ACL's WAFv2 id."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "api_waf:\n  type: aws.wafv2.web_acl\n  properties:\n    name: api-waf\n    \
                  scope: REGIONAL\n    default_action: allow\n    rules:\n      \
                  - name: rate-limit\n        priority: 1\n        action: block\n        \
                  statement:\n          rate_based:\n            limit: 2000\n      \
                  - name: common\n        priority: 2\n        override_action: none\n        \
                  statement:\n          managed_rule_group:\n            vendor_name: AWS\n            \
                  name: AWSManagedRulesCommonRuleSet\n",
    }
}

// ---------------------------------------------------------------------------------------
// Values

fn get_str(m: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get_bool(m: &BTreeMap<String, Value>, key: &str) -> Option<bool> {
    match m.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

fn get_strings(m: &BTreeMap<String, Value>, key: &str) -> Vec<String> {
    match m.get(key) {
        Some(Value::List(l)) => l
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Map(x) => get_str(x, "name"),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn map_of(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn sorted(mut items: Vec<String>) -> Value {
    items.sort();
    items.dedup();
    Value::List(items.into_iter().map(Value::string).collect())
}

/// A CloudWatch metric name from a rule or ACL name: letters, digits, `-` and `_` kept.
pub fn metric_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A visibility map in canonical form: both flags true unless said otherwise, the metric
/// named after `name` unless said otherwise.
fn visibility_value(v: Option<&Value>, name: &str) -> Value {
    let empty = BTreeMap::new();
    let m = v.and_then(Value::as_map).unwrap_or(&empty);
    map_of(vec![
        (
            "metric_name",
            Value::string(get_str(m, "metric_name").unwrap_or_else(|| metric_name(name))),
        ),
        (
            "cloudwatch_metrics_enabled",
            Value::Bool(get_bool(m, "cloudwatch_metrics_enabled").unwrap_or(true)),
        ),
        (
            "sampled_requests_enabled",
            Value::Bool(get_bool(m, "sampled_requests_enabled").unwrap_or(true)),
        ),
    ])
}

/// A statement map in canonical form.
fn statement_value(v: &Value) -> Value {
    let Value::Map(m) = v else {
        return v.clone();
    };
    let mut out = BTreeMap::new();
    for (k, s) in m {
        let Value::Map(sm) = s else {
            out.insert(k.clone(), s.clone());
            continue;
        };
        let canon = match k.as_str() {
            "rate_based" => map_of(vec![
                (
                    "limit",
                    sm.get("limit")
                        .and_then(Value::as_i64)
                        .map(Value::int)
                        .unwrap_or(Value::Null),
                ),
                (
                    "aggregate_key_type",
                    Value::string(
                        get_str(sm, "aggregate_key_type")
                            .unwrap_or_else(|| "IP".into())
                            .to_uppercase(),
                    ),
                ),
            ]),
            "managed_rule_group" => {
                let mut g = vec![
                    (
                        "vendor_name",
                        Value::string(get_str(sm, "vendor_name").unwrap_or_else(|| "AWS".into())),
                    ),
                    (
                        "name",
                        Value::string(get_str(sm, "name").unwrap_or_default()),
                    ),
                ];
                let excluded = get_strings(sm, "excluded_rules");
                if !excluded.is_empty() {
                    g.push(("excluded_rules", sorted(excluded)));
                }
                map_of(g)
            }
            "ip_set_reference" => map_of(vec![(
                "arn",
                Value::string(get_str(sm, "arn").unwrap_or_default()),
            )]),
            "geo_match" => map_of(vec![(
                "country_codes",
                sorted(
                    get_strings(sm, "country_codes")
                        .into_iter()
                        .map(|c| c.to_uppercase())
                        .collect(),
                ),
            )]),
            _ => s.clone(),
        };
        out.insert(k.clone(), canon);
    }
    Value::Map(out)
}

/// A rule map in canonical form.
fn rule_value(v: &Value) -> Value {
    let Value::Map(m) = v else {
        return v.clone();
    };
    let name = get_str(m, "name").unwrap_or_default();
    let mut out = BTreeMap::new();
    out.insert("name".to_string(), Value::string(&name));
    if let Some(p) = m.get("priority").and_then(Value::as_i64) {
        out.insert("priority".to_string(), Value::int(p));
    }
    let managed = m.get("statement").and_then(Value::as_map).is_some_and(|s| {
        s.contains_key("managed_rule_group") || s.contains_key("rule_group_reference")
    });
    if let Some(a) = get_str(m, "action") {
        out.insert("action".to_string(), Value::string(a.to_lowercase()));
    }
    match get_str(m, "override_action") {
        Some(o) => {
            out.insert(
                "override_action".to_string(),
                Value::string(o.to_lowercase()),
            );
        }
        None if managed && !m.contains_key("action") => {
            out.insert("override_action".to_string(), Value::string("none"));
        }
        None => {}
    }
    if let Some(s) = m.get("statement") {
        out.insert("statement".to_string(), statement_value(s));
    }
    out.insert(
        "visibility".to_string(),
        visibility_value(m.get("visibility"), &name),
    );
    Value::Map(out)
}

/// Rules in canonical form (sorted by priority); visibility with its defaults filled in;
/// scope in upper case, default action in lower case.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match (attr, value) {
        ("scope", Value::String(s)) => Value::string(s.to_uppercase()),
        ("default_action", Value::String(s)) => Value::string(s.to_lowercase()),
        ("rules", Value::List(l)) => {
            let mut rules: Vec<Value> = l.iter().map(rule_value).collect();
            rules.sort_by_key(|r| {
                (
                    r.as_map()
                        .and_then(|m| m.get("priority"))
                        .and_then(Value::as_i64)
                        .unwrap_or(i64::MAX),
                    r.to_string(),
                )
            });
            Value::List(rules)
        }
        ("visibility_config", Value::Map(m)) => {
            let mut out = m.clone();
            for key in ["cloudwatch_metrics_enabled", "sampled_requests_enabled"] {
                out.insert(
                    key.to_string(),
                    Value::Bool(get_bool(m, key).unwrap_or(true)),
                );
            }
            Value::Map(out)
        }
        _ => value.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// Stack values to WAFv2

fn invalid(msg: impl Into<String>) -> ProviderError {
    ProviderError::Invalid(msg.into())
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, ProviderError> {
    r.map_err(|e| ProviderError::Invalid(e.to_string()))
}

fn scope_of(inputs: &Attributes) -> Result<Scope, ProviderError> {
    match input_str(inputs, "scope")
        .unwrap_or_else(|| "REGIONAL".into())
        .to_uppercase()
        .as_str()
    {
        "REGIONAL" => Ok(Scope::Regional),
        "CLOUDFRONT" => Ok(Scope::Cloudfront),
        other => Err(invalid(format!(
            "`scope` must be REGIONAL or CLOUDFRONT, found `{other}`"
        ))),
    }
}

fn default_action(inputs: &Attributes) -> Result<DefaultAction, ProviderError> {
    match input_str(inputs, "default_action")
        .unwrap_or_else(|| "allow".into())
        .to_lowercase()
        .as_str()
    {
        "allow" => Ok(DefaultAction::builder()
            .allow(AllowAction::builder().build())
            .build()),
        "block" => Ok(DefaultAction::builder()
            .block(BlockAction::builder().build())
            .build()),
        other => Err(invalid(format!(
            "`default_action` must be allow or block, found `{other}`"
        ))),
    }
}

fn visibility_config(
    v: Option<&Value>,
    name: &str,
    what: &str,
) -> Result<VisibilityConfig, ProviderError> {
    if let Some(Value::Map(m)) = v
        && let Some(k) = m.keys().find(|k| !VISIBILITY_KEYS.contains(&k.as_str()))
    {
        return Err(invalid(format!(
            "`{what}` has no `{k}` (expected {})",
            VISIBILITY_KEYS.join(", ")
        )));
    }
    let canon = visibility_value(v, name);
    let m = canon.as_map().expect("a map");
    built(
        VisibilityConfig::builder()
            .metric_name(get_str(m, "metric_name").unwrap_or_default())
            .cloud_watch_metrics_enabled(get_bool(m, "cloudwatch_metrics_enabled").unwrap_or(true))
            .sampled_requests_enabled(get_bool(m, "sampled_requests_enabled").unwrap_or(true))
            .build(),
    )
}

fn statement(v: &Value, rule: &str) -> Result<Statement, ProviderError> {
    let what = format!("rules[{rule}].statement");
    let Value::Map(m) = v else {
        return Err(invalid(format!("`{what}` must be a map")));
    };
    if m.len() != 1 {
        return Err(invalid(format!(
            "`{what}` must have exactly one of rate_based, managed_rule_group, \
             ip_set_reference, geo_match"
        )));
    }
    let (kind, body) = m.iter().next().expect("one entry");
    let Value::Map(s) = body else {
        return Err(invalid(format!("`{what}.{kind}` must be a map")));
    };
    let b = Statement::builder();
    let st = match kind.as_str() {
        "rate_based" => {
            let limit = s
                .get("limit")
                .and_then(Value::as_i64)
                .ok_or_else(|| invalid(format!("`{what}.rate_based.limit` is required")))?;
            let key = get_str(s, "aggregate_key_type")
                .unwrap_or_else(|| "IP".into())
                .to_uppercase();
            b.rate_based_statement(built(
                RateBasedStatement::builder()
                    .limit(limit)
                    .aggregate_key_type(RateBasedStatementAggregateKeyType::from(key.as_str()))
                    .build(),
            )?)
        }
        "managed_rule_group" => {
            let name = get_str(s, "name")
                .ok_or_else(|| invalid(format!("`{what}.managed_rule_group.name` is required")))?;
            let excluded = get_strings(s, "excluded_rules")
                .into_iter()
                .map(|n| built(ExcludedRule::builder().name(n).build()))
                .collect::<Result<Vec<_>, _>>()?;
            b.managed_rule_group_statement(built(
                ManagedRuleGroupStatement::builder()
                    .vendor_name(get_str(s, "vendor_name").unwrap_or_else(|| "AWS".into()))
                    .name(name)
                    .set_excluded_rules((!excluded.is_empty()).then_some(excluded))
                    .build(),
            )?)
        }
        "ip_set_reference" => {
            let arn = get_str(s, "arn")
                .ok_or_else(|| invalid(format!("`{what}.ip_set_reference.arn` is required")))?;
            b.ip_set_reference_statement(built(
                IpSetReferenceStatement::builder().arn(arn).build(),
            )?)
        }
        "geo_match" => {
            let codes: Vec<CountryCode> = get_strings(s, "country_codes")
                .iter()
                .map(|c| CountryCode::from(c.to_uppercase().as_str()))
                .collect();
            if codes.is_empty() {
                return Err(invalid(format!(
                    "`{what}.geo_match.country_codes` is required"
                )));
            }
            b.geo_match_statement(
                GeoMatchStatement::builder()
                    .set_country_codes(Some(codes))
                    .build(),
            )
        }
        other => {
            return Err(invalid(format!(
                "`{what}` has no `{other}` (expected rate_based, managed_rule_group, \
                 ip_set_reference, geo_match)"
            )));
        }
    };
    Ok(st.build())
}

fn rule(v: &Value) -> Result<Rule, ProviderError> {
    let Value::Map(m) = v else {
        return Err(invalid("each of `rules` must be a map"));
    };
    let name = get_str(m, "name").ok_or_else(|| invalid("each rule needs a `name`"))?;
    if let Some(k) = m.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "rule `{name}` has no `{k}` (expected {})",
            RULE_KEYS.join(", ")
        )));
    }
    let priority = m
        .get("priority")
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| invalid(format!("rule `{name}` needs a whole-number `priority`")))?;
    let st_value = m
        .get("statement")
        .ok_or_else(|| invalid(format!("rule `{name}` needs a `statement`")))?;
    let st = statement(st_value, &name)?;
    let managed = st.managed_rule_group_statement().is_some();
    let mut b = Rule::builder()
        .name(&name)
        .priority(priority)
        .statement(st)
        .visibility_config(visibility_config(
            m.get("visibility"),
            &name,
            &format!("rules[{name}].visibility"),
        )?);
    let action = get_str(m, "action").map(|a| a.to_lowercase());
    let override_action = get_str(m, "override_action").map(|a| a.to_lowercase());
    if managed {
        if action.is_some() {
            return Err(invalid(format!(
                "rule `{name}` uses a managed rule group: give `override_action` (none or \
                 count), not `action`"
            )));
        }
        let o = match override_action.as_deref().unwrap_or("none") {
            "none" => OverrideAction::builder().none(NoneAction::builder().build()),
            "count" => OverrideAction::builder().count(CountAction::builder().build()),
            other => {
                return Err(invalid(format!(
                    "rule `{name}`: `override_action` must be none or count, found `{other}`"
                )));
            }
        };
        b = b.override_action(o.build());
    } else {
        if override_action.is_some() {
            return Err(invalid(format!(
                "rule `{name}`: `override_action` is for managed rule groups; give `action`"
            )));
        }
        let a = match action.as_deref() {
            Some("allow") => RuleAction::builder().allow(AllowAction::builder().build()),
            Some("block") => RuleAction::builder().block(BlockAction::builder().build()),
            Some("count") => RuleAction::builder().count(CountAction::builder().build()),
            Some(other) => {
                return Err(invalid(format!(
                    "rule `{name}`: `action` must be allow, block or count, found `{other}`"
                )));
            }
            None => return Err(invalid(format!("rule `{name}` needs an `action`"))),
        };
        b = b.action(a.build());
    }
    built(b.build())
}

fn rules(inputs: &Attributes) -> Result<Vec<Rule>, ProviderError> {
    match inputs.get("rules") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(l)) => l.iter().map(rule).collect(),
        Some(_) => Err(invalid("`rules` must be a list of maps")),
    }
}

fn acl_visibility(inputs: &Attributes, name: &str) -> Result<VisibilityConfig, ProviderError> {
    if let Some(Value::Map(m)) = inputs.get("visibility_config")
        && !m.contains_key("metric_name")
    {
        return Err(invalid(
            "`visibility_config.metric_name` is required when `visibility_config` is set",
        ));
    }
    visibility_config(inputs.get("visibility_config"), name, "visibility_config")
}

fn aws_tags(inputs: &Attributes) -> Result<Vec<Tag>, ProviderError> {
    terrane_aws_core::tags::aws_tags_from_inputs(inputs)
        .into_iter()
        .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// WAFv2 to attributes

fn visibility_from(v: Option<&VisibilityConfig>) -> Value {
    match v {
        Some(v) => map_of(vec![
            ("metric_name", Value::string(v.metric_name())),
            (
                "cloudwatch_metrics_enabled",
                Value::Bool(v.cloud_watch_metrics_enabled()),
            ),
            (
                "sampled_requests_enabled",
                Value::Bool(v.sampled_requests_enabled()),
            ),
        ]),
        None => Value::Null,
    }
}

fn statement_from(s: &Statement) -> Value {
    let mut out = Vec::new();
    if let Some(r) = s.rate_based_statement() {
        out.push((
            "rate_based",
            map_of(vec![
                ("limit", Value::int(r.limit())),
                (
                    "aggregate_key_type",
                    Value::string(r.aggregate_key_type().as_str()),
                ),
            ]),
        ));
    }
    if let Some(g) = s.managed_rule_group_statement() {
        let mut m = vec![
            ("vendor_name", Value::string(g.vendor_name())),
            ("name", Value::string(g.name())),
        ];
        let excluded: Vec<String> = g
            .excluded_rules()
            .iter()
            .map(|e| e.name().to_string())
            .collect();
        if !excluded.is_empty() {
            m.push(("excluded_rules", sorted(excluded)));
        }
        out.push(("managed_rule_group", map_of(m)));
    }
    if let Some(i) = s.ip_set_reference_statement() {
        out.push((
            "ip_set_reference",
            map_of(vec![("arn", Value::string(i.arn()))]),
        ));
    }
    if let Some(g) = s.geo_match_statement() {
        out.push((
            "geo_match",
            map_of(vec![(
                "country_codes",
                sorted(
                    g.country_codes()
                        .iter()
                        .map(|c| c.as_str().to_string())
                        .collect(),
                ),
            )]),
        ));
    }
    map_of(out)
}

fn rule_from(r: &Rule) -> Value {
    let mut m = vec![
        ("name", Value::string(r.name())),
        ("priority", Value::int(r.priority().into())),
    ];
    if let Some(a) = r.action() {
        let kind = if a.allow().is_some() {
            "allow"
        } else if a.block().is_some() {
            "block"
        } else if a.count().is_some() {
            "count"
        } else if a.captcha().is_some() {
            "captcha"
        } else {
            "challenge"
        };
        m.push(("action", Value::string(kind)));
    }
    if let Some(o) = r.override_action() {
        let kind = if o.count().is_some() { "count" } else { "none" };
        m.push(("override_action", Value::string(kind)));
    }
    if let Some(s) = r.statement() {
        m.push(("statement", statement_from(s)));
    }
    m.push(("visibility", visibility_from(r.visibility_config())));
    map_of(m)
}

fn scope_str(scope: &Scope) -> &'static str {
    match scope {
        Scope::Cloudfront => "CLOUDFRONT",
        _ => "REGIONAL",
    }
}

fn acl_attributes(acl: &aws_sdk_wafv2::types::WebAcl, scope: &Scope) -> Attributes {
    let mut a = Attributes::new();
    a.insert("arn".into(), Value::string(acl.arn()));
    a.insert("id".into(), Value::string(acl.id()));
    a.insert("name".into(), Value::string(acl.name()));
    a.insert("scope".into(), Value::string(scope_str(scope)));
    if let Some(d) = acl.description().filter(|d| !d.is_empty()) {
        a.insert("description".into(), Value::string(d));
    }
    if let Some(d) = acl.default_action() {
        let kind = if d.block().is_some() {
            "block"
        } else {
            "allow"
        };
        a.insert("default_action".into(), Value::string(kind));
    }
    a.insert(
        "rules".into(),
        Value::List(acl.rules().iter().map(rule_from).collect()),
    );
    a.insert(
        "visibility_config".into(),
        visibility_from(acl.visibility_config()),
    );
    a
}

// ---------------------------------------------------------------------------------------
// Ids

/// The parts of a cloud id `<id>/<name>/<scope>`.
struct AclId {
    id: String,
    name: String,
    scope: Scope,
}

impl AclId {
    fn parse(s: &str) -> Option<AclId> {
        let mut parts = s.splitn(3, '/');
        let (id, name, scope) = (parts.next()?, parts.next()?, parts.next()?);
        let scope = match scope.to_uppercase().as_str() {
            "REGIONAL" => Scope::Regional,
            "CLOUDFRONT" => Scope::Cloudfront,
            _ => return None,
        };
        (!id.is_empty() && !name.is_empty()).then(|| AclId {
            id: id.to_string(),
            name: name.to_string(),
            scope,
        })
    }

    fn parse_or_invalid(s: &str) -> Result<AclId, ProviderError> {
        AclId::parse(s).ok_or_else(|| {
            invalid(format!(
                "`{s}` is not a web ACL id: expected `<id>/<name>/<REGIONAL|CLOUDFRONT>`"
            ))
        })
    }
}

pub fn cloud_id(id: &str, name: &str, scope: &str) -> String {
    format!("{id}/{name}/{scope}")
}

// ---------------------------------------------------------------------------------------
// Reads

impl WebAcl {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        WebAcl {
            clients,
            schema: schema(),
        }
    }

    /// Every web ACL of one scope: (id, name, arn), one ListWebACLs per page.
    async fn list(
        client: &aws_sdk_wafv2::Client,
        scope: &Scope,
    ) -> Result<Vec<(String, String, String)>, ProviderError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = client
                .list_web_acls()
                .scope(scope.clone())
                .limit(100)
                .set_next_marker(marker.clone())
                .send()
                .await
                .map_err(api_error("ListWebACLs"))?;
            for s in page.web_acls() {
                if let (Some(id), Some(name), Some(arn)) = (s.id(), s.name(), s.arn()) {
                    out.push((id.to_string(), name.to_string(), arn.to_string()));
                }
            }
            let next = page
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(str::to_string);
            // A page without entries ends the listing even if a marker comes back.
            if next.is_none() || page.web_acls().is_empty() || next == marker {
                break;
            }
            marker = next;
        }
        Ok(out)
    }

    /// The tags of one web ACL (ListTagsForResource, paginated by marker).
    async fn tags(
        client: &aws_sdk_wafv2::Client,
        arn: &str,
    ) -> Result<Option<Value>, ProviderError> {
        let mut tags = BTreeMap::new();
        let mut marker: Option<String> = None;
        loop {
            let r = client
                .list_tags_for_resource()
                .resource_arn(arn)
                .set_next_marker(marker.clone())
                .send()
                .await;
            let out = match r {
                Ok(out) => out,
                Err(e) => {
                    let e = AwsError::from_sdk(e);
                    if e.is(NOT_FOUND) {
                        return Ok(None);
                    }
                    return Err(e.into_provider("ListTagsForResource"));
                }
            };
            if let Some(info) = out.tag_info_for_resource() {
                for t in info.tag_list() {
                    if !t.key().starts_with("aws:") {
                        let v = terrane_aws_core::tags::decode_tag_value(t.key(), t.value());
                        tags.insert(t.key().to_string(), Value::string(v));
                    }
                }
            }
            let next = out
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(str::to_string);
            if next.is_none() || next == marker {
                break;
            }
            marker = next;
        }
        Ok(Some(Value::Map(tags)))
    }

    /// One web ACL with its lock token; `None` when it does not exist.
    async fn get(
        client: &aws_sdk_wafv2::Client,
        id: &AclId,
    ) -> Result<Option<(aws_sdk_wafv2::types::WebAcl, String)>, ProviderError> {
        let r = client
            .get_web_acl()
            .id(&id.id)
            .name(&id.name)
            .scope(id.scope.clone())
            .send()
            .await;
        match r {
            Ok(out) => Ok(out
                .web_acl()
                .cloned()
                .map(|acl| (acl, out.lock_token().unwrap_or_default().to_string()))),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    Ok(None)
                } else {
                    Err(e.into_provider("GetWebACL"))
                }
            }
        }
    }

    /// These web ACLs in full: GetWebACL and ListTagsForResource per ACL (WAFv2 has no
    /// batched read of either), run concurrently.
    async fn read_many(
        client: &aws_sdk_wafv2::Client,
        ids: Vec<AclId>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found: Vec<Option<(String, Attributes)>> =
            futures::stream::iter(ids.into_iter().map(|id| async move {
                let Some((acl, _)) = Self::get(client, &id).await? else {
                    return Ok::<_, ProviderError>(None);
                };
                let Some(tags) = Self::tags(client, acl.arn()).await? else {
                    return Ok(None);
                };
                let mut a = acl_attributes(&acl, &id.scope);
                a.insert("tags".into(), tags);
                let key = cloud_id(acl.id(), acl.name(), scope_str(&id.scope));
                Ok(Some((key, a)))
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn read_one(
        client: &aws_sdk_wafv2::Client,
        id: &str,
    ) -> Result<Attributes, ProviderError> {
        let parsed = AclId::parse_or_invalid(id)?;
        Self::read_many(client, vec![parsed])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("web ACL {id}")))
    }

    /// UpdateWebACL with the whole desired definition and a fresh lock token; retried once
    /// with a new token when someone else changed the ACL in between.
    async fn put_definition(
        client: &aws_sdk_wafv2::Client,
        id: &AclId,
        inputs: &Attributes,
    ) -> Result<(), ProviderError> {
        let default_action = default_action(inputs)?;
        let rules = rules(inputs)?;
        let visibility = acl_visibility(inputs, &id.name)?;
        for attempt in 0..2 {
            let Some((_, token)) = Self::get(client, id).await? else {
                return Err(ProviderError::NotFound(format!("web ACL {}", id.id)));
            };
            let r = client
                .update_web_acl()
                .id(&id.id)
                .name(&id.name)
                .scope(id.scope.clone())
                .lock_token(token)
                .default_action(default_action.clone())
                .set_rules(Some(rules.clone()))
                .visibility_config(visibility.clone())
                .set_description(input_str(inputs, "description"))
                .send()
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let e = AwsError::from_sdk(e);
                    if attempt == 0 && e.is(LOCK_CONFLICT) {
                        continue;
                    }
                    return Err(e.into_provider("UpdateWebACL"));
                }
            }
        }
        unreachable!("the loop returns")
    }
}

#[async_trait]
impl ResourceType for WebAcl {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// Per scope asked for, one paginated ListWebACLs to learn which ids exist; then
    /// GetWebACL and ListTagsForResource per existing ACL (no batched form), concurrently.
    /// Ids that do not parse as `<id>/<name>/<scope>` are simply not found.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let wanted: BTreeSet<&str> = req.ids.iter().map(String::as_str).collect();
        let parsed: Vec<AclId> = wanted.iter().filter_map(|s| AclId::parse(s)).collect();
        let mut existing = Vec::new();
        for scope in [Scope::Regional, Scope::Cloudfront] {
            let of_scope: Vec<&AclId> = parsed.iter().filter(|p| p.scope == scope).collect();
            // CLOUDFRONT web ACLs exist only in us-east-1: elsewhere they are not found.
            if of_scope.is_empty() || (scope == Scope::Cloudfront && req.region != "us-east-1") {
                continue;
            }
            let listed: BTreeSet<(String, String)> = Self::list(&client, &scope)
                .await?
                .into_iter()
                .map(|(id, name, _)| (id, name))
                .collect();
            existing.extend(
                of_scope
                    .into_iter()
                    .filter(|p| listed.contains(&(p.id.clone(), p.name.clone())))
                    .map(|p| AclId {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        scope: p.scope.clone(),
                    }),
            );
        }
        let mut found = Self::read_many(&client, existing).await?;
        found.retain(|k, _| wanted.contains(k.as_str()));
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let scope = scope_of(inputs)?;
        if scope == Scope::Cloudfront && req.region != "us-east-1" {
            return Err(invalid(format!(
                "a web ACL of scope CLOUDFRONT can only be made in us-east-1, not {}",
                req.region
            )));
        }
        let name = require_str(inputs, "name")?;
        let client = crate::client(&self.clients, req.region);
        let tags = aws_tags(inputs)?;
        let out = client
            .create_web_acl()
            .name(&name)
            .scope(scope.clone())
            .default_action(default_action(inputs)?)
            .set_rules(Some(rules(inputs)?))
            .visibility_config(acl_visibility(inputs, &name)?)
            .set_description(input_str(inputs, "description"))
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(api_error("CreateWebACL"))?;
        let summary = out
            .summary()
            .ok_or_else(|| ProviderError::api("CreateWebACL", "no web ACL returned"))?;
        let acl_id = summary
            .id()
            .ok_or_else(|| ProviderError::api("CreateWebACL", "no web ACL id returned"))?;
        let id = cloud_id(acl_id, &name, scope_str(&scope));
        let attributes = Self::read_one(&client, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let id = AclId::parse_or_invalid(req.id)?;
        let definition = [
            "description",
            "default_action",
            "rules",
            "visibility_config",
        ];
        if req.changed.iter().any(|c| definition.contains(&c.as_str())) {
            Self::put_definition(&client, &id, inputs).await?;
        }
        if req.changed.iter().any(|c| c == "tags") {
            let arn = match req.prior.get("arn").and_then(Value::as_str) {
                Some(a) => a.to_string(),
                None => Self::get(&client, &id)
                    .await?
                    .map(|(acl, _)| acl.arn().to_string())
                    .ok_or_else(|| ProviderError::NotFound(format!("web ACL {}", req.id)))?,
            };
            let want: BTreeMap<String, String> =
                terrane_aws_core::tags::aws_tags_from_inputs(inputs)
                    .into_iter()
                    .collect();
            let have: BTreeMap<String, String> =
                terrane_aws_core::tags::aws_tags_from_inputs(req.prior)
                    .into_iter()
                    .collect();
            let removed: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            let changed = want
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(*v))
                .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
                .collect::<Result<Vec<_>, _>>()?;
            if !changed.is_empty() {
                client
                    .tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(changed))
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagResource"))?;
            }
        }
        let attributes = Self::read_one(&client, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Reads a fresh lock token and deletes; retried once with a new token on a lock
    /// conflict. AWS refuses while the ACL is still associated (WAFAssociatedItemException):
    /// associations are deleted first by the plan's ordering.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let id = AclId::parse_or_invalid(req.id)?;
        for attempt in 0..2 {
            let Some((_, token)) = Self::get(&client, &id).await? else {
                return Ok(());
            };
            let r = client
                .delete_web_acl()
                .id(&id.id)
                .name(&id.name)
                .scope(id.scope.clone())
                .lock_token(token)
                .send()
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let e = AwsError::from_sdk(e);
                    if e.is(NOT_FOUND) {
                        return Ok(());
                    }
                    if attempt == 0 && e.is(LOCK_CONFLICT) {
                        continue;
                    }
                    return Err(e.into_provider("DeleteWebACL"));
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// Lists the web ACLs of scope REGIONAL (and CLOUDFRONT in us-east-1), reads the tags
    /// of each (ListTagsForResource, no batched form; concurrently), keeps those carrying
    /// the ownership tags and reads them in full.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let mut scopes = vec![Scope::Regional];
        if req.region == "us-east-1" {
            scopes.push(Scope::Cloudfront);
        }
        let mut listed = Vec::new();
        for scope in scopes {
            for (id, name, arn) in Self::list(&client, &scope).await? {
                listed.push((
                    AclId {
                        id,
                        name,
                        scope: scope.clone(),
                    },
                    arn,
                ));
            }
        }
        let client_ref = &client;
        let req_ref = &req;
        let owned: Vec<Option<AclId>> =
            futures::stream::iter(listed.into_iter().map(|(id, arn)| async move {
                let tags = Self::tags(client_ref, &arn).await?;
                let mut a = Attributes::new();
                if let Some(t) = tags {
                    a.insert("tags".into(), t);
                }
                Ok::<_, ProviderError>(is_owned(req_ref, &a).then_some(id))
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Self::read_many(&client, owned.into_iter().flatten().collect()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn a_rule_round_trips_through_wafv2_types() {
        let stack = map(&[
            ("name", Value::string("common rules")),
            ("priority", Value::int(2)),
            (
                "statement",
                map(&[(
                    "managed_rule_group",
                    map(&[("name", Value::string("AWSManagedRulesCommonRuleSet"))]),
                )]),
            ),
        ]);
        let aws = rule(&stack).unwrap();
        assert!(aws.override_action().unwrap().none().is_some());
        assert_eq!(
            aws.visibility_config().unwrap().metric_name(),
            "common-rules"
        );
        assert_eq!(rule_value(&stack), rule_value(&rule_from(&aws)));
    }

    #[test]
    fn an_action_on_a_managed_group_is_invalid() {
        let bad = map(&[
            ("name", Value::string("x")),
            ("priority", Value::int(1)),
            ("action", Value::string("block")),
            (
                "statement",
                map(&[("managed_rule_group", map(&[("name", Value::string("G"))]))]),
            ),
        ]);
        assert!(matches!(rule(&bad), Err(ProviderError::Invalid(_))));
    }

    #[test]
    fn ids_parse() {
        let id = AclId::parse("abc/name/REGIONAL").unwrap();
        assert_eq!((id.id.as_str(), id.name.as_str()), ("abc", "name"));
        assert!(AclId::parse("abc/name").is_none());
        assert!(AclId::parse("abc/name/GLOBAL").is_none());
    }
}
