//! `aws.rds.db_instance`: a PostgreSQL DB instance, or a read replica of one (in the same
//! region or another).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::types::{DbInstance as SdkDbInstance, Filter};
use terrane_aws_core::{AwsError, api_error, waiter_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, WAIT_FOR_AVAILABLE, WAIT_FOR_DELETED, input_bool, input_i32, input_secret,
    input_str, input_strings, presign, put_bool, put_int, put_str, require_str, retain_owned,
    sdk_tags, strings_value, sync_tags, tags_to_value, wanted,
};

pub const TYPE_NAME: &str = "aws.rds.db_instance";

const NOT_FOUND: &[&str] = &["DBInstanceNotFound", "DBInstanceNotFoundFault"];

/// Ids per `db-instance-id` filter (AWS accepts up to 100 values in one filter).
const IDS_PER_FILTER: usize = 100;

pub struct DbInstance {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An RDS DB instance running PostgreSQL, or (with `replicate_source_db`) a read replica of one, in the same region or another.",
        attributes: vec![
            AttrSchema::required("identifier", String)
                .forces_replacement()
                .describe("The instance's identifier (lower case, unique in the region); also its id."),
            AttrSchema::optional("engine", String)
                .forces_replacement()
                .default(DefaultValue::Str("postgres"))
                .describe("The database engine: `postgres`."),
            AttrSchema::optional("engine_version", String).describe(
                "The engine version, written in full as AWS reports it (e.g. 16.3); a change upgrades in place (major upgrades allowed).",
            ),
            AttrSchema::required("instance_class", String)
                .describe("The instance class, e.g. db.t4g.micro; changed in place."),
            AttrSchema::optional("allocated_storage", Number)
                .describe("Storage in GiB (required unless this is a replica); may only grow."),
            AttrSchema::optional("storage_type", String)
                .describe("Storage type: gp2, gp3, io1, io2 or standard."),
            AttrSchema::optional("storage_encrypted", Bool)
                .forces_replacement()
                .describe("Whether the storage is encrypted."),
            AttrSchema::optional("kms_key_id", String)
                .forces_replacement()
                .describe("The KMS key (its ARN, as AWS reports it) encrypting the storage. A replica in another region than its source needs one of its own region when the source is encrypted; terrane then signs the `PreSignedUrl` RDS requires for the source region itself, with the configured credentials (as the CLI does for `--source-region`)."),
            AttrSchema::optional("multi_az", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether a standby is kept in another availability zone."),
            AttrSchema::optional("username", String)
                .forces_replacement()
                .describe("The master user's name (required unless this is a replica)."),
            AttrSchema::optional("password", String)
                .sensitive()
                .describe("The master user's password: write-only, never read back; a change is applied with ModifyDBInstance."),
            AttrSchema::optional("db_subnet_group_name", String)
                .forces_replacement()
                .describe("The DB subnet group, and so the VPC, of the instance."),
            AttrSchema::optional("parameter_group_name", String)
                .describe("The DB parameter group; the default group of the engine when unset."),
            AttrSchema::optional("vpc_security_group_ids", List)
                .unordered()
                .describe("The VPC security groups of the instance."),
            AttrSchema::optional("backup_retention_period", Number)
                .describe("Days automated backups are kept (0 turns them off)."),
            AttrSchema::optional("performance_insights_enabled", Bool)
                .describe("Whether Performance Insights is on."),
            AttrSchema::optional("monitoring_interval", Number)
                .describe("Seconds between Enhanced Monitoring samples: 0 (off), 1, 5, 10, 15, 30 or 60."),
            AttrSchema::optional("monitoring_role_arn", String)
                .describe("The IAM role Enhanced Monitoring publishes with (needed when monitoring_interval > 0)."),
            AttrSchema::optional("deletion_protection", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether AWS refuses to delete the instance."),
            AttrSchema::optional("publicly_accessible", Bool)
                .describe("Whether the endpoint resolves to a public address."),
            AttrSchema::optional("skip_final_snapshot", Bool)
                .default(DefaultValue::Bool(true))
                .describe("terrane-side: whether deleting the instance skips the final snapshot (otherwise one named `<identifier>-final-<unix time>` is taken). Replicas never take one."),
            AttrSchema::optional("replicate_source_db", String)
                .forces_replacement()
                .describe("Makes this a read replica of that instance: its identifier in the same region, its ARN for a replica in another region (the source region is the ARN's; an encrypted source needs `kms_key_id`)."),
            AttrSchema::optional("db_cluster_identifier", String)
                .forces_replacement()
                .describe("Makes this an instance of that Aurora cluster (`aws.rds.db_cluster`); give it `engine: aurora-postgresql`, and leave storage, user and backups to the cluster."),
            AttrSchema::optional("tags", Map).describe("Tags on the instance."),
            AttrSchema::computed("id", String).describe("The instance's identifier."),
            AttrSchema::computed("arn", String).describe("The instance's ARN."),
            AttrSchema::computed("endpoint_address", String)
                .describe("The DNS name clients connect to."),
            AttrSchema::computed("endpoint_port", Number).describe("The port clients connect to."),
            AttrSchema::computed("status", String)
                .describe("The instance's status, e.g. available."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "db:\n  type: aws.rds.db_instance\n  properties:\n    identifier: app-db\n    engine_version: \"16.3\"\n    instance_class: db.t4g.micro\n    allocated_storage: 20\n    username: app\n    password: ${var.db_password}\n    db_subnet_group_name: ${db_subnets.id}\n    vpc_security_group_ids: [\"${db_sg.id}\"]\n",
    }
}

/// An instance as terrane's attributes.
fn attributes(db: &SdkDbInstance) -> Option<(String, Attributes)> {
    let id = db.db_instance_identifier()?;
    let mut a = Attributes::new();
    a.insert("id".into(), Value::string(id));
    a.insert("identifier".into(), Value::string(id));
    put_str(&mut a, "engine", db.engine());
    put_str(&mut a, "engine_version", db.engine_version());
    put_str(&mut a, "instance_class", db.db_instance_class());
    put_int(&mut a, "allocated_storage", db.allocated_storage());
    put_str(&mut a, "storage_type", db.storage_type());
    put_bool(&mut a, "storage_encrypted", db.storage_encrypted());
    put_str(&mut a, "kms_key_id", db.kms_key_id());
    put_bool(&mut a, "multi_az", db.multi_az());
    put_str(&mut a, "username", db.master_username());
    put_str(
        &mut a,
        "db_subnet_group_name",
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
    );
    put_str(
        &mut a,
        "parameter_group_name",
        db.db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name()),
    );
    a.insert(
        "vpc_security_group_ids".into(),
        strings_value(
            db.vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id()),
        ),
    );
    put_int(
        &mut a,
        "backup_retention_period",
        db.backup_retention_period(),
    );
    a.insert(
        "performance_insights_enabled".into(),
        Value::Bool(db.performance_insights_enabled().unwrap_or(false)),
    );
    a.insert(
        "monitoring_interval".into(),
        Value::int(db.monitoring_interval().unwrap_or(0).into()),
    );
    put_str(&mut a, "monitoring_role_arn", db.monitoring_role_arn());
    put_bool(&mut a, "deletion_protection", db.deletion_protection());
    put_bool(&mut a, "publicly_accessible", db.publicly_accessible());
    put_str(
        &mut a,
        "replicate_source_db",
        db.read_replica_source_db_instance_identifier(),
    );
    put_str(&mut a, "db_cluster_identifier", db.db_cluster_identifier());
    a.insert("tags".into(), tags_to_value(db.tag_list()));
    put_str(&mut a, "arn", db.db_instance_arn());
    if let Some(e) = db.endpoint() {
        put_str(&mut a, "endpoint_address", e.address());
        put_int(&mut a, "endpoint_port", e.port());
    }
    put_str(&mut a, "status", db.db_instance_status());
    Some((id.to_string(), a))
}

impl DbInstance {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        DbInstance {
            clients,
            schema: schema(),
        }
    }

    /// The instances matching `filters` (all of the region when empty), by identifier:
    /// one paginated DescribeDBInstances, whose answer carries each instance's tags.
    async fn describe(
        &self,
        region: &str,
        filters: Option<Vec<Filter>>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let dbs: Vec<SdkDbInstance> = crate::client(&self.clients, region)
            .describe_db_instances()
            .set_filters(filters)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeDBInstances"))?;
        Ok(dbs.iter().filter_map(attributes).collect())
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, Some(vec![id_filter([id])]))
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("DB instance {id}")))
    }

    async fn wait_available(
        &self,
        client: &aws_sdk_rds::Client,
        id: &str,
    ) -> Result<(), ProviderError> {
        client
            .wait_until_db_instance_available()
            .db_instance_identifier(id)
            .wait(WAIT_FOR_AVAILABLE)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!(
                        "wait (up to {} min) for DB instance {id} to be available",
                        WAIT_FOR_AVAILABLE.as_secs() / 60
                    ),
                    e,
                )
            })?;
        Ok(())
    }

    async fn create_primary(
        &self,
        client: &aws_sdk_rds::Client,
        id: &str,
        inputs: &Attributes,
    ) -> Result<(), ProviderError> {
        // An Aurora instance takes its storage, user, backups and protection from its
        // cluster: AWS refuses those settings on the instance.
        let cluster = input_str(inputs, "db_cluster_identifier");
        let standalone = cluster.is_none();
        let only_standalone = |v: Option<bool>| v.filter(|_| standalone);
        client
            .create_db_instance()
            .db_instance_identifier(id)
            .set_db_cluster_identifier(cluster.clone())
            .engine(input_str(inputs, "engine").unwrap_or_else(|| "postgres".into()))
            .set_engine_version(input_str(inputs, "engine_version"))
            .db_instance_class(require_str(inputs, "instance_class")?)
            .set_allocated_storage(input_i32(inputs, "allocated_storage")?)
            .set_storage_type(input_str(inputs, "storage_type"))
            .set_storage_encrypted(input_bool(inputs, "storage_encrypted")?)
            .set_kms_key_id(input_str(inputs, "kms_key_id"))
            .set_multi_az(only_standalone(input_bool(inputs, "multi_az")?))
            .set_master_username(input_str(inputs, "username"))
            .set_master_user_password(input_secret(inputs, "password"))
            .set_db_subnet_group_name(input_str(inputs, "db_subnet_group_name"))
            .set_db_parameter_group_name(input_str(inputs, "parameter_group_name"))
            .set_vpc_security_group_ids(input_strings(inputs, "vpc_security_group_ids")?)
            .set_backup_retention_period(input_i32(inputs, "backup_retention_period")?)
            .set_enable_performance_insights(input_bool(inputs, "performance_insights_enabled")?)
            .set_monitoring_interval(input_i32(inputs, "monitoring_interval")?)
            .set_monitoring_role_arn(input_str(inputs, "monitoring_role_arn"))
            .set_deletion_protection(only_standalone(input_bool(inputs, "deletion_protection")?))
            .set_publicly_accessible(input_bool(inputs, "publicly_accessible")?)
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateDBInstance"))?;
        Ok(())
    }

    /// A read replica of `source` (an identifier, or an ARN for a source in another
    /// region: the replica is created in its own region, `region`, the one of this
    /// client). An encrypted replica of a source in another region carries the
    /// `PreSignedUrl` RDS requires (see [`Self::cross_region_presigned_url`]). What
    /// CreateDBInstanceReadReplica does not take (backup retention) is set afterwards.
    async fn create_replica(
        &self,
        client: &aws_sdk_rds::Client,
        region: &str,
        id: &str,
        source: &str,
        inputs: &Attributes,
    ) -> Result<(), ProviderError> {
        let pre_signed_url = self
            .cross_region_presigned_url(region, source, inputs)
            .await?;
        // The request (and so the URL) is never logged: see `presign`.
        client
            .create_db_instance_read_replica()
            .db_instance_identifier(id)
            .source_db_instance_identifier(source)
            .set_pre_signed_url(pre_signed_url)
            .db_instance_class(require_str(inputs, "instance_class")?)
            .set_allocated_storage(input_i32(inputs, "allocated_storage")?)
            .set_storage_type(input_str(inputs, "storage_type"))
            .set_kms_key_id(input_str(inputs, "kms_key_id"))
            .set_multi_az(input_bool(inputs, "multi_az")?)
            .set_db_subnet_group_name(input_str(inputs, "db_subnet_group_name"))
            .set_db_parameter_group_name(input_str(inputs, "parameter_group_name"))
            .set_vpc_security_group_ids(input_strings(inputs, "vpc_security_group_ids")?)
            .set_enable_performance_insights(input_bool(inputs, "performance_insights_enabled")?)
            .set_monitoring_interval(input_i32(inputs, "monitoring_interval")?)
            .set_monitoring_role_arn(input_str(inputs, "monitoring_role_arn"))
            .set_deletion_protection(input_bool(inputs, "deletion_protection")?)
            .set_publicly_accessible(input_bool(inputs, "publicly_accessible")?)
            .set_tags(sdk_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateDBInstanceReadReplica"))?;
        Ok(())
    }

    /// The `PreSignedUrl` a replica in `region` of `source` needs when `source` is in
    /// another region (an RDS ARN naming another region) and the replica is encrypted:
    /// `kms_key_id` is given, or the source is encrypted (one DescribeDBInstances of the
    /// source in its region, made only for a cross-region replica without a key). `None`
    /// for every other replica, whose create call stays as it was.
    async fn cross_region_presigned_url(
        &self,
        region: &str,
        source: &str,
        inputs: &Attributes,
    ) -> Result<Option<String>, ProviderError> {
        let Some(source_region) = presign::rds_arn_region(source).filter(|r| *r != region) else {
            return Ok(None);
        };
        let kms_key_id = input_str(inputs, "kms_key_id");
        if kms_key_id.is_none() && !self.is_encrypted(source_region, source).await? {
            return Ok(None);
        }
        let replica = presign::CrossRegionReplica {
            source_arn: source,
            source_region,
            destination_region: region,
            kms_key_id: kms_key_id.as_deref(),
        };
        presign::presigned_url(self.clients.sdk_config(), &replica)
            .await
            .map(Some)
    }

    /// Whether the instance `arn` in `region` has encrypted storage; `false` when it is not
    /// found (the create call then reports the missing source).
    async fn is_encrypted(&self, region: &str, arn: &str) -> Result<bool, ProviderError> {
        let found = self.describe(region, Some(vec![id_filter([arn])])).await?;
        Ok(found
            .values()
            .any(|a| a.get("storage_encrypted") == Some(&Value::Bool(true))))
    }
}

/// A `db-instance-id` filter (identifiers or ARNs).
fn id_filter<'a>(ids: impl IntoIterator<Item = &'a str>) -> Filter {
    Filter::builder()
        .name("db-instance-id")
        .set_values(Some(ids.into_iter().map(str::to_string).collect()))
        .build()
}

#[async_trait]
impl ResourceType for DbInstance {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids: Vec<&str> = wanted(req.ids).into_iter().collect();
        let mut found = BTreeMap::new();
        // The ids ride in a filter, not DBInstanceIdentifier (one id only, and an unknown
        // one fails the call): one paginated call per 100 ids.
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
        // CreateDBInstance takes no idempotency token: a repeat fails with
        // DBInstanceAlreadyExists, and crash recovery finds the instance by its tags.
        match input_str(inputs, "replicate_source_db") {
            Some(source) => {
                self.create_replica(&client, req.region, &id, &source, inputs)
                    .await?;
                self.wait_available(&client, &id).await?;
                if let Some(days) = input_i32(inputs, "backup_retention_period")? {
                    let live = self.observe_one(req.region, &id).await?;
                    if live.get("backup_retention_period").and_then(Value::as_i64)
                        != Some(days.into())
                    {
                        client
                            .modify_db_instance()
                            .db_instance_identifier(&id)
                            .backup_retention_period(days)
                            .apply_immediately(true)
                            .send()
                            .await
                            .map_err(api_error("ModifyDBInstance"))?;
                        self.wait_available(&client, &id).await?;
                    }
                }
            }
            None => {
                self.create_primary(&client, &id, inputs).await?;
                self.wait_available(&client, &id).await?;
            }
        }
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        let mut modify = client
            .modify_db_instance()
            .db_instance_identifier(req.id)
            .apply_immediately(true);
        let mut any = false;
        if changed("instance_class") {
            modify = modify.set_db_instance_class(input_str(inputs, "instance_class"));
            any = true;
        }
        if changed("engine_version") {
            modify = modify
                .set_engine_version(input_str(inputs, "engine_version"))
                .allow_major_version_upgrade(true);
            any = true;
        }
        if changed("allocated_storage") {
            modify = modify.set_allocated_storage(input_i32(inputs, "allocated_storage")?);
            any = true;
        }
        if changed("storage_type") {
            modify = modify.set_storage_type(input_str(inputs, "storage_type"));
            any = true;
        }
        if changed("multi_az") {
            modify = modify.set_multi_az(input_bool(inputs, "multi_az")?);
            any = true;
        }
        if changed("password") {
            modify = modify.set_master_user_password(input_secret(inputs, "password"));
            any = true;
        }
        if changed("parameter_group_name") {
            modify = modify.set_db_parameter_group_name(input_str(inputs, "parameter_group_name"));
            any = true;
        }
        if changed("vpc_security_group_ids") {
            modify =
                modify.set_vpc_security_group_ids(input_strings(inputs, "vpc_security_group_ids")?);
            any = true;
        }
        if changed("backup_retention_period") {
            modify =
                modify.set_backup_retention_period(input_i32(inputs, "backup_retention_period")?);
            any = true;
        }
        if changed("performance_insights_enabled") {
            modify = modify.set_enable_performance_insights(input_bool(
                inputs,
                "performance_insights_enabled",
            )?);
            any = true;
        }
        if changed("monitoring_interval") || changed("monitoring_role_arn") {
            modify = modify
                .set_monitoring_interval(input_i32(inputs, "monitoring_interval")?)
                .set_monitoring_role_arn(input_str(inputs, "monitoring_role_arn"));
            any = true;
        }
        if changed("deletion_protection") {
            modify = modify.set_deletion_protection(input_bool(inputs, "deletion_protection")?);
            any = true;
        }
        if changed("publicly_accessible") {
            modify = modify.set_publicly_accessible(input_bool(inputs, "publicly_accessible")?);
            any = true;
        }
        if any {
            modify.send().await.map_err(api_error("ModifyDBInstance"))?;
            self.wait_available(&client, req.id).await?;
        }
        if changed("tags") {
            let arn = match input_str(req.prior, "arn") {
                Some(a) => a,
                None => require_str(&self.observe_one(req.region, req.id).await?, "arn")?,
            };
            sync_tags(&client, &arn, inputs, req.prior).await?;
        }
        // `skip_final_snapshot` is terrane's own: nothing to change in AWS.
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        // Replicas and Aurora instances never take a final snapshot (the cluster does).
        let replica = input_str(req.prior, "replicate_source_db").is_some()
            || input_str(req.prior, "db_cluster_identifier").is_some();
        let skip = replica || input_bool(req.prior, "skip_final_snapshot")?.unwrap_or(true);
        let final_snapshot = (!skip).then(|| crate::final_snapshot_name(req.id));
        let result = client
            .delete_db_instance()
            .db_instance_identifier(req.id)
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
                if !e.is(&["InvalidDBInstanceState", "InvalidDBInstanceStateFault"]) {
                    return Err(e.into_provider("DeleteDBInstance"));
                }
                Some(e)
            }
        };
        let waited = client
            .wait_until_db_instance_deleted()
            .db_instance_identifier(req.id)
            .wait(WAIT_FOR_DELETED)
            .await;
        match (waited, refused) {
            (Ok(_), _) => Ok(()),
            (Err(_), Some(e)) => Err(e.into_provider("DeleteDBInstance")),
            (Err(e), None) => Err(waiter_error(
                &format!(
                    "wait (up to {} min) for DB instance {} to be deleted",
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
        // RDS refuses tag filters: list the region's instances (their tags come with them).
        let found = self.describe(req.region, None).await?;
        Ok(retain_owned(&req, found))
    }
}
