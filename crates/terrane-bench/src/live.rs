//! What the benchmarks that drive the real `terrane` binary share: finding the binary,
//! running it against the local endpoint with its wall time and peak memory, reading its
//! `--api-stats`, talking to moto directly, and writing a section of docs/benchmarks.md.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use terrane_testkit::Moto;

/// The release `terrane` binary: `--terrane PATH`, else `$TERRANE_BIN`, else
/// `$CARGO_TARGET_DIR/release/terrane`, else the one beside this benchmark's own binary.
pub fn terrane_binary(args: &[String]) -> PathBuf {
    let chosen = flag(args, "--terrane")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("TERRANE_BIN").map(PathBuf::from))
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(|d| PathBuf::from(d).join("release").join("terrane"))
        })
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("terrane")))
        })
        .expect("a terrane binary: pass --terrane PATH");
    assert!(
        chosen.exists(),
        "no terrane binary at {}: run `cargo build --release -p terrane-cli` first, or pass --terrane PATH",
        chosen.display()
    );
    chosen
}

/// The value after `name` in `args`.
pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// A number after `name`, or `default`.
pub fn flag_num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    flag(args, name)
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not {v:?}"))
        })
        .unwrap_or(default)
}

/// One finished run of a child process.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
    /// The child's own high-water mark of resident memory (wait4's rusage of that child).
    pub peak_rss_mib: f64,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// The whole output, for a failure message.
    pub fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }

    /// Panics with the whole output unless the run succeeded.
    #[track_caller]
    pub fn expect_ok(self, what: &str) -> Run {
        assert!(self.ok(), "{what} failed: {}", self.text());
        self
    }
}

/// Runs `cmd` to its end, timing it from spawn to exit and reading its own peak memory.
/// Output goes to anonymous files (no pipe to drain while it runs). The child is reaped by
/// wait4 in [`wait_with_rusage`], not by std's `wait`, which cannot report its rusage.
#[allow(clippy::zombie_processes)]
pub fn run_measured(cmd: &mut Command) -> Run {
    let mut out = tempfile::tempfile().expect("a temp file");
    let mut err = tempfile::tempfile().expect("a temp file");
    cmd.stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"));
    let started = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let (status, max_rss_kib) = wait_with_rusage(child.id());
    let wall = started.elapsed();
    let read = |f: &mut std::fs::File| {
        let mut s = String::new();
        f.rewind().expect("rewind");
        f.read_to_string(&mut s).expect("read output");
        s
    };
    Run {
        status,
        stdout: read(&mut out),
        stderr: read(&mut err),
        wall,
        peak_rss_mib: max_rss_kib as f64 / 1024.0,
    }
}

/// Waits for the child `pid` and returns its exit status and its own peak resident memory
/// in KiB (`ru_maxrss` of wait4, which covers that child alone, unlike RUSAGE_CHILDREN,
/// which is the largest of every child waited for so far).
#[allow(unsafe_code)]
fn wait_with_rusage(pid: u32) -> (ExitStatus, i64) {
    use std::os::unix::process::ExitStatusExt;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills in; zeroed is a valid value of it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals; pid is our own unwaited child (std's
        // Child is never waited on, so the pid cannot have been reaped and reused).
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r == pid as libc::pid_t {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::Interrupted,
            "wait4({pid}): {e}"
        );
    }
    (ExitStatus::from_raw(status), usage.ru_maxrss)
}

/// A `terrane` command with the local endpoint's environment (as the integration tests
/// set it: dummy credentials, no profile, no colour), reaching `endpoint` (moto, or a
/// proxy in front of it).
pub fn terrane_cmd(bin: &Path, moto: &Moto, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("TERRANE_STATE")
        .env_remove("AWS_RETRY_MODE")
        .env_remove("AWS_MAX_ATTEMPTS");
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint);
    cmd
}

/// `--api-stats` lines (`  EC2 DescribeVpcs us-east-1: 1`) as (operation, region) -> calls.
pub fn api_calls(stderr: &str) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    let mut seen_header = false;
    for l in stderr.lines() {
        if l.starts_with("API calls: ") {
            seen_header = true;
            continue;
        }
        if !seen_header || !l.starts_with("  ") {
            continue;
        }
        let Some((key, n)) = l.trim().rsplit_once(": ") else {
            continue;
        };
        let mut words = key.split_whitespace();
        let (_service, op, region) = (words.next(), words.next(), words.next());
        let (Some(op), Some(region)) = (op, region) else {
            continue;
        };
        *out.entry((op.to_string(), region.to_string())).or_default() +=
            n.parse::<u64>().unwrap_or(0);
    }
    out
}

/// The rate limiter's summary line of `--api-stats` (`rate limits: 21 attempts, 0 waited
/// (0.0 s in all), 0 throttled by AWS`), if the binary prints one.
pub fn rate_limit_line(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find(|l| l.starts_with("rate limits:"))
        .map(|l| l.trim().to_string())
}

/// Calls by operation, summed over regions.
pub fn by_operation(calls: &BTreeMap<(String, String), u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for ((op, _), n) in calls {
        *out.entry(op.clone()).or_default() += n;
    }
    out
}

pub fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "median of nothing");
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// "Measured 2026-01-01 12:00 UTC on 2 cores (AMD EPYC), 23 GiB, load 0.4 at start."
pub fn measured_on() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!(
        "Measured {} on {cores} cores ({model}), {mem_gib:.0} GiB, 1-minute load {load} at the start.",
        utc_now()
    )
}

/// The current time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Replaces the section `name` of the page at `path` (from `<!-- name:start` to
/// `<!-- name:end -->` and its line end) with `md`, or appends `md` when the page has no
/// such section. `md` carries its own markers.
pub fn write_section(path: &Path, name: &str, md: &str) {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let start = format!("<!-- {name}:start");
    let end = format!("<!-- {name}:end -->");
    let new = match (old.find(&start), old.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            let mut after = b + end.len();
            if old[after..].starts_with('\n') {
                after += 1;
            }
            format!("{}{}{}", &old[..a], md, &old[after..])
        }
        _ => format!("{old}\n{md}"),
    };
    std::fs::write(path, new).expect("write the benchmark page");
    eprintln!("wrote the {name} section of {}", path.display());
}

/// One EC2 query API call straight to moto (no proxy, no SDK): `params` after
/// `Action=...&Version=...`, signed for nothing (moto does not check signatures; the
/// region comes from the credential scope). Returns the answer's body.
pub fn ec2_call(port: u16, region: &str, action: &str, params: &str) -> String {
    let body = format!("Action={action}&Version=2016-11-15{params}");
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    s.write_all(raw.as_bytes()).expect("send to moto");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read moto's answer");
    assert!(
        out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200"),
        "{action} answered: {out}"
    );
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// The text of every `<tag>...</tag>` in `xml`, in order.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(rest[..j].to_string());
        rest = &rest[j + close.len()..];
    }
    out
}

/// The id of the default VPC of `region` in a fresh moto (each region has exactly one).
pub fn default_vpc(moto: &Moto, region: &str) -> String {
    let body = ec2_call(
        moto.port,
        region,
        "DescribeVpcs",
        "&Filter.1.Name=is-default&Filter.1.Value.1=true",
    );
    xml_values(&body, "vpcId")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no default VPC in {region}: {body}"))
}

/// Seconds with three decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
