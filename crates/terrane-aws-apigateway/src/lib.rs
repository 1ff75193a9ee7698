//! terrane's API Gateway: REST APIs, and their stages (each with its deployment).

pub mod rest_api;
pub mod stage;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_apigateway::types::{Op, PatchOperation};
pub use terrane_aws_core::AwsClients;
use terrane_aws_core::api_error;
use terrane_core::Value;
use terrane_provider::{Attributes, ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(rest_api::RestApi::new(clients.clone())));
    registry.register(Arc::new(stage::Stage::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_apigateway::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_apigateway::Client::from_conf(
            aws_sdk_apigateway::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// The not-found error code of API Gateway.
pub(crate) const NOT_FOUND: &str = "NotFoundException";

/// One patch operation (API Gateway's update calls take lists of them).
pub(crate) fn patch(op: Op, path: &str, value: Option<String>) -> PatchOperation {
    PatchOperation::builder()
        .op(op)
        .path(path)
        .set_value(value)
        .build()
}

/// A map key as a patch path segment (`~` and `/` escaped as JSON Pointer does).
pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Tags read from AWS as an attribute value, without AWS's own `aws:` tags (ownership tag
/// values decoded; they are sent encoded, see `aws_tags_from_inputs`).
pub(crate) fn tags_value(tags: Option<&HashMap<String, String>>) -> Value {
    terrane_aws_core::tags::decoded_tags_value(
        tags.into_iter()
            .flatten()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// Brings the tags of the resource `arn` from `prior` to `inputs` (TagResource and
/// UntagResource).
pub(crate) async fn sync_tags(
    client: &aws_sdk_apigateway::Client,
    arn: &str,
    inputs: &Attributes,
    prior: &Attributes,
) -> Result<(), ProviderError> {
    let want: BTreeMap<String, String> = terrane_aws_core::tags::aws_tags_from_inputs(inputs)
        .into_iter()
        .collect();
    let have: BTreeMap<String, String> = terrane_aws_core::tags::aws_tags_from_inputs(prior)
        .into_iter()
        .collect();
    let removed: Vec<String> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    let set: HashMap<String, String> = want
        .into_iter()
        .filter(|(k, v)| have.get(k) != Some(v))
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
    if !set.is_empty() {
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(api_error("TagResource"))?;
    }
    Ok(())
}
