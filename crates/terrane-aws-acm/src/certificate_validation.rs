//! `aws.acm.certificate_validation`: the wait until ACM has issued a certificate. It makes
//! nothing in AWS: creating it waits (the SDK's `CertificateValidated` waiter) until the
//! certificate is `ISSUED`, so that what uses the certificate (a CloudFront distribution,
//! a load balancer listener) can reference this resource's `certificate_arn` and be created
//! only then. Its cloud id is the certificate's ARN.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_acm::client::Waiters;
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{require_str, wanted};
use terrane_aws_core::waiter_error;
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.acm.certificate_validation";

/// How long a certificate may take to be issued once its validation records exist (AWS:
/// usually minutes; DNS propagation can take longer).
const WAIT: Duration = Duration::from_secs(45 * 60);

const READ_CONCURRENCY: usize = 8;

pub struct CertificateValidation {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "Waits until ACM has issued a certificate (DNS or email validation done). \
                      Nothing is made in AWS: reference its `certificate_arn` where the \
                      certificate is used, so that the user is created after issuance. A \
                      certificate no longer issued (expired, revoked) is waited for again.",
        attributes: vec![
            AttrSchema::required("certificate_arn", String)
                .forces_replacement()
                .describe("The certificate (`aws.acm.certificate`'s `arn`)."),
            AttrSchema::optional("validation_record_fqdns", List)
                .unordered()
                .forces_replacement()
                .describe("The DNS validation records' names: listing them (from the records' own attributes) makes the wait start once they exist."),
            AttrSchema::computed("id", String).describe("The certificate's ARN."),
        ],
        taggable: false,
        id_attribute: "id",
        normalize: None,
        example: "edge_certificate_issued:\n  type: aws.acm.certificate_validation\n  properties:\n    certificate_arn: ${edge_certificate.arn}\n    validation_record_fqdns: [\"${edge_certificate_validation.fqdn}\"]\n",
    }
}

impl CertificateValidation {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        CertificateValidation {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_acm::Client {
        crate::client(&self.clients, region)
    }
}

/// Whether the certificate `arn` exists and is issued.
async fn issued(client: &aws_sdk_acm::Client, arn: &str) -> Result<bool, ProviderError> {
    let detail = crate::certificate::describe(client, arn).await?;
    Ok(detail
        .and_then(|c| c.status().cloned())
        .is_some_and(|s| s.as_str() == "ISSUED"))
}

fn attributes(arn: &str) -> Attributes {
    Attributes::from([
        ("id".to_string(), Value::string(arn)),
        ("certificate_arn".to_string(), Value::string(arn)),
    ])
}

#[async_trait]
impl ResourceType for CertificateValidation {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// Present while its certificate is issued. ACM has no batched describe: one
    /// DescribeCertificate per certificate, concurrently.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let client = self.client(req.region);
        let arns: Vec<String> = wanted(req.ids).into_iter().map(str::to_string).collect();
        let found: Vec<Option<(String, Attributes)>> = futures::stream::iter(arns)
            .map(|arn| {
                let client = client.clone();
                async move {
                    Ok::<_, ProviderError>(
                        issued(&client, &arn)
                            .await?
                            .then(|| (arn.clone(), attributes(&arn))),
                    )
                }
            })
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(ObserveResponse {
            found: found.into_iter().flatten().collect(),
        })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let arn = require_str(req.inputs, "certificate_arn")?;
        self.client(req.region)
            .wait_until_certificate_validated()
            .certificate_arn(&arn)
            .wait(WAIT)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!(
                        "wait (at most {} min) for certificate {arn} to be issued: are its validation records in DNS?",
                        WAIT.as_secs() / 60
                    ),
                    e,
                )
            })?;
        Ok(CreateResponse {
            id: arn.clone(),
            attributes: attributes(&arn),
        })
    }

    /// Every attribute forces replacement: there is nothing to change in place.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        Ok(UpdateResponse {
            attributes: req.prior.clone(),
        })
    }

    /// Nothing exists in AWS for a validation: forgetting it is all there is to do (the
    /// certificate is its own resource).
    async fn delete(&self, _req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Nothing of its own in AWS, so nothing carries ownership tags.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}
