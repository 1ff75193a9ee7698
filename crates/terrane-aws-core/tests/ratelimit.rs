//! The rate limiter on real SDK clients against a local moto server (one per test): a
//! burst larger than a bucket is spread out, throttling answers cut the bucket's rate,
//! and every client draws its retries from one shared budget. Assertions are on counts
//! (waits, throttles, requests), never on times.

use terrane_aws_core::ratelimit::{BucketKey, Quota, Scope, ServiceQuotas};
use terrane_aws_core::{AwsClients, QuotaTable, RateLimitOptions};
use terrane_testkit::Moto;
use terrane_testkit::proxy::{FaultConfig, FaultProxy};

fn ec2(clients: &AwsClients, region: &str) -> aws_sdk_ec2::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

fn key(region: &str, operation: &str) -> BucketKey {
    BucketKey {
        region: region.into(),
        service: "ec2".into(),
        scope: operation.into(),
    }
}

/// EC2 reads get a bucket of 3 refilled at 20 per second (a test-only seed, so that the
/// spread-out calls take about half a second).
fn small_table() -> QuotaTable {
    QuotaTable::new(ServiceQuotas::new(
        Quota::new(50.0, 5.0),
        Quota::new(50.0, 5.0),
        Scope::PerCategory,
    ))
    .service(
        "EC2",
        ServiceQuotas::new(
            Quota::new(3.0, 20.0),
            Quota::new(50.0, 5.0),
            Scope::PerOperation,
        ),
    )
}

async fn burst(clients: &AwsClients, n: usize) {
    let client = ec2(clients, "us-east-1");
    let calls = (0..n).map(|_| client.describe_vpcs().send());
    for r in futures::future::join_all(calls).await {
        r.expect("describe_vpcs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_larger_than_the_bucket_is_spread_out() {
    let moto = Moto::start();
    let config = moto.sdk_config("us-east-1").await;

    let limited = AwsClients::with_limits(
        config.clone(),
        RateLimitOptions {
            quotas: small_table(),
            ..RateLimitOptions::default()
        },
    );
    burst(&limited, 12).await;
    let stats = limited.rate_limits();
    let b = &stats.buckets[&key("us-east-1", "DescribeVpcs")];
    assert_eq!(b.acquired, 12, "{stats:?}");
    // 3 go at once; the other 9 wait their turn (a token may come back while the 12
    // are being reserved, hence the slack of one).
    assert!((8..=9).contains(&b.waits), "{stats:?}");
    assert_eq!(b.throttles, 0);
    assert_eq!(limited.calls().total(), 12);

    // The same burst with AWS's real seed (100 per second for EC2 reads) never waits.
    let aws = AwsClients::with_config(config);
    burst(&aws, 12).await;
    let stats = aws.rate_limits();
    assert_eq!((stats.acquired, stats.waits), (12, 0), "{stats:?}");
    assert_eq!(
        stats.buckets[&key("us-east-1", "DescribeVpcs")].seed,
        Some(Quota::new(100.0, 20.0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_cuts_the_rate_and_retries_share_one_budget() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultConfig {
            throttle_rate: 1.0,
            operations: vec!["DescribeVpcs".into()],
            ..FaultConfig::default()
        },
    );
    // The standard retry mode (3 attempts), pointed at the proxy.
    let config = moto
        .sdk_config("us-east-1")
        .await
        .into_builder()
        .endpoint_url(proxy.endpoint())
        .build();
    // Room for one or two retries (a throttling retry costs 5, a transient one 10).
    let clients = AwsClients::with_limits(
        config,
        RateLimitOptions {
            quotas: QuotaTable::aws(),
            retry_budget: 10,
        },
    );

    // us-east-1 spends the whole budget on its retries...
    let err = ec2(&clients, "us-east-1").describe_vpcs().send().await;
    assert!(err.is_err(), "every DescribeVpcs is throttled");
    let first = proxy.stats().requests;
    assert!(first >= 2, "at least one retry: {first}");

    // ...so eu-west-1, a client with its own default retry partition in the SDK, gets
    // no retry at all: the budget is shared.
    let err = ec2(&clients, "eu-west-1").describe_vpcs().send().await;
    assert!(err.is_err());
    assert_eq!(
        proxy.stats().requests - first,
        1,
        "no retry left for eu-west-1"
    );

    // Every throttling answer reached the limiter, and each bucket's rate was cut.
    let stats = clients.rate_limits();
    assert_eq!(stats.throttles, proxy.stats().throttled, "{stats:?}");
    for region in ["us-east-1", "eu-west-1"] {
        let b = &stats.buckets[&key(region, "DescribeVpcs")];
        assert!(b.rate_cuts >= 1, "{region}: {b:?}");
        assert!(b.rate <= 10.0, "{region}: halved from 20: {b:?}");
    }
    // Other APIs keep their own, uncut buckets and still work (through the proxy).
    ec2(&clients, "us-east-1")
        .describe_subnets()
        .send()
        .await
        .expect("describe_subnets is not throttled");
    let stats = clients.rate_limits();
    let b = &stats.buckets[&key("us-east-1", "DescribeSubnets")];
    assert_eq!((b.throttles, b.rate), (0, 20.0));
}
