//! `aws.wafv2.web_acl_association`: a REGIONAL web ACL protecting an application load
//! balancer or an API Gateway stage. Its cloud id is the protected resource's ARN (a
//! resource has at most one web ACL). Not taggable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::require_str;
use terrane_aws_core::{AwsError, api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, CONCURRENCY, NOT_FOUND};

pub const TYPE_NAME: &str = "aws.wafv2.web_acl_association";

pub struct WebAclAssociation {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A WAFv2 web ACL (scope REGIONAL) associated with an application load \
                      balancer or an API Gateway stage. Its id is the resource's ARN.",
        attributes: vec![
            AttrSchema::required("resource_arn", String)
                .forces_replacement()
                .describe(
                    "The protected resource: an application load balancer's ARN or an API \
                     Gateway stage's ARN (`arn:aws:apigateway:<region>::/restapis/<id>/stages/<stage>`).",
                ),
            AttrSchema::required("web_acl_arn", String)
                .describe("The web ACL's ARN; changing it associates the other ACL in place."),
        ],
        taggable: false,
        id_attribute: "resource_arn",
        normalize: None,
        example: "alb_waf:\n  type: aws.wafv2.web_acl_association\n  properties:\n    \
                  resource_arn: ${alb.arn}\n    web_acl_arn: ${api_waf.arn}\n",
    }
}

impl WebAclAssociation {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        WebAclAssociation {
            clients,
            schema: schema(),
        }
    }

    /// The web ACL of one resource; `None` when it has none (or does not exist).
    async fn read(
        client: &aws_sdk_wafv2::Client,
        resource_arn: &str,
    ) -> Result<Option<Attributes>, ProviderError> {
        let r = client
            .get_web_acl_for_resource()
            .resource_arn(resource_arn)
            .send()
            .await;
        let out = match r {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(NOT_FOUND) {
                    return Ok(None);
                }
                return Err(e.into_provider("GetWebACLForResource"));
            }
        };
        Ok(out.web_acl().map(|acl| {
            let mut a = Attributes::new();
            a.insert("resource_arn".into(), Value::string(resource_arn));
            a.insert("web_acl_arn".into(), Value::string(acl.arn()));
            a
        }))
    }

    async fn read_one(
        client: &aws_sdk_wafv2::Client,
        resource_arn: &str,
    ) -> Result<Attributes, ProviderError> {
        Self::read(client, resource_arn).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("web ACL association of {resource_arn}"))
        })
    }

    async fn associate(
        client: &aws_sdk_wafv2::Client,
        inputs: &Attributes,
    ) -> Result<String, ProviderError> {
        let resource = require_str(inputs, "resource_arn")?;
        client
            .associate_web_acl()
            .resource_arn(&resource)
            .web_acl_arn(require_str(inputs, "web_acl_arn")?)
            .send()
            .await
            .map_err(api_error("AssociateWebACL"))?;
        Ok(resource)
    }
}

#[async_trait]
impl ResourceType for WebAclAssociation {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// One GetWebACLForResource per resource (WAFv2 has no batched form), concurrently.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let ids: BTreeSet<String> = req.ids.iter().cloned().collect();
        let client_ref = &client;
        let found: Vec<Option<(String, Attributes)>> =
            futures::stream::iter(ids.into_iter().map(|id| async move {
                Ok::<_, ProviderError>(Self::read(client_ref, &id).await?.map(|a| (id, a)))
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(ObserveResponse {
            found: found.into_iter().flatten().collect(),
        })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let id = Self::associate(&client, req.inputs).await?;
        let attributes = Self::read_one(&client, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    /// A new web ACL is associated in place (AssociateWebACL replaces the old one).
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        if req.changed.iter().any(|c| c == "web_acl_arn") {
            Self::associate(&client, req.inputs).await?;
        }
        let attributes = Self::read_one(&client, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DisassociateWebACL",
            client
                .disassociate_web_acl()
                .resource_arn(req.id)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    /// Associations carry no tags: nothing is ever found by ownership.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
