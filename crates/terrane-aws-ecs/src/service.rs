//! `aws.ecs.service`: an ECS service keeping tasks of a task definition running (on
//! Fargate), optionally behind load balancer target groups and registered in Cloud Map.
//! The cloud id is the service's ARN in the long format
//! (`arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`), which names its cluster.
//!
//! `desired_count` is usually owned by Application Auto Scaling: stacks then list it under
//! `lifecycle.owned_elsewhere` (or `ignore_changes`). `wait_for_steady_state` is terrane's own switch (AWS does not report
//! it): when true, create and update wait with the SDK's `services_stable` waiter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::client::Waiters;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, ServiceField, ServiceRegistry,
};
use terrane_aws_core::inputs::{input_bool, input_i32, input_str, is_owned, require_str, wanted};
use terrane_aws_core::{AwsError, api_error, gone_is_ok, waiter_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, Fields, built, input_map, input_maps, last_part, map_of, sdk_tags, strings_value,
    sync_tags,
};

pub const TYPE_NAME: &str = "aws.ecs.service";

/// Services per DescribeServices call (ECS's limit).
const DESCRIBE_BATCH: usize = 10;

/// How long a deployment may take to reach a steady state, and a deleted service to
/// drain, before terrane gives up.
const WAIT_STABLE: Duration = Duration::from_secs(20 * 60);
const WAIT_INACTIVE: Duration = Duration::from_secs(10 * 60);

const NOT_FOUND: &[&str] = &[
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "ClusterNotFoundException",
];

pub struct Service {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An ECS service: keeps `desired_count` tasks of a task definition running, \
                      registered with load balancer target groups and Cloud Map.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The service's name, unique in its cluster."),
            AttrSchema::required("cluster", String)
                .forces_replacement()
                .describe("The cluster's name or ARN."),
            AttrSchema::required("task_definition", String).describe(
                "The task definition revision to run: its ARN or `family:revision`; a change \
                 starts a rolling deployment.",
            ),
            AttrSchema::optional("desired_count", Number).describe(
                "Tasks to keep running (usually owned by the autoscaler: list it under \
                 lifecycle.owned_elsewhere).",
            ),
            AttrSchema::optional("launch_type", String)
                .default(DefaultValue::Str("FARGATE"))
                .forces_replacement()
                .describe("`FARGATE` (the default), `EC2` or `EXTERNAL`."),
            AttrSchema::optional("platform_version", String)
                .describe("The Fargate platform version, e.g. `LATEST` or `1.4.0`."),
            AttrSchema::optional("network_configuration", Map).describe(
                "The tasks' network (awsvpc): `subnets`, `security_groups` (lists) and \
                 `assign_public_ip` (bool).",
            ),
            AttrSchema::optional("load_balancers", List)
                .forces_replacement()
                .describe(
                    "Target groups the tasks register in: maps of `target_group_arn`, \
                     `container_name`, `container_port`.",
                ),
            AttrSchema::optional("service_registries", List)
                .forces_replacement()
                .describe(
                    "Cloud Map services the tasks register in: maps of `registry_arn` and, for \
                     SRV records, `container_name`, `container_port`.",
                ),
            AttrSchema::optional("health_check_grace_period_seconds", Number).describe(
                "Seconds during which load balancer health checks are ignored after a task starts.",
            ),
            AttrSchema::optional("deployment_minimum_healthy_percent", Number)
                .describe("Lower bound of running tasks during a deployment, in % of desired."),
            AttrSchema::optional("deployment_maximum_percent", Number)
                .describe("Upper bound of tasks during a deployment, in % of desired."),
            AttrSchema::optional("deployment_circuit_breaker", Map).describe(
                "`enable` (stop a failing deployment) and `rollback` (roll it back), both bools.",
            ),
            AttrSchema::optional("enable_execute_command", Bool)
                .describe("Whether ECS Exec into the service's containers is allowed."),
            AttrSchema::optional("propagate_tags", String)
                .describe("Copy tags to tasks from `SERVICE`, `TASK_DEFINITION`, or `NONE`."),
            AttrSchema::optional("wait_for_steady_state", Bool)
                .default(DefaultValue::Bool(false))
                .describe(
                    "Wait (up to 20 minutes) after create and update until the deployment is \
                     steady: all desired tasks running. Not an AWS setting.",
                ),
            AttrSchema::optional("tags", Map).describe("Tags on the service."),
            AttrSchema::computed("id", String).describe("The service's ARN."),
            AttrSchema::computed("arn", String).describe("The service's ARN."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "api_service:\n  type: aws.ecs.service\n  properties:\n    name: api\n    \
                  cluster: ${cluster.name}\n    task_definition: ${api_task.arn}\n    \
                  desired_count: 1\n    network_configuration:\n      \
                  subnets: [\"${private_a.id}\", \"${private_b.id}\"]\n      \
                  security_groups: [\"${api_sg.id}\"]\n      assign_public_ip: false\n    \
                  load_balancers:\n      - target_group_arn: ${api_tg.arn}\n        \
                  container_name: api\n        container_port: 8000\n    \
                  service_registries:\n      - registry_arn: ${api_discovery.arn}\n    \
                  deployment_circuit_breaker:\n      enable: true\n      rollback: true\n  \
                  lifecycle:\n    owned_elsewhere: [desired_count]\n",
    }
}

/// A cluster and a task definition compare by name (`family:revision`), however they are
/// written; network lists as sets with `assign_public_ip` false by default; a circuit
/// breaker with both switches, off by default.
fn normalize(attr: &str, v: &Value) -> Value {
    match (attr, v) {
        ("cluster" | "task_definition", Value::String(s)) => Value::string(last_part(s)),
        ("network_configuration", Value::Map(m)) => {
            let mut m = m.clone();
            for k in ["subnets", "security_groups"] {
                if let Some(Value::List(l)) = m.get_mut(k) {
                    l.sort_by_key(|v| v.as_str().unwrap_or_default().to_string());
                }
            }
            m.entry("assign_public_ip".into())
                .or_insert(Value::Bool(false));
            Value::Map(m)
        }
        ("deployment_circuit_breaker", Value::Map(m)) => {
            let mut m = m.clone();
            for k in ["enable", "rollback"] {
                m.entry(k.into()).or_insert(Value::Bool(false));
            }
            Value::Map(m)
        }
        _ => v.clone(),
    }
}

/// The cluster and the service's name in a service ARN (`.../service/<cluster>/<name>`); the
/// short ARN format (`.../service/<name>`) is in the `default` cluster.
pub fn split_arn(arn: &str) -> (String, String) {
    let resource = arn.split_once(":service/").map(|(_, r)| r).unwrap_or(arn);
    match resource.split_once('/') {
        Some((cluster, name)) => (cluster.to_string(), name.to_string()),
        None => ("default".to_string(), resource.to_string()),
    }
}

fn network(inputs: &Attributes) -> Result<Option<NetworkConfiguration>, ProviderError> {
    let Some(m) = input_map(inputs, "network_configuration")? else {
        return Ok(None);
    };
    let vpc = built(
        AwsVpcConfiguration::builder()
            .set_subnets(m.strings_of("subnets"))
            .set_security_groups(m.strings_of("security_groups"))
            .set_assign_public_ip(m.bool_of("assign_public_ip")?.map(|b| {
                if b {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                }
            }))
            .build(),
    )?;
    Ok(Some(
        NetworkConfiguration::builder()
            .awsvpc_configuration(vpc)
            .build(),
    ))
}

fn deployment(inputs: &Attributes) -> Result<Option<DeploymentConfiguration>, ProviderError> {
    let min = input_i32(inputs, "deployment_minimum_healthy_percent")?;
    let max = input_i32(inputs, "deployment_maximum_percent")?;
    let breaker = match input_map(inputs, "deployment_circuit_breaker")? {
        Some(m) => Some(
            DeploymentCircuitBreaker::builder()
                .enable(m.bool_of("enable")?.unwrap_or(false))
                .rollback(m.bool_of("rollback")?.unwrap_or(false))
                .build(),
        ),
        None => None,
    };
    if min.is_none() && max.is_none() && breaker.is_none() {
        return Ok(None);
    }
    Ok(Some(
        DeploymentConfiguration::builder()
            .set_minimum_healthy_percent(min)
            .set_maximum_percent(max)
            .set_deployment_circuit_breaker(breaker)
            .build(),
    ))
}

fn load_balancers(inputs: &Attributes) -> Result<Vec<LoadBalancer>, ProviderError> {
    input_maps(inputs, "load_balancers")?
        .into_iter()
        .map(|m| {
            Ok(LoadBalancer::builder()
                .set_target_group_arn(m.str_of("target_group_arn"))
                .set_container_name(m.str_of("container_name"))
                .set_container_port(m.i32_of("container_port")?)
                .build())
        })
        .collect()
}

fn registries(inputs: &Attributes) -> Result<Vec<ServiceRegistry>, ProviderError> {
    input_maps(inputs, "service_registries")?
        .into_iter()
        .map(|m| {
            Ok(ServiceRegistry::builder()
                .set_registry_arn(m.str_of("registry_arn"))
                .set_container_name(m.str_of("container_name"))
                .set_container_port(m.i32_of("container_port")?)
                .build())
        })
        .collect()
}

fn int(v: Option<i32>) -> Option<Value> {
    v.map(|i| Value::int(i.into()))
}

fn text(v: Option<&str>) -> Option<Value> {
    v.map(Value::string)
}

fn service_attributes(s: &aws_sdk_ecs::types::Service) -> Attributes {
    let mut a = Attributes::new();
    let arn = s.service_arn().unwrap_or_default();
    a.insert("id".into(), Value::string(arn));
    a.insert("arn".into(), Value::string(arn));
    a.insert(
        "name".into(),
        Value::string(s.service_name().unwrap_or_default()),
    );
    a.insert(
        "cluster".into(),
        Value::string(last_part(s.cluster_arn().unwrap_or_default())),
    );
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            a.insert(k.into(), v);
        }
    };
    put("task_definition", text(s.task_definition()));
    put("desired_count", Some(Value::int(s.desired_count().into())));
    put("launch_type", text(s.launch_type().map(|l| l.as_str())));
    put("platform_version", text(s.platform_version()));
    put(
        "health_check_grace_period_seconds",
        int(s.health_check_grace_period_seconds()),
    );
    put(
        "enable_execute_command",
        Some(Value::Bool(s.enable_execute_command())),
    );
    put(
        "propagate_tags",
        text(s.propagate_tags().map(|p| p.as_str())),
    );
    if let Some(d) = s.deployment_configuration() {
        put(
            "deployment_minimum_healthy_percent",
            int(d.minimum_healthy_percent()),
        );
        put("deployment_maximum_percent", int(d.maximum_percent()));
        put(
            "deployment_circuit_breaker",
            d.deployment_circuit_breaker().map(|b| {
                map_of(vec![
                    ("enable", Some(Value::Bool(b.enable()))),
                    ("rollback", Some(Value::Bool(b.rollback()))),
                ])
            }),
        );
    }
    if let Some(vpc) = s
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
    {
        put(
            "network_configuration",
            Some(map_of(vec![
                ("subnets", Some(strings_value(vpc.subnets()))),
                (
                    "security_groups",
                    Some(strings_value(vpc.security_groups())),
                ),
                (
                    "assign_public_ip",
                    Some(Value::Bool(
                        vpc.assign_public_ip() == Some(&AssignPublicIp::Enabled),
                    )),
                ),
            ])),
        );
    }
    put(
        "load_balancers",
        Some(Value::List(
            s.load_balancers()
                .iter()
                .map(|l| {
                    map_of(vec![
                        ("target_group_arn", text(l.target_group_arn())),
                        ("container_name", text(l.container_name())),
                        ("container_port", int(l.container_port())),
                    ])
                })
                .collect(),
        )),
    );
    put(
        "service_registries",
        Some(Value::List(
            s.service_registries()
                .iter()
                .map(|r| {
                    map_of(vec![
                        ("registry_arn", text(r.registry_arn())),
                        ("container_name", text(r.container_name())),
                        ("container_port", int(r.container_port())),
                    ])
                })
                .collect(),
        )),
    );
    put("tags", Some(crate::tags_value(s.tags())));
    a
}

impl Service {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Service {
            clients,
            schema: schema(),
        }
    }

    /// The ACTIVE services among `arns` of one cluster, by ARN: one DescribeServices (with
    /// tags) per 10. A cluster that does not exist has no services.
    async fn describe(
        client: &aws_sdk_ecs::Client,
        cluster: &str,
        arns: &[String],
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = BTreeMap::new();
        for chunk in arns.chunks(DESCRIBE_BATCH) {
            let out = match client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    let e = AwsError::from_sdk(e);
                    if e.is(&["ClusterNotFoundException"]) {
                        return Ok(found);
                    }
                    return Err(e.into_provider("DescribeServices"));
                }
            };
            for s in out.services() {
                if s.status() != Some("ACTIVE") {
                    continue;
                }
                found.insert(
                    s.service_arn().unwrap_or_default().to_string(),
                    service_attributes(s),
                );
            }
        }
        Ok(found)
    }

    async fn read_one(
        client: &aws_sdk_ecs::Client,
        arn: &str,
    ) -> Result<Attributes, ProviderError> {
        let (cluster, _) = split_arn(arn);
        Self::describe(client, &cluster, &[arn.to_string()])
            .await?
            .remove(arn)
            .ok_or_else(|| ProviderError::NotFound(format!("ECS service {arn}")))
    }

    async fn wait_stable(
        client: &aws_sdk_ecs::Client,
        arn: &str,
        inputs: &Attributes,
    ) -> Result<(), ProviderError> {
        if input_bool(inputs, "wait_for_steady_state")? != Some(true) {
            return Ok(());
        }
        let (cluster, _) = split_arn(arn);
        client
            .wait_until_services_stable()
            .cluster(cluster)
            .services(arn)
            .wait(WAIT_STABLE)
            .await
            .map_err(|e| waiter_error(&format!("wait for ECS service {arn} to be stable"), e))?;
        Ok(())
    }
}

#[async_trait]
impl ResourceType for Service {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// One DescribeServices per cluster and 10 services (the cluster is in each ARN).
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let mut by_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in wanted(req.ids) {
            by_cluster
                .entry(split_arn(id).0)
                .or_default()
                .push(id.to_string());
        }
        let mut found = BTreeMap::new();
        for (cluster, arns) in by_cluster {
            let mut live = Self::describe(&client, &cluster, &arns).await?;
            for arn in arns {
                if let Some(a) = live.remove(&arn) {
                    found.insert(arn, a);
                }
            }
        }
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let lbs = load_balancers(inputs)?;
        let regs = registries(inputs)?;
        let out = client
            .create_service()
            .service_name(require_str(inputs, "name")?)
            .cluster(require_str(inputs, "cluster")?)
            .task_definition(require_str(inputs, "task_definition")?)
            .set_desired_count(input_i32(inputs, "desired_count")?)
            .launch_type(LaunchType::from(
                input_str(inputs, "launch_type")
                    .unwrap_or_else(|| "FARGATE".into())
                    .as_str(),
            ))
            .set_platform_version(input_str(inputs, "platform_version"))
            .set_network_configuration(network(inputs)?)
            .set_load_balancers((!lbs.is_empty()).then_some(lbs))
            .set_service_registries((!regs.is_empty()).then_some(regs))
            .set_health_check_grace_period_seconds(input_i32(
                inputs,
                "health_check_grace_period_seconds",
            )?)
            .set_deployment_configuration(deployment(inputs)?)
            .set_enable_execute_command(input_bool(inputs, "enable_execute_command")?)
            .set_propagate_tags(
                input_str(inputs, "propagate_tags").map(|p| PropagateTags::from(p.as_str())),
            )
            .set_tags(sdk_tags(inputs))
            .client_token(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateService"))?;
        let id = out
            .service()
            .and_then(|s| s.service_arn())
            .ok_or_else(|| ProviderError::api("CreateService", "no service returned"))?
            .to_string();
        Self::wait_stable(&client, &id, inputs).await?;
        let attributes = Self::read_one(&client, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    /// One UpdateService for every changed setting (sent together), then tags.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let changed = |n: &str| req.changed.iter().any(|c| c == n);
        let (cluster, name) = split_arn(req.id);
        let mut call = client.update_service().cluster(&cluster).service(&name);
        let mut any = false;
        if changed("task_definition") {
            call = call.task_definition(require_str(inputs, "task_definition")?);
            any = true;
        }
        if changed("desired_count")
            && let Some(n) = input_i32(inputs, "desired_count")?
        {
            call = call.desired_count(n);
            any = true;
        }
        if changed("platform_version") {
            call = call.set_platform_version(input_str(inputs, "platform_version"));
            any = true;
        }
        if changed("network_configuration") {
            call = call.set_network_configuration(network(inputs)?);
            any = true;
        }
        if changed("health_check_grace_period_seconds") {
            call = call.set_health_check_grace_period_seconds(input_i32(
                inputs,
                "health_check_grace_period_seconds",
            )?);
            any = true;
        }
        if changed("deployment_minimum_healthy_percent")
            || changed("deployment_maximum_percent")
            || changed("deployment_circuit_breaker")
        {
            call = call.set_deployment_configuration(deployment(inputs)?);
            any = true;
        }
        if changed("enable_execute_command") {
            call = call.enable_execute_command(
                input_bool(inputs, "enable_execute_command")?.unwrap_or(false),
            );
            any = true;
        }
        if changed("propagate_tags") {
            call = call.propagate_tags(PropagateTags::from(
                input_str(inputs, "propagate_tags")
                    .unwrap_or_else(|| "NONE".into())
                    .as_str(),
            ));
            any = true;
        }
        if any {
            call.send().await.map_err(api_error("UpdateService"))?;
        }
        if changed("tags") {
            sync_tags(&client, req.id, inputs, req.prior).await?;
        }
        if any {
            Self::wait_stable(&client, req.id, inputs).await?;
        }
        let attributes = Self::read_one(&client, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Scales to 0, deletes (force), then waits with `services_inactive` until drained.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let (cluster, name) = split_arn(req.id);
        let scaled = terrane_aws_core::unless_gone(
            "UpdateService",
            client
                .update_service()
                .cluster(&cluster)
                .service(&name)
                .desired_count(0)
                .send()
                .await,
            NOT_FOUND,
        )?;
        if scaled.is_none() {
            return Ok(());
        }
        let deleted = terrane_aws_core::unless_gone(
            "DeleteService",
            client
                .delete_service()
                .cluster(&cluster)
                .service(&name)
                .force(true)
                .send()
                .await,
            NOT_FOUND,
        )?;
        if deleted.is_none() {
            return Ok(());
        }
        client
            .wait_until_services_inactive()
            .cluster(&cluster)
            .services(req.id)
            .wait(WAIT_INACTIVE)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!("wait for ECS service {} to be inactive", req.id),
                    e,
                )
            })?;
        Ok(())
    }

    /// ListClusters, ListServices per cluster, DescribeServices (with tags) per 10, keeping
    /// the owned ones.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let clusters: Vec<String> = client
            .list_clusters()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListClusters"))?;
        let mut found = BTreeMap::new();
        for cluster in clusters {
            let arns: Vec<String> = match client
                .list_services()
                .cluster(&cluster)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
            {
                Ok(arns) => arns,
                Err(e) => {
                    gone_is_ok(
                        "ListServices",
                        Err::<(), _>(e),
                        &["ClusterNotFoundException"],
                    )?;
                    continue;
                }
            };
            found.extend(Self::describe(&client, &cluster, &arns).await?);
        }
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
