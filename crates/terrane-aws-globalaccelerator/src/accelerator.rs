//! `aws.globalaccelerator.accelerator`: static anycast IP addresses that route clients
//! over the AWS network to the nearest healthy endpoint.
//!
//! The SDK has no waiter for Global Accelerator: create, update and delete wait for the
//! accelerator to be `DEPLOYED` by polling DescribeAccelerator (bounded).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_globalaccelerator::types::{AcceleratorStatus, IpAddressType, Tag};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_bool, input_str, input_strings, put_str, require_str, retain_owned, wanted,
};
use terrane_aws_core::tags::{aws_tags_from_inputs, decoded_tags_value};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.globalaccelerator.accelerator";

const NOT_FOUND: &[&str] = &["AcceleratorNotFoundException"];

/// The Route53 hosted zone of every accelerator's DNS name (for alias records).
pub const HOSTED_ZONE_ID: &str = "Z2BJ6XQ5FK7U4H";

const WAIT: Duration = Duration::from_secs(30 * 60);
const POLL: Duration = Duration::from_secs(10);

/// ListTagsForResource calls in flight at once: ListAccelerators returns no tags.
const TAG_CONCURRENCY: usize = 8;

pub struct Accelerator {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Global Accelerator accelerator: two static anycast IP addresses (four with dual stack) in front of endpoints in any region. Its API lives in us-west-2 whatever the stack's region.",
        attributes: vec![
            AttrSchema::required("name", String)
                .describe("The accelerator's name (changed in place)."),
            AttrSchema::optional("ip_address_type", String)
                .default(DefaultValue::Str("IPV4"))
                .describe("`IPV4` or `DUAL_STACK` (changed in place)."),
            AttrSchema::optional("enabled", Bool)
                .default(DefaultValue::Bool(true))
                .describe("Whether the accelerator accepts traffic (it is disabled before deletion)."),
            AttrSchema::optional("ip_addresses", List)
                .forces_replacement()
                .describe("Your own (BYOIP) static IPv4 addresses to use, at most two; Amazon's when unset."),
            AttrSchema::optional("tags", Map).describe("Tags on the accelerator."),
            AttrSchema::computed("arn", String).describe("The accelerator's ARN; also its id."),
            AttrSchema::computed("dns_name", String)
                .describe("The accelerator's DNS name, e.g. `a1234567890abcdef.awsglobalaccelerator.com`."),
            AttrSchema::computed("dual_stack_dns_name", String)
                .describe("The DNS name of both IPv4 and IPv6 addresses (dual stack)."),
            AttrSchema::computed("hosted_zone_id", String)
                .describe("The Route53 zone of the DNS name, for alias records (`Z2BJ6XQ5FK7U4H`)."),
            AttrSchema::computed("ip_sets", List)
                .describe("The static addresses, each a map: `ip_family`, `ip_addresses`."),
            AttrSchema::computed("status", String)
                .describe("`DEPLOYED` or `IN_PROGRESS`."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: None,
        example: "edge:\n  type: aws.globalaccelerator.accelerator\n  properties:\n    name: teddy-bear-edge\n    ip_address_type: IPV4\n    enabled: true\n",
    }
}

fn accelerator_attributes(
    a: &aws_sdk_globalaccelerator::types::Accelerator,
) -> Option<(String, Attributes)> {
    let arn = a.accelerator_arn()?;
    let mut out = Attributes::new();
    out.insert("arn".into(), Value::string(arn));
    put_str(&mut out, "name", a.name());
    put_str(
        &mut out,
        "ip_address_type",
        a.ip_address_type().map(IpAddressType::as_str),
    );
    if let Some(e) = a.enabled() {
        out.insert("enabled".into(), Value::Bool(e));
    }
    put_str(&mut out, "dns_name", a.dns_name());
    put_str(&mut out, "dual_stack_dns_name", a.dual_stack_dns_name());
    put_str(
        &mut out,
        "status",
        a.status().map(AcceleratorStatus::as_str),
    );
    out.insert("hosted_zone_id".into(), Value::string(HOSTED_ZONE_ID));
    let ipv4: Vec<Value> = a
        .ip_sets()
        .iter()
        .filter(|s| s.ip_address_family().is_none_or(|f| f.as_str() == "IPv4"))
        .flat_map(|s| s.ip_addresses().iter().map(Value::string))
        .collect();
    out.insert("ip_addresses".into(), Value::List(ipv4));
    out.insert(
        "ip_sets".into(),
        Value::List(
            a.ip_sets()
                .iter()
                .map(|s| {
                    let mut m = BTreeMap::new();
                    if let Some(f) = s.ip_address_family() {
                        m.insert("ip_family".to_string(), Value::string(f.as_str()));
                    }
                    m.insert(
                        "ip_addresses".to_string(),
                        Value::List(s.ip_addresses().iter().map(Value::string).collect()),
                    );
                    Value::Map(m)
                })
                .collect(),
        ),
    );
    out.insert("tags".into(), Value::Map(BTreeMap::new()));
    Some((arn.to_string(), out))
}

fn sdk_tags(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Tag>, ProviderError> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))
        })
        .collect()
}

impl Accelerator {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Accelerator {
            clients,
            schema: schema(),
        }
    }

    /// Every accelerator of the account (one paginated ListAccelerators) kept where `keep`
    /// says so, then their tags: one ListTagsForResource per accelerator kept, a few at
    /// once (no batched tag read).
    async fn list(
        &self,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients);
        let all: Vec<_> = client
            .list_accelerators()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListAccelerators"))?;
        let found: Vec<(String, Attributes)> = all
            .iter()
            .filter_map(accelerator_attributes)
            .filter(|(arn, _)| keep(arn))
            .collect();
        futures::stream::iter(found.into_iter().map(|(arn, mut a)| {
            let client = client.clone();
            async move {
                match client
                    .list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await
                {
                    Ok(out) => {
                        a.insert(
                            "tags".into(),
                            decoded_tags_value(
                                out.tags()
                                    .iter()
                                    .filter(|t| !t.key().starts_with("aws:"))
                                    .map(|t| (t.key(), t.value())),
                            ),
                        );
                        Ok(Some((arn, a)))
                    }
                    Err(e) => {
                        let e = AwsError::from_sdk(e);
                        if e.is(NOT_FOUND) {
                            Ok(None)
                        } else {
                            Err(e.into_provider("ListTagsForResource"))
                        }
                    }
                }
            }
        }))
        .buffer_unordered(TAG_CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
    }

    async fn observe_one(&self, arn: &str) -> Result<Attributes, ProviderError> {
        self.list(|a| a == arn)
            .await?
            .remove(arn)
            .ok_or_else(|| ProviderError::NotFound(format!("accelerator {arn}")))
    }

    /// The accelerator's status and whether it is enabled; `None` once it is gone.
    async fn status(
        client: &aws_sdk_globalaccelerator::Client,
        arn: &str,
    ) -> Result<Option<(String, bool)>, ProviderError> {
        match client
            .describe_accelerator()
            .accelerator_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(out.accelerator().map(|a| {
                (
                    a.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    a.enabled().unwrap_or(false),
                )
            })),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    Ok(None)
                } else {
                    Err(e.into_provider("DescribeAccelerator"))
                }
            }
        }
    }

    /// Polls until the accelerator is `DEPLOYED` (no SDK waiter exists), at most [`WAIT`].
    pub(crate) async fn wait_deployed(
        client: &aws_sdk_globalaccelerator::Client,
        arn: &str,
    ) -> Result<(), ProviderError> {
        let start = Instant::now();
        loop {
            match Self::status(client, arn).await? {
                Some((s, _)) if s == "DEPLOYED" => return Ok(()),
                None => return Err(ProviderError::NotFound(format!("accelerator {arn}"))),
                Some((s, _)) => {
                    if start.elapsed() > WAIT {
                        return Err(ProviderError::Timeout(format!(
                            "accelerator {arn} still {s} after {} minutes (waiting for DEPLOYED)",
                            WAIT.as_secs() / 60
                        )));
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[async_trait]
impl ResourceType for Accelerator {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// `req.region` is ignored: Global Accelerator answers in us-west-2 only.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids = wanted(req.ids);
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let found = self.list(|arn| ids.contains(arn)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients);
        let tags = sdk_tags(aws_tags_from_inputs(inputs))?;
        let ips = input_strings(inputs, "ip_addresses");
        let out = client
            .create_accelerator()
            .name(require_str(inputs, "name")?)
            .set_ip_address_type(
                input_str(inputs, "ip_address_type")
                    .as_deref()
                    .map(IpAddressType::from),
            )
            .set_ip_addresses((!ips.is_empty()).then_some(ips))
            .set_enabled(input_bool(inputs, "enabled")?)
            .idempotency_token(req.client_token)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(api_error("CreateAccelerator"))?;
        let arn = out
            .accelerator()
            .and_then(|a| a.accelerator_arn())
            .ok_or_else(|| ProviderError::api("CreateAccelerator", "no accelerator returned"))?
            .to_string();
        Self::wait_deployed(&client, &arn).await?;
        let attributes = self.observe_one(&arn).await?;
        Ok(CreateResponse {
            id: arn,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients);
        let inputs = req.inputs;
        let changed = |n: &str| req.changed.iter().any(|c| c == n);
        if changed("name") || changed("ip_address_type") || changed("enabled") {
            client
                .update_accelerator()
                .accelerator_arn(req.id)
                .set_name(changed("name").then(|| input_str(inputs, "name")).flatten())
                .set_ip_address_type(if changed("ip_address_type") {
                    input_str(inputs, "ip_address_type")
                        .as_deref()
                        .map(IpAddressType::from)
                } else {
                    None
                })
                .set_enabled(if changed("enabled") {
                    input_bool(inputs, "enabled")?
                } else {
                    None
                })
                .send()
                .await
                .map_err(api_error("UpdateAccelerator"))?;
            Self::wait_deployed(&client, req.id).await?;
        }
        if changed("tags") {
            let want: HashMap<String, String> = aws_tags_from_inputs(inputs).into_iter().collect();
            let have: HashMap<String, String> =
                aws_tags_from_inputs(req.prior).into_iter().collect();
            let removed: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            let added = sdk_tags(want.into_iter().filter(|(k, v)| have.get(k) != Some(v)))?;
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource_arn(req.id)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagResource"))?;
            }
            if !added.is_empty() {
                client
                    .tag_resource()
                    .resource_arn(req.id)
                    .set_tags(Some(added))
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
        }
        let attributes = self.observe_one(req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// AWS deletes only a disabled, deployed accelerator without listeners (those are
    /// their own resources, deleted first): disables it and waits for that first.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients);
        let Some((_, enabled)) = Self::status(&client, req.id).await? else {
            return Ok(());
        };
        if enabled {
            let out = client
                .update_accelerator()
                .accelerator_arn(req.id)
                .enabled(false)
                .send()
                .await;
            if terrane_aws_core::unless_gone("UpdateAccelerator", out, NOT_FOUND)?.is_none() {
                return Ok(());
            }
        }
        match Self::wait_deployed(&client, req.id).await {
            Err(ProviderError::NotFound(_)) => return Ok(()),
            other => other?,
        }
        gone_is_ok(
            "DeleteAccelerator",
            client
                .delete_accelerator()
                .accelerator_arn(req.id)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self.list(|_| true).await?;
        Ok(retain_owned(&req, found))
    }
}
