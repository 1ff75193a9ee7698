//! terrane's Cloud Map: namespaces and services.

pub mod private_dns_namespace;
pub mod service;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_servicediscovery::types::{Operation, OperationStatus, Tag};
use futures::{StreamExt, TryStreamExt};
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::api_error;
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(private_dns_namespace::PrivateDnsNamespace::new(
        clients.clone(),
    )));
    registry.register(Arc::new(service::Service::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_servicediscovery::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_servicediscovery::Client::from_conf(
            aws_sdk_servicediscovery::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// How long a Cloud Map operation (a namespace's creation makes a Route53 zone) may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const OPERATION_POLL: Duration = Duration::from_secs(3);

/// ListTagsForResource calls in flight at once (tags have no batched read).
const CONCURRENCY: usize = 8;

/// Polls GetOperation until the operation succeeds (Cloud Map has no SDK waiter), up to
/// ten minutes; a failed operation is an error with AWS's code and message.
pub(crate) async fn wait_operation(
    client: &aws_sdk_servicediscovery::Client,
    operation_id: &str,
) -> Result<Operation, ProviderError> {
    let start = Instant::now();
    loop {
        let out = client
            .get_operation()
            .operation_id(operation_id)
            .send()
            .await
            .map_err(api_error("GetOperation"))?;
        if let Some(op) = out.operation() {
            match op.status() {
                Some(OperationStatus::Success) => return Ok(op.clone()),
                Some(OperationStatus::Fail) => {
                    return Err(ProviderError::api(
                        "Cloud Map operation",
                        format!(
                            "{operation_id} failed: {}: {}",
                            op.error_code().unwrap_or_default(),
                            op.error_message().unwrap_or_default()
                        ),
                    ));
                }
                _ => {}
            }
        }
        if start.elapsed() > OPERATION_TIMEOUT {
            return Err(ProviderError::Timeout(format!(
                "Cloud Map operation {operation_id} did not succeed within {} s",
                OPERATION_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(OPERATION_POLL).await;
    }
}

/// Tags keyed by name, from the `tags` input, as sent to AWS (ownership tag values encoded
/// into the characters Cloud Map allows).
pub(crate) fn tag_map(inputs: &Attributes) -> BTreeMap<String, String> {
    terrane_aws_core::tags::aws_tags_from_inputs(inputs)
        .into_iter()
        .collect()
}

/// The `tags` input as Cloud Map tags; `None` when there are none.
pub(crate) fn sdk_tags(inputs: &Attributes) -> Result<Option<Vec<Tag>>, ProviderError> {
    let tags = tag_map(inputs)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!tags.is_empty()).then_some(tags))
}

/// Adds `tags` to each resource (by its `arn` attribute): ListTagsForResource per
/// resource, concurrently, since Cloud Map has no batched tag read.
pub(crate) async fn with_tags(
    client: &aws_sdk_servicediscovery::Client,
    found: BTreeMap<String, Attributes>,
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    futures::stream::iter(found)
        .map(|(id, mut a)| {
            let client = client.clone();
            async move {
                let mut tags = BTreeMap::new();
                if let Some(arn) = a.get("arn").and_then(Value::as_str) {
                    let out = client
                        .list_tags_for_resource()
                        .resource_arn(arn)
                        .send()
                        .await
                        .map_err(api_error("ListTagsForResource"))?;
                    tags = out
                        .tags()
                        .iter()
                        .filter(|t| !t.key().starts_with("aws:"))
                        .map(|t| {
                            let v = terrane_aws_core::tags::decode_tag_value(t.key(), t.value());
                            (t.key().to_string(), Value::string(v))
                        })
                        .collect();
                }
                a.insert("tags".into(), Value::Map(tags));
                Ok::<_, ProviderError>((id, a))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await
}

/// Brings the tags of `arn` from `prior` to `inputs`.
pub(crate) async fn sync_tags(
    client: &aws_sdk_servicediscovery::Client,
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
    let changed = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
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

/// The resource's ARN from `prior`, or `None`.
pub(crate) fn prior_arn(prior: &Attributes) -> Option<String> {
    prior.get("arn").and_then(Value::as_str).map(str::to_string)
}
