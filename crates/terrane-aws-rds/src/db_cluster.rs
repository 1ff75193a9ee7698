//! `aws.rds.db_cluster`: an Aurora PostgreSQL cluster. Its instances are
//! `aws.rds.db_instance` resources naming it in `db_cluster_identifier`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::types::{DbCluster as SdkDbCluster, Filter};
use terrane_aws_core::{AwsError, api_error, waiter_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, WAIT_FOR_AVAILABLE, WAIT_FOR_DELETED, input_bool, input_i32, input_secret,
    input_str, input_strings, put_bool, put_int, put_str, require_str, retain_owned, sdk_tags,
    strings_value, sync_tags, tags_to_value, wanted,
};

pub const TYPE_NAME: &str = "aws.rds.db_cluster";

const NOT_FOUND: &[&str] = &["DBClusterNotFoundFault", "DBClusterNotFound"];

/// Ids per `db-cluster-id` filter (AWS accepts up to 100 values in one filter).
const IDS_PER_FILTER: usize = 100;

pub struct DbCluster {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An Aurora PostgreSQL DB cluster: shared storage and endpoints; its instances are `aws.rds.db_instance` resources with `db_cluster_identifier`.",
        attributes: vec![
            AttrSchema::required("identifier", String)
                .forces_replacement()
                .describe("The cluster's identifier (lower case, unique in the region); also its id."),
            AttrSchema::optional("engine", String)
                .forces_replacement()
                .default(DefaultValue::Str("aurora-postgresql"))
                .describe("The engine: `aurora-postgresql`."),
            AttrSchema::optional("engine_version", String)
                .describe("The engine version as AWS reports it (e.g. 16.4); a change upgrades in place."),
            AttrSchema::optional("database_name", String)
                .forces_replacement()
                .describe("The database created with the cluster."),
            AttrSchema::required("username", String)
                .forces_replacement()
                .describe("The master user's name."),
            AttrSchema::optional("password", String)
                .sensitive()
                .describe("The master user's password: write-only, never read back; a change is applied with ModifyDBCluster."),
            AttrSchema::optional("db_subnet_group_name", String)
                .forces_replacement()
                .describe("The DB subnet group, and so the VPC, of the cluster."),
            AttrSchema::optional("vpc_security_group_ids", List)
                .unordered()
                .describe("The VPC security groups of the cluster."),
            AttrSchema::optional("parameter_group_name", String)
                .describe("The DB cluster parameter group; the engine's default when unset."),
            AttrSchema::optional("backup_retention_period", Number)
                .describe("Days automated backups are kept (1-35)."),
            AttrSchema::optional("preferred_backup_window", String)
                .describe("The daily backup window in UTC, e.g. 03:00-04:00."),
            AttrSchema::optional("storage_encrypted", Bool)
                .forces_replacement()
                .describe("Whether the cluster's storage is encrypted."),
            AttrSchema::optional("kms_key_id", String)
                .forces_replacement()
                .describe("The KMS key (its ARN, as AWS reports it) encrypting the storage."),
            AttrSchema::optional("enabled_cloudwatch_logs_exports", List)
                .unordered()
                .describe("Logs published to CloudWatch Logs, e.g. [postgresql]."),
            AttrSchema::optional("deletion_protection", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether AWS refuses to delete the cluster."),
            AttrSchema::optional("skip_final_snapshot", Bool)
                .default(DefaultValue::Bool(true))
                .describe("terrane-side: whether deleting the cluster skips the final snapshot (otherwise one named `<identifier>-final-<unix time>` is taken)."),
            AttrSchema::optional("tags", Map).describe("Tags on the cluster."),
            AttrSchema::computed("id", String).describe("The cluster's identifier."),
            AttrSchema::computed("arn", String).describe("The cluster's ARN."),
            AttrSchema::computed("endpoint", String)
                .describe("The writer endpoint clients connect to."),
            AttrSchema::computed("reader_endpoint", String)
                .describe("The endpoint balancing over the readers."),
            AttrSchema::computed("port", Number).describe("The port clients connect to."),
            AttrSchema::computed("members", List)
                .describe("The identifiers of the cluster's instances."),
            AttrSchema::computed("status", String).describe("The cluster's status, e.g. available."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "aurora:\n  type: aws.rds.db_cluster\n  properties:\n    identifier: app\n    engine_version: \"16.4\"\n    database_name: app\n    username: app\n    password: ${var.db_password}\n    db_subnet_group_name: ${db_subnets.id}\n    storage_encrypted: true\n    backup_retention_period: 7\n\naurora_writer:\n  type: aws.rds.db_instance\n  properties:\n    identifier: app-1\n    engine: aurora-postgresql\n    instance_class: db.r6g.large\n    db_cluster_identifier: ${aurora.id}\n",
    }
}

fn attributes(c: &SdkDbCluster) -> Option<(String, Attributes)> {
    let id = c.db_cluster_identifier()?;
    let mut a = Attributes::new();
    a.insert("id".into(), Value::string(id));
    a.insert("identifier".into(), Value::string(id));
    put_str(&mut a, "engine", c.engine());
    put_str(&mut a, "engine_version", c.engine_version());
    put_str(&mut a, "database_name", c.database_name());
    put_str(&mut a, "username", c.master_username());
    put_str(&mut a, "db_subnet_group_name", c.db_subnet_group());
    a.insert(
        "vpc_security_group_ids".into(),
        strings_value(
            c.vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id()),
        ),
    );
    put_str(
        &mut a,
        "parameter_group_name",
        c.db_cluster_parameter_group(),
    );
    put_int(
        &mut a,
        "backup_retention_period",
        c.backup_retention_period(),
    );
    put_str(
        &mut a,
        "preferred_backup_window",
        c.preferred_backup_window(),
    );
    put_bool(&mut a, "storage_encrypted", c.storage_encrypted());
    put_str(&mut a, "kms_key_id", c.kms_key_id());
    a.insert(
        "enabled_cloudwatch_logs_exports".into(),
        strings_value(
            c.enabled_cloudwatch_logs_exports()
                .iter()
                .map(String::as_str),
        ),
    );
    put_bool(&mut a, "deletion_protection", c.deletion_protection());
    a.insert("tags".into(), tags_to_value(c.tag_list()));
    put_str(&mut a, "arn", c.db_cluster_arn());
    put_str(&mut a, "endpoint", c.endpoint());
    put_str(&mut a, "reader_endpoint", c.reader_endpoint());
    put_int(&mut a, "port", c.port());
    a.insert(
        "members".into(),
        strings_value(
            c.db_cluster_members()
                .iter()
                .filter_map(|m| m.db_instance_identifier()),
        ),
    );
    put_str(&mut a, "status", c.status());
    Some((id.to_string(), a))
}

fn id_filter<'a>(ids: impl IntoIterator<Item = &'a str>) -> Filter {
    Filter::builder()
        .name("db-cluster-id")
        .set_values(Some(ids.into_iter().map(str::to_string).collect()))
        .build()
}

impl DbCluster {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        DbCluster {
            clients,
            schema: schema(),
        }
    }

    /// The clusters matching `filters` (all of the region when none), by identifier: one
    /// paginated DescribeDBClusters, whose answer carries each cluster's tags.
    async fn describe(
        &self,
        region: &str,
        filters: Option<Vec<Filter>>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let clusters: Vec<SdkDbCluster> = crate::client(&self.clients, region)
            .describe_db_clusters()
            .set_filters(filters)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeDBClusters"))?;
        Ok(clusters.iter().filter_map(attributes).collect())
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, Some(vec![id_filter([id])]))
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("DB cluster {id}")))
    }

    async fn wait_available(
        &self,
        client: &aws_sdk_rds::Client,
        id: &str,
    ) -> Result<(), ProviderError> {
        client
            .wait_until_db_cluster_available()
            .db_cluster_identifier(id)
            .wait(WAIT_FOR_AVAILABLE)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!(
                        "wait (up to {} min) for DB cluster {id} to be available",
                        WAIT_FOR_AVAILABLE.as_secs() / 60
                    ),
                    e,
                )
            })?;
        Ok(())
    }
}

#[async_trait]
impl ResourceType for DbCluster {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids: Vec<&str> = wanted(req.ids).into_iter().collect();
        let mut found = BTreeMap::new();
        // In a filter (an unknown id in DBClusterIdentifier fails the call): one paginated
        // call per 100 ids.
        for chunk in ids.chunks(IDS_PER_FILTER) {
            found.extend(
                self.describe(req.region, Some(vec![id_filter(chunk.iter().copied())]))
                    .await?,
            );
        }
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let id = require_str(inputs, "identifier")?;
        // CreateDBCluster takes no idempotency token: a repeat fails with
        // DBClusterAlreadyExistsFault, and crash recovery finds the cluster by its tags.
        client
            .create_db_cluster()
            .db_cluster_identifier(&id)
            .engine(input_str(inputs, "engine").unwrap_or_else(|| "aurora-postgresql".into()))
            .set_engine_version(input_str(inputs, "engine_version"))
            .set_database_name(input_str(inputs, "database_name"))
            .master_username(require_str(inputs, "username")?)
            .set_master_user_password(input_secret(inputs, "password"))
            .set_db_subnet_group_name(input_str(inputs, "db_subnet_group_name"))
            .set_vpc_security_group_ids(input_strings(inputs, "vpc_security_group_ids")?)
            .set_db_cluster_parameter_group_name(input_str(inputs, "parameter_group_name"))
            .set_backup_retention_period(input_i32(inputs, "backup_retention_period")?)
            .set_preferred_backup_window(input_str(inputs, "preferred_backup_window"))
            .set_storage_encrypted(input_bool(inputs, "storage_encrypted")?)
            .set_kms_key_id(input_str(inputs, "kms_key_id"))
            .set_enable_cloudwatch_logs_exports(input_strings(
                inputs,
                "enabled_cloudwatch_logs_exports",
            )?)
            .set_deletion_protection(input_bool(inputs, "deletion_protection")?)
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateDBCluster"))?;
        self.wait_available(&client, &id).await?;
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        let mut modify = client
            .modify_db_cluster()
            .db_cluster_identifier(req.id)
            .apply_immediately(true);
        let mut any = false;
        if changed("engine_version") {
            modify = modify
                .set_engine_version(input_str(inputs, "engine_version"))
                .allow_major_version_upgrade(true);
            any = true;
        }
        if changed("password") {
            modify = modify.set_master_user_password(input_secret(inputs, "password"));
            any = true;
        }
        if changed("vpc_security_group_ids") {
            modify =
                modify.set_vpc_security_group_ids(input_strings(inputs, "vpc_security_group_ids")?);
            any = true;
        }
        if changed("parameter_group_name") {
            modify = modify
                .set_db_cluster_parameter_group_name(input_str(inputs, "parameter_group_name"));
            any = true;
        }
        if changed("backup_retention_period") {
            modify =
                modify.set_backup_retention_period(input_i32(inputs, "backup_retention_period")?);
            any = true;
        }
        if changed("preferred_backup_window") {
            modify =
                modify.set_preferred_backup_window(input_str(inputs, "preferred_backup_window"));
            any = true;
        }
        if changed("enabled_cloudwatch_logs_exports") {
            let want =
                input_strings(inputs, "enabled_cloudwatch_logs_exports")?.unwrap_or_default();
            let have =
                input_strings(req.prior, "enabled_cloudwatch_logs_exports")?.unwrap_or_default();
            modify = modify.cloudwatch_logs_export_configuration(
                aws_sdk_rds::types::CloudwatchLogsExportConfiguration::builder()
                    .set_enable_log_types(Some(
                        want.iter().filter(|l| !have.contains(l)).cloned().collect(),
                    ))
                    .set_disable_log_types(Some(
                        have.iter().filter(|l| !want.contains(l)).cloned().collect(),
                    ))
                    .build(),
            );
            any = true;
        }
        if changed("deletion_protection") {
            modify = modify.set_deletion_protection(input_bool(inputs, "deletion_protection")?);
            any = true;
        }
        if any {
            modify.send().await.map_err(api_error("ModifyDBCluster"))?;
            self.wait_available(&client, req.id).await?;
        }
        if changed("tags") {
            let arn = match input_str(req.prior, "arn") {
                Some(a) => a,
                None => require_str(&self.observe_one(req.region, req.id).await?, "arn")?,
            };
            sync_tags(&client, &arn, inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let skip = input_bool(req.prior, "skip_final_snapshot")?.unwrap_or(true);
        let final_snapshot = (!skip).then(|| crate::final_snapshot_name(req.id));
        // The engine deletes the cluster's instances first: they depend on it.
        let result = client
            .delete_db_cluster()
            .db_cluster_identifier(req.id)
            .skip_final_snapshot(skip)
            .set_final_db_snapshot_identifier(final_snapshot)
            .send()
            .await;
        let refused = match result {
            Ok(_) => None,
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    return Ok(());
                }
                // Already being deleted (a retried delete): wait for it like a new one.
                if !e.is(&["InvalidDBClusterStateFault", "InvalidDBClusterState"]) {
                    return Err(e.into_provider("DeleteDBCluster"));
                }
                Some(e)
            }
        };
        let waited = client
            .wait_until_db_cluster_deleted()
            .db_cluster_identifier(req.id)
            .wait(WAIT_FOR_DELETED)
            .await;
        match (waited, refused) {
            (Ok(_), _) => Ok(()),
            (Err(_), Some(e)) => Err(e.into_provider("DeleteDBCluster")),
            (Err(e), None) => Err(waiter_error(
                &format!(
                    "wait (up to {} min) for DB cluster {} to be deleted",
                    WAIT_FOR_DELETED.as_secs() / 60,
                    req.id
                ),
                e,
            )),
        }
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        // RDS refuses tag filters: list the region's clusters (their tags come with them).
        let found = self.describe(req.region, None).await?;
        Ok(retain_owned(&req, found))
    }
}
