//! `aws.sqs.queue`: an SQS queue (standard or FIFO), with its dead-letter redrive and access
//! policy. Its cloud id is its URL.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName as Qa;
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_i64, input_json, input_str, is_owned, json_value, require_str,
};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.sqs.queue";

/// The error codes of a queue that does not exist (JSON and query protocols).
const NOT_FOUND: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// Per-queue reads in flight at once during an observe.
const CONCURRENCY: usize = 8;

/// Whole-number inputs and the queue attribute each one is.
const NUMBERS: &[(&str, &str)] = &[
    ("visibility_timeout_seconds", "VisibilityTimeout"),
    ("message_retention_seconds", "MessageRetentionPeriod"),
    ("delay_seconds", "DelaySeconds"),
    ("receive_wait_time_seconds", "ReceiveMessageWaitTimeSeconds"),
    ("max_message_size", "MaximumMessageSize"),
];

/// Bool inputs and the queue attribute each one is.
const BOOLS: &[(&str, &str)] = &[
    ("content_based_deduplication", "ContentBasedDeduplication"),
    ("sqs_managed_sse_enabled", "SqsManagedSseEnabled"),
];

pub struct Queue {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An SQS queue, standard or FIFO, with its dead-letter redrive policy, \
                      encryption and access policy.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe(
                    "The queue's name, unique in the region; ends in `.fifo` for a FIFO queue.",
                ),
            AttrSchema::optional("fifo_queue", Bool)
                .default(DefaultValue::Bool(false))
                .forces_replacement()
                .describe("A FIFO queue (exactly-once, ordered) rather than a standard one."),
            AttrSchema::optional("content_based_deduplication", Bool).describe(
                "FIFO queues: deduplicate by a hash of the body when no deduplication id is given.",
            ),
            AttrSchema::optional("visibility_timeout_seconds", Number)
                .default(DefaultValue::Int(30))
                .describe(
                    "Seconds a received message stays hidden from other consumers (0-43200).",
                ),
            AttrSchema::optional("message_retention_seconds", Number)
                .default(DefaultValue::Int(345_600))
                .describe("Seconds a message is kept (60-1209600; 4 days by default)."),
            AttrSchema::optional("delay_seconds", Number)
                .default(DefaultValue::Int(0))
                .describe("Seconds each new message is delayed (0-900)."),
            AttrSchema::optional("receive_wait_time_seconds", Number)
                .default(DefaultValue::Int(0))
                .describe("Long polling: seconds a receive waits for messages (0-20)."),
            AttrSchema::optional("max_message_size", Number)
                .describe("The largest message accepted, in bytes."),
            AttrSchema::optional("kms_master_key_id", String)
                .describe("The KMS key (id, ARN or alias) encrypting messages (SSE-KMS)."),
            AttrSchema::optional("sqs_managed_sse_enabled", Bool)
                .describe("Encryption with SQS-owned keys (SSE-SQS) when no KMS key is given."),
            AttrSchema::optional("redrive_policy", Map).describe(
                "Where messages go after too many receives: `{dead_letter_target_arn, \
                 max_receive_count}`.",
            ),
            AttrSchema::optional("policy", Any)
                .describe("The queue's access policy (a map or JSON text), compared as data."),
            AttrSchema::optional("tags", Map).describe("Tags on the queue."),
            AttrSchema::computed("arn", String).describe("The queue's ARN."),
            AttrSchema::computed("url", String).describe("The queue's URL; its cloud id."),
        ],
        taggable: true,
        id_attribute: "url",
        normalize: Some(normalize),
        example: "jobs_dlq:\n  type: aws.sqs.queue\n  properties:\n    name: jobs-dlq\n    \
                  message_retention_seconds: 1209600\n\njobs:\n  type: aws.sqs.queue\n  \
                  properties:\n    name: jobs\n    visibility_timeout_seconds: 120\n    \
                  redrive_policy:\n      dead_letter_target_arn: ${jobs_dlq.arn}\n      \
                  max_receive_count: 5\n",
    }
}

/// The policy compares as data whether written as a map or JSON text; the redrive
/// policy's count as a number.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match (attr, value) {
        ("policy", Value::String(s)) => json_value(s),
        ("redrive_policy", Value::Map(m)) => Value::Map(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v.as_i64()) {
                        ("max_receive_count", Some(n)) => Value::int(n),
                        _ => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// The queue attributes the inputs set, as SQS takes them (all text). With `clearing`,
/// unset redrive and access policies are written empty, which removes them.
fn queue_attributes(
    inputs: &Attributes,
    only: Option<&[String]>,
    clearing: bool,
) -> Result<HashMap<Qa, String>, ProviderError> {
    let wanted = |a: &str| only.is_none_or(|o| o.iter().any(|c| c == a));
    let mut out = HashMap::new();
    for (input, attr) in NUMBERS {
        if wanted(input)
            && let Some(n) = input_i64(inputs, input)?
        {
            out.insert(Qa::from(*attr), n.to_string());
        }
    }
    for (input, attr) in BOOLS {
        if wanted(input)
            && let Some(b) = input_bool(inputs, input)?
        {
            out.insert(Qa::from(*attr), b.to_string());
        }
    }
    if only.is_none() && input_bool(inputs, "fifo_queue")? == Some(true) {
        out.insert(Qa::FifoQueue, "true".into());
    }
    if wanted("kms_master_key_id") {
        match input_str(inputs, "kms_master_key_id") {
            Some(k) => {
                out.insert(Qa::KmsMasterKeyId, k);
            }
            None if clearing => {
                out.insert(Qa::KmsMasterKeyId, String::new());
            }
            None => {}
        }
    }
    if wanted("redrive_policy") {
        match inputs.get("redrive_policy") {
            Some(Value::Map(m)) => {
                let target = m
                    .get("dead_letter_target_arn")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        ProviderError::Invalid(
                            "`redrive_policy.dead_letter_target_arn` is required".into(),
                        )
                    })?;
                let count = m
                    .get("max_receive_count")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| {
                        ProviderError::Invalid(
                            "`redrive_policy.max_receive_count` must be a whole number".into(),
                        )
                    })?;
                out.insert(
                    Qa::RedrivePolicy,
                    serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": count})
                        .to_string(),
                );
            }
            None | Some(Value::Null) if clearing => {
                out.insert(Qa::RedrivePolicy, String::new());
            }
            None | Some(Value::Null) => {}
            Some(other) => {
                return Err(ProviderError::Invalid(format!(
                    "`redrive_policy` must be a map, found a {}",
                    other.type_name()
                )));
            }
        }
    }
    if wanted("policy") {
        match input_json(inputs, "policy")? {
            Some(p) => {
                out.insert(Qa::Policy, p);
            }
            None if clearing => {
                out.insert(Qa::Policy, String::new());
            }
            None => {}
        }
    }
    Ok(out)
}

/// A queue's attributes as GetQueueAttributes reports them, with its tags.
fn live_attributes(
    url: &str,
    attrs: &HashMap<Qa, String>,
    tags: Option<&HashMap<String, String>>,
) -> Attributes {
    let mut a = Attributes::new();
    a.insert("url".into(), Value::string(url));
    let get = |k: &str| attrs.get(&Qa::from(k)).map(String::as_str);
    if let Some(arn) = get("QueueArn") {
        a.insert("arn".into(), Value::string(arn));
    }
    let name = url.rsplit('/').next().unwrap_or(url);
    a.insert("name".into(), Value::string(name));
    a.insert(
        "fifo_queue".into(),
        Value::Bool(get("FifoQueue") == Some("true")),
    );
    for (input, attr) in NUMBERS {
        if let Some(n) = get(attr).and_then(|s| s.parse::<i64>().ok()) {
            a.insert((*input).into(), Value::int(n));
        }
    }
    for (input, attr) in BOOLS {
        if let Some(b) = get(attr) {
            a.insert((*input).into(), Value::Bool(b == "true"));
        }
    }
    if let Some(k) = get("KmsMasterKeyId").filter(|k| !k.is_empty()) {
        a.insert("kms_master_key_id".into(), Value::string(k));
    }
    if let Some(r) = get("RedrivePolicy").filter(|r| !r.is_empty())
        && let Ok(j) = serde_json::from_str::<serde_json::Value>(r)
    {
        let mut m = BTreeMap::new();
        if let Some(t) = j.get("deadLetterTargetArn").and_then(|v| v.as_str()) {
            m.insert("dead_letter_target_arn".to_string(), Value::string(t));
        }
        let count = j.get("maxReceiveCount").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        if let Some(n) = count {
            m.insert("max_receive_count".to_string(), Value::int(n));
        }
        a.insert("redrive_policy".into(), Value::Map(m));
    }
    if let Some(p) = get("Policy").filter(|p| !p.is_empty()) {
        a.insert("policy".into(), json_value(p));
    }
    a.insert(
        "tags".into(),
        terrane_aws_core::tags::decoded_tags_value(
            tags.into_iter()
                .flatten()
                .filter(|(k, _)| !k.starts_with("aws:"))
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
    );
    a
}

/// The `tags` of `attrs` as sent to AWS (ownership tag values encoded into the characters
/// SQS allows).
fn tag_map(attrs: &Attributes) -> BTreeMap<String, String> {
    terrane_aws_core::tags::aws_tags_from_inputs(attrs)
        .into_iter()
        .collect()
}

impl Queue {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Queue {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_sqs::Client {
        crate::client(&self.clients, region)
    }

    /// One queue: GetQueueAttributes(All) and ListQueueTags; `None` when it does not exist.
    async fn read_queue(
        client: &aws_sdk_sqs::Client,
        url: &str,
    ) -> Result<Option<Attributes>, ProviderError> {
        let attrs = match client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Qa::All)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    return Ok(None);
                }
                return Err(e.into_provider("GetQueueAttributes"));
            }
        };
        let tags = match client.list_queue_tags().queue_url(url).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    return Ok(None);
                }
                return Err(e.into_provider("ListQueueTags"));
            }
        };
        Ok(Some(live_attributes(
            url,
            attrs.attributes().unwrap_or(&HashMap::new()),
            tags.tags(),
        )))
    }

    /// The queues at these URLs, read concurrently (SQS has no batched read).
    async fn read_many(
        &self,
        region: &str,
        urls: Vec<String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(region);
        futures::stream::iter(urls)
            .map(|url| {
                let client = client.clone();
                async move {
                    Ok::<_, ProviderError>(Self::read_queue(&client, &url).await?.map(|a| (url, a)))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await
    }

    async fn read_one(&self, region: &str, url: &str) -> Result<Attributes, ProviderError> {
        Self::read_queue(&self.client(region), url)
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("queue {url}")))
    }
}

#[async_trait]
impl ResourceType for Queue {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let urls: Vec<String> = terrane_aws_core::inputs::wanted(req.ids)
            .into_iter()
            .map(str::to_string)
            .collect();
        let found = self.read_many(req.region, urls).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let name = require_str(inputs, "name")?;
        let fifo = input_bool(inputs, "fifo_queue")?.unwrap_or(false);
        if fifo != name.ends_with(".fifo") {
            return Err(ProviderError::Invalid(format!(
                "queue `{name}`: a FIFO queue's name ends in `.fifo`, and only a FIFO queue's \
                 does (fifo_queue is {fifo})"
            )));
        }
        let tags = tag_map(inputs);
        let out = self
            .client(req.region)
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(queue_attributes(inputs, None, false)?))
            .set_tags((!tags.is_empty()).then(|| tags.into_iter().collect()))
            .send()
            .await
            .map_err(api_error("CreateQueue"))?;
        let url = out
            .queue_url()
            .ok_or_else(|| ProviderError::api("CreateQueue", "no queue URL returned"))?
            .to_string();
        let attributes = self.read_one(req.region, &url).await?;
        Ok(CreateResponse {
            id: url,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let changed: Vec<String> = req
            .changed
            .iter()
            .filter(|c| c.as_str() != "tags")
            .cloned()
            .collect();
        if !changed.is_empty() {
            let attrs = queue_attributes(req.inputs, Some(&changed), true)?;
            if !attrs.is_empty() {
                client
                    .set_queue_attributes()
                    .queue_url(req.id)
                    .set_attributes(Some(attrs))
                    .send()
                    .await
                    .map_err(api_error("SetQueueAttributes"))?;
            }
        }
        if req.changed.iter().any(|c| c == "tags") {
            let want = tag_map(req.inputs);
            let have = tag_map(req.prior);
            let removed: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            let set: HashMap<String, String> = want
                .into_iter()
                .filter(|(k, v)| have.get(k) != Some(v))
                .collect();
            if !removed.is_empty() {
                client
                    .untag_queue()
                    .queue_url(req.id)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagQueue"))?;
            }
            if !set.is_empty() {
                client
                    .tag_queue()
                    .queue_url(req.id)
                    .set_tags(Some(set))
                    .send()
                    .await
                    .map_err(api_error("TagQueue"))?;
            }
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        gone_is_ok(
            "DeleteQueue",
            self.client(req.region)
                .delete_queue()
                .queue_url(req.id)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    /// ListQueues has no tag filter: every queue of the region is listed (paginated) and
    /// read with its tags, concurrently, and those carrying the ownership tags are kept.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let pages: Vec<_> = self
            .client(req.region)
            .list_queues()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListQueues"))?;
        let urls: Vec<String> = pages.iter().flat_map(|p| p.queue_urls()).cloned().collect();
        let mut found = self.read_many(req.region, urls).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
