//! `aws.s3.bucket`: a general purpose S3 bucket with its versioning, default encryption,
//! lifecycle rules, bucket policy, public access block and tags.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectIdentifier, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, Transition,
    TransitionStorageClass, VersioningConfiguration,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_json, input_str, is_owned, json_value, require_str, wanted,
};
use terrane_aws_core::tags::{
    aws_tags_from_inputs, decoded_tags_value, tags_from_inputs, tags_value,
};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.s3.bucket";

const NO_SUCH_BUCKET: &str = "NoSuchBucket";

/// Buckets read at once (each read is seven calls in flight: S3 has no batched read of a
/// bucket's configuration).
const READ_CONCURRENCY: usize = 8;

/// Keys per DeleteObjects call (S3's limit).
const DELETE_BATCH: usize = 1000;

pub struct Bucket {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A general purpose S3 bucket, with versioning, default encryption, lifecycle rules, a bucket policy and its public access block.",
        attributes: vec![
            AttrSchema::required("bucket", String)
                .forces_replacement()
                .describe("The bucket's name, unique across all of AWS; also its id."),
            AttrSchema::optional("versioning", Bool)
                .describe("Whether object versioning is on (turning it off suspends it: S3 cannot unversion a bucket)."),
            AttrSchema::optional("encryption", Map).describe(
                "Default encryption: `sse_algorithm` (`aws:kms` or `AES256`), `kms_key_id` (with `aws:kms`; as written, ARN or id) and `bucket_key_enabled` (default false).",
            ),
            AttrSchema::optional("lifecycle_rules", List)
                .unordered()
                .describe(
                    "Lifecycle rules, each a map: `id` (required), `enabled` (default true), `prefix`, `expiration_days`, `noncurrent_version_expiration_days`, `transitions` (a list of `{days, storage_class}`) and `abort_incomplete_multipart_upload_days`. An empty list removes them all.",
                ),
            AttrSchema::optional("policy", Any).describe(
                "The bucket policy: a JSON document (a map in the stack, or JSON text), compared as data.",
            ),
            AttrSchema::optional("block_public_access", Bool)
                .default(DefaultValue::Bool(true))
                .describe("Whether all four public access block settings are on (false removes the block)."),
            AttrSchema::optional("object_ownership", String).describe(
                "Who owns objects others write: `BucketOwnerEnforced` (ACLs off, S3's default), `BucketOwnerPreferred` or `ObjectWriter` (ACLs on, as CloudFront standard logging needs).",
            ),
            AttrSchema::optional("force_destroy", Bool)
                .default(DefaultValue::Bool(false))
                .describe("terrane-side: whether deleting the bucket first deletes every object and object version in it (otherwise a non-empty bucket refuses to go)."),
            AttrSchema::optional("tags", Map).describe("Tags on the bucket."),
            AttrSchema::computed("arn", String).describe("The bucket's ARN."),
            AttrSchema::computed("bucket_regional_domain_name", String).describe(
                "The bucket's regional domain name, e.g. `<bucket>.s3.eu-west-1.amazonaws.com` (a CloudFront origin's domain name).",
            ),
            AttrSchema::computed("region", String).describe("The region the bucket lives in."),
        ],
        taggable: true,
        id_attribute: "bucket",
        normalize: Some(normalize),
        example: "assets:\n  type: aws.s3.bucket\n  properties:\n    bucket: example-app-assets\n    \
                  versioning: true\n    encryption:\n      sse_algorithm: aws:kms\n      \
                  kms_key_id: ${key.arn}\n      bucket_key_enabled: true\n    lifecycle_rules:\n      \
                  - id: expire-logs\n        prefix: logs/\n        expiration_days: 90\n        \
                  transitions:\n          - { days: 30, storage_class: STANDARD_IA }\n    \
                  tags:\n      team: web\n",
    }
}

// ---------------------------------------------------------------------------------------
// Values: one canonical form for `encryption` and `lifecycle_rules`, whichever side wrote them.

fn field<'a>(m: &'a BTreeMap<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).filter(|v| !v.is_null())
}

fn field_str(m: &BTreeMap<String, Value>, name: &str) -> Option<String> {
    match field(m, name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

fn field_int(m: &BTreeMap<String, Value>, name: &str) -> Option<i64> {
    match field(m, name)? {
        Value::String(s) => s.parse().ok(),
        v => v.as_i64(),
    }
}

fn field_bool(m: &BTreeMap<String, Value>, name: &str) -> Option<bool> {
    match field(m, name)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// A map of the present values only.
fn obj(pairs: Vec<(&str, Option<Value>)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect(),
    )
}

fn normal_encryption(m: &BTreeMap<String, Value>) -> Value {
    obj(vec![
        (
            "sse_algorithm",
            field_str(m, "sse_algorithm").map(Value::string),
        ),
        ("kms_key_id", field_str(m, "kms_key_id").map(Value::string)),
        (
            "bucket_key_enabled",
            Some(Value::Bool(
                field_bool(m, "bucket_key_enabled").unwrap_or(false),
            )),
        ),
    ])
}

fn normal_rule(m: &BTreeMap<String, Value>) -> Value {
    let transitions: Vec<Value> = field(m, "transitions")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_map)
        .map(|t| {
            obj(vec![
                ("days", field_int(t, "days").map(Value::int)),
                (
                    "storage_class",
                    field_str(t, "storage_class").map(Value::string),
                ),
            ])
        })
        .collect();
    let int = |name: &str| field_int(m, name).map(Value::int);
    obj(vec![
        ("id", field_str(m, "id").map(Value::string)),
        (
            "enabled",
            Some(Value::Bool(field_bool(m, "enabled").unwrap_or(true))),
        ),
        ("prefix", field_str(m, "prefix").map(Value::string)),
        ("expiration_days", int("expiration_days")),
        (
            "noncurrent_version_expiration_days",
            int("noncurrent_version_expiration_days"),
        ),
        (
            "transitions",
            (!transitions.is_empty()).then_some(Value::List(transitions)),
        ),
        (
            "abort_incomplete_multipart_upload_days",
            int("abort_incomplete_multipart_upload_days"),
        ),
    ])
}

/// The schema's normalizer: `encryption` with `bucket_key_enabled` filled in, and
/// `lifecycle_rules` with defaults filled, empty parts dropped, numbers as numbers and
/// sorted by id. Anything unreadable or not yet known is returned unchanged.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match (attr, value) {
        ("encryption", Value::Map(m)) => normal_encryption(m),
        ("lifecycle_rules", Value::List(rules)) => {
            if rules.iter().any(|r| r.as_map().is_none()) {
                return value.clone();
            }
            let mut out: Vec<Value> = rules
                .iter()
                .filter_map(Value::as_map)
                .map(normal_rule)
                .collect();
            out.sort_by_key(|r| {
                r.as_map()
                    .and_then(|m| field_str(m, "id"))
                    .unwrap_or_default()
            });
            Value::List(out)
        }
        _ => value.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// Inputs as S3 wants them.

fn invalid(msg: impl Into<String>) -> ProviderError {
    ProviderError::Invalid(msg.into())
}

fn to_i32(n: i64, name: &str) -> Result<i32, ProviderError> {
    i32::try_from(n).map_err(|_| invalid(format!("`{name}` is out of range")))
}

fn encryption_config(v: &Value) -> Result<ServerSideEncryptionConfiguration, ProviderError> {
    let m = v
        .as_map()
        .ok_or_else(|| invalid("`encryption` must be a map"))?;
    let algorithm = field_str(m, "sse_algorithm")
        .ok_or_else(|| invalid("`encryption.sse_algorithm` is required (aws:kms or AES256)"))?;
    if !["aws:kms", "AES256", "aws:kms:dsse"].contains(&algorithm.as_str()) {
        return Err(invalid(format!(
            "`encryption.sse_algorithm` must be aws:kms or AES256, not {algorithm}"
        )));
    }
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::from(algorithm.as_str()))
        .set_kms_master_key_id(field_str(m, "kms_key_id"))
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .bucket_key_enabled(field_bool(m, "bucket_key_enabled").unwrap_or(false))
        .build();
    ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| invalid(e.to_string()))
}

fn lifecycle_rule(v: &Value) -> Result<LifecycleRule, ProviderError> {
    let m = v
        .as_map()
        .ok_or_else(|| invalid("each of `lifecycle_rules` must be a map"))?;
    let id = field_str(m, "id").ok_or_else(|| {
        invalid("each lifecycle rule needs an `id` (S3 would invent one, seen as drift)")
    })?;
    let days = |name: &str| -> Result<Option<i32>, ProviderError> {
        field_int(m, name).map(|n| to_i32(n, name)).transpose()
    };
    let status = if field_bool(m, "enabled").unwrap_or(true) {
        ExpirationStatus::Enabled
    } else {
        ExpirationStatus::Disabled
    };
    let mut rule = LifecycleRule::builder().id(&id).status(status).filter(
        LifecycleRuleFilter::builder()
            .prefix(field_str(m, "prefix").unwrap_or_default())
            .build(),
    );
    if let Some(d) = days("expiration_days")? {
        rule = rule.expiration(LifecycleExpiration::builder().days(d).build());
    }
    if let Some(d) = days("noncurrent_version_expiration_days")? {
        rule = rule.noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(d)
                .build(),
        );
    }
    if let Some(d) = days("abort_incomplete_multipart_upload_days")? {
        rule = rule.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(d)
                .build(),
        );
    }
    for t in field(m, "transitions")
        .and_then(Value::as_list)
        .unwrap_or_default()
    {
        let t = t
            .as_map()
            .ok_or_else(|| invalid(format!("rule {id}: each transition must be a map")))?;
        let days = field_int(t, "days")
            .ok_or_else(|| invalid(format!("rule {id}: a transition needs `days`")))?;
        let class = field_str(t, "storage_class")
            .ok_or_else(|| invalid(format!("rule {id}: a transition needs `storage_class`")))?;
        rule = rule.transitions(
            Transition::builder()
                .days(to_i32(days, "transitions.days")?)
                .storage_class(TransitionStorageClass::from(class.as_str()))
                .build(),
        );
    }
    rule.build().map_err(|e| invalid(e.to_string()))
}

/// The `tags` input as S3 tags (ownership tag values encoded into the characters S3
/// allows).
fn sdk_tags(inputs: &Attributes) -> Result<Vec<Tag>, ProviderError> {
    aws_tags_from_inputs(inputs)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| invalid(e.to_string()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// S3 as terrane's attributes.

/// The partition's ARN prefix and DNS suffix of a region.
fn partition(region: &str) -> (&'static str, &'static str) {
    if region.starts_with("cn-") {
        ("aws-cn", "amazonaws.com.cn")
    } else if region.starts_with("us-gov-") {
        ("aws-us-gov", "amazonaws.com")
    } else {
        ("aws", "amazonaws.com")
    }
}

fn encryption_value(c: &ServerSideEncryptionConfiguration) -> Option<Value> {
    let rule = c.rules().first()?;
    let d = rule.apply_server_side_encryption_by_default()?;
    Some(obj(vec![
        (
            "sse_algorithm",
            Some(Value::string(d.sse_algorithm().as_str())),
        ),
        ("kms_key_id", d.kms_master_key_id().map(Value::string)),
        (
            "bucket_key_enabled",
            Some(Value::Bool(rule.bucket_key_enabled().unwrap_or(false))),
        ),
    ]))
}

fn rule_value(r: &LifecycleRule) -> Value {
    #[allow(deprecated)]
    let prefix = r
        .filter()
        .and_then(|f| f.prefix())
        .or(r.prefix())
        .filter(|p| !p.is_empty());
    let transitions: Vec<Value> = r
        .transitions()
        .iter()
        .map(|t| {
            obj(vec![
                ("days", t.days().map(|d| Value::int(d.into()))),
                (
                    "storage_class",
                    t.storage_class().map(|c| Value::string(c.as_str())),
                ),
            ])
        })
        .collect();
    let int = |d: Option<i32>| d.map(|d| Value::int(d.into()));
    obj(vec![
        ("id", r.id().map(Value::string)),
        (
            "enabled",
            Some(Value::Bool(*r.status() == ExpirationStatus::Enabled)),
        ),
        ("prefix", prefix.map(Value::string)),
        (
            "expiration_days",
            int(r.expiration().and_then(|e| e.days())),
        ),
        (
            "noncurrent_version_expiration_days",
            int(r
                .noncurrent_version_expiration()
                .and_then(|e| e.noncurrent_days())),
        ),
        (
            "transitions",
            (!transitions.is_empty()).then_some(Value::List(transitions)),
        ),
        (
            "abort_incomplete_multipart_upload_days",
            int(r
                .abort_incomplete_multipart_upload()
                .and_then(|a| a.days_after_initiation())),
        ),
    ])
}

fn public_access_blocked(c: &PublicAccessBlockConfiguration) -> bool {
    c.block_public_acls() == Some(true)
        && c.ignore_public_acls() == Some(true)
        && c.block_public_policy() == Some(true)
        && c.restrict_public_buckets() == Some(true)
}

/// One sub-configuration read: present, absent ("no such configuration"), or the bucket
/// itself is gone.
enum Read<T> {
    Found(T),
    Absent,
    BucketGone,
}

fn read<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
    absent: &[&str],
) -> Result<Read<T>, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Read::Found(out)),
        Err(e) => {
            let e = AwsError::from_sdk(e);
            if e.is(&[NO_SUCH_BUCKET]) {
                Ok(Read::BucketGone)
            } else if e.is(absent) {
                Ok(Read::Absent)
            } else {
                Err(e.into_provider(operation))
            }
        }
    }
}

/// A bucket's tags; `None` when the bucket is gone.
async fn bucket_tags(
    client: &aws_sdk_s3::Client,
    name: &str,
) -> Result<Option<Value>, ProviderError> {
    let result = client.get_bucket_tagging().bucket(name).send().await;
    Ok(match read("GetBucketTagging", result, &["NoSuchTagSet"])? {
        Read::Found(out) => Some(decoded_tags_value(
            out.tag_set()
                .iter()
                .map(|t| (t.key(), t.value()))
                .filter(|(k, _)| !k.starts_with("aws:")),
        )),
        Read::Absent => Some(Value::Map(BTreeMap::new())),
        Read::BucketGone => None,
    })
}

/// Everything about one bucket: seven reads in flight at once (S3 answers each part of a
/// bucket's configuration separately, and for one bucket only). `None` when it is gone.
async fn read_bucket(
    client: &aws_sdk_s3::Client,
    region: &str,
    name: &str,
) -> Result<Option<Attributes>, ProviderError> {
    let (versioning, encryption, lifecycle, policy, public, ownership, tags) = tokio::try_join!(
        async {
            read(
                "GetBucketVersioning",
                client.get_bucket_versioning().bucket(name).send().await,
                &[],
            )
        },
        async {
            read(
                "GetBucketEncryption",
                client.get_bucket_encryption().bucket(name).send().await,
                &["ServerSideEncryptionConfigurationNotFoundError"],
            )
        },
        async {
            read(
                "GetBucketLifecycleConfiguration",
                client
                    .get_bucket_lifecycle_configuration()
                    .bucket(name)
                    .send()
                    .await,
                &["NoSuchLifecycleConfiguration"],
            )
        },
        async {
            read(
                "GetBucketPolicy",
                client.get_bucket_policy().bucket(name).send().await,
                &["NoSuchBucketPolicy"],
            )
        },
        async {
            read(
                "GetPublicAccessBlock",
                client.get_public_access_block().bucket(name).send().await,
                &["NoSuchPublicAccessBlockConfiguration"],
            )
        },
        async {
            read(
                "GetBucketOwnershipControls",
                client
                    .get_bucket_ownership_controls()
                    .bucket(name)
                    .send()
                    .await,
                &["OwnershipControlsNotFoundError"],
            )
        },
        bucket_tags(client, name),
    )?;
    let Some(tags) = tags else {
        return Ok(None);
    };
    let (partition, dns) = partition(region);
    let mut a = Attributes::new();
    a.insert("bucket".into(), Value::string(name));
    a.insert(
        "arn".into(),
        Value::string(format!("arn:{partition}:s3:::{name}")),
    );
    a.insert(
        "bucket_regional_domain_name".into(),
        Value::string(format!("{name}.s3.{region}.{dns}")),
    );
    a.insert("region".into(), Value::string(region));
    a.insert("tags".into(), tags);
    match versioning {
        Read::Found(v) => {
            a.insert(
                "versioning".into(),
                Value::Bool(v.status() == Some(&BucketVersioningStatus::Enabled)),
            );
        }
        Read::Absent => {}
        Read::BucketGone => return Ok(None),
    }
    match encryption {
        Read::Found(e) => {
            if let Some(v) = e
                .server_side_encryption_configuration()
                .and_then(encryption_value)
            {
                a.insert("encryption".into(), v);
            }
        }
        Read::Absent => {}
        Read::BucketGone => return Ok(None),
    }
    match lifecycle {
        Read::Found(l) => {
            a.insert(
                "lifecycle_rules".into(),
                Value::List(l.rules().iter().map(rule_value).collect()),
            );
        }
        Read::Absent => {
            a.insert("lifecycle_rules".into(), Value::List(Vec::new()));
        }
        Read::BucketGone => return Ok(None),
    }
    match policy {
        Read::Found(p) => {
            if let Some(text) = p.policy() {
                a.insert("policy".into(), json_value(text));
            }
        }
        Read::Absent => {}
        Read::BucketGone => return Ok(None),
    }
    match public {
        Read::Found(p) => {
            a.insert(
                "block_public_access".into(),
                Value::Bool(
                    p.public_access_block_configuration()
                        .is_some_and(public_access_blocked),
                ),
            );
        }
        Read::Absent => {
            a.insert("block_public_access".into(), Value::Bool(false));
        }
        Read::BucketGone => return Ok(None),
    }
    match ownership {
        Read::Found(o) => {
            if let Some(rule) = o.ownership_controls().and_then(|c| c.rules().first()) {
                a.insert(
                    "object_ownership".into(),
                    Value::string(rule.object_ownership().as_str()),
                );
            }
        }
        Read::Absent => {}
        Read::BucketGone => return Ok(None),
    }
    Ok(Some(a))
}

impl Bucket {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Bucket {
            clients,
            schema: schema(),
        }
    }

    /// The names of the account's buckets in `region`: one paginated ListBuckets, filtered
    /// by region on AWS's side.
    async fn names(&self, region: &str) -> Result<Vec<String>, ProviderError> {
        let buckets: Vec<aws_sdk_s3::types::Bucket> = crate::client(&self.clients, region)
            .list_buckets()
            .bucket_region(region)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListBuckets"))?;
        Ok(buckets
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect())
    }

    /// These buckets read in full, a few at a time; those gone in between are left out.
    async fn read_all(
        &self,
        region: &str,
        names: Vec<String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        futures::stream::iter(names.into_iter().map(|name| {
            let client = client.clone();
            async move {
                Ok::<_, ProviderError>(
                    read_bucket(&client, region, &name)
                        .await?
                        .map(|a| (name, a)),
                )
            }
        }))
        .buffer_unordered(READ_CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
    }

    async fn read_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        let client = crate::client(&self.clients, region);
        read_bucket(&client, region, name)
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("bucket {name}")))
    }

    /// Applies the named attributes from `inputs` to the bucket, in an order that works:
    /// the public access block before the policy (a public policy needs the block off).
    async fn apply(
        &self,
        client: &aws_sdk_s3::Client,
        name: &str,
        inputs: &Attributes,
        attrs: &[&str],
    ) -> Result<(), ProviderError> {
        let wants = |a: &str| attrs.contains(&a);
        if wants("block_public_access") {
            if input_bool(inputs, "block_public_access")?.unwrap_or(true) {
                client
                    .put_public_access_block()
                    .bucket(name)
                    .public_access_block_configuration(
                        PublicAccessBlockConfiguration::builder()
                            .block_public_acls(true)
                            .ignore_public_acls(true)
                            .block_public_policy(true)
                            .restrict_public_buckets(true)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(api_error("PutPublicAccessBlock"))?;
            } else {
                gone_is_ok(
                    "DeletePublicAccessBlock",
                    client
                        .delete_public_access_block()
                        .bucket(name)
                        .send()
                        .await,
                    &["NoSuchPublicAccessBlockConfiguration"],
                )?;
            }
        }
        if wants("object_ownership") {
            match input_str(inputs, "object_ownership") {
                Some(o) => {
                    let rule = OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::from(o.as_str()))
                        .build()
                        .map_err(|e| invalid(e.to_string()))?;
                    client
                        .put_bucket_ownership_controls()
                        .bucket(name)
                        .ownership_controls(
                            OwnershipControls::builder()
                                .rules(rule)
                                .build()
                                .map_err(|e| invalid(e.to_string()))?,
                        )
                        .send()
                        .await
                        .map_err(api_error("PutBucketOwnershipControls"))?;
                }
                None => gone_is_ok(
                    "DeleteBucketOwnershipControls",
                    client
                        .delete_bucket_ownership_controls()
                        .bucket(name)
                        .send()
                        .await,
                    &["OwnershipControlsNotFoundError"],
                )?,
            }
        }
        if wants("encryption") {
            match inputs.get("encryption").filter(|v| !v.is_null()) {
                Some(v) => {
                    client
                        .put_bucket_encryption()
                        .bucket(name)
                        .server_side_encryption_configuration(encryption_config(v)?)
                        .send()
                        .await
                        .map_err(api_error("PutBucketEncryption"))?;
                }
                None => gone_is_ok(
                    "DeleteBucketEncryption",
                    client.delete_bucket_encryption().bucket(name).send().await,
                    &["ServerSideEncryptionConfigurationNotFoundError"],
                )?,
            }
        }
        if wants("versioning")
            && let Some(on) = input_bool(inputs, "versioning")?
        {
            let status = if on {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            client
                .put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(api_error("PutBucketVersioning"))?;
        }
        if wants("lifecycle_rules") {
            let rules = inputs
                .get("lifecycle_rules")
                .and_then(Value::as_list)
                .unwrap_or_default()
                .iter()
                .map(lifecycle_rule)
                .collect::<Result<Vec<_>, _>>()?;
            if rules.is_empty() {
                gone_is_ok(
                    "DeleteBucketLifecycle",
                    client.delete_bucket_lifecycle().bucket(name).send().await,
                    &["NoSuchLifecycleConfiguration"],
                )?;
            } else {
                client
                    .put_bucket_lifecycle_configuration()
                    .bucket(name)
                    .lifecycle_configuration(
                        BucketLifecycleConfiguration::builder()
                            .set_rules(Some(rules))
                            .build()
                            .map_err(|e| invalid(e.to_string()))?,
                    )
                    .send()
                    .await
                    .map_err(api_error("PutBucketLifecycleConfiguration"))?;
            }
        }
        if wants("policy") {
            match input_json(inputs, "policy")? {
                Some(policy) => {
                    client
                        .put_bucket_policy()
                        .bucket(name)
                        .policy(policy)
                        .send()
                        .await
                        .map_err(api_error("PutBucketPolicy"))?;
                }
                None => gone_is_ok(
                    "DeleteBucketPolicy",
                    client.delete_bucket_policy().bucket(name).send().await,
                    &["NoSuchBucketPolicy"],
                )?,
            }
        }
        if wants("tags") {
            let tags = sdk_tags(inputs)?;
            if tags.is_empty() {
                client
                    .delete_bucket_tagging()
                    .bucket(name)
                    .send()
                    .await
                    .map_err(api_error("DeleteBucketTagging"))?;
            } else {
                client
                    .put_bucket_tagging()
                    .bucket(name)
                    .tagging(
                        Tagging::builder()
                            .set_tag_set(Some(tags))
                            .build()
                            .map_err(|e| invalid(e.to_string()))?,
                    )
                    .send()
                    .await
                    .map_err(api_error("PutBucketTagging"))?;
            }
        }
        Ok(())
    }

    /// Deletes every object version, delete marker and (unversioned) object of the bucket:
    /// one ListObjectVersions page, then one DeleteObjects, at a time.
    async fn empty(&self, client: &aws_sdk_s3::Client, name: &str) -> Result<(), ProviderError> {
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page = match client
                .list_object_versions()
                .bucket(name)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    let e = AwsError::from_sdk(e);
                    if e.is(&[NO_SUCH_BUCKET]) {
                        return Ok(());
                    }
                    return Err(e.into_provider("ListObjectVersions"));
                }
            };
            let ids = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    page.delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                )
                .filter_map(|(k, v)| {
                    ObjectIdentifier::builder()
                        .set_key(k.map(str::to_string))
                        .set_version_id(v.map(str::to_string))
                        .build()
                        .ok()
                })
                .collect::<Vec<_>>();
            for batch in ids.chunks(DELETE_BATCH) {
                let out = client
                    .delete_objects()
                    .bucket(name)
                    .delete(
                        Delete::builder()
                            .set_objects(Some(batch.to_vec()))
                            .quiet(true)
                            .build()
                            .map_err(|e| invalid(e.to_string()))?,
                    )
                    .send()
                    .await
                    .map_err(api_error("DeleteObjects"))?;
                if let Some(err) = out.errors().first() {
                    return Err(ProviderError::api(
                        "DeleteObjects",
                        format!(
                            "{} object(s) not deleted from {name}, e.g. {}: {}",
                            out.errors().len(),
                            err.key().unwrap_or("?"),
                            err.message().unwrap_or("no message")
                        ),
                    ));
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            if key_marker.is_none() && version_marker.is_none() {
                return Ok(());
            }
        }
    }
}

/// The settable attributes applied after CreateBucket.
const CONFIGURATION: &[&str] = &[
    "block_public_access",
    "encryption",
    "versioning",
    "lifecycle_rules",
    "policy",
];

#[async_trait]
impl ResourceType for Bucket {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// One ListBuckets for the region, then each wanted bucket's configuration read
    /// concurrently (S3 has no batched read of it).
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let ids = wanted(req.ids);
        let names: Vec<String> = self
            .names(req.region)
            .await?
            .into_iter()
            .filter(|n| ids.contains(n.as_str()))
            .collect();
        let found = self.read_all(req.region, names).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let name = require_str(inputs, "bucket")?;
        let client = crate::client(&self.clients, req.region);
        let tags = sdk_tags(inputs)?;
        // Outside us-east-1 the region must be named; in us-east-1 it must not be.
        let location =
            (req.region != "us-east-1").then(|| BucketLocationConstraint::from(req.region));
        let configuration = CreateBucketConfiguration::builder()
            .set_location_constraint(location)
            .set_tags((!tags.is_empty()).then_some(tags))
            .build();
        client
            .create_bucket()
            .bucket(&name)
            .create_bucket_configuration(configuration)
            .set_object_ownership(
                input_str(inputs, "object_ownership").map(|o| ObjectOwnership::from(o.as_str())),
            )
            .send()
            .await
            .map_err(api_error("CreateBucket"))?;
        // A new bucket has never been versioned: `versioning: false` needs no call.
        let versioning_off = input_bool(inputs, "versioning")? == Some(false);
        let settable: Vec<&str> = CONFIGURATION
            .iter()
            .copied()
            .filter(|a| *a == "block_public_access" || inputs.contains_key(*a))
            .filter(|a| !(*a == "versioning" && versioning_off))
            .collect();
        self.apply(&client, &name, inputs, &settable).await?;
        let mut attributes = self.read_one(req.region, &name).await?;
        // Tags given to CreateBucket are applied with it; S3-compatible endpoints that do
        // not know create-time tags yet drop them, so they are put again if missing.
        let want = tags_value(
            tags_from_inputs(inputs)
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        if attributes.get("tags") != Some(&want) {
            self.apply(&client, &name, inputs, &["tags"]).await?;
            attributes = self.read_one(req.region, &name).await?;
        }
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed: Vec<&str> = req.changed.iter().map(String::as_str).collect();
        // `force_destroy` is terrane's own: nothing to change in AWS.
        self.apply(&client, req.id, req.inputs, &changed).await?;
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        if input_bool(req.prior, "force_destroy")?.unwrap_or(false) {
            self.empty(&client, req.id).await?;
        }
        match client.delete_bucket().bucket(req.id).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(&[NO_SUCH_BUCKET]) {
                    Ok(())
                } else if e.is(&["BucketNotEmpty"]) {
                    Err(ProviderError::api(
                        "DeleteBucket",
                        format!(
                            "bucket {} is not empty; empty it, or set `force_destroy: true` to have terrane delete its objects",
                            req.id
                        ),
                    ))
                } else {
                    Err(e.into_provider("DeleteBucket"))
                }
            }
        }
    }

    /// ListBuckets for the region, each bucket's tags read concurrently (S3 has no tag
    /// filter on buckets), then the owned ones read in full.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let names = self.names(req.region).await?;
        let owned: Vec<String> = futures::stream::iter(names.into_iter().map(|name| {
            let client = client.clone();
            async move {
                let tags = bucket_tags(&client, &name).await?;
                Ok::<_, ProviderError>(tags.map(|t| (name, t)))
            }
        }))
        .buffer_unordered(READ_CONCURRENCY * 4)
        .try_filter_map(|x| async move { Ok(x) })
        .try_filter_map(|(name, tags)| {
            let attrs: Attributes = [("tags".to_string(), tags)].into();
            let keep = is_owned(&req, &attrs);
            async move { Ok(keep.then_some(name)) }
        })
        .try_collect()
        .await?;
        self.read_all(req.region, owned).await
    }
}
