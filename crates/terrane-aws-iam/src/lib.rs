//! terrane's IAM: roles, customer managed policies, instance profiles and OIDC providers.
//!
//! IAM is a global service: the client is built for whatever region the request carries
//! and reaches the one global endpoint. IAM's list calls return a subset of each
//! resource's attributes (ListRoles has no tags or permissions boundary, ListPolicies no
//! description or document), and IAM has no batched read of tags, attached or inline
//! policies: a read therefore lists what exists (one paginated call for the account) and
//! then reads the requested ones, [`READ_CONCURRENCY`] at a time. (GetAccountAuthorizationDetails
//! would answer for every role of the account in one paginated call, but it reads the whole
//! account, every policy document included, however few roles are wanted, and needs a
//! permission deployers seldom have.)

pub mod instance_profile;
pub mod oidc_provider;
pub mod policy;
pub mod role;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_iam::types::Tag;
use futures::{StreamExt, TryStreamExt};
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::tags::tags_from_inputs;
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(role::Role::new(clients.clone())));
    registry.register(Arc::new(policy::Policy::new(clients.clone())));
    registry.register(Arc::new(instance_profile::InstanceProfile::new(
        clients.clone(),
    )));
    registry.register(Arc::new(oidc_provider::OidcProvider::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_iam::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// IAM's error code for anything that does not exist.
pub(crate) const NOT_FOUND: &str = "NoSuchEntity";

/// Per-resource reads in flight at once (IAM throttles bursts; it has no batched read).
pub(crate) const READ_CONCURRENCY: usize = 8;

/// How long a resource just created may take to become readable (IAM is eventually
/// consistent), and how often to look.
const CONSISTENCY_WAIT: Duration = Duration::from_secs(30);
const CONSISTENCY_POLL: Duration = Duration::from_secs(1);

/// Runs `read` for each id, [`READ_CONCURRENCY`] at once. An id whose read answers `None`
/// (gone in between) is left out.
pub(crate) async fn read_each<F, Fut>(
    ids: impl IntoIterator<Item = String>,
    read: F,
) -> Result<BTreeMap<String, Attributes>, ProviderError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Attributes>, ProviderError>>,
{
    futures::stream::iter(ids.into_iter().map(|id| {
        let read = read(id.clone());
        async move { Ok::<_, ProviderError>((id, read.await?)) }
    }))
    .buffer_unordered(READ_CONCURRENCY)
    .try_filter_map(|(id, attrs)| async move { Ok(attrs.map(|a| (id, a))) })
    .try_collect()
    .await
}

/// The attributes of a resource just created or changed: `read` until it answers (IAM is
/// eventually consistent), bounded by [`CONSISTENCY_WAIT`].
pub(crate) async fn read_after_write<F, Fut>(
    what: &str,
    read: F,
) -> Result<Attributes, ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<Attributes>, ProviderError>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(a) = read().await? {
            return Ok(a);
        }
        if start.elapsed() >= CONSISTENCY_WAIT {
            return Err(ProviderError::Timeout(format!(
                "{what} was not readable {}s after it was written",
                CONSISTENCY_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(CONSISTENCY_POLL).await;
    }
}

pub use terrane_aws_core::tags::{decode_tag_value, encode_tag_value};

/// The `tags` input as IAM tags.
pub(crate) fn tags_of(inputs: &Attributes) -> Result<Vec<Tag>, ProviderError> {
    tags_from_inputs(inputs)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .value(encode_tag_value(&k, &v))
                .key(k)
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))
        })
        .collect()
}

/// `Some(tags)` unless there are none (IAM refuses an empty tag list in places).
pub(crate) fn some_tags(inputs: &Attributes) -> Result<Option<Vec<Tag>>, ProviderError> {
    let tags = tags_of(inputs)?;
    Ok((!tags.is_empty()).then_some(tags))
}

/// IAM tags as terrane's `tags` value, without AWS's own (`aws:`) tags.
pub(crate) fn tags_value(tags: &[Tag]) -> Value {
    Value::Map(
        tags.iter()
            .filter(|t| !t.key().starts_with("aws:"))
            .map(|t| {
                let value = decode_tag_value(t.key(), t.value());
                (t.key().to_string(), Value::string(value))
            })
            .collect(),
    )
}

/// What brings tags from `prior` to `inputs`: tags to set (new or changed) and keys to remove.
pub(crate) fn tag_changes(
    inputs: &Attributes,
    prior: &Attributes,
) -> Result<(Vec<Tag>, Vec<String>), ProviderError> {
    let want: BTreeMap<String, String> = tags_from_inputs(inputs).into_iter().collect();
    let have: BTreeMap<String, String> = tags_from_inputs(prior).into_iter().collect();
    let removed = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    let set = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(encode_tag_value(k, v))
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok((set, removed))
}

/// The strings of a list attribute, as a set.
pub(crate) fn string_set(attrs: &Attributes, name: &str) -> BTreeSet<String> {
    terrane_aws_core::inputs::input_strings(attrs, name)
        .into_iter()
        .collect()
}

/// A JSON document as terrane compares it: text in the stack is parsed, so that a policy
/// written as YAML and one written as JSON text compare as the same data.
pub(crate) fn document_value(v: &Value) -> Value {
    match v {
        Value::String(s) => terrane_aws_core::inputs::json_value(s),
        other => other.clone(),
    }
}

/// The value of a read, `None` when IAM answers that the entity does not exist.
pub(crate) fn found_or_none<T, E, R>(
    operation: &'static str,
    result: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
) -> Result<Option<T>, ProviderError>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    terrane_aws_core::unless_gone(operation, result, &[NOT_FOUND])
}

/// A map of JSON documents (inline policies by name) as the compact JSON text AWS takes.
pub(crate) fn documents(
    attrs: &Attributes,
    name: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    match attrs.get(name) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Map(m)) => m
            .iter()
            .map(|(k, v)| {
                let one: Attributes = [(k.clone(), v.clone())].into_iter().collect();
                let text = terrane_aws_core::inputs::input_json(&one, k)?
                    .ok_or_else(|| ProviderError::Invalid(format!("`{name}.{k}` is empty")))?;
                Ok((k.clone(), text))
            })
            .collect(),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a map of name to policy document, found a {}",
            other.type_name()
        ))),
    }
}
