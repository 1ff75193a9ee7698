//! `aws.apigateway.rest_api`: an API Gateway REST API, optionally defined by an OpenAPI
//! document. Its cloud id is the API's id.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::primitives::Blob;
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, Op, PutMode, RestApi as Api};
use terrane_aws_core::inputs::{
    input_i32, input_json, input_str, input_strings, is_owned, json_value, put_int, put_str,
    put_strings, require_str, wanted,
};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, NOT_FOUND, escape, patch, sync_tags, tags_value};

pub const TYPE_NAME: &str = "aws.apigateway.rest_api";

pub struct RestApi {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An API Gateway REST API, its resources and methods given by an OpenAPI \
                      document. Deploy it with an `aws.apigateway.stage`.",
        attributes: vec![
            AttrSchema::required("name", String).describe("The API's name."),
            AttrSchema::optional("description", String).describe("What the API is for."),
            AttrSchema::optional("endpoint_type", String)
                .default(DefaultValue::Str("EDGE"))
                .describe("`REGIONAL`, `EDGE` (through CloudFront) or `PRIVATE` (VPC endpoints)."),
            AttrSchema::optional("body", Any).describe(
                "The OpenAPI 3 document (a map or JSON text) defining the API's resources, \
                 methods and integrations; replaces them all (PutRestApi, mode overwrite) when \
                 it changes. AWS does not return it: it is compared with the recorded one.",
            ),
            AttrSchema::optional("binary_media_types", List)
                .unordered()
                .describe("Media types handled as binary, e.g. `image/png`, `*/*`."),
            AttrSchema::optional("minimum_compression_size", Number)
                .describe("Responses of at least this many bytes are compressed (0-10485760)."),
            AttrSchema::optional("tags", Map).describe("Tags on the API."),
            AttrSchema::computed("id", String).describe("The API's id; its cloud id."),
            AttrSchema::computed("arn", String)
                .describe("The API's ARN (`arn:aws:apigateway:<region>::/restapis/<id>`)."),
            AttrSchema::computed("root_resource_id", String)
                .describe("The id of the API's `/` resource."),
            AttrSchema::computed("execution_arn", String).describe(
                "The ARN prefix of the API's invocations, for a Lambda permission's \
                 `source_arn` (append `/*/*`). Its account field is `*`: API Gateway does not \
                 report the account.",
            ),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "api:\n  type: aws.apigateway.rest_api\n  properties:\n    name: nutritionist\n    \
                  endpoint_type: REGIONAL\n    body:\n      openapi: 3.0.1\n      \
                  info: { title: nutritionist, version: \"1\" }\n      paths:\n        \
                  /webhook:\n          post:\n            x-amazon-apigateway-integration:\n              \
                  type: aws_proxy\n              httpMethod: POST\n              \
                  uri: ${webhook.invoke_arn}\n",
    }
}

/// The body compares as data, whether written as a map or as JSON text.
pub fn normalize(attr: &str, value: &Value) -> Value {
    match (attr, value) {
        ("body", Value::String(s)) => json_value(s),
        _ => value.clone(),
    }
}

fn api_attributes(region: &str, a: &Api) -> Option<(String, Attributes)> {
    let id = a.id()?.to_string();
    let mut out = Attributes::new();
    out.insert("id".into(), Value::string(&id));
    out.insert(
        "arn".into(),
        Value::string(format!("arn:aws:apigateway:{region}::/restapis/{id}")),
    );
    out.insert(
        "execution_arn".into(),
        Value::string(format!("arn:aws:execute-api:{region}:*:{id}")),
    );
    put_str(&mut out, "name", a.name());
    put_str(
        &mut out,
        "description",
        a.description().filter(|d| !d.is_empty()),
    );
    if let Some(t) = a.endpoint_configuration().and_then(|e| e.types().first()) {
        out.insert("endpoint_type".into(), Value::string(t.as_str()));
    }
    put_strings(&mut out, "binary_media_types", a.binary_media_types());
    put_int(
        &mut out,
        "minimum_compression_size",
        a.minimum_compression_size(),
    );
    put_str(&mut out, "root_resource_id", a.root_resource_id());
    out.insert("tags".into(), tags_value(a.tags()));
    Some((id, out))
}

impl RestApi {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        RestApi {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_apigateway::Client {
        crate::client(&self.clients, region)
    }

    /// Every REST API of the region that `keep` accepts: one paginated GetRestApis, which
    /// carries the tags too.
    async fn list(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let apis: Vec<Api> = self
            .client(region)
            .get_rest_apis()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("GetRestApis"))?;
        Ok(apis
            .iter()
            .filter_map(|a| api_attributes(region, a))
            .filter(|(id, _)| keep(id))
            .collect())
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        match self
            .client(region)
            .get_rest_api()
            .rest_api_id(id)
            .send()
            .await
        {
            Ok(out) => {
                let api = Api::builder()
                    .set_id(out.id().map(str::to_string))
                    .set_name(out.name().map(str::to_string))
                    .set_description(out.description().map(str::to_string))
                    .set_endpoint_configuration(out.endpoint_configuration().cloned())
                    .set_binary_media_types(Some(out.binary_media_types().to_vec()))
                    .set_minimum_compression_size(out.minimum_compression_size())
                    .set_root_resource_id(out.root_resource_id().map(str::to_string))
                    .set_tags(out.tags().cloned())
                    .build();
                api_attributes(region, &api)
                    .map(|(_, a)| a)
                    .ok_or_else(|| ProviderError::NotFound(format!("REST API {id}")))
            }
            Err(e) => Err(api_error("GetRestApi")(e)),
        }
    }

    async fn put_body(
        &self,
        client: &aws_sdk_apigateway::Client,
        id: &str,
        inputs: &Attributes,
    ) -> Result<(), ProviderError> {
        if let Some(body) = input_json(inputs, "body")? {
            client
                .put_rest_api()
                .rest_api_id(id)
                .mode(PutMode::Overwrite)
                .fail_on_warnings(true)
                .body(Blob::new(body.into_bytes()))
                .send()
                .await
                .map_err(api_error("PutRestApi"))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for RestApi {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let ids = wanted(req.ids);
        let found = self.list(req.region, |id| ids.contains(id)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let tags = terrane_aws_core::tags::aws_tags_from_inputs(inputs);
        let binary = input_strings(inputs, "binary_media_types");
        let out = client
            .create_rest_api()
            .name(require_str(inputs, "name")?)
            .set_description(input_str(inputs, "description"))
            .set_endpoint_configuration(input_str(inputs, "endpoint_type").map(|t| {
                EndpointConfiguration::builder()
                    .types(EndpointType::from(t.as_str()))
                    .build()
            }))
            .set_binary_media_types((!binary.is_empty()).then_some(binary))
            .set_minimum_compression_size(input_i32(inputs, "minimum_compression_size")?)
            .set_tags((!tags.is_empty()).then(|| tags.into_iter().collect()))
            .send()
            .await
            .map_err(api_error("CreateRestApi"))?;
        let id = out
            .id()
            .ok_or_else(|| ProviderError::api("CreateRestApi", "no id returned"))?
            .to_string();
        self.put_body(&client, &id, inputs).await?;
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let inputs = req.inputs;
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        let mut ops = Vec::new();
        if changed("name") {
            ops.push(patch(
                Op::Replace,
                "/name",
                Some(require_str(inputs, "name")?),
            ));
        }
        if changed("description") {
            ops.push(patch(
                Op::Replace,
                "/description",
                Some(input_str(inputs, "description").unwrap_or_default()),
            ));
        }
        if changed("endpoint_type") {
            let old = input_str(req.prior, "endpoint_type").unwrap_or_else(|| "EDGE".into());
            ops.push(patch(
                Op::Replace,
                &format!("/endpointConfiguration/types/{old}"),
                input_str(inputs, "endpoint_type"),
            ));
        }
        if changed("binary_media_types") {
            let want = input_strings(inputs, "binary_media_types");
            let have = input_strings(req.prior, "binary_media_types");
            for t in have.iter().filter(|t| !want.contains(t)) {
                ops.push(patch(
                    Op::Remove,
                    &format!("/binaryMediaTypes/{}", escape(t)),
                    None,
                ));
            }
            for t in want.iter().filter(|t| !have.contains(t)) {
                ops.push(patch(
                    Op::Add,
                    &format!("/binaryMediaTypes/{}", escape(t)),
                    None,
                ));
            }
        }
        if changed("minimum_compression_size") {
            ops.push(patch(
                Op::Replace,
                "/minimumCompressionSize",
                Some(
                    input_i32(inputs, "minimum_compression_size")?
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                ),
            ));
        }
        if !ops.is_empty() {
            client
                .update_rest_api()
                .rest_api_id(req.id)
                .set_patch_operations(Some(ops))
                .send()
                .await
                .map_err(api_error("UpdateRestApi"))?;
        }
        if changed("body") {
            self.put_body(&client, req.id, inputs).await?;
        }
        if changed("tags") {
            let arn = format!("arn:aws:apigateway:{}::/restapis/{}", req.region, req.id);
            sync_tags(&client, &arn, inputs, req.prior).await?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Deleting the API deletes its stages and deployments with it.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        gone_is_ok(
            "DeleteRestApi",
            self.client(req.region)
                .delete_rest_api()
                .rest_api_id(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// GetRestApis has no tag filter, but carries the tags: the APIs of the region carrying
    /// the ownership tags, from one paginated listing.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = self.list(req.region, |_| true).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
