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

/// terrane's ownership tag values in the characters IAM, ACM, ELB and others allow in a tag value:
/// letters, digits, spaces and `_ . : / = + - @`. An address such as `role["app"]` has
/// others, so each byte of any other character (and of `=`, the escape) is written `=XX`;
/// [`decode_tag_value`] reverses it. Values of plain addresses (`vpc`, `module.a.b`) are
/// unchanged, and other tags are left as the stack gives them.
pub fn encode_tag_value(key: &str, value: &str) -> String {
    if !is_ownership_tag(key) {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_alphanumeric() || c == ' ' || "_.:/+-@".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("={b:02X}"));
            }
        }
    }
    out
}

/// The value [`encode_tag_value`] encoded.
pub fn decode_tag_value(key: &str, value: &str) -> String {
    if !is_ownership_tag(key) || !value.contains('=') {
        return value.to_string();
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'=' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// [`tags_from_inputs`] as AWS should receive them: the ownership tags' values encoded with
/// [`encode_tag_value`] (for services that allow only letters, digits, spaces and
/// `_ . : / = + - @` in tag values), other tags unchanged.
pub fn aws_tags_from_inputs(inputs: &BTreeMap<String, Value>) -> Vec<(String, String)> {
    tags_from_inputs(inputs)
        .into_iter()
        .map(|(k, v)| {
            let v = encode_tag_value(&k, &v);
            (k, v)
        })
        .collect()
}

/// [`tags_value`] of tags read back from AWS, the ownership tags' values decoded with
/// [`decode_tag_value`].
pub fn decoded_tags_value<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Map(
        pairs
            .map(|(k, v)| (k.to_string(), Value::string(decode_tag_value(k, v))))
            .collect(),
    )
}

fn is_ownership_tag(key: &str) -> bool {
    key == terrane_core::OWNERSHIP_TAG_STACK || key == terrane_core::OWNERSHIP_TAG_ADDRESS
}

#[cfg(test)]
mod tests {
    use super::{aws_tags_from_inputs, decode_tag_value, decoded_tags_value, encode_tag_value};
    use terrane_core::Value;

    #[test]
    fn ownership_tag_values_fit_the_restricted_charset() {
        let key = terrane_core::OWNERSHIP_TAG_ADDRESS;
        for address in [
            "vpc",
            "module.eu.role",
            r#"role["app"]"#,
            r#"cert["site"]"#,
            "a=b[0]",
            "ünïcode[\"é\"]",
        ] {
            let encoded = encode_tag_value(key, address);
            assert!(
                encoded
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)),
                "{encoded}"
            );
            assert_eq!(decode_tag_value(key, &encoded), address);
        }
        assert_eq!(encode_tag_value(key, "module.eu.role"), "module.eu.role");
        assert_eq!(
            encode_tag_value(key, r#"role["app"]"#),
            "role=5B=22app=22=5D"
        );
        assert_eq!(
            encode_tag_value(key, r#"cert["site"]"#),
            "cert=5B=22site=22=5D"
        );
        // Other tags are the stack's own: left alone.
        assert_eq!(encode_tag_value("team", "a[b]"), "a[b]");
        assert_eq!(decode_tag_value("team", "a=5B"), "a=5B");
    }

    #[test]
    fn inputs_encode_and_reads_decode_only_ownership_tags() {
        let key = terrane_core::OWNERSHIP_TAG_ADDRESS;
        let tags = Value::Map(
            [
                (key.to_string(), Value::string(r#"role["app"]"#)),
                ("team".to_string(), Value::string("a[b]")),
            ]
            .into(),
        );
        let inputs = [("tags".to_string(), tags.clone())].into();
        let sent = aws_tags_from_inputs(&inputs);
        assert_eq!(
            sent,
            vec![
                ("team".to_string(), "a[b]".to_string()),
                (key.to_string(), "role=5B=22app=22=5D".to_string()),
            ]
        );
        let read = decoded_tags_value(sent.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(read, tags);
    }
}
