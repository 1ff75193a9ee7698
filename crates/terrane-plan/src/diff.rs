use std::collections::{BTreeMap, HashMap, HashSet};

use terrane_core::{
    Address, AttrKind, AttrSchema, Diagnostic, Diagnostics, ResourceSchema, SchemaSource,
    SecretHasher, Value,
};
use terrane_stack::{Stack, StackGraph};

use crate::desired::{PlannedLookup, desired_inputs};
use crate::steps::steps;
use crate::{Action, AttrChange, Observed, Placement, Plan, RecordedResource, ResourceChange};

pub struct PlanInput<'a> {
    pub stack: &'a Stack,
    pub graph: &'a StackGraph,
    pub recorded: &'a [RecordedResource],
    /// Live attributes by address, for the recorded resources that were refreshed.
    pub observed: &'a BTreeMap<Address, Observed>,
    pub schemas: &'a dyn SchemaSource,
    pub hasher: &'a SecretHasher,
}

/// Decides, resource by resource in dependency order, what must happen for the live
/// infrastructure to match the stack.
pub fn plan(input: PlanInput<'_>) -> Result<Plan, Diagnostics> {
    let PlanInput {
        stack,
        graph,
        recorded,
        observed,
        schemas,
        hasher,
    } = input;
    let recorded_by: HashMap<&Address, &RecordedResource> =
        recorded.iter().map(|r| (&r.address, r)).collect();
    let mut lookup = PlannedLookup::new();
    let mut diags = Diagnostics::new();
    for conflict in crate::exclusive::conflicts(stack, schemas) {
        diags.push(conflict);
    }
    let mut changes = Vec::with_capacity(stack.instances.len() + recorded.len());

    let mut referenced = vec![false; stack.instances.len()];
    for &i in &graph.order {
        for dep in graph.dependencies(i) {
            referenced[dep] = true;
        }
    }
    for &i in &graph.order {
        let inst = &stack.instances[i];
        let Some(schema) = schemas.schema(&inst.type_name) else {
            let known = schemas.type_names();
            let closest = known
                .iter()
                .min_by_key(|k| edit_distance(k, &inst.type_name))
                .filter(|k| edit_distance(k, &inst.type_name) <= 3);
            let note = match closest {
                Some(k) => format!("did you mean `{k}`? `terrane docs` lists every type"),
                None => "`terrane docs` lists every type".to_string(),
            };
            diags.push(
                Diagnostic::at(
                    inst.type_location.clone(),
                    format!("unknown resource type `{}`", inst.type_name),
                )
                .with_address(inst.address.to_string())
                .with_note(note),
            );
            continue;
        };
        let ignored: Vec<String> = inst
            .lifecycle
            .ignore_changes
            .iter()
            .chain(&inst.lifecycle.owned_elsewhere)
            .cloned()
            .collect();
        for ignored in &ignored {
            if schema.attribute(ignored).is_none_or(|a| !a.settable()) {
                diags.push(
                    Diagnostic::at(
                        inst.location.clone(),
                        format!(
                            "lifecycle names `{ignored}`, which is not a property of {}",
                            schema.type_name
                        ),
                    )
                    .with_address(inst.address.to_string()),
                );
            }
        }
        let desired = match desired_inputs(stack, inst, schema, &lookup) {
            Ok(d) => d,
            Err(d) => {
                diags.extend(d);
                continue;
            }
        };
        let depends_on: Vec<Address> = graph
            .dependencies(i)
            .map(|j| stack.instances[j].address.clone())
            .collect();
        let rec = recorded_by.get(&inst.address).copied();
        let obs = observed.get(&inst.address);
        let mut change = ResourceChange {
            address: inst.address.clone(),
            type_name: inst.type_name.clone(),
            region: inst.region.clone(),
            action: Action::NoOp,
            cloud_id: rec.map(|r| r.cloud_id.clone()),
            attributes: Vec::new(),
            reason: None,
            depends_on,
            recorded_depends_on: rec.map(|r| r.dependencies.clone()).unwrap_or_default(),
            create_before_destroy: inst.lifecycle.create_before_destroy,
            moved_from: None,
        };
        let live: Option<BTreeMap<String, Value>> = match (rec, obs) {
            (None, _) => {
                change.action = Action::Create;
                None
            }
            (Some(r), _) if r.type_name != inst.type_name || r.region != inst.region => {
                change.action = Action::Replace;
                change.moved_from = Some(Placement {
                    type_name: r.type_name.clone(),
                    region: r.region.clone(),
                });
                change.reason = Some(if r.type_name != inst.type_name {
                    format!("type changed from {} to {}", r.type_name, inst.type_name)
                } else {
                    format!("region changed from {} to {}", r.region, inst.region)
                });
                None
            }
            (Some(_), Some(Observed::Absent)) => {
                change.action = Action::Create;
                change.cloud_id = None;
                change.reason = Some("deleted outside terrane; it will be created again".into());
                None
            }
            (Some(r), Some(Observed::Present(live))) => Some(compare(
                schema,
                &desired,
                live,
                r,
                &ignored,
                hasher,
                &mut change,
            )),
            (Some(r), Some(Observed::Unreadable(why))) => {
                change.reason = Some(format!("could not be read ({why}); compared with state"));
                let live = recorded_values(r);
                Some(compare(
                    schema,
                    &desired,
                    &live,
                    r,
                    &ignored,
                    hasher,
                    &mut change,
                ))
            }
            (Some(r), None) => {
                let live = recorded_values(r);
                Some(compare(
                    schema,
                    &desired,
                    &live,
                    r,
                    &ignored,
                    hasher,
                    &mut change,
                ))
            }
        };
        if matches!(change.action, Action::Create)
            || (change.action == Action::Replace && change.attributes.is_empty())
        {
            change.attributes = desired
                .iter()
                .map(|(k, v)| AttrChange {
                    name: k.clone(),
                    before: None,
                    after: v.clone(),
                    forces_replacement: false,
                    sensitive: schema.attribute(k).is_some_and(|a| a.sensitive),
                })
                .collect();
        }
        if inst.lifecycle.prevent_destroy && change.action == Action::Replace {
            diags.push(
                Diagnostic::at(
                    inst.location.clone(),
                    "this change would replace the resource, but it has lifecycle.prevent_destroy",
                )
                .with_address(inst.address.to_string())
                .with_note(format!(
                    "replacement forced by: {}",
                    change
                        .attributes
                        .iter()
                        .filter(|a| a.forces_replacement)
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
        // What later resources see when they reference this one; kept only for resources
        // something references, so memory grows with references, not with the stack.
        if referenced[i] {
            // What later resources see when they reference this one.
            let pending = matches!(change.action, Action::Create | Action::Replace);
            let mut values = if pending {
                BTreeMap::new()
            } else {
                live.unwrap_or_default()
            };
            for (k, v) in &desired {
                values.insert(k.clone(), v.clone());
            }
            if pending {
                values.retain(|k, _| {
                    schema
                        .attribute(k)
                        .is_some_and(|a| a.kind != AttrKind::Computed)
                });
            }
            lookup.insert(inst.address.clone(), schema, values, pending);
        }
        changes.push(change);
    }

    let in_stack: HashSet<&Address> = stack.instances.iter().map(|i| &i.address).collect();
    let mut deletes: Vec<&RecordedResource> = recorded
        .iter()
        .filter(|r| !in_stack.contains(&r.address))
        .collect();
    deletes.sort_by(|a, b| a.address.cmp(&b.address));
    for r in deletes {
        let gone = matches!(observed.get(&r.address), Some(Observed::Absent));
        changes.push(ResourceChange {
            address: r.address.clone(),
            type_name: r.type_name.clone(),
            region: r.region.clone(),
            action: Action::Delete,
            cloud_id: Some(r.cloud_id.clone()),
            attributes: Vec::new(),
            reason: Some(if gone {
                "no longer in the stack (already deleted outside terrane)".into()
            } else {
                "no longer in the stack".into()
            }),
            depends_on: Vec::new(),
            recorded_depends_on: r.dependencies.clone(),
            create_before_destroy: false,
            moved_from: None,
        });
    }
    let mut plan = Plan {
        stack: stack.name.clone(),
        changes,
        api_calls: None,
    };
    if let Err(d) = untangle_steps(&mut plan) {
        diags.push(d);
    }
    diags.into_result(plan)
}

/// Makes the plan's steps runnable in some order. A cycle of steps always passes through a
/// replacement that deletes first (its new object waits for the old one's delete, which
/// waits for dependants that need the new object), so such a replacement in a cycle
/// creates its new object first instead, as Terraform does for the dependencies of
/// create_before_destroy resources. Repeated until no cycle is left; one that no
/// replacement explains (the recorded dependencies of deletes waiting on each other) is
/// refused, naming its resources.
fn untangle_steps(plan: &mut Plan) -> Result<(), Diagnostic> {
    use petgraph::graph::DiGraph;
    loop {
        let steps = steps(plan);
        let mut g: DiGraph<usize, ()> = DiGraph::with_capacity(steps.len(), 0);
        let nodes: Vec<_> = (0..steps.len()).map(|i| g.add_node(i)).collect();
        for (i, s) in steps.iter().enumerate() {
            for &a in &s.after {
                g.add_edge(nodes[a], nodes[i], ());
            }
        }
        let cycles: Vec<Vec<usize>> = petgraph::algo::tarjan_scc(&g)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| c.into_iter().map(|n| g[n]).collect())
            .collect();
        let Some(first) = cycles.first() else {
            return Ok(());
        };
        let mut untangled = false;
        for cycle in &cycles {
            let members: HashSet<usize> = cycle.iter().map(|&s| steps[s].change).collect();
            let deletes_first = members.iter().copied().filter(|&ci| {
                let c = &plan.changes[ci];
                c.action == Action::Replace
                    && !c.create_before_destroy
                    && cycle.iter().filter(|&&s| steps[s].change == ci).count() == 2
            });
            if let Some(ci) = deletes_first.min() {
                let c = &mut plan.changes[ci];
                c.create_before_destroy = true;
                let why = "its new object is created before the old one is deleted, because resources replaced with it need the new one first";
                c.reason = Some(match c.reason.take() {
                    Some(r) => format!("{r}; {why}"),
                    None => why.to_string(),
                });
                untangled = true;
            }
        }
        if !untangled {
            let mut names: Vec<String> = first
                .iter()
                .map(|&s| plan.changes[steps[s].change].address.to_string())
                .collect();
            names.sort();
            names.dedup();
            return Err(Diagnostic::unlocated(format!(
                "the steps of this plan wait on each other in a cycle: {}",
                names.join(", ")
            ))
            .with_address(names[0].clone())
            .with_note(
                "state records dependencies between these resources that contradict each other; apply the removals in two steps",
            ));
        }
    }
}

fn recorded_values(r: &RecordedResource) -> BTreeMap<String, Value> {
    let mut v: BTreeMap<String, Value> = r
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Value::from_json(v)))
        .collect();
    for (k, x) in &r.inputs {
        v.entry(k.clone()).or_insert_with(|| Value::from_json(x));
    }
    v
}

/// Compares desired inputs with the live resource, filling `change` with what differs
/// and deciding update or replace. Returns the live values (for references).
fn compare(
    schema: &ResourceSchema,
    desired: &BTreeMap<String, Value>,
    live: &BTreeMap<String, Value>,
    recorded: &RecordedResource,
    ignore: &[String],
    hasher: &SecretHasher,
    change: &mut ResourceChange,
) -> BTreeMap<String, Value> {
    for attr in schema.attributes.iter().filter(|a| a.settable()) {
        if ignore.iter().any(|i| i == attr.name) {
            continue;
        }
        let Some(want) = desired.get(attr.name) else {
            continue;
        };
        let (differs, before) = attribute_differs(
            schema,
            attr,
            want,
            live.get(attr.name),
            recorded.inputs.get(attr.name),
            hasher,
        );
        if differs {
            change.attributes.push(AttrChange {
                name: attr.name.to_string(),
                forces_replacement: attr.replaces_from(before.as_ref()),
                before,
                // In canonical form, so that it compares element by element with `before`.
                after: schema.normalized(attr.name, want),
                sensitive: attr.sensitive,
            });
        }
    }
    change.action = if change.attributes.iter().any(|a| a.forces_replacement) {
        Action::Replace
    } else if change.attributes.is_empty() {
        Action::NoOp
    } else {
        Action::Update
    };
    live.clone()
}

/// Whether an attribute must change, and its current value for display.
fn attribute_differs(
    schema: &ResourceSchema,
    attr: &AttrSchema,
    want: &Value,
    live: Option<&Value>,
    recorded: Option<&serde_json::Value>,
    hasher: &SecretHasher,
) -> (bool, Option<Value>) {
    if want.contains_unknown() {
        return (
            true,
            live.cloned().or_else(|| recorded.map(Value::from_json)),
        );
    }
    // Sensitive and write-only attributes cannot be read back: compare digests with state.
    if attr.sensitive || want.contains_secret() || live.is_none() {
        let Some(rec) = recorded else {
            return (
                live.is_none_or(|l| !equal(schema, attr, want, l)),
                live.cloned(),
            );
        };
        let before = if attr.sensitive {
            Value::Secret(terrane_core::SecretString::new(""))
        } else {
            Value::from_json(rec)
        };
        return (want.to_state_json(hasher) != *rec, Some(before));
    }
    let live = live.unwrap_or(&Value::Null);
    (!equal(schema, attr, want, live), Some(live.clone()))
}

/// Equality as drift and plan mean it: normalized by the schema, sets as sets, and JSON
/// documents in strings (policies) compared parsed.
pub fn equal(schema: &ResourceSchema, attr: &AttrSchema, a: &Value, b: &Value) -> bool {
    let (a, b) = (
        schema.normalized(attr.name, a),
        schema.normalized(attr.name, b),
    );
    if attr.unordered
        && let (Value::List(x), Value::List(y)) = (&a, &b)
    {
        // As multisets: each item of one list pairs with a different item of the other, so
        // `[a, a]` is not `[a, b]`.
        if x.len() != y.len() {
            return false;
        }
        let mut used = vec![false; y.len()];
        return x.iter().all(|i| {
            let free = y
                .iter()
                .enumerate()
                .position(|(k, j)| !used[k] && i.semantically_equal(j));
            free.map(|k| used[k] = true).is_some()
        });
    }
    if let (Value::String(x), Value::String(y)) = (&a, &b)
        && x != y
        && let (Ok(px), Ok(py)) = (
            serde_json::from_str::<serde_json::Value>(x),
            serde_json::from_str::<serde_json::Value>(y),
        )
        && (px.is_object() || px.is_array())
    {
        return px == py;
    }
    a.semantically_equal(&b)
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
