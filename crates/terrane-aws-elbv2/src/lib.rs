//! terrane's Elastic Load Balancing v2: load balancers, target groups, listeners and
//! listener rules.
//!
//! Every ELBv2 resource is identified by its ARN. Tags of any ELBv2 resource are read with
//! DescribeTags, twenty ARNs a call, and changed with AddTags/RemoveTags.

pub mod action;
pub mod listener;
pub mod listener_rule;
pub mod load_balancer;
pub mod target_group;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_elasticloadbalancingv2::types::Tag;
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::tags::decode_tag_value;
use terrane_aws_core::{AwsError, api_error};
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(load_balancer::LoadBalancer::new(clients.clone())));
    registry.register(Arc::new(target_group::TargetGroup::new(clients.clone())));
    registry.register(Arc::new(listener::Listener::new(clients.clone())));
    registry.register(Arc::new(listener_rule::ListenerRule::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_elasticloadbalancingv2::Client::from_conf(
            aws_sdk_elasticloadbalancingv2::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// ARNs per DescribeTags / DescribeLoadBalancers call (ELBv2's limit).
pub(crate) const BATCH: usize = 20;

/// Every "does not exist" error code of ELBv2.
pub(crate) const NOT_FOUND: &[&str] = &[
    "LoadBalancerNotFound",
    "TargetGroupNotFound",
    "ListenerNotFound",
    "RuleNotFound",
];

/// The tags of these ELBv2 resources (of any kind), by ARN: one DescribeTags per twenty
/// ARNs. A batch naming a resource deleted meanwhile fails as a whole in AWS; that batch is
/// then read one ARN at a time, and the vanished ones are left out.
pub(crate) async fn tags_of(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arns: &[String],
) -> Result<BTreeMap<String, Value>, ProviderError> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(BATCH) {
        match describe_tags(client, chunk).await {
            Ok(tags) => out.extend(tags),
            Err(e) if e.is(NOT_FOUND) => {
                let each = futures::future::join_all(
                    chunk
                        .iter()
                        .map(|arn| describe_tags(client, std::slice::from_ref(arn))),
                )
                .await;
                for r in each {
                    match r {
                        Ok(tags) => out.extend(tags),
                        Err(e) if e.is(NOT_FOUND) => {}
                        Err(e) => return Err(e.into_provider("DescribeTags")),
                    }
                }
            }
            Err(e) => return Err(e.into_provider("DescribeTags")),
        }
    }
    Ok(out)
}

async fn describe_tags(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arns: &[String],
) -> Result<BTreeMap<String, Value>, AwsError> {
    let out = client
        .describe_tags()
        .set_resource_arns(Some(arns.to_vec()))
        .send()
        .await
        .map_err(AwsError::from_sdk)?;
    Ok(out
        .tag_descriptions()
        .iter()
        .filter_map(|d| {
            let arn = d.resource_arn()?;
            let tags = d
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))))
                .filter(|(k, _)| !k.starts_with("aws:"))
                .map(|(k, v)| (k.to_string(), Value::string(decode_tag_value(k, v))))
                .collect();
            Some((arn.to_string(), Value::Map(tags)))
        })
        .collect())
}

/// Puts each resource's tags (an empty map when it has none) into its attributes.
pub(crate) fn attach_tags(
    found: &mut BTreeMap<String, Attributes>,
    mut tags: BTreeMap<String, Value>,
) {
    for (arn, a) in found.iter_mut() {
        a.insert(
            "tags".into(),
            tags.remove(arn).unwrap_or(Value::Map(BTreeMap::new())),
        );
    }
}

/// Reads the tags of `found` (batched) and puts them into its attributes.
pub(crate) async fn with_tags(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    mut found: BTreeMap<String, Attributes>,
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let arns: Vec<String> = found.keys().cloned().collect();
    let tags = tags_of(client, &arns).await?;
    attach_tags(&mut found, tags);
    Ok(found)
}

/// The `tags` input as ELBv2 tags, for a create call; `None` when there are none.
pub(crate) fn create_tags(inputs: &Attributes) -> Option<Vec<Tag>> {
    let tags: Vec<Tag> = tag_map(inputs)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    (!tags.is_empty()).then_some(tags)
}

/// Tags keyed by name, from the `tags` input, as sent to AWS (ownership tag values encoded
/// into the characters ELBv2 allows).
pub(crate) fn tag_map(inputs: &Attributes) -> BTreeMap<String, String> {
    terrane_aws_core::tags::aws_tags_from_inputs(inputs)
        .into_iter()
        .collect()
}

/// Brings the tags of a resource from `prior` to `inputs`: AddTags for new and changed
/// keys, RemoveTags for keys no longer wanted.
pub(crate) async fn sync_tags(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
    inputs: &Attributes,
    prior: &Attributes,
) -> Result<(), ProviderError> {
    let want = tag_map(inputs);
    let have = tag_map(prior);
    let removed: Vec<String> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    let changed: Vec<Tag> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    if !changed.is_empty() {
        client
            .add_tags()
            .resource_arns(arn)
            .set_tags(Some(changed))
            .send()
            .await
            .map_err(api_error("AddTags"))?;
    }
    if !removed.is_empty() {
        client
            .remove_tags()
            .resource_arns(arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(api_error("RemoveTags"))?;
    }
    Ok(())
}

/// The requested ARNs, deduplicated, as owned strings.
pub(crate) fn wanted_arns(ids: &[String]) -> Vec<String> {
    ids.iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Whether the changed inputs include any of `names`.
pub(crate) fn any_changed(changed: &[String], names: &[&str]) -> bool {
    changed.iter().any(|c| names.contains(&c.as_str()))
}

// ---------------------------------------------------------------------------------------
// Reading nested map values (health checks, actions, conditions).

/// A string entry of a map value (numbers and bools written as text).
pub(crate) fn m_str(m: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A whole-number entry of a map value (numeric strings accepted).
pub(crate) fn m_i32(
    m: &BTreeMap<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<i32>, ProviderError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| {
                ProviderError::Invalid(format!("`{what}.{key}` must be a whole number"))
            }),
    }
}

/// A bool entry of a map value (`"true"`/`"false"` accepted).
pub(crate) fn m_bool(
    m: &BTreeMap<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<bool>, ProviderError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_bool(v)
            .map(Some)
            .ok_or_else(|| ProviderError::Invalid(format!("`{what}.{key}` must be a bool"))),
    }
}

pub(crate) fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// A list-of-strings entry of a map value (a single string counts as a list of one).
pub(crate) fn m_strings(m: &BTreeMap<String, Value>, key: &str) -> Vec<String> {
    match m.get(key) {
        Some(Value::List(l)) => l
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A map input; `None` when unset or null.
pub(crate) fn input_map<'a>(
    inputs: &'a Attributes,
    name: &str,
) -> Result<Option<&'a BTreeMap<String, Value>>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Map(m)) => Ok(Some(m)),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a map, found a {}",
            other.type_name()
        ))),
    }
}

/// A string list value, sorted.
pub(crate) fn sorted_strings<S: AsRef<str>>(items: &[S]) -> Value {
    let mut v: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    v.sort_unstable();
    Value::List(v.into_iter().map(Value::string).collect())
}
