//! `aws.kms.key`: a customer managed KMS key.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_i32, input_json, input_str, is_owned, json_value,
};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, sdk_tags, sync_tags, tags_to_value};

pub const TYPE_NAME: &str = "aws.kms.key";

const NOT_FOUND: &[&str] = &["NotFoundException"];

/// Keys read at once: KMS has no batched describe, so each key is read on its own (its
/// description, policy, rotation status and tags).
const READ_CONCURRENCY: usize = 8;

/// The days a deleted key waits before KMS destroys it, unless set.
const DEFAULT_DELETION_WINDOW: i32 = 30;

pub struct Key {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A customer managed KMS key (symmetric by default), with its key policy and automatic rotation.",
        attributes: vec![
            AttrSchema::optional("description", String).describe("What the key is for."),
            AttrSchema::optional("key_usage", String)
                .default(DefaultValue::Str("ENCRYPT_DECRYPT"))
                .forces_replacement()
                .describe("`ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC` or `KEY_AGREEMENT`."),
            AttrSchema::optional("key_spec", String)
                .default(DefaultValue::Str("SYMMETRIC_DEFAULT"))
                .forces_replacement()
                .describe("The key's type, e.g. `SYMMETRIC_DEFAULT`, `RSA_2048`, `ECC_NIST_P256`, `HMAC_256`."),
            AttrSchema::optional("enable_key_rotation", Bool)
                .default(DefaultValue::Bool(true))
                .describe("Whether KMS rotates the key material yearly (symmetric encryption keys only: set false for others)."),
            AttrSchema::optional("policy", Any).describe(
                "The key policy: a JSON document (a map in the stack, or JSON text), compared as data. KMS's default policy (the account may use the key) when unset.",
            ),
            AttrSchema::optional("multi_region", Bool)
                .default(DefaultValue::Bool(false))
                .forces_replacement()
                .describe("Whether this is the primary key of a multi-Region key."),
            AttrSchema::optional("deletion_window_in_days", Number)
                .default(DefaultValue::Int(30))
                .describe("terrane-side: the days (7-30) a deleted key stays pending deletion, and can be recovered, before KMS destroys it."),
            AttrSchema::optional("tags", Map).describe("Tags on the key."),
            AttrSchema::computed("arn", String).describe("The key's ARN."),
            AttrSchema::computed("key_id", String).describe("The key's id (a UUID); also the resource's id."),
        ],
        taggable: true,
        id_attribute: "key_id",
        normalize: None,
        example: "data_key:\n  type: aws.kms.key\n  properties:\n    description: encrypts the app's data\n    \
                  enable_key_rotation: true\n    deletion_window_in_days: 7\n    tags:\n      team: platform\n",
    }
}

/// A key's state that counts as gone: scheduled for deletion (it cannot be used, and comes
/// back only by CancelKeyDeletion) or already destroyed.
fn is_gone(state: Option<&KeyState>) -> bool {
    matches!(
        state,
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    )
}

/// Everything about one key: DescribeKey, then its policy, rotation status and tags read
/// concurrently. `None` when it does not exist or is pending deletion.
async fn read_key(
    client: &aws_sdk_kms::Client,
    id: &str,
) -> Result<Option<Attributes>, ProviderError> {
    let meta = match client.describe_key().key_id(id).send().await {
        Ok(out) => match out.key_metadata {
            Some(m) => m,
            None => return Ok(None),
        },
        Err(e) => {
            let e = AwsError::from_sdk(e);
            if e.is(NOT_FOUND) {
                return Ok(None);
            }
            return Err(e.into_provider("DescribeKey"));
        }
    };
    if is_gone(meta.key_state()) {
        return Ok(None);
    }
    let key_id = meta.key_id().to_string();
    let symmetric = meta.key_spec() == Some(&KeySpec::SymmetricDefault);
    let (policy, rotation, tags) = tokio::try_join!(
        async {
            client
                .get_key_policy()
                .key_id(&key_id)
                .policy_name("default")
                .send()
                .await
                .map_err(api_error("GetKeyPolicy"))
        },
        async {
            // Only symmetric encryption keys rotate; KMS refuses the question for others.
            if !symmetric {
                return Ok(false);
            }
            client
                .get_key_rotation_status()
                .key_id(&key_id)
                .send()
                .await
                .map(|r| r.key_rotation_enabled())
                .map_err(api_error("GetKeyRotationStatus"))
        },
        async {
            client
                .list_resource_tags()
                .key_id(&key_id)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(api_error("ListResourceTags"))
        },
    )?;
    let mut a = Attributes::new();
    a.insert("key_id".into(), Value::string(&key_id));
    if let Some(arn) = meta.arn() {
        a.insert("arn".into(), Value::string(arn));
    }
    a.insert(
        "description".into(),
        Value::string(meta.description().unwrap_or_default()),
    );
    if let Some(u) = meta.key_usage() {
        a.insert("key_usage".into(), Value::string(u.as_str()));
    }
    if let Some(s) = meta.key_spec() {
        a.insert("key_spec".into(), Value::string(s.as_str()));
    }
    a.insert(
        "multi_region".into(),
        Value::Bool(meta.multi_region().unwrap_or(false)),
    );
    a.insert("enable_key_rotation".into(), Value::Bool(rotation));
    if let Some(p) = policy.policy() {
        a.insert("policy".into(), json_value(p));
    }
    a.insert("tags".into(), tags_to_value(&tags));
    Ok(Some(a))
}

fn deletion_window(inputs: &Attributes) -> Result<i32, ProviderError> {
    let days = input_i32(inputs, "deletion_window_in_days")?.unwrap_or(DEFAULT_DELETION_WINDOW);
    if !(7..=30).contains(&days) {
        return Err(ProviderError::Invalid(format!(
            "`deletion_window_in_days` must be 7 to 30, not {days}"
        )));
    }
    Ok(days)
}

impl Key {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Key {
            clients,
            schema: schema(),
        }
    }

    /// These keys read concurrently, by the id asked for; missing ones are left out.
    async fn read_all(
        &self,
        region: &str,
        ids: Vec<String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        futures::stream::iter(ids.into_iter().map(|id| {
            let client = client.clone();
            async move { Ok::<_, ProviderError>(read_key(&client, &id).await?.map(|a| (id, a))) }
        }))
        .buffer_unordered(READ_CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        read_key(&crate::client(&self.clients, region), id)
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("KMS key {id}")))
    }

    async fn set_rotation(
        &self,
        client: &aws_sdk_kms::Client,
        id: &str,
        on: bool,
    ) -> Result<(), ProviderError> {
        if on {
            client
                .enable_key_rotation()
                .key_id(id)
                .send()
                .await
                .map_err(api_error("EnableKeyRotation"))?;
        } else {
            client
                .disable_key_rotation()
                .key_id(id)
                .send()
                .await
                .map_err(api_error("DisableKeyRotation"))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for Key {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// KMS has no batched describe: each key is read on its own, concurrently.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids: Vec<String> = terrane_aws_core::inputs::wanted(req.ids)
            .into_iter()
            .map(str::to_string)
            .collect();
        let found = self.read_all(req.region, ids).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let spec = input_str(inputs, "key_spec").unwrap_or_else(|| "SYMMETRIC_DEFAULT".into());
        let rotation = input_bool(inputs, "enable_key_rotation")?.unwrap_or(true);
        if rotation && spec != "SYMMETRIC_DEFAULT" {
            return Err(ProviderError::Invalid(format!(
                "a {spec} key cannot rotate automatically: set `enable_key_rotation: false`"
            )));
        }
        deletion_window(inputs)?;
        let out = client
            .create_key()
            .set_description(input_str(inputs, "description"))
            .key_usage(KeyUsageType::from(
                input_str(inputs, "key_usage")
                    .as_deref()
                    .unwrap_or("ENCRYPT_DECRYPT"),
            ))
            .key_spec(KeySpec::from(spec.as_str()))
            .set_policy(input_json(inputs, "policy")?)
            .set_multi_region(input_bool(inputs, "multi_region")?)
            .set_tags(Some(sdk_tags(inputs)?))
            .send()
            .await
            .map_err(api_error("CreateKey"))?;
        let id = out
            .key_metadata()
            .map(|m| m.key_id().to_string())
            .ok_or_else(|| ProviderError::api("CreateKey", "no key returned"))?;
        if rotation {
            self.set_rotation(&client, &id, true).await?;
        }
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        if changed("description") {
            client
                .update_key_description()
                .key_id(req.id)
                .description(input_str(inputs, "description").unwrap_or_default())
                .send()
                .await
                .map_err(api_error("UpdateKeyDescription"))?;
        }
        if changed("policy")
            && let Some(policy) = input_json(inputs, "policy")?
        {
            client
                .put_key_policy()
                .key_id(req.id)
                .policy_name("default")
                .policy(policy)
                .send()
                .await
                .map_err(api_error("PutKeyPolicy"))?;
        }
        if changed("enable_key_rotation") {
            let on = input_bool(inputs, "enable_key_rotation")?.unwrap_or(true);
            self.set_rotation(&client, req.id, on).await?;
        }
        if changed("tags") {
            sync_tags(&client, req.id, inputs, req.prior).await?;
        }
        if changed("deletion_window_in_days") {
            // terrane's own, used at delete: only checked here.
            deletion_window(inputs)?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Schedules the key's deletion after `deletion_window_in_days`; a key already pending
    /// deletion, or unknown, is gone already.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let days = deletion_window(req.prior)?;
        match client
            .schedule_key_deletion()
            .key_id(req.id)
            .pending_window_in_days(days)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    return Ok(());
                }
                // Refused because of the key's state: fine when that state is "pending
                // deletion" (a second delete), an error otherwise.
                if e.is(&["KMSInvalidStateException"]) {
                    let state = client
                        .describe_key()
                        .key_id(req.id)
                        .send()
                        .await
                        .map_err(api_error("DescribeKey"))?;
                    if is_gone(state.key_metadata().and_then(|m| m.key_state())) {
                        return Ok(());
                    }
                }
                Err(e.into_provider("ScheduleKeyDeletion"))
            }
        }
    }

    /// ListKeys, each key's tags read concurrently (KMS has no tag filter), then the owned
    /// keys read in full (which leaves out those pending deletion).
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let keys: Vec<aws_sdk_kms::types::KeyListEntry> = client
            .list_keys()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListKeys"))?;
        let req = &req;
        let owned: Vec<String> =
            futures::stream::iter(keys.into_iter().filter_map(|k| k.key_id).map(|id| {
                let client = client.clone();
                async move {
                    let tags = match client
                        .list_resource_tags()
                        .key_id(&id)
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                    {
                        Ok(tags) => tags,
                        Err(e) => {
                            let e = AwsError::from_sdk(e);
                            if e.is(NOT_FOUND) {
                                return Ok(None);
                            }
                            return Err(e.into_provider("ListResourceTags"));
                        }
                    };
                    let attrs: Attributes = [("tags".to_string(), tags_to_value(&tags))].into();
                    Ok::<_, ProviderError>(is_owned(req, &attrs).then_some(id))
                }
            }))
            .buffer_unordered(READ_CONCURRENCY * 2)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await?;
        self.read_all(req.region, owned).await
    }
}
