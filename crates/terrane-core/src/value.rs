use std::collections::BTreeMap;
use std::fmt;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::secret::{SecretHasher, SecretString};

/// A value of a resource attribute or a stack expression.
///
/// `Unknown` stands for a value only known after apply (the id of a VPC not yet made);
/// `Secret` holds a sensitive value that is passed to AWS but never displayed or serialised
/// in plain text: serialising one writes `"(sensitive)"`.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Unknown,
    Secret(SecretString),
}

pub const UNKNOWN_DISPLAY: &str = "(known after apply)";
pub const SENSITIVE_DISPLAY: &str = "(sensitive)";

impl Value {
    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    pub fn int(i: i64) -> Self {
        Value::Number(i.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True when this value, or anything inside it, is only known after apply.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(l) => l.iter().any(Value::contains_unknown),
            Value::Map(m) => m.values().any(Value::contains_unknown),
            _ => false,
        }
    }

    pub fn contains_secret(&self) -> bool {
        match self {
            Value::Secret(_) => true,
            Value::List(l) => l.iter().any(Value::contains_secret),
            Value::Map(m) => m.values().any(Value::contains_secret),
            _ => false,
        }
    }

    /// A short human name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Unknown => "unknown",
            Value::Secret(_) => "sensitive string",
        }
    }

    /// The form kept in the state store: secrets become a salted digest, so a change
    /// can be detected without the value ever being stored.
    pub fn to_state_json(&self, hasher: &SecretHasher) -> serde_json::Value {
        match self {
            Value::Null | Value::Unknown => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => {
                serde_json::Value::Array(l.iter().map(|v| v.to_state_json(hasher)).collect())
            }
            Value::Map(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_state_json(hasher)))
                    .collect(),
            ),
            Value::Secret(s) => {
                let mut obj = serde_json::Map::new();
                obj.insert(
                    SECRET_DIGEST_KEY.to_string(),
                    serde_json::Value::String(hasher.digest(s.expose())),
                );
                serde_json::Value::Object(obj)
            }
        }
    }

    /// Reads a value back from the state store. Secret digests stay digests: they can be
    /// compared with [`Value::to_state_json`] of a new secret, never turned back.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.clone()),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Equality as infrastructure means it: numbers by value, `"1"` equal to `1`
    /// (AWS APIs return numbers as strings in places).
    pub fn semantically_equal(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
                s.parse::<f64>().ok() == n.as_f64()
            }
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.semantically_equal(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k).is_some_and(|w| v.semantically_equal(w)))
            }
            (Value::Secret(a), Value::Secret(b)) => a.expose() == b.expose(),
            (a, b) => a == b,
        }
    }
}

/// The key under which a salted digest of a secret stands in stored JSON.
pub const SECRET_DIGEST_KEY: &str = "$sensitive_digest";

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::List(l) => {
                let mut seq = serializer.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = serializer.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Unknown => serializer.serialize_str(UNKNOWN_DISPLAY),
            Value::Secret(_) => serializer.serialize_str(SENSITIVE_DISPLAY),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Value::Unknown => f.write_str(UNKNOWN_DISPLAY),
            Value::Secret(_) => f.write_str(SENSITIVE_DISPLAY),
            Value::List(_) | Value::Map(_) => {
                let json = serde_json::to_string(self).map_err(|_| fmt::Error)?;
                f.write_str(&json)
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::int(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_serialise_in_plain_text() {
        let v = Value::Map(BTreeMap::from([(
            "password".to_string(),
            Value::Secret(SecretString::new("hunter2-very-secret")),
        )]));
        let json = serde_json::to_string(&v).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(!format!("{v} {v:?}").contains("hunter2"));
        let hasher = SecretHasher::new("salt");
        let stored = v.to_state_json(&hasher).to_string();
        assert!(!stored.contains("hunter2"), "{stored}");
        assert!(stored.contains(SECRET_DIGEST_KEY));
    }

    #[test]
    fn numbers_and_numeric_strings_compare_by_value() {
        assert!(Value::int(5).semantically_equal(&Value::string("5")));
        assert!(!Value::int(5).semantically_equal(&Value::string("6")));
    }
}
