//! Provider tests of ownership-tag encoding: an address with characters most AWS services
//! refuse in tag values, and the checks every service's test makes of it.

use terrane_core::Value;
use terrane_provider::Attributes;

/// An address whose ownership tag value has characters (`[`, `"`, space) that most AWS
/// services refuse in tag values.
pub const ODD_ADDRESS: &str = r#"thing["a b"]"#;

/// The raw `terrane:address` value as AWS holds it: encoded, only allowed characters.
pub fn assert_encoded_address(raw: Option<&str>) {
    let raw = raw.expect("the address tag is on the resource");
    assert_ne!(raw, ODD_ADDRESS, "sent as is");
    assert!(
        raw.chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)),
        "not in the allowed characters: {raw}"
    );
}

/// Observe hands the plain address back in `tags`.
pub fn assert_plain_address(attrs: &Attributes) {
    assert_eq!(
        attrs["tags"].as_map().unwrap()[terrane_core::OWNERSHIP_TAG_ADDRESS],
        Value::string(ODD_ADDRESS)
    );
}
