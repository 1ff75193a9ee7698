use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::join_all;
use terrane_core::Address;
use terrane_plan::{Observed, RecordedResource};
use terrane_provider::{ObserveRequest, Registry};

/// How much a refresh cost: one observe call per resource type and region.
#[derive(Debug, Default)]
pub struct RefreshStats {
    pub observe_calls: AtomicUsize,
}

/// Reads the live state of every recorded resource: one batched observe per
/// (type, region), all of them concurrently.
pub async fn refresh(
    registry: &Registry,
    recorded: &[RecordedResource],
    stats: &RefreshStats,
) -> BTreeMap<Address, Observed> {
    let mut groups: HashMap<(&str, &str), Vec<&RecordedResource>> = HashMap::new();
    for r in recorded {
        groups
            .entry((r.type_name.as_str(), r.region.as_str()))
            .or_default()
            .push(r);
    }
    let calls = groups
        .into_iter()
        .map(|((type_name, region), members)| async move {
            let Some(provider) = registry.get(type_name) else {
                let why = format!("resource type {type_name} is not known to this terrane");
                return members
                    .into_iter()
                    .map(|r| (r.address.clone(), Observed::Unreadable(why.clone())))
                    .collect::<Vec<_>>();
            };
            let ids: Vec<String> = members.iter().map(|r| r.cloud_id.clone()).collect();
            stats.observe_calls.fetch_add(1, Ordering::Relaxed);
            match provider.observe(ObserveRequest { region, ids: &ids }).await {
                Ok(mut resp) => members
                    .into_iter()
                    .map(|r| {
                        let obs = match resp.found.remove(&r.cloud_id) {
                            Some(attrs) => Observed::Present(attrs),
                            None => Observed::Absent,
                        };
                        (r.address.clone(), obs)
                    })
                    .collect(),
                Err(e) => {
                    tracing::warn!(type_name, region, error = %e, "refresh failed");
                    let why = format!("{type_name} in {region}: {e}");
                    members
                        .into_iter()
                        .map(|r| (r.address.clone(), Observed::Unreadable(why.clone())))
                        .collect()
                }
            }
        });
    join_all(calls).await.into_iter().flatten().collect()
}
