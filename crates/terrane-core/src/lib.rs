//! Vocabulary shared by every layer of terrane: values, addresses, source locations,
//! located diagnostics and the attribute schema that resource types declare.
//!
//! This crate knows nothing of YAML, AWS, SQLite or the network.

pub mod address;
pub mod diagnostic;
pub mod schema;
pub mod secret;
pub mod value;

pub use address::Address;
pub use diagnostic::{Diagnostic, Diagnostics, SourceLocation};
pub use schema::{
    AttrKind, AttrSchema, DefaultValue, OwnsAll, ResourceSchema, SchemaSource, ValueType,
};
pub use secret::{SecretHasher, SecretString};
pub use value::Value;

/// Tag keys terrane puts on every taggable resource so that it can find what it made.
pub const OWNERSHIP_TAG_STACK: &str = "terrane:stack";
pub const OWNERSHIP_TAG_ADDRESS: &str = "terrane:address";
