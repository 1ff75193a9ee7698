//! The action of a listener (its default action) or of a listener rule, as one map:
//!
//! ```yaml
//! type: forward            # forward | redirect | fixed-response
//! target_group_arn: ...    # forward
//! redirect:                # redirect: protocol, port, host, path, query, status_code
//!   protocol: HTTPS
//!   port: 443
//!   status_code: HTTP_301
//! fixed_response:          # fixed-response: status_code, content_type, message_body
//!   status_code: 404
//!   content_type: text/plain
//!   message_body: not found
//! ```

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, RedirectActionConfig,
    RedirectActionStatusCodeEnum,
};
use terrane_core::Value;
use terrane_provider::ProviderError;

use crate::m_str;

/// What AWS fills into a redirect when it is not given: the request's own parts.
const REDIRECT_DEFAULTS: &[(&str, &str)] = &[
    ("protocol", "#{protocol}"),
    ("port", "#{port}"),
    ("host", "#{host}"),
    ("path", "/#{path}"),
    ("query", "#{query}"),
    ("status_code", "HTTP_301"),
];

const REDIRECT_KEYS: &[&str] = &["protocol", "port", "host", "path", "query", "status_code"];
const FIXED_KEYS: &[&str] = &["status_code", "content_type", "message_body"];

fn sub_map<'a>(
    m: &'a BTreeMap<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a BTreeMap<String, Value>>, ProviderError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Map(s)) => Ok(Some(s)),
        Some(_) => Err(ProviderError::Invalid(format!(
            "`{what}.{key}` must be a map"
        ))),
    }
}

/// `301` or `HTTP_301` as `HTTP_301`.
fn redirect_status(s: &str) -> String {
    if s.starts_with("HTTP_") {
        s.to_string()
    } else {
        format!("HTTP_{s}")
    }
}

/// The action map of the stack as an ELBv2 action.
pub fn action_from_value(v: &Value, what: &str) -> Result<Action, ProviderError> {
    let Value::Map(m) = v else {
        return Err(ProviderError::Invalid(format!("`{what}` must be a map")));
    };
    let kind = m_str(m, "type")
        .ok_or_else(|| ProviderError::Invalid(format!("`{what}.type` is required")))?
        .to_lowercase();
    let mut b = Action::builder();
    match kind.as_str() {
        "forward" => {
            let tg = m_str(m, "target_group_arn").ok_or_else(|| {
                ProviderError::Invalid(format!("`{what}.target_group_arn` is required for forward"))
            })?;
            b = b.r#type(ActionTypeEnum::Forward).target_group_arn(tg);
        }
        "redirect" => {
            let r = sub_map(m, "redirect", what)?.ok_or_else(|| {
                ProviderError::Invalid(format!("`{what}.redirect` is required for redirect"))
            })?;
            check_keys(r, REDIRECT_KEYS, &format!("{what}.redirect"))?;
            let status = m_str(r, "status_code")
                .map(|s| redirect_status(&s))
                .unwrap_or_else(|| "HTTP_301".into());
            let config = RedirectActionConfig::builder()
                .set_protocol(m_str(r, "protocol"))
                .set_port(m_str(r, "port"))
                .set_host(m_str(r, "host"))
                .set_path(m_str(r, "path"))
                .set_query(m_str(r, "query"))
                .status_code(RedirectActionStatusCodeEnum::from(status.as_str()))
                .build();
            b = b.r#type(ActionTypeEnum::Redirect).redirect_config(config);
        }
        "fixed-response" | "fixed_response" => {
            let f = sub_map(m, "fixed_response", what)?.ok_or_else(|| {
                ProviderError::Invalid(format!(
                    "`{what}.fixed_response` is required for fixed-response"
                ))
            })?;
            check_keys(f, FIXED_KEYS, &format!("{what}.fixed_response"))?;
            let status = m_str(f, "status_code").ok_or_else(|| {
                ProviderError::Invalid(format!("`{what}.fixed_response.status_code` is required"))
            })?;
            let config = FixedResponseActionConfig::builder()
                .status_code(status)
                .set_content_type(m_str(f, "content_type"))
                .set_message_body(m_str(f, "message_body"))
                .build();
            b = b
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(config);
        }
        other => {
            return Err(ProviderError::Invalid(format!(
                "`{what}.type` must be forward, redirect or fixed-response, found `{other}`"
            )));
        }
    }
    Ok(b.build())
}

fn check_keys(
    m: &BTreeMap<String, Value>,
    allowed: &[&str],
    what: &str,
) -> Result<(), ProviderError> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ProviderError::Invalid(format!(
            "`{what}` has no `{k}` (expected one of {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// An ELBv2 action as the stack's action map.
pub fn action_value(a: &Action) -> Value {
    let mut m = BTreeMap::new();
    let kind = a.r#type().map(|t| t.as_str()).unwrap_or("");
    m.insert("type".to_string(), Value::string(kind));
    let put = |m: &mut BTreeMap<String, Value>, k: &str, v: Option<&str>| {
        if let Some(v) = v {
            m.insert(k.to_string(), Value::string(v));
        }
    };
    match a.r#type() {
        Some(ActionTypeEnum::Forward) => {
            let tg = a.target_group_arn().or_else(|| {
                a.forward_config()
                    .map(|f| f.target_groups())
                    .filter(|t| t.len() == 1)
                    .and_then(|t| t[0].target_group_arn())
            });
            put(&mut m, "target_group_arn", tg);
        }
        Some(ActionTypeEnum::Redirect) => {
            if let Some(r) = a.redirect_config() {
                let mut rm = BTreeMap::new();
                put(&mut rm, "protocol", r.protocol());
                put(&mut rm, "port", r.port());
                put(&mut rm, "host", r.host());
                put(&mut rm, "path", r.path());
                put(&mut rm, "query", r.query());
                put(&mut rm, "status_code", r.status_code().map(|s| s.as_str()));
                m.insert("redirect".to_string(), Value::Map(rm));
            }
        }
        Some(ActionTypeEnum::FixedResponse) => {
            if let Some(f) = a.fixed_response_config() {
                let mut fm = BTreeMap::new();
                put(&mut fm, "status_code", f.status_code());
                put(&mut fm, "content_type", f.content_type());
                put(&mut fm, "message_body", f.message_body());
                m.insert("fixed_response".to_string(), Value::Map(fm));
            }
        }
        _ => {}
    }
    Value::Map(m)
}

/// The action map in one canonical form: type in lower case, numbers as text, redirect
/// parts AWS fills by default (`#{host}`, `HTTP_301`, ...) left out, empty bodies left out.
pub fn normalize_action(v: &Value) -> Value {
    let Value::Map(m) = v else {
        return v.clone();
    };
    let mut out = BTreeMap::new();
    for (k, val) in m {
        match (k.as_str(), val) {
            ("type", _) => {
                let t = m_str(m, "type").unwrap_or_default().to_lowercase();
                let t = if t == "fixed_response" {
                    "fixed-response".to_string()
                } else {
                    t
                };
                out.insert(k.clone(), Value::string(t));
            }
            ("redirect", Value::Map(r)) => {
                let mut rm = BTreeMap::new();
                for key in r.keys() {
                    let Some(mut s) = m_str(r, key) else { continue };
                    if key == "status_code" {
                        s = redirect_status(&s);
                    }
                    if key == "protocol" && !s.starts_with('#') {
                        s = s.to_uppercase();
                    }
                    if REDIRECT_DEFAULTS.contains(&(key.as_str(), s.as_str())) {
                        continue;
                    }
                    rm.insert(key.clone(), Value::string(s));
                }
                out.insert(k.clone(), Value::Map(rm));
            }
            ("fixed_response", Value::Map(f)) => {
                let fm = f
                    .keys()
                    .filter_map(|key| Some((key.clone(), m_str(f, key)?)))
                    .filter(|(_, s)| !s.is_empty())
                    .map(|(key, s)| (key, Value::string(s)))
                    .collect();
                out.insert(k.clone(), Value::Map(fm));
            }
            (_, Value::Null) => {}
            _ => {
                out.insert(k.clone(), val.clone());
            }
        }
    }
    Value::Map(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn redirect_round_trips_and_defaults_compare_equal() {
        let stack = map(&[
            ("type", Value::string("redirect")),
            (
                "redirect",
                map(&[
                    ("protocol", Value::string("https")),
                    ("port", Value::int(443)),
                ]),
            ),
        ]);
        let aws = action_from_value(&stack, "default_action").unwrap();
        assert_eq!(
            aws.redirect_config().unwrap().status_code(),
            Some(&RedirectActionStatusCodeEnum::Http301)
        );
        // As AWS reports it, with every default part filled in.
        let live = map(&[
            ("type", Value::string("redirect")),
            (
                "redirect",
                map(&[
                    ("protocol", Value::string("HTTPS")),
                    ("port", Value::string("443")),
                    ("host", Value::string("#{host}")),
                    ("path", Value::string("/#{path}")),
                    ("query", Value::string("#{query}")),
                    ("status_code", Value::string("HTTP_301")),
                ]),
            ),
        ]);
        assert_eq!(normalize_action(&stack), normalize_action(&live));
        let other = map(&[
            ("type", Value::string("redirect")),
            ("redirect", map(&[("protocol", Value::string("HTTP"))])),
        ]);
        assert_ne!(normalize_action(&other), normalize_action(&live));
    }

    #[test]
    fn unknown_type_is_invalid() {
        let bad = map(&[("type", Value::string("authenticate"))]);
        assert!(matches!(
            action_from_value(&bad, "action"),
            Err(ProviderError::Invalid(_))
        ));
    }
}
