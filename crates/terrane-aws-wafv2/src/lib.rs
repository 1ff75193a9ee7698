//! terrane's WAFv2: web ACLs and their associations with regional resources (application
//! load balancers, API Gateway stages). Web ACLs of scope CLOUDFRONT live in us-east-1 and
//! are attached through the CloudFront distribution's `web_acl_id`, not an association.

pub mod web_acl;
pub mod web_acl_association;

use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_provider::Registry;

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(web_acl::WebAcl::new(clients.clone())));
    registry.register(Arc::new(web_acl_association::WebAclAssociation::new(
        clients.clone(),
    )));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_wafv2::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_wafv2::Client::from_conf(
            aws_sdk_wafv2::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// WAFv2's "does not exist" error.
pub(crate) const NOT_FOUND: &[&str] = &["WAFNonexistentItemException"];

/// Resources read at the same time where WAFv2 has no batched read.
pub(crate) const CONCURRENCY: usize = 8;
