//! The engine: loads a stack, refreshes what state records, plans, and applies a plan
//! step by step, journalling every AWS operation in the state store.
//!
//! It decides nothing about individual resource types: schemas say what can change how.

mod apply;
pub mod drift;
pub mod policy;
mod recover;
mod refresh;

use std::collections::BTreeMap;
use std::path::Path;

use terrane_core::{Address, Diagnostics, SchemaSource, SecretHasher, Value};
use terrane_plan::{Observed, Plan, PlannedLookup, RecordedResource};
use terrane_stack::{LoadOptions, Stack, StackGraph};
use terrane_state::StackRecord;

pub use apply::{ApplyObserver, ApplyOptions, ApplyReport, NoProgress, StepOutcome, apply};
pub use recover::{RecoveryReport, recover_interrupted};
pub use refresh::{RefreshStats, refresh};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error(transparent)]
    State(#[from] terrane_state::StateError),
    #[error("{0}")]
    Other(String),
}

impl From<Diagnostics> for EngineError {
    fn from(d: Diagnostics) -> Self {
        EngineError::Invalid(d)
    }
}

/// A stack loaded, expanded, and with its graph built and checked.
pub struct LoadedStack {
    pub stack: Stack,
    pub graph: StackGraph,
}

/// Loads and checks a stack: YAML, variables, modules, references, cycles, and every
/// resource against its type's schema. Nothing is read from AWS.
pub fn load(
    dir: &Path,
    opts: &LoadOptions<'_>,
    schemas: &dyn SchemaSource,
) -> Result<LoadedStack, Diagnostics> {
    let stack = terrane_stack::load_stack(dir, opts)?;
    let graph = StackGraph::build(&stack)?;
    stack.output_references().map_err(Diagnostics::from)?;
    // Planning against empty state checks every property against its schema.
    let hasher = SecretHasher::new("validate");
    terrane_plan::plan(terrane_plan::PlanInput {
        stack: &stack,
        graph: &graph,
        recorded: &[],
        observed: &BTreeMap::new(),
        schemas,
        hasher: &hasher,
    })?;
    Ok(LoadedStack { stack, graph })
}

/// Plans `loaded` against what state records and what is live.
pub fn plan(
    loaded: &LoadedStack,
    recorded: &[RecordedResource],
    observed: &BTreeMap<Address, Observed>,
    schemas: &dyn SchemaSource,
    stack: &StackRecord,
) -> Result<Plan, Diagnostics> {
    let hasher = SecretHasher::new(stack.secret_salt.clone());
    terrane_plan::plan(terrane_plan::PlanInput {
        stack: &loaded.stack,
        graph: &loaded.graph,
        recorded,
        observed,
        schemas,
        hasher: &hasher,
    })
}

/// Attribute values as state records them, for outputs when nothing is being applied.
pub fn recorded_lookup(recorded: &[RecordedResource], schemas: &dyn SchemaSource) -> PlannedLookup {
    let mut lookup = PlannedLookup::new();
    for r in recorded {
        if let Some(schema) = schemas.schema(&r.type_name) {
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
            lookup.insert(r.address.clone(), schema, values, false);
        }
    }
    lookup
}

/// The stack's outputs evaluated against `lookup`; sensitive ones stay secret.
pub fn outputs(
    stack: &Stack,
    lookup: &PlannedLookup,
) -> Result<BTreeMap<String, Value>, Diagnostics> {
    let mut out = BTreeMap::new();
    let mut diags = Diagnostics::new();
    for o in &stack.outputs {
        match stack.evaluate_output(o, lookup) {
            Ok(v) if o.sensitive => {
                out.insert(
                    o.name.clone(),
                    Value::Secret(terrane_core::SecretString::new(v.to_string())),
                );
            }
            Ok(v) => {
                out.insert(o.name.clone(), v);
            }
            Err(d) => diags.push(d),
        }
    }
    diags.into_result(out)
}
