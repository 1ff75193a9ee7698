use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// One SDK client per service and region, built lazily from one shared configuration.
pub struct AwsClients {
    config: SdkConfig,
    ec2: Mutex<HashMap<String, aws_sdk_ec2::Client>>,
}

impl AwsClients {
    /// Loads configuration from the standard AWS chain, with the SDK's adaptive retry mode.
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::adaptive().with_max_attempts(8))
            .load()
            .await;
        Self::with_config(config)
    }

    pub fn with_config(config: SdkConfig) -> Self {
        AwsClients {
            config,
            ec2: Mutex::new(HashMap::new()),
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

    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let mut map = self.ec2.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(region.to_string())
            .or_insert_with(|| {
                let conf = aws_sdk_ec2::config::Builder::from(&self.config)
                    .region(Region::new(region.to_string()))
                    .build();
                aws_sdk_ec2::Client::from_conf(conf)
            })
            .clone()
    }
}
