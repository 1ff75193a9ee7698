use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime::client::retries::{ClientRateLimiter, RetryPartition, TokenBucket};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::identity::{
    IdentityFuture, ResolveCachedIdentity, SharedIdentityCache, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

use crate::ratelimit::{QuotaTable, RateLimitStats, RateLimiter, is_throttling};

type ClientKey = (TypeId, String);

/// Service, operation and region of an API call, e.g. ("EC2", "DescribeVpcs", "us-east-1").
pub type CallKey = (String, String, String);

/// One SDK configuration for every service, and one client per service and region, built
/// lazily. Service crates ask for their client type with [`AwsClients::client`].
///
/// Every client it builds is rate limited (see [`crate::ratelimit`]): each attempt of a call,
/// retries included, first takes a token from its bucket (region, service, API or
/// category), waiting when the bucket is empty; throttling answers halve that bucket's
/// refill rate for a while. All clients share one retry budget (the SDK's retry token
/// bucket), so a storm of failures in one service cannot retry without bound elsewhere.
/// One `AwsClients` uses one set of credentials: it is one account's limits.
pub struct AwsClients {
    config: SdkConfig,
    clients: Mutex<HashMap<ClientKey, Box<dyn Any + Send + Sync>>>,
    calls: ApiCalls,
    limits: Arc<Limits>,
}

/// How clients are limited: the bucket seeds and the size of the shared retry budget.
#[derive(Clone, Debug)]
pub struct RateLimitOptions {
    /// Seeds of the token buckets ([`QuotaTable::aws`] by default).
    pub quotas: QuotaTable,
    /// Capacity of the retry budget shared by every client. A retry costs 5 (a timeout
    /// 10) and is given back when the retried call succeeds; the SDK's default is 500 per
    /// service and region, here it is 500 for all of them together.
    pub retry_budget: usize,
}

impl Default for RateLimitOptions {
    fn default() -> Self {
        RateLimitOptions {
            quotas: QuotaTable::aws(),
            retry_budget: 500,
        }
    }
}

impl AwsClients {
    /// Loads configuration from the standard AWS chain (environment, profiles, SSO,
    /// `AWS_ENDPOINT_URL`), with the SDK's adaptive retry mode and 8 attempts unless the
    /// standard `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS` settings say otherwise; rate limited
    /// by AWS's published quotas ([`QuotaTable::aws`]).
    pub async fn from_env() -> Self {
        Self::from_env_with(QuotaTable::aws()).await
    }

    /// As [`AwsClients::from_env`], with the token buckets seeded from `quotas`.
    pub async fn from_env_with(quotas: QuotaTable) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        let chosen = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !chosen("AWS_RETRY_MODE") && !chosen("AWS_MAX_ATTEMPTS") {
            loader = loader.retry_config(RetryConfig::adaptive().with_max_attempts(8));
        }
        let options = RateLimitOptions {
            quotas,
            ..RateLimitOptions::default()
        };
        Self::with_limits(loader.load().await, options)
    }

    /// Clients from `config`, limited by AWS's published quotas.
    pub fn with_config(config: SdkConfig) -> Self {
        Self::with_limits(config, RateLimitOptions::default())
    }

    /// Clients from `config`, limited as `options` say (tests use small seeds).
    pub fn with_limits(config: SdkConfig, options: RateLimitOptions) -> Self {
        let limits = Arc::new(Limits::new(options));
        // The wait for a token happens where the SDK resolves the caller's identity: the
        // one asynchronous step of every attempt that sees the operation (its config bag)
        // and comes before signing, so a request never waits after it was signed.
        let inner = config
            .identity_cache()
            .unwrap_or_else(|| IdentityCache::lazy().build());
        let config = config
            .into_builder()
            .identity_cache(LimitedIdentityCache {
                inner,
                limits: limits.clone(),
            })
            .build();
        AwsClients {
            config,
            clients: Mutex::new(HashMap::new()),
            calls: ApiCalls {
                counts: Arc::default(),
                limits: Some(limits.clone()),
            },
            limits,
        }
    }

    /// A configuration that reaches nothing, for commands that need schemas only.
    pub fn offline() -> Self {
        Self::with_config(
            SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .build(),
        )
    }

    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    /// The client of type `C` for `region`, made once by `make` from the shared
    /// configuration, the region and the call counter (to install as an interceptor).
    pub fn client<C: Clone + Send + Sync + 'static>(
        &self,
        region: &str,
        make: impl FnOnce(&SdkConfig, Region, ApiCalls) -> C,
    ) -> C {
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let key = (TypeId::of::<C>(), region.to_string());
        if let Some(c) = map.get(&key).and_then(|c| c.downcast_ref::<C>()) {
            return c.clone();
        }
        let c = make(
            &self.config,
            Region::new(region.to_string()),
            self.calls.clone(),
        );
        map.insert(key, Box::new(c.clone()));
        c
    }

    /// Every API call made through these clients so far.
    pub fn calls(&self) -> &ApiCalls {
        &self.calls
    }

    /// What the rate limiter did so far: tokens taken (every attempt), attempts that
    /// waited and for how long, throttling answers seen, per bucket with its current rate.
    pub fn rate_limits(&self) -> RateLimitStats {
        self.limits.limiter.stats()
    }

    /// The rate limiter of these clients.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limits.limiter
    }
}

/// What every client of one [`AwsClients`] shares: the token buckets and the retry budget.
#[derive(Debug)]
struct Limits {
    limiter: RateLimiter,
    retry_budget: TokenBucket,
    /// One retry partition per service and region, all holding `retry_budget`. Each keeps
    /// its own adaptive-mode client rate limiter, as the SDK's default partitions do.
    partitions: Mutex<HashMap<(String, String), RetryPartition>>,
}

impl Limits {
    fn new(options: RateLimitOptions) -> Limits {
        Limits {
            limiter: RateLimiter::new(options.quotas),
            retry_budget: TokenBucket::new(options.retry_budget),
            partitions: Mutex::new(HashMap::new()),
        }
    }

    fn partition(&self, service: &str, region: &str) -> RetryPartition {
        let mut map = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((service.to_string(), region.to_string()))
            .or_insert_with(|| {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                RetryPartition::custom(format!("terrane-{service}-{region}"))
                    .token_bucket(self.retry_budget.clone())
                    .client_rate_limiter(ClientRateLimiter::new(now))
                    .build()
            })
            .clone()
    }
}

/// (service, operation, region) of the operation whose config bag this is.
fn call_key(cfg: &ConfigBag) -> Option<CallKey> {
    let m = cfg.load::<Metadata>()?;
    let region = cfg
        .load::<Region>()
        .map(|r| r.to_string())
        .unwrap_or_default();
    Some((m.service().to_string(), m.name().to_string(), region))
}

/// The SDK's identity cache, preceded by the wait for a rate-limit token. Identity is
/// resolved once per attempt, before signing.
#[derive(Debug)]
struct LimitedIdentityCache {
    inner: SharedIdentityCache,
    limits: Arc<Limits>,
}

impl ResolveCachedIdentity for LimitedIdentityCache {
    fn resolve_cached_identity<'a>(
        &'a self,
        resolver: SharedIdentityResolver,
        runtime_components: &'a RuntimeComponents,
        config_bag: &'a ConfigBag,
    ) -> IdentityFuture<'a> {
        let wait = call_key(config_bag)
            .map(|(service, operation, region)| {
                self.limits.limiter.reserve(&region, &service, &operation)
            })
            .unwrap_or(Duration::ZERO);
        IdentityFuture::new(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            self.inner
                .resolve_cached_identity(resolver, runtime_components, config_bag)
                .await
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner
            .validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }
}

/// Counts API calls by service, operation and region. Installed on every client as an
/// SDK interceptor; a retried call counts once. The one made by [`AwsClients`] also puts
/// each call in the shared retry partition and reports throttling answers to the rate
/// limiter.
#[derive(Clone, Debug, Default)]
pub struct ApiCalls {
    counts: Arc<Mutex<BTreeMap<CallKey, u64>>>,
    limits: Option<Arc<Limits>>,
}

impl ApiCalls {
    /// (service, operation, region) -> calls.
    pub fn snapshot(&self) -> BTreeMap<CallKey, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Intercept for ApiCalls {
    fn name(&self) -> &'static str {
        "terrane::ApiCalls"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = call_key(cfg).unwrap_or_else(|| {
            let region = cfg.load::<Region>().map(|r| r.to_string());
            (String::new(), String::new(), region.unwrap_or_default())
        });
        if let Some(limits) = &self.limits {
            // Read by the SDK's retry strategy after this hook (when the retry loop
            // starts), so every client's retries draw on the one budget.
            let partition = limits.partition(&key.0, &key.2);
            cfg.interceptor_state().store_put(partition);
        }
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += 1;
        terrane_provider::metering::count_call();
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(limits), Some(response)) = (&self.limits, context.response()) else {
            return Ok(());
        };
        let header = response.headers().get("x-amzn-errortype");
        if is_throttling(response.status().as_u16(), header, response.body().bytes())
            && let Some((service, operation, region)) = call_key(cfg)
        {
            limits.limiter.throttled(&region, &service, &operation);
        }
        Ok(())
    }
}
