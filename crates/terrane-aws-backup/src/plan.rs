//! `aws.backup.plan`: when backups are taken, where they go and how long they are kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_backup::types::{BackupPlanInput, BackupRuleInput, CopyAction, Lifecycle};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_i64, input_str, put_str, require_str, retain_owned, wanted,
};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, CONCURRENCY, NOT_FOUND, add_tags, sdk_tags, sync_tags};

pub const TYPE_NAME: &str = "aws.backup.plan";

/// What AWS Backup fills in for a rule that leaves these out.
const DEFAULT_SCHEDULE: &str = "cron(0 5 ? * * *)";
const DEFAULT_START_WINDOW: i64 = 480;
const DEFAULT_COMPLETION_WINDOW: i64 = 10080;

pub struct Plan {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An AWS Backup plan: rules saying when backups are taken, into which vault, how long they are kept and where they are copied.",
        attributes: vec![
            AttrSchema::required("name", String).describe("The plan's name."),
            AttrSchema::required("rules", List)
                .unordered()
                .describe("The rules, each a map: `rule_name`, `target_vault_name`, `schedule_expression` (cron, `cron(0 5 ? * * *)` by default), `start_window_minutes` (480 by default), `completion_window_minutes` (10080 by default), `lifecycle` {`delete_after_days`, `move_to_cold_storage_after_days`}, `copy_actions` [{`destination_vault_arn`, `lifecycle`}], `enable_continuous_backup` (bool). Changed in place with UpdateBackupPlan."),
            AttrSchema::optional("tags", Map).describe("Tags on the plan."),
            AttrSchema::computed("id", String).describe("The plan's id."),
            AttrSchema::computed("arn", String).describe("The plan's ARN."),
            AttrSchema::computed("version_id", String)
                .describe("The plan's version, new with every change."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "daily:\n  type: aws.backup.plan\n  properties:\n    name: daily-dynamodb\n    rules:\n      - rule_name: daily\n        target_vault_name: ${backups.name}\n        schedule_expression: cron(0 4 * * ? *)\n        lifecycle:\n          delete_after_days: 35\n        copy_actions:\n          - destination_vault_arn: arn:aws:backup:us-west-2:123456789012:backup-vault:dr\n            lifecycle:\n              delete_after_days: 35\n",
    }
}

fn as_bool(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Bool(b)) => Value::Bool(*b),
        Some(Value::String(s)) => Value::Bool(s == "true"),
        Some(Value::Unknown) => Value::Unknown,
        _ => Value::Bool(false),
    }
}

/// A lifecycle map without its unset keys; `None` when nothing is left.
fn normal_lifecycle(v: Option<&Value>) -> Option<Value> {
    let m = v?.as_map()?;
    let kept: BTreeMap<String, Value> = m
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!kept.is_empty()).then_some(Value::Map(kept))
}

/// Rules in one canonical form: what AWS fills in when a rule leaves it out filled in,
/// empty lifecycles dropped, so that a rule compares equal to its live form.
fn normalize(attr: &str, v: &Value) -> Value {
    if attr != "rules" {
        return v.clone();
    }
    let Some(rules) = v.as_list() else {
        return v.clone();
    };
    Value::List(
        rules
            .iter()
            .map(|r| {
                let Some(m) = r.as_map() else {
                    return r.clone();
                };
                let mut m = m.clone();
                m.entry("schedule_expression".into())
                    .or_insert(Value::string(DEFAULT_SCHEDULE));
                m.entry("start_window_minutes".into())
                    .or_insert(Value::int(DEFAULT_START_WINDOW));
                m.entry("completion_window_minutes".into())
                    .or_insert(Value::int(DEFAULT_COMPLETION_WINDOW));
                let cont = as_bool(m.get("enable_continuous_backup"));
                m.insert("enable_continuous_backup".into(), cont);
                match normal_lifecycle(m.get("lifecycle")) {
                    Some(l) => m.insert("lifecycle".into(), l),
                    None => m.remove("lifecycle"),
                };
                let copies: Vec<Value> = m
                    .get("copy_actions")
                    .and_then(Value::as_list)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| {
                        let Some(c) = c.as_map() else {
                            return c.clone();
                        };
                        let mut c = c.clone();
                        match normal_lifecycle(c.get("lifecycle")) {
                            Some(l) => c.insert("lifecycle".into(), l),
                            None => c.remove("lifecycle"),
                        };
                        Value::Map(c)
                    })
                    .collect();
                m.insert("copy_actions".into(), Value::List(copies));
                Value::Map(m)
            })
            .collect(),
    )
}

fn invalid(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Invalid(e.to_string())
}

fn lifecycle_input(v: Option<&Value>) -> Result<Option<Lifecycle>, ProviderError> {
    let Some(m) = v.and_then(Value::as_map) else {
        return Ok(None);
    };
    Ok(Some(
        Lifecycle::builder()
            .set_delete_after_days(input_i64(m, "delete_after_days")?)
            .set_move_to_cold_storage_after_days(input_i64(m, "move_to_cold_storage_after_days")?)
            .build(),
    ))
}

/// The `name` and `rules` inputs as the plan document AWS takes.
fn plan_input(inputs: &Attributes) -> Result<BackupPlanInput, ProviderError> {
    let rules = inputs
        .get("rules")
        .and_then(Value::as_list)
        .ok_or_else(|| ProviderError::Invalid("`rules` must be a list of maps".into()))?;
    let mut out = Vec::new();
    for r in rules {
        let m = r
            .as_map()
            .ok_or_else(|| ProviderError::Invalid("each of `rules` must be a map".into()))?;
        let mut copies = Vec::new();
        for c in m
            .get("copy_actions")
            .and_then(Value::as_list)
            .unwrap_or_default()
        {
            let c = c.as_map().ok_or_else(|| {
                ProviderError::Invalid("each of a rule's `copy_actions` must be a map".into())
            })?;
            copies.push(
                CopyAction::builder()
                    .destination_backup_vault_arn(require_str(c, "destination_vault_arn")?)
                    .set_lifecycle(lifecycle_input(c.get("lifecycle"))?)
                    .build()
                    .map_err(invalid)?,
            );
        }
        out.push(
            BackupRuleInput::builder()
                .rule_name(require_str(m, "rule_name")?)
                .target_backup_vault_name(require_str(m, "target_vault_name")?)
                .set_schedule_expression(input_str(m, "schedule_expression"))
                .set_start_window_minutes(input_i64(m, "start_window_minutes")?)
                .set_completion_window_minutes(input_i64(m, "completion_window_minutes")?)
                .set_lifecycle(lifecycle_input(m.get("lifecycle"))?)
                .set_copy_actions((!copies.is_empty()).then_some(copies))
                .set_enable_continuous_backup(input_bool(m, "enable_continuous_backup")?)
                .build()
                .map_err(invalid)?,
        );
    }
    BackupPlanInput::builder()
        .backup_plan_name(require_str(inputs, "name")?)
        .set_rules(Some(out))
        .build()
        .map_err(invalid)
}

fn lifecycle_value(l: Option<&Lifecycle>) -> Option<Value> {
    let l = l?;
    let mut m = BTreeMap::new();
    if let Some(d) = l.delete_after_days() {
        m.insert("delete_after_days".to_string(), Value::int(d));
    }
    if let Some(d) = l.move_to_cold_storage_after_days() {
        m.insert("move_to_cold_storage_after_days".to_string(), Value::int(d));
    }
    (!m.is_empty()).then_some(Value::Map(m))
}

fn rule_value(r: &aws_sdk_backup::types::BackupRule) -> Value {
    let mut m = BTreeMap::new();
    m.insert("rule_name".to_string(), Value::string(r.rule_name()));
    m.insert(
        "target_vault_name".to_string(),
        Value::string(r.target_backup_vault_name()),
    );
    if let Some(s) = r.schedule_expression() {
        m.insert("schedule_expression".to_string(), Value::string(s));
    }
    if let Some(n) = r.start_window_minutes() {
        m.insert("start_window_minutes".to_string(), Value::int(n));
    }
    if let Some(n) = r.completion_window_minutes() {
        m.insert("completion_window_minutes".to_string(), Value::int(n));
    }
    if let Some(l) = lifecycle_value(r.lifecycle()) {
        m.insert("lifecycle".to_string(), l);
    }
    m.insert(
        "copy_actions".to_string(),
        Value::List(
            r.copy_actions()
                .iter()
                .map(|c| {
                    let mut cm = BTreeMap::new();
                    cm.insert(
                        "destination_vault_arn".to_string(),
                        Value::string(c.destination_backup_vault_arn()),
                    );
                    if let Some(l) = lifecycle_value(c.lifecycle()) {
                        cm.insert("lifecycle".to_string(), l);
                    }
                    Value::Map(cm)
                })
                .collect(),
        ),
    );
    m.insert(
        "enable_continuous_backup".to_string(),
        Value::Bool(r.enable_continuous_backup().unwrap_or(false)),
    );
    Value::Map(m)
}

impl Plan {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Plan {
            clients,
            schema: schema(),
        }
    }

    /// Every live plan of the region (one paginated ListBackupPlans; deleted plans, which
    /// AWS keeps listing with a deletion date, are left out) kept where `keep` says so, then
    /// each one's rules (GetBackupPlan) and tags (ListTags): AWS Backup has no batched read
    /// of either, so those are per plan, a few at once.
    async fn list(
        &self,
        region: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        let plans: Vec<_> = client
            .list_backup_plans()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListBackupPlans"))?;
        let ids: Vec<String> = plans
            .iter()
            .filter(|p| p.deletion_date().is_none())
            .filter_map(|p| p.backup_plan_id())
            .filter(|id| keep(id))
            .map(str::to_string)
            .collect();
        let found: BTreeMap<String, Attributes> =
            futures::stream::iter(ids.into_iter().map(|id| {
                let client = client.clone();
                async move {
                    let out = match client.get_backup_plan().backup_plan_id(&id).send().await {
                        Ok(out) => out,
                        Err(e) => {
                            let e = AwsError::from_sdk(e);
                            if e.is(NOT_FOUND) {
                                return Ok(None);
                            }
                            return Err(e.into_provider("GetBackupPlan"));
                        }
                    };
                    if out.deletion_date().is_some() {
                        return Ok(None);
                    }
                    let mut a = Attributes::new();
                    a.insert("id".into(), Value::string(&id));
                    put_str(&mut a, "arn", out.backup_plan_arn());
                    put_str(&mut a, "version_id", out.version_id());
                    if let Some(p) = out.backup_plan() {
                        a.insert("name".into(), Value::string(p.backup_plan_name()));
                        a.insert(
                            "rules".into(),
                            Value::List(p.rules().iter().map(rule_value).collect()),
                        );
                    }
                    a.insert("tags".into(), Value::Map(BTreeMap::new()));
                    Ok::<_, ProviderError>(Some((id, a)))
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await?;
        add_tags(&client, found).await
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.list(region, |i| i == id)
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("backup plan {id}")))
    }
}

#[async_trait]
impl ResourceType for Plan {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids = wanted(req.ids);
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let found = self.list(req.region, |id| ids.contains(id)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let out = client
            .create_backup_plan()
            .backup_plan(plan_input(req.inputs)?)
            .set_backup_plan_tags(sdk_tags(req.inputs))
            .creator_request_id(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateBackupPlan"))?;
        let id = out
            .backup_plan_id()
            .ok_or_else(|| ProviderError::api("CreateBackupPlan", "no plan id returned"))?
            .to_string();
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        if req.changed.iter().any(|c| c == "name" || c == "rules") {
            client
                .update_backup_plan()
                .backup_plan_id(req.id)
                .backup_plan(plan_input(req.inputs)?)
                .send()
                .await
                .map_err(api_error("UpdateBackupPlan"))?;
        }
        if req.changed.iter().any(|c| c == "tags") {
            let arn = require_str(req.prior, "arn")?;
            sync_tags(&client, &arn, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// AWS refuses to delete a plan that still has selections; they are their own
    /// resources (deleted first by the plan's dependents), so that refusal is reported.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        match client
            .delete_backup_plan()
            .backup_plan_id(req.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    Ok(())
                } else if e.is(&["InvalidRequestException"])
                    && e.message.to_lowercase().contains("selection")
                {
                    Err(ProviderError::api(
                        "DeleteBackupPlan",
                        format!(
                            "backup plan {} still has resource selections: delete them first ({})",
                            req.id, e.message
                        ),
                    ))
                } else {
                    Err(e.into_provider("DeleteBackupPlan"))
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
