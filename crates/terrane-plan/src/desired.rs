use std::collections::{BTreeMap, HashMap};

use terrane_core::{
    Address, AttrKind, Diagnostic, Diagnostics, OWNERSHIP_TAG_ADDRESS, OWNERSHIP_TAG_STACK,
    ResourceSchema, Value,
};
use terrane_stack::{AttrLookup, ResourceInstance, Stack};

/// Attribute values of resources already planned or applied, for resolving references.
/// A resource still to be created answers "known after apply" for what it does not yet have.
#[derive(Default)]
pub struct PlannedLookup {
    entries: HashMap<Address, Entry>,
}

struct Entry {
    values: BTreeMap<String, Value>,
    names: Vec<&'static str>,
    /// Not yet created: attributes not known now are known after apply.
    pending: bool,
}

impl PlannedLookup {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(
        &mut self,
        address: Address,
        schema: &ResourceSchema,
        values: BTreeMap<String, Value>,
        pending: bool,
    ) {
        let names = schema.attributes.iter().map(|a| a.name).collect();
        self.entries.insert(
            address,
            Entry {
                values,
                names,
                pending,
            },
        );
    }

    pub fn values(&self, address: &Address) -> Option<&BTreeMap<String, Value>> {
        self.entries.get(address).map(|e| &e.values)
    }
}

impl AttrLookup for PlannedLookup {
    fn attribute(&self, address: &Address, attribute: &str) -> Option<Value> {
        let Some(e) = self.entries.get(address) else {
            // Not planned (its type is unknown, reported elsewhere): nothing to say yet.
            return Some(Value::Unknown);
        };
        if let Some(v) = e.values.get(attribute) {
            return Some(v.clone());
        }
        e.names.contains(&attribute).then_some({
            if e.pending {
                Value::Unknown
            } else {
                Value::Null
            }
        })
    }
}

/// The inputs a resource should have: its properties evaluated, checked against its
/// schema, defaults filled in, and tags merged (stack defaults, its own, ownership).
pub fn desired_inputs(
    stack: &Stack,
    instance: &ResourceInstance,
    schema: &ResourceSchema,
    lookup: &dyn AttrLookup,
) -> Result<BTreeMap<String, Value>, Diagnostics> {
    let addr = instance.address.to_string();
    let mut props = stack
        .evaluate_properties(instance, lookup)
        .map_err(|d| Diagnostics::from(d.with_address(addr.clone())))?;
    let mut diags = Diagnostics::new();
    let located = |name: &str| {
        instance
            .property_location(name)
            .unwrap_or_else(|| instance.location.clone())
    };
    for (name, value) in &props {
        match schema.attribute(name) {
            None => {
                let mut settable: Vec<&str> = schema
                    .attributes
                    .iter()
                    .filter(|a| a.settable())
                    .map(|a| a.name)
                    .collect();
                settable.sort();
                diags.push(
                    Diagnostic::at(
                        located(name),
                        format!("unknown property `{name}` for {}", schema.type_name),
                    )
                    .with_address(addr.clone())
                    .with_note(format!(
                        "properties of {}: {}",
                        schema.type_name,
                        settable.join(", ")
                    )),
                );
            }
            Some(a) if a.kind == AttrKind::Computed => diags.push(
                Diagnostic::at(
                    located(name),
                    format!("`{name}` is set by AWS and cannot be set in the stack"),
                )
                .with_address(addr.clone()),
            ),
            Some(a) if !a.value_type.accepts(value) && !value.is_null() => diags.push(
                Diagnostic::at(
                    located(name),
                    format!(
                        "`{name}` must be a {:?}, found a {} ({value})",
                        a.value_type,
                        value.type_name()
                    )
                    .to_lowercase(),
                )
                .with_address(addr.clone()),
            ),
            Some(_) => {}
        }
    }
    for a in &schema.attributes {
        if a.kind == AttrKind::Required && props.get(a.name).is_none_or(Value::is_null) {
            diags.push(
                Diagnostic::at(
                    instance.location.clone(),
                    format!(
                        "missing required property `{}` for {}",
                        a.name, schema.type_name
                    ),
                )
                .with_address(addr.clone()),
            );
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    props.retain(|_, v| !v.is_null());
    for a in &schema.attributes {
        if let (Some(d), false) = (a.default, props.contains_key(a.name)) {
            props.insert(a.name.to_string(), d.to_value());
        }
    }
    if schema.taggable {
        let mut tags: BTreeMap<String, Value> = instance
            .default_tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::string(v.clone())))
            .collect();
        if let Some(own) = props.remove("tags") {
            match own {
                Value::Map(m) => tags.extend(m),
                Value::Unknown => {}
                other => {
                    return Err(Diagnostic::at(
                        located("tags"),
                        format!("tags must be a map, found a {}", other.type_name()),
                    )
                    .with_address(addr)
                    .into());
                }
            }
        }
        tags.insert(
            OWNERSHIP_TAG_STACK.into(),
            Value::string(stack.name.clone()),
        );
        tags.insert(OWNERSHIP_TAG_ADDRESS.into(), Value::string(addr));
        props.insert("tags".into(), Value::Map(tags));
    }
    Ok(props)
}
