//! Tags as terrane holds them (a map value) and as EC2 wants them.

use std::collections::BTreeMap;

use terrane_core::Value;

/// The `tags` input as key/value pairs; non-string values are written as text.
pub fn tags_from_inputs(inputs: &BTreeMap<String, Value>) -> Vec<(String, String)> {
    match inputs.get("tags") {
        Some(Value::Map(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn tags_value<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Map(
        pairs
            .map(|(k, v)| (k.to_string(), Value::string(v)))
            .collect(),
    )
}
