//! A plan as a graph of steps (create, update, delete) that apply can run concurrently.

use std::collections::HashMap;

use serde::Serialize;
use terrane_core::Address;

use crate::{Action, Plan};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Create,
    Update,
    /// Delete a removed resource, or the old one of a replacement.
    Delete,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    /// Index into `Plan::changes`.
    pub change: usize,
    /// Steps that must finish first (indexes into the step list).
    pub after: Vec<usize>,
}

/// The steps of a plan and their order constraints:
/// - a create or update runs after the creates and updates of what it depends on;
/// - a delete runs after the deletes and updates of whatever depended on the resource;
/// - a replacement deletes then creates, or creates then deletes with `create_before_destroy`.
pub fn steps(plan: &Plan) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut forward: HashMap<&Address, usize> = HashMap::new();
    // Address -> (its delete step, whether it is a plain delete rather than half of a replacement).
    let mut delete: HashMap<&Address, (usize, bool)> = HashMap::new();
    for (ci, c) in plan.changes.iter().enumerate() {
        let mut push = |kind| {
            out.push(Step {
                kind,
                change: ci,
                after: Vec::new(),
            });
            out.len() - 1
        };
        match c.action {
            Action::NoOp => {}
            Action::Create => {
                forward.insert(&c.address, push(StepKind::Create));
            }
            Action::Update => {
                forward.insert(&c.address, push(StepKind::Update));
            }
            Action::Delete => {
                delete.insert(&c.address, (push(StepKind::Delete), true));
            }
            Action::Replace => {
                let d = push(StepKind::Delete);
                let f = push(StepKind::Create);
                if c.create_before_destroy {
                    out[d].after.push(f);
                } else {
                    out[f].after.push(d);
                }
                delete.insert(&c.address, (d, false));
                forward.insert(&c.address, f);
            }
        }
    }
    for c in &plan.changes {
        if let Some(&f) = forward.get(&c.address) {
            for dep in &c.depends_on {
                if let Some(&s) = forward.get(dep) {
                    out[f].after.push(s);
                }
            }
        }
        // Whatever used to depend on a resource lets go of it before the resource is deleted.
        for dep in &c.recorded_depends_on {
            if let Some(&(d, plain_delete)) = delete.get(dep) {
                if let Some(&(mine, _)) = delete.get(&c.address) {
                    out[d].after.push(mine);
                }
                // An update that stops using a removed resource goes first. Not for a
                // replaced one: the update needs the replacement, which needs the delete.
                if let (Some(&f), true) = (forward.get(&c.address), plain_delete)
                    && out[f].kind == StepKind::Update
                {
                    out[d].after.push(f);
                }
            }
        }
    }
    for s in &mut out {
        s.after.sort_unstable();
        s.after.dedup();
    }
    out
}
