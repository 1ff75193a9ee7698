//! Every AWS resource type terrane manages, gathered into one registry. Each service is
//! its own crate (one resource type = one file there, behind
//! [`terrane_provider::ResourceType`]); this crate only lists the services.
//!
//! Credentials, region and endpoint come from the standard AWS chain (`AWS_PROFILE`, SSO,
//! `AWS_ENDPOINT_URL`, ...); retries of throttling and transient errors are the SDK's own
//! adaptive retry mode.

use std::sync::Arc;

pub use terrane_aws_core::{ApiCalls, AwsClients, QuotaTable};
use terrane_provider::Registry;

/// Every AWS resource type terrane manages.
pub fn registry(clients: Arc<AwsClients>) -> Registry {
    let mut r = Registry::new();
    terrane_aws_ec2::register(&mut r, &clients);
    terrane_aws_dynamodb::register(&mut r, &clients);
    terrane_aws_cloudfront::register(&mut r, &clients);
    terrane_aws_route53::register(&mut r, &clients);
    terrane_aws_eks::register(&mut r, &clients);
    terrane_aws_elasticache::register(&mut r, &clients);
    terrane_aws_rds::register(&mut r, &clients);
    terrane_aws_s3::register(&mut r, &clients);
    terrane_aws_kms::register(&mut r, &clients);
    terrane_aws_iam::register(&mut r, &clients);
    terrane_aws_elbv2::register(&mut r, &clients);
    terrane_aws_acm::register(&mut r, &clients);
    terrane_aws_wafv2::register(&mut r, &clients);
    terrane_aws_ecs::register(&mut r, &clients);
    terrane_aws_appautoscaling::register(&mut r, &clients);
    terrane_aws_ecr::register(&mut r, &clients);
    terrane_aws_secretsmanager::register(&mut r, &clients);
    terrane_aws_cloudwatch::register(&mut r, &clients);
    terrane_aws_sqs::register(&mut r, &clients);
    terrane_aws_lambda::register(&mut r, &clients);
    terrane_aws_apigateway::register(&mut r, &clients);
    terrane_aws_eventbridge::register(&mut r, &clients);
    terrane_aws_memorydb::register(&mut r, &clients);
    terrane_aws_msk::register(&mut r, &clients);
    terrane_aws_servicediscovery::register(&mut r, &clients);
    terrane_aws_globalaccelerator::register(&mut r, &clients);
    terrane_aws_backup::register(&mut r, &clients);
    r
}

/// The schemas alone, for validation and docs without any AWS configuration.
pub fn offline_registry() -> Registry {
    registry(Arc::new(AwsClients::offline()))
}
