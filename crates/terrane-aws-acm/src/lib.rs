//! terrane's ACM: certificates, and the wait for their issuance. ACM is regional: a certificate for CloudFront lives in
//! us-east-1, one for a load balancer in the balancer's region.

pub mod certificate;
pub mod certificate_validation;

use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_provider::Registry;

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(certificate::Certificate::new(clients.clone())));
    registry.register(Arc::new(
        certificate_validation::CertificateValidation::new(clients.clone()),
    ));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_acm::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_acm::Client::from_conf(
            aws_sdk_acm::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

pub use terrane_aws_core::tags::{decode_tag_value, encode_tag_value};
