//! The functions callable in `${...}`: few, pure, and the ones network stacks need.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use terrane_core::Value;

pub const NAMES: &[&str] = &[
    "cidrsubnet",
    "concat",
    "filebase64sha256",
    "join",
    "keys",
    "length",
    "lower",
    "merge",
    "replace",
    "upper",
    "values",
    "tostring",
];

/// Calls `name`; files (`filebase64sha256`) are named relative to `stack_dir`, the
/// directory of the stack's `stack.yaml`, whatever directory terrane runs in.
pub fn call(name: &str, args: &[Value], stack_dir: &Path) -> Result<Value, String> {
    if args.iter().any(Value::contains_unknown) {
        return Ok(Value::Unknown);
    }
    match (name, args) {
        ("cidrsubnet", [prefix, newbits, netnum]) => cidrsubnet(prefix, newbits, netnum),
        ("filebase64sha256", [Value::String(path)]) => filebase64sha256(path, stack_dir),
        ("replace", [Value::String(s), Value::String(from), Value::String(to)]) => {
            Ok(Value::string(s.replace(from.as_str(), to)))
        }
        ("join", [Value::String(sep), Value::List(items)]) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("join: cannot join a {}", other.type_name())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| Value::String(parts.join(sep))),
        ("concat", lists) => {
            let mut out = Vec::new();
            for l in lists {
                match l {
                    Value::List(items) => out.extend(items.iter().cloned()),
                    other => {
                        return Err(format!(
                            "concat: expected lists, found a {}",
                            other.type_name()
                        ));
                    }
                }
            }
            Ok(Value::List(out))
        }
        ("merge", maps) => {
            let mut out = BTreeMap::new();
            for m in maps {
                match m {
                    Value::Map(entries) => {
                        out.extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())))
                    }
                    other => {
                        return Err(format!(
                            "merge: expected maps, found a {}",
                            other.type_name()
                        ));
                    }
                }
            }
            Ok(Value::Map(out))
        }
        ("length", [Value::List(l)]) => Ok(Value::int(l.len() as i64)),
        ("length", [Value::Map(m)]) => Ok(Value::int(m.len() as i64)),
        ("length", [Value::String(s)]) => Ok(Value::int(s.chars().count() as i64)),
        ("keys", [Value::Map(m)]) => Ok(Value::List(
            m.keys().map(|k| Value::string(k.clone())).collect(),
        )),
        ("values", [Value::Map(m)]) => Ok(Value::List(m.values().cloned().collect())),
        ("lower", [Value::String(s)]) => Ok(Value::String(s.to_lowercase())),
        ("upper", [Value::String(s)]) => Ok(Value::String(s.to_uppercase())),
        ("tostring", [v @ (Value::String(_) | Value::Secret(_))]) => Ok(v.clone()),
        ("tostring", [v @ (Value::Number(_) | Value::Bool(_))]) => Ok(Value::String(v.to_string())),
        (name, args) if NAMES.contains(&name) => Err(format!(
            "{name}: wrong arguments ({})",
            args.iter()
                .map(Value::type_name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (name, _) => Err(format!(
            "unknown function `{name}`; known functions: {}",
            NAMES.join(", ")
        )),
    }
}

/// Like Terraform's: the `netnum`-th subnet of `prefix` with `newbits` more prefix bits.
fn cidrsubnet(prefix: &Value, newbits: &Value, netnum: &Value) -> Result<Value, String> {
    let prefix = prefix
        .as_str()
        .ok_or("cidrsubnet: the prefix must be a string")?;
    let net: Ipv4Net = prefix
        .parse()
        .map_err(|_| format!("cidrsubnet: `{prefix}` is not an IPv4 CIDR block"))?;
    let newbits = newbits
        .as_i64()
        .ok_or("cidrsubnet: newbits must be a number")?;
    let netnum = netnum
        .as_i64()
        .ok_or("cidrsubnet: netnum must be a number")?;
    let len = net.prefix_len() as i64 + newbits;
    if !(0..=32).contains(&len) || newbits < 0 {
        return Err(format!(
            "cidrsubnet: /{} plus {newbits} bits is not a valid prefix",
            net.prefix_len()
        ));
    }
    if netnum < 0 || netnum >= (1i64 << newbits) {
        return Err(format!(
            "cidrsubnet: netnum {netnum} does not fit in {newbits} bits"
        ));
    }
    let base = u32::from(net.network()) as u64;
    let addr = base + ((netnum as u64) << (32 - len));
    Ok(Value::String(format!(
        "{}/{}",
        Ipv4Addr::from(addr as u32),
        len
    )))
}

/// The base64 SHA-256 of a file's bytes: how AWS reports a Lambda bundle (`CodeSha256`), so
/// that a changed bundle shows up as a difference.
fn filebase64sha256(path: &str, stack_dir: &Path) -> Result<Value, String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let bytes = std::fs::read(stack_dir.join(path))
        .map_err(|e| format!("filebase64sha256: {path}: {e}"))?;
    Ok(Value::string(
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrsubnet_matches_terraform() {
        let v = call(
            "cidrsubnet",
            &[Value::from("10.0.0.0/16"), Value::int(8), Value::int(2)],
            Path::new("."),
        )
        .unwrap();
        assert_eq!(v, Value::from("10.0.2.0/24"));
        let v = call(
            "cidrsubnet",
            &[Value::from("10.1.0.0/16"), Value::int(4), Value::int(15)],
            Path::new("."),
        )
        .unwrap();
        assert_eq!(v, Value::from("10.1.240.0/20"));
        assert!(
            call(
                "cidrsubnet",
                &[Value::from("10.0.0.0/16"), Value::int(2), Value::int(4)],
                Path::new("."),
            )
            .is_err()
        );
    }
}
