//! RDS: DB subnet groups, parameter groups, PostgreSQL instances and cross-region read
//! replicas, and Aurora PostgreSQL clusters. What the types share: reading inputs, RDS tags (by ARN) and ownership.

pub mod db_cluster;
pub mod db_instance;
pub mod db_parameter_group;
pub mod db_subnet_group;
mod presign;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
pub(crate) use terrane_aws_core::inputs::{
    input_bool, input_i32, input_secret, input_str, input_string_map, put_bool, put_int, put_str,
    require_str, retain_owned, wanted,
};

use aws_sdk_rds::types::Tag;
use futures::{StreamExt, TryStreamExt};
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::api_error;
use terrane_aws_core::tags::{aws_tags_from_inputs, decoded_tags_value};
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(db_subnet_group::DbSubnetGroup::new(
        clients.clone(),
    )));
    registry.register(Arc::new(db_parameter_group::DbParameterGroup::new(
        clients.clone(),
    )));
    registry.register(Arc::new(db_instance::DbInstance::new(clients.clone())));
    registry.register(Arc::new(db_cluster::DbCluster::new(clients.clone())));
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

/// The name of the snapshot a delete takes of `id` when it does not skip it:
/// `<id>-final-<unix time>`, so that deleting the same identifier again never collides.
pub(crate) fn final_snapshot_name(id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("{id}-final-{now}")
}

/// How long a delete waits for a DB instance to be gone.
pub(crate) const WAIT_FOR_DELETED: Duration = Duration::from_secs(60 * 60);

/// ListTagsForResource calls in flight at once, for the types whose describe call does not
/// return tags (subnet groups, parameter groups).
pub(crate) const TAG_CONCURRENCY: usize = 8;

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

pub(crate) fn strings_value<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::List(items.into_iter().map(Value::string).collect())
}

/// The `tags` input as RDS tags, for the create call itself.
pub(crate) fn sdk_tags(inputs: &Attributes) -> Option<Vec<Tag>> {
    let tags: Vec<Tag> = aws_tags_from_inputs(inputs)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    (!tags.is_empty()).then_some(tags)
}

/// RDS tags as terrane's `tags` value. Keys under `aws:` are AWS's own and not shown.
pub(crate) fn tags_to_value(tags: &[Tag]) -> Value {
    decoded_tags_value(
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
    let want: BTreeMap<String, String> = aws_tags_from_inputs(inputs).into_iter().collect();
    let have: BTreeMap<String, String> = aws_tags_from_inputs(prior).into_iter().collect();
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
