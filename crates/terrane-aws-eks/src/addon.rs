//! `aws.eks.addon`: an EKS add-on (vpc-cni, coredns, kube-proxy, the EBS CSI driver...)
//! installed and kept up to date by AWS in a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::client::Waiters;
use aws_sdk_eks::types::{Addon as EksAddon, ResolveConflicts};
use futures::{StreamExt, TryStreamExt};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, DESCRIBE_CONCURRENCY, NOT_FOUND, api_error, check_update, composite_id,
    describe_each, found_or_none, ids_by_cluster, input_str, list_clusters, owned, pending_update,
    put_str, require_split_id, require_str, split_id, sync_tags, tags_map, tags_to_value,
    wait_error,
};

pub const TYPE_NAME: &str = "aws.eks.addon";

/// How long a new add-on may take to become active.
const CREATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long an update may take.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long a deleted add-on may take to disappear.
const DELETE_TIMEOUT: Duration = Duration::from_secs(40 * 60);

pub struct Addon {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An EKS add-on: operational software (vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver...) that AWS installs and updates in a cluster.",
        attributes: vec![
            AttrSchema::required("cluster_name", String)
                .forces_replacement()
                .describe("The cluster the add-on runs in."),
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The add-on's name, as DescribeAddonVersions lists it, e.g. vpc-cni."),
            AttrSchema::optional("version", String).describe(
                "The add-on version, e.g. v1.18.3-eksbuild.1; AWS's default for the cluster's Kubernetes version when unset.",
            ),
            AttrSchema::optional("service_account_role_arn", String).describe(
                "An IAM role for the add-on's Kubernetes service account (IRSA); the node role is used when unset.",
            ),
            AttrSchema::optional("resolve_conflicts", String).describe(
                "What to do when the add-on's settings conflict with ones changed in the cluster: NONE, OVERWRITE or PRESERVE (on update). Sent with each create and update; AWS does not report it back.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the add-on."),
            AttrSchema::computed("id", String).describe("The add-on's id: `cluster_name/name`."),
            AttrSchema::computed("arn", String).describe("The add-on's ARN."),
            AttrSchema::computed("status", String)
                .describe("CREATING, ACTIVE, UPDATING, DELETING, DEGRADED, CREATE_FAILED..."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "vpc_cni:\n  type: aws.eks.addon\n  properties:\n    cluster_name: ${cluster.name}\n    name: vpc-cni\n    version: v1.18.3-eksbuild.1\n    resolve_conflicts: OVERWRITE\n",
    }
}

/// A described add-on as the schema's attributes. `resolve_conflicts` is a request
/// setting AWS does not report: it is left out (the plan compares with what was applied).
fn addon_attributes(a: &EksAddon) -> Option<(String, Attributes)> {
    let cluster = a.cluster_name()?;
    let name = a.addon_name()?;
    let id = composite_id(cluster, name);
    let mut attrs = Attributes::new();
    attrs.insert("id".into(), Value::string(&id));
    attrs.insert("cluster_name".into(), Value::string(cluster));
    attrs.insert("name".into(), Value::string(name));
    put_str(&mut attrs, "version", a.addon_version());
    attrs.insert(
        "service_account_role_arn".into(),
        a.service_account_role_arn()
            .map(Value::string)
            .unwrap_or(Value::Null),
    );
    put_str(&mut attrs, "arn", a.addon_arn());
    put_str(&mut attrs, "status", a.status().map(|s| s.as_str()));
    attrs.insert("tags".into(), tags_to_value(a.tags.as_ref()));
    Some((id, attrs))
}

fn resolve_conflicts(inputs: &Attributes) -> Option<ResolveConflicts> {
    input_str(inputs, "resolve_conflicts").map(|r| ResolveConflicts::from(r.as_str()))
}

impl Addon {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Addon {
            clients,
            schema: schema(),
        }
    }

    /// The add-ons with these `cluster/name` ids, one DescribeAddon each (EKS has no
    /// batched describe), a few at once. Ids that do not exist are absent.
    async fn describe(
        &self,
        region: &str,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        describe_each(ids, |id| {
            let client = client.clone();
            async move {
                let Some((cluster, name)) = split_id(&id) else {
                    return Ok(None);
                };
                let out = found_or_none(
                    "DescribeAddon",
                    client
                        .describe_addon()
                        .cluster_name(cluster)
                        .addon_name(name)
                        .send()
                        .await,
                )?;
                Ok(out
                    .as_ref()
                    .and_then(|o| o.addon())
                    .and_then(addon_attributes)
                    .map(|(_, attrs)| attrs))
            }
        })
        .await
    }

    /// The existing `cluster/name` ids among `wanted` (by cluster), or every add-on of the
    /// region when `None`: one ListClusters, then one paginated ListAddons per (wanted)
    /// cluster that exists, a few clusters at once.
    async fn existing(
        &self,
        region: &str,
        wanted: Option<BTreeMap<String, BTreeSet<String>>>,
    ) -> Result<Vec<String>, ProviderError> {
        let client = crate::client(&self.clients, region);
        // Only clusters that exist are asked for their list (one ListClusters first).
        let clusters = list_clusters(&client).await?;
        let by_cluster: Vec<(String, Option<BTreeSet<String>>)> = match wanted {
            None => clusters.into_iter().map(|c| (c, None)).collect(),
            Some(mut wanted) => clusters
                .into_iter()
                .filter_map(|c| wanted.remove(&c).map(|names| (c, Some(names))))
                .collect(),
        };
        let per_cluster: Vec<Vec<String>> =
            futures::stream::iter(by_cluster.into_iter().map(|(cluster, wanted)| {
                let client = client.clone();
                async move {
                    let listed: Result<Vec<String>, _> = client
                        .list_addons()
                        .cluster_name(&cluster)
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await;
                    let listed = found_or_none("ListAddons", listed)?.unwrap_or_default();
                    Ok::<_, ProviderError>(
                        listed
                            .into_iter()
                            .filter(|n| wanted.as_ref().is_none_or(|w| w.contains(n)))
                            .map(|n| composite_id(&cluster, &n))
                            .collect(),
                    )
                }
            }))
            .buffer_unordered(DESCRIBE_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(per_cluster.into_iter().flatten().collect())
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, [id.to_string()])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("EKS add-on {id}")))
    }
}

#[async_trait]
impl ResourceType for Addon {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        // EKS has no batched describe: ListClusters, then one paginated ListAddons per
        // cluster holding requested ids, tell which exist; then one DescribeAddon per
        // existing requested id (concurrently).
        let existing = self
            .existing(req.region, Some(ids_by_cluster(req.ids)))
            .await?;
        let found = self.describe(req.region, existing).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let cluster = require_str(inputs, "cluster_name")?;
        let name = require_str(inputs, "name")?;
        let client = crate::client(&self.clients, req.region);
        client
            .create_addon()
            .cluster_name(&cluster)
            .addon_name(&name)
            .set_addon_version(input_str(inputs, "version"))
            .set_service_account_role_arn(input_str(inputs, "service_account_role_arn"))
            .set_resolve_conflicts(resolve_conflicts(inputs))
            .set_tags(tags_map(inputs))
            .client_request_token(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateAddon"))?;
        client
            .wait_until_addon_active()
            .cluster_name(&cluster)
            .addon_name(&name)
            .wait(CREATE_TIMEOUT)
            .await
            .map_err(|e| wait_error("the new EKS add-on to be active", CREATE_TIMEOUT, e))?;
        let id = composite_id(&cluster, &name);
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        let (cluster, name) = require_split_id(req.id, "add-on")?;
        let inputs = req.inputs;

        if changed("version") || changed("service_account_role_arn") || changed("resolve_conflicts")
        {
            let out = client
                .update_addon()
                .cluster_name(cluster)
                .addon_name(name)
                .set_addon_version(input_str(inputs, "version"))
                .set_service_account_role_arn(input_str(inputs, "service_account_role_arn"))
                .set_resolve_conflicts(resolve_conflicts(inputs))
                .send()
                .await
                .map_err(api_error("UpdateAddon"))?;
            check_update("UpdateAddon", out.update())?;
            client
                .wait_until_addon_active()
                .cluster_name(cluster)
                .addon_name(name)
                .wait(UPDATE_TIMEOUT)
                .await
                .map_err(|e| wait_error("the EKS add-on to be active", UPDATE_TIMEOUT, e))?;
            if let Some(id) = pending_update(out.update()) {
                let done = client
                    .describe_update()
                    .name(cluster)
                    .addon_name(name)
                    .update_id(id)
                    .send()
                    .await
                    .map_err(api_error("DescribeUpdate"))?;
                check_update("UpdateAddon", done.update())?;
            }
        }

        if changed("tags") {
            let arn = match req.prior.get("arn").and_then(Value::as_str) {
                Some(arn) => arn.to_string(),
                None => self
                    .observe_one(req.region, req.id)
                    .await?
                    .get("arn")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ProviderError::api("DescribeAddon", "the add-on has no ARN"))?
                    .to_string(),
            };
            sync_tags(&client, &arn, inputs, req.prior).await?;
        }

        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let (cluster, name) = require_split_id(req.id, "add-on")?;
        let client = crate::client(&self.clients, req.region);
        let deleted = client
            .delete_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send()
            .await;
        if terrane_aws_core::unless_gone("DeleteAddon", deleted, &[NOT_FOUND])?.is_none() {
            return Ok(());
        }
        client
            .wait_until_addon_deleted()
            .cluster_name(cluster)
            .addon_name(name)
            .wait(DELETE_TIMEOUT)
            .await
            .map_err(|e| wait_error("the EKS add-on to be deleted", DELETE_TIMEOUT, e))?;
        Ok(())
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        // No EKS list call filters by tag: every add-on of every cluster is described.
        let ids = self.existing(req.region, None).await?;
        let mut found = self.describe(req.region, ids).await?;
        found.retain(|_, attrs| owned(&req, attrs));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_add_ons_have_composite_ids() {
        let a = EksAddon::builder()
            .cluster_name("main")
            .addon_name("vpc-cni")
            .addon_version("v1")
            .tags("team", "a")
            .build();
        let (id, attrs) = addon_attributes(&a).unwrap();
        assert_eq!(id, "main/vpc-cni");
        assert_eq!(attrs["version"], Value::string("v1"));
        assert_eq!(attrs["service_account_role_arn"], Value::Null);
        assert!(!attrs.contains_key("resolve_conflicts"));
    }
}
