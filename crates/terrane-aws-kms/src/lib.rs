//! terrane's KMS: keys and aliases.

pub mod alias;
pub mod key;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_kms::types::Tag;
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::api_error;
use terrane_aws_core::tags::{aws_tags_from_inputs, decoded_tags_value};
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(key::Key::new(clients.clone())));
    registry.register(Arc::new(alias::Alias::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_kms::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// The `tags` input as KMS tags.
pub(crate) fn sdk_tags(inputs: &Attributes) -> Result<Vec<Tag>, ProviderError> {
    aws_tags_from_inputs(inputs)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))
        })
        .collect()
}

/// KMS tags as terrane's `tags` value. Keys under `aws:` are AWS's own and not shown.
pub(crate) fn tags_to_value(tags: &[Tag]) -> Value {
    decoded_tags_value(
        tags.iter()
            .map(|t| (t.tag_key(), t.tag_value()))
            .filter(|(k, _)| !k.starts_with("aws:")),
    )
}

/// Tags keyed by name, from the `tags` input.
pub(crate) fn tag_map(inputs: &Attributes) -> BTreeMap<String, String> {
    aws_tags_from_inputs(inputs).into_iter().collect()
}

/// Brings a key's tags from `prior` to `inputs`: TagResource for new and changed keys,
/// UntagResource for removed ones.
pub(crate) async fn sync_tags(
    client: &aws_sdk_kms::Client,
    key_id: &str,
    inputs: &Attributes,
    prior: &Attributes,
) -> Result<(), ProviderError> {
    let want = tag_map(inputs);
    let have: BTreeMap<String, String> = prior
        .get("tags")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
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
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !removed.is_empty() {
        client
            .untag_resource()
            .key_id(key_id)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(api_error("UntagResource"))?;
    }
    if !changed.is_empty() {
        client
            .tag_resource()
            .key_id(key_id)
            .set_tags(Some(changed))
            .send()
            .await
            .map_err(api_error("TagResource"))?;
    }
    Ok(())
}
