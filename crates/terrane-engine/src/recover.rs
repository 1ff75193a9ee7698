//! Resolving operations a previous run began but never finished (a crash, `kill -9`).
//!
//! A create whose intent was journalled may or may not have reached AWS. Tokens cannot be
//! relied on (not every API takes one, and some endpoints ignore them), but every create
//! carries terrane's ownership tags from its first instant, so the resource is looked up
//! by tag: found, it is adopted into state; not found, the intent is closed and the plan
//! creates it.

use std::collections::BTreeMap;

use terrane_core::{SecretHasher, Value};
use terrane_plan::RecordedResource;
use terrane_provider::{FindRequest, Registry};
use terrane_state::{RecordChange, StackRecord, StateStore};

use crate::EngineError;

#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Addresses whose interrupted create was found in AWS and recorded.
    pub adopted: Vec<String>,
    /// Interrupted operations closed with nothing to adopt.
    pub closed: usize,
    /// Addresses where more than one resource carried the tags: all but one were deleted.
    pub duplicates_removed: Vec<String>,
}

pub async fn recover_interrupted(
    registry: &Registry,
    state: &mut StateStore,
    stack_rec: &StackRecord,
    run_id: i64,
) -> Result<RecoveryReport, EngineError> {
    let mut report = RecoveryReport::default();
    let hasher = SecretHasher::new(stack_rec.secret_salt.clone());
    for intent in state.open_intents(stack_rec)? {
        let recorded = state.resource(stack_rec, &intent.address)?;
        let provider = registry.get(&intent.type_name);
        if intent.operation != "create" || provider.is_none() {
            state.journal_outcome(
                stack_rec,
                run_id,
                intent.journal_id,
                "abandoned",
                None,
                Some("interrupted; the next plan redoes it"),
                RecordChange::None,
            )?;
            report.closed += 1;
            continue;
        }
        let provider = provider.expect("checked above");
        let found = provider
            .find_by_ownership(FindRequest {
                region: &intent.region,
                stack: &stack_rec.name,
                address: Some(intent.address.as_str()),
            })
            .await
            .map_err(|e| {
                EngineError::Other(format!(
                    "recovering the interrupted create of {}: {e}",
                    intent.address
                ))
            })?;
        let known_id = recorded.as_ref().map(|r| r.cloud_id.clone());
        let mut candidates: Vec<(String, BTreeMap<String, Value>)> = found
            .into_iter()
            .filter(|(id, _)| Some(id) != known_id.as_ref())
            .collect();
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        if candidates.is_empty() {
            state.journal_outcome(
                stack_rec,
                run_id,
                intent.journal_id,
                "abandoned",
                None,
                Some("interrupted before AWS created anything"),
                RecordChange::None,
            )?;
            report.closed += 1;
            continue;
        }
        if recorded.is_some() {
            // State already has one for this address (the old half of a replacement); the
            // extra tagged resource is the interrupted create: keep the recorded one.
            for (id, attrs) in &candidates {
                let _ = provider
                    .delete(terrane_provider::DeleteRequest {
                        region: &intent.region,
                        id,
                        prior: attrs,
                    })
                    .await;
                report.duplicates_removed.push(intent.address.to_string());
            }
            state.journal_outcome(
                stack_rec,
                run_id,
                intent.journal_id,
                "abandoned",
                None,
                Some("interrupted create removed"),
                RecordChange::None,
            )?;
            continue;
        }
        let (id, attrs) = candidates.remove(0);
        for (extra_id, extra) in &candidates {
            let _ = provider
                .delete(terrane_provider::DeleteRequest {
                    region: &intent.region,
                    id: extra_id,
                    prior: extra,
                })
                .await;
            report.duplicates_removed.push(intent.address.to_string());
        }
        let schema = provider.schema();
        let inputs = attrs
            .iter()
            .filter(|(k, _)| schema.attribute(k).is_some_and(|a| a.settable()))
            .map(|(k, v)| (k.clone(), v.to_state_json(&hasher)))
            .collect();
        let record = RecordedResource {
            address: intent.address.clone(),
            type_name: intent.type_name.clone(),
            region: intent.region.clone(),
            cloud_id: id.clone(),
            inputs,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.to_state_json(&hasher)))
                .collect(),
            dependencies: Vec::new(),
        };
        state.journal_outcome(
            stack_rec,
            run_id,
            intent.journal_id,
            "adopted",
            Some(&id),
            None,
            RecordChange::Put(&record),
        )?;
        report.adopted.push(intent.address.to_string());
    }
    Ok(report)
}
