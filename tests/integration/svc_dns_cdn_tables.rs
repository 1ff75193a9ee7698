//! Stack-level tests of Route53, CloudFront and DynamoDB against the local endpoint: a
//! zone, a distribution behind an alias record, and per region (us-east-1, eu-west-1) a
//! table, a health check and a latency record, checked with independent SDK calls.

use std::collections::BTreeMap;

use crate::support::*;

const STACK: &str = "dns-cdn-tables";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const DOMAIN: &str = "dnscdn.example.com";

async fn sdk_config(moto: &Moto, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

async fn route53(moto: &Moto) -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&sdk_config(moto, "us-east-1").await)
}

async fn cloudfront(moto: &Moto) -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::new(&sdk_config(moto, "us-east-1").await)
}

async fn dynamodb(moto: &Moto, region: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(moto, region).await)
}

/// A copy of the stack in a temporary directory.
fn stack_copy() -> Workdir {
    Workdir::copy_of("tests/stacks/dns-cdn-tables")
}

/// Non-no-op plan entries as (address, action).
fn planned_actions(moto: &Moto, dir: &str) -> Vec<(String, String)> {
    let out = terrane(Some(moto), &["plan", dir, "--detailed-exitcode", "--json"]);
    expect_code(&out, 2);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut actions: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    actions.sort();
    actions
}

fn route53_tags(set: &aws_sdk_route53::types::ResourceTagSet) -> BTreeMap<String, String> {
    set.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The zone of the stack (by name) and its id.
async fn zone(r53: &aws_sdk_route53::Client) -> Option<aws_sdk_route53::types::HostedZone> {
    r53.list_hosted_zones()
        .send()
        .await
        .unwrap()
        .hosted_zones()
        .iter()
        .find(|z| z.name() == format!("{DOMAIN}."))
        .cloned()
}

/// Everything of these services carrying the stack's ownership tag, as (kind, id).
async fn owned(moto: &Moto) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let r53 = route53(moto).await;
    let zones = r53.list_hosted_zones().send().await.unwrap();
    let checks = r53.list_health_checks().send().await.unwrap();
    for (kind, ids) in [
        (
            aws_sdk_route53::types::TagResourceType::Hostedzone,
            zones
                .hosted_zones()
                .iter()
                .map(|z| z.id().rsplit('/').next().unwrap().to_string())
                .collect::<Vec<_>>(),
        ),
        (
            aws_sdk_route53::types::TagResourceType::Healthcheck,
            checks
                .health_checks()
                .iter()
                .map(|h| h.id().to_string())
                .collect(),
        ),
    ] {
        if ids.is_empty() {
            continue;
        }
        let sets = r53
            .list_tags_for_resources()
            .resource_type(kind.clone())
            .set_resource_ids(Some(ids))
            .send()
            .await
            .unwrap();
        for set in sets.resource_tag_sets() {
            if route53_tags(set).get("terrane:stack").map(String::as_str) == Some(STACK) {
                found.push((kind.as_str().to_string(), set.resource_id().unwrap().into()));
            }
        }
    }
    let cf = cloudfront(moto).await;
    let list = cf.list_distributions().send().await.unwrap();
    for d in list
        .distribution_list()
        .map(|l| l.items())
        .unwrap_or_default()
    {
        let tags = cf
            .list_tags_for_resource()
            .resource(d.arn())
            .send()
            .await
            .unwrap();
        if tags
            .tags()
            .map(|t| t.items())
            .unwrap_or_default()
            .iter()
            .any(|t| t.key() == "terrane:stack" && t.value() == Some(STACK))
        {
            found.push(("distribution".into(), d.id().to_string()));
        }
    }
    for region in REGIONS {
        let ddb = dynamodb(moto, region).await;
        for name in ddb.list_tables().send().await.unwrap().table_names() {
            let arn = ddb
                .describe_table()
                .table_name(name)
                .send()
                .await
                .unwrap()
                .table()
                .unwrap()
                .table_arn()
                .unwrap()
                .to_string();
            let tags = ddb
                .list_tags_of_resource()
                .resource_arn(&arn)
                .send()
                .await
                .unwrap();
            if tags
                .tags()
                .iter()
                .any(|t| t.key() == "terrane:stack" && t.value() == STACK)
            {
                found.push(("table".into(), arn));
            }
        }
    }
    found
}

#[tokio::test]
async fn zone_cdn_and_regional_tables_apply_update_replace_and_destroy() {
    let moto = Moto::start();
    let work = stack_copy();
    let dir = work.path().to_str().unwrap();
    let out = terrane(Some(&moto), &["apply", dir, "--auto-approve"]);
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("Apply complete: 9 created"),
        "{}",
        text(&out)
    );

    // Route53: the zone, its tags, the alias to the distribution and the latency records.
    let r53 = route53(&moto).await;
    let z = zone(&r53).await.expect("the zone exists");
    let zone_id = z.id().rsplit('/').next().unwrap().to_string();
    assert_eq!(
        z.config().and_then(|c| c.comment()),
        Some("managed by terrane")
    );
    let tag_sets = r53
        .list_tags_for_resources()
        .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
        .resource_ids(&zone_id)
        .send()
        .await
        .unwrap();
    let zone_tags = route53_tags(&tag_sets.resource_tag_sets()[0]);
    assert_eq!(zone_tags["terrane:stack"], STACK);
    assert_eq!(zone_tags["terrane:address"], "zone");
    assert_eq!(zone_tags["project"], "terrane-test");

    let cf = cloudfront(&moto).await;
    let dists = cf.list_distributions().send().await.unwrap();
    let dists = dists.distribution_list().unwrap().items();
    assert_eq!(dists.len(), 1);
    let dist_id = dists[0].id().to_string();
    let dist_domain = dists[0].domain_name().to_string();
    let config = cf
        .get_distribution_config()
        .id(&dist_id)
        .send()
        .await
        .unwrap();
    let config = config.distribution_config().unwrap();
    assert_eq!(config.comment(), "website v1");
    assert_eq!(config.origins().unwrap().items().len(), 2);
    assert_eq!(
        config.cache_behaviors().unwrap().items()[0].path_pattern(),
        "/static/*"
    );
    assert_eq!(config.default_root_object(), Some("index.html"));
    assert!(config.logging().unwrap().enabled());
    assert_eq!(
        config.price_class().map(|p| p.as_str()),
        Some("PriceClass_100")
    );

    let records = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    let www = records
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == format!("www.{DOMAIN}."))
        .expect("the www alias");
    assert_eq!(
        www.alias_target().unwrap().dns_name().trim_end_matches('.'),
        dist_domain
    );
    let mut latency: Vec<(String, String)> = records
        .resource_record_sets()
        .iter()
        .filter(|r| r.name() == format!("api.{DOMAIN}."))
        .map(|r| {
            assert!(r.health_check_id().is_some(), "{r:?}");
            (
                r.region().unwrap().as_str().to_string(),
                r.resource_records()[0].value().to_string(),
            )
        })
        .collect();
    latency.sort();
    assert_eq!(
        latency,
        [
            ("eu-west-1".into(), "api-eu-west-1.example.net".into()),
            ("us-east-1".into(), "api-us-east-1.example.net".into()),
        ]
    );
    let checks = r53.list_health_checks().send().await.unwrap();
    let mut fqdns: Vec<&str> = checks
        .health_checks()
        .iter()
        .filter_map(|h| h.health_check_config()?.fully_qualified_domain_name())
        .collect();
    fqdns.sort();
    assert_eq!(
        fqdns,
        ["api-eu-west-1.example.net", "api-us-east-1.example.net"]
    );

    // DynamoDB: one table per region, with its keys, index, stream, TTL and tags.
    let mut table_ids = BTreeMap::new();
    for region in REGIONS {
        let ddb = dynamodb(&moto, region).await;
        let t = ddb
            .describe_table()
            .table_name("sessions-v1")
            .send()
            .await
            .unwrap();
        let t = t.table().unwrap();
        assert_eq!(t.key_schema().len(), 2, "{region}");
        assert_eq!(
            t.global_secondary_indexes()[0].index_name(),
            Some("by-user")
        );
        assert!(t.stream_specification().unwrap().stream_enabled());
        let ttl = ddb
            .describe_time_to_live()
            .table_name("sessions-v1")
            .send()
            .await
            .unwrap();
        assert_eq!(
            ttl.time_to_live_description().unwrap().attribute_name(),
            Some("expires_at")
        );
        let tags = ddb
            .list_tags_of_resource()
            .resource_arn(t.table_arn().unwrap())
            .send()
            .await
            .unwrap();
        let tags: BTreeMap<&str, &str> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
        assert_eq!(tags["Name"], format!("sessions-{region}"));
        assert_eq!(
            tags["terrane:address"],
            owned_address(&format!("module.regional[\"{region}\"].sessions"))
        );
        table_ids.insert(region, t.table_arn().unwrap().to_string());
    }
    assert_eq!(owned(&moto).await.len(), 6, "zone, 2 checks, cdn, 2 tables");

    // An unchanged stack plans nothing.
    expect_code(
        &terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]),
        0,
    );

    // Mutable properties change in place: the zone's comment, the distribution's comment
    // (GetDistributionConfig + UpdateDistribution with If-Match) and PITR of both tables.
    work.edit(
        "stack.yaml",
        "comment: managed by terrane",
        "comment: terrane v2",
    );
    work.edit("stack.yaml", "comment: website v1", "comment: website v2");
    work.edit(
        "modules/regional/module.yaml",
        "point_in_time_recovery: false",
        "point_in_time_recovery: true",
    );
    assert_eq!(
        planned_actions(&moto, dir),
        [
            ("cdn".to_string(), "update".to_string()),
            (
                "module.regional[\"eu-west-1\"].sessions".into(),
                "update".into()
            ),
            (
                "module.regional[\"us-east-1\"].sessions".into(),
                "update".into()
            ),
            ("zone".into(), "update".into()),
        ]
    );
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    let z = zone(&r53).await.unwrap();
    assert_eq!(
        z.id().rsplit('/').next(),
        Some(zone_id.as_str()),
        "same zone"
    );
    assert_eq!(z.config().and_then(|c| c.comment()), Some("terrane v2"));
    let config = cf
        .get_distribution_config()
        .id(&dist_id)
        .send()
        .await
        .expect("the same distribution");
    assert_eq!(
        config.distribution_config().unwrap().comment(),
        "website v2"
    );
    for region in REGIONS {
        let ddb = dynamodb(&moto, region).await;
        let backups = ddb
            .describe_continuous_backups()
            .table_name("sessions-v1")
            .send()
            .await
            .unwrap();
        assert_eq!(
            backups
                .continuous_backups_description()
                .and_then(|d| d.point_in_time_recovery_description())
                .and_then(|p| p.point_in_time_recovery_status())
                .map(|s| s.as_str()),
            Some("ENABLED"),
            "{region}"
        );
        let t = ddb
            .describe_table()
            .table_name("sessions-v1")
            .send()
            .await
            .unwrap();
        assert_eq!(
            t.table().unwrap().table_arn(),
            Some(table_ids[region].as_str())
        );
    }

    // An immutable property (the table's name) replaces both tables.
    work.edit(
        "modules/regional/module.yaml",
        "name: sessions-v1",
        "name: sessions-v2",
    );
    let out = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
    expect_code(&out, 2);
    let shown = stdout(&out);
    assert!(
        shown.contains("-/+ module.regional[\"us-east-1\"].sessions"),
        "{shown}"
    );
    assert!(
        shown.contains("Plan: 0 to create, 0 to update, 2 to replace, 0 to delete"),
        "{shown}"
    );
    expect_code(&terrane(Some(&moto), &["apply", dir, "--auto-approve"]), 0);
    for region in REGIONS {
        let ddb = dynamodb(&moto, region).await;
        let names = ddb.list_tables().send().await.unwrap();
        assert_eq!(names.table_names(), ["sessions-v2"], "{region}");
        let t = ddb
            .describe_table()
            .table_name("sessions-v2")
            .send()
            .await
            .unwrap();
        assert_ne!(
            t.table().unwrap().table_arn(),
            Some(table_ids[region].as_str())
        );
    }
    expect_code(
        &terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]),
        0,
    );

    // Destroy leaves nothing of the stack in either region.
    expect_code(
        &terrane(Some(&moto), &["destroy", dir, "--auto-approve"]),
        0,
    );
    assert_eq!(owned(&moto).await, Vec::<(String, String)>::new());
    assert!(zone(&r53).await.is_none());
    assert!(state_list(&moto, work.path()).is_empty());
}
