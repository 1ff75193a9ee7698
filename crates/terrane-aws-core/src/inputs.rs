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
