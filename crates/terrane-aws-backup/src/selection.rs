//! `aws.backup.selection`: the resources a backup plan backs up, by ARN or by tag.
//!
//! AWS Backup cannot change a selection: every attribute forces a new one. Selections
//! carry no tags, so they are not found by ownership.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_backup::types::{BackupSelection, Condition, ConditionType};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_strings, require_str, wanted};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, CONCURRENCY, NOT_FOUND};

pub const TYPE_NAME: &str = "aws.backup.selection";

pub struct Selection {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An AWS Backup resource selection: which resources a plan backs up (by ARN or by tag), and the role it backs them up with. Selections cannot be changed: any change makes a new one.",
        attributes: vec![
            AttrSchema::required("plan_id", String)
                .forces_replacement()
                .describe("The id of the backup plan."),
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The selection's name."),
            AttrSchema::required("iam_role_arn", String)
                .forces_replacement()
                .describe("The role AWS Backup assumes to back the resources up."),
            AttrSchema::optional("resources", List)
                .unordered()
                .forces_replacement()
                .describe("ARNs of the resources backed up (`*` for all)."),
            AttrSchema::optional("selection_tags", List)
                .unordered()
                .forces_replacement()
                .describe("Resources backed up by tag, each a map: `type` (`STRINGEQUALS`), `key`, `value`."),
            AttrSchema::computed("id", String)
                .describe("`<plan_id>|<selection_id>`, the selection's id."),
            AttrSchema::computed("selection_id", String).describe("AWS's id of the selection."),
        ],
        taggable: false,
        id_attribute: "id",
        normalize: None,
        example: "tables:\n  type: aws.backup.selection\n  properties:\n    plan_id: ${daily.id}\n    name: dynamodb-tables\n    iam_role_arn: ${backup_role.arn}\n    resources: [\"${users_table.arn}\"]\n    selection_tags:\n      - type: STRINGEQUALS\n        key: backup\n        value: daily\n",
    }
}

/// `<plan_id>|<selection_id>` split in two.
pub fn split_id(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('|')
        .filter(|(p, s)| !p.is_empty() && !s.is_empty())
        .ok_or_else(|| {
            ProviderError::Invalid(format!(
                "backup selection id `{id}` is not `<plan_id>|<selection_id>`"
            ))
        })
}

fn conditions(inputs: &Attributes) -> Result<Option<Vec<Condition>>, ProviderError> {
    let Some(list) = inputs.get("selection_tags").and_then(Value::as_list) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for c in list {
        let m = c.as_map().ok_or_else(|| {
            ProviderError::Invalid("each of `selection_tags` must be a map".into())
        })?;
        let kind =
            terrane_aws_core::inputs::input_str(m, "type").unwrap_or_else(|| "STRINGEQUALS".into());
        out.push(
            Condition::builder()
                .condition_type(ConditionType::from(kind.as_str()))
                .condition_key(require_str(m, "key")?)
                .condition_value(require_str(m, "value")?)
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))?,
        );
    }
    Ok(Some(out))
}

impl Selection {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Selection {
            clients,
            schema: schema(),
        }
    }

    /// One GetBackupSelection per id, a few at once: AWS Backup has no batched read of a
    /// selection's resources (ListBackupSelections gives names and roles only).
    async fn read(
        &self,
        region: &str,
        ids: Vec<String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        futures::stream::iter(ids.into_iter().map(|id| {
            let client = client.clone();
            async move {
                let Ok((plan, sel)) = split_id(&id) else {
                    return Ok(None);
                };
                let out = match client
                    .get_backup_selection()
                    .backup_plan_id(plan)
                    .selection_id(sel)
                    .send()
                    .await
                {
                    Ok(out) => out,
                    Err(e) => {
                        let e = AwsError::from_sdk(e);
                        if e.is(NOT_FOUND) {
                            return Ok(None);
                        }
                        return Err(e.into_provider("GetBackupSelection"));
                    }
                };
                let mut a = Attributes::new();
                a.insert("id".into(), Value::string(&id));
                a.insert("plan_id".into(), Value::string(plan));
                a.insert("selection_id".into(), Value::string(sel));
                if let Some(s) = out.backup_selection() {
                    a.insert("name".into(), Value::string(s.selection_name()));
                    a.insert("iam_role_arn".into(), Value::string(s.iam_role_arn()));
                    a.insert(
                        "resources".into(),
                        Value::List(s.resources().iter().map(Value::string).collect()),
                    );
                    a.insert(
                        "selection_tags".into(),
                        Value::List(
                            s.list_of_tags()
                                .iter()
                                .map(|c| {
                                    Value::Map(
                                        [
                                            ("type", c.condition_type().as_str()),
                                            ("key", c.condition_key()),
                                            ("value", c.condition_value()),
                                        ]
                                        .into_iter()
                                        .map(|(k, v)| (k.to_string(), Value::string(v)))
                                        .collect(),
                                    )
                                })
                                .collect(),
                        ),
                    );
                }
                Ok::<_, ProviderError>(Some((id, a)))
            }
        }))
        .buffer_unordered(CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
    }
}

#[async_trait]
impl ResourceType for Selection {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids: Vec<String> = wanted(req.ids).into_iter().map(str::to_string).collect();
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let found = self.read(req.region, ids).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let plan = require_str(inputs, "plan_id")?;
        let resources = input_strings(inputs, "resources");
        let selection = BackupSelection::builder()
            .selection_name(require_str(inputs, "name")?)
            .iam_role_arn(require_str(inputs, "iam_role_arn")?)
            .set_resources((!resources.is_empty()).then_some(resources))
            .set_list_of_tags(conditions(inputs)?)
            .build()
            .map_err(|e| ProviderError::Invalid(e.to_string()))?;
        let out = client
            .create_backup_selection()
            .backup_plan_id(&plan)
            .backup_selection(selection)
            .creator_request_id(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateBackupSelection"))?;
        let sel = out.selection_id().ok_or_else(|| {
            ProviderError::api("CreateBackupSelection", "no selection id returned")
        })?;
        let id = format!("{plan}|{sel}");
        let attributes = self
            .read(req.region, vec![id.clone()])
            .await?
            .remove(&id)
            .ok_or_else(|| ProviderError::NotFound(format!("backup selection {id}")))?;
        Ok(CreateResponse { id, attributes })
    }

    /// Nothing changes in place (every attribute forces a new selection): reads it back.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let attributes = self
            .read(req.region, vec![req.id.to_string()])
            .await?
            .remove(req.id)
            .ok_or_else(|| ProviderError::NotFound(format!("backup selection {}", req.id)))?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let (plan, sel) = split_id(req.id)?;
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteBackupSelection",
            client
                .delete_backup_selection()
                .backup_plan_id(plan)
                .selection_id(sel)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    /// Selections carry no tags: none are found by ownership.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
