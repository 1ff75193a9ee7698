//! `aws.globalaccelerator.listener`: the ports and protocol an accelerator accepts
//! traffic on. Listeners carry no tags; every change waits for the accelerator to be
//! `DEPLOYED` again (by polling: no SDK waiter exists).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_globalaccelerator::types::{ClientAffinity, PortRange, Protocol};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_i32, input_str, require_str, wanted};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;
use crate::accelerator::Accelerator;

pub const TYPE_NAME: &str = "aws.globalaccelerator.listener";

const NOT_FOUND: &[&str] = &["ListenerNotFoundException", "AcceleratorNotFoundException"];

/// ListListeners calls in flight at once (one per accelerator).
const CONCURRENCY: usize = 8;

pub struct Listener {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A Global Accelerator listener: the ports and protocol an accelerator accepts client traffic on.",
        attributes: vec![
            AttrSchema::required("accelerator_arn", String)
                .forces_replacement()
                .describe("The accelerator's ARN."),
            AttrSchema::required("protocol", String).describe("`TCP` or `UDP` (changed in place)."),
            AttrSchema::required("port_ranges", List)
                .unordered()
                .describe("The ports, each a map: `from_port`, `to_port` (changed in place)."),
            AttrSchema::optional("client_affinity", String)
                .default(DefaultValue::Str("NONE"))
                .describe(
                    "`NONE`, or `SOURCE_IP` to send a client to the same endpoint every time.",
                ),
            AttrSchema::computed("arn", String).describe("The listener's ARN; also its id."),
        ],
        taggable: false,
        id_attribute: "arn",
        normalize: None,
        example: "https_in:\n  type: aws.globalaccelerator.listener\n  properties:\n    accelerator_arn: ${edge.arn}\n    protocol: TCP\n    port_ranges:\n      - from_port: 443\n        to_port: 443\n",
    }
}

/// The accelerator a listener (or endpoint group) ARN belongs to: its ARN up to
/// `/listener/`.
pub(crate) fn accelerator_of(arn: &str) -> &str {
    arn.split("/listener/").next().unwrap_or(arn)
}

fn port_ranges(inputs: &Attributes) -> Result<Vec<PortRange>, ProviderError> {
    let list = inputs
        .get("port_ranges")
        .and_then(Value::as_list)
        .ok_or_else(|| ProviderError::Invalid("`port_ranges` must be a list of maps".into()))?;
    list.iter()
        .map(|r| {
            let m = r.as_map().ok_or_else(|| {
                ProviderError::Invalid("each of `port_ranges` must be a map".into())
            })?;
            Ok(PortRange::builder()
                .set_from_port(input_i32(m, "from_port")?)
                .set_to_port(input_i32(m, "to_port")?)
                .build())
        })
        .collect()
}

fn listener_attributes(
    accelerator: &str,
    l: &aws_sdk_globalaccelerator::types::Listener,
) -> Option<(String, Attributes)> {
    let arn = l.listener_arn()?;
    let mut a = Attributes::new();
    a.insert("arn".into(), Value::string(arn));
    a.insert("accelerator_arn".into(), Value::string(accelerator));
    if let Some(p) = l.protocol() {
        a.insert("protocol".into(), Value::string(p.as_str()));
    }
    if let Some(c) = l.client_affinity() {
        a.insert("client_affinity".into(), Value::string(c.as_str()));
    }
    a.insert(
        "port_ranges".into(),
        Value::List(
            l.port_ranges()
                .iter()
                .map(|r| {
                    let mut m = BTreeMap::new();
                    if let Some(f) = r.from_port() {
                        m.insert("from_port".to_string(), Value::int(f.into()));
                    }
                    if let Some(t) = r.to_port() {
                        m.insert("to_port".to_string(), Value::int(t.into()));
                    }
                    Value::Map(m)
                })
                .collect(),
        ),
    );
    Some((arn.to_string(), a))
}

impl Listener {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Listener {
            clients,
            schema: schema(),
        }
    }

    /// The wanted listeners: one paginated ListListeners per accelerator they belong to
    /// (there is no account-wide listing), a few at once.
    async fn read(
        &self,
        ids: &BTreeSet<&str>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients);
        let accelerators: BTreeSet<String> = ids
            .iter()
            .map(|id| accelerator_of(id).to_string())
            .collect();
        let per: Vec<Vec<(String, Attributes)>> =
            futures::stream::iter(accelerators.into_iter().map(|acc| {
                let client = client.clone();
                async move {
                    let listed: Result<Vec<_>, _> = client
                        .list_listeners()
                        .accelerator_arn(&acc)
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await;
                    match listed {
                        Ok(ls) => Ok(ls
                            .iter()
                            .filter_map(|l| listener_attributes(&acc, l))
                            .collect()),
                        Err(e) => {
                            let e = AwsError::from_sdk(e);
                            if e.is(NOT_FOUND) {
                                Ok(Vec::new())
                            } else {
                                Err(e.into_provider("ListListeners"))
                            }
                        }
                    }
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(per
            .into_iter()
            .flatten()
            .filter(|(arn, _)| ids.contains(arn.as_str()))
            .collect())
    }

    async fn observe_one(&self, arn: &str) -> Result<Attributes, ProviderError> {
        self.read(&BTreeSet::from([arn]))
            .await?
            .remove(arn)
            .ok_or_else(|| ProviderError::NotFound(format!("listener {arn}")))
    }
}

#[async_trait]
impl ResourceType for Listener {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// `req.region` is ignored: Global Accelerator answers in us-west-2 only.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids = wanted(req.ids);
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        Ok(ObserveResponse {
            found: self.read(&ids).await?,
        })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients);
        let accelerator = require_str(inputs, "accelerator_arn")?;
        let out = client
            .create_listener()
            .accelerator_arn(&accelerator)
            .set_port_ranges(Some(port_ranges(inputs)?))
            .protocol(Protocol::from(require_str(inputs, "protocol")?.as_str()))
            .set_client_affinity(
                input_str(inputs, "client_affinity")
                    .as_deref()
                    .map(ClientAffinity::from),
            )
            .idempotency_token(req.client_token)
            .send()
            .await
            .map_err(api_error("CreateListener"))?;
        let arn = out
            .listener()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| ProviderError::api("CreateListener", "no listener returned"))?
            .to_string();
        Accelerator::wait_deployed(&client, &accelerator).await?;
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
        if changed("protocol") || changed("port_ranges") || changed("client_affinity") {
            client
                .update_listener()
                .listener_arn(req.id)
                .set_port_ranges(Some(port_ranges(inputs)?))
                .protocol(Protocol::from(require_str(inputs, "protocol")?.as_str()))
                .set_client_affinity(
                    input_str(inputs, "client_affinity")
                        .as_deref()
                        .map(ClientAffinity::from),
                )
                .send()
                .await
                .map_err(api_error("UpdateListener"))?;
            Accelerator::wait_deployed(&client, accelerator_of(req.id)).await?;
        }
        let attributes = self.observe_one(req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Its endpoint groups (their own resources) must be gone first, as AWS requires.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients);
        gone_is_ok(
            "DeleteListener",
            client.delete_listener().listener_arn(req.id).send().await,
            NOT_FOUND,
        )?;
        match Accelerator::wait_deployed(&client, accelerator_of(req.id)).await {
            Err(ProviderError::NotFound(_)) => Ok(()),
            other => other,
        }
    }

    /// Listeners carry no tags: none are found by ownership.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
