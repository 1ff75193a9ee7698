//! `aws.dynamodb.table`: a DynamoDB table, with its global secondary indexes, stream,
//! encryption, point-in-time recovery, TTL, deletion protection and global-table replicas
//! (version 2019.11.21).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction,
    CreateReplicationGroupMemberAction, DeleteGlobalSecondaryIndexAction,
    DeleteReplicationGroupMemberAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    IndexStatus, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, Projection,
    ProjectionType, ProvisionedThroughput, ReplicaStatus, ReplicationGroupUpdate,
    ScalarAttributeType, SseSpecification, SseStatus, SseType, StreamSpecification, StreamViewType,
    TableDescription, TableStatus, Tag, TimeToLiveSpecification, TimeToLiveStatus,
    UpdateGlobalSecondaryIndexAction,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::{AwsError, api_error, waiter_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, built, input_bool, input_i64, input_str, input_strings, owned_by, require_str,
    tag_map, value_str,
};

pub const TYPE_NAME: &str = "aws.dynamodb.table";

const NOT_FOUND: &str = "ResourceNotFoundException";

/// Per-table reads in flight at once during an observe.
const CONCURRENCY: usize = 8;

/// How long a create, an index or replica change, or a delete may take to settle.
const WAIT: Duration = Duration::from_secs(30 * 60);

/// Between two polls of the index and replica waiter.
const POLL: Duration = Duration::from_secs(5);

pub struct Table {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A DynamoDB table, with its global secondary indexes, stream, encryption, \
                      point-in-time recovery, TTL and global-table replicas.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The table's name, unique in the region."),
            AttrSchema::optional("billing_mode", String)
                .default(DefaultValue::Str("PAY_PER_REQUEST"))
                .describe("`PAY_PER_REQUEST` (on demand) or `PROVISIONED`; changes in place."),
            AttrSchema::optional("read_capacity", Number)
                .describe("Read capacity units, with `billing_mode: PROVISIONED`."),
            AttrSchema::optional("write_capacity", Number)
                .describe("Write capacity units, with `billing_mode: PROVISIONED`."),
            AttrSchema::required("hash_key", String)
                .forces_replacement()
                .describe("The partition key attribute; its type is given in `attributes`."),
            AttrSchema::optional("range_key", String)
                .forces_replacement()
                .describe("The sort key attribute, if any; its type is given in `attributes`."),
            AttrSchema::required("attributes", List)
                .unordered()
                .describe(
                    "The key attributes of the table and its indexes: `{name, type}` with \
                     type `S`, `N` or `B`.",
                ),
            AttrSchema::optional("global_secondary_indexes", List)
                .unordered()
                .describe(
                    "Global secondary indexes: `{name, hash_key, range_key, projection_type \
                     (ALL | KEYS_ONLY | INCLUDE, default ALL), non_key_attributes, \
                     read_capacity, write_capacity}`. Added, removed and resized in place.",
                ),
            AttrSchema::optional("stream_enabled", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether the table has a DynamoDB stream."),
            AttrSchema::optional("stream_view_type", String).describe(
                "What the stream carries: `KEYS_ONLY`, `NEW_IMAGE`, `OLD_IMAGE` or \
                 `NEW_AND_OLD_IMAGES`.",
            ),
            AttrSchema::optional("sse_enabled", Bool)
                .default(DefaultValue::Bool(false))
                .describe(
                    "Encryption with a KMS key (`true`) rather than the AWS-owned key (`false`).",
                ),
            AttrSchema::optional("sse_kms_key_arn", String).describe(
                "The KMS key of `sse_enabled: true`; AWS's managed key `aws/dynamodb` when unset.",
            ),
            AttrSchema::optional("point_in_time_recovery", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Continuous backups with point-in-time recovery."),
            AttrSchema::optional("ttl_attribute", String).describe(
                "The attribute holding each item's expiry time; an empty string turns TTL off.",
            ),
            AttrSchema::optional("deletion_protection", Bool)
                .default(DefaultValue::Bool(false))
                .describe("Whether AWS refuses to delete the table."),
            AttrSchema::optional("replicas", List).unordered().describe(
                "Other regions holding a replica (global tables 2019.11.21); needs \
                 `stream_view_type: NEW_AND_OLD_IMAGES`.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the table."),
            AttrSchema::computed("id", String).describe("The table's name."),
            AttrSchema::computed("arn", String).describe("The table's ARN."),
            AttrSchema::computed("stream_arn", String)
                .describe("The ARN of the table's latest stream, when it has one."),
            AttrSchema::computed("status", String)
                .describe("The table's status: CREATING, ACTIVE, UPDATING..."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "orders:\n  type: aws.dynamodb.table\n  properties:\n    name: orders\n    \
                  hash_key: pk\n    range_key: sk\n    attributes:\n      - { name: pk, type: S }\n      \
                  - { name: sk, type: S }\n      - { name: customer, type: S }\n    \
                  global_secondary_indexes:\n      - { name: by-customer, hash_key: customer }\n    \
                  stream_enabled: true\n    stream_view_type: NEW_AND_OLD_IMAGES\n    \
                  point_in_time_recovery: true\n    ttl_attribute: expires_at\n    \
                  tags:\n      team: orders\n",
    }
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn field<'a>(m: &'a BTreeMap<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).filter(|v| !v.is_null())
}

fn field_str(m: &BTreeMap<String, Value>, name: &str) -> Option<String> {
    field(m, name).and_then(value_str)
}

/// The schema's normalizer: `attributes`, `global_secondary_indexes` and `replicas` in one
/// canonical form (sorted, defaults filled, types upper case), whichever side wrote them.
/// Anything unreadable or not yet known is returned unchanged.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    let Some(list) = value.as_list() else {
        return value.clone();
    };
    match attr {
        "attributes" => {
            let mut out: Vec<Value> = Vec::new();
            for a in list {
                let Some(m) = a.as_map() else {
                    return value.clone();
                };
                out.push(obj(vec![
                    ("name", field(m, "name").cloned().unwrap_or(Value::Null)),
                    (
                        "type",
                        field_str(m, "type")
                            .map(|t| Value::string(t.to_uppercase()))
                            .unwrap_or(Value::Null),
                    ),
                ]));
            }
            out.sort_by_key(sort_key);
            Value::List(out)
        }
        "global_secondary_indexes" => {
            let mut out: Vec<Value> = Vec::new();
            for a in list {
                let Some(m) = a.as_map() else {
                    return value.clone();
                };
                out.push(gsi_value(&Gsi::from_map(m)));
            }
            out.sort_by_key(sort_key);
            Value::List(out)
        }
        "replicas" => {
            let mut out: Vec<Value> = list.to_vec();
            out.sort_by_key(|v| v.to_string());
            out.dedup();
            Value::List(out)
        }
        _ => value.clone(),
    }
}

/// Sorts maps by their `name`, then by their whole text.
fn sort_key(v: &Value) -> (String, String) {
    let name = v
        .as_map()
        .and_then(|m| field_str(m, "name"))
        .unwrap_or_default();
    (name, v.to_string())
}

/// One global secondary index, as the stack writes it.
#[derive(Clone, Debug, PartialEq)]
struct Gsi {
    name: String,
    hash_key: String,
    range_key: Option<String>,
    projection_type: String,
    non_key_attributes: Vec<String>,
    read_capacity: Option<i64>,
    write_capacity: Option<i64>,
}

impl Gsi {
    fn from_map(m: &BTreeMap<String, Value>) -> Gsi {
        let mut non_key: Vec<String> = field(m, "non_key_attributes")
            .and_then(Value::as_list)
            .map(|l| l.iter().filter_map(value_str).collect())
            .unwrap_or_default();
        non_key.sort();
        let capacity = |name: &str| field(m, name).and_then(Value::as_i64).filter(|n| *n > 0);
        Gsi {
            name: field_str(m, "name").unwrap_or_default(),
            hash_key: field_str(m, "hash_key").unwrap_or_default(),
            range_key: field_str(m, "range_key"),
            projection_type: field_str(m, "projection_type")
                .map(|p| p.to_uppercase())
                .unwrap_or_else(|| "ALL".into()),
            non_key_attributes: non_key,
            read_capacity: capacity("read_capacity"),
            write_capacity: capacity("write_capacity"),
        }
    }

    fn key_schema(&self) -> Result<Vec<KeySchemaElement>, ProviderError> {
        key_schema(&self.hash_key, self.range_key.as_deref())
    }

    fn projection(&self) -> Projection {
        Projection::builder()
            .projection_type(ProjectionType::from(self.projection_type.as_str()))
            .set_non_key_attributes(
                (!self.non_key_attributes.is_empty()).then(|| self.non_key_attributes.clone()),
            )
            .build()
    }

    fn throughput(&self) -> Result<Option<ProvisionedThroughput>, ProviderError> {
        match (self.read_capacity, self.write_capacity) {
            (Some(r), Some(w)) => Ok(Some(built(
                ProvisionedThroughput::builder()
                    .read_capacity_units(r)
                    .write_capacity_units(w)
                    .build(),
            )?)),
            _ => Ok(None),
        }
    }

    /// Same index apart from its capacity (which changes in place).
    fn same_shape(&self, other: &Gsi) -> bool {
        self.hash_key == other.hash_key
            && self.range_key == other.range_key
            && self.projection_type == other.projection_type
            && self.non_key_attributes == other.non_key_attributes
    }
}

fn gsi_value(g: &Gsi) -> Value {
    obj(vec![
        ("name", Value::string(&g.name)),
        ("hash_key", Value::string(&g.hash_key)),
        (
            "range_key",
            g.range_key
                .as_deref()
                .map(Value::string)
                .unwrap_or(Value::Null),
        ),
        ("projection_type", Value::string(&g.projection_type)),
        (
            "non_key_attributes",
            if g.non_key_attributes.is_empty() {
                Value::Null
            } else {
                Value::List(g.non_key_attributes.iter().map(Value::string).collect())
            },
        ),
        (
            "read_capacity",
            g.read_capacity.map(Value::int).unwrap_or(Value::Null),
        ),
        (
            "write_capacity",
            g.write_capacity.map(Value::int).unwrap_or(Value::Null),
        ),
    ])
}

fn desired_gsis(inputs: &Attributes) -> Result<Vec<Gsi>, ProviderError> {
    match inputs.get("global_secondary_indexes") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(l)) => l
            .iter()
            .map(|v| {
                let m = v.as_map().ok_or_else(|| {
                    ProviderError::Invalid("each global secondary index must be a map".into())
                })?;
                let g = Gsi::from_map(m);
                if g.name.is_empty() || g.hash_key.is_empty() {
                    return Err(ProviderError::Invalid(
                        "a global secondary index needs `name` and `hash_key`".into(),
                    ));
                }
                Ok(g)
            })
            .collect(),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`global_secondary_indexes` must be a list, found a {}",
            other.type_name()
        ))),
    }
}

fn key_schema(hash: &str, range: Option<&str>) -> Result<Vec<KeySchemaElement>, ProviderError> {
    let mut keys = vec![built(
        KeySchemaElement::builder()
            .attribute_name(hash)
            .key_type(KeyType::Hash)
            .build(),
    )?];
    if let Some(r) = range {
        keys.push(built(
            KeySchemaElement::builder()
                .attribute_name(r)
                .key_type(KeyType::Range)
                .build(),
        )?);
    }
    Ok(keys)
}

fn attribute_definitions(inputs: &Attributes) -> Result<Vec<AttributeDefinition>, ProviderError> {
    let Some(list) = inputs.get("attributes").and_then(Value::as_list) else {
        return Err(ProviderError::Invalid("`attributes` must be a list".into()));
    };
    list.iter()
        .map(|a| {
            let m = a.as_map().ok_or_else(|| {
                ProviderError::Invalid("each of `attributes` must be a map {name, type}".into())
            })?;
            let name = field_str(m, "name")
                .ok_or_else(|| ProviderError::Invalid("an attribute without `name`".into()))?;
            let kind = field_str(m, "type").unwrap_or_else(|| "S".into());
            built(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::from(kind.to_uppercase().as_str()))
                    .build(),
            )
        })
        .collect()
}

fn billing_mode(inputs: &Attributes) -> String {
    input_str(inputs, "billing_mode").unwrap_or_else(|| "PAY_PER_REQUEST".into())
}

/// The table's throughput with `PROVISIONED` billing; none on demand.
fn table_throughput(inputs: &Attributes) -> Result<Option<ProvisionedThroughput>, ProviderError> {
    if billing_mode(inputs) != "PROVISIONED" {
        return Ok(None);
    }
    let read = input_i64(inputs, "read_capacity")?.unwrap_or(1);
    let write = input_i64(inputs, "write_capacity")?.unwrap_or(1);
    Ok(Some(built(
        ProvisionedThroughput::builder()
            .read_capacity_units(read)
            .write_capacity_units(write)
            .build(),
    )?))
}

fn stream_spec(inputs: &Attributes) -> Result<StreamSpecification, ProviderError> {
    let enabled = input_bool(inputs, "stream_enabled")?.unwrap_or(false);
    built(
        StreamSpecification::builder()
            .stream_enabled(enabled)
            .set_stream_view_type(
                enabled
                    .then(|| input_str(inputs, "stream_view_type"))
                    .flatten()
                    .map(|v| StreamViewType::from(v.as_str())),
            )
            .build(),
    )
}

fn sse_spec(inputs: &Attributes) -> Result<SseSpecification, ProviderError> {
    let enabled = input_bool(inputs, "sse_enabled")?.unwrap_or(false);
    let key = input_str(inputs, "sse_kms_key_arn").filter(|k| !k.is_empty());
    Ok(SseSpecification::builder()
        .enabled(enabled)
        .set_sse_type(enabled.then_some(SseType::Kms))
        .set_kms_master_key_id(if enabled { key } else { None })
        .build())
}

fn sdk_tags(inputs: &Attributes) -> Result<Option<Vec<Tag>>, ProviderError> {
    let tags = tag_map(inputs)
        .into_iter()
        .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!tags.is_empty()).then_some(tags))
}

/// The live attributes of one table: DescribeTable for most, plus the three reads that
/// DynamoDB only answers one table at a time (tags, continuous backups, TTL).
async fn read_table(
    client: &aws_sdk_dynamodb::Client,
    region: &str,
    name: &str,
) -> Result<Option<Attributes>, ProviderError> {
    let table = match client.describe_table().table_name(name).send().await {
        Ok(out) => match out.table {
            Some(t) => t,
            None => return Ok(None),
        },
        Err(e) => {
            let e = AwsError::from_sdk(e);
            if e.is(&[NOT_FOUND]) {
                return Ok(None);
            }
            return Err(e.into_provider("DescribeTable"));
        }
    };
    if table.table_status() == Some(&TableStatus::Deleting) {
        return Ok(None);
    }
    let mut attrs = describe_attributes(&table, region);
    let Some(arn) = table.table_arn() else {
        return Ok(Some(attrs));
    };
    let (tags, backups, ttl) = futures::join!(
        read_tags(client, arn),
        client.describe_continuous_backups().table_name(name).send(),
        client.describe_time_to_live().table_name(name).send(),
    );
    attrs.insert("tags".into(), tags?);
    let pitr = match backups {
        Ok(out) => out
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .is_some_and(|s| s.as_str() == "ENABLED"),
        Err(e) => {
            let e = AwsError::from_sdk(e);
            if e.is(&["TableNotFoundException", NOT_FOUND]) {
                return Ok(None);
            }
            return Err(e.into_provider("DescribeContinuousBackups"));
        }
    };
    attrs.insert("point_in_time_recovery".into(), Value::Bool(pitr));
    let ttl = ttl.map_err(api_error("DescribeTimeToLive"))?;
    let ttl_attr = ttl
        .time_to_live_description()
        .filter(|d| {
            matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
        })
        .and_then(|d| d.attribute_name())
        .unwrap_or("");
    attrs.insert("ttl_attribute".into(), Value::string(ttl_attr));
    Ok(Some(attrs))
}

async fn read_tags(client: &aws_sdk_dynamodb::Client, arn: &str) -> Result<Value, ProviderError> {
    let mut tags = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(api_error("ListTagsOfResource"))?;
        for t in out.tags() {
            if !t.key().starts_with("aws:") {
                let value = terrane_aws_core::tags::decode_tag_value(t.key(), t.value());
                tags.insert(t.key().to_string(), Value::string(value));
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(Value::Map(tags))
}

/// What DescribeTable alone tells.
fn describe_attributes(t: &TableDescription, region: &str) -> Attributes {
    let mut a = Attributes::new();
    let name = t.table_name().unwrap_or_default();
    a.insert("id".into(), Value::string(name));
    a.insert("name".into(), Value::string(name));
    // A table that never changed billing mode may carry no summary: it is PROVISIONED.
    let mode = t
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "PROVISIONED".into());
    if mode == "PROVISIONED"
        && let Some(p) = t.provisioned_throughput()
    {
        if let Some(r) = p.read_capacity_units() {
            a.insert("read_capacity".into(), Value::int(r));
        }
        if let Some(w) = p.write_capacity_units() {
            a.insert("write_capacity".into(), Value::int(w));
        }
    }
    a.insert("billing_mode".into(), Value::string(mode));
    for k in t.key_schema() {
        let name = match k.key_type() {
            KeyType::Hash => "hash_key",
            KeyType::Range => "range_key",
            _ => continue,
        };
        a.insert(name.into(), Value::string(k.attribute_name()));
    }
    a.insert(
        "attributes".into(),
        normalize(
            "attributes",
            &Value::List(
                t.attribute_definitions()
                    .iter()
                    .map(|d| {
                        obj(vec![
                            ("name", Value::string(d.attribute_name())),
                            ("type", Value::string(d.attribute_type().as_str())),
                        ])
                    })
                    .collect(),
            ),
        ),
    );
    let gsis: Vec<Value> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let key = |kind: KeyType| {
                g.key_schema()
                    .iter()
                    .find(|k| *k.key_type() == kind)
                    .map(|k| k.attribute_name().to_string())
            };
            let p = g.projection();
            let capacity = |n: Option<i64>| n.filter(|n| *n > 0);
            gsi_value(&Gsi {
                name: g.index_name().unwrap_or_default().to_string(),
                hash_key: key(KeyType::Hash).unwrap_or_default(),
                range_key: key(KeyType::Range),
                projection_type: p
                    .and_then(|p| p.projection_type())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "ALL".into()),
                non_key_attributes: {
                    let mut v: Vec<String> = p
                        .map(|p| p.non_key_attributes().to_vec())
                        .unwrap_or_default();
                    v.sort();
                    v
                },
                read_capacity: capacity(
                    g.provisioned_throughput()
                        .and_then(|p| p.read_capacity_units()),
                ),
                write_capacity: capacity(
                    g.provisioned_throughput()
                        .and_then(|p| p.write_capacity_units()),
                ),
            })
        })
        .collect();
    a.insert(
        "global_secondary_indexes".into(),
        normalize("global_secondary_indexes", &Value::List(gsis)),
    );
    let stream = t.stream_specification();
    let stream_on = stream.is_some_and(|s| s.stream_enabled());
    a.insert("stream_enabled".into(), Value::Bool(stream_on));
    if stream_on && let Some(v) = stream.and_then(|s| s.stream_view_type()) {
        a.insert("stream_view_type".into(), Value::string(v.as_str()));
    }
    if stream_on && let Some(arn) = t.latest_stream_arn() {
        a.insert("stream_arn".into(), Value::string(arn));
    }
    let sse = t.sse_description();
    let sse_on = sse.is_some_and(|s| {
        matches!(
            s.status(),
            Some(SseStatus::Enabled | SseStatus::Enabling | SseStatus::Updating)
        )
    });
    a.insert("sse_enabled".into(), Value::Bool(sse_on));
    if sse_on && let Some(k) = sse.and_then(|s| s.kms_master_key_arn()) {
        a.insert("sse_kms_key_arn".into(), Value::string(k));
    }
    a.insert(
        "deletion_protection".into(),
        Value::Bool(t.deletion_protection_enabled().unwrap_or(false)),
    );
    // The replicas of a global table, without the region this table is read in.
    let replicas: Vec<Value> = t
        .replicas()
        .iter()
        .filter_map(|r| r.region_name())
        .filter(|r| *r != region)
        .map(Value::string)
        .collect();
    a.insert(
        "replicas".into(),
        normalize("replicas", &Value::List(replicas)),
    );
    if let Some(arn) = t.table_arn() {
        a.insert("arn".into(), Value::string(arn));
    }
    if let Some(s) = t.table_status() {
        a.insert("status".into(), Value::string(s.as_str()));
    }
    a
}

impl Table {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Table {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_dynamodb::Client {
        crate::client(&self.clients, region)
    }

    /// Every table name of the region: one paginated ListTables.
    async fn list_names(&self, region: &str) -> Result<BTreeSet<String>, ProviderError> {
        self.client(region)
            .list_tables()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map(|names| names.into_iter().collect())
            .map_err(api_error("ListTables"))
    }

    /// The tables named, read concurrently (DynamoDB has no batched describe).
    async fn read_many(
        &self,
        region: &str,
        names: impl IntoIterator<Item = String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(region);
        let read: Vec<(String, Option<Attributes>)> = futures::stream::iter(names)
            .map(|name| {
                let client = client.clone();
                async move {
                    let attrs = read_table(&client, region, &name).await?;
                    Ok::<_, ProviderError>((name, attrs))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(read
            .into_iter()
            .filter_map(|(n, a)| a.map(|a| (n, a)))
            .collect())
    }

    async fn read_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        read_table(&self.client(region), region, name)
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("table {name}")))
    }

    /// Waits until the table, every index and every replica are ACTIVE. DynamoDB's own
    /// waiter only looks at the table's status, while an index or a replica being built
    /// keeps the next index or replica change refused; this waiter polls DescribeTable,
    /// bounded by [`WAIT`].
    async fn wait_settled(&self, region: &str, name: &str) -> Result<(), ProviderError> {
        let client = self.client(region);
        client
            .wait_until_table_exists()
            .table_name(name)
            .wait(WAIT)
            .await
            .map_err(|e| waiter_error(&format!("wait for table {name} to be active"), e))?;
        let start = Instant::now();
        loop {
            let t = client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(api_error("DescribeTable"))?;
            let settled = t.table().is_some_and(|t| {
                t.table_status() == Some(&TableStatus::Active)
                    && t.global_secondary_indexes()
                        .iter()
                        .all(|g| g.index_status() == Some(&IndexStatus::Active))
                    && t.replicas()
                        .iter()
                        .all(|r| r.replica_status() == Some(&ReplicaStatus::Active))
            });
            if settled {
                return Ok(());
            }
            if start.elapsed() > WAIT {
                return Err(ProviderError::Timeout(format!(
                    "table {name}: indexes or replicas not active after {} minutes",
                    WAIT.as_secs() / 60
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One UpdateTable call, then wait for the table to settle.
    async fn update_table(
        &self,
        region: &str,
        name: &str,
        build: impl FnOnce(
            aws_sdk_dynamodb::operation::update_table::builders::UpdateTableFluentBuilder,
        )
            -> aws_sdk_dynamodb::operation::update_table::builders::UpdateTableFluentBuilder,
    ) -> Result<(), ProviderError> {
        build(self.client(region).update_table().table_name(name))
            .send()
            .await
            .map_err(api_error("UpdateTable"))?;
        self.wait_settled(region, name).await
    }

    async fn set_pitr(&self, region: &str, name: &str, on: bool) -> Result<(), ProviderError> {
        self.client(region)
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(built(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(on)
                    .build(),
            )?)
            .send()
            .await
            .map_err(api_error("UpdateContinuousBackups"))?;
        Ok(())
    }

    async fn set_ttl(
        &self,
        region: &str,
        name: &str,
        attribute: &str,
        enabled: bool,
    ) -> Result<(), ProviderError> {
        self.client(region)
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(built(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(enabled)
                    .build(),
            )?)
            .send()
            .await
            .map_err(api_error("UpdateTimeToLive"))?;
        Ok(())
    }

    /// Brings TTL from `have` (empty: off) to `want` (empty: off).
    async fn sync_ttl(
        &self,
        region: &str,
        name: &str,
        have: &str,
        want: &str,
    ) -> Result<(), ProviderError> {
        if have == want {
            return Ok(());
        }
        if !have.is_empty() {
            self.set_ttl(region, name, have, false).await?;
        }
        if !want.is_empty() {
            self.set_ttl(region, name, want, true).await?;
        }
        Ok(())
    }

    /// Adds and removes replicas one region per UpdateTable call (as AWS requires),
    /// waiting for each to settle.
    async fn sync_replicas(
        &self,
        region: &str,
        name: &str,
        have: &BTreeSet<String>,
        want: &BTreeSet<String>,
    ) -> Result<(), ProviderError> {
        for r in want.difference(have) {
            let action = built(
                CreateReplicationGroupMemberAction::builder()
                    .region_name(r)
                    .build(),
            )?;
            self.update_table(region, name, |b| {
                b.replica_updates(ReplicationGroupUpdate::builder().create(action).build())
            })
            .await?;
        }
        for r in have.difference(want) {
            let action = built(
                DeleteReplicationGroupMemberAction::builder()
                    .region_name(r)
                    .build(),
            )?;
            self.update_table(region, name, |b| {
                b.replica_updates(ReplicationGroupUpdate::builder().delete(action).build())
            })
            .await?;
        }
        Ok(())
    }

    /// Creates, resizes and removes global secondary indexes, one per UpdateTable call (as
    /// AWS requires). An index whose keys or projection changed is removed, then created.
    async fn sync_gsis(
        &self,
        region: &str,
        name: &str,
        inputs: &Attributes,
        prior: &Attributes,
    ) -> Result<(), ProviderError> {
        let want = desired_gsis(inputs)?;
        let have = desired_gsis(prior)?;
        let provisioned = billing_mode(inputs) == "PROVISIONED";
        for h in &have {
            let keep = want.iter().any(|w| w.name == h.name && w.same_shape(h));
            if !keep {
                let action = built(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name(&h.name)
                        .build(),
                )?;
                self.update_table(region, name, |b| {
                    b.global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().delete(action).build(),
                    )
                })
                .await?;
            }
        }
        let definitions = attribute_definitions(inputs)?;
        for w in &want {
            match have.iter().find(|h| h.name == w.name && h.same_shape(w)) {
                None => {
                    let action = built(
                        CreateGlobalSecondaryIndexAction::builder()
                            .index_name(&w.name)
                            .set_key_schema(Some(w.key_schema()?))
                            .projection(w.projection())
                            .set_provisioned_throughput(if provisioned {
                                w.throughput()?
                            } else {
                                None
                            })
                            .build(),
                    )?;
                    let defs = definitions.clone();
                    self.update_table(region, name, |b| {
                        b.set_attribute_definitions(Some(defs))
                            .global_secondary_index_updates(
                                GlobalSecondaryIndexUpdate::builder().create(action).build(),
                            )
                    })
                    .await?;
                }
                Some(h) if provisioned && h != w => {
                    if let Some(t) = w.throughput()? {
                        let action = built(
                            UpdateGlobalSecondaryIndexAction::builder()
                                .index_name(&w.name)
                                .provisioned_throughput(t)
                                .build(),
                        )?;
                        self.update_table(region, name, |b| {
                            b.global_secondary_index_updates(
                                GlobalSecondaryIndexUpdate::builder().update(action).build(),
                            )
                        })
                        .await?;
                    }
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    async fn sync_tags(
        &self,
        region: &str,
        arn: &str,
        inputs: &Attributes,
        prior: &Attributes,
    ) -> Result<(), ProviderError> {
        let client = self.client(region);
        let want = tag_map(inputs);
        let have = tag_map(prior);
        let removed: Vec<String> = have
            .keys()
            .filter(|k| !want.contains_key(*k))
            .cloned()
            .collect();
        if !removed.is_empty() {
            client
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(api_error("UntagResource"))?;
        }
        let changed = want
            .iter()
            .filter(|(k, v)| have.get(*k) != Some(*v))
            .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
            .collect::<Result<Vec<_>, _>>()?;
        if !changed.is_empty() {
            client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(changed))
                .send()
                .await
                .map_err(api_error("TagResource"))?;
        }
        Ok(())
    }
}

fn region_set(attrs: &Attributes) -> BTreeSet<String> {
    input_strings(attrs, "replicas").into_iter().collect()
}

#[async_trait]
impl ResourceType for Table {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// DynamoDB has no batched describe: one paginated ListTables tells which of the ids
    /// exist, then each of those (and only those) is read with DescribeTable,
    /// ListTagsOfResource, DescribeContinuousBackups and DescribeTimeToLive, which all
    /// answer for one table only. The reads run concurrently.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let names = self.list_names(req.region).await?;
        let wanted: BTreeSet<String> = req
            .ids
            .iter()
            .filter(|id| names.contains(*id))
            .cloned()
            .collect();
        let found = self.read_many(req.region, wanted).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let name = require_str(inputs, "name")?;
        let hash = require_str(inputs, "hash_key")?;
        let range = input_str(inputs, "range_key");
        let provisioned = billing_mode(inputs) == "PROVISIONED";
        let gsis = desired_gsis(inputs)?
            .iter()
            .map(|g| {
                built(
                    GlobalSecondaryIndex::builder()
                        .index_name(&g.name)
                        .set_key_schema(Some(g.key_schema()?))
                        .projection(g.projection())
                        .set_provisioned_throughput(if provisioned {
                            g.throughput()?
                        } else {
                            None
                        })
                        .build(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stream = stream_spec(inputs)?;
        let sse = sse_spec(inputs)?;
        // CreateTable takes no idempotency token; a retried create fails on the name
        // (ResourceInUseException), and recovery finds the table by its ownership tags.
        self.client(req.region)
            .create_table()
            .table_name(&name)
            .set_key_schema(Some(key_schema(&hash, range.as_deref())?))
            .set_attribute_definitions(Some(attribute_definitions(inputs)?))
            .billing_mode(BillingMode::from(billing_mode(inputs).as_str()))
            .set_provisioned_throughput(table_throughput(inputs)?)
            .set_global_secondary_indexes((!gsis.is_empty()).then_some(gsis))
            .set_stream_specification(stream.stream_enabled().then_some(stream))
            .set_sse_specification(sse.enabled().unwrap_or(false).then_some(sse))
            .deletion_protection_enabled(
                input_bool(inputs, "deletion_protection")?.unwrap_or(false),
            )
            .set_tags(sdk_tags(inputs)?)
            .send()
            .await
            .map_err(api_error("CreateTable"))?;
        self.wait_settled(req.region, &name).await?;
        if input_bool(inputs, "point_in_time_recovery")? == Some(true) {
            self.set_pitr(req.region, &name, true).await?;
        }
        if let Some(ttl) = input_str(inputs, "ttl_attribute").filter(|t| !t.is_empty()) {
            self.set_ttl(req.region, &name, &ttl, true).await?;
        }
        let replicas = region_set(inputs);
        if !replicas.is_empty() {
            self.sync_replicas(req.region, &name, &BTreeSet::new(), &replicas)
                .await?;
        }
        let attributes = self.read_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let (region, name, inputs, prior) = (req.region, req.id, req.inputs, req.prior);
        let changed = |n: &str| req.changed.iter().any(|c| c == n);
        if changed("billing_mode") || changed("read_capacity") || changed("write_capacity") {
            let mode = BillingMode::from(billing_mode(inputs).as_str());
            let throughput = table_throughput(inputs)?;
            self.update_table(region, name, |b| {
                b.billing_mode(mode).set_provisioned_throughput(throughput)
            })
            .await?;
        }
        if changed("global_secondary_indexes") {
            self.sync_gsis(region, name, inputs, prior).await?;
        }
        if changed("stream_enabled") || changed("stream_view_type") {
            // A stream's view type cannot change while it is on: turn it off first.
            let was_on = input_bool(prior, "stream_enabled")?.unwrap_or(false);
            let want = stream_spec(inputs)?;
            if was_on && want.stream_enabled() {
                let off = stream_spec(&Attributes::new())?;
                self.update_table(region, name, |b| b.stream_specification(off))
                    .await?;
            }
            if was_on || want.stream_enabled() {
                self.update_table(region, name, |b| b.stream_specification(want))
                    .await?;
            }
        }
        if changed("sse_enabled") || changed("sse_kms_key_arn") {
            let sse = sse_spec(inputs)?;
            self.update_table(region, name, |b| b.sse_specification(sse))
                .await?;
        }
        if changed("deletion_protection") {
            let on = input_bool(inputs, "deletion_protection")?.unwrap_or(false);
            self.update_table(region, name, |b| b.deletion_protection_enabled(on))
                .await?;
        }
        if changed("point_in_time_recovery") {
            let on = input_bool(inputs, "point_in_time_recovery")?.unwrap_or(false);
            self.set_pitr(region, name, on).await?;
        }
        if changed("ttl_attribute")
            && let Some(want) = input_str(inputs, "ttl_attribute")
        {
            let have = input_str(prior, "ttl_attribute").unwrap_or_default();
            self.sync_ttl(region, name, &have, &want).await?;
        }
        if changed("replicas") {
            self.sync_replicas(region, name, &region_set(prior), &region_set(inputs))
                .await?;
        }
        if changed("tags") {
            let arn = match input_str(prior, "arn") {
                Some(a) => a,
                None => require_str(&self.read_one(region, name).await?, "arn")?,
            };
            self.sync_tags(region, &arn, inputs, prior).await?;
        }
        let attributes = self.read_one(region, name).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = self.client(req.region);
        // The replicas must go first: a table that still has replicas cannot be deleted.
        let Some(live) = read_table(&client, req.region, req.id).await? else {
            return Ok(());
        };
        let replicas = region_set(&live);
        if !replicas.is_empty() {
            self.sync_replicas(req.region, req.id, &replicas, &BTreeSet::new())
                .await?;
        }
        let deleted = client.delete_table().table_name(req.id).send().await;
        if terrane_aws_core::unless_gone("DeleteTable", deleted, &[NOT_FOUND])?.is_none() {
            return Ok(());
        }
        client
            .wait_until_table_not_exists()
            .table_name(req.id)
            .wait(WAIT)
            .await
            .map_err(|e| waiter_error(&format!("wait for table {} to be deleted", req.id), e))?;
        Ok(())
    }

    /// Every table of the region is read (ListTables, then the per-table reads of
    /// `observe`, concurrently), and those carrying the ownership tags kept: DynamoDB
    /// cannot filter tables by tag.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let names = self.list_names(req.region).await?;
        let mut found = self.read_many(req.region, names).await?;
        found.retain(|_, a| owned_by(&req, a));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_normalize_with_defaults_and_order() {
        let stack = Value::List(vec![
            obj(vec![
                ("name", Value::string("b")),
                ("hash_key", Value::string("x")),
            ]),
            obj(vec![
                ("name", Value::string("a")),
                ("hash_key", Value::string("y")),
                ("projection_type", Value::string("include")),
                (
                    "non_key_attributes",
                    Value::List(vec![Value::string("q"), Value::string("p")]),
                ),
            ]),
        ]);
        let n = normalize("global_secondary_indexes", &stack);
        let l = n.as_list().unwrap();
        assert_eq!(l[0].as_map().unwrap()["name"], Value::string("a"));
        assert_eq!(
            l[0].as_map().unwrap()["projection_type"],
            Value::string("INCLUDE")
        );
        assert_eq!(
            l[1].as_map().unwrap()["projection_type"],
            Value::string("ALL")
        );
        assert_eq!(normalize("global_secondary_indexes", &n), n);
    }
}
