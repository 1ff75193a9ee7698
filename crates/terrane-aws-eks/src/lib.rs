//! EKS: clusters, node groups, add-ons, and what they share: reading inputs, tags by ARN,
//! the list-then-describe reads EKS imposes, and waiting for updates.
//!
//! EKS has no batched describe: `DescribeCluster`, `DescribeNodegroup` and `DescribeAddon`
//! answer for one resource each. A read therefore lists what exists (one paginated call
//! per region, or per cluster) and then describes only the requested ids that exist,
//! [`DESCRIBE_CONCURRENCY`] at a time. Discovery by ownership tags has to describe
//! everything listed, since no EKS list call filters by tag.

pub mod addon;
pub mod cluster;
pub mod node_group;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
pub(crate) use terrane_aws_core::inputs::{
    input_bool, input_str, is_owned as owned, put_str, require_str,
};

use aws_sdk_eks::types::{Update, UpdateStatus};
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use futures::{StreamExt, TryStreamExt};
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::tags::{aws_tags_from_inputs, decoded_tags_value};
pub(crate) use terrane_aws_core::{AwsError, api_error, waiter_error};
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(cluster::Cluster::new(clients.clone())));
    registry.register(Arc::new(node_group::NodeGroup::new(clients.clone())));
    registry.register(Arc::new(addon::Addon::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_eks::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_eks::Client::from_conf(
            aws_sdk_eks::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// EKS's error code for a cluster, node group, add-on or update that does not exist.
pub(crate) const NOT_FOUND: &str = "ResourceNotFoundException";

/// Describe calls in flight at once during a read (EKS describes one resource per call).
pub(crate) const DESCRIBE_CONCURRENCY: usize = 8;

// ---------------------------------------------------------------------------------------
// Reads

/// Every cluster name of the region: one paginated ListClusters.
pub(crate) async fn list_clusters(
    client: &aws_sdk_eks::Client,
) -> Result<Vec<String>, ProviderError> {
    client
        .list_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(api_error("ListClusters"))
}

/// Runs `describe` for each id, [`DESCRIBE_CONCURRENCY`] at once. An id whose describe
/// answers `None` (gone in between) is left out.
pub(crate) async fn describe_each<F, Fut>(
    ids: impl IntoIterator<Item = String>,
    describe: F,
) -> Result<BTreeMap<String, Attributes>, ProviderError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Attributes>, ProviderError>>,
{
    futures::stream::iter(ids.into_iter().map(|id| {
        let described = describe(id.clone());
        async move { Ok::<_, ProviderError>((id, described.await?)) }
    }))
    .buffer_unordered(DESCRIBE_CONCURRENCY)
    .try_filter_map(|(id, attrs)| async move { Ok(attrs.map(|a| (id, a))) })
    .try_collect()
    .await
}

/// The value of a describe call, `None` when EKS answers that it does not exist.
pub(crate) fn found_or_none<T, E, R>(
    operation: &'static str,
    result: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
) -> Result<Option<T>, ProviderError>
where
    E: aws_sdk_eks::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            let e = AwsError::from_sdk(e);
            if e.is(&[NOT_FOUND]) {
                Ok(None)
            } else {
                Err(e.into_provider(operation))
            }
        }
    }
}

/// Ids of node groups and add-ons: `cluster/name`.
pub(crate) fn composite_id(cluster: &str, name: &str) -> String {
    format!("{cluster}/{name}")
}

/// The cluster and name of a `cluster/name` id; `None` for anything else.
pub(crate) fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
        .filter(|(c, n)| !c.is_empty() && !n.is_empty() && !n.contains('/'))
}

/// The cluster and name of a `cluster/name` id, or an error naming what was expected.
pub(crate) fn require_split_id<'a>(
    id: &'a str,
    what: &str,
) -> Result<(&'a str, &'a str), ProviderError> {
    split_id(id).ok_or_else(|| {
        ProviderError::Invalid(format!(
            "`{id}` is not a {what} id (expected `cluster/{what}`)"
        ))
    })
}

/// Requested `cluster/name` ids grouped by cluster; malformed ids (which cannot exist)
/// are dropped.
pub(crate) fn ids_by_cluster(ids: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_cluster: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for id in ids {
        if let Some((cluster, name)) = split_id(id) {
            by_cluster
                .entry(cluster.to_string())
                .or_default()
                .insert(name.to_string());
        }
    }
    by_cluster
}

// ---------------------------------------------------------------------------------------
// Tags

/// The `tags` input as EKS takes it; `None` when there are none.
pub(crate) fn tags_map(inputs: &Attributes) -> Option<HashMap<String, String>> {
    let tags: HashMap<String, String> = aws_tags_from_inputs(inputs).into_iter().collect();
    (!tags.is_empty()).then_some(tags)
}

/// EKS tags as terrane's `tags` value. Keys under `aws:` are AWS's own: no stack can set
/// or remove them, so they are not shown as the resource's tags.
pub(crate) fn tags_to_value(tags: Option<&HashMap<String, String>>) -> Value {
    decoded_tags_value(
        tags.into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| !k.starts_with("aws:")),
    )
}

/// Brings the tags of the resource `arn` from `prior` to the `tags` of `inputs`.
pub(crate) async fn sync_tags(
    client: &aws_sdk_eks::Client,
    arn: &str,
    inputs: &Attributes,
    prior: &Attributes,
) -> Result<(), ProviderError> {
    let want: BTreeMap<String, String> = aws_tags_from_inputs(inputs).into_iter().collect();
    let have: BTreeMap<String, String> = aws_tags_from_inputs(prior).into_iter().collect();
    let removed: Vec<String> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    let changed: HashMap<String, String> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !removed.is_empty() {
        client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(api_error("UntagResource"))?;
    }
    if !changed.is_empty() {
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(changed))
            .send()
            .await
            .map_err(api_error("TagResource"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Updates and waiting

/// A failed or cancelled update, as an error naming the operation and AWS's reasons.
pub(crate) fn check_update(operation: &str, update: Option<&Update>) -> Result<(), ProviderError> {
    let Some(update) = update else { return Ok(()) };
    match update.status() {
        Some(UpdateStatus::Failed | UpdateStatus::Cancelled) => {
            let reasons: Vec<String> = update
                .errors()
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.error_code().map(|c| c.as_str()).unwrap_or("error"),
                        e.error_message().unwrap_or("")
                    )
                })
                .collect();
            Err(ProviderError::api(
                operation,
                format!(
                    "update {} ended {}: {}",
                    update.id().unwrap_or("?"),
                    update.status().map(|s| s.as_str()).unwrap_or("?"),
                    if reasons.is_empty() {
                        "no reason given".to_string()
                    } else {
                        reasons.join("; ")
                    }
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The id of an update still in progress (to read its outcome once the resource is
/// active again); `None` when there is no update object or it is already final.
pub(crate) fn pending_update(update: Option<&Update>) -> Option<String> {
    let update = update?;
    match update.status() {
        Some(UpdateStatus::Successful | UpdateStatus::Failed | UpdateStatus::Cancelled) => None,
        _ => update.id().map(str::to_string),
    }
}

/// A waiter that did not succeed: a timeout names what was awaited and for how long.
pub(crate) fn wait_error<O, E>(what: &str, max: Duration, err: WaiterError<O, E>) -> ProviderError
where
    O: Debug,
    E: std::error::Error + Debug + 'static,
{
    match err {
        WaiterError::ExceededMaxWait(_) => ProviderError::Timeout(format!(
            "{what}: not reached within {} minutes",
            max.as_secs() / 60
        )),
        WaiterError::FailureState(_) => ProviderError::api(
            format!("wait for {what}"),
            "AWS reports a state from which it cannot be reached (see the resource's status and health)",
        ),
        other => waiter_error(&format!("wait for {what}"), other),
    }
}

// ---------------------------------------------------------------------------------------
// Inputs

/// A whole-number input (`"20"` accepted); `None` when unset or null.
pub(crate) fn input_i32(inputs: &Attributes, name: &str) -> Result<Option<i32>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int_value(v)
            .map(Some)
            .ok_or_else(|| ProviderError::Invalid(format!("`{name}` must be a whole number"))),
    }
}

/// A whole number that fits an `i32`, from a number or its text.
pub(crate) fn int_value(v: &Value) -> Option<i32> {
    let n = match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    i32::try_from(n).ok()
}

/// A list-of-strings input; `None` when unset or null.
pub(crate) fn input_strings(
    inputs: &Attributes,
    name: &str,
) -> Result<Option<Vec<String>>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::List(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(ProviderError::Invalid(format!(
                    "`{name}` must be a list of strings, found a {} in it",
                    other.type_name()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a list, found a {}",
            other.type_name()
        ))),
    }
}

/// A map-of-strings input (labels); `None` when unset or null.
pub(crate) fn input_string_map(
    inputs: &Attributes,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Map(m)) => Ok(Some(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect(),
        )),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a map, found a {}",
            other.type_name()
        ))),
    }
}

/// A list of strings as a value.
pub(crate) fn strings_value<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
    Value::List(
        items
            .into_iter()
            .map(|s| Value::string(s.as_ref()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_ids_split_in_two_non_empty_parts() {
        assert_eq!(split_id("main/workers"), Some(("main", "workers")));
        assert_eq!(split_id("main"), None);
        assert_eq!(split_id("/workers"), None);
        assert_eq!(split_id("main/"), None);
        assert_eq!(split_id("a/b/c"), None);
        let by = ids_by_cluster(&["a/x".into(), "a/y".into(), "b/z".into(), "bad".into()]);
        assert_eq!(by.len(), 2);
        assert_eq!(by["a"].len(), 2);
    }

    #[test]
    fn whole_numbers_are_read_from_numbers_and_text() {
        assert_eq!(int_value(&Value::int(20)), Some(20));
        assert_eq!(int_value(&Value::string("20")), Some(20));
        assert_eq!(int_value(&Value::string("x")), None);
        assert_eq!(int_value(&Value::Bool(true)), None);
    }
}
