//! terrane's Global Accelerator: accelerators, listeners and endpoint groups.
//!
//! Global Accelerator is a global service whose API is served from us-west-2 only: every
//! client of this crate is built for us-west-2, whatever region the stack gives.

pub mod accelerator;
pub mod endpoint_group;
pub mod listener;

use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_provider::Registry;

/// The one region Global Accelerator's API answers in.
pub const API_REGION: &str = "us-west-2";

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(accelerator::Accelerator::new(clients.clone())));
    registry.register(Arc::new(listener::Listener::new(clients.clone())));
    registry.register(Arc::new(endpoint_group::EndpointGroup::new(
        clients.clone(),
    )));
}

/// The client (always for [`API_REGION`]), counting its calls. The stack's region is
/// ignored on purpose: the API exists nowhere else.
pub(crate) fn client(clients: &AwsClients) -> aws_sdk_globalaccelerator::Client {
    clients.client(API_REGION, |config, region, calls| {
        aws_sdk_globalaccelerator::Client::from_conf(
            aws_sdk_globalaccelerator::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}
