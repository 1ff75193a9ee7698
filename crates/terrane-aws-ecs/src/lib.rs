//! terrane's ECS: clusters, task definitions and services.

pub mod cluster;
pub mod service;
pub mod task_definition;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_ecs::types::Tag;
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::api_error;
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(cluster::Cluster::new(clients.clone())));
    registry.register(Arc::new(task_definition::TaskDefinition::new(
        clients.clone(),
    )));
    registry.register(Arc::new(service::Service::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_ecs::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// A builder's result, with a missing required field reported as invalid input.
pub(crate) fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, ProviderError> {
    r.map_err(|e| ProviderError::Invalid(e.to_string()))
}

/// Tags keyed by name, from the `tags` input, as sent to AWS (ownership tag values encoded
/// into the characters ECS allows).
pub(crate) fn tag_map(inputs: &Attributes) -> BTreeMap<String, String> {
    terrane_aws_core::tags::aws_tags_from_inputs(inputs)
        .into_iter()
        .collect()
}

/// The `tags` input as ECS tags; `None` when there are none (ECS refuses an empty list
/// in some calls).
pub(crate) fn sdk_tags(inputs: &Attributes) -> Option<Vec<Tag>> {
    let tags: Vec<Tag> = tag_map(inputs)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    (!tags.is_empty()).then_some(tags)
}

/// ECS tags as terrane's `tags` map (AWS-reserved `aws:` keys left out, ownership tag
/// values decoded).
pub(crate) fn tags_value(tags: &[Tag]) -> Value {
    terrane_aws_core::tags::decoded_tags_value(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))))
            .filter(|(k, _)| !k.starts_with("aws:")),
    )
}

/// Brings the tags of the resource `arn` from `prior` to `inputs`: TagResource for new and
/// changed keys, UntagResource for removed ones.
pub(crate) async fn sync_tags(
    client: &aws_sdk_ecs::Client,
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

/// The list-of-maps input `name` (empty when unset).
pub(crate) fn input_maps<'a>(
    inputs: &'a Attributes,
    name: &str,
) -> Result<Vec<&'a BTreeMap<String, Value>>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(items)) => items
            .iter()
            .map(|v| {
                v.as_map().ok_or_else(|| {
                    ProviderError::Invalid(format!("`{name}` must be a list of maps"))
                })
            })
            .collect(),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a list of maps, found a {}",
            other.type_name()
        ))),
    }
}

/// The map input `name`; `None` when unset.
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

/// Reading the fields of a map input (a load balancer, a strategy item, a container).
pub(crate) trait Fields {
    fn str_of(&self, key: &str) -> Option<String>;
    fn i32_of(&self, key: &str) -> Result<Option<i32>, ProviderError>;
    fn bool_of(&self, key: &str) -> Result<Option<bool>, ProviderError>;
    fn strings_of(&self, key: &str) -> Option<Vec<String>>;
}

impl Fields for BTreeMap<String, Value> {
    fn str_of(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Secret(s) => Some(s.expose().to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn i32_of(&self, key: &str) -> Result<Option<i32>, ProviderError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .map(Some)
                .ok_or_else(|| ProviderError::Invalid(format!("`{key}` must be a whole number"))),
        }
    }

    fn bool_of(&self, key: &str) -> Result<Option<bool>, ProviderError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(ProviderError::Invalid(format!("`{key}` must be a bool"))),
        }
    }

    fn strings_of(&self, key: &str) -> Option<Vec<String>> {
        self.get(key).and_then(Value::as_list).map(|l| {
            l.iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
                .collect()
        })
    }
}

/// A map value from (key, value) pairs, leaving out absent values.
pub(crate) fn map_of(pairs: Vec<(&str, Option<Value>)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect(),
    )
}

/// A list of strings as a value.
pub(crate) fn strings_value<S: AsRef<str>>(items: &[S]) -> Value {
    Value::List(items.iter().map(|s| Value::string(s.as_ref())).collect())
}

/// The last `/`-separated part of a name or ARN (a cluster's name from its ARN).
pub(crate) fn last_part(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}
