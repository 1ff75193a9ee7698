//! DynamoDB: tables, with their indexes, streams, encryption, backups, TTL and
//! global-table replicas.

pub mod table;

use std::collections::BTreeMap;
use std::sync::Arc;
pub(crate) use terrane_aws_core::inputs::{
    input_bool, input_str, input_strings, is_owned as owned_by, require_str,
};

pub use terrane_aws_core::AwsClients;
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(table::Table::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_dynamodb::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
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

/// A builder's result, with a missing required field reported as invalid input.
pub(crate) fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, ProviderError> {
    r.map_err(|e| ProviderError::Invalid(e.to_string()))
}

/// Tags keyed by name, from the `tags` input, as sent to AWS (ownership tag values encoded
/// into the characters DynamoDB allows).
pub(crate) fn tag_map(inputs: &Attributes) -> BTreeMap<String, String> {
    terrane_aws_core::tags::aws_tags_from_inputs(inputs)
        .into_iter()
        .collect()
}
