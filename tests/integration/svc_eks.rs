//! Stack-level tests of EKS against the local endpoint: `tests/stacks/eks` (a VPC, two
//! subnets, a cluster and a managed node group in each of two regions) applied, updated in
//! place, partly replaced, planned clean and destroyed with the real binary, every step
//! checked with independent SDK calls.
//!
//! `aws.eks.addon` is not in the stack: moto has no EKS add-on API (CreateAddon answers
//! 404). The crate's provider-level tests check that the real call is made.

use std::collections::BTreeMap;

use crate::support::*;

const STACK: &str = "svc-eks";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const MODULE: &str = "modules/regional/module.yaml";

async fn eks(moto: &Moto, region: &str) -> aws_sdk_eks::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(aws_sdk_eks::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_eks::Client::new(&config)
}

fn cluster_name(region: &str) -> String {
    format!("svc-eks-{region}")
}

async fn cluster(client: &aws_sdk_eks::Client, region: &str) -> aws_sdk_eks::types::Cluster {
    client
        .describe_cluster()
        .name(cluster_name(region))
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe cluster in {region}: {e:?}"))
        .cluster
        .unwrap()
}

async fn node_group(
    client: &aws_sdk_eks::Client,
    region: &str,
    name: &str,
) -> aws_sdk_eks::types::Nodegroup {
    client
        .describe_nodegroup()
        .cluster_name(cluster_name(region))
        .nodegroup_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe node group {name} in {region}: {e:?}"))
        .nodegroup
        .unwrap()
}

async fn node_group_names(client: &aws_sdk_eks::Client, region: &str) -> Vec<String> {
    client
        .list_nodegroups()
        .cluster_name(cluster_name(region))
        .send()
        .await
        .unwrap()
        .nodegroups()
        .to_vec()
}

fn enabled_log_types(c: &aws_sdk_eks::types::Cluster) -> Vec<String> {
    let mut types: Vec<String> = c
        .logging()
        .unwrap()
        .cluster_logging()
        .iter()
        .filter(|s| s.enabled() == Some(true))
        .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
        .collect();
    types.sort();
    types
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut v = items.to_vec();
    v.sort();
    v
}

/// Non-no-op plan actions by address.
fn planned_actions(moto: &Moto, dir: &str) -> BTreeMap<String, String> {
    let out = terrane(Some(moto), &["plan", dir, "--detailed-exitcode", "--json"]);
    expect_code(&out, 2);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["changes"]
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
        .collect()
}

/// Every EKS cluster and node group of `region` that carries the stack's ownership tag.
async fn owned_eks(client: &aws_sdk_eks::Client) -> Vec<String> {
    let mut owned = Vec::new();
    let clusters = client.list_clusters().send().await.unwrap();
    for name in clusters.clusters() {
        let c = client
            .describe_cluster()
            .name(name)
            .send()
            .await
            .unwrap()
            .cluster
            .unwrap();
        if c.tags()
            .and_then(|t| t.get("terrane:stack"))
            .map(String::as_str)
            == Some(STACK)
        {
            owned.push(format!("cluster {name}"));
        }
        let groups = client
            .list_nodegroups()
            .cluster_name(name)
            .send()
            .await
            .unwrap();
        for group in groups.nodegroups() {
            let g = client
                .describe_nodegroup()
                .cluster_name(name)
                .nodegroup_name(group)
                .send()
                .await
                .unwrap()
                .nodegroup
                .unwrap();
            if g.tags()
                .and_then(|t| t.get("terrane:stack"))
                .map(String::as_str)
                == Some(STACK)
            {
                owned.push(format!("node group {name}/{group}"));
            }
        }
    }
    owned
}

#[tokio::test]
async fn eks_clusters_and_node_groups_in_two_regions() {
    let moto = Moto::start();
    // The stack is found from this crate's own directory: with a target directory shared
    // between checkouts, the test kit's idea of the repository root can be another one's.
    let work = Workdir::copy_of(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/stacks/eks"
    ));
    let dir = work.path().to_str().unwrap();

    let out = terrane(Some(&moto), &["apply", dir, "--auto-approve"]);
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("Apply complete: 10 created"),
        "{}",
        text(&out)
    );

    // Each region: the cluster and its node group exist with the declared attributes,
    // on the stack's subnets.
    let mut node_group_arns = BTreeMap::new();
    let mut cluster_created = BTreeMap::new();
    for region in REGIONS {
        let client = eks(&moto, region).await;
        let ec2 = ec2(&moto, region).await;
        let subnets = ec2
            .describe_subnets()
            .filters(stack_filter(STACK))
            .send()
            .await
            .unwrap();
        let subnet_ids: Vec<String> = sorted(
            &subnets
                .subnets()
                .iter()
                .map(|s| s.subnet_id().unwrap().to_string())
                .collect::<Vec<_>>(),
        );
        assert_eq!(subnet_ids.len(), 2, "{region}");

        let c = cluster(&client, region).await;
        assert_eq!(c.status().map(|s| s.as_str()), Some("ACTIVE"), "{region}");
        assert_eq!(
            c.role_arn(),
            Some("arn:aws:iam::123456789012:role/eks-cluster")
        );
        assert_eq!(c.version(), Some("1.30"));
        let vpc = c.resources_vpc_config().unwrap();
        assert_eq!(sorted(vpc.subnet_ids()), subnet_ids, "{region}");
        assert!(vpc.endpoint_private_access());
        assert!(vpc.endpoint_public_access(), "the schema's default");
        assert_eq!(vpc.public_access_cidrs(), ["203.0.113.0/24"]);
        assert_eq!(enabled_log_types(&c), ["api", "audit"]);
        let tags = c.tags().unwrap();
        assert_eq!(tags["Name"], cluster_name(region));
        assert_eq!(tags["tier"], "control");
        assert_eq!(tags["project"], "terrane-tests", "default tags");
        assert_eq!(tags["terrane:stack"], STACK);
        assert_eq!(
            tags["terrane:address"],
            owned_address(&format!("module.region[\"{region}\"].cluster"))
        );
        cluster_created.insert(region, c.created_at().cloned().unwrap());

        let g = node_group(&client, region, "workers").await;
        assert_eq!(g.status().map(|s| s.as_str()), Some("ACTIVE"));
        assert_eq!(
            g.node_role(),
            Some("arn:aws:iam::123456789012:role/eks-nodes")
        );
        assert_eq!(sorted(g.subnets()), subnet_ids, "{region}");
        assert_eq!(g.instance_types(), ["m6i.large"]);
        assert_eq!(g.capacity_type().map(|c| c.as_str()), Some("ON_DEMAND"));
        assert_eq!(g.disk_size(), Some(40));
        let scaling = g.scaling_config().unwrap();
        assert_eq!(
            (
                scaling.min_size(),
                scaling.max_size(),
                scaling.desired_size()
            ),
            (Some(1), Some(3), Some(2))
        );
        assert_eq!(g.labels().unwrap()["role"], "general");
        let taints = g.taints();
        assert_eq!(taints.len(), 1);
        assert_eq!(
            (
                taints[0].key(),
                taints[0].value(),
                taints[0].effect().map(|e| e.as_str())
            ),
            (Some("dedicated"), Some("general"), Some("NO_SCHEDULE"))
        );
        let gtags = g.tags().unwrap();
        assert_eq!(gtags["terrane:stack"], STACK);
        assert_eq!(
            gtags["terrane:address"],
            owned_address(&format!("module.region[\"{region}\"].workers"))
        );
        node_group_arns.insert(region, g.nodegroup_arn().unwrap().to_string());
    }

    // Nothing to do on a second plan.
    expect_code(
        &terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]),
        0,
    );

    // In place: the cluster's logging and a tag, the node group's scaling and labels.
    // (Node group tags are left alone: moto's TagResource knows only clusters.)
    work.edit(
        MODULE,
        "enabled_log_types: [api, audit]",
        "enabled_log_types: [api, audit, scheduler]",
    );
    work.edit(MODULE, "tier: control", "tier: platform");
    work.edit(
        MODULE,
        "scaling: { min: 1, max: 3, desired: 2 }",
        "scaling: { min: 2, max: 5, desired: 3 }",
    );
    work.edit(
        MODULE,
        "labels: { role: general }",
        "labels: { role: batch }",
    );
    let mut expected = BTreeMap::new();
    for region in REGIONS {
        for r in ["cluster", "workers"] {
            expected.insert(format!("module.region[\"{region}\"].{r}"), "update".into());
        }
    }
    assert_eq!(planned_actions(&moto, dir), expected);
    let out = terrane(Some(&moto), &["apply", dir, "--auto-approve"]);
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("Apply complete: 0 created, 4 updated, 0 replaced, 0 deleted"),
        "{}",
        text(&out)
    );
    for region in REGIONS {
        let client = eks(&moto, region).await;
        let c = cluster(&client, region).await;
        assert_eq!(
            c.created_at(),
            Some(&cluster_created[region]),
            "the same cluster"
        );
        assert_eq!(enabled_log_types(&c), ["api", "audit", "scheduler"]);
        assert_eq!(c.tags().unwrap()["tier"], "platform");
        let g = node_group(&client, region, "workers").await;
        assert_eq!(
            g.nodegroup_arn(),
            Some(node_group_arns[region].as_str()),
            "the same node group"
        );
        let scaling = g.scaling_config().unwrap();
        assert_eq!(
            (
                scaling.min_size(),
                scaling.max_size(),
                scaling.desired_size()
            ),
            (Some(2), Some(5), Some(3))
        );
        assert_eq!(g.labels().unwrap().len(), 1);
        assert_eq!(g.labels().unwrap()["role"], "batch");
    }

    // Replaced: the node group's name cannot change in place; a new node group (a new id)
    // takes the old one's place.
    work.edit(MODULE, "name: workers", "name: general");
    let mut expected = BTreeMap::new();
    for region in REGIONS {
        expected.insert(
            format!("module.region[\"{region}\"].workers"),
            "replace".into(),
        );
    }
    assert_eq!(planned_actions(&moto, dir), expected);
    let out = terrane(Some(&moto), &["apply", dir, "--auto-approve"]);
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("Apply complete: 0 created, 0 updated, 2 replaced, 0 deleted"),
        "{}",
        text(&out)
    );
    let listed = state_list(&moto, work.path());
    for region in REGIONS {
        let client = eks(&moto, region).await;
        assert_eq!(node_group_names(&client, region).await, ["general"]);
        let g = node_group(&client, region, "general").await;
        assert_ne!(g.nodegroup_arn(), Some(node_group_arns[region].as_str()));
        let scaling = g.scaling_config().unwrap();
        assert_eq!(scaling.desired_size(), Some(3), "created with the stack's");
        let address = format!("module.region[\"{region}\"].workers");
        let entry = listed
            .iter()
            .find(|e| e["address"] == address.as_str())
            .unwrap_or_else(|| panic!("{address} in {listed:?}"));
        assert_eq!(
            entry["cloud_id"],
            format!("{}/general", cluster_name(region)).as_str(),
            "the new id"
        );
    }
    expect_code(
        &terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]),
        0,
    );

    // Destroy leaves nothing carrying the stack's ownership tag in either region.
    expect_code(
        &terrane(Some(&moto), &["destroy", dir, "--auto-approve"]),
        0,
    );
    for region in REGIONS {
        let client = eks(&moto, region).await;
        assert_eq!(owned_eks(&client).await, Vec::<String>::new(), "{region}");
        assert!(
            client
                .list_clusters()
                .send()
                .await
                .unwrap()
                .clusters()
                .is_empty(),
            "{region}"
        );
        assert_eq!(owned_count(&ec2(&moto, region).await, STACK).await, 0);
    }
    assert!(state_list(&moto, work.path()).is_empty());
}
