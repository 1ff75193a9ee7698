//! The plan: a pure function of (desired stack, recorded state, observed live state) to
//! an ordered set of actions. No network, no clock, no randomness: the same inputs always
//! give the same plan, which is what makes a saved plan checkable and this crate testable.

mod desired;
mod diff;
pub mod drift;
mod exclusive;
mod steps;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use terrane_core::{Address, Value};

pub use desired::{PlannedLookup, desired_inputs};
pub use diff::{PlanInput, equal, plan};
pub use steps::{Step, StepKind, critical_path_lengths, steps};

/// What state says was applied for one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedResource {
    pub address: Address,
    pub type_name: String,
    pub region: String,
    pub cloud_id: String,
    /// Inputs as last applied; secrets only as salted digests.
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Attributes as observed right after the last apply (ids, ARNs, ...).
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// What it depended on when applied, so it is deleted in the right order even after
    /// it has left the stack.
    pub dependencies: Vec<Address>,
}

/// What a refresh saw of one recorded resource.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    Present(BTreeMap<String, Value>),
    /// Gone: deleted outside terrane.
    Absent,
    /// Could not be read (a region that did not answer); the plan falls back on state.
    Unreadable(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Delete the old resource, then create the new one (or the other way round when
    /// `create_before_destroy` is set).
    Replace,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// One attribute that changes, shown before -> after. Sensitive values are masked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttrChange {
    pub name: String,
    pub before: Option<Value>,
    pub after: Value,
    pub forces_replacement: bool,
    pub sensitive: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceChange {
    pub address: Address,
    pub type_name: String,
    pub region: String,
    pub action: Action,
    /// The existing resource's id, for update, replace and delete.
    pub cloud_id: Option<String>,
    /// What changes; for a create, every input.
    pub attributes: Vec<AttrChange>,
    /// Why, when it is not obvious (deleted outside terrane, type changed, ...).
    pub reason: Option<String>,
    /// Addresses this resource depends on in the stack (empty for a delete).
    pub depends_on: Vec<Address>,
    /// Addresses the existing resource depended on when it was applied.
    pub recorded_depends_on: Vec<Address>,
    pub create_before_destroy: bool,
    /// Where the existing object lives when a replacement moves the resource to another
    /// type or region: the old half of the replacement deletes it there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Placement>,
}

/// A resource type in a region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Placement {
    #[serde(rename = "type")]
    pub type_name: String,
    pub region: String,
}

impl ResourceChange {
    /// The type and region of the existing object, which a delete step removes.
    pub fn existing_placement(&self) -> (&str, &str) {
        match &self.moved_from {
            Some(p) => (&p.type_name, &p.region),
            None => (&self.type_name, &self.region),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub stack: String,
    /// Every resource of the stack or of state, in dependency order, no-ops included.
    pub changes: Vec<ResourceChange>,
    /// How many AWS API calls applying it should make (see [`estimate_api_calls`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<CallEstimate>,
}

/// The AWS API calls an apply should make: its steps' calls, each the average that earlier
/// applies measured for its resource type and operation, or an assumed figure where there
/// is no history. Reads of the refresh before it, and waiters' polls beyond what was
/// measured, are not in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CallEstimate {
    pub total: u64,
    /// Steps whose cost comes from earlier applies.
    pub measured_steps: usize,
    /// Steps with no history, counted at the assumed cost of their operation.
    pub assumed_steps: usize,
}

/// Assumed calls of an operation nothing has measured yet: a create (the create call, a
/// read back), an update (one change, a read back), a delete (the call, a confirmation).
pub const ASSUMED_CALLS: [(StepKind, u64); 3] = [
    (StepKind::Create, 2),
    (StepKind::Update, 2),
    (StepKind::Delete, 2),
];

/// Sums the expected calls of every step of `plan`; `measured(type, operation)` gives the
/// average earlier applies made (operation: `create`, `update` or `delete`).
pub fn estimate_api_calls(
    plan: &Plan,
    measured: &dyn Fn(&str, &str) -> Option<f64>,
) -> CallEstimate {
    let mut estimate = CallEstimate::default();
    let mut total = 0.0;
    for step in steps(plan) {
        let change = &plan.changes[step.change];
        let (type_name, operation) = match step.kind {
            StepKind::Create => (change.type_name.as_str(), "create"),
            StepKind::Update => (change.type_name.as_str(), "update"),
            StepKind::Delete => (change.existing_placement().0, "delete"),
        };
        match measured(type_name, operation) {
            Some(avg) => {
                total += avg;
                estimate.measured_steps += 1;
            }
            None => {
                let assumed = ASSUMED_CALLS
                    .iter()
                    .find(|(k, _)| *k == step.kind)
                    .map_or(2, |(_, n)| *n);
                total += assumed as f64;
                estimate.assumed_steps += 1;
            }
        }
    }
    estimate.total = total.round() as u64;
    estimate
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub unchanged: usize,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::NoOp => s.unchanged += 1,
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
            }
        }
        s
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    pub fn change(&self, address: &Address) -> Option<&ResourceChange> {
        self.changes.iter().find(|c| &c.address == address)
    }

    /// The actions alone, address by address: two plans with the same fingerprint do the same thing.
    pub fn fingerprint(&self) -> Vec<(String, Action)> {
        self.changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .map(|c| (c.address.to_string(), c.action))
            .collect()
    }
}

#[cfg(test)]
mod tests;

/// The record a resource the plan leaves unchanged should now have, when the one in state
/// has gone stale: state is written when a resource is created or updated, so a no-op
/// would otherwise keep dependencies the stack dropped (and delete in a wrong order later)
/// and inputs from before an edit the cloud already matched. Inputs and dependencies are
/// taken from the stack, as a create would record them; attributes stay as last observed
/// by an apply. None when the record is current or the change is not a no-op.
pub fn rerecorded(
    change: &ResourceChange,
    recorded: &RecordedResource,
    inputs: &BTreeMap<String, Value>,
    hasher: &terrane_core::SecretHasher,
) -> Option<RecordedResource> {
    if change.action != Action::NoOp || inputs.values().any(Value::contains_unknown) {
        return None;
    }
    let inputs: BTreeMap<String, serde_json::Value> = inputs
        .iter()
        .map(|(k, v)| (k.clone(), v.to_state_json(hasher)))
        .collect();
    if inputs == recorded.inputs && change.depends_on == recorded.dependencies {
        return None;
    }
    Some(RecordedResource {
        inputs,
        dependencies: change.depends_on.clone(),
        ..recorded.clone()
    })
}

/// Everything in state deleted, dependants first. Refused for a resource the stack marks
/// `prevent_destroy`.
pub fn destroy_plan(
    stack_name: &str,
    stack: Option<&terrane_stack::Stack>,
    recorded: &[RecordedResource],
    observed: &BTreeMap<Address, Observed>,
) -> Result<Plan, terrane_core::Diagnostics> {
    let mut diags = terrane_core::Diagnostics::new();
    let mut changes = Vec::new();
    for r in recorded {
        if let Some(inst) = stack.and_then(|s| s.instance(&r.address))
            && inst.lifecycle.prevent_destroy
        {
            diags.push(
                terrane_core::Diagnostic::at(
                    inst.location.clone(),
                    "cannot destroy: the resource has lifecycle.prevent_destroy",
                )
                .with_address(r.address.to_string()),
            );
        }
        let gone = matches!(observed.get(&r.address), Some(Observed::Absent));
        changes.push(ResourceChange {
            address: r.address.clone(),
            type_name: r.type_name.clone(),
            region: r.region.clone(),
            action: Action::Delete,
            cloud_id: Some(r.cloud_id.clone()),
            attributes: Vec::new(),
            reason: gone.then(|| "already deleted outside terrane".to_string()),
            depends_on: Vec::new(),
            recorded_depends_on: r.dependencies.clone(),
            create_before_destroy: false,
            moved_from: None,
        });
    }
    diags.into_result(Plan {
        stack: stack_name.to_string(),
        changes,
        api_calls: None,
    })
}
