//! CloudFront: distributions. CloudFront is a global service; its client is built for
//! the resource's region (us-east-1 is typical) and reaches the one global endpoint.

pub mod distribution;

use std::collections::BTreeMap;
use std::sync::Arc;
pub(crate) use terrane_aws_core::inputs::{input_bool, is_owned as owned_by};

pub use terrane_aws_core::AwsClients;
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(distribution::Distribution::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_cloudfront::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_cloudfront::Client::from_conf(
            aws_sdk_cloudfront::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
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
/// into the characters CloudFront allows).
pub(crate) fn tag_map(inputs: &Attributes) -> BTreeMap<String, String> {
    terrane_aws_core::tags::aws_tags_from_inputs(inputs)
        .into_iter()
        .collect()
}
