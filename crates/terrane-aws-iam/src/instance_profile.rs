//! `aws.iam.instance_profile`: the container that hands an IAM role to EC2 instances.
//!
//! Reads: one paginated ListInstanceProfiles tells which requested profiles exist; then a
//! GetInstanceProfile per profile (ListInstanceProfiles leaves out tags, and IAM has no
//! batched read of them), [`crate::READ_CONCURRENCY`] at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use terrane_aws_core::inputs::{input_str, is_owned, require_str, wanted};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, NOT_FOUND, found_or_none, read_after_write, read_each, some_tags, tag_changes,
    tags_value,
};

pub const TYPE_NAME: &str = "aws.iam.instance_profile";

pub struct InstanceProfile {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An IAM instance profile: passes one IAM role to the EC2 instances (or \
                      launch templates) that name it.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The instance profile's name, unique in the account; also its id."),
            AttrSchema::optional("path", String)
                .default(DefaultValue::Str("/"))
                .forces_replacement()
                .describe("The instance profile's path."),
            AttrSchema::optional("role", String).describe(
                "Name of the role the profile carries (an instance profile holds at most one).",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the instance profile."),
            AttrSchema::computed("arn", String).describe("The instance profile's ARN."),
            AttrSchema::computed("unique_id", String)
                .describe("The instance profile's stable unique id (`AIPA...`)."),
        ],
        taggable: true,
        id_attribute: "name",
        normalize: None,
        example: "bastion_profile:\n  type: aws.iam.instance_profile\n  properties:\n    \
                  name: bastion\n    role: ${bastion_role.name}\n",
    }
}

fn profile_attributes(p: &aws_sdk_iam::types::InstanceProfile) -> Attributes {
    let mut a = Attributes::new();
    a.insert("name".into(), Value::string(p.instance_profile_name()));
    a.insert("path".into(), Value::string(p.path()));
    a.insert("arn".into(), Value::string(p.arn()));
    a.insert("unique_id".into(), Value::string(p.instance_profile_id()));
    if let Some(role) = p.roles().first() {
        a.insert("role".into(), Value::string(role.role_name()));
    }
    a.insert("tags".into(), tags_value(p.tags()));
    a
}

async fn read_profile(
    client: &aws_sdk_iam::Client,
    name: &str,
) -> Result<Option<Attributes>, ProviderError> {
    let got = found_or_none(
        "GetInstanceProfile",
        client
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await,
    )?;
    Ok(got.and_then(|g| g.instance_profile().map(profile_attributes)))
}

/// Every instance profile name of the account: one paginated ListInstanceProfiles.
async fn list_names(client: &aws_sdk_iam::Client) -> Result<Vec<String>, ProviderError> {
    let profiles: Vec<_> = client
        .list_instance_profiles()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(api_error("ListInstanceProfiles"))?;
    Ok(profiles
        .iter()
        .map(|p| p.instance_profile_name().to_string())
        .collect())
}

async fn remove_role(
    client: &aws_sdk_iam::Client,
    profile: &str,
    role: &str,
) -> Result<(), ProviderError> {
    gone_is_ok(
        "RemoveRoleFromInstanceProfile",
        client
            .remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await,
        &[NOT_FOUND],
    )
}

async fn add_role(
    client: &aws_sdk_iam::Client,
    profile: &str,
    role: &str,
) -> Result<(), ProviderError> {
    client
        .add_role_to_instance_profile()
        .instance_profile_name(profile)
        .role_name(role)
        .send()
        .await
        .map_err(api_error("AddRoleToInstanceProfile"))?;
    Ok(())
}

impl InstanceProfile {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        InstanceProfile {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_iam::Client {
        crate::client(&self.clients, region)
    }
}

#[async_trait]
impl ResourceType for InstanceProfile {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let client = self.client(req.region);
        let ids = wanted(req.ids);
        let names = list_names(&client)
            .await?
            .into_iter()
            .filter(|n| ids.contains(n.as_str()));
        let found = read_each(names, |n| {
            let client = client.clone();
            async move { read_profile(&client, &n).await }
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let name = require_str(inputs, "name")?;
        // No idempotency token: a retried create meets EntityAlreadyExists, and the engine
        // finds the profile again by its ownership tags.
        client
            .create_instance_profile()
            .instance_profile_name(&name)
            .path(input_str(inputs, "path").unwrap_or_else(|| "/".into()))
            .set_tags(some_tags(inputs)?)
            .send()
            .await
            .map_err(api_error("CreateInstanceProfile"))?;
        if let Some(role) = input_str(inputs, "role") {
            add_role(&client, &name, &role).await?;
        }
        let attributes = read_after_write(&format!("instance profile {name}"), || {
            read_profile(&client, &name)
        })
        .await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let (inputs, prior, name) = (req.inputs, req.prior, req.id);
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        if changed("role") {
            // An instance profile holds one role: the old one goes before the new one comes.
            if let Some(old) = input_str(prior, "role") {
                remove_role(&client, name, &old).await?;
            }
            if let Some(new) = input_str(inputs, "role") {
                add_role(&client, name, &new).await?;
            }
        }
        if changed("tags") {
            let (set, removed) = tag_changes(inputs, prior)?;
            if !removed.is_empty() {
                client
                    .untag_instance_profile()
                    .instance_profile_name(name)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagInstanceProfile"))?;
            }
            if !set.is_empty() {
                client
                    .tag_instance_profile()
                    .instance_profile_name(name)
                    .set_tags(Some(set))
                    .send()
                    .await
                    .map_err(api_error("TagInstanceProfile"))?;
            }
        }
        let attributes = read_after_write(&format!("instance profile {name}"), || {
            read_profile(&client, name)
        })
        .await?;
        Ok(UpdateResponse { attributes })
    }

    /// Takes out the roles the profile holds now (IAM refuses to delete a profile that has
    /// one), then deletes it.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = self.client(req.region);
        let name = req.id;
        let Some(got) = found_or_none(
            "GetInstanceProfile",
            client
                .get_instance_profile()
                .instance_profile_name(name)
                .send()
                .await,
        )?
        else {
            return Ok(());
        };
        for role in got
            .instance_profile()
            .map(|p| p.roles())
            .unwrap_or_default()
        {
            remove_role(&client, name, role.role_name()).await?;
        }
        gone_is_ok(
            "DeleteInstanceProfile",
            client
                .delete_instance_profile()
                .instance_profile_name(name)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// Lists every instance profile (one paginated ListInstanceProfiles), then reads each
    /// one (GetInstanceProfile, for its tags: IAM has no tag filter) and keeps the owned ones.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(req.region);
        let names: BTreeSet<String> = list_names(&client).await?.into_iter().collect();
        let mut all = read_each(names, |n| {
            let client = client.clone();
            async move { read_profile(&client, &n).await }
        })
        .await?;
        all.retain(|_, a| is_owned(&req, a));
        Ok(all)
    }
}
