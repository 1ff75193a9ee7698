//! AWS resource types, each one file behind [`terrane_provider::ResourceType`], talking to
//! AWS through the official aws-sdk-* crates. The only crate that depends on the SDK.
//!
//! Credentials, region and endpoint come from the standard AWS chain (`AWS_PROFILE`, SSO,
//! `AWS_ENDPOINT_URL`, ...); retries of throttling and transient errors are the SDK's own
//! adaptive retry mode.

pub mod clients;
pub mod ec2;
mod tags;

use std::sync::Arc;

pub use clients::AwsClients;
use terrane_provider::Registry;

/// Every AWS resource type terrane manages. Adding a type is one line here.
pub fn registry(clients: Arc<AwsClients>) -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(ec2::vpc::Vpc::new(clients.clone())));
    r.register(Arc::new(ec2::subnet::Subnet::new(clients.clone())));
    r.register(Arc::new(ec2::internet_gateway::InternetGateway::new(
        clients.clone(),
    )));
    r.register(Arc::new(ec2::security_group::SecurityGroup::new(
        clients.clone(),
    )));
    r
}

/// The schemas alone, for validation and docs without any AWS configuration.
pub fn offline_registry() -> Registry {
    registry(Arc::new(AwsClients::offline()))
}
