//! The terrane stack language: YAML files with variables, modules, `for_each` / `count`,
//! conditionals and `${...}` references, expanded into resource instances and a graph.
//!
//! Knows nothing of AWS: resource types are names here; their schemas are checked above.

pub mod eval;
pub mod expr;
pub mod functions;
pub mod graph;
pub mod node;
pub mod stack;
pub mod syntax;

pub use eval::{AttrLookup, Reference};
pub use graph::StackGraph;
pub use stack::{
    LoadOptions, OutputSpec, ResourceInstance, Stack, load_stack, qualified_name, stack_header,
};
pub use syntax::json_schema;

/// The message of a YAML error without its location (which is reported separately).
pub(crate) fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    // The library appends " at line L, column C"; the location is given on its own.
    let text = match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    // The library's advice names its own options; a stack's author needs the rule.
    if text == "expected mapping start" {
        return "expected a mapping of keys to values here (`key: value` lines)".into();
    }
    match text.strip_prefix("duplicate mapping key: ") {
        Some(rest) => {
            let key = rest
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or(rest);
            format!("duplicate key `{key}`: a key may appear only once in a mapping")
        }
        None => text,
    }
}

#[cfg(test)]
mod tests;
