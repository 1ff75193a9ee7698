//! One module stamped into three regions from one stack, applied and checked per region.

use std::collections::BTreeMap;

use crate::support::*;

/// The `prod` environment of the `multi-region` stack: its own stack in state and tags.
const STACK: &str = "multi-region/prod";
const REGIONS: [(&str, &str); 3] = [
    ("us-east-1", "10.10.0.0/16"),
    ("eu-west-1", "10.11.0.0/16"),
    ("ap-southeast-1", "10.12.0.0/16"),
];

/// `EC2 DescribeVpcs us-east-1: 1` lines of `--api-stats` as ((operation, region), count).
fn api_calls(stderr: &str) -> BTreeMap<(String, String), u64> {
    stderr
        .lines()
        .filter_map(|l| {
            let (key, n) = l.trim().rsplit_once(": ")?;
            let mut parts = key.split_whitespace();
            let (_service, op, region) = (parts.next()?, parts.next()?, parts.next()?);
            Some(((op.to_string(), region.to_string()), n.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn a_regional_module_is_applied_in_three_regions_and_refreshed_in_batches() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/multi-region");
    let dir = work.path().to_str().unwrap();
    let out = terrane(
        Some(&moto),
        &["apply", dir, "--env", "prod", "--auto-approve"],
    );
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("Apply complete: 15 created"),
        "{}",
        text(&out)
    );

    for (region, cidr) in REGIONS {
        let ec2 = ec2(&moto, region).await;
        let vpcs = ec2
            .describe_vpcs()
            .filters(stack_filter(STACK))
            .send()
            .await
            .unwrap();
        assert_eq!(vpcs.vpcs().len(), 1, "{region}");
        let vpc = &vpcs.vpcs()[0];
        assert_eq!(vpc.cidr_block(), Some(cidr), "{region}");
        let tags = tags_of(vpc.tags());
        assert_eq!(tags["Name"], format!("prod-{region}"));
        assert_eq!(tags["environment"], "prod", "default tags are evaluated");
        assert_eq!(
            tags["terrane:address"],
            format!("module.region[\"{region}\"].vpc")
        );
        let subnets = ec2
            .describe_subnets()
            .filters(stack_filter(STACK))
            .send()
            .await
            .unwrap();
        let mut zones: Vec<&str> = subnets
            .subnets()
            .iter()
            .map(|s| s.availability_zone().unwrap())
            .collect();
        zones.sort();
        assert_eq!(zones, [format!("{region}a"), format!("{region}b")]);
        assert_eq!(owned_count(&ec2, STACK).await, 5, "{region}");
    }

    // An unchanged plan reads each type once per region, whatever the number of resources.
    let out = terrane(
        Some(&moto),
        &[
            "plan",
            dir,
            "--env",
            "prod",
            "--detailed-exitcode",
            "--api-stats",
        ],
    );
    expect_code(&out, 0);
    let calls = api_calls(&stderr(&out));
    for (region, _) in REGIONS {
        for op in [
            "DescribeVpcs",
            "DescribeSubnets",
            "DescribeInternetGateways",
        ] {
            assert_eq!(
                calls.get(&(op.to_string(), region.to_string())),
                Some(&1),
                "{op} in {region}: {calls:?}"
            );
        }
        // Security groups: one batched read, plus the VPCs' default groups in one more.
        assert!(
            calls[&("DescribeSecurityGroups".to_string(), region.to_string())] <= 2,
            "{calls:?}"
        );
    }
    assert!(
        calls.keys().all(|(op, _)| op.starts_with("Describe")),
        "a plan changes nothing: {calls:?}"
    );

    expect_code(
        &terrane(
            Some(&moto),
            &["destroy", dir, "--env", "prod", "--auto-approve"],
        ),
        0,
    );
    for (region, _) in REGIONS {
        assert_eq!(
            owned_count(&ec2(&moto, region).await, STACK).await,
            0,
            "{region}"
        );
    }
}
