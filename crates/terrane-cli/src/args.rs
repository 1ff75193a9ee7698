use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "terrane",
    version,
    about = "Plan and apply AWS stacks declared in YAML, directly against the AWS APIs"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug); TERRANE_LOG takes a tracing filter.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// At the end, print to stderr how many AWS API calls were made, by service, operation and region.
    #[arg(long, global = true)]
    pub api_stats: bool,
    /// Your account's own API request quota where AWS raised it: SERVICE[:read|:mutating|:ApiName]=BURST/PER_SECOND,
    /// e.g. ec2:mutating=200/10 (repeatable, or comma-separated in TERRANE_API_QUOTAS). terrane otherwise paces
    /// calls by AWS's published defaults.
    #[arg(
        long = "api-quota",
        value_name = "QUOTA",
        global = true,
        env = "TERRANE_API_QUOTAS",
        value_delimiter = ','
    )]
    pub api_quotas: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct StackArgs {
    /// The stack directory (holding stack.yaml).
    #[arg(default_value = ".")]
    pub stack: PathBuf,
    /// Set a variable, overriding the environment file and defaults (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Args, Clone)]
pub struct StateArgs {
    /// Environment: reads env/<ENV>.yaml of the stack for variable values. Each
    /// environment is a stack of its own in state and in the `terrane:stack` tag
    /// (`NAME/ENV`), so state commands take it too.
    #[arg(long = "env", short = 'e', global = true)]
    pub env: Option<String>,
    /// State database; defaults to <stack>/.terrane/state.db.
    #[arg(long = "state", env = "TERRANE_STATE", global = true)]
    pub state: Option<PathBuf>,
    /// When another process holds the stack's lock, wait this long for it (e.g. 30s, 5m)
    /// instead of failing at once.
    #[arg(long = "lock-timeout", value_parser = parse_duration, global = true)]
    pub lock_timeout: Option<std::time::Duration>,
    /// Where state lives: `sqlite` (default) or `dynamodb://TABLE[?region=R]`; overrides
    /// the stack's `backend:`.
    #[arg(long = "backend", env = "TERRANE_BACKEND", global = true)]
    pub backend: Option<String>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 30s or 5m"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{s}`: use s, m or h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

// Parsed once per process; boxing the large variants would only obscure the clap derive.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Check a stack: syntax, variables, references, cycles and every property against its type.
    Validate {
        #[command(flatten)]
        stack: StackArgs,
        /// Print the diagnostics as JSON.
        #[arg(long)]
        json: bool,
        /// Also run the security checks (unencrypted storage, admin ports open to the
        /// internet, public buckets, open EKS endpoints, KMS keys without rotation).
        #[arg(long)]
        policy: bool,
    },
    /// Show what apply would do.
    Plan {
        #[command(flatten)]
        stack: StackArgs,
        /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
        /// Save the plan, to apply exactly it later with `terrane apply FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Plan the destruction of everything in state.
        #[arg(long)]
        destroy: bool,
    },
    /// Make the live infrastructure match the stack (or a saved plan).
    Apply {
        /// A stack directory, or a plan file saved with `plan --out`.
        #[arg(default_value = ".")]
        target: PathBuf,
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        #[command(flatten)]
        state: StateArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Most AWS operations in flight at once.
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
        /// Bound the whole run (e.g. 90s, 20m). When it is up, nothing new starts and the
        /// operations in flight get 30s more to finish and be recorded; then the run stops
        /// (exit 1) and the next run resolves what was left open.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
    },
    /// Delete everything the stack's state records.
    Destroy {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        auto_approve: bool,
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
    },
    /// Find what changed behind terrane's back since the last apply: modified, deleted and
    /// unmanaged resources. Exit 0 no drift, 2 drift found, 1 error. Recorded as history.
    #[command(args_conflicts_with_subcommands = true)]
    Drift {
        #[command(subcommand)]
        action: Option<DriftAction>,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
        /// Take the live values of this resource as its new baseline (repeatable). The stack
        /// file still declares the old ones: edit it too, or the next apply reverts the change.
        #[arg(long, value_name = "ADDR")]
        accept: Vec<String>,
        /// Check every stack under this directory, with one report.
        #[arg(long, value_name = "DIR")]
        all: Option<PathBuf>,
        /// Keep running: check every interval (e.g. 30m), with jitter, until SIGTERM/SIGINT.
        #[arg(long, value_parser = parse_duration, conflicts_with = "cron")]
        every: Option<std::time::Duration>,
        /// Keep running on a cron schedule (e.g. "0 */6 * * *", UTC), until SIGTERM/SIGINT.
        #[arg(long)]
        cron: Option<String>,
        /// In scheduled mode, POST each run's findings as JSON to this URL.
        #[arg(long)]
        webhook: Option<String>,
        /// In scheduled mode, serve Prometheus metrics on this address (e.g. 127.0.0.1:9464).
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// Print the resource graph.
    Graph {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Show the stack's outputs.
    Output {
        #[command(flatten)]
        stack: StackArgs,
        /// Only this output, printed raw.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Read and edit the state store.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Bring an existing AWS resource under management at an address of the stack.
    Import {
        address: String,
        /// The resource's cloud id (vpc-..., subnet-..., ...).
        id: String,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Print the JSON Schema of stack.yaml, for editors.
    Schema,
    /// Write the reference pages of every resource type into a directory.
    Docs {
        #[arg(default_value = "docs/resources")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum DriftAction {
    /// When each drift appeared, whether it is still there, and when and how it ended.
    History {
        /// Only this resource.
        address: Option<String>,
        #[arg(long, default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum StateCommand {
    /// Every resource in state.
    List {
        #[arg(default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        #[arg(long)]
        json: bool,
    },
    /// One resource as recorded (sensitive values appear only as digests).
    Show {
        address: String,
        #[arg(long, default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        /// As it was when this run ended (see `state history`).
        #[arg(long, value_name = "RUN")]
        at: Option<i64>,
    },
    /// The stack's runs (plan, apply, destroy, ...), newest first, with what each wrote.
    History {
        #[arg(default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        #[arg(long)]
        json: bool,
    },
    /// Put state back as it was when a run ended. Changes state only, never AWS: the next
    /// plan shows what it takes to make AWS match again.
    Rollback {
        #[arg(long, value_name = "RUN")]
        to: i64,
        #[arg(default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Give a resource a new address (after renaming it in the stack), without touching AWS.
    Mv {
        from: String,
        to: String,
        #[arg(long, default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Print the stack's state as a JSON document (format terrane-state/1).
    Pull {
        #[arg(default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Load a document written by `state pull` into a store where the stack has no resources.
    Push {
        file: PathBuf,
        #[arg(long, default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        /// Replace whatever the stack holds in this store.
        #[arg(long)]
        force: bool,
    },
    /// Forget a resource without deleting it in AWS.
    Rm {
        address: String,
        #[arg(long, default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Every AWS operation the stack's runs made: intent, outcome, cloud id, error.
    Journal {
        #[arg(default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        #[arg(long)]
        json: bool,
    },
    /// Move the stack's state to another backend (e.g. from the local file to a team's
    /// DynamoDB table), with nothing lost; then point the stack's `backend:` at it.
    Migrate {
        /// The backend to move to: `dynamodb://TABLE[?region=R]` or `sqlite`.
        #[arg(long)]
        to: String,
        #[arg(default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Remove a lock left by a process that died.
    Unlock {
        #[arg(default_value = ".")]
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        /// Needed: breaking the lock of a live process can corrupt its apply.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}
