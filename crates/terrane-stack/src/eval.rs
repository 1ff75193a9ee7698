//! Evaluation of stack values: variables, locals, `each`, `count`, module outputs and
//! references to other resources' attributes.
//!
//! One evaluator serves three purposes, chosen by [`Refs`]: static evaluation (for_each,
//! count, regions: resources may not be referenced), collection of the references that
//! become graph edges, and resolution against known attribute values at plan and apply.

use std::cell::RefCell;
use std::collections::BTreeMap;

use terrane_core::address::InstanceKey;
use terrane_core::{Address, Diagnostic, SecretString, SourceLocation, Value};

use crate::expr::{Expr, Step, TemplatePart, parse_template};
use crate::functions;
use crate::node::{Node, SNode};
use crate::stack::{InstanceCtx, Shape, Stack, VarBinding, loc_of};

/// A reference from one resource's properties to another resource's attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub address: Address,
    pub type_name: String,
    /// The attribute read (`id` in `${vpc.id}`).
    pub attribute: String,
    pub location: SourceLocation,
}

/// Attribute values of other resources, as far as they are known.
pub trait AttrLookup {
    /// The value of `attribute` of `address`; `Value::Unknown` when only known after apply,
    /// `None` when the resource has no such attribute.
    fn attribute(&self, address: &Address, attribute: &str) -> Option<Value>;
}

pub enum Refs<'a> {
    /// References to resources are errors (for_each, count, enabled, region).
    Static,
    /// References are recorded and evaluate to unknown.
    Collect(&'a RefCell<Vec<Reference>>),
    Resolve(&'a dyn AttrLookup),
}

const MAX_DEPTH: usize = 64;

pub(crate) struct Evaluator<'s, 'r> {
    pub stack: &'s Stack,
    pub refs: &'r Refs<'r>,
}

type EvalResult = Result<Value, Diagnostic>;

impl Evaluator<'_, '_> {
    pub fn node(&self, node: &SNode, ctx: &InstanceCtx, depth: usize) -> EvalResult {
        let location = loc_of(&self.stack.scopes[ctx.scope].file, &node.referenced);
        if depth > MAX_DEPTH {
            return Err(Diagnostic::at(
                location,
                "references nest too deeply (is there a cycle between variables, locals or module outputs?)",
            ));
        }
        match &node.value {
            Node::Null => Ok(Value::Null),
            Node::Bool(b) => Ok(Value::Bool(*b)),
            Node::Int(i) => Ok(Value::int(*i)),
            Node::Float(f) => Ok(serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            Node::Str(s) => self.template(s, &location, ctx, depth),
            Node::Seq(items) => items
                .iter()
                .map(|item| self.node(item, ctx, depth))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List),
            Node::Map(entries) => {
                let mut map = BTreeMap::new();
                for (k, v) in entries {
                    map.insert(k.value.clone(), self.node(v, ctx, depth)?);
                }
                Ok(Value::Map(map))
            }
        }
    }

    fn template(
        &self,
        s: &str,
        location: &SourceLocation,
        ctx: &InstanceCtx,
        depth: usize,
    ) -> EvalResult {
        let parts = parse_template(s).map_err(|e| {
            Diagnostic::at(
                location.shifted(e.offset as u32),
                format!("invalid expression: {}", e.message),
            )
        })?;
        if let [TemplatePart::Interp(expr, offset)] = parts.as_slice() {
            return self.expr(expr, &location.shifted(*offset as u32), ctx, depth);
        }
        let mut out = String::new();
        let mut secret = false;
        // Every part is evaluated even once one is unknown: evaluation is also how the
        // references of the later parts are collected.
        let mut unknown = false;
        for part in &parts {
            match part {
                TemplatePart::Literal(l) => out.push_str(l),
                TemplatePart::Interp(expr, offset) => {
                    let at = location.shifted(*offset as u32);
                    match self.expr(expr, &at, ctx, depth)? {
                        Value::Unknown => unknown = true,
                        Value::Secret(s) => {
                            secret = true;
                            out.push_str(s.expose());
                        }
                        Value::String(s) => out.push_str(&s),
                        Value::Number(n) => out.push_str(&n.to_string()),
                        Value::Bool(b) => out.push_str(&b.to_string()),
                        Value::Null => {}
                        other => {
                            return Err(Diagnostic::at(
                                at,
                                format!("cannot put a {} inside a string", other.type_name()),
                            ));
                        }
                    }
                }
            }
        }
        Ok(if unknown {
            Value::Unknown
        } else if secret {
            Value::Secret(SecretString::new(out))
        } else {
            Value::String(out)
        })
    }

    pub fn expr(
        &self,
        expr: &Expr,
        at: &SourceLocation,
        ctx: &InstanceCtx,
        depth: usize,
    ) -> EvalResult {
        match expr {
            Expr::Str(s) => Ok(Value::string(s.clone())),
            Expr::Number(n) => Ok(number(*n)),
            Expr::Bool(b) => Ok(Value::Bool(*b)),
            Expr::Null => Ok(Value::Null),
            Expr::Not(e) => match self.expr(e, at, ctx, depth)? {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                Value::Unknown => Ok(Value::Unknown),
                other => Err(Diagnostic::at(
                    at.clone(),
                    format!("`!` needs a bool, found a {}", other.type_name()),
                )),
            },
            Expr::Eq(a, b) | Expr::Ne(a, b) => {
                let (a, b) = (self.expr(a, at, ctx, depth)?, self.expr(b, at, ctx, depth)?);
                if a.contains_unknown() || b.contains_unknown() {
                    return Ok(Value::Unknown);
                }
                let eq = a.semantically_equal(&b);
                Ok(Value::Bool(if matches!(expr, Expr::Eq(..)) {
                    eq
                } else {
                    !eq
                }))
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                let is_and = matches!(expr, Expr::And(..));
                let left = self.bool_of(a, at, ctx, depth)?;
                match left {
                    Some(l) if l != is_and => Ok(Value::Bool(l)),
                    Some(_) => Ok(self
                        .bool_of(b, at, ctx, depth)?
                        .map(Value::Bool)
                        .unwrap_or(Value::Unknown)),
                    None => {
                        // Evaluated for its references only.
                        self.bool_of(b, at, ctx, depth)?;
                        Ok(Value::Unknown)
                    }
                }
            }
            Expr::Cond(c, a, b) => match self.bool_of(c, at, ctx, depth)? {
                Some(true) => self.expr(a, at, ctx, depth),
                Some(false) => self.expr(b, at, ctx, depth),
                None => {
                    // Both branches are evaluated so that their references are still collected.
                    self.expr(a, at, ctx, depth)?;
                    self.expr(b, at, ctx, depth)?;
                    Ok(Value::Unknown)
                }
            },
            Expr::Call(name, args, steps) => {
                let values = args
                    .iter()
                    .map(|a| self.expr(a, at, ctx, depth))
                    .collect::<Result<Vec<_>, _>>()?;
                let v = functions::call(name, &values, self.stack.root_dir())
                    .map_err(|m| Diagnostic::at(at.clone(), m))?;
                self.steps(v, steps, at, ctx, depth)
            }
            Expr::Path(root, steps) => self.path(root, steps, at, ctx, depth),
        }
    }

    fn bool_of(
        &self,
        e: &Expr,
        at: &SourceLocation,
        ctx: &InstanceCtx,
        depth: usize,
    ) -> Result<Option<bool>, Diagnostic> {
        match self.expr(e, at, ctx, depth)? {
            Value::Bool(b) => Ok(Some(b)),
            Value::Unknown => Ok(None),
            other => Err(Diagnostic::at(
                at.clone(),
                format!("expected a bool, found a {} ({other})", other.type_name()),
            )),
        }
    }

    fn path(
        &self,
        root: &str,
        steps: &[Step],
        at: &SourceLocation,
        ctx: &InstanceCtx,
        depth: usize,
    ) -> EvalResult {
        let scope = &self.stack.scopes[ctx.scope];
        match root {
            "var" => {
                let (name, rest) = attr_head(steps, at, "var.NAME")?;
                match scope.vars.get(name) {
                    Some(VarBinding::Value(v)) => self.steps(v.clone(), rest, at, ctx, depth),
                    Some(VarBinding::Expr(node, parent)) => {
                        let v = self.node(node, parent, depth + 1)?;
                        self.steps(v, rest, at, ctx, depth)
                    }
                    None => Err(unknown_name(at, "variable", name, scope.vars.keys())),
                }
            }
            "local" => {
                let (name, rest) = attr_head(steps, at, "local.NAME")?;
                match scope.locals.get(name) {
                    Some(node) => {
                        let local_ctx = InstanceCtx {
                            scope: ctx.scope,
                            each: None,
                            count: None,
                        };
                        let v = self.node(node, &local_ctx, depth + 1)?;
                        self.steps(v, rest, at, ctx, depth)
                    }
                    None => Err(unknown_name(at, "local", name, scope.locals.keys())),
                }
            }
            "each" => {
                let Some((key, value)) = &ctx.each else {
                    return Err(Diagnostic::at(
                        at.clone(),
                        "`each` is only available in a resource or module that has `for_each`",
                    ));
                };
                let (name, rest) = attr_head(steps, at, "each.key or each.value")?;
                match name {
                    "key" => self.steps(key.clone(), rest, at, ctx, depth),
                    "value" => self.steps(value.clone(), rest, at, ctx, depth),
                    other => Err(Diagnostic::at(
                        at.clone(),
                        format!("`each` has `key` and `value`, not `{other}`"),
                    )),
                }
            }
            "count" => {
                let Some(i) = ctx.count else {
                    return Err(Diagnostic::at(
                        at.clone(),
                        "`count` is only available in a resource or module that has `count`",
                    ));
                };
                let (name, rest) = attr_head(steps, at, "count.index")?;
                if name != "index" {
                    return Err(Diagnostic::at(
                        at.clone(),
                        format!("`count` has `index`, not `{name}`"),
                    ));
                }
                self.steps(Value::int(i as i64), rest, at, ctx, depth)
            }
            "module" => self.module_output(steps, at, ctx, depth),
            "path" => {
                // Paths are relative to the stack's directory: files (a Lambda bundle)
                // are read from there whatever directory terrane runs in, and what state
                // records is the same on every machine and checkout.
                let (name, rest) = attr_head(steps, at, "path.module or path.root")?;
                let dir = match name {
                    "module" => relative_dir(self.stack.root_dir(), &scope.file),
                    "root" => ".".to_string(),
                    other => {
                        return Err(Diagnostic::at(
                            at.clone(),
                            format!("`path` has `module` and `root`, not `{other}`"),
                        ));
                    }
                };
                self.steps(Value::string(dir), rest, at, ctx, depth)
            }
            name => {
                let Some(group) = scope.resources.get(name) else {
                    return Err(unknown_name(at, "resource", name, scope.resources.keys()).with_note(
                        "references name a resource of the same file (`vpc.id`), a variable (`var.x`), a local (`local.x`), `each`, `count` or a module output (`module.m.out`)",
                    ));
                };
                self.resource_ref(name, group, steps, at, ctx, depth)
            }
        }
    }

    fn resource_ref(
        &self,
        name: &str,
        group: &crate::stack::ResourceGroup,
        steps: &[Step],
        at: &SourceLocation,
        ctx: &InstanceCtx,
        depth: usize,
    ) -> EvalResult {
        let scope = &self.stack.scopes[ctx.scope];
        let base = format!("{}{}", scope.prefix, name);
        let (keys, rest, splat): (Vec<InstanceKey>, &[Step], bool) = match (
            &group.shape,
            steps.first(),
        ) {
            (Shape::Disabled, _) => {
                return Err(Diagnostic::at(at.clone(), format!("resource `{name}` is disabled (its `enabled` is false), so it cannot be referenced here")).with_note("guard the reference with a condition, e.g. `${var.flag ? x.id : null}`"));
            }
            (Shape::Single, Some(Step::Index(_) | Step::Splat)) => {
                return Err(Diagnostic::at(
                    at.clone(),
                    format!(
                        "resource `{name}` has neither count nor for_each, so it cannot be indexed"
                    ),
                ));
            }
            (Shape::Single, _) => (vec![InstanceKey::None], steps, false),
            (Shape::Count(_) | Shape::Keys(_), Some(Step::Splat)) => {
                (group.shape.keys(), &steps[1..], true)
            }
            (Shape::Count(n), Some(Step::Index(e))) => {
                let idx = self.expr(e, at, ctx, depth)?;
                let Some(i) = idx.as_i64() else {
                    return if idx == Value::Unknown {
                        Ok(Value::Unknown)
                    } else {
                        Err(Diagnostic::at(
                            at.clone(),
                            format!("`{name}` has count: index it with a number, not {idx}"),
                        ))
                    };
                };
                if i < 0 || i as usize >= *n {
                    return Err(Diagnostic::at(
                        at.clone(),
                        format!("index {i} is out of range: `{name}` has count {n}"),
                    ));
                }
                (vec![InstanceKey::Index(i as usize)], &steps[1..], false)
            }
            (Shape::Keys(keys), Some(Step::Index(e))) => {
                let key = self.expr(e, at, ctx, depth)?;
                let key = match key {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Unknown => return Ok(Value::Unknown),
                    other => {
                        return Err(Diagnostic::at(
                            at.clone(),
                            format!(
                                "`{name}` has for_each: index it with a key string, not {other}"
                            ),
                        ));
                    }
                };
                if !keys.contains(&key) {
                    return Err(Diagnostic::at(
                        at.clone(),
                        format!(
                            "`{name}` has no instance with key {:?}; its keys are {:?}",
                            key, keys
                        ),
                    ));
                }
                (vec![InstanceKey::Key(key)], &steps[1..], false)
            }
            (Shape::Count(_) | Shape::Keys(_), _) => {
                return Err(Diagnostic::at(
                    at.clone(),
                    format!(
                        "resource `{name}` has count or for_each: pick an instance (`{name}[KEY].id`) or all of them (`{name}[*].id`)"
                    ),
                ));
            }
        };
        let Some(Step::Attr(attribute)) = rest.first() else {
            return Err(Diagnostic::at(
                at.clone(),
                format!("name the attribute of `{name}` to read, e.g. `${{{name}.id}}`"),
            ));
        };
        let mut values = Vec::new();
        for key in keys {
            let address = Address::keyed(&base, &key);
            let v = match self.refs {
                Refs::Static => {
                    return Err(Diagnostic::at(at.clone(), format!("this value must be known before apply, but it refers to resource `{address}`")).with_note("for_each, count, enabled and region may use variables and locals only"));
                }
                Refs::Collect(cell) => {
                    cell.borrow_mut().push(Reference {
                        address: address.clone(),
                        type_name: group.type_name.clone(),
                        attribute: attribute.clone(),
                        location: at.clone(),
                    });
                    Value::Unknown
                }
                Refs::Resolve(lookup) => match lookup.attribute(&address, attribute) {
                    Some(v) => v,
                    None => {
                        return Err(Diagnostic::at(
                            at.clone(),
                            format!(
                                "resource `{address}` ({}) has no attribute `{attribute}`",
                                group.type_name
                            ),
                        ));
                    }
                },
            };
            values.push(self.steps(v, &rest[1..], at, ctx, depth)?);
        }
        Ok(if splat {
            Value::List(values)
        } else {
            values.pop().unwrap_or(Value::Null)
        })
    }

    fn module_output(
        &self,
        steps: &[Step],
        at: &SourceLocation,
        ctx: &InstanceCtx,
        depth: usize,
    ) -> EvalResult {
        let scope = &self.stack.scopes[ctx.scope];
        let (name, rest) = attr_head(steps, at, "module.NAME.OUTPUT")?;
        let Some(group) = scope.modules.get(name) else {
            return Err(unknown_name(at, "module", name, scope.modules.keys()));
        };
        let (instances, rest, splat): (Vec<usize>, &[Step], bool) = match (
            &group.shape,
            rest.first(),
        ) {
            (Shape::Disabled, _) => {
                return Err(Diagnostic::at(
                    at.clone(),
                    format!(
                        "module `{name}` is disabled (its `enabled` is false), so it cannot be referenced here"
                    ),
                ));
            }
            (Shape::Single, _) => (
                group.instances.iter().map(|(_, s)| *s).collect(),
                rest,
                false,
            ),
            (_, Some(Step::Splat)) => (
                group.instances.iter().map(|(_, s)| *s).collect(),
                &rest[1..],
                true,
            ),
            (_, Some(Step::Index(e))) => {
                let key = self.expr(e, at, ctx, depth)?;
                let wanted = match (&group.shape, &key) {
                    (_, Value::Unknown) => return Ok(Value::Unknown),
                    (Shape::Count(_), k) => k.as_i64().map(|i| InstanceKey::Index(i as usize)),
                    (_, Value::String(s)) => Some(InstanceKey::Key(s.clone())),
                    _ => None,
                };
                match group
                    .instances
                    .iter()
                    .find(|(k, _)| Some(k) == wanted.as_ref())
                {
                    Some((_, s)) => (vec![*s], &rest[1..], false),
                    None => {
                        return Err(Diagnostic::at(
                            at.clone(),
                            format!("module `{name}` has no instance {key}"),
                        ));
                    }
                }
            }
            _ => {
                return Err(Diagnostic::at(
                    at.clone(),
                    format!(
                        "module `{name}` has count or for_each: pick an instance (`module.{name}[KEY].out`)"
                    ),
                ));
            }
        };
        let Some(Step::Attr(output)) = rest.first() else {
            return Err(Diagnostic::at(
                at.clone(),
                format!("name the output of module `{name}` to read, e.g. `module.{name}.vpc_id`"),
            ));
        };
        let mut values = Vec::new();
        for child in instances {
            let child_scope = &self.stack.scopes[child];
            let Some(node) = child_scope.outputs.get(output) else {
                return Err(unknown_name(
                    at,
                    &format!("output of module `{name}`"),
                    output,
                    child_scope.outputs.keys(),
                ));
            };
            let child_ctx = InstanceCtx {
                scope: child,
                each: None,
                count: None,
            };
            let v = self.node(node, &child_ctx, depth + 1)?;
            values.push(self.steps(v, &rest[1..], at, ctx, depth)?);
        }
        Ok(if splat {
            Value::List(values)
        } else {
            values.pop().unwrap_or(Value::Null)
        })
    }

    fn steps(
        &self,
        mut v: Value,
        steps: &[Step],
        at: &SourceLocation,
        ctx: &InstanceCtx,
        depth: usize,
    ) -> EvalResult {
        for step in steps {
            v = match (step, v) {
                (_, Value::Unknown) => return Ok(Value::Unknown),
                (Step::Attr(k), Value::Map(mut m)) => match m.remove(k) {
                    Some(x) => x,
                    None => {
                        return Err(Diagnostic::at(
                            at.clone(),
                            format!(
                                "no key `{k}`; the keys are {:?}",
                                m.keys().collect::<Vec<_>>()
                            ),
                        ));
                    }
                },
                (Step::Index(e), container) => {
                    let key = self.expr(e, at, ctx, depth)?;
                    match (container, key) {
                        (_, Value::Unknown) => return Ok(Value::Unknown),
                        (Value::List(l), k) => {
                            let i = k.as_i64().ok_or_else(|| {
                                Diagnostic::at(
                                    at.clone(),
                                    format!("a list is indexed by a number, not {k}"),
                                )
                            })?;
                            let len = l.len();
                            l.into_iter().nth(i as usize).ok_or_else(|| {
                                Diagnostic::at(
                                    at.clone(),
                                    format!("index {i} is out of range for a list of {len}"),
                                )
                            })?
                        }
                        (Value::Map(mut m), Value::String(k)) => m
                            .remove(&k)
                            .ok_or_else(|| Diagnostic::at(at.clone(), format!("no key `{k}`")))?,
                        (c, k) => {
                            return Err(Diagnostic::at(
                                at.clone(),
                                format!("cannot index a {} with {k}", c.type_name()),
                            ));
                        }
                    }
                }
                (Step::Splat, Value::List(l)) => Value::List(l),
                (step, other) => {
                    return Err(Diagnostic::at(
                        at.clone(),
                        format!("cannot apply {step:?} to a {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(v)
    }
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::int(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn attr_head<'a>(
    steps: &'a [Step],
    at: &SourceLocation,
    form: &str,
) -> Result<(&'a str, &'a [Step]), Diagnostic> {
    match steps.first() {
        Some(Step::Attr(name)) => Ok((name, &steps[1..])),
        _ => Err(Diagnostic::at(at.clone(), format!("expected `{form}`"))),
    }
}

fn unknown_name<'a>(
    at: &SourceLocation,
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a String>,
) -> Diagnostic {
    let mut known: Vec<&String> = known.collect();
    known.sort();
    let d = Diagnostic::at(at.clone(), format!("reference to unknown {what} `{name}`"));
    if known.is_empty() {
        d
    } else {
        d.with_note(format!(
            "known: {}",
            known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// The directory of `file` relative to `root` (`.` for the root itself, `modules/fn`,
/// `../shared/net` for a module beside the stack), with `/` between parts.
fn relative_dir(root: &std::path::Path, file: &std::path::Path) -> String {
    use std::path::Component;
    let canonical = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let root = canonical(root);
    let dir = canonical(file.parent().unwrap_or(std::path::Path::new(".")));
    let (r, d): (Vec<Component<'_>>, Vec<Component<'_>>) =
        (root.components().collect(), dir.components().collect());
    let common = r.iter().zip(&d).take_while(|(a, b)| a == b).count();
    let parts: Vec<String> = std::iter::repeat_n("..".to_string(), r.len() - common)
        .chain(
            d[common..]
                .iter()
                .map(|c| c.as_os_str().to_string_lossy().into_owned()),
        )
        .collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::relative_dir;

    #[test]
    fn module_directories_relative_to_the_stacks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("stack");
        for d in ["stack/modules/fn", "shared/net"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        let file = |p: &str| tmp.path().join(p);
        assert_eq!(relative_dir(&root, &file("stack/stack.yaml")), ".");
        assert_eq!(
            relative_dir(&root, &file("stack/modules/fn/module.yaml")),
            "modules/fn"
        );
        assert_eq!(
            relative_dir(&root, &file("shared/net/module.yaml")),
            "../shared/net"
        );
        // The same through a path with `..` in it (as `source: ../shared/net` gives).
        assert_eq!(
            relative_dir(&root, &file("stack/../shared/net/module.yaml")),
            "../shared/net"
        );
    }
}
