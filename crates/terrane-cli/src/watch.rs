//! Scheduled drift detection: `terrane drift --every 30m` or `--cron "0 */6 * * *"`.
//!
//! Runs never overlap (one loop, one run at a time), start with jitter so a fleet of
//! schedulers does not hit AWS at the same second, survive failing runs (counted and
//! reported, then the next run goes ahead), and stop cleanly on SIGTERM or SIGINT: a run
//! under way finishes and is recorded first.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use http_body_util::Full;
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::args::StackArgs;

pub enum Schedule {
    Every(Duration),
    Cron(Box<croner::Cron>),
}

impl Schedule {
    pub fn new(every: Option<Duration>, cron: Option<&str>) -> Result<Schedule> {
        match (every, cron) {
            (Some(d), _) if d.is_zero() => bail!("--every must be longer than zero"),
            (Some(d), _) => Ok(Schedule::Every(d)),
            (None, Some(expr)) => {
                let c: croner::Cron = expr.parse().with_context(|| {
                    format!(
                        "--cron {expr:?} is not a cron expression (minute hour day month weekday)"
                    )
                })?;
                Ok(Schedule::Cron(Box::new(c)))
            }
            (None, None) => bail!("give --every or --cron"),
        }
    }

    /// How long to wait before the next run: the schedule, plus up to a tenth of the period
    /// (at most a minute) of jitter.
    fn wait(&self) -> Duration {
        match self {
            Schedule::Every(d) => *d + jitter((*d / 10).min(Duration::from_secs(60))),
            Schedule::Cron(c) => {
                let now = chrono::Utc::now();
                let next = c
                    .find_next_occurrence(&now, false)
                    .map(|t| (t - now).to_std().unwrap_or_default())
                    .unwrap_or(Duration::from_secs(3600));
                next + jitter(Duration::from_secs(30))
            }
        }
    }
}

/// A random duration below `max`. Random bits from a v4 UUID: no extra dependency, and
/// jitter needs no cryptographic quality.
fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let r = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_millis(r % max.as_millis().max(1) as u64)
}

#[derive(Default)]
struct Metrics {
    runs: u64,
    errors: u64,
    last_run_unix: f64,
    last_duration: f64,
    /// stack -> kind -> drifted resources.
    drifted: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Metrics {
    fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP terrane_drift_resources Resources drifted at the last run, by stack and kind.\n# TYPE terrane_drift_resources gauge\n");
        for (stack, kinds) in &self.drifted {
            for kind in ["modified", "deleted", "unmanaged"] {
                out.push_str(&format!(
                    "terrane_drift_resources{{stack=\"{stack}\",kind=\"{kind}\"}} {}\n",
                    kinds.get(kind).copied().unwrap_or(0)
                ));
            }
        }
        out.push_str(&format!(
            "# HELP terrane_drift_runs_total Drift runs completed.\n# TYPE terrane_drift_runs_total counter\nterrane_drift_runs_total {}\n\
             # HELP terrane_drift_errors_total Drift runs or stacks that failed, and webhook posts that failed.\n# TYPE terrane_drift_errors_total counter\nterrane_drift_errors_total {}\n\
             # HELP terrane_drift_last_run_timestamp_seconds When the last run ended.\n# TYPE terrane_drift_last_run_timestamp_seconds gauge\nterrane_drift_last_run_timestamp_seconds {}\n\
             # HELP terrane_drift_last_run_duration_seconds How long the last run took.\n# TYPE terrane_drift_last_run_duration_seconds gauge\nterrane_drift_last_run_duration_seconds {}\n",
            self.runs, self.errors, self.last_run_unix, self.last_duration
        ));
        out
    }
}

pub async fn watch(
    args: &StackArgs,
    all: Option<&Path>,
    schedule: Schedule,
    webhook: Option<&str>,
    metrics_addr: Option<SocketAddr>,
) -> Result<u8> {
    let metrics = Arc::new(Mutex::new(Metrics::default()));
    if let Some(addr) = metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("serving metrics on {addr}"))?;
        eprintln!(
            "serving Prometheus metrics on http://{}/metrics",
            listener.local_addr()?
        );
        tokio::spawn(serve_metrics(listener, metrics.clone()));
    }
    let stop = Arc::new(Notify::new());
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (stop, stopping) = (stop.clone(), stopping.clone());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            stop.notify_waiters();
            stop.notify_one();
        });
    }
    let root = all.map(Path::to_path_buf);
    while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
        let started = Instant::now();
        let (doc, errors) = match &root {
            Some(dir) => {
                let (doc, _, failed) = crate::drift::run_all(args, dir).await;
                let errors = doc["stacks"]
                    .as_array()
                    .map(|s| s.iter().filter(|x| x.get("error").is_some()).count())
                    .unwrap_or(failed as usize);
                (doc, errors as u64)
            }
            None => match crate::drift::run_once(args, &[]).await {
                Ok(run) => (serde_json::json!({ "stacks": [run.to_json()] }), 0),
                Err(e) => (
                    serde_json::json!({ "stacks": [{ "path": args.stack.display().to_string(), "error": format!("{e:#}") }] }),
                    1,
                ),
            },
        };
        let mut posted_errors = 0;
        if let Some(url) = webhook
            && let Err(e) = post(url, &doc).await
        {
            eprintln!("webhook {url}: {e:#}");
            posted_errors = 1;
        }
        {
            let mut m = metrics.lock().unwrap_or_else(|e| e.into_inner());
            m.runs += 1;
            m.errors += errors + posted_errors;
            m.last_duration = started.elapsed().as_secs_f64();
            m.last_run_unix = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            for s in doc["stacks"].as_array().into_iter().flatten() {
                let Some(name) = s["stack"].as_str() else {
                    continue;
                };
                let kinds = m.drifted.entry(name.to_string()).or_default();
                kinds.clear();
                for f in s["findings"].as_array().into_iter().flatten() {
                    *kinds
                        .entry(f["kind"].as_str().unwrap_or("").to_string())
                        .or_default() += 1;
                }
            }
        }
        summarize(&doc);
        let wait = schedule.wait();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.notified() => {}
        }
    }
    eprintln!("stopped");
    Ok(0)
}

fn summarize(doc: &serde_json::Value) {
    for s in doc["stacks"].as_array().into_iter().flatten() {
        match s.get("error") {
            Some(e) => eprintln!(
                "drift {}: error: {}",
                s["path"].as_str().unwrap_or(""),
                e.as_str().unwrap_or("")
            ),
            None => println!(
                "drift {}: run {}: {} finding(s), {} checked",
                s["stack"].as_str().unwrap_or(""),
                s["run_id"],
                s["findings"].as_array().map(|f| f.len()).unwrap_or(0),
                s["checked"]
            ),
        }
    }
}

async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Arc<Mutex<Metrics>>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await;
            let body = metrics.lock().unwrap_or_else(|e| e.into_inner()).render();
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(response.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

/// POSTs `doc` as JSON to `url` (http or https), failing on a non-2xx answer.
async fn post(url: &str, doc: &serde_json::Value) -> Result<()> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .context("loading the system's root certificates")?
        .https_or_http()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("terrane/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(serde_json::to_vec(doc)?)))?;
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .context("timed out")??;
    if !response.status().is_success() {
        bail!("answered {}", response.status());
    }
    Ok(())
}
