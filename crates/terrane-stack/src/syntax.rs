//! The stack file format as Rust types. The JSON Schema that editors use is generated
//! from these types, so the two cannot disagree.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::node::Node;

/// A `stack.yaml`, or a module's `module.yaml` (same shape; a module has no `stack` name
/// and no default tags of its own).
#[derive(Debug, Deserialize, JsonSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct StackFile {
    /// The stack's name: it names the stack in state and in ownership tags.
    pub stack: Option<String>,
    pub description: Option<String>,
    /// Region for resources that do not name one.
    pub region: Option<String>,
    /// Where state lives: `sqlite` (the default, `<stack>/.terrane/state.db`) or
    /// `dynamodb://TABLE` (optionally `?region=REGION`) for teams sharing the stack.
    pub backend: Option<String>,
    /// Tags put on every taggable resource of the stack.
    #[serde(default)]
    pub default_tags: IndexMap<String, String>,
    #[serde(default)]
    #[schemars(with = "IndexMap<String, VariableDecl>")]
    pub variables: IndexMap<Spanned<String>, VariableDecl>,
    /// Named values computed once from variables, usable as `${local.NAME}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub locals: IndexMap<String, Spanned<Node>>,
    #[serde(default)]
    #[schemars(with = "IndexMap<String, ResourceDeclSchema>")]
    pub resources: IndexMap<Spanned<String>, std::sync::Arc<ResourceDecl>>,
    #[serde(default)]
    #[schemars(with = "IndexMap<String, ModuleDeclSchema>")]
    pub modules: IndexMap<Spanned<String>, ModuleDecl>,
    #[serde(default)]
    pub outputs: IndexMap<String, OutputDecl>,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    #[default]
    String,
    Number,
    Bool,
    List,
    Map,
    Any,
}

#[derive(Debug, Deserialize, JsonSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default, rename = "type")]
    pub var_type: VarType,
    pub description: Option<String>,
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<Spanned<Node>>,
    /// The only values accepted.
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub allowed: Option<Spanned<Vec<Node>>>,
    pub validation: Option<Validation>,
    /// Never shown, logged or stored in plain text.
    #[serde(default)]
    pub sensitive: bool,
    /// Read the value from this environment variable when no other value is given.
    pub from_env: Option<String>,
    /// Read the value from this file (relative to the stack directory) when no other value is given.
    pub from_file: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    /// A regular expression the whole value must match.
    pub pattern: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    /// The value must be an IPv4 CIDR block.
    #[serde(default)]
    pub cidr: bool,
    /// Shown when the value fails validation.
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ResourceDecl {
    #[serde(rename = "type")]
    pub type_name: Spanned<String>,
    pub region: Option<Spanned<Node>>,
    #[serde(default = "empty_map_node")]
    pub properties: Spanned<Node>,
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    pub count: Option<Spanned<Node>>,
    pub for_each: Option<Spanned<Node>>,
    /// A boolean; when false the resource is not part of the stack.
    pub enabled: Option<Spanned<Node>>,
    #[serde(default)]
    pub lifecycle: LifecycleDecl,
    /// Security checks (`validate --policy`) this resource is exempt from, each with a reason.
    #[serde(default)]
    pub waivers: Vec<Waiver>,
}

#[derive(Debug, Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// The check's id, e.g. `open-admin-port`.
    pub rule: String,
    /// Why this resource may break it: shown with every report.
    pub reason: String,
}

fn empty_map_node() -> Spanned<Node> {
    let unknown = serde_saphyr::Location::UNKNOWN;
    Spanned::new(Node::Map(Vec::new()), unknown, unknown)
}

/// Schema twin of [`ResourceDecl`] (the real one keeps source locations).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ResourceDeclSchema {
    /// Resource type, e.g. `aws.ec2.vpc`.
    #[serde(rename = "type")]
    type_name: String,
    /// AWS region; defaults to the module's or stack's region.
    region: Option<String>,
    /// The resource's attributes; `${...}` references other resources and variables.
    properties: Option<IndexMap<String, serde_json::Value>>,
    /// Addresses of resources that must exist first, beyond those referenced.
    depends_on: Option<Vec<String>>,
    /// Make this many instances, addressed `name[0]`, `name[1]`, ...
    count: Option<serde_json::Value>,
    /// Make one instance per list item or map key, addressed `name["key"]`.
    for_each: Option<serde_json::Value>,
    /// A boolean; when false the resource is not part of the stack.
    enabled: Option<serde_json::Value>,
    lifecycle: Option<LifecycleDecl>,
    /// Security checks this resource is exempt from: `[{rule: open-admin-port, reason: "..."}]`.
    waivers: Option<Vec<Waiver>>,
}

#[derive(Debug, Deserialize, JsonSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct LifecycleDecl {
    /// Refuse any plan that would delete or replace this resource.
    #[serde(default)]
    pub prevent_destroy: bool,
    /// Attributes whose differences are neither planned nor reported as drift.
    #[serde(default)]
    pub ignore_changes: Vec<String>,
    /// On replacement, create the new resource before deleting the old one.
    #[serde(default)]
    pub create_before_destroy: bool,
    /// Attributes another system owns (an autoscaler's desired size): set at creation,
    /// then never planned and never reported as drift.
    #[serde(default)]
    pub owned_elsewhere: Vec<String>,
}

impl LifecycleDecl {
    /// Whether differences in `attribute` are left alone, by `ignore_changes` or `owned_elsewhere`.
    pub fn ignores(&self, attribute: &str) -> bool {
        self.ignore_changes
            .iter()
            .chain(&self.owned_elsewhere)
            .any(|a| a == attribute)
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ModuleDecl {
    pub source: Spanned<String>,
    pub region: Option<Spanned<Node>>,
    #[serde(default)]
    pub inputs: IndexMap<Spanned<String>, Spanned<Node>>,
    pub count: Option<Spanned<Node>>,
    pub for_each: Option<Spanned<Node>>,
    pub enabled: Option<Spanned<Node>>,
}

/// Schema twin of [`ModuleDecl`].
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ModuleDeclSchema {
    /// Directory of the module, relative to the file that uses it; holds `module.yaml`.
    source: String,
    /// Default region of the module's resources.
    region: Option<String>,
    /// Values of the module's variables.
    inputs: Option<IndexMap<String, serde_json::Value>>,
    count: Option<serde_json::Value>,
    for_each: Option<serde_json::Value>,
    enabled: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct OutputDecl {
    #[schemars(with = "serde_json::Value")]
    pub value: Spanned<Node>,
    pub description: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
}

/// The JSON Schema of `stack.yaml` and `module.yaml`, for the YAML language server.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(StackFile);
    serde_json::to_value(schema).expect("a JSON Schema is always serialisable")
}
