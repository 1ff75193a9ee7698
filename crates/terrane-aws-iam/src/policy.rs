//! `aws.iam.policy`: a customer managed IAM policy, identified by its ARN.
//!
//! Reads: one paginated ListPolicies (scope `Local`: the account's own policies) tells
//! which requested policies exist; then, per policy (ListPolicies leaves out description,
//! tags and the document, and IAM has no batched read of them), GetPolicy and
//! GetPolicyVersion of the default version, [`crate::READ_CONCURRENCY`] at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::types::{PolicyScopeType, PolicyUsageType};
use terrane_aws_core::inputs::{
    input_json, input_str, is_owned, json_value, put_str, require_str, wanted,
};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, NOT_FOUND, document_value, found_or_none, read_after_write, read_each, some_tags,
    tag_changes, tags_value,
};

pub const TYPE_NAME: &str = "aws.iam.policy";

/// The most versions IAM keeps of one managed policy.
const MAX_VERSIONS: usize = 5;

pub struct Policy {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn normalize(attr: &str, v: &Value) -> Value {
    match attr {
        "policy" => document_value(v),
        _ => v.clone(),
    }
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A customer managed IAM policy, to attach to roles (see \
                      `aws.iam.role`'s `managed_policy_arns`). A change of its document makes \
                      a new default version.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The policy's name, unique in the account."),
            AttrSchema::optional("path", String)
                .default(DefaultValue::Str("/"))
                .forces_replacement()
                .describe("The policy's path, e.g. `/app/` (IAM cannot change it)."),
            AttrSchema::optional("description", String)
                .forces_replacement()
                .describe("What the policy is for (IAM cannot change it)."),
            AttrSchema::required("policy", Any).describe(
                "The policy document: a map in the stack, or JSON text. A change creates a \
                 new default version (deleting the oldest other version when IAM's five are \
                 all used).",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the policy."),
            AttrSchema::computed("arn", String).describe("The policy's ARN; also its id."),
            AttrSchema::computed("policy_id", String)
                .describe("The policy's stable unique id (`ANPA...`)."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "read_assets:\n  type: aws.iam.policy\n  properties:\n    name: read-assets\n    \
                  policy:\n      Version: \"2012-10-17\"\n      Statement:\n        \
                  - Effect: Allow\n          Action: [\"s3:GetObject\"]\n          \
                  Resource: arn:aws:s3:::my-assets/*\n",
    }
}

/// Everything terrane manages of one policy: `None` when it does not exist.
async fn read_policy(
    client: &aws_sdk_iam::Client,
    arn: &str,
) -> Result<Option<Attributes>, ProviderError> {
    let Some(got) = found_or_none(
        "GetPolicy",
        client.get_policy().policy_arn(arn).send().await,
    )?
    else {
        return Ok(None);
    };
    let Some(p) = got.policy() else {
        return Ok(None);
    };
    let mut a = Attributes::new();
    put_str(&mut a, "name", p.policy_name());
    put_str(&mut a, "path", p.path());
    put_str(&mut a, "description", p.description());
    put_str(&mut a, "arn", p.arn());
    put_str(&mut a, "policy_id", p.policy_id());
    a.insert("tags".into(), tags_value(p.tags()));
    if let Some(version) = p.default_version_id() {
        let Some(v) = found_or_none(
            "GetPolicyVersion",
            client
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send()
                .await,
        )?
        else {
            return Ok(None);
        };
        if let Some(doc) = v.policy_version().and_then(|v| v.document()) {
            a.insert("policy".into(), json_value(doc));
        }
    }
    Ok(Some(a))
}

/// The ARN of every customer managed policy of the account: one paginated ListPolicies.
async fn list_policy_arns(client: &aws_sdk_iam::Client) -> Result<Vec<String>, ProviderError> {
    let policies: Vec<_> = client
        .list_policies()
        .scope(PolicyScopeType::Local)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(api_error("ListPolicies"))?;
    Ok(policies
        .iter()
        .filter_map(|p| p.arn().map(str::to_string))
        .collect())
}

impl Policy {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Policy {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_iam::Client {
        crate::client(&self.clients, region)
    }

    /// Makes `document` the policy's default version, first deleting the oldest
    /// non-default version when IAM's limit of five is reached.
    async fn new_version(
        client: &aws_sdk_iam::Client,
        arn: &str,
        document: String,
    ) -> Result<(), ProviderError> {
        let versions: Vec<_> = client
            .list_policy_versions()
            .policy_arn(arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListPolicyVersions"))?;
        if versions.len() >= MAX_VERSIONS {
            let oldest = versions
                .iter()
                .filter(|v| !v.is_default_version())
                .min_by_key(|v| v.create_date().map(|d| (d.secs(), d.subsec_nanos())))
                .and_then(|v| v.version_id());
            if let Some(oldest) = oldest {
                gone_is_ok(
                    "DeletePolicyVersion",
                    client
                        .delete_policy_version()
                        .policy_arn(arn)
                        .version_id(oldest)
                        .send()
                        .await,
                    &[NOT_FOUND],
                )?;
            }
        }
        client
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(document)
            .set_as_default(true)
            .send()
            .await
            .map_err(api_error("CreatePolicyVersion"))?;
        Ok(())
    }
}

#[async_trait]
impl ResourceType for Policy {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let client = self.client(req.region);
        let ids = wanted(req.ids);
        let arns = list_policy_arns(&client)
            .await?
            .into_iter()
            .filter(|a| ids.contains(a.as_str()));
        let found = read_each(arns, |arn| {
            let client = client.clone();
            async move { read_policy(&client, &arn).await }
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let document = input_json(inputs, "policy")?
            .ok_or_else(|| ProviderError::Invalid("`policy` is required".into()))?;
        // CreatePolicy takes no idempotency token: a retried create meets
        // EntityAlreadyExists, and the engine finds the policy again by its ownership tags.
        let out = client
            .create_policy()
            .policy_name(require_str(inputs, "name")?)
            .path(input_str(inputs, "path").unwrap_or_else(|| "/".into()))
            .set_description(input_str(inputs, "description"))
            .policy_document(document)
            .set_tags(some_tags(inputs)?)
            .send()
            .await
            .map_err(api_error("CreatePolicy"))?;
        let arn = out
            .policy()
            .and_then(|p| p.arn())
            .ok_or_else(|| ProviderError::api("CreatePolicy", "no policy ARN returned"))?
            .to_string();
        let attributes =
            read_after_write(&format!("policy {arn}"), || read_policy(&client, &arn)).await?;
        Ok(CreateResponse {
            id: arn,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let (inputs, prior, arn) = (req.inputs, req.prior, req.id);
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        if changed("policy") {
            let document = input_json(inputs, "policy")?
                .ok_or_else(|| ProviderError::Invalid("`policy` is required".into()))?;
            Self::new_version(&client, arn, document).await?;
        }
        if changed("tags") {
            let (set, removed) = tag_changes(inputs, prior)?;
            if !removed.is_empty() {
                client
                    .untag_policy()
                    .policy_arn(arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagPolicy"))?;
            }
            if !set.is_empty() {
                client
                    .tag_policy()
                    .policy_arn(arn)
                    .set_tags(Some(set))
                    .send()
                    .await
                    .map_err(api_error("TagPolicy"))?;
            }
        }
        let attributes =
            read_after_write(&format!("policy {arn}"), || read_policy(&client, arn)).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Detaches the policy from every role, user and group it is attached to
    /// (ListEntitiesForPolicy), deletes its non-default versions, then the policy. A policy
    /// used as a permissions boundary is not stripped from its users (that would widen
    /// their permissions): IAM then refuses the delete, and the error says so.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = self.client(req.region);
        let arn = req.id;
        let Some(pages) = found_or_none(
            "ListEntitiesForPolicy",
            client
                .list_entities_for_policy()
                .policy_arn(arn)
                .policy_usage_filter(PolicyUsageType::PermissionsPolicy)
                .into_paginator()
                .send()
                .try_collect()
                .await,
        )?
        else {
            return Ok(());
        };
        for page in &pages {
            for role in page.policy_roles().iter().filter_map(|r| r.role_name()) {
                gone_is_ok(
                    "DetachRolePolicy",
                    client
                        .detach_role_policy()
                        .role_name(role)
                        .policy_arn(arn)
                        .send()
                        .await,
                    &[NOT_FOUND],
                )?;
            }
            for user in page.policy_users().iter().filter_map(|u| u.user_name()) {
                gone_is_ok(
                    "DetachUserPolicy",
                    client
                        .detach_user_policy()
                        .user_name(user)
                        .policy_arn(arn)
                        .send()
                        .await,
                    &[NOT_FOUND],
                )?;
            }
            for group in page.policy_groups().iter().filter_map(|g| g.group_name()) {
                gone_is_ok(
                    "DetachGroupPolicy",
                    client
                        .detach_group_policy()
                        .group_name(group)
                        .policy_arn(arn)
                        .send()
                        .await,
                    &[NOT_FOUND],
                )?;
            }
        }
        let versions = found_or_none(
            "ListPolicyVersions",
            client
                .list_policy_versions()
                .policy_arn(arn)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await,
        )?
        .unwrap_or_default();
        for v in versions.iter().filter(|v| !v.is_default_version()) {
            gone_is_ok(
                "DeletePolicyVersion",
                client
                    .delete_policy_version()
                    .policy_arn(arn)
                    .set_version_id(v.version_id().map(str::to_string))
                    .send()
                    .await,
                &[NOT_FOUND],
            )?;
        }
        match client.delete_policy().policy_arn(arn).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(&[NOT_FOUND]) {
                    Ok(())
                } else if e.is(&["DeleteConflict"]) {
                    Err(ProviderError::api(
                        "DeletePolicy",
                        format!(
                            "{arn} is still in use, probably as a permissions boundary (terrane \
                             does not remove boundaries, which would widen permissions): {}",
                            e.message
                        ),
                    ))
                } else {
                    Err(e.into_provider("DeletePolicy"))
                }
            }
        }
    }

    /// Lists the account's policies (one paginated ListPolicies), reads each one's tags
    /// (GetPolicy: IAM has no tag filter on its list calls), and reads the owned ones in full.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(req.region);
        let arns = list_policy_arns(&client).await?;
        let tagged = read_each(arns, |arn| {
            let client = client.clone();
            async move {
                let got = found_or_none(
                    "GetPolicy",
                    client.get_policy().policy_arn(&arn).send().await,
                )?;
                Ok(got.and_then(|g| {
                    let tags = tags_value(g.policy()?.tags());
                    Some([("tags".to_string(), tags)].into_iter().collect())
                }))
            }
        })
        .await?;
        let owned: BTreeSet<String> = tagged
            .into_iter()
            .filter(|(_, a)| is_owned(&req, a))
            .map(|(arn, _)| arn)
            .collect();
        read_each(owned, |arn| {
            let client = client.clone();
            async move { read_policy(&client, &arn).await }
        })
        .await
    }
}
