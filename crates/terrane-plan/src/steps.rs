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

/// For each step, how many steps lie on the longest chain from it to the end (itself
/// included). Apply starts the ready step with the longest chain first, so the critical
/// path is never kept waiting behind work that has slack.
pub fn critical_path_lengths(steps: &[Step]) -> Vec<usize> {
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    let mut waiting: Vec<usize> = vec![0; steps.len()];
    for (i, s) in steps.iter().enumerate() {
        for &a in &s.after {
            dependents[a].push(i);
            waiting[i] += 1;
        }
    }
    // A topological order (Kahn), then lengths from the sinks backwards.
    let mut order = Vec::with_capacity(steps.len());
    let mut ready: Vec<usize> = (0..steps.len()).filter(|&i| waiting[i] == 0).collect();
    while let Some(i) = ready.pop() {
        order.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(d);
            }
        }
    }
    let mut length = vec![1; steps.len()];
    for &i in order.iter().rev() {
        length[i] = 1 + dependents[i].iter().map(|&d| length[d]).max().unwrap_or(0);
    }
    length
}

#[cfg(test)]
mod critical_path_tests {
    use super::*;

    #[test]
    fn the_head_of_the_longest_chain_ranks_first() {
        let step = |after: Vec<usize>| Step {
            kind: StepKind::Create,
            change: 0,
            after,
        };
        // 0 -> 1 -> 2 -> 3 is a chain of four; 4 stands alone.
        let steps = vec![
            step(vec![]),
            step(vec![0]),
            step(vec![1]),
            step(vec![2]),
            step(vec![]),
        ];
        assert_eq!(critical_path_lengths(&steps), vec![4, 3, 2, 1, 1]);
    }
}
