//! `aws.ecs.task_definition`: one revision of an ECS task definition. The cloud id is the
//! revision's ARN (`arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>`).
//!
//! A revision is immutable: every settable attribute but `tags` forces replacement, which
//! registers a new revision and deregisters the old one.
//!
//! `container_definitions` is a list of maps in the ECS API's own JSON shape (camelCase
//! keys). The keys supported are: `name`, `image`, `cpu`, `memory`, `memoryReservation`,
//! `essential`, `command`, `entryPoint`, `workingDirectory`, `user`, `stopTimeout`,
//! `startTimeout`, `readonlyRootFilesystem`, `dockerLabels`, `portMappings` (`containerPort`,
//! `hostPort`, `protocol`, `name`, `appProtocol`), `environment` (`name`, `value`),
//! `secrets` (`name`, `valueFrom`), `logConfiguration` (`logDriver`, `options`,
//! `secretOptions`), `healthCheck` (`command`, `interval`, `timeout`, `retries`,
//! `startPeriod`) and `dependsOn` (`containerName`, `condition`). Any other key is refused.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    ApplicationProtocol, Compatibility, ContainerCondition, ContainerDefinition,
    ContainerDependency, CpuArchitecture, HealthCheck, KeyValuePair, LogConfiguration, LogDriver,
    NetworkMode, OsFamily, PortMapping, RuntimePlatform, Secret, TaskDefinitionField,
    TaskDefinitionStatus, TransportProtocol,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_str, input_strings, is_owned, require_str, wanted};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, Fields, built, input_map, input_maps, map_of, sdk_tags, strings_value, sync_tags,
};

pub const TYPE_NAME: &str = "aws.ecs.task_definition";

/// DescribeTaskDefinition calls in flight at once (there is no batched read).
const CONCURRENCY: usize = 8;

/// What DescribeTaskDefinition answers for a revision that does not exist.
const NOT_FOUND: &[&str] = &["ClientException"];

const CONTAINER_KEYS: &[&str] = &[
    "name",
    "image",
    "cpu",
    "memory",
    "memoryReservation",
    "essential",
    "command",
    "entryPoint",
    "workingDirectory",
    "user",
    "stopTimeout",
    "startTimeout",
    "readonlyRootFilesystem",
    "dockerLabels",
    "portMappings",
    "environment",
    "secrets",
    "logConfiguration",
    "healthCheck",
    "dependsOn",
];

pub struct TaskDefinition {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A revision of an ECS task definition: the containers of a task. \
                      Immutable: any change registers a new revision and deregisters the old.",
        attributes: vec![
            AttrSchema::required("family", String)
                .forces_replacement()
                .describe("The task definition's family; revisions are numbered within it."),
            AttrSchema::optional("cpu", String)
                .forces_replacement()
                .describe("Task CPU units, e.g. `256`, `1024` (required on Fargate)."),
            AttrSchema::optional("memory", String)
                .forces_replacement()
                .describe("Task memory in MiB, e.g. `512`, `2048` (required on Fargate)."),
            AttrSchema::optional("network_mode", String)
                .default(DefaultValue::Str("awsvpc"))
                .forces_replacement()
                .describe("`awsvpc` (Fargate), `bridge`, `host` or `none`."),
            AttrSchema::optional("requires_compatibilities", List)
                .unordered()
                .forces_replacement()
                .describe("Launch types the task must fit: `FARGATE` (the default when unset), `EC2`."),
            AttrSchema::optional("execution_role_arn", String)
                .forces_replacement()
                .describe("The role ECS uses to pull images and write logs."),
            AttrSchema::optional("task_role_arn", String)
                .forces_replacement()
                .describe("The role the containers' code runs as."),
            AttrSchema::optional("runtime_platform", Map)
                .forces_replacement()
                .describe("`cpu_architecture` (`X86_64`, `ARM64`) and `operating_system_family` (`LINUX`, ...)."),
            AttrSchema::required("container_definitions", List)
                .forces_replacement()
                .describe(
                    "The containers, as maps in the ECS API's JSON shape (camelCase keys): name, \
                     image, cpu, memory, memoryReservation, essential, command, entryPoint, \
                     workingDirectory, user, stopTimeout, startTimeout, readonlyRootFilesystem, \
                     dockerLabels, portMappings, environment, secrets, logConfiguration, \
                     healthCheck, dependsOn.",
                ),
            AttrSchema::optional("tags", Map).describe("Tags on the revision."),
            AttrSchema::computed("id", String).describe("The revision's ARN."),
            AttrSchema::computed("arn", String).describe("The revision's ARN."),
            AttrSchema::computed("revision", Number).describe("The revision number in the family."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "api_task:\n  type: aws.ecs.task_definition\n  properties:\n    family: api\n    \
                  cpu: \"512\"\n    memory: \"1024\"\n    execution_role_arn: ${exec_role.arn}\n    \
                  container_definitions:\n      - name: api\n        image: public.ecr.aws/nginx/nginx:latest\n        \
                  essential: true\n        portMappings:\n          - containerPort: 8000\n        \
                  environment:\n          - name: STAGE\n            value: prod\n        \
                  logConfiguration:\n          logDriver: awslogs\n          options:\n            \
                  awslogs-group: /ecs/api\n            awslogs-region: us-east-1\n            \
                  awslogs-stream-prefix: api\n",
    }
}

/// Container definitions in one canonical form: ECS's defaults filled in (`essential`
/// true, port protocol `tcp`, host port = container port, health check interval 30,
/// timeout 5, retries 3), empty values left out, environment sorted by name.
fn normalize(attr: &str, v: &Value) -> Value {
    match (attr, v) {
        ("container_definitions", Value::List(items)) => {
            Value::List(items.iter().map(normalize_container).collect())
        }
        _ => v.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        _ => false,
    }
}

fn normalize_container(v: &Value) -> Value {
    let Value::Map(m) = v else {
        return v.clone();
    };
    let mut m: BTreeMap<String, Value> = m
        .iter()
        .filter(|(_, v)| !is_empty(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if m.get("cpu").and_then(Value::as_i64) == Some(0) {
        m.remove("cpu");
    }
    m.entry("essential".into()).or_insert(Value::Bool(true));
    if let Some(Value::List(ports)) = m.get_mut("portMappings") {
        for p in ports.iter_mut() {
            if let Value::Map(p) = p {
                p.retain(|_, v| !is_empty(v));
                p.entry("protocol".into())
                    .or_insert_with(|| Value::string("tcp"));
                if let Some(port) = p.get("containerPort").cloned() {
                    p.entry("hostPort".into()).or_insert(port);
                }
            }
        }
    }
    if let Some(Value::List(env)) = m.get_mut("environment") {
        env.sort_by_key(|e| {
            e.as_map()
                .and_then(|e| e.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        });
    }
    if let Some(Value::Map(h)) = m.get_mut("healthCheck") {
        for (k, d) in [("interval", 30), ("timeout", 5), ("retries", 3)] {
            h.entry(k.into()).or_insert(Value::int(d));
        }
    }
    if let Some(Value::Map(l)) = m.get_mut("logConfiguration") {
        l.retain(|_, v| !is_empty(v));
    }
    Value::Map(m)
}

fn field_maps<'a>(
    m: &'a BTreeMap<String, Value>,
    key: &str,
) -> Result<Vec<&'a BTreeMap<String, Value>>, ProviderError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(l)) => l
            .iter()
            .map(|v| {
                v.as_map().ok_or_else(|| {
                    ProviderError::Invalid(format!("`{key}` must be a list of maps"))
                })
            })
            .collect(),
        Some(_) => Err(ProviderError::Invalid(format!(
            "`{key}` must be a list of maps"
        ))),
    }
}

fn field_map<'a>(
    m: &'a BTreeMap<String, Value>,
    key: &str,
) -> Result<Option<&'a BTreeMap<String, Value>>, ProviderError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Map(inner)) => Ok(Some(inner)),
        Some(_) => Err(ProviderError::Invalid(format!("`{key}` must be a map"))),
    }
}

fn string_map(m: Option<&BTreeMap<String, Value>>) -> Option<HashMap<String, String>> {
    m.map(|m| {
        m.iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Secret(s) => s.expose().to_string(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    })
}

fn secrets(list: Vec<&BTreeMap<String, Value>>) -> Result<Vec<Secret>, ProviderError> {
    list.into_iter()
        .map(|s| {
            built(
                Secret::builder()
                    .set_name(s.str_of("name"))
                    .set_value_from(s.str_of("valueFrom"))
                    .build(),
            )
        })
        .collect()
}

/// One container definition from its map in the ECS JSON shape.
fn container(m: &BTreeMap<String, Value>) -> Result<ContainerDefinition, ProviderError> {
    if let Some(k) = m.keys().find(|k| !CONTAINER_KEYS.contains(&k.as_str())) {
        return Err(ProviderError::Invalid(format!(
            "container definition key `{k}` is not supported (supported: {})",
            CONTAINER_KEYS.join(", ")
        )));
    }
    let mut b = ContainerDefinition::builder()
        .set_name(m.str_of("name"))
        .set_image(m.str_of("image"))
        .set_cpu(m.i32_of("cpu")?)
        .set_memory(m.i32_of("memory")?)
        .set_memory_reservation(m.i32_of("memoryReservation")?)
        .set_essential(m.bool_of("essential")?)
        .set_command(m.strings_of("command"))
        .set_entry_point(m.strings_of("entryPoint"))
        .set_working_directory(m.str_of("workingDirectory"))
        .set_user(m.str_of("user"))
        .set_stop_timeout(m.i32_of("stopTimeout")?)
        .set_start_timeout(m.i32_of("startTimeout")?)
        .set_readonly_root_filesystem(m.bool_of("readonlyRootFilesystem")?)
        .set_docker_labels(string_map(field_map(m, "dockerLabels")?));
    for p in field_maps(m, "portMappings")? {
        b = b.port_mappings(
            PortMapping::builder()
                .set_container_port(p.i32_of("containerPort")?)
                .set_host_port(p.i32_of("hostPort")?)
                .set_protocol(
                    p.str_of("protocol")
                        .map(|s| TransportProtocol::from(s.as_str())),
                )
                .set_name(p.str_of("name"))
                .set_app_protocol(
                    p.str_of("appProtocol")
                        .map(|s| ApplicationProtocol::from(s.as_str())),
                )
                .build(),
        );
    }
    for e in field_maps(m, "environment")? {
        b = b.environment(
            KeyValuePair::builder()
                .set_name(e.str_of("name"))
                .set_value(e.str_of("value"))
                .build(),
        );
    }
    let s = secrets(field_maps(m, "secrets")?)?;
    if !s.is_empty() {
        b = b.set_secrets(Some(s));
    }
    if let Some(l) = field_map(m, "logConfiguration")? {
        let opts = secrets(field_maps(l, "secretOptions")?)?;
        b = b.log_configuration(built(
            LogConfiguration::builder()
                .set_log_driver(l.str_of("logDriver").map(|s| LogDriver::from(s.as_str())))
                .set_options(string_map(field_map(l, "options")?))
                .set_secret_options((!opts.is_empty()).then_some(opts))
                .build(),
        )?);
    }
    if let Some(h) = field_map(m, "healthCheck")? {
        b = b.health_check(built(
            HealthCheck::builder()
                .set_command(h.strings_of("command"))
                .set_interval(h.i32_of("interval")?)
                .set_timeout(h.i32_of("timeout")?)
                .set_retries(h.i32_of("retries")?)
                .set_start_period(h.i32_of("startPeriod")?)
                .build(),
        )?);
    }
    for d in field_maps(m, "dependsOn")? {
        b = b.depends_on(built(
            ContainerDependency::builder()
                .set_container_name(d.str_of("containerName"))
                .set_condition(
                    d.str_of("condition")
                        .map(|s| ContainerCondition::from(s.as_str())),
                )
                .build(),
        )?);
    }
    Ok(b.build())
}

fn int(v: Option<i32>) -> Option<Value> {
    v.map(|i| Value::int(i.into()))
}

fn text(v: Option<&str>) -> Option<Value> {
    v.map(Value::string)
}

fn list(items: &[String]) -> Option<Value> {
    (!items.is_empty()).then(|| strings_value(items))
}

fn hash_map(m: Option<&HashMap<String, String>>) -> Option<Value> {
    m.filter(|m| !m.is_empty()).map(|m| {
        Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::string(v)))
                .collect(),
        )
    })
}

fn secrets_value(s: &[Secret]) -> Option<Value> {
    (!s.is_empty()).then(|| {
        Value::List(
            s.iter()
                .map(|s| {
                    map_of(vec![
                        ("name", Some(Value::string(s.name()))),
                        ("valueFrom", Some(Value::string(s.value_from()))),
                    ])
                })
                .collect(),
        )
    })
}

/// A container definition as a map in the ECS JSON shape (the supported keys only).
fn container_value(c: &ContainerDefinition) -> Value {
    let ports = c
        .port_mappings()
        .iter()
        .map(|p| {
            map_of(vec![
                ("containerPort", int(p.container_port())),
                ("hostPort", int(p.host_port())),
                ("protocol", text(p.protocol().map(|x| x.as_str()))),
                ("name", text(p.name())),
                ("appProtocol", text(p.app_protocol().map(|x| x.as_str()))),
            ])
        })
        .collect::<Vec<_>>();
    let env = c
        .environment()
        .iter()
        .map(|e| map_of(vec![("name", text(e.name())), ("value", text(e.value()))]))
        .collect::<Vec<_>>();
    let log = c.log_configuration().map(|l| {
        map_of(vec![
            ("logDriver", Some(Value::string(l.log_driver().as_str()))),
            ("options", hash_map(l.options())),
            ("secretOptions", secrets_value(l.secret_options())),
        ])
    });
    let health = c.health_check().map(|h| {
        map_of(vec![
            ("command", Some(strings_value(h.command()))),
            ("interval", int(h.interval())),
            ("timeout", int(h.timeout())),
            ("retries", int(h.retries())),
            ("startPeriod", int(h.start_period())),
        ])
    });
    let depends = c
        .depends_on()
        .iter()
        .map(|d| {
            map_of(vec![
                ("containerName", Some(Value::string(d.container_name()))),
                ("condition", Some(Value::string(d.condition().as_str()))),
            ])
        })
        .collect::<Vec<_>>();
    map_of(vec![
        ("name", text(c.name())),
        ("image", text(c.image())),
        ("cpu", (c.cpu() != 0).then(|| Value::int(c.cpu().into()))),
        ("memory", int(c.memory())),
        ("memoryReservation", int(c.memory_reservation())),
        ("essential", c.essential().map(Value::Bool)),
        ("command", list(c.command())),
        ("entryPoint", list(c.entry_point())),
        ("workingDirectory", text(c.working_directory())),
        ("user", text(c.user())),
        ("stopTimeout", int(c.stop_timeout())),
        ("startTimeout", int(c.start_timeout())),
        (
            "readonlyRootFilesystem",
            c.readonly_root_filesystem().map(Value::Bool),
        ),
        ("dockerLabels", hash_map(c.docker_labels())),
        (
            "portMappings",
            (!ports.is_empty()).then_some(Value::List(ports)),
        ),
        ("environment", (!env.is_empty()).then_some(Value::List(env))),
        ("secrets", secrets_value(c.secrets())),
        ("logConfiguration", log),
        ("healthCheck", health),
        (
            "dependsOn",
            (!depends.is_empty()).then_some(Value::List(depends)),
        ),
    ])
}

fn task_attributes(
    t: &aws_sdk_ecs::types::TaskDefinition,
    tags: &[aws_sdk_ecs::types::Tag],
) -> Attributes {
    let mut a = Attributes::new();
    let arn = t.task_definition_arn().unwrap_or_default();
    a.insert("id".into(), Value::string(arn));
    a.insert("arn".into(), Value::string(arn));
    a.insert("revision".into(), Value::int(t.revision().into()));
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            a.insert(k.into(), Value::string(v));
        }
    };
    put("family", t.family());
    put("cpu", t.cpu());
    put("memory", t.memory());
    put("network_mode", t.network_mode().map(|m| m.as_str()));
    put("execution_role_arn", t.execution_role_arn());
    put("task_role_arn", t.task_role_arn());
    a.insert(
        "requires_compatibilities".into(),
        Value::List(
            t.requires_compatibilities()
                .iter()
                .map(|c| Value::string(c.as_str()))
                .collect(),
        ),
    );
    if let Some(p) = t.runtime_platform() {
        a.insert(
            "runtime_platform".into(),
            map_of(vec![
                (
                    "cpu_architecture",
                    text(p.cpu_architecture().map(|x| x.as_str())),
                ),
                (
                    "operating_system_family",
                    text(p.operating_system_family().map(|x| x.as_str())),
                ),
            ]),
        );
    }
    a.insert(
        "container_definitions".into(),
        Value::List(
            t.container_definitions()
                .iter()
                .map(container_value)
                .collect(),
        ),
    );
    a.insert("tags".into(), crate::tags_value(tags));
    a
}

impl TaskDefinition {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        TaskDefinition {
            clients,
            schema: schema(),
        }
    }

    /// One revision (ARN or `family:revision`), with its tags; `None` when it does not
    /// exist or is INACTIVE (deregistered).
    async fn read(
        client: &aws_sdk_ecs::Client,
        id: &str,
    ) -> Result<Option<Attributes>, ProviderError> {
        let out = match client
            .describe_task_definition()
            .task_definition(id)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(e);
                return if e.is(NOT_FOUND) {
                    Ok(None)
                } else {
                    Err(e.into_provider("DescribeTaskDefinition"))
                };
            }
        };
        Ok(out
            .task_definition()
            .filter(|t| t.status() != Some(&TaskDefinitionStatus::Inactive))
            .map(|t| task_attributes(t, out.tags())))
    }

    /// The revisions of `ids`, read concurrently (ECS has no batched read).
    async fn read_many(
        &self,
        region: &str,
        ids: Vec<String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let results: Vec<(String, Option<Attributes>)> = futures::stream::iter(ids)
            .map(|id| {
                let client = client.clone();
                async move { Self::read(&client, &id).await.map(|a| (id, a)) }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(results
            .into_iter()
            .filter_map(|(id, a)| Some((id, a?)))
            .collect())
    }
}

#[async_trait]
impl ResourceType for TaskDefinition {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// DescribeTaskDefinition (with tags) per id, concurrently: ECS has no batched read.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids = wanted(req.ids).into_iter().map(str::to_string).collect();
        let found = self.read_many(req.region, ids).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let containers = input_maps(inputs, "container_definitions")?
            .into_iter()
            .map(container)
            .collect::<Result<Vec<_>, _>>()?;
        let mut compat = input_strings(inputs, "requires_compatibilities");
        if compat.is_empty() {
            compat.push("FARGATE".into());
        }
        let platform = input_map(inputs, "runtime_platform")?.map(|p| {
            RuntimePlatform::builder()
                .set_cpu_architecture(
                    p.str_of("cpu_architecture")
                        .map(|s| CpuArchitecture::from(s.as_str())),
                )
                .set_operating_system_family(
                    p.str_of("operating_system_family")
                        .map(|s| OsFamily::from(s.as_str())),
                )
                .build()
        });
        let out = client
            .register_task_definition()
            .family(require_str(inputs, "family")?)
            .set_cpu(input_str(inputs, "cpu"))
            .set_memory(input_str(inputs, "memory"))
            .network_mode(NetworkMode::from(
                input_str(inputs, "network_mode")
                    .unwrap_or_else(|| "awsvpc".into())
                    .as_str(),
            ))
            .set_requires_compatibilities(Some(
                compat
                    .iter()
                    .map(|c| Compatibility::from(c.as_str()))
                    .collect(),
            ))
            .set_execution_role_arn(input_str(inputs, "execution_role_arn"))
            .set_task_role_arn(input_str(inputs, "task_role_arn"))
            .set_runtime_platform(platform)
            .set_container_definitions(Some(containers))
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("RegisterTaskDefinition"))?;
        let t = out.task_definition().ok_or_else(|| {
            ProviderError::api("RegisterTaskDefinition", "no task definition returned")
        })?;
        let id = t.task_definition_arn().unwrap_or_default().to_string();
        // Read back with its tags (RegisterTaskDefinition's answer may leave them out).
        let attributes = match Self::read(&client, &id).await? {
            Some(a) => a,
            None => task_attributes(t, out.tags()),
        };
        Ok(CreateResponse { id, attributes })
    }

    /// Only tags change in place; everything else forces a new revision.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        if req.changed.iter().any(|c| c == "tags") {
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = Self::read(&client, req.id)
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("task definition {}", req.id)))?;
        Ok(UpdateResponse { attributes })
    }

    /// DeregisterTaskDefinition. A revision already deregistered (INACTIVE) or unknown is
    /// fine: on an error, the revision is read and the error only counts if it is ACTIVE.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        match client
            .deregister_task_definition()
            .task_definition(req.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = AwsError::from_sdk(e);
                if Self::read(&client, req.id).await?.is_none() {
                    Ok(())
                } else {
                    Err(err.into_provider("DeregisterTaskDefinition"))
                }
            }
        }
    }

    /// ListTaskDefinitions (ACTIVE revisions), then DescribeTaskDefinition with tags per
    /// revision, concurrently, keeping the owned ones.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let arns: Vec<String> = client
            .list_task_definitions()
            .status(TaskDefinitionStatus::Active)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListTaskDefinitions"))?;
        let mut found = self.read_many(req.region, arns).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
