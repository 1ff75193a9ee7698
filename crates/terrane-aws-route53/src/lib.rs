//! Route53: hosted zones, health checks and records. Route53 is a global service; the
//! client is built for the resource's region (us-east-1 is typical) and reaches the one
//! global endpoint.

pub mod health_check;
pub mod hosted_zone;
pub mod record;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
pub(crate) use terrane_aws_core::inputs::{input_bool, is_owned as owned_by, require_str};

use aws_sdk_route53::client::Waiters;
use aws_sdk_route53::types::{Tag, TagResourceType};
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::{api_error, waiter_error};
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(hosted_zone::HostedZone::new(clients.clone())));
    registry.register(Arc::new(health_check::HealthCheck::new(clients.clone())));
    registry.register(Arc::new(record::Record::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_route53::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_route53::Client::from_conf(
            aws_sdk_route53::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// How long a change may take to reach every Route53 name server (INSYNC).
pub(crate) const WAIT_FOR_SYNC: Duration = Duration::from_secs(10 * 60);

/// Resource ids per ListTagsForResources call (Route53's limit).
const TAG_BATCH: usize = 10;

/// Waits with the SDK's waiter until a change is INSYNC.
pub(crate) async fn wait_in_sync(
    client: &aws_sdk_route53::Client,
    change_id: &str,
) -> Result<(), ProviderError> {
    client
        .wait_until_resource_record_sets_changed()
        .id(change_id)
        .wait(WAIT_FOR_SYNC)
        .await
        .map_err(|e| {
            waiter_error(
                &format!("wait for Route53 change {change_id} to be INSYNC"),
                e,
            )
        })?;
    Ok(())
}

/// A Route53 id without its `/hostedzone/` (or `/change/`) prefix.
pub(crate) fn bare_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A DNS name in one canonical form: lower case, no final dot, `\052` written `*`.
pub fn dns_name(name: &str) -> String {
    name.trim_end_matches('.')
        .replace("\\052", "*")
        .to_lowercase()
}

/// The tags of these resources, by id: one ListTagsForResources per 10 ids.
pub(crate) async fn tags_of(
    client: &aws_sdk_route53::Client,
    kind: TagResourceType,
    ids: &[String],
) -> Result<BTreeMap<String, Value>, ProviderError> {
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(TAG_BATCH) {
        let sets = client
            .list_tags_for_resources()
            .resource_type(kind.clone())
            .set_resource_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api_error("ListTagsForResources"))?;
        for set in sets.resource_tag_sets() {
            let Some(id) = set.resource_id() else {
                continue;
            };
            let tags = set
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))))
                .filter(|(k, _)| !k.starts_with("aws:"))
                .map(|(k, v)| {
                    let v = terrane_aws_core::tags::decode_tag_value(k, v);
                    (k.to_string(), Value::string(v))
                })
                .collect();
            out.insert(id.to_string(), Value::Map(tags));
        }
    }
    Ok(out)
}

/// Brings the tags of a resource from `prior` to `inputs` in one ChangeTagsForResource.
pub(crate) async fn sync_tags(
    client: &aws_sdk_route53::Client,
    kind: TagResourceType,
    id: &str,
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
    if removed.is_empty() && changed.is_empty() {
        return Ok(());
    }
    client
        .change_tags_for_resource()
        .resource_type(kind)
        .resource_id(id)
        .set_add_tags((!changed.is_empty()).then_some(changed))
        .set_remove_tag_keys((!removed.is_empty()).then_some(removed))
        .send()
        .await
        .map_err(api_error("ChangeTagsForResource"))?;
    Ok(())
}

/// A string input (numbers and bools written as text); `None` when unset or null.
pub(crate) fn input_str(inputs: &Attributes, name: &str) -> Option<String> {
    value_str(inputs.get(name)?)
}

pub(crate) fn value_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A whole-number input; `None` when unset or null.
pub(crate) fn input_i64(inputs: &Attributes, name: &str) -> Result<Option<i64>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ProviderError::Invalid(format!("`{name}` must be a number, found {v}"))),
    }
}

/// A list input of strings (empty when unset).
pub(crate) fn input_strings(inputs: &Attributes, name: &str) -> Vec<String> {
    inputs
        .get(name)
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(value_str).collect())
        .unwrap_or_default()
}

/// A builder's result, with a missing required field reported as invalid input.
pub(crate) fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, ProviderError> {
    r.map_err(|e| ProviderError::Invalid(e.to_string()))
}

/// Tags keyed by name, from the `tags` input, as sent to AWS (ownership tag values encoded
/// into the characters Route 53 allows).
pub(crate) fn tag_map(inputs: &Attributes) -> BTreeMap<String, String> {
    terrane_aws_core::tags::aws_tags_from_inputs(inputs)
        .into_iter()
        .collect()
}
