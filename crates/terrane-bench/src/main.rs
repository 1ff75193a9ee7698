//! terrane's benchmarks (the speed issue, #7), each writing its own section of
//! docs/benchmarks.md (between `<!-- name:start -->` and `<!-- name:end -->`), and `all`
//! running every one of them in one go (scripts/bench.sh):
//! - `offline` (here): how long terrane's engine takes, and how much memory, to validate and
//!   plan stacks of 1,000 to 100,000 resources against a recorded state, with no network.
//!   Each size runs in its own process so its peak memory is its own. The schemas are the
//!   benchmark's own (three network-like types): the engine decides from schemas only, so
//!   this measures the engine, not any AWS crate.
//! - `calls` ([`calls`]): API calls per resource of plan and drift, 1,000 resources, three
//!   regions, against the local endpoint (moto).
//! - `latency` ([`latency`]): apply wall time against the critical-path lower bound, behind
//!   the fault proxy's fixed latency.
//! - `startup` ([`startup`]): `terrane --version` and `terrane validate` of the reference
//!   stacks.
//!
//! The last three drive the real release `terrane` binary, as a user would.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use terrane_core::{Address, AttrSchema, ResourceSchema, SchemaSource, SecretHasher, ValueType};
use terrane_plan::{Observed, RecordedResource};
use terrane_stack::{LoadOptions, StackGraph, load_stack};

mod calls;
mod latency;
mod live;
mod startup;

struct Schemas(HashMap<&'static str, ResourceSchema>);

impl SchemaSource for Schemas {
    fn schema(&self, t: &str) -> Option<&ResourceSchema> {
        self.0.get(t)
    }
    fn type_names(&self) -> Vec<&'static str> {
        self.0.keys().copied().collect()
    }
}

fn schemas() -> Schemas {
    let s = |name, attrs| ResourceSchema {
        type_name: name,
        description: "",
        attributes: attrs,
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "",
    };
    Schemas(HashMap::from([
        (
            "bench.vpc",
            s(
                "bench.vpc",
                vec![
                    AttrSchema::required("cidr_block", ValueType::String).forces_replacement(),
                    AttrSchema::optional("tags", ValueType::Map),
                    AttrSchema::computed("id", ValueType::String),
                ],
            ),
        ),
        (
            "bench.subnet",
            s(
                "bench.subnet",
                vec![
                    AttrSchema::required("vpc_id", ValueType::String).forces_replacement(),
                    AttrSchema::required("cidr_block", ValueType::String).forces_replacement(),
                    AttrSchema::optional("tags", ValueType::Map),
                    AttrSchema::computed("id", ValueType::String),
                ],
            ),
        ),
        (
            "bench.security_group",
            s(
                "bench.security_group",
                vec![
                    AttrSchema::required("name", ValueType::String).forces_replacement(),
                    AttrSchema::required("vpc_id", ValueType::String).forces_replacement(),
                    AttrSchema::optional("ingress", ValueType::List).unordered(),
                    AttrSchema::optional("tags", ValueType::Map),
                    AttrSchema::computed("id", ValueType::String),
                ],
            ),
        ),
    ]))
}

/// A stack of `n` resources: one VPC per 100, the rest subnets and security groups that
/// reference their VPC, written out one block each (as large generated stacks are).
fn write_stack(dir: &Path, n: usize) {
    let mut y = String::with_capacity(n * 160);
    y.push_str("stack: bench\nregion: us-east-1\ndefault_tags: {team: platform}\nresources:\n");
    let mut i = 0;
    let mut vpc = 0;
    while i < n {
        let _ = write!(
            y,
            "  vpc{vpc}:\n    type: bench.vpc\n    properties:\n      cidr_block: 10.{}.0.0/16\n",
            vpc % 250
        );
        i += 1;
        for k in 0..99 {
            if i >= n {
                break;
            }
            if k % 2 == 0 {
                let _ = write!(
                    y,
                    "  subnet{vpc}_{k}:\n    type: bench.subnet\n    properties:\n      vpc_id: ${{vpc{vpc}.id}}\n      cidr_block: 10.{}.{}.0/24\n      tags: {{Name: s{vpc}-{k}}}\n",
                    vpc % 250,
                    k
                );
            } else {
                let _ = write!(
                    y,
                    "  sg{vpc}_{k}:\n    type: bench.security_group\n    properties:\n      name: sg-{vpc}-{k}\n      vpc_id: ${{vpc{vpc}.id}}\n      ingress:\n        - {{protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [10.0.0.0/8]}}\n"
                );
            }
            i += 1;
        }
        vpc += 1;
    }
    std::fs::write(dir.join("stack.yaml"), y).expect("write the generated stack");
}

/// Peak resident memory of this process so far, in MiB (Linux).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// One size, in this process: prints a JSON line of timings and peak memory.
fn offline_one(n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    write_stack(dir.path(), n);
    let schemas = schemas();
    let no_env = |_: &str| None;
    let opts = LoadOptions {
        env: None,
        vars: vec![],
        env_lookup: &no_env,
    };

    let t0 = Instant::now();
    let stack = load_stack(dir.path(), &opts).expect("the generated stack loads");
    let t_load = t0.elapsed();
    let rss_load = peak_rss_mib();
    let t1 = Instant::now();
    let graph = StackGraph::build(&stack).expect("the generated graph builds");
    let t_graph = t1.elapsed();
    let rss_graph = peak_rss_mib();

    // A recorded state equal to the stack, as after an apply: the plan must find no change.
    let hasher = SecretHasher::new("bench");
    let mut lookup = terrane_plan::PlannedLookup::new();
    let mut recorded = Vec::with_capacity(n);
    let mut referenced = vec![false; n];
    for &i in &graph.order {
        for d in graph.dependencies(i) {
            referenced[d] = true;
        }
    }
    for &i in &graph.order {
        let inst = &stack.instances[i];
        let schema = schemas.schema(&inst.type_name).expect("a bench type");
        let inputs =
            terrane_plan::desired_inputs(&stack, inst, schema, &lookup).expect("valid inputs");
        let id = format!("id-{i}");
        if referenced[i] {
            let mut values = inputs.clone();
            values.insert("id".into(), terrane_core::Value::string(id.clone()));
            lookup.insert(inst.address.clone(), schema, values, false);
        }
        recorded.push(RecordedResource {
            address: inst.address.clone(),
            type_name: inst.type_name.clone(),
            region: inst.region.clone(),
            cloud_id: id.clone(),
            inputs: inputs
                .iter()
                .map(|(k, v)| (k.clone(), v.to_state_json(&hasher)))
                .collect(),
            attributes: BTreeMap::from([("id".to_string(), serde_json::Value::String(id))]),
            dependencies: Vec::new(),
        });
    }
    drop(lookup);
    let observed: BTreeMap<Address, Observed> = BTreeMap::new();
    let t2 = Instant::now();
    let plan = terrane_plan::plan(terrane_plan::PlanInput {
        stack: &stack,
        graph: &graph,
        recorded: &recorded,
        observed: &observed,
        schemas: &schemas,
        hasher: &hasher,
    })
    .expect("plans");
    let t_plan = t2.elapsed();
    assert_eq!(plan.changes.len(), n);
    assert!(!plan.has_changes(), "an applied stack plans no change");
    let secs = |d: std::time::Duration| d.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "resources": n,
            "load_s": secs(t_load),
            "graph_s": secs(t_graph),
            "plan_s": secs(t_plan),
            "validate_and_plan_s": secs(t_load + t_graph + t_plan),
            "peak_rss_mib": peak_rss_mib(),
            "rss_after_load_mib": rss_load,
            "rss_after_graph_mib": rss_graph,
        })
    );
}

/// Runs each size in a fresh process and returns the markdown section (with markers).
fn offline(sizes: &[usize]) -> String {
    let header = live::measured_on();
    let exe = std::env::current_exe().expect("own path");
    let mut rows = Vec::new();
    for &n in sizes {
        let output = Command::new(&exe)
            .args(["offline-one", &n.to_string()])
            .output()
            .expect("run one size");
        assert!(
            output.status.success(),
            "size {n} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let row: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON line");
        eprintln!("{row}");
        rows.push(row);
    }
    let mut md = String::from(
        "<!-- offline:start (written by `cargo run --release -p terrane-bench -- offline`) -->\n",
    );
    let _ = writeln!(md, "{header}\n");
    md.push_str("| resources | load (parse + expand) | graph | plan | validate + plan | peak memory |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {:.3} s | {:.3} s | {:.3} s | **{:.3} s** | {:.0} MiB |",
            r["resources"],
            r["load_s"].as_f64().unwrap_or(0.0),
            r["graph_s"].as_f64().unwrap_or(0.0),
            r["plan_s"].as_f64().unwrap_or(0.0),
            r["validate_and_plan_s"].as_f64().unwrap_or(0.0),
            r["peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
    }
    let t = |n: u64| {
        rows.iter()
            .find(|r| r["resources"] == n)
            .and_then(|r| r["validate_and_plan_s"].as_f64())
    };
    let m = |n: u64| {
        rows.iter()
            .find(|r| r["resources"] == n)
            .and_then(|r| r["peak_rss_mib"].as_f64())
    };
    if let (Some(a), Some(b), Some(ma), Some(mb)) = (t(10_000), t(100_000), m(10_000), m(100_000)) {
        let _ = writeln!(
            md,
            "\nGrowth from 10,000 to 100,000 resources (10x): time x{:.1}, peak memory x{:.1}. Linear would be x10.",
            b / a,
            mb / ma
        );
        let _ = writeln!(
            md,
            "Goal: 100,000 resources in under 1 s and 1 GiB: {}.",
            if b < 1.0 && mb < 1024.0 {
                "met"
            } else {
                "not met"
            }
        );
    }
    md.push_str("<!-- offline:end -->\n");
    md
}

const USAGE: &str = "usage: terrane-bench <command> [options]
  offline [--sizes 1000,10000,100000]       engine time and memory, no network
  calls [--resources 1000] [--parallelism 32]
                                            API calls per resource of plan and drift
  latency [--latency-ms 100] [--wide 300] [--chains 30] [--depth 10] [--parallelism 300]
                                            apply wall time / critical-path bound
  startup [--runs 15]                       terrane --version and validate
  all                                       every one of them, into docs/benchmarks.md
Every command takes --out PATH (the page whose section it rewrites; `all` defaults to
docs/benchmarks.md, the others print only). Those that run terrane take --terrane PATH
(default: $TERRANE_BIN, else $CARGO_TARGET_DIR/release/terrane, else beside this binary).";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = live::flag(&args, "--out").map(PathBuf::from);
    let emit = |name: &str, md: String, out: Option<&Path>| {
        print!("{md}");
        if let Some(path) = out {
            live::write_section(path, name, &md);
        }
    };
    let sizes = || -> Vec<usize> {
        live::flag(&args, "--sizes")
            .map(|s| s.split(',').map(|x| x.parse().expect("a size")).collect())
            .unwrap_or_else(|| vec![1_000, 10_000, 100_000])
    };
    match args.first().map(String::as_str) {
        Some("offline-one") => offline_one(args[1].parse().expect("a size")),
        Some("offline") => emit("offline", offline(&sizes()), out.as_deref()),
        Some("calls") => emit("calls", calls::run(&args), out.as_deref()),
        Some("latency") => emit("latency", latency::run(&args), out.as_deref()),
        Some("startup") => emit("startup", startup::run(&args), out.as_deref()),
        Some("all") => {
            let out =
                out.unwrap_or_else(|| terrane_testkit::repo_root().join("docs/benchmarks.md"));
            // Fail early, before minutes of measuring, if there is no binary to measure.
            live::terrane_binary(&args);
            // Each section is written as soon as it is measured, all from this one run.
            emit("startup", startup::run(&args), Some(&out));
            emit("offline", offline(&sizes()), Some(&out));
            emit("calls", calls::run(&args), Some(&out));
            emit("latency", latency::run(&args), Some(&out));
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
