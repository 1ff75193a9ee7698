//! EKS: clusters, node groups, add-ons.

use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_provider::Registry;

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(_registry: &mut Registry, _clients: &Arc<AwsClients>) {}

/// The client for `region`, counting its calls.
#[allow(dead_code)]
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_eks::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_eks::Client::from_conf(
            aws_sdk_eks::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}
