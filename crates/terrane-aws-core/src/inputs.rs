//! Reading a resource's inputs and writing its attributes, and matching ownership tags:
//! the same for every service, so written once.

use std::collections::{BTreeMap, BTreeSet};

use terrane_core::{OWNERSHIP_TAG_ADDRESS, OWNERSHIP_TAG_STACK, Value};
use terrane_provider::{Attributes, FindRequest, ProviderError};

/// A string input (numbers and bools written as text); `None` when unset or null.
pub fn input_str(inputs: &Attributes, name: &str) -> Option<String> {
    match inputs.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A required string input.
pub fn require_str(inputs: &Attributes, name: &str) -> Result<String, ProviderError> {
    input_str(inputs, name).ok_or_else(|| ProviderError::Invalid(format!("`{name}` is required")))
}

/// A sensitive input, exposed only to be handed to AWS.
pub fn input_secret(inputs: &Attributes, name: &str) -> Option<String> {
    match inputs.get(name)? {
        Value::Secret(s) => Some(s.expose().to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A bool input (`"true"`/`"false"` accepted); `None` when unset or null.
pub fn input_bool(inputs: &Attributes, name: &str) -> Result<Option<bool>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a bool, found a {}",
            other.type_name()
        ))),
    }
}

/// An integer input (numeric strings accepted); `None` when unset or null.
pub fn input_i32(inputs: &Attributes, name: &str) -> Result<Option<i32>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| ProviderError::Invalid(format!("`{name}` must be a whole number"))),
    }
}

/// A map-of-strings input (values written as text); `None` when unset or null.
pub fn input_string_map(
    inputs: &Attributes,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Map(m)) => Ok(Some(
            m.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect(),
        )),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a map, found a {}",
            other.type_name()
        ))),
    }
}

/// Inserts `value` under `name` when present.
pub fn put_str(attrs: &mut Attributes, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        attrs.insert(name.to_string(), Value::string(v));
    }
}

/// Inserts `value` under `name` when present.
pub fn put_int(attrs: &mut Attributes, name: &str, value: Option<i32>) {
    if let Some(v) = value {
        attrs.insert(name.to_string(), Value::int(v.into()));
    }
}

/// Inserts `value` under `name` when present.
pub fn put_bool(attrs: &mut Attributes, name: &str, value: Option<bool>) {
    if let Some(v) = value {
        attrs.insert(name.to_string(), Value::Bool(v));
    }
}

pub fn is_owned(req: &FindRequest<'_>, attrs: &Attributes) -> bool {
    let tag = |key: &str| {
        attrs
            .get("tags")
            .and_then(Value::as_map)
            .and_then(|t| t.get(key))
            .and_then(Value::as_str)
    };
    tag(OWNERSHIP_TAG_STACK) == Some(req.stack)
        && req
            .address
            .is_none_or(|a| tag(OWNERSHIP_TAG_ADDRESS) == Some(a))
}

/// Keeps the described resources whose ownership tags are exactly the requested ones.
/// RDS refuses tag filters in its describe calls, so ownership is matched here.
pub fn retain_owned(
    req: &FindRequest<'_>,
    mut found: BTreeMap<String, Attributes>,
) -> BTreeMap<String, Attributes> {
    found.retain(|_, attrs| is_owned(req, attrs));
    found
}

/// The requested ids, deduplicated.
pub fn wanted(ids: &[String]) -> BTreeSet<&str> {
    ids.iter().map(String::as_str).collect()
}

/// A whole-number input (numeric strings accepted); `None` when unset or null.
pub fn input_i64(inputs: &Attributes, name: &str) -> Result<Option<i64>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| ProviderError::Invalid(format!("`{name}` must be a whole number"))),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ProviderError::Invalid(format!("`{name}` must be a whole number"))),
    }
}

/// A list-of-strings input (numbers and bools written as text); empty when unset.
pub fn input_strings(inputs: &Attributes, name: &str) -> Vec<String> {
    inputs
        .get(name)
        .and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Inserts a list of strings under `name`.
pub fn put_strings<S: AsRef<str>>(attrs: &mut Attributes, name: &str, values: &[S]) {
    attrs.insert(
        name.to_string(),
        Value::List(values.iter().map(|s| Value::string(s.as_ref())).collect()),
    );
}

/// A value as the JSON AWS takes (policy documents, container definitions, dashboard
/// bodies). Secrets are exposed: this is only ever handed to AWS.
pub fn to_aws_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null | Value::Unknown => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => serde_json::Value::Number(n.clone()),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Secret(s) => serde_json::Value::String(s.expose().to_string()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_aws_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_aws_json(v))).collect())
        }
    }
}

/// A JSON document input (a map or list in the stack, or JSON text) as the compact JSON
/// text AWS takes; `None` when unset.
pub fn input_json(inputs: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => serde_json::from_str::<serde_json::Value>(s)
            .map(|j| Some(j.to_string()))
            .map_err(|e| ProviderError::Invalid(format!("`{name}` is not valid JSON: {e}"))),
        Some(v) => Ok(Some(to_aws_json(v).to_string())),
    }
}

/// A JSON document as AWS returns it (possibly URL-encoded, as IAM does) parsed into a
/// value, so that documents are compared as data, not as text: key order and whitespace
/// never show up as drift. Text that is not JSON stays text.
pub fn json_value(text: &str) -> Value {
    let parsed = serde_json::from_str::<serde_json::Value>(text).or_else(|_| {
        serde_json::from_str::<serde_json::Value>(
            &percent_encoding::percent_decode_str(text).decode_utf8_lossy(),
        )
    });
    match parsed {
        Ok(j) => Value::from_json(&j),
        Err(_) => Value::string(text),
    }
}
