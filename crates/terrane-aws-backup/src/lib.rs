//! terrane's AWS Backup: vaults, plans and selections. What the types share: Backup tags
//! (by ARN: ListTags, TagResource, UntagResource).

pub mod plan;
pub mod selection;
pub mod vault;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::tags::{aws_tags_from_inputs, decoded_tags_value};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(vault::Vault::new(clients.clone())));
    registry.register(Arc::new(plan::Plan::new(clients.clone())));
    registry.register(Arc::new(selection::Selection::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_backup::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_backup::Client::from_conf(
            aws_sdk_backup::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// Reads in flight at once where AWS Backup has no batched read (tags, plan documents).
pub(crate) const CONCURRENCY: usize = 8;

pub(crate) const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// The `tags` input as Backup takes them; `None` when empty.
pub(crate) fn sdk_tags(inputs: &Attributes) -> Option<HashMap<String, String>> {
    let tags: HashMap<String, String> = aws_tags_from_inputs(inputs).into_iter().collect();
    (!tags.is_empty()).then_some(tags)
}

/// The tags of one resource, by ARN; `None` when it vanished in between.
async fn list_tags(
    client: &aws_sdk_backup::Client,
    arn: &str,
) -> Result<Option<Value>, ProviderError> {
    let pages: Result<Vec<_>, _> = client
        .list_tags()
        .resource_arn(arn)
        .into_paginator()
        .send()
        .try_collect()
        .await;
    match pages {
        Ok(pages) => {
            let mut all: BTreeMap<String, String> = BTreeMap::new();
            for p in &pages {
                for (k, v) in p.tags().into_iter().flatten() {
                    all.insert(k.clone(), v.clone());
                }
            }
            Ok(Some(decoded_tags_value(
                all.iter()
                    .filter(|(k, _)| !k.starts_with("aws:"))
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )))
        }
        Err(e) => {
            let e = AwsError::from_sdk(e);
            if e.is(NOT_FOUND) {
                Ok(None)
            } else {
                Err(e.into_provider("ListTags"))
            }
        }
    }
}

/// Adds the `tags` of each described resource (by its `arn` attribute), a few ListTags
/// calls in flight at once (Backup has no batched tag read); resources that vanished in
/// between are dropped.
pub(crate) async fn add_tags(
    client: &aws_sdk_backup::Client,
    found: BTreeMap<String, Attributes>,
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    futures::stream::iter(found.into_iter().map(|(id, mut attrs)| {
        let client = client.clone();
        async move {
            let Some(arn) = attrs.get("arn").and_then(Value::as_str).map(str::to_string) else {
                return Ok(Some((id, attrs)));
            };
            Ok(list_tags(&client, &arn).await?.map(|tags| {
                attrs.insert("tags".into(), tags);
                (id, attrs)
            }))
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .try_filter_map(|x| async move { Ok(x) })
    .try_collect()
    .await
}

/// Brings the resource's tags from `prior` to the `tags` of `inputs`.
pub(crate) async fn sync_tags(
    client: &aws_sdk_backup::Client,
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
            .set_tag_key_list(Some(removed))
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
