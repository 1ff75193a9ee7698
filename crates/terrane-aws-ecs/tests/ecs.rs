//! The ECS resource types against a local moto server: create with tags, batched observe
//! (with unknown ids mixed in), in-place updates, discovery by ownership tags, and
//! idempotent deletes.

use std::sync::Arc;

use terrane_aws_ecs::AwsClients;
use terrane_aws_ecs::cluster::Cluster;
use terrane_aws_ecs::service::Service;
use terrane_aws_ecs::task_definition::TaskDefinition;
use terrane_core::Value;
use terrane_provider::{Attributes, ResourceType};
use terrane_testkit::Moto;
use terrane_testkit::odd_address::{ODD_ADDRESS, assert_encoded_address, assert_plain_address};

const REGION: &str = "us-east-1";
const STACK: &str = "ecs-test";

terrane_testkit::provider_test_helpers!(
    attrs,
    map,
    strings,
    tags,
    create,
    observe,
    update,
    delete,
    find,
    delete_twice_and_gone,
    s
);

async fn clients(moto: &Moto) -> Arc<AwsClients> {
    moto.clients(REGION).await
}

/// Each input as the planner compares it: normalized by the schema, lists marked
/// unordered compared as sets.
fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        let got = live.get(k).unwrap_or(&Value::Null);
        let (w, g) = (schema.normalized(k, want), schema.normalized(k, got));
        let equal = match (&w, &g, schema.attribute(k).is_some_and(|a| a.unordered)) {
            (Value::List(x), Value::List(y), true) => {
                x.len() == y.len() && x.iter().all(|i| y.iter().any(|j| i.semantically_equal(j)))
            }
            _ => w.semantically_equal(&g),
        };
        assert!(equal, "{k}: want {w}, live {g}");
    }
}

/// A VPC with two subnets and a security group, made with EC2 directly.
async fn network(moto: &Moto) -> (Vec<String>, String) {
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config(REGION).await);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let mut subnets = Vec::new();
    for (i, zone) in ["a", "b"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.1.{i}.0/24"))
            .availability_zone(format!("{REGION}{zone}"))
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let sg = ec2
        .create_security_group()
        .group_name("api")
        .description("api tasks")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    (subnets, sg)
}

fn container(image: &str) -> Value {
    let mut c = std::collections::BTreeMap::new();
    c.insert("name".to_string(), Value::string("api"));
    c.insert("image".to_string(), Value::string(image));
    c.insert("essential".to_string(), Value::Bool(true));
    c.insert(
        "portMappings".to_string(),
        Value::List(vec![Value::Map(
            [("containerPort".to_string(), Value::int(8000))].into(),
        )]),
    );
    c.insert(
        "environment".to_string(),
        Value::List(vec![
            map(&[("name", "STAGE"), ("value", "prod")]),
            map(&[("name", "LOG_LEVEL"), ("value", "info")]),
        ]),
    );
    c.insert(
        "secrets".to_string(),
        Value::List(vec![map(&[
            ("name", "DB_PASSWORD"),
            (
                "valueFrom",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
            ),
        ])]),
    );
    c.insert(
        "logConfiguration".to_string(),
        Value::Map(
            [
                ("logDriver".to_string(), Value::string("awslogs")),
                (
                    "options".to_string(),
                    map(&[
                        ("awslogs-group", "/ecs/api"),
                        ("awslogs-region", REGION),
                        ("awslogs-stream-prefix", "api"),
                    ]),
                ),
            ]
            .into(),
        ),
    );
    c.insert(
        "healthCheck".to_string(),
        Value::Map(
            [
                (
                    "command".to_string(),
                    strings(&[
                        "CMD-SHELL",
                        "curl -f http://localhost:8000/health || exit 1",
                    ]),
                ),
                ("interval".to_string(), Value::int(30)),
                ("timeout".to_string(), Value::int(5)),
                ("retries".to_string(), Value::int(3)),
            ]
            .into(),
        ),
    );
    Value::List(vec![Value::Map(c)])
}

fn task_inputs(address: &str, image: &str) -> Attributes {
    attrs(&[
        ("family", Value::string("api")),
        ("cpu", Value::string("512")),
        ("memory", Value::string("1024")),
        ("network_mode", Value::string("awsvpc")),
        ("requires_compatibilities", strings(&["FARGATE"])),
        (
            "execution_role_arn",
            Value::string("arn:aws:iam::123456789012:role/ecs-exec"),
        ),
        (
            "task_role_arn",
            Value::string("arn:aws:iam::123456789012:role/api"),
        ),
        (
            "runtime_platform",
            map(&[
                ("cpu_architecture", "X86_64"),
                ("operating_system_family", "LINUX"),
            ]),
        ),
        ("container_definitions", container(image)),
        ("tags", tags(address, &[("team", "api")])),
    ])
}

#[tokio::test]
async fn cluster_lifecycle() {
    let moto = Moto::start();
    let clusters = Cluster::new(clients(&moto).await);
    let inputs = attrs(&[
        ("name", Value::string("app")),
        ("container_insights", Value::Bool(true)),
        ("capacity_providers", strings(&["FARGATE_SPOT", "FARGATE"])),
        (
            "default_capacity_provider_strategy",
            Value::List(vec![Value::Map(
                [
                    ("capacity_provider".to_string(), Value::string("FARGATE")),
                    ("weight".to_string(), Value::int(1)),
                    ("base".to_string(), Value::int(1)),
                ]
                .into(),
            )]),
        ),
        ("tags", tags("cluster", &[("team", "platform")])),
    ]);
    let (id, created) = create(&clusters, "cluster", &inputs).await;
    assert_eq!(id, "app");
    assert_inputs_match(&clusters, &inputs, &created);
    assert!(s(&created, "arn").ends_with(":cluster/app"), "{created:?}");

    let found = observe(&clusters, &["no-such-cluster", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);
    // The ARN names it too (as `terrane import` may be given).
    let arn = s(&created, "arn");
    assert_eq!(observe(&clusters, &[&arn]).await[&arn], created);

    let mut wanted = inputs.clone();
    wanted.insert("container_insights".into(), Value::Bool(false));
    wanted.insert("capacity_providers".into(), strings(&["FARGATE"]));
    wanted.insert(
        "default_capacity_provider_strategy".into(),
        Value::List(vec![Value::Map(
            [
                ("capacity_provider".to_string(), Value::string("FARGATE")),
                ("weight".to_string(), Value::int(2)),
            ]
            .into(),
        )]),
    );
    wanted.insert("tags".into(), tags("cluster", &[("owner", "ops")]));
    let updated = update(
        &clusters,
        &id,
        &wanted,
        &created,
        &[
            "container_insights",
            "capacity_providers",
            "default_capacity_provider_strategy",
            "tags",
        ],
    )
    .await;
    assert_inputs_match(&clusters, &wanted, &updated);
    assert_eq!(observe(&clusters, &[&id]).await[&id], updated);

    assert_eq!(
        find(&clusters, STACK, Some("cluster")).await,
        vec![id.clone()]
    );
    assert!(find(&clusters, STACK, Some("other")).await.is_empty());
    assert!(find(&clusters, "another-stack", None).await.is_empty());

    // Deleted clusters stay listed as INACTIVE: they count as gone.
    delete_twice_and_gone(&clusters, &id, &updated).await;
    assert!(find(&clusters, STACK, None).await.is_empty());
}

#[tokio::test]
async fn task_definition_lifecycle() {
    let moto = Moto::start();
    let tasks = TaskDefinition::new(clients(&moto).await);
    let inputs = task_inputs("task", "public.ecr.aws/nginx/nginx:1.27");
    let (id, created) = create(&tasks, "task", &inputs).await;
    assert!(id.contains(":task-definition/api:1"), "{id}");
    assert_eq!(s(&created, "arn"), id);
    assert_eq!(created["revision"], Value::int(1));
    assert_inputs_match(&tasks, &inputs, &created);

    let unknown = id.replace("api:1", "api:99");
    let found = observe(&tasks, &[&unknown, &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // Only tags change in place.
    let mut wanted = inputs.clone();
    wanted.insert("tags".into(), tags("task", &[("owner", "api")]));
    let updated = update(&tasks, &id, &wanted, &created, &["tags"]).await;
    assert_inputs_match(&tasks, &wanted, &updated);
    assert_eq!(s(&updated, "arn"), id);

    // A new image is a new revision (the planner replaces): revision 2 in the same family.
    let (second, second_attrs) = create(
        &tasks,
        "task2",
        &task_inputs("task2", "public.ecr.aws/nginx/nginx:1.28"),
    )
    .await;
    assert!(second.ends_with("api:2"), "{second}");
    assert_eq!(second_attrs["revision"], Value::int(2));

    assert_eq!(find(&tasks, STACK, Some("task")).await, vec![id.clone()]);
    let mut both = vec![id.clone(), second.clone()];
    both.sort();
    assert_eq!(find(&tasks, STACK, None).await, both);
    assert!(find(&tasks, "another-stack", None).await.is_empty());

    // Deregistered revisions stay describable as INACTIVE: they count as gone.
    delete_twice_and_gone(&tasks, &id, &updated).await;
    delete_twice_and_gone(&tasks, &second, &second_attrs).await;
    assert!(find(&tasks, STACK, None).await.is_empty());
}

#[tokio::test]
async fn unsupported_container_keys_are_refused() {
    let moto = Moto::start();
    let tasks = TaskDefinition::new(clients(&moto).await);
    let mut inputs = task_inputs("task", "nginx");
    inputs.insert(
        "container_definitions".into(),
        Value::List(vec![map(&[
            ("name", "api"),
            ("image", "nginx"),
            ("links", "db"),
        ])]),
    );
    let err = tasks
        .create(terrane_provider::CreateRequest {
            region: REGION,
            address: &terrane_core::Address::new("task"),
            inputs: &inputs,
            client_token: "t",
        })
        .await
        .expect_err("an unsupported key is refused");
    assert!(err.to_string().contains("links"), "{err}");
}

#[tokio::test]
async fn service_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let clusters = Cluster::new(clients.clone());
    let tasks = TaskDefinition::new(clients.clone());
    let services = Service::new(clients);
    let (subnets, sg) = network(&moto).await;
    let (cluster, cluster_attrs) = create(
        &clusters,
        "cluster",
        &attrs(&[
            ("name", Value::string("app")),
            ("tags", tags("cluster", &[])),
        ]),
    )
    .await;
    let (task1, task1_attrs) = create(&tasks, "task", &task_inputs("task", "nginx:1")).await;
    let (task2, task2_attrs) = create(&tasks, "task", &task_inputs("task", "nginx:2")).await;

    let inputs = attrs(&[
        ("name", Value::string("api")),
        // The cluster by ARN: compared by name.
        ("cluster", Value::string(s(&cluster_attrs, "arn"))),
        ("task_definition", Value::string(&task1)),
        ("desired_count", Value::int(2)),
        ("launch_type", Value::string("FARGATE")),
        ("platform_version", Value::string("LATEST")),
        (
            "network_configuration",
            Value::Map(
                [
                    (
                        "subnets".to_string(),
                        strings(&[&subnets[1], &subnets[0]]),
                    ),
                    ("security_groups".to_string(), strings(&[&sg])),
                    ("assign_public_ip".to_string(), Value::Bool(false)),
                ]
                .into(),
            ),
        ),
        (
            "load_balancers",
            Value::List(vec![Value::Map(
                [
                    (
                        "target_group_arn".to_string(),
                        Value::string(
                            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/0123456789abcdef",
                        ),
                    ),
                    ("container_name".to_string(), Value::string("api")),
                    ("container_port".to_string(), Value::int(8000)),
                ]
                .into(),
            )]),
        ),
        (
            "service_registries",
            Value::List(vec![map(&[(
                "registry_arn",
                "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-0123456789abcdef",
            )])]),
        ),
        ("propagate_tags", Value::string("SERVICE")),
        ("wait_for_steady_state", Value::Bool(false)),
        ("tags", tags("service", &[("team", "api")])),
    ]);
    let (id, created) = create(&services, "service", &inputs).await;
    assert!(id.ends_with(":service/app/api"), "{id}");
    assert_eq!(s(&created, "arn"), id);
    assert_eq!(s(&created, "cluster"), cluster);
    let mut comparable = inputs.clone();
    comparable.remove("wait_for_steady_state"); // terrane's own switch: never reported
    assert!(!created.contains_key("wait_for_steady_state"));
    assert_inputs_match(&services, &comparable, &created);

    let unknown = id.replace("/api", "/nope");
    let other_cluster = id.replace("/app/", "/nocluster/");
    let found = observe(&services, &[&unknown, &id, &other_cluster]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // A new revision, a new count and deployment settings change in place.
    let mut wanted = comparable.clone();
    wanted.insert("task_definition".into(), Value::string(&task2));
    wanted.insert("desired_count".into(), Value::int(3));
    wanted.insert("health_check_grace_period_seconds".into(), Value::int(60));
    wanted.insert("deployment_minimum_healthy_percent".into(), Value::int(50));
    wanted.insert("deployment_maximum_percent".into(), Value::int(200));
    wanted.insert(
        "deployment_circuit_breaker".into(),
        Value::Map(
            [
                ("enable".to_string(), Value::Bool(true)),
                ("rollback".to_string(), Value::Bool(true)),
            ]
            .into(),
        ),
    );
    wanted.insert("enable_execute_command".into(), Value::Bool(true));
    wanted.insert("tags".into(), tags("service", &[("owner", "api")]));
    // And waits for the steady state with the SDK's waiter: moto reports the new desired
    // count as running at once after UpdateService.
    let mut with_wait = wanted.clone();
    with_wait.insert("wait_for_steady_state".into(), Value::Bool(true));
    let updated = update(
        &services,
        &id,
        &with_wait,
        &created,
        &[
            "task_definition",
            "desired_count",
            "health_check_grace_period_seconds",
            "deployment_minimum_healthy_percent",
            "deployment_maximum_percent",
            "deployment_circuit_breaker",
            "enable_execute_command",
            "tags",
        ],
    )
    .await;
    assert_inputs_match(&services, &wanted, &updated);
    assert_eq!(s(&updated, "arn"), id);
    assert_eq!(observe(&services, &[&id]).await[&id], updated);

    assert_eq!(
        find(&services, STACK, Some("service")).await,
        vec![id.clone()]
    );
    assert!(find(&services, STACK, Some("other")).await.is_empty());
    assert!(find(&services, "another-stack", None).await.is_empty());

    // Scaled to 0, deleted, waited INACTIVE; the second delete finds it gone.
    delete_twice_and_gone(&services, &id, &updated).await;
    assert!(find(&services, STACK, None).await.is_empty());
    delete(&tasks, &task1, &task1_attrs).await;
    delete(&tasks, &task2, &task2_attrs).await;
    delete_twice_and_gone(&clusters, &cluster, &cluster_attrs).await;
}

#[tokio::test]
async fn ownership_address_is_encoded_in_cluster_tags() {
    let moto = Moto::start();
    let clusters = Cluster::new(clients(&moto).await);
    let inputs = attrs(&[
        ("name", Value::string("odd")),
        ("tags", tags(ODD_ADDRESS, &[])),
    ]);
    let (id, created) = create(&clusters, ODD_ADDRESS, &inputs).await;
    assert_plain_address(&created);

    let raw = aws_sdk_ecs::Client::new(&moto.sdk_config(REGION).await)
        .list_tags_for_resource()
        .resource_arn(s(&created, "arn"))
        .send()
        .await
        .unwrap();
    let tag = raw
        .tags()
        .iter()
        .find(|t| t.key() == Some(terrane_core::OWNERSHIP_TAG_ADDRESS))
        .and_then(|t| t.value());
    assert_encoded_address(tag);

    assert_plain_address(&observe(&clusters, &[&id]).await[&id]);
    assert_eq!(
        find(&clusters, STACK, Some(ODD_ADDRESS)).await,
        vec![id.clone()]
    );
    delete(&clusters, &id, &created).await;
}
