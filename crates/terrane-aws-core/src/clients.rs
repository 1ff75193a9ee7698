use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

type ClientKey = (TypeId, String);

/// Service, operation and region of an API call, e.g. ("EC2", "DescribeVpcs", "us-east-1").
pub type CallKey = (String, String, String);

/// One SDK configuration for every service, and one client per service and region, built
/// lazily. Service crates ask for their client type with [`AwsClients::client`].
pub struct AwsClients {
    config: SdkConfig,
    clients: Mutex<HashMap<ClientKey, Box<dyn Any + Send + Sync>>>,
    calls: ApiCalls,
}

impl AwsClients {
    /// Loads configuration from the standard AWS chain (environment, profiles, SSO,
    /// `AWS_ENDPOINT_URL`), with the SDK's adaptive retry mode and 8 attempts unless the
    /// standard `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS` settings say otherwise.
    pub async fn from_env() -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        let chosen = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !chosen("AWS_RETRY_MODE") && !chosen("AWS_MAX_ATTEMPTS") {
            loader = loader.retry_config(RetryConfig::adaptive().with_max_attempts(8));
        }
        Self::with_config(loader.load().await)
    }

    pub fn with_config(config: SdkConfig) -> Self {
        AwsClients {
            config,
            clients: Mutex::new(HashMap::new()),
            calls: ApiCalls::default(),
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
}

/// Counts API calls by service, operation and region. Installed on every client as an
/// SDK interceptor; a retried call counts once.
#[derive(Clone, Debug, Default)]
pub struct ApiCalls {
    counts: Arc<Mutex<BTreeMap<CallKey, u64>>>,
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
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_default();
        let region = cfg
            .load::<Region>()
            .map(|r| r.to_string())
            .unwrap_or_default();
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((service, operation, region))
            .or_default() += 1;
        Ok(())
    }
}
