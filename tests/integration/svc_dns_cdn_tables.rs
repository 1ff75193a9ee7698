//! Stack-level tests of Route53, CloudFront and DynamoDB against the local endpoint.
