//! terrane's Application Auto Scaling: scalable targets and scaling policies.

pub mod policy;
pub mod target;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_provider::{ProviderError, Registry};

/// Registers every resource type of this service. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(target::Target::new(clients.clone())));
    registry.register(Arc::new(policy::Policy::new(clients.clone())));
}

/// The client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_applicationautoscaling::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_applicationautoscaling::Client::from_conf(
            aws_sdk_applicationautoscaling::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// The parts of a scalable target's id, `<service_namespace>/<resource_id>/<scalable_dimension>`,
/// followed (for a policy) by `/<policy_name>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TargetKey {
    pub namespace: String,
    pub resource_id: String,
    pub dimension: String,
}

impl TargetKey {
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.resource_id, self.dimension)
    }
}

/// Splits `<namespace>/<resource_id>/<dimension>[/<rest>]`. The resource id may itself hold
/// `/` (`service/<cluster>/<service>`); the dimension is the first later part that starts
/// with `<namespace>:` (every scalable dimension does, e.g. `ecs:service:DesiredCount`).
/// Returns the key and the rest (a policy's name; empty for a target).
pub fn split_id(id: &str) -> Result<(TargetKey, String), ProviderError> {
    let invalid = || {
        ProviderError::Invalid(format!(
            "`{id}` is not `<service_namespace>/<resource_id>/<scalable_dimension>[/<policy_name>]`"
        ))
    };
    let parts: Vec<&str> = id.split('/').collect();
    let namespace = *parts.first().ok_or_else(invalid)?;
    let prefix = format!("{namespace}:");
    let at = parts
        .iter()
        .enumerate()
        .skip(2)
        .find(|(_, p)| p.starts_with(&prefix))
        .map(|(i, _)| i)
        .ok_or_else(invalid)?;
    Ok((
        TargetKey {
            namespace: namespace.to_string(),
            resource_id: parts[1..at].join("/"),
            dimension: parts[at].to_string(),
        },
        parts[at + 1..].join("/"),
    ))
}

/// Groups ids by service namespace, skipping ids that cannot be parsed (they name nothing).
pub(crate) fn by_namespace(ids: &[String]) -> BTreeMap<String, Vec<(String, TargetKey, String)>> {
    let mut out: BTreeMap<String, Vec<(String, TargetKey, String)>> = BTreeMap::new();
    for id in terrane_aws_core::inputs::wanted(ids) {
        if let Ok((key, rest)) = split_id(id) {
            out.entry(key.namespace.clone())
                .or_default()
                .push((id.to_string(), key, rest));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_at_the_dimension() {
        let (k, rest) = split_id("ecs/service/app/api/ecs:service:DesiredCount").unwrap();
        assert_eq!(k.namespace, "ecs");
        assert_eq!(k.resource_id, "service/app/api");
        assert_eq!(k.dimension, "ecs:service:DesiredCount");
        assert_eq!(rest, "");
        let (k, rest) =
            split_id("dynamodb/table/orders/dynamodb:table:ReadCapacityUnits/cpu-70").unwrap();
        assert_eq!(k.resource_id, "table/orders");
        assert_eq!(rest, "cpu-70");
        assert!(split_id("ecs/service/app/api").is_err());
    }
}
