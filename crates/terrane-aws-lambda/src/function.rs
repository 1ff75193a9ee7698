//! `aws.lambda.function`: a Lambda function, with its code (a local zip, an S3 object or a
//! container image), configuration, reserved concurrency and tags. Its cloud id is its name.
//!
//! Environment variables are stored by Lambda in plain view of anyone who can read the
//! function's configuration: secrets belong in Secrets Manager (pass the secret's ARN in an
//! environment variable and read it at run time), not in `environment`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, DeadLetterConfig, Environment, FunctionCode, PackageType, Runtime, TracingConfig,
    TracingMode, VpcConfig,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_i32, input_str, input_string_map, input_strings, is_owned, put_int, put_str, put_strings,
    require_str, wanted,
};
use terrane_aws_core::{AwsError, api_error, gone_is_ok, waiter_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.lambda.function";

const NOT_FOUND: &str = "ResourceNotFoundException";

/// Per-function reads in flight at once during an observe.
const CONCURRENCY: usize = 8;

/// How long a function may take to become Active after a create, or to finish an update.
const WAIT: Duration = Duration::from_secs(10 * 60);

/// The inputs UpdateFunctionConfiguration changes.
const CONFIGURATION: &[&str] = &[
    "runtime",
    "handler",
    "role",
    "memory_size",
    "timeout",
    "description",
    "environment",
    "vpc_config",
    "tracing_mode",
    "dead_letter_target_arn",
    "kms_key_arn",
    "layers",
];

/// The inputs UpdateFunctionCode changes.
const CODE: &[&str] = &[
    "filename",
    "source_code_hash",
    "s3_bucket",
    "s3_key",
    "s3_object_version",
    "image_uri",
    "architectures",
];

pub struct Function {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Lambda function: its code (a local zip file, an S3 object or a \
                      container image), runtime, role, memory, timeout, environment, VPC \
                      attachment and reserved concurrency. Environment variables are not \
                      secret: keep secrets in Secrets Manager and pass their ARNs.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The function's name, unique in the region; its cloud id."),
            AttrSchema::optional("package_type", String)
                .default(DefaultValue::Str("Zip"))
                .forces_replacement()
                .describe("`Zip` (code in a zip archive) or `Image` (a container image)."),
            AttrSchema::optional("runtime", String)
                .describe("The runtime of a `Zip` function, e.g. `python3.12`, `nodejs20.x`."),
            AttrSchema::optional("handler", String)
                .describe("The entry point of a `Zip` function, e.g. `app.handler`."),
            AttrSchema::required("role", String)
                .describe("The ARN of the IAM role the function runs as."),
            AttrSchema::optional("architectures", List).describe(
                "The instruction set: `[x86_64]` (AWS's default) or `[arm64]` (Graviton).",
            ),
            AttrSchema::optional("memory_size", Number)
                .default(DefaultValue::Int(128))
                .describe("Memory in MiB (128-10240); CPU grows with it."),
            AttrSchema::optional("timeout", Number)
                .default(DefaultValue::Int(3))
                .describe("Seconds an invocation may run (1-900)."),
            AttrSchema::optional("description", String).describe("What the function does."),
            AttrSchema::optional("environment", Map).describe(
                "Environment variables, name to value. Visible to anyone who can read the \
                 function: put secrets in Secrets Manager and pass their ARNs here.",
            ),
            AttrSchema::optional("filename", String).local_file().describe(
                "A local zip file holding the code, relative to the stack's directory \
                 (`${path.module}/app.zip` for a module's own), uploaded on create and \
                 whenever `source_code_hash` (or this path) changes.",
            ),
            AttrSchema::optional("source_code_hash", String).describe(
                "The base64 SHA-256 of the code, as Lambda reports it (`CodeSha256`): set it \
                 to `${filebase64sha256(\"app.zip\")}` so that a changed zip is uploaded.",
            ),
            AttrSchema::optional("s3_bucket", String)
                .describe("The S3 bucket holding the code zip (instead of `filename`)."),
            AttrSchema::optional("s3_key", String).describe("The code zip's S3 key."),
            AttrSchema::optional("s3_object_version", String)
                .describe("The code zip's S3 object version (a new version is a code update)."),
            AttrSchema::optional("image_uri", String)
                .describe("The ECR image of an `Image` function."),
            AttrSchema::optional("vpc_config", Map).describe(
                "A VPC attachment: `{subnet_ids, security_group_ids}`; empty lists detach it.",
            ),
            AttrSchema::optional("reserved_concurrent_executions", Number).describe(
                "Concurrency reserved for (and capping) this function; 0 stops all invocations.",
            ),
            AttrSchema::optional("tracing_mode", String)
                .describe("X-Ray tracing: `PassThrough` (default) or `Active`."),
            AttrSchema::optional("dead_letter_target_arn", String).describe(
                "The SQS queue or SNS topic receiving events of failed asynchronous invocations.",
            ),
            AttrSchema::optional("kms_key_arn", String)
                .describe("The KMS key encrypting the environment variables at rest."),
            AttrSchema::optional("layers", List)
                .describe("Layer version ARNs, in the order they are applied."),
            AttrSchema::optional("tags", Map).describe("Tags on the function."),
            AttrSchema::computed("arn", String).describe("The function's ARN."),
            AttrSchema::computed("invoke_arn", String).describe(
                "The ARN API Gateway integrations invoke (`arn:aws:apigateway:...:lambda:path/...`).",
            ),
            AttrSchema::computed("version", String)
                .describe("The function's version (`$LATEST`: terrane does not publish)."),
            AttrSchema::computed("last_modified", String)
                .describe("When the function was last changed."),
        ],
        taggable: true,
        id_attribute: "name",
        normalize: Some(normalize),
        example: "api:\n  type: aws.lambda.function\n  properties:\n    name: api\n    \
                  runtime: python3.12\n    handler: app.handler\n    role: ${api_role.arn}\n    \
                  architectures: [arm64]\n    memory_size: 512\n    timeout: 30\n    \
                  filename: build/api.zip\n    \
                  source_code_hash: ${filebase64sha256(\"build/api.zip\")}\n    \
                  environment:\n      TABLE: ${orders.name}\n      \
                  SECRET_ARN: ${api_secret.arn}\n    tags:\n      team: api\n",
    }
}

/// The VPC attachment's id lists compare as sets.
pub fn normalize(attr: &str, value: &Value) -> Value {
    match (attr, value) {
        ("vpc_config", Value::Map(m)) if !value.contains_unknown() => Value::Map(
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::List(l) => {
                            let mut l = l.clone();
                            l.sort_by_key(|x| x.to_string());
                            Value::List(l)
                        }
                        other => other.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// GetFunction's answer as attributes: configuration, code hash, tags, concurrency.
fn function_attributes(
    region: &str,
    out: &aws_sdk_lambda::operation::get_function::GetFunctionOutput,
) -> Option<(String, Attributes)> {
    let c = out.configuration()?;
    let name = c.function_name()?.to_string();
    let mut a = Attributes::new();
    a.insert("name".into(), Value::string(&name));
    put_str(&mut a, "arn", c.function_arn());
    if let Some(arn) = c.function_arn() {
        a.insert(
            "invoke_arn".into(),
            Value::string(format!(
                "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
            )),
        );
    }
    put_str(
        &mut a,
        "package_type",
        c.package_type().map(PackageType::as_str),
    );
    put_str(&mut a, "runtime", c.runtime().map(Runtime::as_str));
    put_str(&mut a, "handler", c.handler());
    put_str(&mut a, "role", c.role());
    let archs: Vec<&str> = c.architectures().iter().map(Architecture::as_str).collect();
    put_strings(&mut a, "architectures", &archs);
    put_int(&mut a, "memory_size", c.memory_size());
    put_int(&mut a, "timeout", c.timeout());
    // Lambda reports no description as an empty one.
    put_str(
        &mut a,
        "description",
        c.description().filter(|d| !d.is_empty()),
    );
    a.insert(
        "environment".into(),
        Value::Map(
            c.environment()
                .and_then(|e| e.variables())
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), Value::string(v)))
                .collect(),
        ),
    );
    put_str(&mut a, "source_code_hash", c.code_sha256());
    if let Some(image) = out.code().and_then(|c| c.image_uri()) {
        a.insert("image_uri".into(), Value::string(image));
    }
    if let Some(v) = c.vpc_config().filter(|v| !v.subnet_ids().is_empty()) {
        let mut m = BTreeMap::new();
        m.insert(
            "subnet_ids".to_string(),
            Value::List(v.subnet_ids().iter().map(Value::string).collect()),
        );
        m.insert(
            "security_group_ids".to_string(),
            Value::List(v.security_group_ids().iter().map(Value::string).collect()),
        );
        a.insert("vpc_config".into(), Value::Map(m));
    }
    put_int(
        &mut a,
        "reserved_concurrent_executions",
        out.concurrency()
            .and_then(|c| c.reserved_concurrent_executions()),
    );
    put_str(
        &mut a,
        "tracing_mode",
        c.tracing_config()
            .and_then(|t| t.mode())
            .map(TracingMode::as_str),
    );
    put_str(
        &mut a,
        "dead_letter_target_arn",
        c.dead_letter_config().and_then(|d| d.target_arn()),
    );
    put_str(
        &mut a,
        "kms_key_arn",
        c.kms_key_arn().filter(|k| !k.is_empty()),
    );
    let layers: Vec<&str> = c.layers().iter().filter_map(|l| l.arn()).collect();
    put_strings(&mut a, "layers", &layers);
    put_str(&mut a, "version", c.version());
    put_str(&mut a, "last_modified", c.last_modified());
    a.insert(
        "tags".into(),
        terrane_aws_core::tags::decoded_tags_value(
            out.tags()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !k.starts_with("aws:"))
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
    );
    Some((name, a))
}

/// The code as CreateFunction takes it: exactly one of a local zip, an S3 object or an image.
fn function_code(inputs: &Attributes) -> Result<FunctionCode, ProviderError> {
    let mut code = FunctionCode::builder();
    if let Some(path) = input_str(inputs, "filename") {
        code = code.zip_file(Blob::new(read_zip(&path)?));
    } else if let Some(bucket) = input_str(inputs, "s3_bucket") {
        code = code
            .s3_bucket(bucket)
            .set_s3_key(Some(require_str(inputs, "s3_key")?))
            .set_s3_object_version(input_str(inputs, "s3_object_version"));
    } else if let Some(image) = input_str(inputs, "image_uri") {
        code = code.image_uri(image);
    } else {
        return Err(ProviderError::Invalid(
            "a function needs code: `filename`, `s3_bucket` + `s3_key`, or `image_uri`".into(),
        ));
    }
    Ok(code.build())
}

fn read_zip(path: &str) -> Result<Vec<u8>, ProviderError> {
    std::fs::read(path)
        .map_err(|e| ProviderError::Invalid(format!("`filename`: cannot read {path}: {e}")))
}

fn architectures(inputs: &Attributes) -> Option<Vec<Architecture>> {
    let archs = input_strings(inputs, "architectures");
    (!archs.is_empty()).then(|| {
        archs
            .iter()
            .map(|a| Architecture::from(a.as_str()))
            .collect()
    })
}

fn environment(inputs: &Attributes) -> Result<Environment, ProviderError> {
    Ok(Environment::builder()
        .set_variables(Some(
            input_string_map(inputs, "environment")?
                .unwrap_or_default()
                .into_iter()
                .collect::<HashMap<_, _>>(),
        ))
        .build())
}

fn vpc_config(inputs: &Attributes) -> Option<VpcConfig> {
    let m = inputs.get("vpc_config")?.as_map()?;
    let list = |k: &str| -> Vec<String> {
        m.get(k)
            .and_then(Value::as_list)
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(
        VpcConfig::builder()
            .set_subnet_ids(Some(list("subnet_ids")))
            .set_security_group_ids(Some(list("security_group_ids")))
            .build(),
    )
}

impl Function {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Function {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_lambda::Client {
        crate::client(&self.clients, region)
    }

    /// One function by GetFunction (configuration, tags and concurrency in one call);
    /// `None` when it does not exist.
    async fn read_function(
        client: &aws_sdk_lambda::Client,
        region: &str,
        name: &str,
    ) -> Result<Option<(String, Attributes)>, ProviderError> {
        match client.get_function().function_name(name).send().await {
            Ok(out) => Ok(function_attributes(region, &out)),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(&[NOT_FOUND]) {
                    Ok(None)
                } else {
                    Err(e.into_provider("GetFunction"))
                }
            }
        }
    }

    /// The functions named, read concurrently (Lambda has no batched read).
    async fn read_many(
        &self,
        region: &str,
        names: Vec<String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(region);
        futures::stream::iter(names)
            .map(|name| {
                let client = client.clone();
                async move { Self::read_function(&client, region, &name).await }
            })
            .buffer_unordered(CONCURRENCY)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await
    }

    async fn read_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        Self::read_function(&self.client(region), region, name)
            .await?
            .map(|(_, a)| a)
            .ok_or_else(|| ProviderError::NotFound(format!("function {name}")))
    }

    async fn wait_updated(
        &self,
        client: &aws_sdk_lambda::Client,
        name: &str,
    ) -> Result<(), ProviderError> {
        client
            .wait_until_function_updated_v2()
            .function_name(name)
            .wait(WAIT)
            .await
            .map_err(|e| waiter_error(&format!("wait for function {name} to be updated"), e))?;
        Ok(())
    }

    async fn put_concurrency(
        &self,
        client: &aws_sdk_lambda::Client,
        name: &str,
        inputs: &Attributes,
    ) -> Result<(), ProviderError> {
        match input_i32(inputs, "reserved_concurrent_executions")? {
            Some(n) => {
                client
                    .put_function_concurrency()
                    .function_name(name)
                    .reserved_concurrent_executions(n)
                    .send()
                    .await
                    .map_err(api_error("PutFunctionConcurrency"))?;
            }
            None => {
                client
                    .delete_function_concurrency()
                    .function_name(name)
                    .send()
                    .await
                    .map_err(api_error("DeleteFunctionConcurrency"))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for Function {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let names = wanted(req.ids).into_iter().map(str::to_string).collect();
        let found = self.read_many(req.region, names).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let name = require_str(inputs, "name")?;
        let code = function_code(inputs)?;
        let tags: HashMap<String, String> = terrane_aws_core::tags::aws_tags_from_inputs(inputs)
            .into_iter()
            .collect();
        client
            .create_function()
            .function_name(&name)
            .code(code)
            .set_package_type(input_str(inputs, "package_type").map(|p| p.as_str().into()))
            .set_runtime(input_str(inputs, "runtime").map(|r| r.as_str().into()))
            .set_handler(input_str(inputs, "handler"))
            .role(require_str(inputs, "role")?)
            .set_architectures(architectures(inputs))
            .set_memory_size(input_i32(inputs, "memory_size")?)
            .set_timeout(input_i32(inputs, "timeout")?)
            .set_description(input_str(inputs, "description"))
            .set_environment(
                inputs
                    .contains_key("environment")
                    .then(|| environment(inputs))
                    .transpose()?,
            )
            .set_vpc_config(vpc_config(inputs))
            .set_tracing_config(
                input_str(inputs, "tracing_mode")
                    .map(|m| TracingConfig::builder().mode(m.as_str().into()).build()),
            )
            .set_dead_letter_config(
                input_str(inputs, "dead_letter_target_arn")
                    .map(|t| DeadLetterConfig::builder().target_arn(t).build()),
            )
            .set_kms_key_arn(input_str(inputs, "kms_key_arn"))
            .set_layers(Some(input_strings(inputs, "layers")).filter(|l| !l.is_empty()))
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(api_error("CreateFunction"))?;
        client
            .wait_until_function_active_v2()
            .function_name(&name)
            .wait(WAIT)
            .await
            .map_err(|e| waiter_error(&format!("wait for function {name} to be active"), e))?;
        if input_i32(inputs, "reserved_concurrent_executions")?.is_some() {
            self.put_concurrency(&client, &name, inputs).await?;
        }
        let attributes = self.read_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let inputs = req.inputs;
        let name = req.id;
        let changed = |set: &[&str]| req.changed.iter().any(|c| set.contains(&c.as_str()));
        if changed(CONFIGURATION) {
            let only = |a: &str| req.changed.iter().any(|c| c == a);
            client
                .update_function_configuration()
                .function_name(name)
                .set_runtime(input_str(inputs, "runtime").map(|r| r.as_str().into()))
                .set_handler(input_str(inputs, "handler"))
                .set_role(input_str(inputs, "role"))
                .set_memory_size(input_i32(inputs, "memory_size")?)
                .set_timeout(input_i32(inputs, "timeout")?)
                .set_description(
                    only("description")
                        .then(|| input_str(inputs, "description").unwrap_or_default()),
                )
                .set_environment(
                    only("environment")
                        .then(|| environment(inputs))
                        .transpose()?,
                )
                .set_vpc_config(only("vpc_config").then(|| {
                    vpc_config(inputs).unwrap_or_else(|| {
                        VpcConfig::builder()
                            .set_subnet_ids(Some(Vec::new()))
                            .set_security_group_ids(Some(Vec::new()))
                            .build()
                    })
                }))
                .set_tracing_config(only("tracing_mode").then(|| {
                    TracingConfig::builder()
                        .mode(
                            input_str(inputs, "tracing_mode")
                                .unwrap_or_else(|| "PassThrough".into())
                                .as_str()
                                .into(),
                        )
                        .build()
                }))
                .set_dead_letter_config(only("dead_letter_target_arn").then(|| {
                    // An empty target removes the dead-letter configuration.
                    DeadLetterConfig::builder()
                        .target_arn(input_str(inputs, "dead_letter_target_arn").unwrap_or_default())
                        .build()
                }))
                .set_kms_key_arn(
                    only("kms_key_arn")
                        .then(|| input_str(inputs, "kms_key_arn").unwrap_or_default()),
                )
                .set_layers(only("layers").then(|| input_strings(inputs, "layers")))
                .send()
                .await
                .map_err(api_error("UpdateFunctionConfiguration"))?;
            self.wait_updated(&client, name).await?;
        }
        if changed(CODE) {
            let mut call = client
                .update_function_code()
                .function_name(name)
                .set_architectures(architectures(inputs));
            if let Some(path) = input_str(inputs, "filename") {
                call = call.zip_file(Blob::new(read_zip(&path)?));
            } else if let Some(bucket) = input_str(inputs, "s3_bucket") {
                call = call
                    .s3_bucket(bucket)
                    .s3_key(require_str(inputs, "s3_key")?)
                    .set_s3_object_version(input_str(inputs, "s3_object_version"));
            } else if let Some(image) = input_str(inputs, "image_uri") {
                call = call.image_uri(image);
            } else {
                return Err(ProviderError::Invalid(
                    "a function needs code: `filename`, `s3_bucket` + `s3_key`, or `image_uri`"
                        .into(),
                ));
            }
            call.send().await.map_err(api_error("UpdateFunctionCode"))?;
            self.wait_updated(&client, name).await?;
        }
        if changed(&["reserved_concurrent_executions"]) {
            self.put_concurrency(&client, name, inputs).await?;
        }
        if changed(&["tags"]) {
            let arn = match req.prior.get("arn").and_then(Value::as_str) {
                Some(arn) => arn.to_string(),
                None => self
                    .read_one(req.region, name)
                    .await?
                    .get("arn")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| ProviderError::api("GetFunction", "no ARN returned"))?,
            };
            let want: BTreeMap<String, String> =
                terrane_aws_core::tags::aws_tags_from_inputs(inputs)
                    .into_iter()
                    .collect();
            let have: BTreeMap<String, String> =
                terrane_aws_core::tags::aws_tags_from_inputs(req.prior)
                    .into_iter()
                    .collect();
            let removed: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            let set: HashMap<String, String> = want
                .into_iter()
                .filter(|(k, v)| have.get(k) != Some(v))
                .collect();
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource(&arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagResource"))?;
            }
            if !set.is_empty() {
                client
                    .tag_resource()
                    .resource(&arn)
                    .set_tags(Some(set))
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
        }
        let attributes = self.read_one(req.region, name).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        gone_is_ok(
            "DeleteFunction",
            self.client(req.region)
                .delete_function()
                .function_name(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// ListFunctions has no tag filter: every function of the region is listed (paginated)
    /// and read with GetFunction (which carries its tags), concurrently; those carrying the
    /// ownership tags are kept.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let pages: Vec<_> = self
            .client(req.region)
            .list_functions()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListFunctions"))?;
        let names: Vec<String> = pages
            .iter()
            .flat_map(|p| p.functions())
            .filter_map(|f| f.function_name().map(str::to_string))
            .collect();
        let mut found = self.read_many(req.region, names).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
