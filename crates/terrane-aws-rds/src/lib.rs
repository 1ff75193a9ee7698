//! RDS: DB subnet groups, parameter groups, PostgreSQL instances and cross-region read
//! replicas. What the types share: reading inputs, RDS tags (by ARN) and ownership.

pub mod db_instance;
pub mod db_parameter_group;
pub mod db_subnet_group;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_rds::types::Tag;
use futures::{StreamExt, TryStreamExt};
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::api_error;
use terrane_aws_core::tags::{tags_from_inputs, tags_value};
use terrane_core::{OWNERSHIP_TAG_ADDRESS, OWNERSHIP_TAG_STACK, Value};
use terrane_provider::{Attributes, FindRequest, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(db_subnet_group::DbSubnetGroup::new(
        clients.clone(),
    )));
    registry.register(Arc::new(db_parameter_group::DbParameterGroup::new(
        clients.clone(),
    )));
    registry.register(Arc::new(db_instance::DbInstance::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_rds::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_rds::Client::from_conf(
            aws_sdk_rds::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// How long a create or modify waits for a DB instance to be available (a Multi-AZ
/// PostgreSQL instance commonly takes 10-20 minutes).
pub(crate) const WAIT_FOR_AVAILABLE: Duration = Duration::from_secs(60 * 60);

/// How long a delete waits for a DB instance to be gone.
pub(crate) const WAIT_FOR_DELETED: Duration = Duration::from_secs(60 * 60);

/// ListTagsForResource calls in flight at once, for the types whose describe call does not
/// return tags (subnet groups, parameter groups).
pub(crate) const TAG_CONCURRENCY: usize = 8;

/// A string input (numbers and bools written as text); `None` when unset or null.
pub(crate) fn input_str(inputs: &Attributes, name: &str) -> Option<String> {
    match inputs.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A required string input.
pub(crate) fn require_str(inputs: &Attributes, name: &str) -> Result<String, ProviderError> {
    input_str(inputs, name).ok_or_else(|| ProviderError::Invalid(format!("`{name}` is required")))
}

/// A sensitive input, exposed only to be handed to AWS.
pub(crate) fn input_secret(inputs: &Attributes, name: &str) -> Option<String> {
    match inputs.get(name)? {
        Value::Secret(s) => Some(s.expose().to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A bool input (`"true"`/`"false"` accepted); `None` when unset or null.
pub(crate) fn input_bool(inputs: &Attributes, name: &str) -> Result<Option<bool>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a bool, found a {}",
            other.type_name()
        ))),
    }
}

/// An integer input (numeric strings accepted); `None` when unset or null.
pub(crate) fn input_i32(inputs: &Attributes, name: &str) -> Result<Option<i32>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| ProviderError::Invalid(format!("`{name}` must be a whole number"))),
    }
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
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ProviderError::Invalid(format!("`{name}` must be a list of strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a list, found a {}",
            other.type_name()
        ))),
    }
}

/// A map-of-strings input (values written as text); `None` when unset or null.
pub(crate) fn input_string_map(
    inputs: &Attributes,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Map(m)) => Ok(Some(
            m.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect(),
        )),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a map, found a {}",
            other.type_name()
        ))),
    }
}

/// Inserts `value` under `name` when present.
pub(crate) fn put_str(attrs: &mut Attributes, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        attrs.insert(name.to_string(), Value::string(v));
    }
}

/// Inserts `value` under `name` when present.
pub(crate) fn put_int(attrs: &mut Attributes, name: &str, value: Option<i32>) {
    if let Some(v) = value {
        attrs.insert(name.to_string(), Value::int(v.into()));
    }
}

/// Inserts `value` under `name` when present.
pub(crate) fn put_bool(attrs: &mut Attributes, name: &str, value: Option<bool>) {
    if let Some(v) = value {
        attrs.insert(name.to_string(), Value::Bool(v));
    }
}

pub(crate) fn strings_value<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::List(items.into_iter().map(Value::string).collect())
}

/// The `tags` input as RDS tags, for the create call itself.
pub(crate) fn sdk_tags(inputs: &Attributes) -> Option<Vec<Tag>> {
    let tags: Vec<Tag> = tags_from_inputs(inputs)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    (!tags.is_empty()).then_some(tags)
}

/// RDS tags as terrane's `tags` value. Keys under `aws:` are AWS's own and not shown.
pub(crate) fn tags_to_value(tags: &[Tag]) -> Value {
    tags_value(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))))
            .filter(|(k, _)| !k.starts_with("aws:")),
    )
}

/// The tags of one resource, by ARN; `None` when it vanished in between.
pub(crate) async fn list_tags(
    client: &aws_sdk_rds::Client,
    arn: &str,
    not_found: &[&str],
) -> Result<Option<Value>, ProviderError> {
    match client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
    {
        Ok(out) => Ok(Some(tags_to_value(out.tag_list()))),
        Err(e) => {
            let e = terrane_aws_core::AwsError::from_sdk(e);
            if e.is(not_found) {
                Ok(None)
            } else {
                Err(e.into_provider("ListTagsForResource"))
            }
        }
    }
}

/// Adds the `tags` of each described resource (by its `arn` attribute), a few calls in
/// flight at once; resources that vanished in between are dropped.
pub(crate) async fn add_tags(
    client: &aws_sdk_rds::Client,
    found: BTreeMap<String, Attributes>,
    not_found: &'static [&'static str],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    futures::stream::iter(found.into_iter().map(|(id, mut attrs)| {
        let client = client.clone();
        async move {
            let Some(arn) = attrs.get("arn").and_then(Value::as_str).map(str::to_string) else {
                return Ok(Some((id, attrs)));
            };
            Ok(list_tags(&client, &arn, not_found).await?.map(|tags| {
                attrs.insert("tags".into(), tags);
                (id, attrs)
            }))
        }
    }))
    .buffer_unordered(TAG_CONCURRENCY)
    .try_filter_map(|x| async move { Ok(x) })
    .try_collect()
    .await
}

/// Brings the resource's tags from `prior` to the `tags` of `inputs`.
pub(crate) async fn sync_tags(
    client: &aws_sdk_rds::Client,
    arn: &str,
    inputs: &Attributes,
    prior: &Attributes,
) -> Result<(), ProviderError> {
    let want: BTreeMap<String, String> = tags_from_inputs(inputs).into_iter().collect();
    let have: BTreeMap<String, String> = tags_from_inputs(prior).into_iter().collect();
    let removed: BTreeSet<&String> = have.keys().filter(|k| !want.contains_key(*k)).collect();
    let changed: Vec<Tag> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    if !removed.is_empty() {
        client
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(removed.into_iter().cloned().collect()))
            .send()
            .await
            .map_err(api_error("RemoveTagsFromResource"))?;
    }
    if !changed.is_empty() {
        client
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(changed))
            .send()
            .await
            .map_err(api_error("AddTagsToResource"))?;
    }
    Ok(())
}

/// Keeps the described resources whose ownership tags are exactly the requested ones.
/// RDS refuses tag filters in its describe calls, so ownership is matched here.
pub(crate) fn retain_owned(
    req: &FindRequest<'_>,
    mut found: BTreeMap<String, Attributes>,
) -> BTreeMap<String, Attributes> {
    found.retain(|_, attrs| is_owned(req, attrs));
    found
}

pub(crate) fn is_owned(req: &FindRequest<'_>, attrs: &Attributes) -> bool {
    let tag = |key: &str| {
        attrs
            .get("tags")
            .and_then(Value::as_map)
            .and_then(|t| t.get(key))
            .and_then(Value::as_str)
    };
    tag(OWNERSHIP_TAG_STACK) == Some(req.stack)
        && req
            .address
            .is_none_or(|a| tag(OWNERSHIP_TAG_ADDRESS) == Some(a))
}

/// The requested ids, deduplicated.
pub(crate) fn wanted(ids: &[String]) -> BTreeSet<&str> {
    ids.iter().map(String::as_str).collect()
}
