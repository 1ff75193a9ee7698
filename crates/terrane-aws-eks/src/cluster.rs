//! `aws.eks.cluster`: an EKS control plane, with its network access, logging, secrets
//! encryption and tags.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::client::Waiters;
use aws_sdk_eks::types::{
    Cluster as EksCluster, EncryptionConfig, LogSetup, LogType, Logging, Provider, Update,
    VpcConfigRequest,
};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, NOT_FOUND, api_error, check_update, describe_each, found_or_none, input_bool,
    input_str, input_strings, list_clusters, owned, pending_update, put_str, require_str,
    strings_value, sync_tags, tags_map, tags_to_value, wait_error,
};

pub const TYPE_NAME: &str = "aws.eks.cluster";

/// How long a new cluster may take to become active (typically 10 to 15 minutes).
const CREATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long one update (version, network access, logging, encryption) may take.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long a deleted cluster may take to disappear.
const DELETE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// What secrets encryption applies to: EKS accepts only Kubernetes secrets.
const SECRETS: &str = "secrets";

pub struct Cluster {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An EKS cluster: a managed Kubernetes control plane in a VPC's subnets.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The cluster's name, unique in the account and region; also its id."),
            AttrSchema::required("role_arn", String)
                .forces_replacement()
                .describe("The IAM role the control plane uses to manage AWS resources."),
            AttrSchema::optional("version", String).describe(
                "Kubernetes version, e.g. 1.31; AWS picks its default when unset. Raised in place, one minor version at a time.",
            ),
            AttrSchema::required("subnet_ids", List)
                .forces_replacement()
                .unordered()
                .describe("Subnets (in at least two availability zones) for the control plane's network interfaces."),
            AttrSchema::optional("security_group_ids", List)
                .unordered()
                .describe("Extra security groups on the control plane's network interfaces."),
            AttrSchema::optional("endpoint_public_access", Bool)
                .default(DefaultValue::Bool(true))
                .describe("Whether the Kubernetes API endpoint is reachable from the internet."),
            AttrSchema::optional("endpoint_private_access", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether the Kubernetes API endpoint is reachable from inside the VPC."),
            AttrSchema::optional("public_access_cidrs", List)
                .unordered()
                .describe("CIDR blocks allowed to reach the public endpoint (AWS's default: 0.0.0.0/0)."),
            AttrSchema::optional("encryption_kms_key_arn", String)
                .forces_replacement_once_set()
                .describe(
                    "KMS key ARN for envelope encryption of Kubernetes secrets. Added in place to a cluster that has none; AWS cannot change or remove it afterwards, so a new key replaces the cluster.",
                ),
            AttrSchema::optional("enabled_log_types", List)
                .unordered()
                .describe("Control plane log types sent to CloudWatch: api, audit, authenticator, controllerManager, scheduler."),
            AttrSchema::optional("tags", Map).describe("Tags on the cluster."),
            AttrSchema::computed("id", String).describe("The cluster's id: its name."),
            AttrSchema::computed("arn", String).describe("The cluster's ARN."),
            AttrSchema::computed("endpoint", String)
                .describe("The Kubernetes API server endpoint URL."),
            AttrSchema::computed("certificate_authority", String)
                .describe("The cluster's certificate authority data, base64-encoded."),
            AttrSchema::computed("status", String)
                .describe("CREATING, ACTIVE, UPDATING, DELETING or FAILED."),
            AttrSchema::computed("platform_version", String)
                .describe("The EKS platform version, e.g. eks.4."),
            AttrSchema::computed("oidc_issuer", String)
                .describe("The OpenID Connect issuer URL, for IAM roles for service accounts."),
            AttrSchema::computed("vpc_id", String).describe("The VPC of the cluster's subnets."),
            AttrSchema::computed("cluster_security_group_id", String)
                .describe("The security group EKS created for the control plane and nodes."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "cluster:\n  type: aws.eks.cluster\n  properties:\n    name: main\n    role_arn: ${var.cluster_role_arn}\n    version: \"1.31\"\n    subnet_ids: [\"${subnet_a.id}\", \"${subnet_b.id}\"]\n    endpoint_private_access: true\n    enabled_log_types: [api, audit]\n",
    }
}

/// A described cluster as the schema's attributes, keyed by its id (its name).
fn cluster_attributes(c: &EksCluster) -> Option<(String, Attributes)> {
    let name = c.name()?;
    let mut attrs = Attributes::new();
    attrs.insert("id".into(), Value::string(name));
    attrs.insert("name".into(), Value::string(name));
    put_str(&mut attrs, "arn", c.arn());
    put_str(&mut attrs, "role_arn", c.role_arn());
    put_str(&mut attrs, "version", c.version());
    put_str(&mut attrs, "endpoint", c.endpoint());
    put_str(
        &mut attrs,
        "certificate_authority",
        c.certificate_authority().and_then(|ca| ca.data()),
    );
    put_str(&mut attrs, "status", c.status().map(|s| s.as_str()));
    put_str(&mut attrs, "platform_version", c.platform_version());
    put_str(
        &mut attrs,
        "oidc_issuer",
        c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer()),
    );
    if let Some(vpc) = c.resources_vpc_config() {
        // Lists AWS leaves out of its answer are left out here too (the plan then
        // compares with what was last applied) rather than reported empty.
        if let Some(ids) = &vpc.subnet_ids {
            attrs.insert("subnet_ids".into(), strings_value(ids));
        }
        if let Some(ids) = &vpc.security_group_ids {
            attrs.insert("security_group_ids".into(), strings_value(ids));
        }
        if let Some(cidrs) = &vpc.public_access_cidrs {
            attrs.insert("public_access_cidrs".into(), strings_value(cidrs));
        }
        attrs.insert(
            "endpoint_public_access".into(),
            Value::Bool(vpc.endpoint_public_access()),
        );
        attrs.insert(
            "endpoint_private_access".into(),
            Value::Bool(vpc.endpoint_private_access()),
        );
        put_str(&mut attrs, "vpc_id", vpc.vpc_id());
        put_str(
            &mut attrs,
            "cluster_security_group_id",
            vpc.cluster_security_group_id(),
        );
    }
    if let Some(logging) = c.logging() {
        let enabled: BTreeSet<&str> = logging
            .cluster_logging()
            .iter()
            .filter(|s| s.enabled() == Some(true))
            .flat_map(|s| s.types().iter().map(LogType::as_str))
            .collect();
        attrs.insert("enabled_log_types".into(), strings_value(enabled));
    }
    attrs.insert(
        "encryption_kms_key_arn".into(),
        secrets_key(c.encryption_config())
            .map(Value::string)
            .unwrap_or(Value::Null),
    );
    attrs.insert("tags".into(), tags_to_value(c.tags.as_ref()));
    Some((name.to_string(), attrs))
}

/// The KMS key encrypting the cluster's secrets, if any.
fn secrets_key(configs: &[EncryptionConfig]) -> Option<&str> {
    configs
        .iter()
        .find(|e| e.resources().iter().any(|r| r == SECRETS))
        .and_then(|e| e.provider())
        .and_then(|p| p.key_arn())
}

fn encryption_config(key_arn: &str) -> EncryptionConfig {
    EncryptionConfig::builder()
        .resources(SECRETS)
        .provider(Provider::builder().key_arn(key_arn).build())
        .build()
}

/// Logging with exactly `enabled` turned on; with `disable_others`, every other log type
/// is turned off explicitly (an update), otherwise left at AWS's default (off, on create).
fn logging(enabled: &[String], disable_others: bool) -> Logging {
    let mut setups = Vec::new();
    if !enabled.is_empty() {
        setups.push(
            LogSetup::builder()
                .set_types(Some(
                    enabled.iter().map(|t| LogType::from(t.as_str())).collect(),
                ))
                .enabled(true)
                .build(),
        );
    }
    if disable_others {
        let off: Vec<LogType> = LogType::values()
            .iter()
            .filter(|t| !enabled.iter().any(|e| e == *t))
            .map(|t| LogType::from(*t))
            .collect();
        if !off.is_empty() {
            setups.push(
                LogSetup::builder()
                    .set_types(Some(off))
                    .enabled(false)
                    .build(),
            );
        }
    }
    Logging::builder().set_cluster_logging(Some(setups)).build()
}

impl Cluster {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Cluster {
            clients,
            schema: schema(),
        }
    }

    /// The clusters named `names`, described one call each (EKS has no batched
    /// describe), a few at once. Names that do not exist are absent.
    async fn describe(
        &self,
        region: &str,
        names: impl IntoIterator<Item = String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        describe_each(names, |name| {
            let client = client.clone();
            async move {
                let out = found_or_none(
                    "DescribeCluster",
                    client.describe_cluster().name(name).send().await,
                )?;
                Ok(out
                    .as_ref()
                    .and_then(|o| o.cluster())
                    .and_then(cluster_attributes)
                    .map(|(_, attrs)| attrs))
            }
        })
        .await
    }

    async fn observe_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, [name.to_string()])
            .await?
            .remove(name)
            .ok_or_else(|| ProviderError::NotFound(format!("EKS cluster {name}")))
    }
}

/// Waits for the cluster to be active again after an update, then makes sure the update
/// succeeded: from its status in the update's answer, or (when it was still in progress)
/// from DescribeUpdate. An answer without an update object is accepted as is.
async fn settle(
    client: &aws_sdk_eks::Client,
    name: &str,
    operation: &str,
    update: Option<&Update>,
) -> Result<(), ProviderError> {
    check_update(operation, update)?;
    client
        .wait_until_cluster_active()
        .name(name)
        .wait(UPDATE_TIMEOUT)
        .await
        .map_err(|e| wait_error("the EKS cluster to be active", UPDATE_TIMEOUT, e))?;
    if let Some(id) = pending_update(update) {
        let out = client
            .describe_update()
            .name(name)
            .update_id(id)
            .send()
            .await
            .map_err(api_error("DescribeUpdate"))?;
        check_update(operation, out.update())?;
    }
    Ok(())
}

#[async_trait]
impl ResourceType for Cluster {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        // EKS has no batched describe: one paginated ListClusters tells which of the
        // requested names exist, then one DescribeCluster per such name (concurrently).
        let client = crate::client(&self.clients, req.region);
        let existing: BTreeSet<String> = list_clusters(&client).await?.into_iter().collect();
        let wanted: BTreeSet<String> = req
            .ids
            .iter()
            .filter(|id| existing.contains(*id))
            .cloned()
            .collect();
        let found = self.describe(req.region, wanted).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let name = require_str(inputs, "name")?;
        let subnet_ids = input_strings(inputs, "subnet_ids")?
            .ok_or_else(|| ProviderError::Invalid("`subnet_ids` is required".into()))?;
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(subnet_ids))
            .set_security_group_ids(input_strings(inputs, "security_group_ids")?)
            .set_endpoint_public_access(input_bool(inputs, "endpoint_public_access")?)
            .set_endpoint_private_access(input_bool(inputs, "endpoint_private_access")?)
            .set_public_access_cidrs(input_strings(inputs, "public_access_cidrs")?)
            .build();
        let log_types = input_strings(inputs, "enabled_log_types")?.unwrap_or_default();
        let client = crate::client(&self.clients, req.region);
        client
            .create_cluster()
            .name(&name)
            .role_arn(require_str(inputs, "role_arn")?)
            .set_version(input_str(inputs, "version"))
            .resources_vpc_config(vpc)
            .set_logging((!log_types.is_empty()).then(|| logging(&log_types, false)))
            .set_encryption_config(
                input_str(inputs, "encryption_kms_key_arn").map(|k| vec![encryption_config(&k)]),
            )
            .set_tags(tags_map(inputs))
            .client_request_token(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateCluster"))?;
        client
            .wait_until_cluster_active()
            .name(&name)
            .wait(CREATE_TIMEOUT)
            .await
            .map_err(|e| wait_error("the new EKS cluster to be active", CREATE_TIMEOUT, e))?;
        let attributes = self.observe_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        let name = req.id;
        let inputs = req.inputs;

        // EKS runs one update at a time per cluster, and each kind of change is its own
        // update: each is awaited before the next starts.
        if changed("version")
            && let Some(version) = input_str(inputs, "version")
        {
            let out = client
                .update_cluster_version()
                .name(name)
                .version(version)
                .send()
                .await
                .map_err(api_error("UpdateClusterVersion"))?;
            settle(&client, name, "UpdateClusterVersion", out.update()).await?;
        }

        if changed("security_group_ids") {
            // The subnets are sent unchanged with the groups, as AWS takes them together.
            let vpc = VpcConfigRequest::builder()
                .set_subnet_ids(input_strings(inputs, "subnet_ids")?)
                .set_security_group_ids(Some(
                    input_strings(inputs, "security_group_ids")?.unwrap_or_default(),
                ))
                .build();
            let out = client
                .update_cluster_config()
                .name(name)
                .resources_vpc_config(vpc)
                .send()
                .await
                .map_err(api_error("UpdateClusterConfig"))?;
            settle(&client, name, "UpdateClusterConfig", out.update()).await?;
        }

        if changed("endpoint_public_access")
            || changed("endpoint_private_access")
            || changed("public_access_cidrs")
        {
            let vpc = VpcConfigRequest::builder()
                .set_endpoint_public_access(input_bool(inputs, "endpoint_public_access")?)
                .set_endpoint_private_access(input_bool(inputs, "endpoint_private_access")?)
                .set_public_access_cidrs(input_strings(inputs, "public_access_cidrs")?)
                .build();
            let out = client
                .update_cluster_config()
                .name(name)
                .resources_vpc_config(vpc)
                .send()
                .await
                .map_err(api_error("UpdateClusterConfig"))?;
            settle(&client, name, "UpdateClusterConfig", out.update()).await?;
        }

        if changed("enabled_log_types") {
            let types = input_strings(inputs, "enabled_log_types")?.unwrap_or_default();
            let out = client
                .update_cluster_config()
                .name(name)
                .logging(logging(&types, true))
                .send()
                .await
                .map_err(api_error("UpdateClusterConfig"))?;
            settle(&client, name, "UpdateClusterConfig", out.update()).await?;
        }

        if changed("encryption_kms_key_arn")
            && let Some(key) = input_str(inputs, "encryption_kms_key_arn")
        {
            match req
                .prior
                .get("encryption_kms_key_arn")
                .and_then(Value::as_str)
            {
                None => {
                    let out = client
                        .associate_encryption_config()
                        .cluster_name(name)
                        .encryption_config(encryption_config(&key))
                        .send()
                        .await
                        .map_err(api_error("AssociateEncryptionConfig"))?;
                    settle(&client, name, "AssociateEncryptionConfig", out.update()).await?;
                }
                Some(current) => {
                    return Err(ProviderError::Invalid(format!(
                        "EKS cluster {name}: secrets are already encrypted with {current}; AWS cannot change the key of a cluster. Replace the cluster (give it a new name) to use {key}"
                    )));
                }
            }
        }

        if changed("tags") {
            let arn = match req.prior.get("arn").and_then(Value::as_str) {
                Some(arn) => arn.to_string(),
                None => self
                    .observe_one(req.region, name)
                    .await?
                    .get("arn")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ProviderError::api("DescribeCluster", "the cluster has no ARN"))?
                    .to_string(),
            };
            sync_tags(&client, &arn, inputs, req.prior).await?;
        }

        let attributes = self.observe_one(req.region, name).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let deleted = client.delete_cluster().name(req.id).send().await;
        if terrane_aws_core::unless_gone("DeleteCluster", deleted, &[NOT_FOUND])?.is_none() {
            return Ok(());
        }
        client
            .wait_until_cluster_deleted()
            .name(req.id)
            .wait(DELETE_TIMEOUT)
            .await
            .map_err(|e| wait_error("the EKS cluster to be deleted", DELETE_TIMEOUT, e))?;
        Ok(())
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        // No EKS list call filters by tag: every cluster of the region is described.
        let client = crate::client(&self.clients, req.region);
        let names = list_clusters(&client).await?;
        let mut found = self.describe(req.region, names).await?;
        found.retain(|_, attrs| owned(&req, attrs));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logging_updates_turn_every_other_type_off() {
        let l = logging(&["api".into(), "audit".into()], true);
        let setups = l.cluster_logging();
        assert_eq!(setups.len(), 2);
        assert_eq!(setups[0].enabled(), Some(true));
        assert_eq!(setups[0].types().len(), 2);
        assert_eq!(setups[1].enabled(), Some(false));
        assert_eq!(setups[1].types().len(), LogType::values().len() - 2);
        // On create only what is enabled is sent.
        assert_eq!(logging(&["api".into()], false).cluster_logging().len(), 1);
        // Turning everything off sends one setup with every type disabled.
        let off = logging(&[], true);
        assert_eq!(off.cluster_logging().len(), 1);
        assert_eq!(off.cluster_logging()[0].enabled(), Some(false));
    }

    #[test]
    fn described_clusters_report_inputs_in_stack_shape() {
        let c = EksCluster::builder()
            .name("main")
            .arn("arn:aws:eks:us-east-1:123456789012:cluster/main")
            .logging(logging(&["audit".into(), "api".into()], true))
            .encryption_config(encryption_config("arn:aws:kms:us-east-1:1:key/k"))
            .tags("aws:cloudformation:stack-name", "x")
            .tags("team", "a")
            .build();
        let (id, attrs) = cluster_attributes(&c).unwrap();
        assert_eq!(id, "main");
        assert_eq!(
            attrs["enabled_log_types"],
            strings_value(["api", "audit"]),
            "only the enabled types, sorted"
        );
        assert_eq!(
            attrs["encryption_kms_key_arn"],
            Value::string("arn:aws:kms:us-east-1:1:key/k")
        );
        assert_eq!(attrs["tags"].as_map().unwrap().len(), 1, "aws: tags hidden");
        let plain = EksCluster::builder().name("p").build();
        let (_, attrs) = cluster_attributes(&plain).unwrap();
        assert_eq!(attrs["encryption_kms_key_arn"], Value::Null);
        assert!(!attrs.contains_key("subnet_ids"));
    }
}
