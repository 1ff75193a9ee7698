//! Client-side rate limiting of AWS API calls: token buckets per region, service and API
//! (or API category), seeded from AWS's published request quotas, that halve their refill
//! rate when AWS throttles anyway and recover gradually (AIMD).
//!
//! This module is the pure logic (no I/O, no sleeping): [`RateLimiter::reserve`] takes a
//! token and says how long the caller must wait before sending. [`crate::clients`]
//! installs it on every SDK client, waits, and reports throttling answers back through
//! [`RateLimiter::throttled`]. Time comes from a [`Clock`], so tests drive it by hand.
//!
//! "Account": a process uses one set of credentials, so one [`RateLimiter`] (one per
//! [`crate::AwsClients`]) stands for one account; buckets are therefore keyed by region,
//! service and API or category only.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket's size and refill rate, as AWS publishes them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quota {
    /// Tokens the bucket holds when full: calls that may be made at once.
    pub burst: f64,
    /// Tokens added back per second.
    pub per_second: f64,
}

impl Quota {
    pub const fn new(burst: f64, per_second: f64) -> Quota {
        Quota { burst, per_second }
    }
}

/// Whether a call reads or changes something. AWS's quotas are usually looser for reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Read,
    Mutating,
}

impl Category {
    /// Classifies an operation by its name: `Describe*`, `Get*`, `List*`, `Head*`,
    /// `Search*`, `Lookup*`, `BatchGet*`, `Query`/`Scan` read; everything else mutates.
    pub fn of(operation: &str) -> Category {
        const READ: &[&str] = &[
            "Describe", "Get", "List", "Head", "Search", "Lookup", "BatchGet", "Query", "Scan",
        ];
        let reads = READ.iter().any(|p| {
            operation.strip_prefix(p).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase())
            })
        });
        if reads {
            Category::Read
        } else {
            Category::Mutating
        }
    }

    fn name(self) -> &'static str {
        match self {
            Category::Read => "read",
            Category::Mutating => "mutating",
        }
    }
}

/// How a service's calls share buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Each API has its own bucket, seeded by its category (EC2 works this way).
    PerOperation,
    /// All reads of the service share one bucket, all mutating calls another.
    PerCategory,
    /// One bucket for every call of the service (Route 53's single account-wide quota).
    Service,
}

/// The quotas of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceQuotas {
    pub read: Quota,
    pub mutating: Quota,
    pub scope: Scope,
    /// The service's endpoint is global (Route 53, IAM, CloudFront): its quota is per
    /// account, whatever region a client is configured with.
    pub global: bool,
    /// Operations with their own published bucket, by operation name.
    pub operations: BTreeMap<String, Quota>,
}

impl ServiceQuotas {
    pub fn new(read: Quota, mutating: Quota, scope: Scope) -> ServiceQuotas {
        ServiceQuotas {
            read,
            mutating,
            scope,
            global: false,
            operations: BTreeMap::new(),
        }
    }

    pub fn global(mut self) -> ServiceQuotas {
        self.global = true;
        self
    }

    pub fn operation(mut self, name: &str, quota: Quota) -> ServiceQuotas {
        self.operations.insert(name.to_string(), quota);
        self
    }
}

/// The seeds of every bucket: quotas by service (matched case-insensitively against the
/// SDK's service name, e.g. `EC2`, `Route 53`), and a default for the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaTable {
    services: BTreeMap<String, ServiceQuotas>,
    default: ServiceQuotas,
}

impl QuotaTable {
    /// A table where every service gets `default`.
    pub fn new(default: ServiceQuotas) -> QuotaTable {
        QuotaTable {
            services: BTreeMap::new(),
            default,
        }
    }

    /// Adds or replaces the quotas of `service`.
    pub fn service(mut self, service: &str, quotas: ServiceQuotas) -> QuotaTable {
        self.services.insert(normalize_service(service), quotas);
        self
    }

    /// AWS's published request quotas, the seeds terrane uses against AWS.
    ///
    /// Sources (check them when AWS changes its numbers):
    /// - EC2: "Request throttling for the Amazon EC2 API",
    ///   <https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>. Each
    ///   API has its own bucket per account and region; non-mutating actions 100 tokens,
    ///   refill 20/s; mutating actions 50, refill 5/s; API-specific buckets, among them
    ///   `CreateNatGateway` 10, refill 1/s and `CreateVpcEndpoint` 4, refill 0.3/s.
    /// - Route 53: "Quotas on Route 53 API requests",
    ///   <https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html#limits-api-requests>:
    ///   five requests per second per account, for all APIs together (global service).
    /// - Every other service: no single published quota (most publish per-API figures in
    ///   Service Quotas, often adjustable). The default is EC2's category figures (100/20
    ///   for reads, 50/5 for mutating calls), applied per category of the service rather
    ///   than per API, which is the conservative choice; throttling answers then adapt it.
    pub fn aws() -> QuotaTable {
        let read = Quota::new(100.0, 20.0);
        let mutating = Quota::new(50.0, 5.0);
        QuotaTable::new(ServiceQuotas::new(read, mutating, Scope::PerCategory))
            .service(
                "EC2",
                ServiceQuotas::new(read, mutating, Scope::PerOperation)
                    .operation("CreateNatGateway", Quota::new(10.0, 1.0))
                    .operation("CreateVpcEndpoint", Quota::new(4.0, 0.3)),
            )
            .service(
                "Route 53",
                ServiceQuotas::new(Quota::new(5.0, 5.0), Quota::new(5.0, 5.0), Scope::Service)
                    .global(),
            )
    }

    /// Replaces seeds with an account's own quotas (AWS raises many on request), from
    /// `SERVICE[:WHICH]=BURST/PER_SECOND`: WHICH is `read`, `mutating`, an API name
    /// (`CreateNatGateway`, its own bucket from then on) or absent for both categories.
    /// A service the table does not name starts from the default's figures and scope.
    /// Example: `ec2:mutating=200/10`, `route53=10/10`.
    pub fn with_override(mut self, spec: &str) -> Result<QuotaTable, String> {
        let bad = |why: &str| {
            format!(
                "--api-quota `{spec}`: {why} (expected SERVICE[:read|:mutating|:ApiName]=BURST/PER_SECOND, e.g. ec2:mutating=200/10)"
            )
        };
        let (target, figures) = spec.split_once('=').ok_or_else(|| bad("no `=`"))?;
        let (service, which) = match target.split_once(':') {
            Some((s, w)) => (s.trim(), Some(w.trim())),
            None => (target.trim(), None),
        };
        let service = normalize_service(service);
        if service.is_empty() {
            return Err(bad("no service"));
        }
        let (burst, per_second) = figures.split_once('/').ok_or_else(|| bad("no `/`"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
        };
        let (Some(burst), Some(per_second)) = (number(burst), number(per_second)) else {
            return Err(bad("burst and rate must be numbers above 0"));
        };
        let quota = Quota::new(burst, per_second);
        let quotas = self
            .services
            .entry(service)
            .or_insert_with(|| self.default.clone());
        match which {
            None | Some("") => {
                quotas.read = quota;
                quotas.mutating = quota;
                quotas.operations.clear();
            }
            Some("read") => quotas.read = quota,
            Some("mutating") => quotas.mutating = quota,
            Some(api) if api.starts_with(|c: char| c.is_ascii_uppercase()) => {
                quotas.operations.insert(api.to_string(), quota);
            }
            Some(_) => {
                return Err(bad(
                    "after `:` comes read, mutating or an API name such as CreateNatGateway",
                ));
            }
        }
        Ok(self)
    }

    /// Which bucket a call takes its token from, and that bucket's seed.
    pub fn bucket_for(&self, region: &str, service: &str, operation: &str) -> (BucketKey, Quota) {
        let name = normalize_service(service);
        let quotas = self.services.get(&name).unwrap_or(&self.default);
        let region = if quotas.global { "*" } else { region };
        let category = Category::of(operation);
        let seed = match category {
            Category::Read => quotas.read,
            Category::Mutating => quotas.mutating,
        };
        let (scope, seed) = match quotas.operations.get(operation) {
            Some(q) => (operation.to_string(), *q),
            None => match quotas.scope {
                Scope::PerOperation => (operation.to_string(), seed),
                Scope::PerCategory => (category.name().to_string(), seed),
                Scope::Service => ("*".to_string(), seed),
            },
        };
        (
            BucketKey {
                region: region.to_string(),
                service: name,
                scope,
            },
            seed,
        )
    }
}

impl Default for QuotaTable {
    fn default() -> Self {
        QuotaTable::aws()
    }
}

fn normalize_service(service: &str) -> String {
    service
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A bucket: region (`*` for global services), service (lower case, letters and digits
/// only) and an operation name, a category (`read`, `mutating`) or `*`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    pub region: String,
    pub service: String,
    pub scope: String,
}

impl fmt::Display for BucketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.region, self.service, self.scope)
    }
}

/// AIMD tuning, in one place.
pub mod aimd {
    /// A throttling answer multiplies the bucket's refill rate by this.
    pub const DECREASE: f64 = 0.5;
    /// The refill rate never goes below this fraction of its seed.
    pub const FLOOR: f64 = 1.0 / 16.0;
    /// Throttling answers closer together than this (seconds) count as one: the calls
    /// already in flight when AWS started throttling should not cut the rate again.
    pub const MIN_CUT_INTERVAL: f64 = 1.0;
    /// After a cut the rate stays put this long (seconds)...
    pub const HOLD: f64 = 5.0;
    /// ...then grows back by this fraction of the seed per second (from half the seed,
    /// 10 s to full rate).
    pub const RECOVERY_PER_SECOND: f64 = 0.05;
}

/// One token bucket with an adaptive refill rate. Times are seconds since the clock's
/// origin. Tokens may go negative: each negative token is a caller already told to wait,
/// so callers are served in order.
#[derive(Clone, Debug)]
pub struct Bucket {
    seed: Quota,
    tokens: f64,
    last: f64,
    /// Time of the last rate cut and the rate right after it.
    cut: Option<(f64, f64)>,
}

impl Bucket {
    /// A full bucket at time `now`.
    pub fn new(seed: Quota, now: f64) -> Bucket {
        Bucket {
            seed,
            tokens: seed.burst,
            last: now,
            cut: None,
        }
    }

    pub fn seed(&self) -> Quota {
        self.seed
    }

    /// The refill rate at `now` (the seed's, unless throttling cut it).
    pub fn rate(&self, now: f64) -> f64 {
        match self.cut {
            None => self.seed.per_second,
            Some((at, rate)) => {
                let growing = (now - at - aimd::HOLD).max(0.0);
                (rate + self.seed.per_second * aimd::RECOVERY_PER_SECOND * growing)
                    .min(self.seed.per_second)
            }
        }
    }

    /// Tokens at `now` (negative: callers waiting).
    pub fn tokens(&mut self, now: f64) -> f64 {
        self.refill(now);
        self.tokens
    }

    fn refill(&mut self, now: f64) {
        if now <= self.last {
            return;
        }
        // The rate is piecewise linear in time; the trapezoid is close enough.
        let added = (now - self.last) * (self.rate(self.last) + self.rate(now)) / 2.0;
        self.tokens = (self.tokens + added).min(self.seed.burst);
        self.last = now;
        if self.cut.is_some() && self.rate(now) >= self.seed.per_second {
            self.cut = None;
        }
    }

    /// Takes a token at `now`; returns how long to wait before using it (zero if one was
    /// there).
    pub fn reserve(&mut self, now: f64) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        let rate = self.rate(now).max(f64::MIN_POSITIVE);
        Duration::from_secs_f64(-self.tokens / rate)
    }

    /// AWS throttled a call from this bucket at `now`: halve the refill rate (down to the
    /// floor) and drop the tokens left, unless a cut happened within
    /// [`aimd::MIN_CUT_INTERVAL`]. Returns whether the rate was cut.
    pub fn throttled(&mut self, now: f64) -> bool {
        self.refill(now);
        if let Some((at, _)) = self.cut
            && now - at < aimd::MIN_CUT_INTERVAL
        {
            return false;
        }
        let floor = self.seed.per_second * aimd::FLOOR;
        let rate = (self.rate(now) * aimd::DECREASE).max(floor);
        self.cut = Some((now, rate));
        self.tokens = self.tokens.min(0.0);
        true
    }
}

/// Where time comes from: seconds since an arbitrary origin.
pub trait Clock: fmt::Debug + Send + Sync {
    fn now(&self) -> f64;
}

/// The monotonic system clock.
#[derive(Debug)]
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// A clock moved by hand, for tests.
#[derive(Debug, Default)]
pub struct ManualClock(Mutex<f64>);

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by.as_secs_f64();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What one bucket has seen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketStats {
    /// Tokens taken: every attempt, retries included.
    pub acquired: u64,
    /// Attempts that had to wait for a token.
    pub waits: u64,
    /// Total time those attempts were told to wait.
    pub waited: Duration,
    /// Throttling answers AWS gave to calls of this bucket.
    pub throttles: u64,
    /// Of those, the ones that cut the refill rate.
    pub rate_cuts: u64,
    /// The seed and the refill rate now (lower than the seed's after throttling).
    pub seed: Option<Quota>,
    pub rate: f64,
}

/// Totals over every bucket, and the buckets themselves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateLimitStats {
    pub acquired: u64,
    pub waits: u64,
    pub waited: Duration,
    pub throttles: u64,
    pub buckets: BTreeMap<BucketKey, BucketStats>,
}

/// One line of totals, then one line per bucket that waited or was throttled, e.g. for
/// `--api-stats`.
impl fmt::Display for RateLimitStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limits: {} attempts, {} waited ({:.1} s in all), {} throttled by AWS",
            self.acquired,
            self.waits,
            self.waited.as_secs_f64(),
            self.throttles
        )?;
        for (key, b) in &self.buckets {
            if b.waits == 0 && b.throttles == 0 {
                continue;
            }
            write!(
                f,
                "\n  {key}: {} attempts, {} waited ({:.1} s), {} throttled, refill {:.2}/s",
                b.acquired,
                b.waits,
                b.waited.as_secs_f64(),
                b.throttles,
                b.rate
            )?;
            if let Some(seed) = b.seed {
                write!(f, " (seed {} burst, {}/s)", seed.burst, seed.per_second)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Entry {
    bucket: Bucket,
    stats: BucketStats,
}

/// The buckets of one account (one [`crate::AwsClients`]), made on first use from a
/// [`QuotaTable`]. Thread-safe; never blocks for longer than a map lookup.
#[derive(Debug)]
pub struct RateLimiter {
    table: QuotaTable,
    clock: Box<dyn Clock>,
    buckets: Mutex<BTreeMap<BucketKey, Entry>>,
}

impl RateLimiter {
    pub fn new(table: QuotaTable) -> RateLimiter {
        RateLimiter::with_clock(table, Box::new(SystemClock::default()))
    }

    pub fn with_clock(table: QuotaTable, clock: Box<dyn Clock>) -> RateLimiter {
        RateLimiter {
            table,
            clock,
            buckets: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn table(&self) -> &QuotaTable {
        &self.table
    }

    fn with_entry<T>(
        &self,
        region: &str,
        service: &str,
        operation: &str,
        f: impl FnOnce(&mut Entry, f64) -> T,
    ) -> T {
        let (key, seed) = self.table.bucket_for(region, service, operation);
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let entry = buckets.entry(key).or_insert_with(|| Entry {
            bucket: Bucket::new(seed, now),
            stats: BucketStats {
                seed: Some(seed),
                ..BucketStats::default()
            },
        });
        f(entry, now)
    }

    /// Takes a token for one attempt of `operation`; returns how long to wait first.
    pub fn reserve(&self, region: &str, service: &str, operation: &str) -> Duration {
        self.with_entry(region, service, operation, |e, now| {
            let wait = e.bucket.reserve(now);
            e.stats.acquired += 1;
            if !wait.is_zero() {
                e.stats.waits += 1;
                e.stats.waited += wait;
            }
            wait
        })
    }

    /// AWS answered an attempt of `operation` with a throttling error.
    pub fn throttled(&self, region: &str, service: &str, operation: &str) {
        self.with_entry(region, service, operation, |e, now| {
            e.stats.throttles += 1;
            if e.bucket.throttled(now) {
                e.stats.rate_cuts += 1;
            }
        })
    }

    /// Counters so far, with each bucket's current refill rate.
    pub fn stats(&self) -> RateLimitStats {
        let now = self.clock.now();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = RateLimitStats::default();
        for (key, e) in buckets.iter() {
            let mut s = e.stats.clone();
            s.rate = e.bucket.rate(now);
            out.acquired += s.acquired;
            out.waits += s.waits;
            out.waited += s.waited;
            out.throttles += s.throttles;
            out.buckets.insert(key.clone(), s);
        }
        out
    }
}

/// Error codes AWS uses for throttling (those the SDK's own retry classifier treats as
/// throttling, minus the ones that mean a resource quota rather than a request rate).
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Whether an HTTP answer is AWS throttling: status 429 or 503, or one of
/// [`THROTTLING_CODES`] as the error code (the `x-amzn-ErrorType` header, or the body's
/// XML `<Code>` or JSON `__type` / `code`).
pub fn is_throttling(status: u16, error_type_header: Option<&str>, body: Option<&[u8]>) -> bool {
    if status == 429 || status == 503 {
        return true;
    }
    if status < 400 {
        return false;
    }
    let code = error_type_header
        .map(str::to_string)
        .or_else(|| body.and_then(error_code));
    code.is_some_and(|c| THROTTLING_CODES.contains(&clean_code(&c)))
}

/// `aws.protocoltests#ThrottlingException:http://...` -> `ThrottlingException`.
fn clean_code(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code).trim()
}

/// The error code in an AWS error body: XML `<Code>..</Code>`, or JSON `"__type"` /
/// `"code"` / `"Code"`.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if let Some(start) = text.find("<Code>") {
        let rest = &text[start + "<Code>".len()..];
        let end = rest.find("</Code>")?;
        return Some(rest[..end].to_string());
    }
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    ["__type", "code", "Code"]
        .iter()
        .find_map(|k| json.get(*k).and_then(|v| v.as_str()).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn categories() {
        assert_eq!(Category::of("DescribeVpcs"), Category::Read);
        assert_eq!(Category::of("GetBucketPolicy"), Category::Read);
        assert_eq!(Category::of("ListTagsForResource"), Category::Read);
        assert_eq!(Category::of("Query"), Category::Read);
        assert_eq!(Category::of("CreateVpc"), Category::Mutating);
        assert_eq!(Category::of("PutBucketPolicy"), Category::Mutating);
        // A prefix must end at a word boundary.
        assert_eq!(Category::of("Getaway"), Category::Mutating);
        assert_eq!(Category::of("ScanProvisionedProducts"), Category::Read);
    }

    #[test]
    fn an_accounts_own_quotas_replace_the_published_seeds() {
        let seed = |t: &QuotaTable, service: &str, op: &str| t.bucket_for("us-east-1", service, op);
        let table = QuotaTable::aws()
            .with_override("ec2:mutating=200/10")
            .and_then(|t| t.with_override("EC2:CreateNatGateway=20/2"))
            .and_then(|t| t.with_override("route53=10/10"))
            .and_then(|t| t.with_override("kms:read=1000/500"))
            .unwrap();
        assert_eq!(seed(&table, "EC2", "CreateVpc").1, Quota::new(200.0, 10.0));
        assert_eq!(
            seed(&table, "EC2", "DescribeVpcs").1,
            Quota::new(100.0, 20.0)
        );
        let (key, quota) = seed(&table, "EC2", "CreateNatGateway");
        assert_eq!(
            (key.scope.as_str(), quota),
            ("CreateNatGateway", Quota::new(20.0, 2.0))
        );
        // The published API bucket that was not overridden stays.
        assert_eq!(
            seed(&table, "EC2", "CreateVpcEndpoint").1,
            Quota::new(4.0, 0.3)
        );
        // Route 53 keeps its one global bucket, with the new figures.
        let (key, quota) = seed(&table, "Route 53", "ChangeResourceRecordSets");
        assert_eq!((key.region.as_str(), key.scope.as_str()), ("*", "*"));
        assert_eq!(quota, Quota::new(10.0, 10.0));
        // A service the table did not name starts from the default (per category).
        let (key, quota) = seed(&table, "KMS", "GetPublicKey");
        assert_eq!(
            (key.scope.as_str(), quota),
            ("read", Quota::new(1000.0, 500.0))
        );
        assert_eq!(seed(&table, "KMS", "CreateKey").1, Quota::new(50.0, 5.0));
        assert_eq!(
            seed(&table, "ECS", "ListClusters").1,
            Quota::new(100.0, 20.0)
        );
    }

    #[test]
    fn a_malformed_quota_override_says_what_is_wrong() {
        for (spec, why) in [
            ("ec2:mutating", "no `=`"),
            ("ec2=200", "no `/`"),
            ("ec2=0/5", "above 0"),
            ("ec2=ten/5", "above 0"),
            ("=1/1", "no service"),
            ("ec2:writes=1/1", "read, mutating or an API name"),
        ] {
            let err = QuotaTable::aws().with_override(spec).unwrap_err();
            assert!(err.contains(spec) && err.contains(why), "{spec}: {err}");
        }
    }

    #[test]
    fn burst_then_refill_rate() {
        let mut b = Bucket::new(Quota::new(3.0, 2.0), 0.0);
        for _ in 0..3 {
            assert_eq!(b.reserve(0.0), Duration::ZERO);
        }
        // Empty: the 4th waits half a second (2 per second), the 5th one second.
        assert!(close(secs(b.reserve(0.0)), 0.5));
        assert!(close(secs(b.reserve(0.0)), 1.0));
        // At t=1 two tokens came back, both already promised.
        assert!(close(b.tokens(1.0), 0.0));
        assert_eq!(b.reserve(1.5), Duration::ZERO);
        // Never more than the burst, however long idle.
        assert!(close(b.tokens(1000.0), 3.0));
    }

    #[test]
    fn throttling_halves_the_rate_then_it_recovers() {
        let seed = Quota::new(10.0, 4.0);
        let mut b = Bucket::new(seed, 0.0);
        assert!(b.throttled(0.0));
        assert!(close(b.rate(0.0), 2.0));
        // The burst is gone: the next call waits at the halved rate.
        assert!(close(b.tokens(0.0), 0.0));
        assert!(close(secs(b.reserve(0.0)), 0.5));
        // Answers to calls already in flight do not cut again within a second...
        assert!(!b.throttled(0.5));
        assert!(close(b.rate(0.5), 2.0));
        // ...later ones do, down to the floor (1/16 of the seed).
        assert!(b.throttled(1.5));
        assert!(close(b.rate(1.5), 1.0));
        for i in 0..10 {
            b.throttled(3.0 + f64::from(i) * 2.0);
        }
        let last = 3.0 + 9.0 * 2.0;
        assert!(close(b.rate(last), 4.0 / 16.0));
        // Held for HOLD seconds, then linear growth of 5% of the seed per second.
        assert!(close(b.rate(last + aimd::HOLD), 0.25));
        assert!(close(b.rate(last + aimd::HOLD + 1.0), 0.25 + 0.2));
        assert!(close(b.rate(last + aimd::HOLD + 100.0), 4.0));
        // Fully recovered: back to the plain bucket.
        b.tokens(last + aimd::HOLD + 100.0);
        assert!(b.cut.is_none());
    }

    #[test]
    fn refill_during_recovery_integrates_the_rate() {
        let mut b = Bucket::new(Quota::new(100.0, 10.0), 0.0);
        b.throttled(0.0); // rate 5, tokens 0
        // During the hold: 5 per second.
        assert!(close(b.tokens(aimd::HOLD), 25.0));
        // Then from 5 to 7 over 4 s (0.5 per second per second): 24 tokens.
        assert!(close(b.tokens(aimd::HOLD + 4.0), 49.0));
    }

    #[test]
    fn aws_table_seeds() {
        let t = QuotaTable::aws();
        let (k, q) = t.bucket_for("us-east-1", "EC2", "DescribeVpcs");
        assert_eq!(k.to_string(), "us-east-1/ec2/DescribeVpcs");
        assert_eq!(q, Quota::new(100.0, 20.0));
        let (k, q) = t.bucket_for("us-east-1", "EC2", "CreateVpc");
        assert_eq!(k.scope, "CreateVpc");
        assert_eq!(q, Quota::new(50.0, 5.0));
        let (_, q) = t.bucket_for("us-east-1", "EC2", "CreateNatGateway");
        assert_eq!(q, Quota::new(10.0, 1.0));
        let (_, q) = t.bucket_for("eu-west-1", "EC2", "CreateVpcEndpoint");
        assert_eq!(q, Quota::new(4.0, 0.3));
        // Route 53: one global bucket for everything.
        let (a, q) = t.bucket_for("us-east-1", "Route 53", "ChangeResourceRecordSets");
        let (b, _) = t.bucket_for("eu-west-1", "Route 53", "ListHostedZones");
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "*/route53/*");
        assert_eq!(q, Quota::new(5.0, 5.0));
        // Others: per category.
        let (a, q) = t.bucket_for("us-east-1", "DynamoDB", "CreateTable");
        let (b, _) = t.bucket_for("us-east-1", "DynamoDB", "DeleteTable");
        let (c, _) = t.bucket_for("us-east-1", "DynamoDB", "DescribeTable");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "us-east-1/dynamodb/mutating");
        assert_eq!(q, Quota::new(50.0, 5.0));
    }

    #[test]
    fn limiter_counts_waits_and_throttles_per_bucket() {
        let clock = Arc::new(ManualClock::default());
        #[derive(Debug)]
        struct Shared(Arc<ManualClock>);
        impl Clock for Shared {
            fn now(&self) -> f64 {
                self.0.now()
            }
        }
        let table = QuotaTable::new(ServiceQuotas::new(
            Quota::new(2.0, 1.0),
            Quota::new(1.0, 1.0),
            Scope::PerOperation,
        ));
        let l = RateLimiter::with_clock(table, Box::new(Shared(clock.clone())));
        let waits: Vec<f64> = (0..4)
            .map(|_| secs(l.reserve("us-east-1", "S3", "ListBuckets")))
            .collect();
        assert_eq!(waits, vec![0.0, 0.0, 1.0, 2.0]);
        // Another region, another bucket.
        assert_eq!(l.reserve("eu-west-1", "S3", "ListBuckets"), Duration::ZERO);
        l.throttled("eu-west-1", "S3", "ListBuckets");
        l.throttled("eu-west-1", "S3", "ListBuckets");
        clock.advance(Duration::from_secs(2));
        let s = l.stats();
        assert_eq!((s.acquired, s.waits, s.throttles), (5, 2, 2));
        assert_eq!(s.waited, Duration::from_secs(3));
        let eu = &s.buckets[&BucketKey {
            region: "eu-west-1".into(),
            service: "s3".into(),
            scope: "ListBuckets".into(),
        }];
        assert_eq!((eu.throttles, eu.rate_cuts), (2, 1));
        assert!(close(eu.rate, 0.5));
        assert_eq!(
            s.to_string(),
            "rate limits: 5 attempts, 2 waited (3.0 s in all), 2 throttled by AWS\n  \
             eu-west-1/s3/ListBuckets: 1 attempts, 0 waited (0.0 s), 2 throttled, refill \
             0.50/s (seed 2 burst, 1/s)\n  us-east-1/s3/ListBuckets: 4 attempts, 2 waited \
             (3.0 s), 0 throttled, refill 1.00/s (seed 2 burst, 1/s)"
        );
    }

    #[test]
    fn throttling_answers() {
        let ec2 = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>";
        assert!(is_throttling(503, None, Some(ec2)));
        assert!(is_throttling(429, None, None));
        let query = b"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>";
        assert!(is_throttling(400, None, Some(query)));
        let json =
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"x"}"#;
        assert!(is_throttling(400, None, Some(json)));
        assert!(is_throttling(
            400,
            Some("TooManyRequestsException:http://internal.amazon.com/"),
            None
        ));
        let quota =
            b"<Response><Errors><Error><Code>VpcLimitExceeded</Code></Error></Errors></Response>";
        assert!(!is_throttling(400, None, Some(quota)));
        assert!(!is_throttling(
            404,
            None,
            Some(b"{\"__type\":\"ResourceNotFoundException\"}")
        ));
        assert!(!is_throttling(200, None, Some(b"Throttling")));
        assert!(!is_throttling(500, None, Some(b"not an error body")));
    }
}
