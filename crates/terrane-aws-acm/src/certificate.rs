//! `aws.acm.certificate`: a public certificate issued by ACM, validated by DNS or email.
//!
//! Reads: one paginated ListCertificates (every status and key algorithm: by default ACM
//! lists only RSA_2048 certificates) tells which requested certificates exist; then, per
//! certificate (ACM has no batched describe or tag read), DescribeCertificate and
//! ListTagsForCertificate together, [`READ_CONCURRENCY`] certificates at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_acm::types::{
    CertificateDetail, CertificateStatus, Filters, KeyAlgorithm, Tag, ValidationMethod,
};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use terrane_aws_core::inputs::{
    input_str, input_strings, is_owned, put_strings, require_str, wanted,
};
use terrane_aws_core::tags::tags_from_inputs;
use terrane_aws_core::{AwsError, api_error, unless_gone};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, decode_tag_value, encode_tag_value};

pub const TYPE_NAME: &str = "aws.acm.certificate";

/// ACM's error code for a certificate that does not exist.
const NOT_FOUND: &str = "ResourceNotFoundException";
/// ACM's error code for deleting a certificate something still uses.
const IN_USE: &str = "ResourceInUseException";

/// Per-certificate reads in flight at once.
const READ_CONCURRENCY: usize = 8;

/// How long ACM may take to publish the DNS validation records of a new certificate.
const RECORDS_WAIT: Duration = Duration::from_secs(120);
/// How long a certificate may stay "in use" after what used it was deleted (ACM learns
/// of it late: a deleted load balancer listener or distribution still counts for a while).
const IN_USE_WAIT: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_secs(5);

pub struct Certificate {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

/// A key algorithm in the form RequestCertificate takes (`RSA_2048`): DescribeCertificate
/// writes some with a hyphen (`RSA-2048`).
pub fn key_algorithm(name: &str) -> String {
    name.replace('-', "_")
}

fn normalize(attr: &str, v: &Value) -> Value {
    match (attr, v) {
        ("key_algorithm", Value::String(s)) => Value::string(key_algorithm(s)),
        _ => v.clone(),
    }
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A public TLS certificate from ACM, for load balancers, CloudFront (in \
                      us-east-1) and API Gateway. With DNS validation, create the records of \
                      `domain_validation_options` (e.g. as `aws.route53.record`s) and ACM \
                      issues the certificate, and renews it, on its own.",
        attributes: vec![
            AttrSchema::required("domain_name", String)
                .forces_replacement()
                .describe("The certificate's main name, e.g. `example.com` or `*.example.com`."),
            AttrSchema::optional("subject_alternative_names", List)
                .unordered()
                .forces_replacement()
                .describe(
                    "Further names the certificate covers, besides `domain_name` (which is \
                     not repeated here).",
                ),
            AttrSchema::optional("validation_method", String)
                .default(DefaultValue::Str("DNS"))
                .forces_replacement()
                .describe("How ownership of the names is proven: `DNS` or `EMAIL`."),
            AttrSchema::optional("key_algorithm", String)
                .default(DefaultValue::Str("RSA_2048"))
                .forces_replacement()
                .describe("`RSA_2048`, `EC_prime256v1` or `EC_secp384r1`."),
            AttrSchema::optional("tags", Map).describe("Tags on the certificate."),
            AttrSchema::computed("arn", String).describe("The certificate's ARN; also its id."),
            AttrSchema::computed("status", String).describe(
                "`PENDING_VALIDATION`, `ISSUED`, `INACTIVE`, `EXPIRED`, \
                 `VALIDATION_TIMED_OUT`, `REVOKED` or `FAILED`.",
            ),
            AttrSchema::computed("domain_validation_options", List).describe(
                "One entry per name, with `domain_name` and the DNS record that proves it: \
                 `resource_record_name`, `resource_record_type`, `resource_record_value`.",
            ),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "site_cert:\n  type: aws.acm.certificate\n  properties:\n    \
                  domain_name: example.com\n    subject_alternative_names: [\"*.example.com\"]\n    \
                  validation_method: DNS\n",
    }
}

/// An idempotency token as ACM takes it (at most 32 word characters): the client token
/// itself when it fits, else a digest of it (the same on every retry).
pub fn idempotency_token(client_token: &str) -> String {
    let fits = !client_token.is_empty()
        && client_token.len() <= 32
        && client_token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if fits {
        client_token.to_string()
    } else {
        hex::encode(Sha256::digest(client_token.as_bytes()))[..32].to_string()
    }
}

fn certificate_attributes(c: &CertificateDetail, tags: Value) -> Attributes {
    let mut a = Attributes::new();
    let domain = c.domain_name().unwrap_or_default();
    if let Some(arn) = c.certificate_arn() {
        a.insert("arn".into(), Value::string(arn));
    }
    a.insert("domain_name".into(), Value::string(domain));
    // ACM lists the main name among the alternative names; terrane's input leaves it out.
    let mut sans: Vec<&str> = c
        .subject_alternative_names()
        .iter()
        .map(String::as_str)
        .filter(|n| *n != domain)
        .collect();
    sans.sort_unstable();
    put_strings(&mut a, "subject_alternative_names", &sans);
    let method = c
        .domain_validation_options()
        .iter()
        .find_map(|d| d.validation_method())
        .map(|m| m.as_str().to_string())
        .or_else(|| {
            (c.r#type().map(|t| t.as_str()) == Some("AMAZON_ISSUED")).then(|| "DNS".into())
        });
    if let Some(m) = method {
        a.insert("validation_method".into(), Value::string(m));
    }
    if let Some(k) = c.key_algorithm() {
        a.insert(
            "key_algorithm".into(),
            Value::string(key_algorithm(k.as_str())),
        );
    }
    if let Some(s) = c.status() {
        a.insert("status".into(), Value::string(s.as_str()));
    }
    let mut options: Vec<Value> = c
        .domain_validation_options()
        .iter()
        .map(|d| {
            let mut m = BTreeMap::new();
            m.insert("domain_name".to_string(), Value::string(d.domain_name()));
            if let Some(r) = d.resource_record() {
                m.insert("resource_record_name".into(), Value::string(r.name()));
                m.insert(
                    "resource_record_type".into(),
                    Value::string(r.r#type().as_str()),
                );
                m.insert("resource_record_value".into(), Value::string(r.value()));
            }
            Value::Map(m)
        })
        .collect();
    options.sort_by(|x, y| {
        let name = |v: &Value| {
            v.as_map()
                .and_then(|m| m.get("domain_name"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        name(x).cmp(&name(y))
    });
    a.insert("domain_validation_options".into(), Value::List(options));
    a.insert("tags".into(), tags);
    a
}

fn tags_value(tags: &[Tag]) -> Value {
    Value::Map(
        tags.iter()
            .filter(|t| !t.key().starts_with("aws:"))
            .map(|t| {
                let value = decode_tag_value(t.key(), t.value().unwrap_or_default());
                (t.key().to_string(), Value::string(value))
            })
            .collect(),
    )
}

fn acm_tag(key: &str, value: Option<&str>) -> Result<Tag, ProviderError> {
    Tag::builder()
        .key(key)
        .set_value(value.map(|v| encode_tag_value(key, v)))
        .build()
        .map_err(|e| ProviderError::Invalid(e.to_string()))
}

async fn read_tags(
    client: &aws_sdk_acm::Client,
    arn: &str,
) -> Result<Option<Value>, ProviderError> {
    let out = unless_gone(
        "ListTagsForCertificate",
        client
            .list_tags_for_certificate()
            .certificate_arn(arn)
            .send()
            .await,
        &[NOT_FOUND],
    )?;
    Ok(out.map(|o| tags_value(o.tags())))
}

pub(crate) async fn describe(
    client: &aws_sdk_acm::Client,
    arn: &str,
) -> Result<Option<CertificateDetail>, ProviderError> {
    let out = unless_gone(
        "DescribeCertificate",
        client
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await,
        &[NOT_FOUND],
    )?;
    Ok(out.and_then(|o| o.certificate().cloned()))
}

/// Everything terrane knows of one certificate: `None` when it does not exist.
async fn read_certificate(
    client: &aws_sdk_acm::Client,
    arn: &str,
) -> Result<Option<Attributes>, ProviderError> {
    let (detail, tags) = futures::try_join!(describe(client, arn), read_tags(client, arn))?;
    Ok(match (detail, tags) {
        (Some(d), Some(t)) => Some(certificate_attributes(&d, t)),
        _ => None,
    })
}

/// The ARN of every certificate of the region, whatever its status or key algorithm: one
/// paginated ListCertificates.
async fn list_arns(client: &aws_sdk_acm::Client) -> Result<Vec<String>, ProviderError> {
    let summaries: Vec<_> = client
        .list_certificates()
        .set_certificate_statuses(Some(
            CertificateStatus::values()
                .iter()
                .map(|s| CertificateStatus::from(*s))
                .collect(),
        ))
        .includes(
            Filters::builder()
                .set_key_types(Some(
                    KeyAlgorithm::values()
                        .iter()
                        .map(|k| KeyAlgorithm::from(*k))
                        .collect(),
                ))
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(api_error("ListCertificates"))?;
    Ok(summaries
        .iter()
        .filter_map(|s| s.certificate_arn().map(str::to_string))
        .collect())
}

/// Runs `read` for each ARN, [`READ_CONCURRENCY`] at once; `None` answers are left out.
async fn read_each<F, Fut>(
    arns: impl IntoIterator<Item = String>,
    read: F,
) -> Result<BTreeMap<String, Attributes>, ProviderError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Attributes>, ProviderError>>,
{
    futures::stream::iter(arns.into_iter().map(|arn| {
        let read = read(arn.clone());
        async move { Ok::<_, ProviderError>((arn, read.await?)) }
    }))
    .buffer_unordered(READ_CONCURRENCY)
    .try_filter_map(|(arn, attrs)| async move { Ok(attrs.map(|a| (arn, a))) })
    .try_collect()
    .await
}

impl Certificate {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Certificate {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_acm::Client {
        crate::client(&self.clients, region)
    }

    /// The certificate once ACM has published a validation record for every name (DNS
    /// validation; a few seconds after the request), so that a stack can create the
    /// records right away. Email validation has no records: the first read answers.
    async fn read_with_records(
        client: &aws_sdk_acm::Client,
        arn: &str,
        dns: bool,
    ) -> Result<Attributes, ProviderError> {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(a) = read_certificate(client, arn).await? {
                let ready = !dns
                    || a.get("domain_validation_options")
                        .and_then(Value::as_list)
                        .is_some_and(|opts| {
                            !opts.is_empty()
                                && opts.iter().all(|o| {
                                    o.as_map()
                                        .is_some_and(|m| m.contains_key("resource_record_name"))
                                })
                        });
                let issued = a.get("status").and_then(Value::as_str) == Some("ISSUED");
                if ready || issued {
                    return Ok(a);
                }
            }
            if start.elapsed() >= RECORDS_WAIT {
                return Err(ProviderError::Timeout(format!(
                    "ACM published no DNS validation records for {arn} within {}s",
                    RECORDS_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[async_trait]
impl ResourceType for Certificate {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let client = self.client(req.region);
        let ids = wanted(req.ids);
        let arns = list_arns(&client)
            .await?
            .into_iter()
            .filter(|a| ids.contains(a.as_str()));
        let found = read_each(arns, |arn| {
            let client = client.clone();
            async move { read_certificate(&client, &arn).await }
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let domain = require_str(inputs, "domain_name")?;
        let sans = input_strings(inputs, "subject_alternative_names");
        if sans.contains(&domain) {
            return Err(ProviderError::Invalid(format!(
                "`subject_alternative_names` must not repeat `domain_name` ({domain}): ACM \
                 always covers it"
            )));
        }
        let method = input_str(inputs, "validation_method").unwrap_or_else(|| "DNS".into());
        if !ValidationMethod::values().contains(&method.as_str()) {
            return Err(ProviderError::Invalid(format!(
                "`validation_method` must be DNS or EMAIL, not {method}"
            )));
        }
        let tags = tags_from_inputs(inputs)
            .iter()
            .map(|(k, v)| acm_tag(k, Some(v)))
            .collect::<Result<Vec<_>, _>>()?;
        // ACM always covers the main name: sending it among the alternatives is harmless
        // and keeps the requested names explicit.
        let mut all_names = vec![domain.clone()];
        all_names.extend(sans);
        let out = client
            .request_certificate()
            .domain_name(&domain)
            .set_subject_alternative_names(Some(all_names))
            .validation_method(ValidationMethod::from(method.as_str()))
            .set_key_algorithm(
                input_str(inputs, "key_algorithm")
                    .map(|k| KeyAlgorithm::from(key_algorithm(&k).as_str())),
            )
            .idempotency_token(idempotency_token(req.client_token))
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(api_error("RequestCertificate"))?;
        let arn = out
            .certificate_arn()
            .ok_or_else(|| ProviderError::api("RequestCertificate", "no certificate ARN returned"))?
            .to_string();
        let attributes = Self::read_with_records(&client, &arn, method == "DNS").await?;
        Ok(CreateResponse {
            id: arn,
            attributes,
        })
    }

    /// Only tags change in place; every other input forces a new certificate.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let arn = req.id;
        if req.changed.iter().any(|c| c == "tags") {
            let want: BTreeMap<String, String> = tags_from_inputs(req.inputs).into_iter().collect();
            let have: BTreeMap<String, String> = tags_from_inputs(req.prior).into_iter().collect();
            let removed = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .map(|k| acm_tag(k, None))
                .collect::<Result<Vec<_>, _>>()?;
            let set = want
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(*v))
                .map(|(k, v)| acm_tag(k, Some(v)))
                .collect::<Result<Vec<_>, _>>()?;
            if !removed.is_empty() {
                client
                    .remove_tags_from_certificate()
                    .certificate_arn(arn)
                    .set_tags(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("RemoveTagsFromCertificate"))?;
            }
            if !set.is_empty() {
                client
                    .add_tags_to_certificate()
                    .certificate_arn(arn)
                    .set_tags(Some(set))
                    .send()
                    .await
                    .map_err(api_error("AddTagsToCertificate"))?;
            }
        }
        let attributes = read_certificate(&client, arn)
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("certificate {arn}")))?;
        Ok(UpdateResponse { attributes })
    }

    /// Deletes the certificate. One still in use (by a load balancer listener, a CloudFront
    /// distribution...) cannot be: ACM learns late that a user is gone, so the delete is
    /// retried for a while, then fails naming what still uses the certificate.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = self.client(req.region);
        let arn = req.id;
        let start = tokio::time::Instant::now();
        loop {
            let result = client
                .delete_certificate()
                .certificate_arn(arn)
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => AwsError::from_sdk(e),
            };
            if err.is(&[NOT_FOUND]) {
                return Ok(());
            }
            if !err.is(&[IN_USE]) {
                return Err(err.into_provider("DeleteCertificate"));
            }
            if start.elapsed() >= IN_USE_WAIT {
                let users = describe(&client, arn)
                    .await
                    .ok()
                    .flatten()
                    .map(|d| d.in_use_by().join(", "))
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| "(ACM does not say)".into());
                return Err(ProviderError::api(
                    "DeleteCertificate",
                    format!(
                        "certificate {arn} is still in use after {}s, by: {users}. Remove it \
                         from these first ({})",
                        IN_USE_WAIT.as_secs(),
                        err.message
                    ),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Lists every certificate of the region (one paginated ListCertificates), reads each
    /// one's tags (ListTagsForCertificate: ACM has no tag filter), and reads the owned ones.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(req.region);
        let arns = list_arns(&client).await?;
        let tagged = read_each(arns, |arn| {
            let client = client.clone();
            async move {
                Ok(read_tags(&client, &arn)
                    .await?
                    .map(|t| [("tags".to_string(), t)].into_iter().collect()))
            }
        })
        .await?;
        let owned: BTreeSet<String> = tagged
            .into_iter()
            .filter(|(_, a)| is_owned(&req, a))
            .map(|(arn, _)| arn)
            .collect();
        read_each(owned, |arn| {
            let client = client.clone();
            async move { read_certificate(&client, &arn).await }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::{idempotency_token, key_algorithm};

    #[test]
    fn key_algorithms_in_request_form() {
        assert_eq!(key_algorithm("RSA-2048"), "RSA_2048");
        assert_eq!(key_algorithm("EC_prime256v1"), "EC_prime256v1");
    }

    #[test]
    fn tokens_fit_acm() {
        assert_eq!(idempotency_token("abc_123"), "abc_123");
        let long = idempotency_token("stack/web.cert:0123456789abcdef0123456789");
        assert_eq!(long.len(), 32);
        assert!(long.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(
            long,
            idempotency_token("stack/web.cert:0123456789abcdef0123456789")
        );
        assert_ne!(long, idempotency_token("stack/web.cert:other"));
    }
}
