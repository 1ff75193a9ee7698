//! terrane's S3: buckets with versioning, encryption, lifecycle, policy and public-access block.

pub mod bucket;

use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_provider::Registry;

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(bucket::Bucket::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_s3::Client {
    clients.client(region, |config, region, calls| {
        let mut builder = aws_sdk_s3::config::Builder::from(config)
            .region(region)
            .interceptor(calls);
        // A custom endpoint (AWS_ENDPOINT_URL: MinIO, LocalStack, moto, an S3-compatible
        // store) cannot resolve `<bucket>.<host>` virtual-hosted names: address buckets by
        // path there. Against AWS itself (no override) the SDK's default stays.
        if config.endpoint_url().is_some() {
            builder = builder.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    })
}
