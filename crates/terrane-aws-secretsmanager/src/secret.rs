//! `aws.secretsmanager.secret`: a Secrets Manager secret, and (write-only) its value.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry, Tag};
use terrane_aws_core::inputs::{input_i32, input_secret, input_str, is_owned, require_str};
use terrane_aws_core::tags::{aws_tags_from_inputs, decoded_tags_value, encode_tag_value};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::{
    AttrSchema, DefaultValue, OWNERSHIP_TAG_STACK, ResourceSchema, Value, ValueType,
};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.secretsmanager.secret";

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// Values per ListSecrets filter (Secrets Manager's limit).
const FILTER_VALUES: usize = 10;

/// The days a deleted secret can be restored, unless set.
const DEFAULT_RECOVERY_WINDOW: i64 = 30;

pub struct Secret {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Secrets Manager secret. Its value (`secret_string`) is write-only: terrane never reads it back, and tracks it by a digest in state.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The secret's name, e.g. `prod/app/api-key` (a deleted secret's name is taken until its recovery window ends)."),
            AttrSchema::optional("description", String).describe("What the secret is for."),
            AttrSchema::optional("kms_key_id", String).describe(
                "The KMS key encrypting the secret's values (id, ARN or alias; `aws/secretsmanager` when unset); a change applies to new values.",
            ),
            AttrSchema::optional("secret_string", String)
                .sensitive()
                .describe("The secret's value: write-only, never read back; a change stores a new version (PutSecretValue)."),
            AttrSchema::optional("recovery_window_in_days", Number)
                .default(DefaultValue::Int(30))
                .describe("terrane-side: the days (7-30) a deleted secret can still be restored; 0 deletes it at once, without recovery."),
            AttrSchema::optional("tags", Map).describe("Tags on the secret."),
            AttrSchema::computed("arn", String).describe("The secret's ARN; also its id."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "api_key:\n  type: aws.secretsmanager.secret\n  properties:\n    name: prod/app/api-key\n    \
                  description: the upstream API's key\n    kms_key_id: ${key.arn}\n    \
                  secret_string: ${var.api_key}\n    recovery_window_in_days: 7\n",
    }
}

/// The key id of a KMS key ARN (`arn:aws:kms:<region>:<account>:key/<id>`), or the text as is.
fn key_id_of(text: &str) -> &str {
    match text.split_once(":key/") {
        Some((arn, id)) if arn.starts_with("arn:") => id,
        _ => text,
    }
}

/// The schema's normalizer: `kms_key_id` compared by key id, whether written as an id or an
/// ARN.
pub fn normalize(attr: &str, value: &Value) -> Value {
    match (attr, value) {
        ("kms_key_id", Value::String(s)) => Value::string(key_id_of(s)),
        _ => value.clone(),
    }
}

/// The name in a secret's ARN (`...:secret:<name>-<6 random characters>`).
fn name_of_arn(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":secret:")?;
    let cut = rest.len().checked_sub(7)?;
    (rest.as_bytes().get(cut) == Some(&b'-')).then(|| &rest[..cut])
}

/// The `tags` input as Secrets Manager tags (ownership tag values encoded into the
/// characters Secrets Manager allows).
fn sdk_tags(inputs: &Attributes) -> Vec<Tag> {
    aws_tags_from_inputs(inputs)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// A listed secret as terrane's attributes (never its value: ListSecrets does not return it).
fn attributes(s: &SecretListEntry) -> Attributes {
    let mut a = Attributes::new();
    if let Some(arn) = s.arn() {
        a.insert("arn".into(), Value::string(arn));
    }
    if let Some(name) = s.name() {
        a.insert("name".into(), Value::string(name));
    }
    a.insert(
        "description".into(),
        Value::string(s.description().unwrap_or_default()),
    );
    if let Some(k) = s.kms_key_id() {
        a.insert("kms_key_id".into(), Value::string(k));
    }
    a.insert(
        "tags".into(),
        decoded_tags_value(
            s.tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))))
                .filter(|(k, _)| !k.starts_with("aws:")),
        ),
    );
    a
}

fn recovery_window(inputs: &Attributes) -> Result<i64, ProviderError> {
    let days = match inputs.get("recovery_window_in_days") {
        None | Some(Value::Null) => DEFAULT_RECOVERY_WINDOW,
        Some(_) => i64::from(input_i32(inputs, "recovery_window_in_days")?.unwrap_or(30)),
    };
    if days != 0 && !(7..=30).contains(&days) {
        return Err(ProviderError::Invalid(format!(
            "`recovery_window_in_days` must be 0 or 7 to 30, not {days}"
        )));
    }
    Ok(days)
}

impl Secret {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Secret {
            clients,
            schema: schema(),
        }
    }

    /// The live secrets (not pending deletion) matching `filters`: one paginated ListSecrets.
    async fn list(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<Vec<SecretListEntry>, ProviderError> {
        let pages = crate::client(&self.clients, region)
            .list_secrets()
            .set_filters((!filters.is_empty()).then_some(filters))
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListSecrets"))?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.secret_list.unwrap_or_default())
            .filter(|s| s.deleted_date().is_none())
            .collect())
    }

    async fn read_one(&self, region: &str, arn: &str) -> Result<Attributes, ProviderError> {
        self.observe(ObserveRequest {
            region,
            ids: &[arn.to_string()],
        })
        .await?
        .found
        .remove(arn)
        .ok_or_else(|| ProviderError::NotFound(format!("secret {arn}")))
    }
}

#[async_trait]
impl ResourceType for Secret {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// ListSecrets filtered by the names the ids carry (ten names a call, prefix matches
    /// kept only when the ARN or name is exactly one asked for). Ids are ARNs; a plain name
    /// (as given to `terrane import`) is accepted too. Values are never read: BatchGetSecretValue
    /// would return them.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let mut names: Vec<String> = req
            .ids
            .iter()
            .map(|id| name_of_arn(id).unwrap_or(id).to_string())
            .collect();
        names.sort();
        names.dedup();
        let mut found = BTreeMap::new();
        for chunk in names.chunks(FILTER_VALUES) {
            let filter = Filter::builder()
                .key(FilterNameStringType::Name)
                .set_values(Some(chunk.to_vec()))
                .build();
            for s in self.list(req.region, vec![filter]).await? {
                for id in req.ids {
                    if s.arn() == Some(id.as_str()) || s.name() == Some(id.as_str()) {
                        found.insert(id.clone(), attributes(&s));
                    }
                }
            }
        }
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        recovery_window(inputs)?;
        let value = input_secret(inputs, "secret_string");
        let tags = sdk_tags(inputs);
        let out = crate::client(&self.clients, req.region)
            .create_secret()
            .name(require_str(inputs, "name")?)
            .set_description(input_str(inputs, "description"))
            .set_kms_key_id(input_str(inputs, "kms_key_id"))
            // The token names the first version: a retried create with it is a no-op.
            // Secrets Manager takes 32-64 characters (the engine's are UUIDs); otherwise the
            // SDK makes one.
            .set_client_request_token(
                (value.is_some() && (32..=64).contains(&req.client_token.len()))
                    .then(|| req.client_token.to_string()),
            )
            .set_secret_string(value)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(api_error("CreateSecret"))?;
        let id = out
            .arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::api("CreateSecret", "no ARN returned"))?;
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        if changed("description") || changed("kms_key_id") {
            client
                .update_secret()
                .secret_id(req.id)
                .description(input_str(inputs, "description").unwrap_or_default())
                .set_kms_key_id(input_str(inputs, "kms_key_id"))
                .send()
                .await
                .map_err(api_error("UpdateSecret"))?;
        }
        if changed("secret_string")
            && let Some(value) = input_secret(inputs, "secret_string")
        {
            // A new version, made current; the SDK fills in its idempotency token.
            client
                .put_secret_value()
                .secret_id(req.id)
                .secret_string(value)
                .send()
                .await
                .map_err(api_error("PutSecretValue"))?;
        }
        if changed("tags") {
            let want: BTreeMap<String, String> = aws_tags_from_inputs(inputs).into_iter().collect();
            let have: BTreeMap<String, String> =
                aws_tags_from_inputs(req.prior).into_iter().collect();
            let removed: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            let added: Vec<Tag> = want
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(*v))
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .secret_id(req.id)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagResource"))?;
            }
            if !added.is_empty() {
                client
                    .tag_resource()
                    .secret_id(req.id)
                    .set_tags(Some(added))
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
        }
        if changed("recovery_window_in_days") {
            // terrane's own, used at delete: only checked here.
            recovery_window(inputs)?;
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Schedules the deletion after `recovery_window_in_days` (0: at once, without
    /// recovery). A secret unknown or already scheduled for deletion is gone already.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let days = recovery_window(req.prior)?;
        let call = client.delete_secret().secret_id(req.id);
        let call = if days == 0 {
            call.force_delete_without_recovery(true)
        } else {
            call.recovery_window_in_days(days)
        };
        match call.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    return Ok(());
                }
                // Refused when already marked deleted: fine, it is going.
                if e.is(&["InvalidRequestException"]) {
                    let gone = match client.describe_secret().secret_id(req.id).send().await {
                        Ok(d) => d.deleted_date().is_some(),
                        Err(d) => AwsError::from_sdk(d).is(NOT_FOUND),
                    };
                    if gone {
                        return Ok(());
                    }
                }
                Err(e.into_provider("DeleteSecret"))
            }
        }
    }

    /// ListSecrets filtered on the stack's ownership tag (key and value; the pair is
    /// checked here, since the filters match keys and values separately).
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let filters = vec![
            Filter::builder()
                .key(FilterNameStringType::TagKey)
                .values(OWNERSHIP_TAG_STACK)
                .build(),
            Filter::builder()
                .key(FilterNameStringType::TagValue)
                .values(encode_tag_value(OWNERSHIP_TAG_STACK, req.stack))
                .build(),
        ];
        Ok(self
            .list(req.region, filters)
            .await?
            .iter()
            .map(attributes)
            .filter(|a| is_owned(&req, a))
            .filter_map(|a| {
                let arn = a.get("arn")?.as_str()?.to_string();
                Some((arn, a))
            })
            .collect())
    }
}
