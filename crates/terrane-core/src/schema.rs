use crate::value::Value;

/// Whether an attribute is set by the stack, by AWS, or either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrKind {
    /// Must be set in the stack.
    Required,
    /// May be set in the stack; when it is not, terrane does not manage it
    /// (unless a default is declared, which is then managed).
    Optional,
    /// Set by AWS only (an id, an ARN); the stack may read it but not set it.
    Computed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    String,
    Number,
    Bool,
    List,
    Map,
    Any,
}

impl ValueType {
    /// Whether `v` fits this type; unknown values fit everything until they are known.
    pub fn accepts(&self, v: &Value) -> bool {
        match (self, v) {
            (_, Value::Unknown) | (ValueType::Any, _) => true,
            (ValueType::String, Value::String(_) | Value::Secret(_)) => true,
            (ValueType::String, Value::Number(_) | Value::Bool(_)) => true,
            (ValueType::Number, Value::Number(_)) => true,
            (ValueType::Number, Value::String(s)) => s.parse::<f64>().is_ok(),
            (ValueType::Bool, Value::Bool(_)) => true,
            (ValueType::List, Value::List(_)) => true,
            (ValueType::Map, Value::Map(_)) => true,
            _ => false,
        }
    }
}

/// A value an optional attribute takes when the stack leaves it out. Declaring one makes
/// terrane manage the attribute even when unset (so drift away from it is seen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum DefaultValue {
    Bool(bool),
    Int(i64),
    Str(&'static str),
}

impl DefaultValue {
    pub fn to_value(self) -> Value {
        match self {
            DefaultValue::Bool(b) => Value::Bool(b),
            DefaultValue::Int(i) => Value::int(i),
            DefaultValue::Str(s) => Value::string(s),
        }
    }
}

/// What an attribute that lists every object of a kind on its resource owns (a security
/// group's inline `ingress` lists all of the group's inbound rules): while it is set, a
/// separate resource of `member_type` attached to the same resource would be removed by
/// every apply of the owner, and added back by its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OwnsAll {
    pub member_type: &'static str,
    /// The member's attribute that holds the owner's id (`security_group_id`).
    pub via: &'static str,
    /// The member's attribute and value that make it one of the owned kind (a rule's
    /// `direction: ingress`); every member is, when absent.
    pub when: Option<(&'static str, &'static str)>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AttrSchema {
    pub name: &'static str,
    pub kind: AttrKind,
    pub value_type: ValueType,
    /// Changing it cannot be done in place: the resource is replaced.
    pub forces_replacement: bool,
    /// Can be set in place on a resource that has none, but once set, changing it replaces
    /// the resource (an EKS cluster's secrets-encryption key).
    pub forces_replacement_once_set: bool,
    /// Passed to AWS, never stored or shown in plain text.
    pub sensitive: bool,
    /// Compared as a set: order carries no meaning (rules, subnet ids).
    pub unordered: bool,
    /// A file on the machine running terrane (a Lambda bundle), named relative to the
    /// stack's directory: kept so in state, joined onto that directory for the provider.
    pub local_file: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owns_all: Option<OwnsAll>,
    pub default: Option<DefaultValue>,
    pub description: &'static str,
}

impl AttrSchema {
    pub const fn new(name: &'static str, kind: AttrKind, value_type: ValueType) -> Self {
        AttrSchema {
            name,
            kind,
            value_type,
            forces_replacement: false,
            forces_replacement_once_set: false,
            sensitive: false,
            unordered: false,
            local_file: false,
            owns_all: None,
            default: None,
            description: "",
        }
    }

    pub const fn required(name: &'static str, value_type: ValueType) -> Self {
        Self::new(name, AttrKind::Required, value_type)
    }

    pub const fn optional(name: &'static str, value_type: ValueType) -> Self {
        Self::new(name, AttrKind::Optional, value_type)
    }

    pub const fn computed(name: &'static str, value_type: ValueType) -> Self {
        Self::new(name, AttrKind::Computed, value_type)
    }

    pub const fn forces_replacement(mut self) -> Self {
        self.forces_replacement = true;
        self
    }

    pub const fn owns_all(mut self, owned: OwnsAll) -> Self {
        self.owns_all = Some(owned);
        self
    }

    pub const fn local_file(mut self) -> Self {
        self.local_file = true;
        self
    }

    pub const fn forces_replacement_once_set(mut self) -> Self {
        self.forces_replacement_once_set = true;
        self
    }

    /// Whether changing the attribute from `current` replaces the resource.
    pub fn replaces_from(&self, current: Option<&crate::Value>) -> bool {
        self.forces_replacement
            || (self.forces_replacement_once_set
                && current.is_some_and(|v| !matches!(v, crate::Value::Null)))
    }

    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub const fn unordered(mut self) -> Self {
        self.unordered = true;
        self
    }

    pub const fn default(mut self, d: DefaultValue) -> Self {
        self.default = Some(d);
        self
    }

    pub const fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    pub fn settable(&self) -> bool {
        self.kind != AttrKind::Computed
    }
}

/// Brings an attribute's value into one canonical form before comparison, so that
/// two spellings of the same thing (a rule list grouped two ways) compare equal.
pub type Normalizer = fn(attr: &str, value: &Value) -> Value;

/// What a resource type declares about itself; the engine decides everything from this.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ResourceSchema {
    /// e.g. `aws.ec2.vpc`
    pub type_name: &'static str,
    pub description: &'static str,
    pub attributes: Vec<AttrSchema>,
    /// Carries the stack's default tags and terrane's ownership tags in its `tags` attribute.
    pub taggable: bool,
    /// The attribute that other resources usually reference (`id`).
    pub id_attribute: &'static str,
    #[serde(skip)]
    pub normalize: Option<Normalizer>,
    /// A stack snippet showing typical use, for the generated reference page.
    pub example: &'static str,
}

impl ResourceSchema {
    pub fn attribute(&self, name: &str) -> Option<&AttrSchema> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn normalized(&self, attr: &str, v: &Value) -> Value {
        match self.normalize {
            Some(f) => f(attr, v),
            None => v.clone(),
        }
    }
}

/// Anything that can answer "what does resource type X look like?".
pub trait SchemaSource {
    fn schema(&self, type_name: &str) -> Option<&ResourceSchema>;
    fn type_names(&self) -> Vec<&'static str>;
}
