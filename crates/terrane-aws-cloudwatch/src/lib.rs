//! terrane's CloudWatch: log groups (CloudWatch Logs), metric alarms and dashboards.

pub mod dashboard;
pub mod log_group;
pub mod metric_alarm;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_core::Value;
use terrane_provider::{Attributes, Registry};

/// Per-resource reads (tags, dashboard bodies) in flight at once during an observe.
pub(crate) const CONCURRENCY: usize = 8;

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(log_group::LogGroup::new(clients.clone())));
    registry.register(Arc::new(metric_alarm::MetricAlarm::new(clients.clone())));
    registry.register(Arc::new(dashboard::Dashboard::new(clients.clone())));
}

/// The CloudWatch (metrics, alarms, dashboards) client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_cloudwatch::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// The CloudWatch Logs client for `region`, counting its calls.
pub(crate) fn logs_client(clients: &AwsClients, region: &str) -> aws_sdk_cloudwatchlogs::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// Tags keyed by name, from the `tags` input (or attribute), as sent to AWS (ownership tag
/// values encoded into the characters CloudWatch and CloudWatch Logs allow).
pub(crate) fn tag_map(attrs: &Attributes) -> BTreeMap<String, String> {
    terrane_aws_core::tags::aws_tags_from_inputs(attrs)
        .into_iter()
        .collect()
}

/// What brings the tags from `prior` to `inputs`: the tags to set (new or changed) and the
/// keys to remove.
pub(crate) fn tag_changes(
    inputs: &Attributes,
    prior: &Attributes,
) -> (BTreeMap<String, String>, Vec<String>) {
    let want = tag_map(inputs);
    let have = tag_map(prior);
    let removed = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    let set = want
        .into_iter()
        .filter(|(k, v)| have.get(k) != Some(v))
        .collect();
    (set, removed)
}

/// Tags read from AWS as an attribute value, without AWS's own `aws:` tags (ownership tag
/// values decoded).
pub(crate) fn tags_value<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    terrane_aws_core::tags::decoded_tags_value(pairs.filter(|(k, _)| !k.starts_with("aws:")))
}

/// A JSON document written as JSON text in the stack, parsed into data, so that it
/// compares equal to the same document written as a map or returned by AWS.
pub(crate) fn json_doc(value: &Value) -> Value {
    match value {
        Value::String(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(j) => Value::from_json(&j),
            Err(_) => value.clone(),
        },
        other => other.clone(),
    }
}
