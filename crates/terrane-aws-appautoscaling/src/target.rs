//! `aws.appautoscaling.target`: a scalable target (an ECS service's desired count, a
//! DynamoDB table's capacity, ...) with its capacity bounds.
//!
//! The cloud id is `<service_namespace>/<resource_id>/<scalable_dimension>`, e.g.
//! `ecs/service/app/api/ecs:service:DesiredCount`.
//!
//! Not taggable in terrane: RegisterScalableTarget is an upsert keyed by exactly that id,
//! so a create interrupted before its id was recorded is simply made again, never
//! duplicated; ownership tags would buy nothing for recovery and would cost one tag read
//! per target on every refresh (AWS has no batched tag read for scalable targets).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ScalableTarget, ServiceNamespace};
use terrane_aws_core::inputs::{input_i32, input_str, require_str};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, TargetKey, by_namespace, split_id};

pub const TYPE_NAME: &str = "aws.appautoscaling.target";

/// Resource ids per DescribeScalableTargets call (the API's limit).
const DESCRIBE_BATCH: usize = 50;

const NOT_FOUND: &[&str] = &["ObjectNotFoundException"];

pub struct Target {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An Application Auto Scaling scalable target: what is scaled (an ECS \
                      service's desired count, ...) between a minimum and a maximum. Its id is \
                      `<service_namespace>/<resource_id>/<scalable_dimension>`.",
        attributes: vec![
            AttrSchema::required("service_namespace", String)
                .forces_replacement()
                .describe("The scaled resource's service, e.g. `ecs`, `dynamodb`."),
            AttrSchema::required("resource_id", String)
                .forces_replacement()
                .describe("The scaled resource, e.g. `service/<cluster>/<service>` for ECS."),
            AttrSchema::required("scalable_dimension", String)
                .forces_replacement()
                .describe("What is scaled, e.g. `ecs:service:DesiredCount`."),
            AttrSchema::required("min_capacity", Number).describe("The lowest capacity."),
            AttrSchema::required("max_capacity", Number).describe("The highest capacity."),
            AttrSchema::optional("role_arn", String).describe(
                "The role Application Auto Scaling uses (its service-linked role when unset).",
            ),
            AttrSchema::computed("id", String)
                .describe("`<service_namespace>/<resource_id>/<scalable_dimension>`."),
            AttrSchema::computed("arn", String).describe("The scalable target's ARN."),
        ],
        taggable: false,
        id_attribute: "id",
        normalize: None,
        example: "api_scaling:\n  type: aws.appautoscaling.target\n  properties:\n    \
                  service_namespace: ecs\n    resource_id: service/${cluster.name}/${api_service.name}\n    \
                  scalable_dimension: ecs:service:DesiredCount\n    min_capacity: 1\n    \
                  max_capacity: 10\n",
    }
}

fn target_attributes(t: &ScalableTarget) -> Attributes {
    let key = TargetKey {
        namespace: t.service_namespace().as_str().to_string(),
        resource_id: t.resource_id().to_string(),
        dimension: t.scalable_dimension().as_str().to_string(),
    };
    let mut a = Attributes::new();
    a.insert("id".into(), Value::string(key.id()));
    a.insert("service_namespace".into(), Value::string(&key.namespace));
    a.insert("resource_id".into(), Value::string(&key.resource_id));
    a.insert("scalable_dimension".into(), Value::string(&key.dimension));
    a.insert("min_capacity".into(), Value::int(t.min_capacity().into()));
    a.insert("max_capacity".into(), Value::int(t.max_capacity().into()));
    if !t.role_arn().is_empty() {
        a.insert("role_arn".into(), Value::string(t.role_arn()));
    }
    if let Some(arn) = t.scalable_target_arn() {
        a.insert("arn".into(), Value::string(arn));
    }
    a
}

impl Target {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Target {
            clients,
            schema: schema(),
        }
    }

    /// The targets of one namespace (all of them when `resource_ids` is `None`): one
    /// paginated DescribeScalableTargets per 50 resource ids.
    async fn describe(
        client: &aws_sdk_applicationautoscaling::Client,
        namespace: &str,
        resource_ids: Option<Vec<String>>,
    ) -> Result<Vec<ScalableTarget>, ProviderError> {
        let chunks: Vec<Option<Vec<String>>> = match resource_ids {
            None => vec![None],
            Some(ids) => ids
                .chunks(DESCRIBE_BATCH)
                .map(|c| Some(c.to_vec()))
                .collect(),
        };
        let mut out = Vec::new();
        for chunk in chunks {
            let targets: Vec<ScalableTarget> = client
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::from(namespace))
                .set_resource_ids(chunk)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(api_error("DescribeScalableTargets"))?;
            out.extend(targets);
        }
        Ok(out)
    }

    async fn read(
        &self,
        region: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let mut found = BTreeMap::new();
        for (namespace, wanted) in by_namespace(ids) {
            let rids: Vec<String> = wanted
                .iter()
                .map(|(_, k, _)| k.resource_id.clone())
                .collect();
            let targets = Self::describe(&client, &namespace, Some(rids)).await?;
            for t in &targets {
                let a = target_attributes(t);
                let id = a.get("id").and_then(Value::as_str).unwrap_or_default();
                if let Some((asked, _, _)) = wanted.iter().find(|(asked, _, _)| asked == id) {
                    found.insert(asked.clone(), a);
                }
            }
        }
        Ok(found)
    }

    /// Whether the target exists.
    async fn exists(&self, region: &str, id: &str) -> Result<bool, ProviderError> {
        let (key, _) = split_id(id)?;
        let client = crate::client(&self.clients, region);
        let targets =
            Self::describe(&client, &key.namespace, Some(vec![key.resource_id.clone()])).await?;
        Ok(targets
            .iter()
            .any(|t| t.scalable_dimension().as_str() == key.dimension))
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.read(region, &[id.to_string()])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("scalable target {id}")))
    }

    /// RegisterScalableTarget: creates the target, or updates its capacity and role.
    async fn register(&self, region: &str, inputs: &Attributes) -> Result<String, ProviderError> {
        let client = crate::client(&self.clients, region);
        let key = TargetKey {
            namespace: require_str(inputs, "service_namespace")?,
            resource_id: require_str(inputs, "resource_id")?,
            dimension: require_str(inputs, "scalable_dimension")?,
        };
        client
            .register_scalable_target()
            .service_namespace(ServiceNamespace::from(key.namespace.as_str()))
            .resource_id(&key.resource_id)
            .scalable_dimension(ScalableDimension::from(key.dimension.as_str()))
            .set_min_capacity(input_i32(inputs, "min_capacity")?)
            .set_max_capacity(input_i32(inputs, "max_capacity")?)
            .set_role_arn(input_str(inputs, "role_arn"))
            .send()
            .await
            .map_err(api_error("RegisterScalableTarget"))?;
        Ok(key.id())
    }
}

#[async_trait]
impl ResourceType for Target {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// One DescribeScalableTargets per namespace (and 50 resource ids).
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = self.read(req.region, req.ids).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let id = self.register(req.region, req.inputs).await?;
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    /// Capacity and role: RegisterScalableTarget again.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        self.register(req.region, req.inputs).await?;
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// DeregisterScalableTarget (which also deletes its scaling policies). A target
    /// already gone is fine: on an error the target is read, and the error counts only if
    /// it still exists.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let (key, _) = split_id(req.id)?;
        let client = crate::client(&self.clients, req.region);
        let result = client
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::from(key.namespace.as_str()))
            .resource_id(&key.resource_id)
            .scalable_dimension(ScalableDimension::from(key.dimension.as_str()))
            .send()
            .await;
        match gone_is_ok("DeregisterScalableTarget", result, NOT_FOUND) {
            Err(e) if !self.exists(req.region, req.id).await? => {
                tracing::debug!("scalable target {} already gone: {e}", req.id);
                Ok(())
            }
            other => other,
        }
    }

    /// Untaggable (see the module's documentation): nothing to find by tag.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
