//! `aws.backup.vault`: a container of recovery points (backups), encrypted with a KMS key.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use terrane_aws_core::inputs::{input_str, put_str, require_str, retain_owned, wanted};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, NOT_FOUND, add_tags, sdk_tags, sync_tags};

pub const TYPE_NAME: &str = "aws.backup.vault";

pub struct Vault {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An AWS Backup vault: where backup plans store recovery points. It cannot be deleted while it holds any.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The vault's name (unique in the region); also its id."),
            AttrSchema::optional("kms_key_arn", String)
                .forces_replacement()
                .describe("The KMS key that encrypts the recovery points (AWS Backup's own key when unset)."),
            AttrSchema::optional("tags", Map).describe("Tags on the vault."),
            AttrSchema::computed("id", String).describe("The vault's name."),
            AttrSchema::computed("arn", String).describe("The vault's ARN."),
            AttrSchema::computed("recovery_points", Number)
                .describe("How many recovery points the vault holds."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "backups:\n  type: aws.backup.vault\n  properties:\n    name: nutritionist-backups\n    kms_key_arn: ${backup_key.arn}\n",
    }
}

impl Vault {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Vault {
            clients,
            schema: schema(),
        }
    }

    /// Every vault of the region (one paginated ListBackupVaults), kept where `keep` says
    /// so, then their tags: one ListTags per vault kept, a few at once (no batched read).
    async fn list(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let vaults: Vec<_> = client
            .list_backup_vaults()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListBackupVaults"))?;
        let mut found = BTreeMap::new();
        for v in &vaults {
            let Some(name) = v.backup_vault_name() else {
                continue;
            };
            if !keep(name) {
                continue;
            }
            let mut a = Attributes::new();
            a.insert("id".into(), Value::string(name));
            a.insert("name".into(), Value::string(name));
            put_str(&mut a, "arn", v.backup_vault_arn());
            put_str(&mut a, "kms_key_arn", v.encryption_key_arn());
            a.insert(
                "recovery_points".into(),
                Value::int(v.number_of_recovery_points()),
            );
            a.insert("tags".into(), Value::Map(BTreeMap::new()));
            found.insert(name.to_string(), a);
        }
        add_tags(&client, found).await
    }

    async fn observe_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        self.list(region, |n| n == name)
            .await?
            .remove(name)
            .ok_or_else(|| ProviderError::NotFound(format!("backup vault {name}")))
    }
}

#[async_trait]
impl ResourceType for Vault {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids = wanted(req.ids);
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let found = self.list(req.region, |n| ids.contains(n)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let name = require_str(inputs, "name")?;
        client
            .create_backup_vault()
            .backup_vault_name(&name)
            .set_encryption_key_arn(input_str(inputs, "kms_key_arn"))
            .set_backup_vault_tags(sdk_tags(inputs))
            .creator_request_id(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateBackupVault"))?;
        let attributes = self.observe_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    /// Only tags change in place; the name and key force a new vault.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        if req.changed.iter().any(|c| c == "tags") {
            let arn = require_str(req.prior, "arn")?;
            sync_tags(&client, &arn, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// A vault that still holds recovery points cannot be deleted: terrane never deletes
    /// backups, so it says so and leaves them to be deleted (or kept) deliberately.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        match client
            .delete_backup_vault()
            .backup_vault_name(req.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    Ok(())
                } else if e.is(&["InvalidRequestException"])
                    && e.message.to_lowercase().contains("recovery point")
                {
                    Err(ProviderError::api(
                        "DeleteBackupVault",
                        format!(
                            "backup vault {} still holds recovery points; terrane does not \
                             delete backups: delete them (or move them) first, then retry ({})",
                            req.id, e.message
                        ),
                    ))
                } else {
                    Err(e.into_provider("DeleteBackupVault"))
                }
            }
        }
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self.list(req.region, |_| true).await?;
        Ok(retain_owned(&req, found))
    }
}
