//! Loading a stack directory and expanding it: variables resolved, modules instantiated,
//! `count` / `for_each` / `enabled` applied, giving one [`ResourceInstance`] per address.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_saphyr::Spanned;
use terrane_core::address::InstanceKey;
use terrane_core::{Address, Diagnostic, Diagnostics, SecretString, SourceLocation, Value};

use crate::eval::{AttrLookup, Evaluator, Reference, Refs};
use crate::node::{Node, SNode};
use crate::syntax::{LifecycleDecl, ResourceDecl, StackFile, VarType, VariableDecl};

pub type ScopeId = usize;

/// Where an expression is evaluated: a file's scope, plus `each` / `count` of one instance.
#[derive(Clone, Debug)]
pub struct InstanceCtx {
    pub scope: ScopeId,
    pub each: Option<(Value, Value)>,
    pub count: Option<usize>,
}

#[derive(Clone, Debug)]
pub(crate) enum VarBinding {
    Value(Value),
    /// A module input, evaluated lazily in the calling scope (it may reference resources).
    Expr(SNode, InstanceCtx),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Shape {
    Single,
    Count(usize),
    Keys(Vec<String>),
    Disabled,
}

impl Shape {
    pub(crate) fn keys(&self) -> Vec<InstanceKey> {
        match self {
            Shape::Single => vec![InstanceKey::None],
            Shape::Count(n) => (0..*n).map(InstanceKey::Index).collect(),
            Shape::Keys(k) => k.iter().cloned().map(InstanceKey::Key).collect(),
            Shape::Disabled => vec![],
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ResourceGroup {
    pub shape: Shape,
    pub type_name: String,
}

#[derive(Clone, Debug)]
pub(crate) struct ModuleGroup {
    pub shape: Shape,
    pub instances: Vec<(InstanceKey, ScopeId)>,
}

#[derive(Debug)]
pub(crate) struct Scope {
    /// Address prefix of everything declared in this scope: "" or `module.net.`.
    pub prefix: String,
    pub file: Arc<Path>,
    pub vars: HashMap<String, VarBinding>,
    pub locals: HashMap<String, SNode>,
    pub resources: HashMap<String, ResourceGroup>,
    pub modules: HashMap<String, ModuleGroup>,
    pub outputs: HashMap<String, SNode>,
}

/// One resource of the expanded stack.
#[derive(Clone, Debug)]
pub struct ResourceInstance {
    pub address: Address,
    pub type_name: String,
    pub type_location: SourceLocation,
    /// Where the resource is declared (its name).
    pub location: SourceLocation,
    pub region: String,
    pub decl: Arc<ResourceDecl>,
    pub ctx: InstanceCtx,
    pub lifecycle: LifecycleDecl,
    pub default_tags: BTreeMap<String, String>,
}

impl Stack {
    /// The directory holding `stack.yaml`: what relative file paths in the stack (and
    /// `path.root`, `path.module`) are relative to.
    pub fn root_dir(&self) -> &Path {
        match self.root_file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }
}

impl ResourceInstance {
    /// The property names as written, with where each was written.
    pub fn property_keys(&self) -> Vec<(String, SourceLocation)> {
        match &self.decl.properties.value {
            Node::Map(entries) => entries
                .iter()
                .map(|(k, _)| (k.value.clone(), loc_of(&self.location.file, &k.referenced)))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn property_location(&self, name: &str) -> Option<SourceLocation> {
        self.property_keys()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, l)| l)
    }
}

#[derive(Clone, Debug)]
pub struct OutputSpec {
    pub name: String,
    pub description: Option<String>,
    pub sensitive: bool,
    pub(crate) node: SNode,
}

/// A stack with its variables resolved and its modules and instances expanded.
#[derive(Debug)]
pub struct Stack {
    pub name: String,
    pub dir: PathBuf,
    pub root_file: Arc<Path>,
    pub default_region: Option<String>,
    pub instances: Vec<ResourceInstance>,
    pub by_address: HashMap<Address, usize>,
    pub outputs: Vec<OutputSpec>,
    /// Variables of the root scope, for plan files and display (secrets stay secret).
    pub variables: BTreeMap<String, Value>,
    pub(crate) scopes: Vec<Scope>,
}

/// How a stack is loaded: which environment file and which `--var` overrides.
pub struct LoadOptions<'a> {
    pub env: Option<String>,
    pub vars: Vec<(String, String)>,
    /// Reads an environment variable (for `from_env`); injected so tests need no process env.
    pub env_lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            env: None,
            vars: Vec::new(),
            env_lookup: &|name| std::env::var(name).ok(),
        }
    }
}

pub const STACK_FILE: &str = "stack.yaml";
pub const MODULE_FILE: &str = "module.yaml";

pub(crate) fn loc_of(file: &Arc<Path>, l: &serde_saphyr::Location) -> SourceLocation {
    SourceLocation::new(file.clone(), l.line() as u32, l.column() as u32)
}

/// Reads and parses one YAML file into `T`, locating any error in that file.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Diagnostic> {
    // Located at the file, so that an unreadable file (not UTF-8, say) is reported like
    // any other problem in it.
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::at(SourceLocation::file_only(path), format!("cannot read: {e}"))
    })?;
    parse_yaml_str(path, &text)
}

pub fn parse_yaml_str<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, Diagnostic> {
    // Generated stacks of 100,000 resources are real; the parser's defaults are tuned for
    // configuration files. Depth and alias limits (the dangerous ones) stay as they are.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 100_000_000;
    budget.max_nodes = 50_000_000;
    budget.max_total_scalar_bytes = 1 << 30;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_str_with_options::<T>(text, options).map_err(|e| {
        let file: Arc<Path> = Arc::from(path);
        let location = e
            .location()
            .filter(|l| l.line() > 0)
            .map(|l| loc_of(&file, &l))
            .unwrap_or_else(|| SourceLocation::file_only(path));
        Diagnostic::at(location, crate::yaml_message(&e))
    })
}

/// The stack's name (qualified by `env`, see [`qualified_name`]) and state backend,
/// without resolving variables (for state commands).
pub fn stack_header(dir: &Path, env: Option<&str>) -> Result<(String, Option<String>), Diagnostic> {
    let root: StackFile = parse_yaml(&dir.join(STACK_FILE))?;
    let name = root.stack.unwrap_or_else(|| default_name(dir));
    Ok((qualified_name(&name, env), root.backend))
}

/// The name a stack is known by in state and in its resources' `terrane:stack` tag: each
/// environment of one stack directory (`--env dev`, `--env prod`) is a stack of its own,
/// `name/env`, so applying one never plans to replace the other's resources.
pub fn qualified_name(name: &str, env: Option<&str>) -> String {
    match env {
        Some(env) => format!("{name}/{env}"),
        None => name.to_string(),
    }
}

fn default_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "stack".to_string())
}

/// Loads the stack in `dir`: `stack.yaml`, the chosen `env/<env>.yaml`, and every module used.
pub fn load_stack(dir: &Path, opts: &LoadOptions<'_>) -> Result<Stack, Diagnostics> {
    let root_path = dir.join(STACK_FILE);
    if !root_path.is_file() {
        return Err(Diagnostic::unlocated(format!(
            "{}: no {STACK_FILE} here; a stack is a directory holding {STACK_FILE}",
            dir.display()
        ))
        .into());
    }
    let root: StackFile = parse_yaml(&root_path)?;
    let root_file: Arc<Path> = Arc::from(root_path.as_path());
    let name = qualified_name(
        &root.stack.clone().unwrap_or_else(|| default_name(dir)),
        opts.env.as_deref(),
    );
    let mut builder = Builder {
        stack: Stack {
            name,
            dir: dir.to_path_buf(),
            root_file: root_file.clone(),
            default_region: root.region.clone(),
            instances: Vec::new(),
            by_address: HashMap::new(),
            outputs: Vec::new(),
            variables: BTreeMap::new(),
            scopes: Vec::new(),
        },
        diags: Diagnostics::new(),
        module_chain: vec![root_path.canonicalize().unwrap_or(root_path.clone())],
    };
    let env_values = match &opts.env {
        Some(env) => load_env_file(dir, env, &root)?,
        None => Vec::new(),
    };
    let vars = builder.root_variables(&root, &root_file, dir, env_values, opts);
    builder.stack.variables = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let root_scope = builder.new_scope(
        String::new(),
        root_file.clone(),
        vars.into_iter()
            .map(|(k, v)| (k, VarBinding::Value(v)))
            .collect(),
    );
    let default_tags = builder.static_tags(&root.default_tags, root_scope, &BTreeMap::new());
    builder.stack.outputs = root
        .outputs
        .iter()
        .map(|(name, o)| OutputSpec {
            name: name.clone(),
            description: o.description.clone(),
            sensitive: o.sensitive,
            node: o.value.clone(),
        })
        .collect();
    let region = root.region.clone();
    builder.expand(Arc::new(root), root_scope, region, &default_tags, dir);
    builder.diags.into_result(builder.stack)
}

/// A value from an environment file: the variable's name, the value, and the file.
type EnvValue = (Spanned<String>, SNode, Arc<Path>);

fn load_env_file(dir: &Path, env: &str, root: &StackFile) -> Result<Vec<EnvValue>, Diagnostics> {
    let path = dir.join("env").join(format!("{env}.yaml"));
    if !path.is_file() {
        let mut known: Vec<String> = std::fs::read_dir(dir.join("env"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.path()
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        known.sort();
        return Err(Diagnostic::unlocated(format!(
            "environment `{env}`: no file {}",
            path.display()
        ))
        .with_note(if known.is_empty() {
            "this stack has no env/ directory".to_string()
        } else {
            format!("environments of this stack: {}", known.join(", "))
        })
        .into());
    }
    let values: IndexMap<Spanned<String>, SNode> = parse_yaml(&path)?;
    let file: Arc<Path> = Arc::from(path.as_path());
    let mut diags = Diagnostics::new();
    let mut out = Vec::new();
    for (k, v) in values {
        if !root.variables.keys().any(|d| d.value == k.value) {
            diags.push(Diagnostic::at(
                loc_of(&file, &k.referenced),
                format!("`{}` is not a variable of this stack", k.value),
            ));
            continue;
        }
        out.push((k, v, file.clone()));
    }
    diags.into_result(out)
}

struct Builder {
    stack: Stack,
    diags: Diagnostics,
    /// Module files being expanded, outermost first, to catch a module that uses itself.
    module_chain: Vec<PathBuf>,
}

impl Builder {
    fn new_scope(
        &mut self,
        prefix: String,
        file: Arc<Path>,
        vars: HashMap<String, VarBinding>,
    ) -> ScopeId {
        self.stack.scopes.push(Scope {
            prefix,
            file,
            vars,
            locals: HashMap::new(),
            resources: HashMap::new(),
            modules: HashMap::new(),
            outputs: HashMap::new(),
        });
        self.stack.scopes.len() - 1
    }

    /// `inherited` tags overlaid with `tags`, whose values may use `${var.x}` and locals.
    fn static_tags(
        &mut self,
        tags: &IndexMap<String, String>,
        scope: ScopeId,
        inherited: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut out = inherited.clone();
        let ctx = InstanceCtx {
            scope,
            each: None,
            count: None,
        };
        let at = serde_saphyr::Location::UNKNOWN;
        for (k, v) in tags {
            match self.eval_static(&Spanned::new(Node::Str(v.clone()), at, at), &ctx) {
                Ok(Value::String(s)) => {
                    out.insert(k.clone(), s);
                }
                Ok(other) => {
                    out.insert(k.clone(), other.to_string());
                }
                Err(d) => self.diags.push(Diagnostic {
                    location: Some(SourceLocation::file_only(
                        self.stack.scopes[scope].file.to_path_buf(),
                    )),
                    ..d.with_note(format!("in default_tags.{k}"))
                }),
            }
        }
        out
    }

    fn eval_static(&self, node: &SNode, ctx: &InstanceCtx) -> Result<Value, Diagnostic> {
        let refs = Refs::Static;
        Evaluator {
            stack: &self.stack,
            refs: &refs,
        }
        .node(node, ctx, 0)
    }

    fn root_variables(
        &mut self,
        root: &StackFile,
        file: &Arc<Path>,
        dir: &Path,
        env_values: Vec<EnvValue>,
        opts: &LoadOptions<'_>,
    ) -> BTreeMap<String, Value> {
        for (name, _) in &opts.vars {
            if !root.variables.keys().any(|d| &d.value == name) {
                self.diags.push(Diagnostic::unlocated(format!(
                    "--var {name}: `{name}` is not a variable of this stack"
                )));
            }
        }
        let mut out = BTreeMap::new();
        for (name, decl) in &root.variables {
            let decl_loc = loc_of(file, &name.referenced);
            let cli = opts
                .vars
                .iter()
                .rev()
                .find(|(k, _)| k == &name.value)
                .map(|(_, v)| v.clone());
            let env_file = env_values.iter().find(|(k, _, _)| k.value == name.value);
            let raw = if let Some(text) = cli {
                convert_cli(&text, decl.var_type)
                    .map_err(|m| Diagnostic::unlocated(format!("--var {}: {m}", name.value)))
            } else if let Some((_, node, env_file)) = env_file {
                if decl.sensitive {
                    Err(Diagnostic::at(loc_of(env_file, &node.referenced), format!("`{}` is sensitive and must not be written in plain text in an environment file", name.value))
                        .with_note(format!("set it with from_env or from_file on the variable declared at {decl_loc}")))
                } else {
                    literal(node).map_err(|m| Diagnostic::at(loc_of(env_file, &node.referenced), m))
                }
            } else if let Some(v) = decl.from_env.as_ref().and_then(|e| (opts.env_lookup)(e)) {
                convert_cli(&v, decl.var_type).map_err(|m| {
                    Diagnostic::at(
                        decl_loc.clone(),
                        format!(
                            "variable `{}` from ${}: {m}",
                            name.value,
                            decl.from_env.as_deref().unwrap_or("")
                        ),
                    )
                })
            } else if let Some(path) = &decl.from_file {
                match std::fs::read_to_string(dir.join(path)) {
                    Ok(text) => Ok(Value::String(
                        text.trim_end_matches(['\n', '\r']).to_string(),
                    )),
                    Err(e) => Err(Diagnostic::at(
                        decl_loc.clone(),
                        format!("variable `{}`: cannot read {path}: {e}", name.value),
                    )),
                }
            } else if let Some(default) = &decl.default {
                if decl.sensitive {
                    Err(Diagnostic::at(
                        loc_of(file, &default.referenced),
                        format!(
                            "sensitive variable `{}` must not have a default written in the stack",
                            name.value
                        ),
                    )
                    .with_note("read it from the environment (from_env) or a file (from_file)"))
                } else {
                    literal(default)
                        .map_err(|m| Diagnostic::at(loc_of(file, &default.referenced), m))
                }
            } else {
                let mut hint = format!("give it with --var {}=VALUE", name.value);
                if let Some(e) = &decl.from_env {
                    hint.push_str(&format!(" or set ${e}"));
                }
                Err(Diagnostic::at(
                    decl_loc.clone(),
                    format!("variable `{}` has no value", name.value),
                )
                .with_note(hint))
            };
            match raw.and_then(|v| validate_variable(&name.value, decl, v, &decl_loc)) {
                Ok(v) => {
                    let v = match v {
                        Value::String(s) if decl.sensitive => Value::Secret(SecretString::new(s)),
                        v => v,
                    };
                    out.insert(name.value.clone(), v);
                }
                Err(d) => self.diags.push(d),
            }
        }
        out
    }

    /// Registers and expands everything declared in one file, in scope `scope`.
    fn expand(
        &mut self,
        file_decl: Arc<StackFile>,
        scope: ScopeId,
        region: Option<String>,
        default_tags: &BTreeMap<String, String>,
        dir: &Path,
    ) {
        let file = self.stack.scopes[scope].file.clone();
        let scope_ctx = InstanceCtx {
            scope,
            each: None,
            count: None,
        };
        self.stack.scopes[scope].locals = file_decl
            .locals
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.stack.scopes[scope].outputs = file_decl
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();

        // Resource names first, so that module inputs and outputs can refer to them.
        let mut seen: HashMap<String, SourceLocation> = HashMap::new();
        let mut resource_shapes = Vec::new();
        for (name, decl) in &file_decl.resources {
            let at = loc_of(&file, &name.referenced);
            if let Some(first) = seen.get(&name.value) {
                self.diags.push(Diagnostic::at(
                    at,
                    format!(
                        "duplicate resource name `{}` (first declared at {first})",
                        name.value
                    ),
                ));
                continue;
            }
            if let Err(m) = check_name(&name.value) {
                self.diags.push(Diagnostic::at(at.clone(), m));
            }
            seen.insert(name.value.clone(), at.clone());
            let shape = match self.shape(
                decl.count.as_ref(),
                decl.for_each.as_ref(),
                decl.enabled.as_ref(),
                &scope_ctx,
                &file,
            ) {
                Ok(s) => s,
                Err(d) => {
                    self.diags.push(d);
                    continue;
                }
            };
            self.stack.scopes[scope].resources.insert(
                name.value.clone(),
                ResourceGroup {
                    shape: shape.0.clone(),
                    type_name: decl.type_name.value.clone(),
                },
            );
            resource_shapes.push((name, decl.clone(), shape, at));
        }

        let mut seen_modules: HashMap<String, SourceLocation> = HashMap::new();
        for (name, decl) in &file_decl.modules {
            let at = loc_of(&file, &name.referenced);
            if let Some(first) = seen_modules.get(&name.value) {
                self.diags.push(Diagnostic::at(
                    at,
                    format!(
                        "duplicate module name `{}` (first declared at {first})",
                        name.value
                    ),
                ));
                continue;
            }
            seen_modules.insert(name.value.clone(), at.clone());
            let (shape, items) = match self.shape(
                decl.count.as_ref(),
                decl.for_each.as_ref(),
                decl.enabled.as_ref(),
                &scope_ctx,
                &file,
            ) {
                Ok(s) => s,
                Err(d) => {
                    self.diags.push(d);
                    continue;
                }
            };
            let module_dir = lexically_normal(
                &file
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(&decl.source.value),
            );
            let module_path = module_dir.join(MODULE_FILE);
            let canonical = module_path.canonicalize().unwrap_or(module_path.clone());
            if self.module_chain.contains(&canonical) {
                self.diags.push(Diagnostic::at(loc_of(&file, &decl.source.referenced), format!("module `{}` uses {} which is already being expanded: modules cannot include themselves", name.value, module_path.display())));
                continue;
            }
            let module_file: StackFile = match parse_yaml(&module_path) {
                Ok(m) => m,
                Err(mut d) => {
                    if !module_path.is_file() {
                        d = Diagnostic::at(
                            loc_of(&file, &decl.source.referenced),
                            format!(
                                "module source `{}`: no {} at {}",
                                decl.source.value,
                                MODULE_FILE,
                                module_path.display()
                            ),
                        );
                    }
                    self.diags.push(d);
                    continue;
                }
            };
            let module_file = Arc::new(module_file);
            let module_file_path: Arc<Path> = Arc::from(module_path.as_path());
            self.stack.scopes[scope].modules.insert(
                name.value.clone(),
                ModuleGroup {
                    shape: shape.clone(),
                    instances: Vec::new(),
                },
            );
            for (key, each, count) in items {
                let ctx = InstanceCtx { scope, each, count };
                let prefix = format!(
                    "{}module.{}{}.",
                    self.stack.scopes[scope].prefix, name.value, key
                );
                let mut vars = HashMap::new();
                for (input, _) in &decl.inputs {
                    if !module_file.variables.keys().any(|v| v.value == input.value) {
                        self.diags.push(Diagnostic::at(
                            loc_of(&file, &input.referenced),
                            format!("module `{}` has no variable `{}`", name.value, input.value),
                        ));
                    }
                }
                for (var, vdecl) in &module_file.variables {
                    if let Some((_, node)) = decl.inputs.iter().find(|(k, _)| k.value == var.value)
                    {
                        vars.insert(
                            var.value.clone(),
                            VarBinding::Expr(node.clone(), ctx.clone()),
                        );
                    } else if let Some(default) = &vdecl.default {
                        match literal(default) {
                            Ok(v) => {
                                vars.insert(var.value.clone(), VarBinding::Value(v));
                            }
                            Err(m) => self.diags.push(Diagnostic::at(
                                loc_of(&module_file_path, &default.referenced),
                                m,
                            )),
                        }
                    } else {
                        self.diags.push(
                            Diagnostic::at(
                                at.clone(),
                                format!("module `{}` needs input `{}`", name.value, var.value),
                            )
                            .with_note(format!(
                                "declared at {}",
                                loc_of(&module_file_path, &var.referenced)
                            )),
                        );
                    }
                }
                let module_region = match &decl.region {
                    Some(r) => match self.eval_static(r, &ctx) {
                        Ok(Value::String(s)) => Some(s),
                        Ok(other) => {
                            self.diags.push(Diagnostic::at(
                                loc_of(&file, &r.referenced),
                                format!("region must be a string, found {other}"),
                            ));
                            region.clone()
                        }
                        Err(d) => {
                            self.diags.push(d);
                            region.clone()
                        }
                    },
                    None => region.clone(),
                };
                let child = self.new_scope(prefix, module_file_path.clone(), vars);
                let tags = self.static_tags(&module_file.default_tags, child, default_tags);
                if let Some(group) = self.stack.scopes[scope].modules.get_mut(&name.value) {
                    group.instances.push((key.clone(), child));
                }
                self.module_chain.push(canonical.clone());
                self.expand(
                    module_file.clone(),
                    child,
                    module_region,
                    &tags,
                    &module_dir,
                );
                self.module_chain.pop();
            }
        }

        for (name, decl, (_, items), at) in resource_shapes {
            let type_location = loc_of(&file, &decl.type_name.referenced);
            for (key, each, count) in items {
                let ctx = InstanceCtx { scope, each, count };
                let address = Address::keyed(
                    &format!("{}{}", self.stack.scopes[scope].prefix, name.value),
                    &key,
                );
                let region = match &decl.region {
                    Some(r) => match self.eval_static(r, &ctx) {
                        Ok(Value::String(s)) => Some(s),
                        Ok(other) => {
                            self.diags.push(Diagnostic::at(
                                loc_of(&file, &r.referenced),
                                format!("region must be a string, found {other}"),
                            ));
                            None
                        }
                        Err(d) => {
                            self.diags.push(d);
                            None
                        }
                    },
                    None => region.clone(),
                };
                let Some(region) = region else {
                    self.diags.push(
                        Diagnostic::at(at.clone(), format!("resource `{address}` has no region"))
                            .with_note("set `region:` on the resource, its module, or the stack"),
                    );
                    continue;
                };
                if !is_region_name(&region) {
                    let where_ = decl
                        .region
                        .as_ref()
                        .map(|r| loc_of(&file, &r.referenced))
                        .unwrap_or(at.clone());
                    self.diags.push(Diagnostic::at(
                        where_,
                        format!("`{region}` is not an AWS region name (like us-east-1)"),
                    ));
                }
                if !decl.properties.value.kind().eq("map") {
                    self.diags.push(Diagnostic::at(
                        loc_of(&file, &decl.properties.referenced),
                        "properties must be a map of attribute names to values",
                    ));
                }
                let index = self.stack.instances.len();
                self.stack.by_address.insert(address.clone(), index);
                self.stack.instances.push(ResourceInstance {
                    address,
                    type_name: decl.type_name.value.clone(),
                    type_location: type_location.clone(),
                    location: at.clone(),
                    region,
                    decl: decl.clone(),
                    ctx,
                    lifecycle: decl.lifecycle.clone(),
                    default_tags: default_tags.clone(),
                });
            }
        }
        let _ = dir;
    }

    /// The instances a declaration expands to: its shape and, per instance, key, `each` and `count.index`.
    #[allow(clippy::type_complexity)]
    fn shape(
        &self,
        count: Option<&SNode>,
        for_each: Option<&SNode>,
        enabled: Option<&SNode>,
        ctx: &InstanceCtx,
        file: &Arc<Path>,
    ) -> Result<
        (
            Shape,
            Vec<(InstanceKey, Option<(Value, Value)>, Option<usize>)>,
        ),
        Diagnostic,
    > {
        if let Some(e) = enabled {
            match self.eval_static(e, ctx)? {
                Value::Bool(true) => {}
                Value::Bool(false) => return Ok((Shape::Disabled, Vec::new())),
                other => {
                    return Err(Diagnostic::at(
                        loc_of(file, &e.referenced),
                        format!(
                            "enabled must be a bool, found {} ({other})",
                            other.type_name()
                        ),
                    ));
                }
            }
        }
        match (count, for_each) {
            (Some(c), Some(_)) => Err(Diagnostic::at(
                loc_of(file, &c.referenced),
                "use either count or for_each, not both",
            )),
            (Some(c), None) => {
                let v = self.eval_static(c, ctx)?;
                let n = v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                    Diagnostic::at(
                        loc_of(file, &c.referenced),
                        format!("count must be a whole number of zero or more, found {v}"),
                    )
                })? as usize;
                Ok((
                    Shape::Count(n),
                    (0..n)
                        .map(|i| (InstanceKey::Index(i), None, Some(i)))
                        .collect(),
                ))
            }
            (None, Some(f)) => {
                let v = self.eval_static(f, ctx)?;
                let items: Vec<(String, Value)> = match v {
                    Value::Map(m) => m.into_iter().collect(),
                    Value::List(l) => {
                        let mut items = Vec::new();
                        for item in l {
                            match item {
                                Value::String(s) => items.push((s.clone(), Value::String(s))),
                                Value::Number(n) => items.push((n.to_string(), Value::Number(n))),
                                other => {
                                    return Err(Diagnostic::at(
                                        loc_of(file, &f.referenced),
                                        format!(
                                            "for_each over a list needs strings, found a {}; use a map to give each item a key",
                                            other.type_name()
                                        ),
                                    ));
                                }
                            }
                        }
                        items
                    }
                    other => {
                        return Err(Diagnostic::at(
                            loc_of(file, &f.referenced),
                            format!(
                                "for_each needs a map or a list of strings, found a {} ({other})",
                                other.type_name()
                            ),
                        ));
                    }
                };
                let mut keys: Vec<String> = Vec::new();
                for (k, _) in &items {
                    if keys.contains(k) {
                        return Err(Diagnostic::at(
                            loc_of(file, &f.referenced),
                            format!("for_each has the key {k:?} twice"),
                        ));
                    }
                    keys.push(k.clone());
                }
                let instances = items
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            InstanceKey::Key(k.clone()),
                            Some((Value::String(k), v)),
                            None,
                        )
                    })
                    .collect();
                Ok((Shape::Keys(keys), instances))
            }
            (None, None) => Ok((Shape::Single, vec![(InstanceKey::None, None, None)])),
        }
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system (so errors name paths as written).
fn lexically_normal(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let reserved = ["var", "local", "each", "count", "module", "self"];
    if !ok {
        Err(format!(
            "`{name}` is not a valid resource name: use letters, digits, `_` and `-`, starting with a letter"
        ))
    } else if reserved.contains(&name) {
        Err(format!("`{name}` is reserved and cannot name a resource"))
    } else {
        Ok(())
    }
}

fn is_region_name(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// A YAML value with no `${}` in it, as written.
fn literal(node: &SNode) -> Result<Value, String> {
    Ok(match &node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => Value::int(*i),
        Node::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Node::Str(s) => {
            if s.contains("${") && !s.contains("$${") {
                return Err("a variable value cannot contain `${...}` expressions".into());
            }
            Value::String(s.replace("$${", "${"))
        }
        Node::Seq(items) => Value::List(items.iter().map(literal).collect::<Result<_, _>>()?),
        Node::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((k.value.clone(), literal(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn convert_cli(text: &str, t: VarType) -> Result<Value, String> {
    match t {
        VarType::String | VarType::Any => Ok(Value::String(text.to_string())),
        VarType::Number => text
            .parse::<i64>()
            .map(Value::int)
            .or_else(|_| {
                text.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or(())
            })
            .map_err(|_| format!("`{text}` is not a number")),
        VarType::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not a bool (true or false)")),
        },
        VarType::List | VarType::Map => {
            let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                format!(
                    "`{text}` is not a JSON {}: {e}",
                    if t == VarType::List { "list" } else { "map" }
                )
            })?;
            let v = Value::from_json(&json);
            match (t, &v) {
                (VarType::List, Value::List(_)) | (VarType::Map, Value::Map(_)) => Ok(v),
                _ => Err(format!(
                    "`{text}` is not a {}",
                    if t == VarType::List { "list" } else { "map" }
                )),
            }
        }
    }
}

fn validate_variable(
    name: &str,
    decl: &VariableDecl,
    v: Value,
    decl_loc: &SourceLocation,
) -> Result<Value, Diagnostic> {
    let type_ok = match decl.var_type {
        VarType::Any => true,
        VarType::String => matches!(v, Value::String(_)),
        VarType::Number => matches!(v, Value::Number(_)),
        VarType::Bool => matches!(v, Value::Bool(_)),
        VarType::List => matches!(v, Value::List(_)),
        VarType::Map => matches!(v, Value::Map(_)),
    };
    let fail = |m: String| {
        let msg = decl.validation.as_ref().and_then(|val| val.message.clone());
        let d = Diagnostic::at(decl_loc.clone(), format!("variable `{name}`: {m}"));
        match msg {
            Some(msg) => d.with_note(msg),
            None => d,
        }
    };
    if !type_ok {
        return Err(fail(
            format!("expected a {:?}, got a {}", decl.var_type, v.type_name()).to_lowercase(),
        ));
    }
    let shown = if decl.sensitive {
        "(sensitive)".to_string()
    } else {
        v.to_string()
    };
    if let Some(allowed) = &decl.allowed {
        let allowed_values: Vec<Value> = allowed
            .value
            .iter()
            .filter_map(|n| {
                literal(&Spanned::new(
                    n.clone(),
                    allowed.referenced,
                    allowed.defined,
                ))
                .ok()
            })
            .collect();
        if !allowed_values.iter().any(|a| a.semantically_equal(&v)) {
            return Err(fail(format!(
                "{shown} is not one of the allowed values {}",
                allowed_values
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if let Some(val) = &decl.validation {
        if let Some(s) = v.as_str() {
            if let Some(p) = &val.pattern {
                let re = regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                    Diagnostic::at(
                        decl_loc.clone(),
                        format!("variable `{name}`: invalid pattern: {e}"),
                    )
                })?;
                if !re.is_match(s) {
                    return Err(fail(format!("{shown} does not match the pattern `{p}`")));
                }
            }
            let len = s.chars().count();
            if val.min_length.is_some_and(|m| len < m) || val.max_length.is_some_and(|m| len > m) {
                return Err(fail(format!(
                    "{shown} has length {len}, outside the allowed range"
                )));
            }
            if val.cidr && s.parse::<ipnet::Ipv4Net>().is_err() {
                return Err(fail(format!(
                    "{shown} is not an IPv4 CIDR block such as 10.0.0.0/16"
                )));
            }
        }
        if let Value::Number(n) = &v {
            let f = n.as_f64().unwrap_or(0.0);
            if val.min.is_some_and(|m| f < m) || val.max.is_some_and(|m| f > m) {
                let bound =
                    |b: Option<f64>| b.map(|x| x.to_string()).unwrap_or_else(|| "any".into());
                return Err(fail(format!(
                    "{shown} is outside the allowed range {} to {}",
                    bound(val.min),
                    bound(val.max)
                )));
            }
        }
    }
    Ok(v)
}

impl Stack {
    pub fn instance(&self, address: &Address) -> Option<&ResourceInstance> {
        self.by_address.get(address).map(|i| &self.instances[*i])
    }

    /// Every reference in an instance's properties, with where it was written.
    pub fn references(&self, instance: &ResourceInstance) -> Result<Vec<Reference>, Diagnostic> {
        let cell = RefCell::new(Vec::new());
        let refs = Refs::Collect(&cell);
        Evaluator {
            stack: self,
            refs: &refs,
        }
        .node(&instance.decl.properties, &instance.ctx, 0)?;
        Ok(cell.into_inner())
    }

    /// The instance's properties with every reference resolved through `lookup`.
    pub fn evaluate_properties(
        &self,
        instance: &ResourceInstance,
        lookup: &dyn AttrLookup,
    ) -> Result<BTreeMap<String, Value>, Diagnostic> {
        let refs = Refs::Resolve(lookup);
        match (Evaluator {
            stack: self,
            refs: &refs,
        })
        .node(&instance.decl.properties, &instance.ctx, 0)?
        {
            Value::Map(m) => Ok(m),
            _ => Ok(BTreeMap::new()),
        }
    }

    /// The references made by the stack's outputs (their values depend on these).
    pub fn output_references(&self) -> Result<Vec<Reference>, Diagnostic> {
        let cell = RefCell::new(Vec::new());
        let refs = Refs::Collect(&cell);
        let ctx = InstanceCtx {
            scope: 0,
            each: None,
            count: None,
        };
        for o in &self.outputs {
            Evaluator {
                stack: self,
                refs: &refs,
            }
            .node(&o.node, &ctx, 0)?;
        }
        Ok(cell.into_inner())
    }

    pub fn evaluate_output(
        &self,
        output: &OutputSpec,
        lookup: &dyn AttrLookup,
    ) -> Result<Value, Diagnostic> {
        let refs = Refs::Resolve(lookup);
        let ctx = InstanceCtx {
            scope: 0,
            each: None,
            count: None,
        };
        Evaluator {
            stack: self,
            refs: &refs,
        }
        .node(&output.node, &ctx, 0)
    }

    /// Resolves a `depends_on` entry of `instance` to the addresses it names.
    pub fn resolve_depends_on(
        &self,
        instance: &ResourceInstance,
        entry: &str,
    ) -> Option<Vec<Address>> {
        let scope = &self.scopes[instance.ctx.scope];
        let full = format!("{}{}", scope.prefix, entry);
        if let Some(a) = self.by_address.get(&Address::new(full.clone())) {
            return Some(vec![self.instances[*a].address.clone()]);
        }
        let base_name = entry.split('[').next().unwrap_or(entry);
        if let Some(group) = scope.resources.get(base_name) {
            if base_name == entry {
                let base = format!("{}{}", scope.prefix, entry);
                return Some(
                    group
                        .shape
                        .keys()
                        .iter()
                        .map(|k| Address::keyed(&base, k))
                        .collect(),
                );
            }
            return None;
        }
        if entry.starts_with("module.") {
            let prefix = format!("{full}.");
            let prefix_keyed = format!("{full}[");
            let found: Vec<Address> = self
                .instances
                .iter()
                .filter(|i| {
                    i.address.as_str().starts_with(&prefix)
                        || (!entry.contains('[') && i.address.as_str().starts_with(&prefix_keyed))
                })
                .map(|i| i.address.clone())
                .collect();
            let module_name = entry
                .trim_start_matches("module.")
                .split(['.', '['])
                .next()
                .unwrap_or("");
            if scope.modules.contains_key(module_name) {
                return Some(found);
            }
        }
        None
    }
}

/// Inputs the fuzz targets (fuzz/) found mishandled, kept as regression cases.
#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// fuzz/artifacts/stack_parser/crash-c74f7e89…: a stack file that is not UTF-8 gave
    /// an error with no location at all.
    #[test]
    fn a_stack_file_that_is_not_utf8_is_reported_at_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = b"stack: bad\nregion: us-east-1\nresources:\n  vpc: type: aws.ec\xb0.vpc\n";
        std::fs::write(dir.path().join(STACK_FILE), bytes).unwrap();
        let no_env = |_: &str| None;
        let opts = LoadOptions {
            env: None,
            vars: vec![],
            env_lookup: &no_env,
        };
        let diags = load_stack(dir.path(), &opts).unwrap_err();
        let d = diags.iter().next().unwrap();
        let location = d.location.as_ref().expect("located");
        assert!(location.file.ends_with(STACK_FILE), "{d}");
        assert!(d.message.contains("cannot read"), "{d}");
        assert!(d.message.contains("UTF-8"), "{d}");
    }
}
