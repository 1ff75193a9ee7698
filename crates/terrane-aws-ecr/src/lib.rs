//! terrane's ECR: repositories.

pub mod repository;

use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_provider::Registry;

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(repository::Repository::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_ecr::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_ecr::Client::from_conf(
            aws_sdk_ecr::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}
