//! Each command is a thin wrapper over the engine.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use terrane_aws::AwsClients;
use terrane_core::Value;
use terrane_engine::{ApplyObserver, ApplyOptions, LoadedStack, RefreshStats, StepOutcome};
use terrane_plan::{Action, Plan, ResourceChange, StepKind};
use terrane_provider::Registry;
use terrane_stack::LoadOptions;
use terrane_state::StackRecord;

use crate::args::{Cli, Command, GraphFormat, StackArgs, StateArgs, StateCommand};
use crate::render;
use crate::session::Session;

/// The AWS clients of this process, once made, so their API calls can be reported.
static CLIENTS: std::sync::OnceLock<Arc<AwsClients>> = std::sync::OnceLock::new();

/// The request quotas the clients pace their calls by: AWS's published ones, with the
/// account's own from `--api-quota`.
static QUOTAS: std::sync::OnceLock<terrane_aws::QuotaTable> = std::sync::OnceLock::new();

pub async fn run(cli: Cli) -> Result<u8> {
    let api_stats = cli.api_stats;
    let mut quotas = terrane_aws::QuotaTable::aws();
    for spec in &cli.api_quotas {
        quotas = quotas.with_override(spec).map_err(anyhow::Error::msg)?;
    }
    let _ = QUOTAS.set(quotas);
    let result = run_command(cli).await;
    if api_stats {
        print_api_stats();
    }
    result
}

fn print_api_stats() {
    let Some(clients) = CLIENTS.get() else {
        eprintln!("API calls: 0");
        return;
    };
    let calls = clients.calls().snapshot();
    eprintln!("API calls: {}", calls.values().sum::<u64>());
    for ((service, operation, region), n) in calls {
        eprintln!("  {service} {operation} {region}: {n}");
    }
    // The buckets that made a call wait or met throttling, unindented so that the call
    // lines above stay the only indented ones (scripts read them).
    let limits = clients.rate_limits().to_string();
    for (i, line) in limits.lines().enumerate() {
        match i {
            0 => eprintln!("{line}"),
            _ => eprintln!("- {}", line.trim_start()),
        }
    }
}

async fn run_command(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Validate {
            stack,
            json,
            policy,
        } => validate(&stack, json, policy),
        Command::Plan {
            stack,
            detailed_exitcode,
            json,
            out,
            destroy,
        } => plan(&stack, detailed_exitcode, json, out.as_deref(), destroy).await,
        Command::Apply {
            target,
            vars,
            state,
            auto_approve,
            parallelism,
            timeout,
        } => {
            let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
            if target.is_file() {
                apply_saved(&target, state, parallelism, deadline).await
            } else {
                let args = StackArgs {
                    stack: target,
                    vars,
                    state,
                };
                apply(&args, auto_approve, parallelism, false, None, deadline).await
            }
        }
        Command::Destroy {
            stack,
            auto_approve,
            parallelism,
        } => apply(&stack, auto_approve, parallelism, true, None, None).await,
        Command::Drift {
            action:
                Some(crate::args::DriftAction::History {
                    address,
                    stack,
                    state,
                    json,
                }),
            ..
        } => crate::drift::history(address.as_deref(), &stack, &state, json).await,
        Command::Drift {
            action: None,
            stack,
            json,
            accept,
            all,
            every,
            cron,
            webhook,
            metrics_addr,
        } => {
            if every.is_some() || cron.is_some() {
                let schedule = crate::watch::Schedule::new(every, cron.as_deref())?;
                crate::watch::watch(
                    &stack,
                    all.as_deref(),
                    schedule,
                    webhook.as_deref(),
                    metrics_addr,
                )
                .await
            } else {
                crate::drift::drift(&stack, json, &accept, all.as_deref()).await
            }
        }
        Command::Graph { stack, format } => graph(&stack, format),
        Command::Output { stack, name, json } => output(&stack, name.as_deref(), json).await,
        Command::State { command } => state_command(command).await,
        Command::Import { address, id, stack } => import(&stack, &address, &id).await,
        Command::Docs { out } => {
            write_docs(&out)?;
            println!("Wrote the resource reference into {}.", out.display());
            Ok(0)
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&terrane_stack::json_schema())?
            );
            Ok(0)
        }
    }
}

fn load_options(args: &StackArgs) -> LoadOptions<'static> {
    LoadOptions {
        env: args.state.env.clone(),
        vars: args.vars.clone(),
        ..LoadOptions::default()
    }
}

fn state_path(stack_dir: &Path, state: &StateArgs) -> PathBuf {
    state
        .state
        .clone()
        .unwrap_or_else(|| stack_dir.join(".terrane").join("state.db"))
}

/// The process's AWS clients, made once from the standard AWS configuration chain.
pub async fn aws_clients() -> Arc<AwsClients> {
    if let Some(c) = CLIENTS.get() {
        return c.clone();
    }
    let quotas = QUOTAS.get().cloned().unwrap_or_default();
    let clients = Arc::new(AwsClients::from_env_with(quotas).await);
    CLIENTS.get_or_init(|| clients).clone()
}

pub async fn aws_registry() -> Registry {
    terrane_aws::registry(aws_clients().await)
}

pub fn load(args: &StackArgs, registry: &Registry) -> Result<LoadedStack> {
    Ok(terrane_engine::load(
        &args.stack,
        &load_options(args),
        registry,
    )?)
}

fn validate(args: &StackArgs, json: bool, policy: bool) -> Result<u8> {
    let registry = terrane_aws::offline_registry();
    let loaded = match terrane_engine::load(&args.stack, &load_options(args), &registry) {
        Ok(l) => l,
        Err(d) if json => {
            println!("{}", serde_json::json!({"valid": false, "diagnostics": d}));
            return Ok(1);
        }
        Err(d) => return Err(d.into()),
    };
    let findings = if policy {
        terrane_engine::policy::check(&loaded.stack, &registry)
    } else {
        Vec::new()
    };
    let failing = findings.iter().filter(|f| f.waived.is_none()).count();
    if json {
        println!(
            "{}",
            serde_json::json!({"valid": failing == 0, "resources": loaded.stack.instances.len(), "diagnostics": [], "policy": findings})
        );
    } else {
        for f in &findings {
            let d = terrane_core::Diagnostic::at(
                f.location.clone(),
                format!("[{}] {}", f.rule, f.message),
            )
            .with_address(f.address.clone());
            match &f.waived {
                Some(reason) => println!(
                    "{}: waived {} for {}: {reason}",
                    f.location, f.rule, f.address
                ),
                None => eprintln!("{}", render::diagnostic(&d, false)),
            }
        }
        if failing > 0 {
            eprintln!(
                "{failing} security finding(s); fix them or waive each on its resource with `waivers: [{{rule: RULE, reason: \"...\"}}]`"
            );
        } else {
            println!(
                "Stack \"{}\" is valid: {} resources{}.",
                loaded.stack.name,
                loaded.stack.instances.len(),
                if policy {
                    format!(", {} security check finding(s) waived", findings.len())
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(if failing > 0 { 1 } else { 0 })
}

fn graph(args: &StackArgs, format: GraphFormat) -> Result<u8> {
    let stack = terrane_stack::load_stack(&args.stack, &load_options(args))?;
    let graph = terrane_stack::StackGraph::build(&stack)?;
    let text = match format {
        GraphFormat::Dot => graph.to_dot(&stack),
        GraphFormat::Mermaid => graph.to_mermaid(&stack),
    };
    print!("{text}");
    Ok(0)
}

/// A plan saved with `plan --out`: enough to load the same stack again, plus what the plan
/// did, so that apply can refuse if anything moved in between.
#[derive(Serialize, Deserialize)]
struct SavedPlan {
    format: String,
    stack_dir: PathBuf,
    env: Option<String>,
    /// `--var` values, except those of sensitive variables, which apply reads again.
    vars: Vec<(String, String)>,
    state: Option<PathBuf>,
    #[serde(default)]
    backend: Option<String>,
    state_serial: i64,
    actions: Vec<(String, Action)>,
    plan: serde_json::Value,
}

const PLAN_FORMAT: &str = "terrane-plan/1";

struct Prepared {
    loaded: Option<LoadedStack>,
    state: Session,
    stack_rec: StackRecord,
    recorded: Vec<terrane_plan::RecordedResource>,
    observed: BTreeMap<terrane_core::Address, terrane_plan::Observed>,
    plan: Plan,
}

/// Opens the stack's state where its backend keeps it.
pub async fn open_session(
    stack_dir: &Path,
    state: &StateArgs,
    stack_name: &str,
) -> Result<Session> {
    let (_, from_stack) =
        terrane_stack::stack_header(stack_dir, None).map_err(terrane_core::Diagnostics::from)?;
    let spec = crate::session::backend_of(state, from_stack.as_deref())?;
    crate::session::open(&spec, &state_path(stack_dir, state), stack_name).await
}

/// Loads the stack, opens (and with `lock_for`, locks) its state, recovers interrupted
/// operations and plans. Past `deadline`, it gives up (releasing the lock).
async fn prepare(
    args: &StackArgs,
    registry: &Registry,
    destroy: bool,
    lock_for: Option<&str>,
    deadline: Option<tokio::time::Instant>,
) -> Result<Prepared> {
    let loaded = load(args, registry)?;
    let mut state = open_session(&args.stack, &args.state, &loaded.stack.name).await?;
    if let Some(op) = lock_for {
        state.acquire(op, args.state.lock_timeout).await?;
    }
    let stack_rec = state.stack.clone();
    let result = async {
        if lock_for.is_some() {
            let run = state.begin_run(&stack_rec, "recover")?;
            let rec =
                terrane_engine::recover_interrupted(registry, &mut state.store, &stack_rec, run)
                    .await?;
            for a in &rec.adopted {
                eprintln!("recovered {a}: an interrupted create was found in AWS and recorded");
            }
            state.finish_run(run, "succeeded")?;
        }
        let recorded = state.resources(&stack_rec)?;
        let stats = RefreshStats::default();
        let observed = terrane_engine::refresh(registry, &recorded, &stats).await;
        let plan = if destroy {
            terrane_plan::destroy_plan(
                &loaded.stack.name,
                Some(&loaded.stack),
                &recorded,
                &observed,
            )?
        } else {
            terrane_engine::plan(&loaded, &recorded, &observed, registry, &stack_rec)?
        };
        anyhow::Ok((recorded, observed, plan))
    };
    let result = match deadline {
        None => result.await,
        Some(d) => tokio::time::timeout_at(d, result)
            .await
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "timed out (--timeout) before any change was made"
                ))
            }),
    };
    match result {
        Ok((recorded, observed, mut plan)) => {
            let costs = state.store.operation_costs()?;
            plan.api_calls = Some(terrane_plan::estimate_api_calls(&plan, &|t, op| {
                costs.get(&(t.to_string(), op.to_string())).map(|c| c.0)
            }));
            Ok(Prepared {
                loaded: Some(loaded),
                state,
                stack_rec,
                recorded,
                observed,
                plan,
            })
        }
        Err(e) => {
            if lock_for.is_some() {
                let _ = state.release().await;
            }
            Err(e)
        }
    }
}

async fn plan(
    args: &StackArgs,
    detailed: bool,
    json: bool,
    out: Option<&Path>,
    destroy: bool,
) -> Result<u8> {
    let registry = aws_registry().await;
    let mut p = prepare(args, &registry, destroy, None, None).await?;
    let run = p.state.begin_run(&p.stack_rec, "plan")?;
    p.state.finish_run(run, "succeeded")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&p.plan)?);
    } else {
        print!("{}", render::plan(&p.plan, render::color_out()));
    }
    if let Some(out) = out {
        let loaded = p.loaded.as_ref().expect("plan loads the stack");
        let sensitive: Vec<&String> = loaded
            .stack
            .variables
            .iter()
            .filter(|(_, v)| matches!(v, Value::Secret(_)))
            .map(|(k, _)| k)
            .collect();
        let saved = SavedPlan {
            format: PLAN_FORMAT.into(),
            stack_dir: std::path::absolute(&args.stack)?,
            env: args.state.env.clone(),
            vars: args
                .vars
                .iter()
                .filter(|(k, _)| !sensitive.contains(&k))
                .cloned()
                .collect(),
            state: args
                .state
                .state
                .clone()
                .map(std::path::absolute)
                .transpose()?,
            backend: args.state.backend.clone(),
            state_serial: p.state.serial(&p.stack_rec)?,
            actions: if destroy {
                Vec::new()
            } else {
                p.plan.fingerprint()
            },
            plan: serde_json::to_value(&p.plan)?,
        };
        if destroy {
            bail!("--out with --destroy is not supported yet: run `terrane destroy`");
        }
        write_private(out, serde_json::to_string_pretty(&saved)?.as_bytes())?;
        if !json {
            println!(
                "\nSaved the plan to {}; apply exactly it with `terrane apply {}`.",
                out.display(),
                out.display()
            );
        }
    }
    Ok(if detailed && p.plan.has_changes() {
        2
    } else {
        0
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

async fn apply_saved(
    file: &Path,
    state: StateArgs,
    parallelism: usize,
    deadline: Option<tokio::time::Instant>,
) -> Result<u8> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let saved: SavedPlan = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a terrane plan file", file.display()))?;
    if saved.format != PLAN_FORMAT {
        bail!(
            "{}: plan format {} is not {PLAN_FORMAT}",
            file.display(),
            saved.format
        );
    }
    let args = StackArgs {
        stack: saved.stack_dir.clone(),
        vars: saved.vars.clone(),
        state: StateArgs {
            env: saved.env.clone(),
            state: state.state.or(saved.state.clone()),
            lock_timeout: state.lock_timeout,
            backend: state.backend.or(saved.backend.clone()),
        },
    };
    apply(&args, true, parallelism, false, Some(&saved), deadline).await
}

fn confirm(what: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{what} needs confirmation, but there is no terminal to ask: add --auto-approve");
    }
    print!("Do you want to {what}? Only 'yes' will be accepted: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

async fn apply(
    args: &StackArgs,
    auto_approve: bool,
    parallelism: usize,
    destroy: bool,
    saved: Option<&SavedPlan>,
    deadline: Option<tokio::time::Instant>,
) -> Result<u8> {
    let registry = aws_registry().await;
    let op = if destroy { "destroy" } else { "apply" };
    let mut p = prepare(args, &registry, destroy, Some(op), deadline).await?;
    let limits = RunLimits {
        parallelism,
        deadline,
    };
    let result = apply_locked(&mut p, &registry, auto_approve, limits, destroy, saved).await;
    p.state.release().await?;
    result
}

/// How many operations at once, and until when (`--timeout`).
struct RunLimits {
    parallelism: usize,
    deadline: Option<tokio::time::Instant>,
}

/// After `--timeout`, how long the operations in flight get to finish before the run stops.
const TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a run stopped without waiting for its operations in flight.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Abort {
    SecondInterrupt,
    Timeout,
}

async fn apply_locked(
    p: &mut Prepared,
    registry: &Registry,
    auto_approve: bool,
    limits: RunLimits,
    destroy: bool,
    saved: Option<&SavedPlan>,
) -> Result<u8> {
    if let Some(saved) = saved {
        let serial = p.state.serial(&p.stack_rec)?;
        if serial != saved.state_serial {
            bail!(
                "the saved plan is stale: state changed since it was made (serial {} then, {serial} now); plan again",
                saved.state_serial
            );
        }
        if p.plan.fingerprint() != saved.actions {
            bail!(
                "the saved plan is stale: the live infrastructure changed since it was made; plan again"
            );
        }
    }
    let color = render::color_out();
    print!("{}", render::plan(&p.plan, color));
    let op = if destroy { "destroy" } else { "apply" };
    let run = p.state.begin_run(&p.stack_rec, op)?;
    if p.plan.has_changes() && !auto_approve && !confirm(&format!("{op} these changes"))? {
        p.state.finish_run(run, "cancelled")?;
        println!("Cancelled; nothing was changed.");
        return Ok(1);
    }
    // First Ctrl-C (or the deadline): start nothing new, let what is in flight finish and be
    // recorded. Second Ctrl-C (or the grace after the deadline): stop at once.
    let cancel = Arc::new(AtomicBool::new(false));
    let (abort_tx, mut abort_rx) = tokio::sync::mpsc::unbounded_channel();
    let (on_signal, abort_on_signal) = (cancel.clone(), abort_tx.clone());
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\ninterrupted: finishing the operations in flight, starting nothing new (Ctrl-C again to abort)"
            );
            on_signal.store(true, Ordering::SeqCst);
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = abort_on_signal.send(Abort::SecondInterrupt);
            }
        }
    });
    if let Some(deadline) = limits.deadline {
        let on_time = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            eprintln!(
                "\ntimed out (--timeout): finishing the operations in flight for up to {}s, starting nothing new",
                TIMEOUT_GRACE.as_secs()
            );
            on_time.store(true, Ordering::SeqCst);
            tokio::time::sleep(TIMEOUT_GRACE).await;
            let _ = abort_tx.send(Abort::Timeout);
        });
    }
    let steps = terrane_plan::steps(&p.plan).len();
    let progress = Progress::new(steps as u64, color);
    let opts = ApplyOptions {
        parallelism: limits.parallelism,
        cancel,
    };
    let report = {
        let engine = terrane_engine::apply(
            p.loaded.as_ref(),
            &p.plan,
            &p.recorded,
            &p.observed,
            registry,
            &mut p.state.store,
            &p.stack_rec,
            run,
            &opts,
            &progress,
        );
        // Dropping the engine mid-run is safe: it writes state only between awaits, and an
        // operation cut off keeps its open intent in the journal for the next run.
        tokio::select! {
            r = engine => Ok(r),
            Some(why) = abort_rx.recv() => Err(why),
        }
    };
    progress.bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(why) => {
            let reason = match why {
                Abort::SecondInterrupt => "interrupted twice",
                Abort::Timeout => "timed out",
            };
            p.state.finish_run(run, &format!("aborted: {reason}"))?;
            eprintln!(
                "\n{} aborted ({reason}): operations still in flight were cut off. State records every operation that finished; the next run looks the others up in AWS by their ownership tags.",
                if destroy { "Destroy" } else { "Apply" },
            );
            return Ok(if why == Abort::SecondInterrupt {
                130
            } else {
                1
            });
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            p.state.finish_run(run, &format!("failed: {e}"))?;
            return Err(e.into());
        }
    };
    let failures: Vec<_> = report.failures().collect();
    if failures.is_empty() {
        p.state.finish_run(run, "succeeded")?;
        let s = p.plan.summary();
        println!(
            "\n{} complete: {} created, {} updated, {} replaced, {} deleted.",
            if destroy { "Destroy" } else { "Apply" },
            s.create,
            s.update,
            s.replace,
            s.delete
        );
    } else {
        p.state.finish_run(
            run,
            &format!("failed: {} step(s) did not succeed", failures.len()),
        )?;
        eprintln!(
            "\n{} failed; state records exactly what was done. Fix the cause and run it again:",
            if destroy { "Destroy" } else { "Apply" }
        );
        for (addr, kind, o) in &failures {
            eprintln!("  {addr} ({}): {}", kind_name(*kind), outcome_text(o));
        }
    }
    if !destroy
        && let Some(loaded) = &p.loaded
        && let Ok(outputs) = terrane_engine::outputs(&loaded.stack, &report.live)
        && !outputs.is_empty()
    {
        println!("\nOutputs:");
        for (k, v) in outputs {
            println!("  {k} = {v}");
        }
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}

fn kind_name(k: StepKind) -> &'static str {
    match k {
        StepKind::Create => "create",
        StepKind::Update => "update",
        StepKind::Delete => "delete",
    }
}

fn outcome_text(o: &StepOutcome) -> String {
    match o {
        StepOutcome::Succeeded => "done".into(),
        StepOutcome::Failed(m) => format!("failed: {m}"),
        StepOutcome::Skipped(m) => format!("skipped: {m}"),
    }
}

struct Progress {
    bar: ProgressBar,
    color: bool,
}

impl Progress {
    fn new(len: u64, color: bool) -> Self {
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress { bar, color }
    }
}

impl ApplyObserver for Progress {
    fn started(&self, change: &ResourceChange, kind: StepKind) {
        self.bar
            .set_message(format!("{} {}", kind_name(kind), change.address));
    }

    fn finished(&self, change: &ResourceChange, kind: StepKind, outcome: &StepOutcome) {
        use owo_colors::OwoColorize;
        self.bar.inc(1);
        let text = format!(
            "{} {} ({}): {}",
            kind_name(kind),
            change.address,
            change.type_name,
            outcome_text(outcome)
        );
        let text = match (self.color, outcome) {
            (false, _) => text,
            (true, StepOutcome::Succeeded) => text.green().to_string(),
            (true, StepOutcome::Failed(_)) => text.red().to_string(),
            (true, StepOutcome::Skipped(_)) => text.yellow().to_string(),
        };
        if self.bar.is_hidden() {
            // Without a terminal indicatif draws nothing; the line still matters in CI logs.
            println!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}

async fn output(args: &StackArgs, name: Option<&str>, json: bool) -> Result<u8> {
    let registry = terrane_aws::offline_registry();
    let loaded = load(args, &registry)?;
    let state = open_session(&args.stack, &args.state, &loaded.stack.name).await?;
    let recorded = state.resources(&state.stack)?;
    let lookup = terrane_engine::recorded_lookup(&recorded, &registry);
    let outputs = terrane_engine::outputs(&loaded.stack, &lookup)?;
    match name {
        Some(n) => {
            let v = outputs.get(n).with_context(|| format!("no output `{n}`"))?;
            match v {
                Value::String(s) => println!("{s}"),
                other => println!("{other}"),
            }
        }
        None if json => println!("{}", serde_json::to_string_pretty(&outputs)?),
        None => {
            for (k, v) in outputs {
                println!("{k} = {v}");
            }
        }
    }
    Ok(0)
}

pub async fn open_stack_state(stack: &Path, state: &StateArgs) -> Result<Session> {
    let (name, from_stack) = terrane_stack::stack_header(stack, state.env.as_deref())
        .map_err(terrane_core::Diagnostics::from)?;
    let spec = crate::session::backend_of(state, from_stack.as_deref())?;
    let path = state_path(stack, state);
    if spec == crate::session::BackendSpec::Sqlite {
        if !path.exists() {
            bail!(
                "no state at {}: nothing has been applied for this stack yet",
                path.display()
            );
        }
        // Each environment is a stack of its own: name the ones held here rather than
        // answer for a stack nothing was applied to.
        let store = terrane_state::StateStore::open(&path)?;
        if store.find_stack(&name)?.is_none() {
            let held = store.stack_names()?;
            let envs: Vec<&String> = held
                .iter()
                .filter(|h| h.starts_with(&format!("{name}/")))
                .collect();
            if !envs.is_empty() {
                bail!(
                    "{} holds no stack `{name}`, but holds {}: pass --env",
                    path.display(),
                    envs.iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    crate::session::open(&spec, &path, &name).await
}

async fn state_command(cmd: StateCommand) -> Result<u8> {
    match cmd {
        StateCommand::List { stack, state, json } => {
            let store = open_stack_state(&stack, &state).await?;
            let rec = store.stack.clone();
            let resources = store.resources(&rec)?;
            if json {
                let list: Vec<_> = resources
                    .iter()
                    .map(|r| serde_json::json!({"address": r.address, "type": r.type_name, "region": r.region, "cloud_id": r.cloud_id}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for r in resources {
                    println!(
                        "{}\t{}\t{}\t{}",
                        r.address, r.type_name, r.region, r.cloud_id
                    );
                }
            }
            Ok(0)
        }
        StateCommand::Show {
            address,
            stack,
            state,
            at,
        } => {
            let store = open_stack_state(&stack, &state).await?;
            let rec = store.stack.clone();
            let addr = terrane_core::Address::new(address.clone());
            let found = match at {
                Some(run) => store
                    .resources_at(&rec, run)?
                    .into_iter()
                    .find(|r| r.address == addr),
                None => store.resource(&rec, &addr)?,
            };
            let r = found.with_context(|| match at {
                Some(run) => format!("no resource `{address}` in state as of run {run}"),
                None => format!("no resource `{address}` in state"),
            })?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(0)
        }
        StateCommand::History { stack, state, json } => {
            let store = open_stack_state(&stack, &state).await?;
            let rec = store.stack.clone();
            let runs = store.runs(&rec)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                println!("RUN\tKIND\tSTARTED\tOUTCOME\tRECORDS\tBY");
                for r in runs {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}@{}",
                        r.id,
                        r.kind,
                        r.started_at,
                        r.outcome.as_deref().unwrap_or("unfinished"),
                        r.records_written,
                        r.user.as_deref().unwrap_or("?"),
                        r.host.as_deref().unwrap_or("?")
                    );
                }
            }
            Ok(0)
        }
        StateCommand::Rollback { to, stack, state } => {
            let mut store = open_stack_state(&stack, &state).await?;
            let rec = store.stack.clone();
            if !store.runs(&rec)?.iter().any(|r| r.id == to) {
                bail!(
                    "stack \"{}\" has no run {to}: see `terrane state history`",
                    rec.name
                );
            }
            store.acquire("state rollback", state.lock_timeout).await?;
            let result = (|| -> Result<usize> {
                let target = store.resources_at(&rec, to)?;
                let run = store.begin_run(&rec, "rollback")?;
                store.replace_all(&rec, Some(run), &target)?;
                store.finish_run(run, &format!("succeeded: state as of run {to}"))?;
                Ok(target.len())
            })();
            store.release().await?;
            let n = result?;
            println!(
                "State of \"{}\" is now as it was after run {to} ({n} resources). AWS was not changed: run `terrane plan` to see what differs.",
                rec.name
            );
            Ok(0)
        }
        StateCommand::Mv {
            from,
            to,
            stack,
            state,
        } => {
            let mut store = open_stack_state(&stack, &state).await?;
            let rec = store.stack.clone();
            store.acquire("state mv", state.lock_timeout).await?;
            let result = store.rename(
                &rec,
                &terrane_core::Address::new(from.clone()),
                &terrane_core::Address::new(to.clone()),
            );
            store.release().await?;
            result?;
            println!("Moved {from} to {to}.");
            Ok(0)
        }
        StateCommand::Pull { stack, state } => {
            let store = open_stack_state(&stack, &state).await?;
            let rec = store.stack.clone();
            println!("{}", serde_json::to_string_pretty(&store.export(&rec)?)?);
            Ok(0)
        }
        StateCommand::Push {
            file,
            stack,
            state,
            force,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let doc: terrane_state::StateDocument = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a terrane state document", file.display()))?;
            let mut store = open_session(&stack, &state, &doc.stack).await?;
            store.acquire("state push", state.lock_timeout).await?;
            let result = store.import_document(&doc, force);
            store.release().await?;
            result?;
            println!(
                "Pushed {} resources of stack \"{}\".",
                doc.resources.len(),
                doc.stack
            );
            Ok(0)
        }
        StateCommand::Rm {
            address,
            stack,
            state,
        } => {
            let mut store = open_stack_state(&stack, &state).await?;
            let rec = store.stack.clone();
            let addr = terrane_core::Address::new(address.clone());
            if store.resource(&rec, &addr)?.is_none() {
                bail!("no resource `{address}` in state");
            }
            store.acquire("state rm", state.lock_timeout).await?;
            let r = store.record(&rec, None, terrane_state::RecordChange::Remove(&addr));
            store.release().await?;
            r?;
            println!(
                "Removed {address} from state; it still exists in AWS and is no longer managed."
            );
            Ok(0)
        }
        StateCommand::Migrate { to, stack, state } => {
            let target_spec = crate::session::BackendSpec::parse(&to)?;
            let mut source = open_stack_state(&stack, &state).await?;
            source.acquire("state migrate", state.lock_timeout).await?;
            let result = async {
                let doc = source.export(&source.stack)?;
                let mut target =
                    crate::session::open(&target_spec, &state_path(&stack, &state), &doc.stack)
                        .await?;
                target.acquire("state migrate", state.lock_timeout).await?;
                let pushed = target.import_document(&doc, false).map(|_| ());
                target.release().await?;
                pushed?;
                anyhow::Ok(doc)
            }
            .await;
            source.release().await?;
            let doc = result?;
            println!(
                "Moved {} resources of stack \"{}\" to {to}. Set `backend: {to}` in stack.yaml (or pass --backend) so every run uses it; the old state was left as it was.",
                doc.resources.len(),
                doc.stack
            );
            Ok(0)
        }
        StateCommand::Journal { stack, state, json } => {
            let store = open_stack_state(&stack, &state).await?;
            let rec = store.stack.clone();
            let entries = store.journal(&rec)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                for e in entries {
                    println!(
                        "{}\trun {}\t{} {}\t{}\t{}{}",
                        e.started_at,
                        e.run_id,
                        e.operation,
                        e.address,
                        e.cloud_id.as_deref().unwrap_or("-"),
                        e.outcome.as_deref().unwrap_or("interrupted"),
                        e.error.map(|m| format!(": {m}")).unwrap_or_default()
                    );
                }
            }
            Ok(0)
        }
        StateCommand::Unlock {
            stack,
            state,
            force,
        } => {
            let mut store = open_stack_state(&stack, &state).await?;
            let rec = store.stack.clone();
            let Some(holder) = store.holder().await? else {
                println!("Stack \"{}\" is not locked.", rec.name);
                return Ok(0);
            };
            eprintln!(
                "warning: the lock is held by {} on {} (pid {}) for {} since {}. If that process is still running, breaking its lock lets two writers change the stack at once.",
                holder.holder, holder.host, holder.pid, holder.operation, holder.since
            );
            if !force {
                bail!("re-run with --force to break the lock");
            }
            store.break_lock().await?;
            println!("Lock removed.");
            Ok(0)
        }
    }
}

/// Writes one page per resource type and an index into `out`.
pub fn write_docs(out: &Path) -> Result<()> {
    let registry = terrane_aws::offline_registry();
    std::fs::create_dir_all(out)?;
    let schemas: Vec<&terrane_core::ResourceSchema> = registry.iter().map(|t| t.schema()).collect();
    for s in &schemas {
        std::fs::write(
            out.join(format!("{}.md", s.type_name)),
            crate::docs::resource_page(s),
        )?;
    }
    std::fs::write(out.join("README.md"), crate::docs::index(&schemas))?;
    Ok(())
}

/// Reads resource `id` from AWS and records it at `address`, whose type and region the
/// stack declares. The next plan shows how the live resource differs from the stack.
async fn import(args: &StackArgs, address: &str, id: &str) -> Result<u8> {
    let registry = aws_registry().await;
    let loaded = load(args, &registry)?;
    let addr = terrane_core::Address::new(address);
    let inst = loaded.stack.instance(&addr).with_context(|| {
        format!("the stack declares no resource `{address}`; declare it first, then import")
    })?;
    let provider = registry
        .get(&inst.type_name)
        .with_context(|| format!("unknown resource type {}", inst.type_name))?;
    let mut state = open_session(&args.stack, &args.state, &loaded.stack.name).await?;
    let rec = state.stack.clone();
    if state.resource(&rec, &addr)?.is_some() {
        bail!(
            "`{address}` is already in state; `terrane state rm` it first to import another resource there"
        );
    }
    let ids = vec![id.to_string()];
    let mut found = provider
        .observe(terrane_provider::ObserveRequest {
            region: &inst.region,
            ids: &ids,
        })
        .await?
        .found;
    let attrs = found
        .remove(id)
        .with_context(|| format!("no {} with id {id} in {}", inst.type_name, inst.region))?;
    let hasher = terrane_core::SecretHasher::new(rec.secret_salt.clone());
    let schema = provider.schema();
    let record = terrane_plan::RecordedResource {
        address: addr.clone(),
        type_name: inst.type_name.clone(),
        region: inst.region.clone(),
        cloud_id: id.to_string(),
        inputs: attrs
            .iter()
            .filter(|(k, _)| schema.attribute(k).is_some_and(|a| a.settable()))
            .map(|(k, v)| (k.clone(), v.to_state_json(&hasher)))
            .collect(),
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.clone(), v.to_state_json(&hasher)))
            .collect(),
        dependencies: Vec::new(),
    };
    state.acquire("import", args.state.lock_timeout).await?;
    let result = (|| -> Result<()> {
        let run = state.begin_run(&rec, "import")?;
        state.record(&rec, Some(run), terrane_state::RecordChange::Put(&record))?;
        state.finish_run(run, "succeeded")?;
        Ok(())
    })();
    state.unlock(&rec)?;
    result?;
    println!(
        "Imported {id} as {address}. Run `terrane plan` to see how it differs from the stack."
    );
    Ok(0)
}
