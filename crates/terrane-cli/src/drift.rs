//! `terrane drift`: find, explain and record what changed behind terrane's back.

use std::collections::BTreeSet;

use anyhow::Result;
use owo_colors::OwoColorize;
use terrane_core::Address;
use terrane_engine::drift::{DriftKind, DriftReport, detect};
use terrane_plan::AttrChange;
use terrane_state::{DriftChanges, FindingRow, RecordChange};

use crate::args::{StackArgs, StateArgs};
use crate::commands::{aws_registry, load, open_session, open_stack_state};
use crate::render;

/// The document `drift --json` prints (see docs/drift.md).
#[derive(serde::Serialize)]
struct DriftOutput<'a> {
    stack: &'a str,
    run_id: i64,
    drift: bool,
    checked: usize,
    findings: &'a [terrane_engine::drift::Finding],
    not_checked: &'a [terrane_engine::drift::NotChecked],
    new: usize,
    resolved: &'a [terrane_state::DriftRecord],
}

/// One drift run of one stack, recorded in its state.
pub struct DriftRun {
    pub report: DriftReport,
    pub changes: DriftChanges,
    pub run_id: i64,
}

impl DriftRun {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(DriftOutput {
            stack: &self.report.stack,
            run_id: self.run_id,
            drift: self.report.has_drift(),
            checked: self.report.checked,
            findings: &self.report.findings,
            not_checked: &self.report.not_checked,
            new: self.changes.new,
            resolved: &self.changes.resolved,
        })
        .unwrap_or_default()
    }
}

/// Detects and records drift of one stack, accepting the live values of `accept`.
pub async fn run_once(args: &StackArgs, accept: &[String]) -> Result<DriftRun> {
    let registry = aws_registry().await;
    let loaded = load(args, &registry)?;
    let stack = &loaded.stack;
    let mut state = open_session(&args.stack, &args.state, &stack.name).await?;
    let rec = state.stack.clone();
    let run = state.begin_run(&rec, "drift")?;
    let result = async {
        let recorded = state.resources(&rec)?;
        let extra: BTreeSet<(String, String)> = stack
            .instances
            .iter()
            .map(|i| (i.type_name.clone(), i.region.clone()))
            .collect();
        let extra: Vec<(String, String)> = extra.into_iter().collect();
        let ignored = |addr: &Address, attr: &str| {
            stack
                .instance(addr)
                .is_some_and(|i| i.lifecycle.ignores(attr))
        };
        let report = detect(&stack.name, &recorded, &extra, &registry, &ignored).await;
        let rows = rows(&report);
        let changes = state.record_drift(&rec, run, &rows)?;
        for addr in accept {
            accept_live(&mut state, &rec, run, &report, addr)?;
        }
        anyhow::Ok((report, changes))
    }
    .await;
    match result {
        Ok((report, changes)) => {
            state.finish_run(
                run,
                if report.has_drift() {
                    "succeeded: drift found"
                } else {
                    "succeeded: no drift"
                },
            )?;
            Ok(DriftRun {
                report,
                changes,
                run_id: run,
            })
        }
        Err(e) => {
            state.finish_run(run, &format!("failed: {e}"))?;
            Err(e)
        }
    }
}

/// Every stack under `dir` (a directory holding stack.yaml, not inside a module).
pub fn stacks_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        if d.join(terrane_stack::stack::STACK_FILE).is_file() {
            out.push(d);
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let name = e.file_name();
                if e.path().is_dir()
                    && name != ".terrane"
                    && name != "modules"
                    && name != "target"
                    && !name.to_string_lossy().starts_with('.')
                {
                    todo.push(e.path());
                }
            }
        }
    }
    out.sort();
    out
}

pub async fn drift(
    args: &StackArgs,
    json: bool,
    accept: &[String],
    all: Option<&std::path::Path>,
) -> Result<u8> {
    let Some(root) = all else {
        let run = run_once(args, accept).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&run.to_json())?);
        } else {
            print!(
                "{}",
                human(&run.report, &run.changes, run.run_id, render::color_out())
            );
        }
        return Ok(if run.report.has_drift() && accept.is_empty() {
            2
        } else {
            0
        });
    };
    let (doc, drifted, failed) = run_all(args, root).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for s in doc["stacks"].as_array().into_iter().flatten() {
            match s.get("error") {
                Some(e) => println!(
                    "{}: error: {}",
                    s["path"].as_str().unwrap_or(""),
                    e.as_str().unwrap_or("")
                ),
                None => println!(
                    "{}: {} finding(s), {} checked",
                    s["stack"].as_str().unwrap_or(""),
                    s["findings"].as_array().map(|f| f.len()).unwrap_or(0),
                    s["checked"]
                ),
            }
        }
    }
    Ok(if failed {
        1
    } else if drifted {
        2
    } else {
        0
    })
}

/// Drift of every stack under `root` as one document `{stacks: [...]}`, whether any
/// drifted, and whether any failed.
pub async fn run_all(args: &StackArgs, root: &std::path::Path) -> (serde_json::Value, bool, bool) {
    let mut stacks = Vec::new();
    let (mut drifted, mut failed) = (false, false);
    for dir in stacks_under(root) {
        let one = StackArgs {
            stack: dir.clone(),
            ..args.clone()
        };
        match run_once(&one, &[]).await {
            Ok(run) => {
                drifted |= run.report.has_drift();
                let mut v = run.to_json();
                v["path"] = serde_json::Value::String(dir.display().to_string());
                stacks.push(v);
            }
            Err(e) => {
                failed = true;
                stacks.push(serde_json::json!({"path": dir.display().to_string(), "error": format!("{e:#}")}));
            }
        }
    }
    (serde_json::json!({ "stacks": stacks }), drifted, failed)
}

/// One row per modified attribute, one per deleted or unmanaged resource.
fn rows(report: &DriftReport) -> Vec<FindingRow> {
    let mut out = Vec::new();
    for f in &report.findings {
        let base = FindingRow {
            address: f.address.clone(),
            type_name: f.type_name.clone(),
            region: f.region.clone(),
            cloud_id: f.cloud_id.clone(),
            kind: match f.kind {
                DriftKind::Modified => "modified",
                DriftKind::Deleted => "deleted",
                DriftKind::Unmanaged => "unmanaged",
            }
            .into(),
            attribute: None,
            recorded: None,
            live: None,
        };
        if f.changes.is_empty() {
            out.push(base.clone());
        }
        for c in &f.changes {
            out.push(FindingRow {
                attribute: Some(c.attribute.clone()),
                recorded: serde_json::to_value(&c.recorded).ok(),
                live: serde_json::to_value(&c.live).ok(),
                ..base.clone()
            });
        }
    }
    out
}

/// Makes the live values of `address` its new baseline in state.
fn accept_live(
    state: &mut crate::session::Session,
    rec: &terrane_state::StackRecord,
    run: i64,
    report: &DriftReport,
    address: &str,
) -> Result<()> {
    let findings: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.address == address)
        .collect();
    if findings.is_empty() {
        eprintln!("{address}: no drift to accept");
        return Ok(());
    }
    for f in findings {
        match f.kind {
            DriftKind::Modified => {
                let addr = Address::new(address);
                let Some(mut record) = state.resource(rec, &addr)? else {
                    continue;
                };
                for c in &f.changes {
                    record
                        .inputs
                        .insert(c.attribute.clone(), serde_json::to_value(&c.live)?);
                }
                state.record(rec, Some(run), RecordChange::Put(&record))?;
                eprintln!(
                    "{address}: the live values of {} are now the baseline. The stack file still declares the old ones: edit it to keep the change, or the next apply reverts it.",
                    f.changes
                        .iter()
                        .map(|c| c.attribute.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            DriftKind::Deleted => {
                state.record(rec, Some(run), RecordChange::Remove(&Address::new(address)))?;
                eprintln!(
                    "{address}: forgotten, as it no longer exists. Remove it from the stack file too, or the next apply creates it again."
                );
            }
            DriftKind::Unmanaged => {
                eprintln!(
                    "{address}: unmanaged resources are not accepted; bring {} under management with `terrane import`",
                    f.cloud_id
                );
                continue;
            }
        }
        state.resolve_drift(rec, address, "accepted")?;
    }
    Ok(())
}

fn human(report: &DriftReport, changes: &DriftChanges, run: i64, color: bool) -> String {
    let mut out = String::new();
    if report.has_drift() {
        out.push_str(&format!(
            "Drift in stack \"{}\": {} finding(s); {} resources checked (run {run}, {} new).\n\n",
            report.stack,
            report.findings.len(),
            report.checked,
            changes.new
        ));
    } else {
        out.push_str(&format!(
            "No drift in stack \"{}\": {} resources checked (run {run}).\n",
            report.stack, report.checked
        ));
    }
    for f in &report.findings {
        let (symbol, what) = match f.kind {
            DriftKind::Modified => ("~", "modified outside terrane".to_string()),
            DriftKind::Deleted => ("-", "deleted outside terrane".to_string()),
            DriftKind::Unmanaged => (
                "?",
                format!(
                    "unmanaged: carries the stack's tags{}, but state does not know it",
                    if f.address.is_empty() {
                        String::new()
                    } else {
                        format!(" (claims address {})", f.address)
                    }
                ),
            ),
        };
        let name = if f.kind == DriftKind::Unmanaged {
            f.cloud_id.clone()
        } else {
            format!("{} {}", f.address, f.cloud_id)
        };
        let line = format!("{symbol} {name} ({}, {}): {what}", f.type_name, f.region);
        out.push_str(&format!(
            "  {}\n",
            if color {
                line.yellow().to_string()
            } else {
                line
            }
        ));
        for c in &f.changes {
            let change = AttrChange {
                name: c.attribute.clone(),
                before: Some(c.recorded.clone()),
                after: c.live.clone(),
                forces_replacement: false,
                sensitive: false,
            };
            for l in render::attr_lines(&change) {
                out.push_str(&format!("      {l}\n"));
            }
        }
    }
    if !report.not_checked.is_empty() {
        out.push_str("\nNot checked:\n");
        for n in &report.not_checked {
            let who = n
                .address
                .clone()
                .unwrap_or_else(|| format!("{} in {}", n.type_name, n.region));
            out.push_str(&format!("  {who} [{}]: {}\n", n.what, n.reason));
        }
    }
    if !changes.resolved.is_empty() {
        out.push_str("\nResolved since the last run:\n");
        for r in &changes.resolved {
            out.push_str(&format!(
                "  {} {}{}: {}\n",
                r.address,
                r.kind,
                r.attribute
                    .as_deref()
                    .map(|a| format!(" {a}"))
                    .unwrap_or_default(),
                r.resolution.as_deref().unwrap_or("")
            ));
        }
    }
    if report.has_drift() {
        out.push_str("\n`terrane plan` shows what restores the declared state; `terrane drift --accept ADDR` keeps a change as the new baseline.\n");
    }
    out
}

pub async fn history(
    address: Option<&str>,
    stack: &std::path::Path,
    state: &StateArgs,
    json: bool,
) -> Result<u8> {
    let store = open_stack_state(stack, state).await?;
    let records = store.drift_history(&store.stack, address, false)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(0);
    }
    if records.is_empty() {
        println!(
            "No drift has been recorded{}.",
            address.map(|a| format!(" for {a}")).unwrap_or_default()
        );
    }
    for r in records {
        let status = match (&r.resolved_at, &r.resolution) {
            (Some(at), Some(how)) => format!("resolved {at} ({how})"),
            _ => format!("still present (last seen {})", r.last_seen_at),
        };
        println!(
            "{} {} {}{} [{}]: first seen {} (run {}), {status}",
            r.address,
            r.kind,
            r.cloud_id,
            r.attribute
                .as_deref()
                .map(|a| format!(" {a}"))
                .unwrap_or_default(),
            r.type_name,
            r.first_seen_at,
            r.first_run_id
        );
    }
    Ok(0)
}
