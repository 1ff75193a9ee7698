//! `aws.apigateway.stage`: a stage of a REST API, pointing at a deployment of it. Its cloud
//! id is `<rest_api_id>/<stage_name>`. Creating it deploys the API (CreateDeployment) and
//! creates the stage on that deployment; a changed `redeploy_token` deploys again and moves
//! the stage to the new deployment. Old deployments are left for the API's deletion.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{Op, Stage as AwsStage};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_str, input_string_map, is_owned, put_bool, put_str, require_str,
};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, NOT_FOUND, escape, patch, sync_tags, tags_value};

pub const TYPE_NAME: &str = "aws.apigateway.stage";

/// APIs whose stages are read at once during an observe.
const CONCURRENCY: usize = 8;

pub struct Stage {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A stage of a REST API (`prod`, `v1`), serving a deployment of it. \
                      Creating it deploys the API; change `redeploy_token` to deploy again.",
        attributes: vec![
            AttrSchema::required("rest_api_id", String)
                .forces_replacement()
                .describe("The REST API's id."),
            AttrSchema::required("stage_name", String)
                .forces_replacement()
                .describe("The stage's name, the first segment of its URL path."),
            AttrSchema::optional("description", String).describe("What the stage is for."),
            AttrSchema::optional("variables", Map)
                .describe("Stage variables, name to value, readable by integrations."),
            AttrSchema::optional("tracing_enabled", Bool)
                .describe("Whether requests are traced with X-Ray."),
            AttrSchema::optional("redeploy_token", String).describe(
                "Any text; when it changes, the API is deployed again and the stage moved to \
                 the new deployment (e.g. `${filebase64sha256(\"openapi.json\")}`).",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the stage."),
            AttrSchema::computed("arn", String).describe(
                "The stage's ARN (`arn:aws:apigateway:<region>::/restapis/<id>/stages/<name>`), \
                 e.g. for a WAF web ACL association.",
            ),
            AttrSchema::computed("invoke_url", String).describe("The stage's base URL."),
            AttrSchema::computed("deployment_id", String)
                .describe("The deployment the stage serves."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: None,
        example: "prod:\n  type: aws.apigateway.stage\n  properties:\n    \
                  rest_api_id: ${api.id}\n    stage_name: prod\n    tracing_enabled: true\n    \
                  redeploy_token: ${filebase64sha256(\"openapi.json\")}\n    variables:\n      \
                  env: prod\n",
    }
}

fn parse_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
}

fn stage_arn(region: &str, api: &str, stage: &str) -> String {
    format!("arn:aws:apigateway:{region}::/restapis/{api}/stages/{stage}")
}

fn stage_attributes(region: &str, api: &str, s: &AwsStage) -> Option<(String, Attributes)> {
    let name = s.stage_name()?;
    let mut a = Attributes::new();
    a.insert("rest_api_id".into(), Value::string(api));
    a.insert("stage_name".into(), Value::string(name));
    a.insert("arn".into(), Value::string(stage_arn(region, api, name)));
    a.insert(
        "invoke_url".into(),
        Value::string(format!(
            "https://{api}.execute-api.{region}.amazonaws.com/{name}"
        )),
    );
    put_str(&mut a, "deployment_id", s.deployment_id());
    put_str(
        &mut a,
        "description",
        s.description().filter(|d| !d.is_empty()),
    );
    a.insert(
        "variables".into(),
        Value::Map(
            s.variables()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), Value::string(v)))
                .collect(),
        ),
    );
    put_bool(&mut a, "tracing_enabled", Some(s.tracing_enabled()));
    a.insert("tags".into(), tags_value(s.tags()));
    Some((format!("{api}/{name}"), a))
}

impl Stage {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Stage {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_apigateway::Client {
        crate::client(&self.clients, region)
    }

    /// The stages of these APIs that `keep` accepts: one GetStages per API (which answers
    /// for all its stages, with their tags), the APIs read concurrently. An API that does
    /// not exist has no stages.
    async fn read(
        &self,
        region: &str,
        apis: BTreeSet<String>,
        keep: impl Fn(&str) -> bool + Sync,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(region);
        let per_api: Vec<Vec<(String, Attributes)>> = futures::stream::iter(apis)
            .map(|api| {
                let client = client.clone();
                async move {
                    match client.get_stages().rest_api_id(&api).send().await {
                        Ok(out) => Ok(out
                            .item()
                            .iter()
                            .filter_map(|s| stage_attributes(region, &api, s))
                            .collect()),
                        Err(e) => {
                            let e = AwsError::from_sdk(e);
                            if e.is(&[NOT_FOUND]) {
                                Ok(Vec::new())
                            } else {
                                Err(e.into_provider("GetStages"))
                            }
                        }
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(per_api
            .into_iter()
            .flatten()
            .filter(|(id, _)| keep(id))
            .collect())
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        let (api, _) = parse_id(id)
            .ok_or_else(|| ProviderError::Invalid(format!("stage id `{id}`: not api/stage")))?;
        self.read(region, [api.to_string()].into(), |i| i == id)
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("stage {id}")))
    }

    async fn deploy(
        &self,
        client: &aws_sdk_apigateway::Client,
        api: &str,
        inputs: &Attributes,
    ) -> Result<String, ProviderError> {
        let out = client
            .create_deployment()
            .rest_api_id(api)
            .set_description(input_str(inputs, "redeploy_token").map(|t| format!("terrane: {t}")))
            .send()
            .await
            .map_err(api_error("CreateDeployment"))?;
        out.id()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::api("CreateDeployment", "no deployment id returned"))
    }
}

#[async_trait]
impl ResourceType for Stage {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids: BTreeSet<&str> = req.ids.iter().map(String::as_str).collect();
        let apis = ids
            .iter()
            .filter_map(|id| parse_id(id).map(|(api, _)| api.to_string()))
            .collect::<BTreeSet<_>>();
        if apis.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let found = self.read(req.region, apis, |id| ids.contains(id)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let api = require_str(inputs, "rest_api_id")?;
        let name = require_str(inputs, "stage_name")?;
        let deployment = self.deploy(&client, &api, inputs).await?;
        let tags: HashMap<String, String> = terrane_aws_core::tags::aws_tags_from_inputs(inputs)
            .into_iter()
            .collect();
        client
            .create_stage()
            .rest_api_id(&api)
            .stage_name(&name)
            .deployment_id(deployment)
            .set_description(input_str(inputs, "description"))
            .set_variables(input_string_map(inputs, "variables")?.map(|m| m.into_iter().collect()))
            .set_tracing_enabled(input_bool(inputs, "tracing_enabled")?)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(api_error("CreateStage"))?;
        let id = format!("{api}/{name}");
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let inputs = req.inputs;
        let (api, name) = parse_id(req.id).ok_or_else(|| {
            ProviderError::Invalid(format!("stage id `{}`: not api/stage", req.id))
        })?;
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        let mut ops = Vec::new();
        if changed("redeploy_token") {
            let deployment = self.deploy(&client, api, inputs).await?;
            ops.push(patch(Op::Replace, "/deploymentId", Some(deployment)));
        }
        if changed("description") {
            ops.push(patch(
                Op::Replace,
                "/description",
                Some(input_str(inputs, "description").unwrap_or_default()),
            ));
        }
        if changed("tracing_enabled") {
            ops.push(patch(
                Op::Replace,
                "/tracingEnabled",
                Some(
                    input_bool(inputs, "tracing_enabled")?
                        .unwrap_or(false)
                        .to_string(),
                ),
            ));
        }
        if changed("variables") {
            let want = input_string_map(inputs, "variables")?.unwrap_or_default();
            let have = input_string_map(req.prior, "variables")?.unwrap_or_default();
            for k in have.keys().filter(|k| !want.contains_key(*k)) {
                ops.push(patch(
                    Op::Remove,
                    &format!("/variables/{}", escape(k)),
                    None,
                ));
            }
            for (k, v) in want.iter().filter(|(k, v)| have.get(*k) != Some(*v)) {
                ops.push(patch(
                    Op::Replace,
                    &format!("/variables/{}", escape(k)),
                    Some(v.clone()),
                ));
            }
        }
        if !ops.is_empty() {
            client
                .update_stage()
                .rest_api_id(api)
                .stage_name(name)
                .set_patch_operations(Some(ops))
                .send()
                .await
                .map_err(api_error("UpdateStage"))?;
        }
        if changed("tags") {
            sync_tags(
                &client,
                &stage_arn(req.region, api, name),
                inputs,
                req.prior,
            )
            .await?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Deletes the stage; its deployments stay until the API is deleted.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let Some((api, name)) = parse_id(req.id) else {
            return Ok(());
        };
        gone_is_ok(
            "DeleteStage",
            self.client(req.region)
                .delete_stage()
                .rest_api_id(api)
                .stage_name(name)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// No tag filter: every REST API of the region (one paginated GetRestApis) has its
    /// stages read (GetStages, with tags), and those carrying the ownership tags are kept.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let apis: Vec<_> = self
            .client(req.region)
            .get_rest_apis()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("GetRestApis"))?;
        let ids = apis
            .iter()
            .filter_map(|a| a.id().map(str::to_string))
            .collect();
        let mut found = self.read(req.region, ids, |_| true).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
