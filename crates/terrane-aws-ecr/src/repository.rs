//! `aws.ecr.repository`: a private ECR repository of container images.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability,
    Repository as SdkRepository, Tag,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_json, input_str, is_owned, json_value, require_str, wanted,
};
use terrane_aws_core::tags::{aws_tags_from_inputs, decoded_tags_value};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ecr.repository";

const NOT_FOUND: &[&str] = &["RepositoryNotFoundException"];
const NO_LIFECYCLE_POLICY: &[&str] = &["LifecyclePolicyNotFoundException"];

/// Names per DescribeRepositories call (ECR's limit).
const NAMES_PER_CALL: usize = 100;

/// Repositories whose tags and lifecycle policy are read at once (ECR has no batched read of
/// either).
const READ_CONCURRENCY: usize = 8;

pub struct Repository {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A private ECR repository of container images, with its tag mutability, scanning, encryption and lifecycle policy.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The repository's name, e.g. `team/app`; also its id."),
            AttrSchema::optional("image_tag_mutability", String)
                .default(DefaultValue::Str("MUTABLE"))
                .describe("`MUTABLE` or `IMMUTABLE` (a pushed tag can never point elsewhere)."),
            AttrSchema::optional("scan_on_push", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether each pushed image is scanned for vulnerabilities."),
            AttrSchema::optional("encryption_type", String)
                .default(DefaultValue::Str("AES256"))
                .forces_replacement()
                .describe("`AES256` or `KMS`."),
            AttrSchema::optional("kms_key", String)
                .forces_replacement()
                .describe("The KMS key (ARN or id) with `encryption_type: KMS`; ECR's managed key when unset."),
            AttrSchema::optional("lifecycle_policy", Any).describe(
                "The lifecycle policy (which images expire): a JSON document (a map in the stack, or JSON text), compared as data.",
            ),
            AttrSchema::optional("force_delete", Bool)
                .default(DefaultValue::Bool(false))
                .describe("terrane-side: whether deleting the repository deletes its images too (otherwise a repository with images refuses to go)."),
            AttrSchema::optional("tags", Map).describe("Tags on the repository."),
            AttrSchema::computed("arn", String).describe("The repository's ARN."),
            AttrSchema::computed("repository_url", String).describe(
                "The URL to push to and pull from: `<account>.dkr.ecr.<region>.amazonaws.com/<name>`.",
            ),
        ],
        taggable: true,
        id_attribute: "name",
        normalize: Some(normalize),
        example: "api_images:\n  type: aws.ecr.repository\n  properties:\n    name: app/api\n    \
                  image_tag_mutability: IMMUTABLE\n    scan_on_push: true\n    lifecycle_policy:\n      \
                  rules:\n        - rulePriority: 1\n          description: keep the last 30 images\n          \
                  selection: { tagStatus: any, countType: imageCountMoreThan, countNumber: 30 }\n          \
                  action: { type: expire }\n",
    }
}

/// The key id of a KMS key ARN (`arn:aws:kms:<region>:<account>:key/<id>`), or the text as is.
fn key_id_of(text: &str) -> &str {
    match text.split_once(":key/") {
        Some((arn, id)) if arn.starts_with("arn:") => id,
        _ => text,
    }
}

/// The schema's normalizer: `kms_key` compared by key id (ECR reports the key's ARN).
pub fn normalize(attr: &str, value: &Value) -> Value {
    match (attr, value) {
        ("kms_key", Value::String(s)) => Value::string(key_id_of(s)),
        _ => value.clone(),
    }
}

fn sdk_tag(k: &str, v: &str) -> Result<Tag, ProviderError> {
    Tag::builder()
        .key(k)
        .value(v)
        .build()
        .map_err(|e| ProviderError::Invalid(e.to_string()))
}

/// A described repository as terrane's attributes (without tags and lifecycle policy).
fn attributes(r: &SdkRepository) -> Option<(String, Attributes)> {
    let name = r.repository_name()?;
    let mut a = Attributes::new();
    a.insert("name".into(), Value::string(name));
    if let Some(m) = r.image_tag_mutability() {
        a.insert("image_tag_mutability".into(), Value::string(m.as_str()));
    }
    a.insert(
        "scan_on_push".into(),
        Value::Bool(
            r.image_scanning_configuration()
                .is_some_and(|s| s.scan_on_push()),
        ),
    );
    let encryption = r.encryption_configuration();
    a.insert(
        "encryption_type".into(),
        Value::string(
            encryption
                .map(|e| e.encryption_type().as_str())
                .unwrap_or("AES256"),
        ),
    );
    if let Some(k) = encryption.and_then(|e| e.kms_key()) {
        a.insert("kms_key".into(), Value::string(k));
    }
    if let Some(arn) = r.repository_arn() {
        a.insert("arn".into(), Value::string(arn));
    }
    if let Some(uri) = r.repository_uri() {
        a.insert("repository_url".into(), Value::string(uri));
    }
    Some((name.to_string(), a))
}

/// Adds a repository's tags and lifecycle policy (two calls, concurrently); `None` when the
/// repository vanished in between.
async fn complete(
    client: &aws_sdk_ecr::Client,
    name: String,
    mut a: Attributes,
) -> Result<Option<(String, Attributes)>, ProviderError> {
    let Some(arn) = a.get("arn").and_then(Value::as_str).map(str::to_string) else {
        return Ok(Some((name, a)));
    };
    let (tags, policy) = tokio::join!(
        client.list_tags_for_resource().resource_arn(&arn).send(),
        client.get_lifecycle_policy().repository_name(&name).send(),
    );
    let tags = match tags {
        Ok(t) => t,
        Err(e) => {
            let e = AwsError::from_sdk(e);
            if e.is(NOT_FOUND) {
                return Ok(None);
            }
            return Err(e.into_provider("ListTagsForResource"));
        }
    };
    a.insert(
        "tags".into(),
        decoded_tags_value(
            tags.tags()
                .iter()
                .map(|t| (t.key(), t.value()))
                .filter(|(k, _)| !k.starts_with("aws:")),
        ),
    );
    match policy {
        Ok(p) => {
            if let Some(text) = p.lifecycle_policy_text() {
                a.insert("lifecycle_policy".into(), json_value(text));
            }
        }
        Err(e) => {
            let e = AwsError::from_sdk(e);
            if e.is(NOT_FOUND) {
                return Ok(None);
            }
            if !e.is(NO_LIFECYCLE_POLICY) {
                return Err(e.into_provider("GetLifecyclePolicy"));
            }
        }
    }
    Ok(Some((name, a)))
}

impl Repository {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Repository {
            clients,
            schema: schema(),
        }
    }

    /// Repositories described by name (all of the region when `names` is `None`): one
    /// paginated DescribeRepositories.
    async fn describe(
        &self,
        client: &aws_sdk_ecr::Client,
        names: Option<Vec<String>>,
    ) -> Result<Vec<SdkRepository>, AwsError> {
        client
            .describe_repositories()
            .set_repository_names(names)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(AwsError::from_sdk)
    }

    /// These repositories (all of the region when `None`) with their tags and lifecycle
    /// policies, which are read per repository, concurrently.
    async fn read(
        &self,
        region: &str,
        names: Option<&[String]>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let repos = match names {
            None => self
                .describe(&client, None)
                .await
                .map_err(|e| e.into_provider("DescribeRepositories"))?,
            Some(names) => {
                let mut repos = Vec::new();
                for chunk in names.chunks(NAMES_PER_CALL) {
                    match self.describe(&client, Some(chunk.to_vec())).await {
                        Ok(found) => repos.extend(found),
                        // One unknown name fails the whole call: list everything instead,
                        // and keep the wanted ones.
                        Err(e) if e.is(NOT_FOUND) => {
                            let ids = wanted(names);
                            let all = self
                                .describe(&client, None)
                                .await
                                .map_err(|e| e.into_provider("DescribeRepositories"))?;
                            repos = all
                                .into_iter()
                                .filter(|r| r.repository_name().is_some_and(|n| ids.contains(n)))
                                .collect();
                            break;
                        }
                        Err(e) => return Err(e.into_provider("DescribeRepositories")),
                    }
                }
                repos
            }
        };
        futures::stream::iter(repos.iter().filter_map(attributes).map(|(name, a)| {
            let client = client.clone();
            async move { complete(&client, name, a).await }
        }))
        .buffer_unordered(READ_CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
    }

    async fn read_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        self.read(region, Some(&[name.to_string()]))
            .await?
            .remove(name)
            .ok_or_else(|| ProviderError::NotFound(format!("ECR repository {name}")))
    }

    async fn put_lifecycle_policy(
        &self,
        client: &aws_sdk_ecr::Client,
        name: &str,
        inputs: &Attributes,
    ) -> Result<(), ProviderError> {
        match input_json(inputs, "lifecycle_policy")? {
            Some(policy) => {
                client
                    .put_lifecycle_policy()
                    .repository_name(name)
                    .lifecycle_policy_text(policy)
                    .send()
                    .await
                    .map_err(api_error("PutLifecyclePolicy"))?;
                Ok(())
            }
            None => gone_is_ok(
                "DeleteLifecyclePolicy",
                client
                    .delete_lifecycle_policy()
                    .repository_name(name)
                    .send()
                    .await,
                NO_LIFECYCLE_POLICY,
            ),
        }
    }
}

#[async_trait]
impl ResourceType for Repository {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// DescribeRepositories by name (100 a call; when one is unknown, which fails the
    /// call, all of the region's are listed instead), then each repository's tags and
    /// lifecycle policy, concurrently.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let names: Vec<String> = wanted(req.ids).into_iter().map(str::to_string).collect();
        let found = self.read(req.region, Some(&names)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let name = require_str(inputs, "name")?;
        let client = crate::client(&self.clients, req.region);
        let tags = aws_tags_from_inputs(inputs)
            .iter()
            .map(|(k, v)| sdk_tag(k, v))
            .collect::<Result<Vec<_>, _>>()?;
        let encryption_type =
            input_str(inputs, "encryption_type").unwrap_or_else(|| "AES256".into());
        let kms_key = input_str(inputs, "kms_key");
        if kms_key.is_some() && encryption_type != "KMS" {
            return Err(ProviderError::Invalid(
                "`kms_key` needs `encryption_type: KMS`".into(),
            ));
        }
        let encryption = EncryptionConfiguration::builder()
            .encryption_type(EncryptionType::from(encryption_type.as_str()))
            .set_kms_key(kms_key)
            .build()
            .map_err(|e| ProviderError::Invalid(e.to_string()))?;
        client
            .create_repository()
            .repository_name(&name)
            .set_image_tag_mutability(
                input_str(inputs, "image_tag_mutability")
                    .map(|m| ImageTagMutability::from(m.as_str())),
            )
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(input_bool(inputs, "scan_on_push")?.unwrap_or(false))
                    .build(),
            )
            .encryption_configuration(encryption)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(api_error("CreateRepository"))?;
        if inputs.get("lifecycle_policy").is_some_and(|v| !v.is_null()) {
            self.put_lifecycle_policy(&client, &name, inputs).await?;
        }
        let attributes = self.read_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        if changed("image_tag_mutability") {
            client
                .put_image_tag_mutability()
                .repository_name(req.id)
                .image_tag_mutability(ImageTagMutability::from(
                    input_str(inputs, "image_tag_mutability")
                        .as_deref()
                        .unwrap_or("MUTABLE"),
                ))
                .send()
                .await
                .map_err(api_error("PutImageTagMutability"))?;
        }
        if changed("scan_on_push") {
            client
                .put_image_scanning_configuration()
                .repository_name(req.id)
                .image_scanning_configuration(
                    ImageScanningConfiguration::builder()
                        .scan_on_push(input_bool(inputs, "scan_on_push")?.unwrap_or(false))
                        .build(),
                )
                .send()
                .await
                .map_err(api_error("PutImageScanningConfiguration"))?;
        }
        if changed("lifecycle_policy") {
            self.put_lifecycle_policy(&client, req.id, inputs).await?;
        }
        if changed("tags") {
            let arn = match req.prior.get("arn").and_then(Value::as_str) {
                Some(arn) => arn.to_string(),
                None => self
                    .read_one(req.region, req.id)
                    .await?
                    .get("arn")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| ProviderError::api("DescribeRepositories", "no ARN"))?,
            };
            let want: BTreeMap<String, String> = aws_tags_from_inputs(inputs).into_iter().collect();
            let have: BTreeMap<String, String> =
                aws_tags_from_inputs(req.prior).into_iter().collect();
            let removed: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            let added = want
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(*v))
                .map(|(k, v)| sdk_tag(k, v))
                .collect::<Result<Vec<_>, _>>()?;
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagResource"))?;
            }
            if !added.is_empty() {
                client
                    .tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(added))
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
        }
        // `force_delete` is terrane's own: nothing to change in AWS.
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let force = input_bool(req.prior, "force_delete")?.unwrap_or(false);
        let result = crate::client(&self.clients, req.region)
            .delete_repository()
            .repository_name(req.id)
            .force(force)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    Ok(())
                } else if e.is(&["RepositoryNotEmptyException"]) {
                    Err(ProviderError::api(
                        "DeleteRepository",
                        format!(
                            "repository {} still holds images; delete them, or set `force_delete: true` to have them deleted with it",
                            req.id
                        ),
                    ))
                } else {
                    Err(e.into_provider("DeleteRepository"))
                }
            }
        }
    }

    /// Every repository of the region with its tags (ECR has no tag filter), kept when
    /// owned.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = self.read(req.region, None).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
