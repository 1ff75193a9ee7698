//! `aws.iam.role`: an IAM role, with its managed policy attachments and inline policies.
//!
//! Reads: one paginated ListRoles for the account tells which requested roles exist; then,
//! per role (IAM has no batched read of these), GetRole (permissions boundary and tags,
//! which ListRoles leaves out), ListAttachedRolePolicies and ListRolePolicies with a
//! GetRolePolicy per inline policy, [`crate::READ_CONCURRENCY`] roles at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use terrane_aws_core::inputs::{
    input_i32, input_json, input_str, is_owned, json_value, put_str, put_strings, require_str,
    wanted,
};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, NOT_FOUND, document_value, documents, found_or_none, read_after_write, read_each,
    some_tags, string_set, tag_changes, tags_value,
};

pub const TYPE_NAME: &str = "aws.iam.role";

pub struct Role {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn normalize(attr: &str, v: &Value) -> Value {
    match (attr, v) {
        ("assume_role_policy", v) => document_value(v),
        ("inline_policies", Value::Map(m)) => Value::Map(
            m.iter()
                .map(|(k, d)| (k.clone(), document_value(d)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An IAM role: who may assume it (its trust policy) and what it may do \
                      (managed policies attached, inline policies). Roles for EKS clusters and \
                      nodes, ECS tasks, Lambda functions and IRSA service accounts.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The role's name, unique in the account; also its id."),
            AttrSchema::optional("path", String)
                .default(DefaultValue::Str("/"))
                .forces_replacement()
                .describe("The role's path, e.g. `/service/`."),
            AttrSchema::required("assume_role_policy", Any).describe(
                "The trust policy: a JSON policy document (a map in the stack, or JSON text) \
                 naming who may assume the role.",
            ),
            AttrSchema::optional("description", String).describe("What the role is for."),
            AttrSchema::optional("max_session_duration", Number)
                .default(DefaultValue::Int(3600))
                .describe("Longest session of an assumed role, in seconds (3600-43200)."),
            AttrSchema::optional("permissions_boundary", String)
                .describe("ARN of the managed policy that bounds the role's permissions."),
            AttrSchema::optional("managed_policy_arns", List)
                .unordered()
                .describe(
                    "ARNs of the managed policies attached to the role (exactly these: others \
                     are detached).",
                ),
            AttrSchema::optional("inline_policies", Map).describe(
                "Inline policies by name, each a JSON policy document (exactly these: others \
                 are deleted).",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the role."),
            AttrSchema::computed("arn", String).describe("The role's ARN."),
            AttrSchema::computed("unique_id", String)
                .describe("The role's stable unique id (`AROA...`)."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "node_role:\n  type: aws.iam.role\n  properties:\n    name: eks-nodes\n    \
                  assume_role_policy:\n      Version: \"2012-10-17\"\n      Statement:\n        \
                  - Effect: Allow\n          Principal:\n            Service: ec2.amazonaws.com\n          \
                  Action: sts:AssumeRole\n    managed_policy_arns:\n      \
                  - arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy\n      \
                  - arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly\n",
    }
}

/// Everything terrane manages of one role: `None` when it does not exist.
async fn read_role(
    client: &aws_sdk_iam::Client,
    name: &str,
) -> Result<Option<Attributes>, ProviderError> {
    let Some(got) = found_or_none("GetRole", client.get_role().role_name(name).send().await)?
    else {
        return Ok(None);
    };
    let Some(role) = got.role() else {
        return Ok(None);
    };
    let attached = async {
        found_or_none(
            "ListAttachedRolePolicies",
            client
                .list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await,
        )
    };
    let inline = async {
        let Some(names) = found_or_none(
            "ListRolePolicies",
            client
                .list_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await,
        )?
        else {
            return Ok(None);
        };
        let mut docs = BTreeMap::new();
        for policy in names {
            let out = found_or_none(
                "GetRolePolicy",
                client
                    .get_role_policy()
                    .role_name(name)
                    .policy_name(&policy)
                    .send()
                    .await,
            )?;
            if let Some(out) = out {
                docs.insert(policy, json_value(out.policy_document()));
            }
        }
        Ok::<_, ProviderError>(Some(docs))
    };
    let (attached, inline) = futures::try_join!(attached, inline)?;
    let (Some(attached), Some(inline)) = (attached, inline) else {
        return Ok(None);
    };

    let mut a = Attributes::new();
    a.insert("name".into(), Value::string(role.role_name()));
    a.insert("path".into(), Value::string(role.path()));
    a.insert("arn".into(), Value::string(role.arn()));
    a.insert("unique_id".into(), Value::string(role.role_id()));
    if let Some(doc) = role.assume_role_policy_document() {
        a.insert("assume_role_policy".into(), json_value(doc));
    }
    put_str(&mut a, "description", role.description());
    if let Some(d) = role.max_session_duration() {
        a.insert("max_session_duration".into(), Value::int(d.into()));
    }
    put_str(
        &mut a,
        "permissions_boundary",
        role.permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
    );
    let mut arns: Vec<&str> = attached.iter().filter_map(|p| p.policy_arn()).collect();
    arns.sort_unstable();
    put_strings(&mut a, "managed_policy_arns", &arns);
    a.insert("inline_policies".into(), Value::Map(inline));
    a.insert("tags".into(), tags_value(role.tags()));
    Ok(Some(a))
}

/// Every role name of the account: one paginated ListRoles.
async fn list_role_names(client: &aws_sdk_iam::Client) -> Result<Vec<String>, ProviderError> {
    let roles: Vec<_> = client
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(api_error("ListRoles"))?;
    Ok(roles.iter().map(|r| r.role_name().to_string()).collect())
}

impl Role {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Role {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_iam::Client {
        crate::client(&self.clients, region)
    }

    async fn read_after_write(
        &self,
        client: &aws_sdk_iam::Client,
        name: &str,
    ) -> Result<Attributes, ProviderError> {
        read_after_write(&format!("role {name}"), || read_role(client, name)).await
    }

    async fn attach(
        client: &aws_sdk_iam::Client,
        name: &str,
        arns: impl IntoIterator<Item = &String>,
    ) -> Result<(), ProviderError> {
        for arn in arns {
            client
                .attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(api_error("AttachRolePolicy"))?;
        }
        Ok(())
    }

    async fn put_inline(
        client: &aws_sdk_iam::Client,
        name: &str,
        policies: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        for (policy, doc) in policies {
            client
                .put_role_policy()
                .role_name(name)
                .policy_name(policy)
                .policy_document(doc)
                .send()
                .await
                .map_err(api_error("PutRolePolicy"))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for Role {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let client = self.client(req.region);
        let ids = wanted(req.ids);
        let names = list_role_names(&client)
            .await?
            .into_iter()
            .filter(|n| ids.contains(n.as_str()));
        let found = read_each(names, |n| {
            let client = client.clone();
            async move { read_role(&client, &n).await }
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let name = require_str(inputs, "name")?;
        let trust = input_json(inputs, "assume_role_policy")?
            .ok_or_else(|| ProviderError::Invalid("`assume_role_policy` is required".into()))?;
        // IAM's CreateRole takes no idempotency token: a retried create meets
        // EntityAlreadyExists, and the engine finds the role again by its ownership tags.
        client
            .create_role()
            .role_name(&name)
            .path(input_str(inputs, "path").unwrap_or_else(|| "/".into()))
            .assume_role_policy_document(trust)
            .set_description(input_str(inputs, "description"))
            .set_max_session_duration(input_i32(inputs, "max_session_duration")?)
            .set_permissions_boundary(input_str(inputs, "permissions_boundary"))
            .set_tags(some_tags(inputs)?)
            .send()
            .await
            .map_err(api_error("CreateRole"))?;
        Self::attach(&client, &name, &string_set(inputs, "managed_policy_arns")).await?;
        Self::put_inline(&client, &name, &documents(inputs, "inline_policies")?).await?;
        let attributes = self.read_after_write(&client, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let (inputs, prior, name) = (req.inputs, req.prior, req.id);
        let changed = |a: &str| req.changed.iter().any(|c| c == a);

        if changed("assume_role_policy") {
            let trust = input_json(inputs, "assume_role_policy")?
                .ok_or_else(|| ProviderError::Invalid("`assume_role_policy` is required".into()))?;
            client
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(trust)
                .send()
                .await
                .map_err(api_error("UpdateAssumeRolePolicy"))?;
        }
        if changed("description") || changed("max_session_duration") {
            client
                .update_role()
                .role_name(name)
                .set_description(
                    changed("description")
                        .then(|| input_str(inputs, "description").unwrap_or_default()),
                )
                .set_max_session_duration(if changed("max_session_duration") {
                    input_i32(inputs, "max_session_duration")?.or(Some(3600))
                } else {
                    None
                })
                .send()
                .await
                .map_err(api_error("UpdateRole"))?;
        }
        if changed("permissions_boundary") {
            match input_str(inputs, "permissions_boundary") {
                Some(arn) => client
                    .put_role_permissions_boundary()
                    .role_name(name)
                    .permissions_boundary(arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(api_error("PutRolePermissionsBoundary"))?,
                None => gone_is_ok(
                    "DeleteRolePermissionsBoundary",
                    client
                        .delete_role_permissions_boundary()
                        .role_name(name)
                        .send()
                        .await,
                    &[NOT_FOUND],
                )?,
            }
        }
        if changed("managed_policy_arns") {
            let want = string_set(inputs, "managed_policy_arns");
            let have = string_set(prior, "managed_policy_arns");
            Self::attach(&client, name, want.difference(&have)).await?;
            for arn in have.difference(&want) {
                gone_is_ok(
                    "DetachRolePolicy",
                    client
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send()
                        .await,
                    &[NOT_FOUND],
                )?;
            }
        }
        if changed("inline_policies") {
            let want = documents(inputs, "inline_policies")?;
            let have: BTreeMap<String, Value> = prior
                .get("inline_policies")
                .and_then(Value::as_map)
                .cloned()
                .unwrap_or_default();
            let differs: BTreeMap<String, String> = want
                .iter()
                .filter(|(k, text)| {
                    have.get(*k)
                        .is_none_or(|h| !document_value(h).semantically_equal(&json_value(text)))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Self::put_inline(&client, name, &differs).await?;
            for policy in have.keys().filter(|k| !want.contains_key(*k)) {
                gone_is_ok(
                    "DeleteRolePolicy",
                    client
                        .delete_role_policy()
                        .role_name(name)
                        .policy_name(policy)
                        .send()
                        .await,
                    &[NOT_FOUND],
                )?;
            }
        }
        if changed("tags") {
            let (set, removed) = tag_changes(inputs, prior)?;
            if !removed.is_empty() {
                client
                    .untag_role()
                    .role_name(name)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagRole"))?;
            }
            if !set.is_empty() {
                client
                    .tag_role()
                    .role_name(name)
                    .set_tags(Some(set))
                    .send()
                    .await
                    .map_err(api_error("TagRole"))?;
            }
        }
        let attributes = self.read_after_write(&client, name).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Detaches the managed policies, deletes the inline policies and takes the role out of
    /// its instance profiles (IAM refuses to delete a role that has any), then deletes it.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = self.client(req.region);
        let name = req.id;
        let Some(attached) = found_or_none(
            "ListAttachedRolePolicies",
            client
                .list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await,
        )?
        else {
            return Ok(());
        };
        for arn in attached.iter().filter_map(|p| p.policy_arn()) {
            gone_is_ok(
                "DetachRolePolicy",
                client
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await,
                &[NOT_FOUND],
            )?;
        }
        let inline = found_or_none(
            "ListRolePolicies",
            client
                .list_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await,
        )?
        .unwrap_or_default();
        for policy in inline {
            gone_is_ok(
                "DeleteRolePolicy",
                client
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await,
                &[NOT_FOUND],
            )?;
        }
        let profiles = found_or_none(
            "ListInstanceProfilesForRole",
            client
                .list_instance_profiles_for_role()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await,
        )?
        .unwrap_or_default();
        for profile in profiles {
            gone_is_ok(
                "RemoveRoleFromInstanceProfile",
                client
                    .remove_role_from_instance_profile()
                    .instance_profile_name(profile.instance_profile_name())
                    .role_name(name)
                    .send()
                    .await,
                &[NOT_FOUND],
            )?;
        }
        gone_is_ok(
            "DeleteRole",
            client.delete_role().role_name(name).send().await,
            &[NOT_FOUND],
        )
    }

    /// Lists every role (one paginated ListRoles), reads each one's tags (GetRole: IAM has
    /// no tag filter on its list calls), and reads in full the ones owned.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(req.region);
        let names = list_role_names(&client).await?;
        let tagged = read_each(names, |n| {
            let client = client.clone();
            async move {
                let got = found_or_none("GetRole", client.get_role().role_name(&n).send().await)?;
                Ok(got.and_then(|g| {
                    let tags = tags_value(g.role()?.tags());
                    Some([("tags".to_string(), tags)].into_iter().collect())
                }))
            }
        })
        .await?;
        let owned: BTreeSet<String> = tagged
            .into_iter()
            .filter(|(_, a)| is_owned(&req, a))
            .map(|(n, _)| n)
            .collect();
        read_each(owned, |n| {
            let client = client.clone();
            async move { read_role(&client, &n).await }
        })
        .await
    }
}
