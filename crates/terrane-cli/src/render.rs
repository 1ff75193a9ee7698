//! What people see: plans as coloured diffs, diagnostics with the offending line.

use std::io::IsTerminal;

use owo_colors::OwoColorize;
use terrane_core::{Diagnostic, Diagnostics, Value};
use terrane_engine::EngineError;
use terrane_plan::{Action, AttrChange, Plan, ResourceChange};

pub fn color_out() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

fn color_err() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Prints an error; diagnostics get their source line and a caret.
pub fn error(e: &anyhow::Error) {
    let diags = e
        .downcast_ref::<Diagnostics>()
        .or_else(|| match e.downcast_ref::<EngineError>() {
            Some(EngineError::Invalid(d)) => Some(d),
            _ => None,
        });
    match diags {
        Some(d) => {
            for diag in d.iter() {
                eprintln!("{}", diagnostic(diag, color_err()));
            }
            eprintln!(
                "{} problem{} found; nothing was applied",
                d.len(),
                if d.len() == 1 { "" } else { "s" }
            );
        }
        None => {
            let text = format!("{e:#}");
            if color_err() {
                eprintln!("{} {text}", "error:".red().bold());
            } else {
                eprintln!("error: {text}");
            }
        }
    }
}

pub fn diagnostic(d: &Diagnostic, color: bool) -> String {
    let mut out = String::new();
    let head = d.to_string();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    if color {
        out.push_str(&first.replacen("error:", &"error:".red().bold().to_string(), 1));
    } else {
        out.push_str(first);
    }
    if let Some(loc) = &d.location
        && loc.line > 0
        && let Some(src) = std::fs::read_to_string(&loc.file)
            .ok()
            .and_then(|t| t.lines().nth(loc.line as usize - 1).map(str::to_string))
    {
        let n = loc.line.to_string();
        let pad = " ".repeat(n.len());
        out.push_str(&format!(
            "\n {pad} |\n {n} | {src}\n {pad} | {}^",
            " ".repeat(loc.column.saturating_sub(1) as usize)
        ));
    }
    for rest in lines {
        out.push('\n');
        out.push_str(rest);
    }
    out
}

fn value(v: &Value, sensitive: bool) -> String {
    if sensitive {
        return "(sensitive)".into();
    }
    v.to_string()
}

/// One attribute's change: maps key by key, lists item by item, anything else whole.
pub fn attr_lines(a: &AttrChange) -> Vec<String> {
    let after = value(&a.after, a.sensitive);
    match (&a.before, &a.after) {
        (None, _) => vec![format!("{} = {after}", a.name)],
        (Some(_), _) if a.sensitive => vec![format!("{} = (sensitive) -> (sensitive)", a.name)],
        (Some(Value::Map(before)), Value::Map(now)) => {
            let mut lines = Vec::new();
            for (k, v) in now {
                match before.get(k) {
                    None => lines.push(format!("{}.{k} = {v}  (added)", a.name)),
                    Some(b) if !b.semantically_equal(v) => {
                        lines.push(format!("{}.{k} = {b} -> {v}", a.name))
                    }
                    Some(_) => {}
                }
            }
            for (k, b) in before {
                if !now.contains_key(k) {
                    lines.push(format!("{}.{k} = {b}  (removed)", a.name));
                }
            }
            lines
        }
        (Some(Value::List(before)), Value::List(now)) => {
            let mut lines = Vec::new();
            for b in before
                .iter()
                .filter(|b| !now.iter().any(|n| n.semantically_equal(b)))
            {
                lines.push(format!("{} - {b}", a.name));
            }
            for n in now
                .iter()
                .filter(|n| !before.iter().any(|b| b.semantically_equal(n)))
            {
                lines.push(format!("{} + {n}", a.name));
            }
            if lines.is_empty() {
                lines.push(format!("{} = (reordered) {after}", a.name));
            }
            lines
        }
        (Some(b), _) => vec![format!("{} = {} -> {after}", a.name, value(b, false))],
    }
}

fn header(c: &ResourceChange, color: bool) -> String {
    let symbol = c.action.symbol();
    let what = match c.action {
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::Replace => "must be replaced",
        Action::Delete => "will be deleted",
        Action::NoOp => "unchanged",
    };
    let id = c
        .cloud_id
        .as_deref()
        .map(|i| format!(" {i}"))
        .unwrap_or_default();
    let line = format!(
        "{symbol} {} ({}, {}){id} {what}",
        c.address, c.type_name, c.region
    );
    if !color {
        return line;
    }
    match c.action {
        Action::Create => line.green().to_string(),
        Action::Update => line.yellow().to_string(),
        Action::Replace => line.magenta().to_string(),
        Action::Delete => line.red().to_string(),
        Action::NoOp => line,
    }
}

pub fn plan(p: &Plan, color: bool) -> String {
    let mut out = String::new();
    if !p.has_changes() {
        out.push_str(&format!(
            "No changes: stack \"{}\" matches the live infrastructure ({} resources).\n",
            p.stack,
            p.changes.len()
        ));
        return out;
    }
    out.push_str(&format!(
        "Stack \"{}\": terrane will perform these actions.\n\n",
        p.stack
    ));
    for c in p.changes.iter().filter(|c| c.action != Action::NoOp) {
        out.push_str(&format!("  {}\n", header(c, color)));
        if let Some(r) = &c.reason {
            out.push_str(&format!("      # {r}\n"));
        }
        for a in &c.attributes {
            let note = if a.forces_replacement && c.action == Action::Replace {
                "  # forces replacement"
            } else {
                ""
            };
            for line in attr_lines(a) {
                out.push_str(&format!("      {line}{note}\n"));
            }
        }
        out.push('\n');
    }
    let s = p.summary();
    out.push_str(&format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged.\n",
        s.create, s.update, s.replace, s.delete, s.unchanged
    ));
    if let Some(c) = p.api_calls {
        let basis = match (c.measured_steps, c.assumed_steps) {
            (_, 0) => "as earlier applies measured".to_string(),
            (0, _) => "assumed: no earlier apply measured these operations".to_string(),
            (m, a) => format!("{m} steps as earlier applies measured, {a} assumed"),
        };
        out.push_str(&format!(
            "Applying it should make about {} AWS API calls ({basis}).\n",
            c.total
        ));
    }
    out
}
