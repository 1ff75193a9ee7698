//! The Application Auto Scaling resource types against a local moto server: create,
//! batched observe (with unknown ids mixed in), in-place updates, and idempotent deletes.
//! Neither type is taggable (see their modules), so nothing is found by ownership. The
//! scaled resource is an ECS service made with the ECS SDK directly (moto checks that it
//! exists).

use std::sync::Arc;

use terrane_aws_appautoscaling::AwsClients;
use terrane_aws_appautoscaling::policy::Policy;
use terrane_aws_appautoscaling::target::Target;
use terrane_core::Value;
use terrane_provider::{Attributes, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "appautoscaling-test";

terrane_testkit::provider_test_helpers!(
    attrs,
    map,
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

/// An ECS cluster and Fargate service (`service/app/<name>`), made with the ECS SDK.
async fn ecs_service(moto: &Moto, name: &str) -> String {
    let config = moto.sdk_config(REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    ecs.create_cluster()
        .cluster_name("app")
        .send()
        .await
        .unwrap();
    ecs.register_task_definition()
        .family(name)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name(name)
                .image("nginx")
                .memory(512)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ecs.create_service()
        .cluster("app")
        .service_name(name)
        .task_definition(name)
        .desired_count(1)
        .send()
        .await
        .unwrap();
    format!("service/app/{name}")
}

fn target_inputs(resource_id: &str, min: i64, max: i64) -> Attributes {
    attrs(&[
        ("service_namespace", Value::string("ecs")),
        ("resource_id", Value::string(resource_id)),
        (
            "scalable_dimension",
            Value::string("ecs:service:DesiredCount"),
        ),
        ("min_capacity", Value::int(min)),
        ("max_capacity", Value::int(max)),
    ])
}

fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        let got = live.get(k).unwrap_or(&Value::Null);
        assert!(
            schema
                .normalized(k, want)
                .semantically_equal(&schema.normalized(k, got)),
            "{k}: want {want}, live {got}"
        );
    }
}

#[tokio::test]
async fn target_lifecycle() {
    let moto = Moto::start();
    let targets = Target::new(clients(&moto).await);
    let api = ecs_service(&moto, "api").await;
    let worker = ecs_service(&moto, "worker").await;

    let inputs = target_inputs(&api, 1, 10);
    let (id, created) = create(&targets, "api_scaling", &inputs).await;
    assert_eq!(id, "ecs/service/app/api/ecs:service:DesiredCount");
    assert_eq!(s(&created, "id"), id);
    assert_inputs_match(&targets, &inputs, &created);
    assert!(s(&created, "arn").starts_with("arn:aws:application-autoscaling:"));
    let (other, other_attrs) =
        create(&targets, "worker_scaling", &target_inputs(&worker, 2, 4)).await;

    let found = observe(
        &targets,
        &[
            &id,
            "ecs/service/app/nope/ecs:service:DesiredCount",
            "not an id",
            &other,
        ],
    )
    .await;
    let mut both = vec![id.clone(), other.clone()];
    both.sort();
    assert_eq!(found.keys().cloned().collect::<Vec<_>>(), both);
    assert_eq!(found[&id], created);

    let wanted = target_inputs(&api, 2, 20);
    let updated = update(
        &targets,
        &id,
        &wanted,
        &created,
        &["min_capacity", "max_capacity"],
    )
    .await;
    assert_inputs_match(&targets, &wanted, &updated);
    assert_eq!(s(&updated, "id"), id);
    assert_eq!(observe(&targets, &[&id]).await[&id], updated);

    // Registering again is an upsert: a create retried after a crash makes no duplicate.
    let (again, _) = create(&targets, "api_scaling", &wanted).await;
    assert_eq!(again, id);
    assert!(find(&targets, STACK, None).await.is_empty());

    delete_twice_and_gone(&targets, &id, &updated).await;
    delete_twice_and_gone(&targets, &other, &other_attrs).await;
    assert!(find(&targets, STACK, None).await.is_empty());
}

fn policy_inputs(resource_id: &str, name: &str, metric: &str, value: i64) -> Attributes {
    attrs(&[
        ("name", Value::string(name)),
        ("service_namespace", Value::string("ecs")),
        ("resource_id", Value::string(resource_id)),
        (
            "scalable_dimension",
            Value::string("ecs:service:DesiredCount"),
        ),
        ("policy_type", Value::string("TargetTrackingScaling")),
        (
            "target_tracking",
            Value::Map(
                [
                    ("target_value".to_string(), Value::int(value)),
                    ("predefined_metric_type".to_string(), Value::string(metric)),
                    ("scale_in_cooldown".to_string(), Value::int(300)),
                    ("scale_out_cooldown".to_string(), Value::int(60)),
                ]
                .into(),
            ),
        ),
    ])
}

#[tokio::test]
async fn policy_lifecycle() {
    let moto = Moto::start();
    let clients = clients(&moto).await;
    let targets = Target::new(clients.clone());
    let policies = Policy::new(clients);
    let api = ecs_service(&moto, "api").await;
    let (target, target_attrs) = create(&targets, "api_scaling", &target_inputs(&api, 1, 10)).await;

    // The reference stacks' pair: CPU at 70%, memory at 80%.
    let cpu_inputs = policy_inputs(&api, "cpu-70", "ECSServiceAverageCPUUtilization", 70);
    let (cpu, cpu_attrs) = create(&policies, "cpu", &cpu_inputs).await;
    assert_eq!(cpu, format!("{target}/cpu-70"));
    assert_inputs_match(&policies, &cpu_inputs, &cpu_attrs);
    assert!(
        s(&cpu_attrs, "arn").contains("scalingPolicy"),
        "{cpu_attrs:?}"
    );
    assert!(cpu_attrs["alarm_names"].as_list().is_some());
    let mem_inputs = policy_inputs(&api, "memory-80", "ECSServiceAverageMemoryUtilization", 80);
    let (mem, mem_attrs) = create(&policies, "memory", &mem_inputs).await;
    assert_inputs_match(&policies, &mem_inputs, &mem_attrs);

    let found = observe(&policies, &[&cpu, &format!("{target}/nope"), &mem]).await;
    let mut both = vec![cpu.clone(), mem.clone()];
    both.sort();
    assert_eq!(found.keys().cloned().collect::<Vec<_>>(), both);
    assert_eq!(found[&cpu], cpu_attrs);

    // PutScalingPolicy changes the configuration in place.
    let mut wanted = policy_inputs(&api, "cpu-70", "ECSServiceAverageCPUUtilization", 60);
    if let Some(Value::Map(m)) = wanted.get_mut("target_tracking") {
        m.insert("disable_scale_in".into(), Value::Bool(true));
    }
    let updated = update(&policies, &cpu, &wanted, &cpu_attrs, &["target_tracking"]).await;
    assert_inputs_match(&policies, &wanted, &updated);
    // On AWS the policy keeps its ARN; moto 5.2.5 makes a new policy (and ARN) on every
    // PutScalingPolicy, so only the id is compared here.
    assert_eq!(s(&updated, "id"), cpu);
    assert_eq!(observe(&policies, &[&cpu]).await[&cpu], updated);

    // Not taggable: nothing is found by ownership.
    assert!(find(&policies, STACK, None).await.is_empty());

    delete_twice_and_gone(&policies, &cpu, &updated).await;
    delete_twice_and_gone(&policies, &mem, &mem_attrs).await;
    delete(&targets, &target, &target_attrs).await;
}
