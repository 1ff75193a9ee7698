//! Drift detection: what changed behind terrane's back since the last apply.
//!
//! One read per resource type and region: for taggable types, the ownership-tag lookup
//! both observes every managed resource and finds unmanaged ones carrying the stack's tags;
//! only ids it did not return are read again by id (to tell deleted from untagged).
//! Nothing here writes state; the caller records the report.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use serde::Serialize;
use terrane_core::{Address, OWNERSHIP_TAG_ADDRESS, Value};
use terrane_plan::RecordedResource;
use terrane_plan::drift::{AttrDrift, attribute_drift};
use terrane_provider::{FindRequest, ObserveRequest, Registry};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Attributes differ from what was last applied.
    Modified,
    /// Deleted outside terrane.
    Deleted,
    /// Carries the stack's ownership tags, but state does not know it.
    Unmanaged,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// For unmanaged resources, the address their tags claim (may be empty).
    pub address: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub region: String,
    pub cloud_id: String,
    pub kind: DriftKind,
    /// For `modified`: attribute by attribute, recorded -> live (sensitive values masked).
    pub changes: Vec<AttrDrift>,
}

/// Something that could not be checked: silence never means in sync.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NotChecked {
    pub address: Option<String>,
    #[serde(rename = "type")]
    pub type_name: String,
    pub region: String,
    pub cloud_id: Option<String>,
    /// An attribute, or `*` for the whole resource, or `unmanaged` for the tag search.
    pub what: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DriftReport {
    pub stack: String,
    /// Resources in state that were read.
    pub checked: usize,
    pub findings: Vec<Finding>,
    pub not_checked: Vec<NotChecked>,
}

impl DriftReport {
    pub fn has_drift(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// Reads everything state records (and searches the stack's tags in every `extra` type
/// and region the stack declares) and reports how it differs from the last apply.
/// `ignored(address, attribute)` says what the stack leaves alone (ignore_changes, owned_elsewhere).
pub async fn detect(
    stack: &str,
    recorded: &[RecordedResource],
    extra: &[(String, String)],
    registry: &Registry,
    ignored: &(dyn Fn(&Address, &str) -> bool + Sync),
) -> DriftReport {
    let mut groups: BTreeMap<(String, String), Vec<&RecordedResource>> = BTreeMap::new();
    for r in recorded {
        groups
            .entry((r.type_name.clone(), r.region.clone()))
            .or_default()
            .push(r);
    }
    for key in extra {
        groups.entry(key.clone()).or_default();
    }
    let parts = join_all(
        groups
            .into_iter()
            .map(|((type_name, region), members)| async move {
                check_group(stack, &type_name, &region, &members, registry, ignored).await
            }),
    )
    .await;
    let mut report = DriftReport {
        stack: stack.to_string(),
        ..Default::default()
    };
    // A global service (IAM) answers the same resources in every region: what state
    // records in one region is not unmanaged when another region's search finds it.
    let recorded_ids: BTreeSet<(&str, &str)> = recorded
        .iter()
        .map(|r| (r.type_name.as_str(), r.cloud_id.as_str()))
        .collect();
    // And the same unmanaged resource of a global service is reported once, not once per region.
    let mut unmanaged_seen: BTreeSet<(String, String)> = BTreeSet::new();
    for (checked, findings, not_checked) in parts {
        report.checked += checked;
        report.findings.extend(findings.into_iter().filter(|f| {
            f.kind != DriftKind::Unmanaged
                || (!recorded_ids.contains(&(f.type_name.as_str(), f.cloud_id.as_str()))
                    && unmanaged_seen.insert((f.type_name.clone(), f.cloud_id.clone())))
        }));
        report.not_checked.extend(not_checked);
    }
    report
        .findings
        .sort_by(|a, b| (&a.address, &a.cloud_id).cmp(&(&b.address, &b.cloud_id)));
    report
}

async fn check_group(
    stack: &str,
    type_name: &str,
    region: &str,
    members: &[&RecordedResource],
    registry: &Registry,
    ignored: &(dyn Fn(&Address, &str) -> bool + Sync),
) -> (usize, Vec<Finding>, Vec<NotChecked>) {
    let mut findings = Vec::new();
    let mut not_checked = Vec::new();
    let whole = |r: &RecordedResource, reason: String| NotChecked {
        address: Some(r.address.to_string()),
        type_name: type_name.into(),
        region: region.into(),
        cloud_id: Some(r.cloud_id.clone()),
        what: "*".into(),
        reason,
    };
    let Some(provider) = registry.get(type_name) else {
        let reason = format!("resource type {type_name} is not known to this terrane");
        return (
            0,
            findings,
            members.iter().map(|r| whole(r, reason.clone())).collect(),
        );
    };
    let schema = provider.schema();
    let known: BTreeSet<&str> = members.iter().map(|r| r.cloud_id.as_str()).collect();
    let mut live: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    if schema.taggable {
        match provider
            .find_by_ownership(FindRequest {
                region,
                stack,
                address: None,
            })
            .await
        {
            Ok(owned) => {
                for (id, attrs) in owned {
                    if known.contains(id.as_str()) {
                        live.insert(id, attrs);
                    } else {
                        let claimed = attrs
                            .get("tags")
                            .and_then(Value::as_map)
                            .and_then(|t| t.get(OWNERSHIP_TAG_ADDRESS))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        findings.push(Finding {
                            address: claimed,
                            type_name: type_name.into(),
                            region: region.into(),
                            cloud_id: id,
                            kind: DriftKind::Unmanaged,
                            changes: Vec::new(),
                        });
                    }
                }
            }
            Err(e) => not_checked.push(NotChecked {
                address: None,
                type_name: type_name.into(),
                region: region.into(),
                cloud_id: None,
                what: "unmanaged".into(),
                reason: format!("the search by ownership tags failed: {e}"),
            }),
        }
    } else if !members.is_empty() {
        not_checked.push(NotChecked {
            address: None,
            type_name: type_name.into(),
            region: region.into(),
            cloud_id: None,
            what: "unmanaged".into(),
            reason: format!(
                "{type_name} takes no tags, so resources made outside terrane cannot be told apart"
            ),
        });
    }
    // Whatever the tag search did not return is read by id: deleted, or its tags removed.
    let missing: Vec<String> = members
        .iter()
        .filter(|r| !live.contains_key(&r.cloud_id))
        .map(|r| r.cloud_id.clone())
        .collect();
    let mut unreadable = None;
    if !missing.is_empty() {
        match provider
            .observe(ObserveRequest {
                region,
                ids: &missing,
            })
            .await
        {
            Ok(resp) => live.extend(resp.found),
            Err(e) => unreadable = Some(format!("{type_name} in {region} could not be read: {e}")),
        }
    }
    let mut checked = 0;
    for r in members {
        match (live.get(&r.cloud_id), &unreadable) {
            (Some(attrs), _) => {
                checked += 1;
                let (changes, unchecked) =
                    attribute_drift(schema, &r.inputs, attrs, &|a| ignored(&r.address, a));
                for u in unchecked {
                    not_checked.push(NotChecked {
                        address: Some(r.address.to_string()),
                        type_name: type_name.into(),
                        region: region.into(),
                        cloud_id: Some(r.cloud_id.clone()),
                        what: u.attribute,
                        reason: u.reason,
                    });
                }
                if !changes.is_empty() {
                    findings.push(Finding {
                        address: r.address.to_string(),
                        type_name: type_name.into(),
                        region: region.into(),
                        cloud_id: r.cloud_id.clone(),
                        kind: DriftKind::Modified,
                        changes,
                    });
                }
            }
            (None, Some(reason)) => not_checked.push(whole(r, reason.clone())),
            (None, None) => {
                checked += 1;
                findings.push(Finding {
                    address: r.address.to_string(),
                    type_name: type_name.into(),
                    region: region.into(),
                    cloud_id: r.cloud_id.clone(),
                    kind: DriftKind::Deleted,
                    changes: Vec::new(),
                });
            }
        }
    }
    (checked, findings, not_checked)
}
