//! Drift: how a live resource differs from what was last applied. Pure, like the plan.

use std::collections::BTreeMap;

use serde::Serialize;
use terrane_core::{ResourceSchema, Value};

use crate::diff::equal;

/// One attribute that changed outside terrane.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttrDrift {
    pub attribute: String,
    /// As last applied.
    pub recorded: Value,
    /// As found now.
    pub live: Value,
}

/// An attribute that could not be compared, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unchecked {
    pub attribute: String,
    pub reason: String,
}

/// Compares what was last applied with what is live, attribute by attribute: only
/// attributes the stack set (so values AWS fills by default are never drift), skipping
/// `ignored` ones, semantically (normalized, sets as sets, JSON documents parsed).
pub fn attribute_drift(
    schema: &ResourceSchema,
    recorded_inputs: &BTreeMap<String, serde_json::Value>,
    live: &BTreeMap<String, Value>,
    ignored: &dyn Fn(&str) -> bool,
) -> (Vec<AttrDrift>, Vec<Unchecked>) {
    let mut drift = Vec::new();
    let mut unchecked = Vec::new();
    for attr in schema.attributes.iter().filter(|a| a.settable()) {
        let Some(recorded) = recorded_inputs.get(attr.name) else {
            continue;
        };
        if ignored(attr.name) {
            continue;
        }
        if attr.sensitive
            || recorded
                .get(terrane_core::value::SECRET_DIGEST_KEY)
                .is_some()
        {
            unchecked.push(Unchecked {
                attribute: attr.name.to_string(),
                reason: "sensitive: AWS does not return it, so it cannot be compared".into(),
            });
            continue;
        }
        let Some(now) = live.get(attr.name) else {
            unchecked.push(Unchecked {
                attribute: attr.name.to_string(),
                reason: format!("{} does not report it", schema.type_name),
            });
            continue;
        };
        let recorded = Value::from_json(recorded);
        if !equal(schema, attr, &recorded, now) {
            drift.push(AttrDrift {
                attribute: attr.name.to_string(),
                recorded: schema.normalized(attr.name, &recorded),
                live: schema.normalized(attr.name, now),
            });
        }
    }
    (drift, unchecked)
}

#[cfg(test)]
mod tests {
    use terrane_core::{AttrSchema, ValueType};

    use super::*;

    fn schema() -> ResourceSchema {
        ResourceSchema {
            type_name: "t.sg",
            description: "",
            attributes: vec![
                AttrSchema::required("name", ValueType::String),
                AttrSchema::optional("rules", ValueType::List).unordered(),
                AttrSchema::optional("policy", ValueType::String),
                AttrSchema::optional("password", ValueType::String).sensitive(),
                AttrSchema::optional("size", ValueType::Number),
                AttrSchema::optional("tags", ValueType::Map),
            ],
            taggable: true,
            id_attribute: "id",
            normalize: None,
            example: "",
        }
    }

    #[test]
    fn semantic_comparison_ignores_order_formatting_and_defaults() {
        let recorded = BTreeMap::from([
            ("name".to_string(), serde_json::json!("web")),
            ("rules".to_string(), serde_json::json!(["a", "b"])),
            (
                "policy".to_string(),
                serde_json::json!("{\"Version\": \"2012-10-17\", \"Statement\": []}"),
            ),
            (
                "password".to_string(),
                serde_json::json!({"$sensitive_digest": "sha256:00"}),
            ),
            ("size".to_string(), serde_json::json!(3)),
        ]);
        let live = BTreeMap::from([
            ("name".to_string(), Value::from("web")),
            (
                "rules".to_string(),
                Value::List(vec![Value::from("b"), Value::from("a")]),
            ),
            (
                "policy".to_string(),
                Value::from("{\"Statement\":[],\"Version\":\"2012-10-17\"}"),
            ),
            ("size".to_string(), Value::from("3")),
            // Set by AWS, never by the stack: not drift.
            (
                "tags".to_string(),
                Value::Map(BTreeMap::from([("aws:x".to_string(), Value::from("y"))])),
            ),
        ]);
        let (drift, unchecked) = attribute_drift(&schema(), &recorded, &live, &|_| false);
        assert!(drift.is_empty(), "{drift:?}");
        assert_eq!(unchecked.len(), 1);
        assert_eq!(unchecked[0].attribute, "password");
    }

    #[test]
    fn a_changed_value_is_reported_unless_ignored() {
        let recorded = BTreeMap::from([
            ("size".to_string(), serde_json::json!(3)),
            ("name".to_string(), serde_json::json!("web")),
        ]);
        let live = BTreeMap::from([
            ("size".to_string(), Value::int(5)),
            ("name".to_string(), Value::from("web")),
        ]);
        let (drift, _) = attribute_drift(&schema(), &recorded, &live, &|_| false);
        assert_eq!(
            drift,
            vec![AttrDrift {
                attribute: "size".into(),
                recorded: Value::int(3),
                live: Value::int(5)
            }]
        );
        let (drift, _) = attribute_drift(&schema(), &recorded, &live, &|a| a == "size");
        assert!(drift.is_empty());
    }
}
