//! Conflicts between an attribute that lists every object of a kind on its resource (a
//! security group's inline `ingress`) and a separate resource of that kind attached to the
//! same resource: each apply of one would undo the other, for ever. Found from the schemas'
//! [`OwnsAll`] declarations, before anything is applied.

use std::collections::HashMap;

use terrane_core::{Address, Diagnostic, OwnsAll, SchemaSource, Value};
use terrane_stack::{AttrLookup, Stack};

/// Stands in for every resource's `id` while evaluating: a member whose attribute holds
/// one of these names its owner, however the id reached it (directly, through a module's
/// input or a local).
struct IdMarkers;

const MARK: &str = "\u{1}terrane-id:";

impl AttrLookup for IdMarkers {
    fn attribute(&self, address: &Address, attribute: &str) -> Option<Value> {
        Some(match attribute {
            "id" => Value::string(format!("{MARK}{address}")),
            _ => Value::Unknown,
        })
    }
}

pub fn conflicts(stack: &Stack, schemas: &dyn SchemaSource) -> Vec<Diagnostic> {
    // Owners first: resources whose owning attribute is set, by address.
    let mut owners: HashMap<String, Vec<(&'static str, OwnsAll, usize)>> = HashMap::new();
    for (i, inst) in stack.instances.iter().enumerate() {
        let Some(schema) = schemas.schema(&inst.type_name) else {
            continue;
        };
        let owning: Vec<_> = schema
            .attributes
            .iter()
            .filter_map(|a| a.owns_all.map(|o| (a.name, o)))
            .collect();
        if owning.is_empty() {
            continue;
        }
        let Ok(props) = stack.evaluate_properties(inst, &IdMarkers) else {
            continue;
        };
        for (name, owned) in owning {
            if props.get(name).is_some_and(|v| !matches!(v, Value::Null)) {
                owners
                    .entry(inst.address.to_string())
                    .or_default()
                    .push((name, owned, i));
            }
        }
    }
    if owners.is_empty() {
        return Vec::new();
    }
    let member_types: Vec<&str> = owners
        .values()
        .flatten()
        .map(|(_, o, _)| o.member_type)
        .collect();
    let mut found = Vec::new();
    for inst in &stack.instances {
        if !member_types.contains(&inst.type_name.as_str()) {
            continue;
        }
        let Ok(props) = stack.evaluate_properties(inst, &IdMarkers) else {
            continue;
        };
        // The owners this member's attributes name, looked up by address.
        let named = props.iter().filter_map(|(via, value)| match value {
            Value::String(s) => s
                .strip_prefix(MARK)
                .and_then(|target| owners.get(target))
                .map(|entries| (via, entries)),
            _ => None,
        });
        for (via, entries) in named {
            for (attr, owned, owner_index) in entries {
                if owned.member_type != inst.type_name || owned.via != via {
                    continue;
                }
                let owner = &stack.instances[*owner_index];
                if let Some((key, value)) = owned.when
                    && props.get(key) != Some(&Value::string(value))
                {
                    continue;
                }
                let location = inst
                    .property_location(owned.via)
                    .unwrap_or_else(|| inst.location.clone());
                let owner_at = owner
                    .property_location(attr)
                    .unwrap_or_else(|| owner.location.clone());
                found.push(
                Diagnostic::at(
                    location,
                    format!(
                        "`{}` ({}{}) is attached to `{}`, whose `{attr}` lists all of those: each apply of `{}` would remove it, and the next would add it back",
                        inst.address,
                        inst.type_name,
                        owned
                            .when
                            .map(|(k, v)| format!(", {k}: {v}"))
                            .unwrap_or_default(),
                        owner.address,
                        owner.address
                    ),
                )
                .with_address(inst.address.to_string())
                .with_note(format!(
                    "`{}` sets `{attr}` at {owner_at}; put this one in that list, or leave `{attr}` unset there and keep each of them a resource of its own",
                    owner.address
                )),
            );
            }
        }
    }
    found
}
