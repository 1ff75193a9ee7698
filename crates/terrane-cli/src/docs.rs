//! Reference pages for resource types, generated from their schemas.

use terrane_core::{AttrKind, ResourceSchema};

pub fn resource_page(s: &ResourceSchema) -> String {
    let mut out = format!("# {}\n\n{}\n\n", s.type_name, s.description);
    out.push_str(
        "| attribute | kind | type | on change | notes |\n| --- | --- | --- | --- | --- |\n",
    );
    for a in &s.attributes {
        let kind = match a.kind {
            AttrKind::Required => "required",
            AttrKind::Optional => "optional",
            AttrKind::Computed => "computed",
        };
        let on_change = match (a.kind, a.forces_replacement, a.forces_replacement_once_set) {
            (AttrKind::Computed, _, _) => "",
            (_, true, _) => "forces replacement",
            (_, false, true) => "set in place; once set, forces replacement",
            (_, false, false) => "updated in place",
        };
        let mut notes = a.description.to_string();
        if let Some(d) = a.default {
            notes.push_str(&format!(" Default: `{}`.", d.to_value()));
        }
        if a.sensitive {
            notes.push_str(" Sensitive: never stored or shown in plain text.");
        }
        if a.unordered {
            notes.push_str(" Compared as a set.");
        }
        if let Some(owned) = a.owns_all {
            let which = owned
                .when
                .map(|(k, v)| format!(" with `{k}: {v}`"))
                .unwrap_or_default();
            notes.push_str(&format!(
                " Set, it lists every one of them: a separate `{}`{which} on this resource is refused.",
                owned.member_type
            ));
        }
        if a.local_file {
            notes.push_str(" A local file: relative paths are relative to the stack's directory.");
        }
        let value_type = format!("{:?}", a.value_type).to_lowercase();
        out.push_str(&format!(
            "| `{}` | {kind} | {value_type} | {on_change} | {} |\n",
            a.name,
            notes.trim()
        ));
    }
    if s.taggable {
        out.push_str("\nTaggable: the stack's `default_tags` and terrane's ownership tags (`terrane:stack`, `terrane:address`) are added to `tags`.\n");
    }
    if !s.example.is_empty() {
        out.push_str(&format!(
            "\n## Example\n\n```yaml\nresources:\n{}```\n",
            indent(s.example)
        ));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("  {l}\n")
            }
        })
        .collect()
}

/// The index page listing every type.
pub fn index(schemas: &[&ResourceSchema]) -> String {
    let mut out = String::from(
        "# Resource types\n\nGenerated from each type's schema by `terrane docs`; do not edit by hand.\n\n| type | description |\n| --- | --- |\n",
    );
    for s in schemas {
        out.push_str(&format!(
            "| [{}]({}.md) | {} |\n",
            s.type_name, s.type_name, s.description
        ));
    }
    out
}
