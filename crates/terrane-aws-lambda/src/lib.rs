//! terrane's Lambda: functions and their permissions.

pub mod function;
pub mod permission;

use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_provider::Registry;

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(function::Function::new(clients.clone())));
    registry.register(Arc::new(permission::Permission::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_lambda::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}
