//! `aws.elbv2.listener`: a port and protocol a load balancer listens on, with its TLS
//! certificate and its default action. Its cloud id is its ARN.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Certificate, ProtocolEnum};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_i32, input_str, is_owned, require_str};
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::action::{action_from_value, action_value, normalize_action};
use crate::{AwsClients, NOT_FOUND, any_changed, create_tags, sync_tags, wanted_arns, with_tags};

pub const TYPE_NAME: &str = "aws.elbv2.listener";

/// Load balancers (or listener ARNs) read at the same time when no batched read applies.
pub(crate) const CONCURRENCY: usize = 8;

pub struct Listener {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A listener of an Elastic Load Balancing v2 load balancer: port, protocol, \
                      certificate and default action. Its id is its ARN.",
        attributes: vec![
            AttrSchema::required("load_balancer_arn", String)
                .forces_replacement()
                .describe("The load balancer's ARN."),
            AttrSchema::required("port", Number).describe("The port listened on, e.g. 443."),
            AttrSchema::required("protocol", String)
                .describe("`HTTP`, `HTTPS` (application) or `TCP`, `TLS`, `UDP`, `TCP_UDP`."),
            AttrSchema::optional("ssl_policy", String).describe(
                "The TLS security policy (HTTPS/TLS), e.g. `ELBSecurityPolicy-TLS13-1-2-2021-06`.",
            ),
            AttrSchema::optional("certificate_arn", String)
                .describe("The default certificate's ARN (an ACM certificate; HTTPS/TLS)."),
            AttrSchema::required("default_action", Map).describe(
                "What requests no rule matches get: `type` (`forward`, `redirect`, \
                 `fixed-response`), `target_group_arn` (forward), `redirect` {`protocol`, \
                 `port`, `host`, `path`, `query`, `status_code`} or `fixed_response` \
                 {`status_code`, `content_type`, `message_body`}.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the listener."),
            AttrSchema::computed("arn", String).describe("The listener's ARN (its id)."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "https:\n  type: aws.elbv2.listener\n  properties:\n    \
                  load_balancer_arn: ${alb.arn}\n    port: 443\n    protocol: HTTPS\n    \
                  ssl_policy: ELBSecurityPolicy-TLS13-1-2-2021-06\n    \
                  certificate_arn: ${cert.arn}\n    default_action:\n      type: forward\n      \
                  target_group_arn: ${api_targets.arn}\n",
    }
}

pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match (attr, value) {
        ("protocol", Value::String(s)) => Value::string(s.to_uppercase()),
        ("default_action", _) => normalize_action(value),
        _ => value.clone(),
    }
}

fn listener_attributes(
    l: &aws_sdk_elasticloadbalancingv2::types::Listener,
) -> Option<(String, Attributes)> {
    let arn = l.listener_arn()?.to_string();
    let mut a = Attributes::new();
    a.insert("arn".into(), Value::string(&arn));
    if let Some(lb) = l.load_balancer_arn() {
        a.insert("load_balancer_arn".into(), Value::string(lb));
    }
    if let Some(p) = l.port() {
        a.insert("port".into(), Value::int(p.into()));
    }
    if let Some(p) = l.protocol() {
        a.insert("protocol".into(), Value::string(p.as_str()));
    }
    if let Some(p) = l.ssl_policy() {
        a.insert("ssl_policy".into(), Value::string(p));
    }
    // DescribeListeners returns the default certificate only.
    if let Some(c) = l
        .certificates()
        .iter()
        .find(|c| c.is_default() != Some(false))
        .and_then(|c| c.certificate_arn())
    {
        a.insert("certificate_arn".into(), Value::string(c));
    }
    if let Some(first) = l
        .default_actions()
        .iter()
        .min_by_key(|x| x.order().unwrap_or(0))
    {
        a.insert("default_action".into(), action_value(first));
    }
    Some((arn, a))
}

/// The listeners of these ARNs: DescribeListeners by ARN, twenty a call. One unknown ARN
/// fails a whole call in AWS (ListenerNotFound); that batch is then read one ARN at a time
/// (concurrently), and unknown ones are left out.
pub(crate) async fn describe_listeners(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arns: &[String],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let mut found = BTreeMap::new();
    for chunk in arns.chunks(crate::BATCH) {
        match describe_by_arns(client, chunk).await {
            Ok(f) => found.extend(f),
            Err(e) if e.is(NOT_FOUND) || e.is(&["ValidationError"]) => {
                let each: Vec<BTreeMap<String, Attributes>> =
                    futures::stream::iter(chunk.iter().cloned().map(|arn| async move {
                        match describe_by_arns(client, std::slice::from_ref(&arn)).await {
                            Ok(f) => Ok(f),
                            Err(e) if e.is(NOT_FOUND) || e.is(&["ValidationError"]) => {
                                Ok(BTreeMap::new())
                            }
                            Err(e) => Err(e.into_provider("DescribeListeners")),
                        }
                    }))
                    .buffer_unordered(CONCURRENCY)
                    .try_collect()
                    .await?;
                found.extend(each.into_iter().flatten());
            }
            Err(e) => return Err(e.into_provider("DescribeListeners")),
        }
    }
    found.retain(|arn, _| arns.contains(arn));
    Ok(found)
}

async fn describe_by_arns(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arns: &[String],
) -> Result<BTreeMap<String, Attributes>, AwsError> {
    let out = client
        .describe_listeners()
        .set_listener_arns(Some(arns.to_vec()))
        .send()
        .await
        .map_err(AwsError::from_sdk)?;
    Ok(out
        .listeners()
        .iter()
        .filter_map(listener_attributes)
        .collect())
}

/// The ARNs of every load balancer of the region (one paginated DescribeLoadBalancers).
pub(crate) async fn all_load_balancer_arns(
    client: &aws_sdk_elasticloadbalancingv2::Client,
) -> Result<Vec<String>, ProviderError> {
    let lbs: Vec<_> = client
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(api_error("DescribeLoadBalancers"))?;
    Ok(lbs
        .iter()
        .filter_map(|lb| lb.load_balancer_arn().map(str::to_string))
        .collect())
}

/// Every listener of the region: DescribeListeners per load balancer (the API lists by
/// load balancer only), concurrently.
pub(crate) async fn all_listeners(
    client: &aws_sdk_elasticloadbalancingv2::Client,
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let lbs = all_load_balancer_arns(client).await?;
    let per_lb: Vec<BTreeMap<String, Attributes>> =
        futures::stream::iter(lbs.into_iter().map(|lb| async move {
            let r: Result<Vec<_>, _> = client
                .describe_listeners()
                .load_balancer_arn(&lb)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await;
            match r {
                Ok(ls) => Ok(ls.iter().filter_map(listener_attributes).collect()),
                Err(e) => {
                    let e = AwsError::from_sdk(e);
                    if e.is(NOT_FOUND) {
                        Ok(BTreeMap::new())
                    } else {
                        Err(e.into_provider("DescribeListeners"))
                    }
                }
            }
        }))
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(per_lb.into_iter().flatten().collect())
}

fn certificates(inputs: &Attributes) -> Option<Vec<Certificate>> {
    input_str(inputs, "certificate_arn")
        .map(|c| vec![Certificate::builder().certificate_arn(c).build()])
}

fn protocol(inputs: &Attributes) -> Option<ProtocolEnum> {
    input_str(inputs, "protocol").map(|p| ProtocolEnum::from(p.to_uppercase().as_str()))
}

impl Listener {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Listener {
            clients,
            schema: schema(),
        }
    }

    async fn read_one(
        client: &aws_sdk_elasticloadbalancingv2::Client,
        arn: &str,
    ) -> Result<Attributes, ProviderError> {
        let found = describe_listeners(client, &[arn.to_string()]).await?;
        with_tags(client, found)
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

    /// One DescribeListeners per twenty ARNs (per ARN only for a batch naming an unknown
    /// listener), and one DescribeTags per twenty ARNs.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let client = crate::client(&self.clients, req.region);
        let found = describe_listeners(&client, &wanted_arns(req.ids)).await?;
        let found = with_tags(&client, found).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let action = action_from_value(
            inputs.get("default_action").unwrap_or(&Value::Null),
            "default_action",
        )?;
        let out = client
            .create_listener()
            .load_balancer_arn(require_str(inputs, "load_balancer_arn")?)
            .set_port(input_i32(inputs, "port")?)
            .set_protocol(protocol(inputs))
            .set_ssl_policy(input_str(inputs, "ssl_policy"))
            .set_certificates(certificates(inputs))
            .default_actions(action)
            .set_tags(create_tags(inputs))
            .send()
            .await
            .map_err(api_error("CreateListener"))?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| ProviderError::api("CreateListener", "no listener returned"))?
            .to_string();
        let attributes = Self::read_one(&client, &arn).await?;
        Ok(CreateResponse {
            id: arn,
            attributes,
        })
    }

    /// One ModifyListener for port, protocol, policy, certificate and default action (only
    /// the changed ones are sent; a protocol change sends its policy and certificate too).
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let c = |n: &str| any_changed(req.changed, &[n]);
        if c("port")
            || c("protocol")
            || c("ssl_policy")
            || c("certificate_arn")
            || c("default_action")
        {
            let mut m = client.modify_listener().listener_arn(req.id);
            if c("port") {
                m = m.set_port(input_i32(inputs, "port")?);
            }
            if c("protocol") {
                m = m.set_protocol(protocol(inputs));
            }
            if c("protocol") || c("ssl_policy") {
                m = m.set_ssl_policy(input_str(inputs, "ssl_policy"));
            }
            if c("protocol") || c("certificate_arn") {
                m = m.set_certificates(certificates(inputs));
            }
            if c("default_action") {
                m = m.default_actions(action_from_value(
                    inputs.get("default_action").unwrap_or(&Value::Null),
                    "default_action",
                )?);
            }
            m.send().await.map_err(api_error("ModifyListener"))?;
        }
        if c("tags") {
            sync_tags(&client, req.id, inputs, req.prior).await?;
        }
        let attributes = Self::read_one(&client, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteListener",
            client.delete_listener().listener_arn(req.id).send().await,
            NOT_FOUND,
        )
    }

    /// Lists the listeners of every load balancer of the region (one DescribeListeners per
    /// load balancer, concurrently), reads their tags (twenty a call) and keeps those
    /// carrying the ownership tags.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let all = with_tags(&client, all_listeners(&client).await?).await?;
        Ok(all.into_iter().filter(|(_, a)| is_owned(&req, a)).collect())
    }
}
