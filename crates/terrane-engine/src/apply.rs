//! Runs a plan's steps as soon as their dependencies are done, up to a parallelism bound,
//! journalling each AWS operation: the intent is committed before the call, the outcome
//! and the resource record after it, in one transaction.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use terrane_core::{Address, SchemaSource, SecretHasher, Value};
use terrane_plan::{
    Action, Observed, PlannedLookup, RecordedResource, ResourceChange, StepKind, desired_inputs,
};
use terrane_provider::{
    Attributes, CreateRequest, DeleteRequest, FindRequest, ProviderError, Registry, UpdateRequest,
};
use terrane_state::{RecordChange, StackRecord, StateStore};

use crate::{EngineError, LoadedStack};

pub struct ApplyOptions {
    /// Upper bound on AWS operations in flight at once.
    pub parallelism: usize,
    /// Set (e.g. by Ctrl-C) to start nothing new; operations in flight finish and are recorded.
    pub cancel: Arc<AtomicBool>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    Succeeded,
    Failed(String),
    /// Not attempted: a dependency failed, or the run was interrupted.
    Skipped(String),
}

/// Told of each step as it starts and ends, for progress display.
pub trait ApplyObserver {
    fn started(&self, change: &ResourceChange, kind: StepKind);
    fn finished(&self, change: &ResourceChange, kind: StepKind, outcome: &StepOutcome);
}

pub struct NoProgress;

impl ApplyObserver for NoProgress {
    fn started(&self, _: &ResourceChange, _: StepKind) {}
    fn finished(&self, _: &ResourceChange, _: StepKind, _: &StepOutcome) {}
}

pub struct ApplyReport {
    pub outcomes: Vec<(Address, StepKind, StepOutcome)>,
    /// Attribute values after the apply, for outputs.
    pub live: PlannedLookup,
}

impl ApplyReport {
    pub fn failures(&self) -> impl Iterator<Item = &(Address, StepKind, StepOutcome)> {
        self.outcomes
            .iter()
            .filter(|(_, _, o)| !matches!(o, StepOutcome::Succeeded))
    }

    pub fn succeeded(&self) -> bool {
        self.failures().next().is_none()
    }
}

enum Done {
    Created {
        id: String,
        attributes: Attributes,
    },
    Updated {
        attributes: Attributes,
    },
    Deleted,
    /// The create call failed; `left` is what a lookup by ownership tags then found of it
    /// (a create can fail after AWS made the resource: a later call of the create, or an
    /// answer lost on the way back). `Err`: the lookup failed too, so nobody knows.
    CreateFailed {
        error: ProviderError,
        left: Result<Option<(String, Attributes)>, ProviderError>,
    },
}

/// One provider call, not yet started.
type ProviderCall<'a> = Pin<Box<dyn Future<Output = Result<Done, ProviderError>> + 'a>>;

type StepFuture<'a> = Pin<Box<dyn Future<Output = (usize, Result<Done, ProviderError>)> + 'a>>;

struct Prepared {
    journal_id: i64,
    inputs: BTreeMap<String, Value>,
    /// The AWS API calls the operation made so far (see `terrane_provider::metering`).
    meter: Arc<AtomicU64>,
}

/// Applies `plan`. `loaded` is the stack (None when destroying a stack that no longer loads).
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    loaded: Option<&LoadedStack>,
    plan: &terrane_plan::Plan,
    recorded: &[RecordedResource],
    observed: &BTreeMap<Address, Observed>,
    registry: &Registry,
    state: &mut StateStore,
    stack_rec: &StackRecord,
    run_id: i64,
    opts: &ApplyOptions,
    observer: &dyn ApplyObserver,
) -> Result<ApplyReport, EngineError> {
    let hasher = SecretHasher::new(stack_rec.secret_salt.clone());
    let steps = terrane_plan::steps(plan);
    let mut waiting_on: Vec<usize> = steps.iter().map(|s| s.after.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, s) in steps.iter().enumerate() {
        for &a in &s.after {
            dependents[a].push(i);
        }
    }
    // Ready steps, longest remaining chain first (ties: plan order).
    let priority = terrane_plan::critical_path_lengths(&steps);
    let mut ready: BinaryHeap<(usize, Reverse<usize>)> = (0..steps.len())
        .filter(|i| waiting_on[*i] == 0)
        .map(|i| (priority[i], Reverse(i)))
        .collect();
    let mut outcome: Vec<Option<StepOutcome>> = vec![None; steps.len()];
    let mut prepared: Vec<Option<Prepared>> = (0..steps.len()).map(|_| None).collect();

    // What each resource looks like now: live where refreshed, else as recorded.
    let mut live = PlannedLookup::new();
    let mut live_attrs: BTreeMap<Address, BTreeMap<String, Value>> = BTreeMap::new();
    for r in recorded {
        let mut values: BTreeMap<String, Value> = r
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_json(v)))
            .collect();
        values.extend(
            r.attributes
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v))),
        );
        if let Some(Observed::Present(o)) = observed.get(&r.address) {
            values.extend(o.clone());
        }
        if let Some(schema) = registry.schema(&r.type_name) {
            live.insert(r.address.clone(), schema, values.clone(), false);
        }
        live_attrs.insert(r.address.clone(), values);
    }
    let before = live_attrs.clone();

    let mut inflight: FuturesUnordered<StepFuture<'_>> = FuturesUnordered::new();
    loop {
        while inflight.len() < opts.parallelism.max(1) {
            let Some((_, Reverse(i))) = ready.pop() else {
                break;
            };
            let step = &steps[i];
            let change = &plan.changes[step.change];
            if opts.cancel.load(Ordering::SeqCst) {
                let o = StepOutcome::Skipped("the run was interrupted before this started".into());
                observer.finished(change, step.kind, &o);
                outcome[i] = Some(o);
                continue;
            }
            observer.started(change, step.kind);
            match start_step(
                loaded,
                change,
                step.kind,
                registry,
                state,
                stack_rec,
                run_id,
                &live,
                &live_attrs,
                &before,
            ) {
                Ok((p, fut)) => {
                    prepared[i] = Some(p);
                    inflight.push(Box::pin(async move { (i, fut.await) }));
                }
                Err(message) => {
                    let o = StepOutcome::Failed(message);
                    observer.finished(change, step.kind, &o);
                    skip_dependents(i, &steps, &dependents, &mut outcome, plan, observer);
                    outcome[i] = Some(o);
                }
            }
        }
        let Some((i, result)) = inflight.next().await else {
            break;
        };
        let step = &steps[i];
        let change = &plan.changes[step.change];
        let Some(p) = prepared[i].take() else {
            continue;
        };
        let o = match result {
            Ok(Done::CreateFailed { error, left }) => create_failed(
                state, stack_rec, run_id, change, p, error, left, &hasher, registry,
            )?,
            Ok(done) => {
                record_success(
                    state,
                    stack_rec,
                    run_id,
                    change,
                    step.kind,
                    p,
                    done,
                    &hasher,
                    registry,
                    &mut live,
                    &mut live_attrs,
                )?;
                StepOutcome::Succeeded
            }
            Err(e) => {
                let message = e.to_string();
                state.journal_outcome_measured(
                    stack_rec,
                    run_id,
                    p.journal_id,
                    "failed",
                    None,
                    Some(&message),
                    Some(p.meter.load(Ordering::Relaxed)),
                    RecordChange::None,
                )?;
                StepOutcome::Failed(message)
            }
        };
        observer.finished(change, step.kind, &o);
        if o == StepOutcome::Succeeded {
            for &d in &dependents[i] {
                waiting_on[d] -= 1;
                if waiting_on[d] == 0 && outcome[d].is_none() {
                    ready.push((priority[d], Reverse(d)));
                }
            }
        } else {
            skip_dependents(i, &steps, &dependents, &mut outcome, plan, observer);
        }
        outcome[i] = Some(o);
    }
    if let Some(loaded) = loaded {
        rerecord_unchanged(
            loaded, plan, recorded, registry, state, stack_rec, run_id, &live, &hasher,
        )?;
    }
    let outcomes = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let o = outcome[i]
                .clone()
                .unwrap_or_else(|| StepOutcome::Skipped("not reached".into()));
            (plan.changes[s.change].address.clone(), s.kind, o)
        })
        .collect();
    Ok(ApplyReport { outcomes, live })
}

/// Brings the records of resources the plan left unchanged up to date with the stack
/// (see `terrane_plan::rerecorded`).
#[allow(clippy::too_many_arguments)]
fn rerecord_unchanged(
    loaded: &LoadedStack,
    plan: &terrane_plan::Plan,
    recorded: &[RecordedResource],
    registry: &Registry,
    state: &mut StateStore,
    stack_rec: &StackRecord,
    run_id: i64,
    live: &PlannedLookup,
    hasher: &SecretHasher,
) -> Result<(), EngineError> {
    let recorded: BTreeMap<&Address, &RecordedResource> =
        recorded.iter().map(|r| (&r.address, r)).collect();
    for change in plan.changes.iter().filter(|c| c.action == Action::NoOp) {
        let (Some(inst), Some(rec), Some(schema)) = (
            loaded.stack.instance(&change.address),
            recorded.get(&change.address),
            registry.schema(&change.type_name),
        ) else {
            continue;
        };
        let Ok(inputs) = desired_inputs(&loaded.stack, inst, schema, live) else {
            continue;
        };
        if let Some(record) = terrane_plan::rerecorded(change, rec, &inputs, hasher) {
            state.record(stack_rec, Some(run_id), RecordChange::Put(&record))?;
        }
    }
    Ok(())
}

fn skip_dependents(
    failed: usize,
    steps: &[terrane_plan::Step],
    dependents: &[Vec<usize>],
    outcome: &mut [Option<StepOutcome>],
    plan: &terrane_plan::Plan,
    observer: &dyn ApplyObserver,
) {
    let cause = plan.changes[steps[failed].change].address.clone();
    let mut stack: Vec<usize> = dependents[failed].clone();
    while let Some(d) = stack.pop() {
        if outcome[d].is_some() {
            continue;
        }
        let o = StepOutcome::Skipped(format!("depends on {cause}, which did not succeed"));
        observer.finished(&plan.changes[steps[d].change], steps[d].kind, &o);
        outcome[d] = Some(o);
        stack.extend(dependents[d].iter().copied());
    }
}

/// Attributes naming a local file (a Lambda bundle) stay relative to the stack's directory
/// in the stack and in state, so that every checkout plans the same; the provider, which
/// reads the file from wherever terrane runs, gets them joined onto that directory.
fn local_files_resolved(
    mut inputs: BTreeMap<String, Value>,
    schema: &terrane_core::ResourceSchema,
    stack_dir: &std::path::Path,
) -> BTreeMap<String, Value> {
    for attr in schema.attributes.iter().filter(|a| a.local_file) {
        if let Some(Value::String(path)) = inputs.get(attr.name) {
            let joined = stack_dir.join(path.as_str()).to_string_lossy().into_owned();
            inputs.insert(attr.name.to_string(), Value::string(joined));
        }
    }
    inputs
}

#[allow(clippy::too_many_arguments)]
fn start_step<'a>(
    loaded: Option<&LoadedStack>,
    change: &'a ResourceChange,
    kind: StepKind,
    registry: &'a Registry,
    state: &mut StateStore,
    stack_rec: &StackRecord,
    run_id: i64,
    live: &PlannedLookup,
    live_attrs: &BTreeMap<Address, BTreeMap<String, Value>>,
    before: &BTreeMap<Address, BTreeMap<String, Value>>,
) -> Result<(Prepared, ProviderCall<'a>), String> {
    // A delete removes the existing object, which a moved resource keeps in its old type and region.
    let (type_name, region) = match kind {
        StepKind::Delete => change.existing_placement(),
        StepKind::Create | StepKind::Update => (change.type_name.as_str(), change.region.as_str()),
    };
    let provider = registry
        .get(type_name)
        .ok_or_else(|| format!("resource type {type_name} is not known to this terrane"))?
        .clone();
    let token = uuid::Uuid::new_v4().to_string();
    let (operation, inputs) = match kind {
        StepKind::Delete => ("delete", BTreeMap::new()),
        StepKind::Create | StepKind::Update => {
            let loaded = loaded.ok_or("the stack is needed to create or update")?;
            let inst = loaded
                .stack
                .instance(&change.address)
                .ok_or_else(|| format!("{} is not in the stack", change.address))?;
            let schema = provider.schema();
            let inputs =
                desired_inputs(&loaded.stack, inst, schema, live).map_err(|d| d.to_string())?;
            if let Some((k, _)) = inputs.iter().find(|(_, v)| v.contains_unknown()) {
                return Err(format!(
                    "`{k}` is still unknown at apply time (a dependency did not produce it)"
                ));
            }
            (
                if kind == StepKind::Create {
                    "create"
                } else {
                    "update"
                },
                inputs,
            )
        }
    };
    let journal_id = state
        .journal_intent(
            stack_rec,
            run_id,
            &change.address,
            type_name,
            region,
            operation,
            &token,
        )
        .map_err(|e| e.to_string())?;
    let region = region.to_string();
    // A delete is told what the old object looked like (the new one of a
    // create_before_destroy replacement is already live under the same address).
    let prior = match kind {
        StepKind::Delete => before.get(&change.address),
        StepKind::Create | StepKind::Update => live_attrs.get(&change.address),
    }
    .cloned()
    .unwrap_or_default();
    let id = change.cloud_id.clone().unwrap_or_default();
    let changed: Vec<String> = change.attributes.iter().map(|a| a.name.clone()).collect();
    let call_inputs = match loaded {
        Some(l) => local_files_resolved(inputs.clone(), provider.schema(), l.stack.root_dir()),
        None => inputs.clone(),
    };
    let stack_name = stack_rec.name.clone();
    let fut: ProviderCall<'a> = match kind {
        StepKind::Create => Box::pin(async move {
            let error = match provider
                .create(CreateRequest {
                    region: &region,
                    address: &change.address,
                    inputs: &call_inputs,
                    client_token: &token,
                })
                .await
            {
                Ok(r) => {
                    return Ok(Done::Created {
                        id: r.id,
                        attributes: r.attributes,
                    });
                }
                Err(e) => e,
            };
            let left = provider
                .find_by_ownership(FindRequest {
                    region: &region,
                    stack: &stack_name,
                    address: Some(change.address.as_str()),
                })
                .await
                .map(|found| {
                    found
                        .into_iter()
                        .find(|(id, _)| Some(id) != change.cloud_id.as_ref())
                });
            Ok(Done::CreateFailed { error, left })
        }),
        StepKind::Update => Box::pin(async move {
            let r = provider
                .update(UpdateRequest {
                    region: &region,
                    id: &id,
                    inputs: &call_inputs,
                    prior: &prior,
                    changed: &changed,
                })
                .await?;
            Ok(Done::Updated {
                attributes: r.attributes,
            })
        }),
        StepKind::Delete => Box::pin(async move {
            match provider
                .delete(DeleteRequest {
                    region: &region,
                    id: &id,
                    prior: &prior,
                })
                .await
            {
                Ok(()) | Err(ProviderError::NotFound(_)) => Ok(Done::Deleted),
                Err(e) => Err(e),
            }
        }),
    };
    let meter = Arc::new(AtomicU64::new(0));
    let fut: ProviderCall<'a> = Box::pin(terrane_provider::metering::metered(meter.clone(), fut));
    Ok((
        Prepared {
            journal_id,
            inputs,
            meter,
        },
        fut,
    ))
}

#[allow(clippy::too_many_arguments)]
fn record_success(
    state: &mut StateStore,
    stack_rec: &StackRecord,
    run_id: i64,
    change: &ResourceChange,
    kind: StepKind,
    p: Prepared,
    done: Done,
    hasher: &SecretHasher,
    registry: &Registry,
    live: &mut PlannedLookup,
    live_attrs: &mut BTreeMap<Address, BTreeMap<String, Value>>,
) -> Result<(), EngineError> {
    let to_json = |m: &BTreeMap<String, Value>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.to_state_json(hasher)))
            .collect::<BTreeMap<_, _>>()
    };
    let (id, attributes) = match done {
        Done::Deleted => {
            // The old half of a create-before-destroy replacement: the address already holds the new one.
            let record =
                if change.create_before_destroy && change.action == terrane_plan::Action::Replace {
                    RecordChange::None
                } else {
                    RecordChange::Remove(&change.address)
                };
            state.journal_outcome_measured(
                stack_rec,
                run_id,
                p.journal_id,
                "succeeded",
                change.cloud_id.as_deref(),
                None,
                Some(p.meter.load(Ordering::Relaxed)),
                record,
            )?;
            if !matches!(change.action, terrane_plan::Action::Replace) {
                live_attrs.remove(&change.address);
            }
            return Ok(());
        }
        Done::Created { id, attributes } => (id, attributes),
        Done::Updated { attributes } => (change.cloud_id.clone().unwrap_or_default(), attributes),
        Done::CreateFailed { .. } => unreachable!("a failed create is recorded by create_failed"),
    };
    let mut values = p.inputs.clone();
    values.extend(attributes.clone());
    let record = RecordedResource {
        address: change.address.clone(),
        type_name: change.type_name.clone(),
        region: change.region.clone(),
        cloud_id: id.clone(),
        inputs: to_json(&p.inputs),
        attributes: to_json(&attributes),
        dependencies: change.depends_on.clone(),
    };
    state.journal_outcome_measured(
        stack_rec,
        run_id,
        p.journal_id,
        "succeeded",
        Some(&id),
        None,
        Some(p.meter.load(Ordering::Relaxed)),
        RecordChange::Put(&record),
    )?;
    if let Some(schema) = registry.schema(&change.type_name) {
        live.insert(change.address.clone(), schema, values.clone(), false);
    }
    live_attrs.insert(change.address.clone(), values);
    let _ = kind;
    Ok(())
}

/// Records a failed create. What AWS was left holding decides how: nothing, a plain
/// failure; a resource carrying the address's ownership tags (made before a later call of
/// the create failed), it is recorded, so state matches AWS and the next plan completes or
/// replaces it; unknown (the lookup failed too, e.g. the network is down) or a second
/// resource beside the one a replacement keeps, the intent stays open for the next run's
/// recovery to resolve by tag.
#[allow(clippy::too_many_arguments)]
fn create_failed(
    state: &mut StateStore,
    stack_rec: &StackRecord,
    run_id: i64,
    change: &ResourceChange,
    p: Prepared,
    error: ProviderError,
    left: Result<Option<(String, Attributes)>, ProviderError>,
    hasher: &SecretHasher,
    registry: &Registry,
) -> Result<StepOutcome, EngineError> {
    let message = error.to_string();
    match left {
        Ok(None) => {
            state.journal_outcome_measured(
                stack_rec,
                run_id,
                p.journal_id,
                "failed",
                None,
                Some(&message),
                Some(p.meter.load(Ordering::Relaxed)),
                RecordChange::None,
            )?;
            Ok(StepOutcome::Failed(message))
        }
        Ok(Some((id, attrs))) if change.cloud_id.is_none() => {
            let settable = |k: &str| {
                registry
                    .schema(&change.type_name)
                    .and_then(|s| s.attribute(k))
                    .is_some_and(|a| a.settable())
            };
            let record = RecordedResource {
                address: change.address.clone(),
                type_name: change.type_name.clone(),
                region: change.region.clone(),
                cloud_id: id.clone(),
                inputs: attrs
                    .iter()
                    .filter(|(k, _)| settable(k))
                    .map(|(k, v)| (k.clone(), v.to_state_json(hasher)))
                    .collect(),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_state_json(hasher)))
                    .collect(),
                dependencies: change.depends_on.clone(),
            };
            state.journal_outcome_measured(
                stack_rec,
                run_id,
                p.journal_id,
                "adopted",
                Some(&id),
                Some(&message),
                Some(p.meter.load(Ordering::Relaxed)),
                RecordChange::Put(&record),
            )?;
            Ok(StepOutcome::Failed(format!(
                "{message} (AWS made {id} before the failure: it is recorded, and the next apply completes it)"
            )))
        }
        Ok(Some(_)) | Err(_) => Ok(StepOutcome::Failed(format!(
            "{message} (whether AWS made it is not known: the next run looks it up by its ownership tags)"
        ))),
    }
}
