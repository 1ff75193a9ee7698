//! `aws.iam.openid_connect_provider`: an OIDC identity provider IAM trusts, e.g. an EKS
//! cluster's issuer, so that its Kubernetes service accounts can assume IAM roles (IRSA).
//!
//! Reads: one ListOpenIDConnectProviders (the account's provider ARNs, unpaginated) tells
//! which requested providers exist; then a GetOpenIDConnectProvider per provider (IAM has
//! no batched read), [`crate::READ_CONCURRENCY`] at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use terrane_aws_core::inputs::{input_strings, is_owned, put_strings, require_str, wanted};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, NOT_FOUND, found_or_none, read_after_write, read_each, some_tags, string_set,
    tag_changes, tags_value,
};

pub const TYPE_NAME: &str = "aws.iam.openid_connect_provider";

pub struct OidcProvider {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

/// An issuer URL in one form: IAM reports it without `https://` and without a final `/`.
pub fn issuer(url: &str) -> String {
    url.strip_prefix("https://")
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_string()
}

fn normalize(attr: &str, v: &Value) -> Value {
    match (attr, v) {
        ("url", Value::String(s)) => Value::string(issuer(s)),
        _ => v.clone(),
    }
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An OpenID Connect identity provider trusted by IAM: for EKS, the \
                      cluster's OIDC issuer, so that service accounts assume IAM roles (IRSA).",
        attributes: vec![
            AttrSchema::required("url", String)
                .forces_replacement()
                .describe(
                    "The issuer URL (`https://oidc.eks.<region>.amazonaws.com/id/<id>` for \
                     EKS); IAM reports it without `https://`.",
                ),
            AttrSchema::optional("client_id_list", List)
                .unordered()
                .describe("Audiences (client ids) accepted: `sts.amazonaws.com` for IRSA."),
            AttrSchema::optional("thumbprint_list", List)
                .unordered()
                .describe(
                    "SHA-1 thumbprints of the issuer's certificate chain (IAM no longer \
                     checks them for well-known issuers, EKS included).",
                ),
            AttrSchema::optional("tags", Map).describe("Tags on the provider."),
            AttrSchema::computed("arn", String).describe("The provider's ARN; also its id."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "cluster_oidc:\n  type: aws.iam.openid_connect_provider\n  properties:\n    \
                  url: ${cluster.oidc_issuer}\n    client_id_list: [sts.amazonaws.com]\n    \
                  thumbprint_list: [9e99a48a9960b14926bb7f3b02e22da2b0ab7280]\n",
    }
}

async fn read_provider(
    client: &aws_sdk_iam::Client,
    arn: &str,
) -> Result<Option<Attributes>, ProviderError> {
    let Some(p) = found_or_none(
        "GetOpenIDConnectProvider",
        client
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await,
    )?
    else {
        return Ok(None);
    };
    let mut a = Attributes::new();
    a.insert("arn".into(), Value::string(arn));
    if let Some(url) = p.url() {
        a.insert("url".into(), Value::string(url));
    }
    let mut clients = p.client_id_list().to_vec();
    clients.sort();
    put_strings(&mut a, "client_id_list", &clients);
    let mut thumbprints = p.thumbprint_list().to_vec();
    thumbprints.sort();
    put_strings(&mut a, "thumbprint_list", &thumbprints);
    a.insert("tags".into(), tags_value(p.tags()));
    Ok(Some(a))
}

/// The ARN of every OIDC provider of the account: one ListOpenIDConnectProviders.
async fn list_arns(client: &aws_sdk_iam::Client) -> Result<Vec<String>, ProviderError> {
    let out = client
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(api_error("ListOpenIDConnectProviders"))?;
    Ok(out
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn().map(str::to_string))
        .collect())
}

impl OidcProvider {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        OidcProvider {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_iam::Client {
        crate::client(&self.clients, region)
    }
}

#[async_trait]
impl ResourceType for OidcProvider {
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
            async move { read_provider(&client, &arn).await }
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let url = require_str(inputs, "url")?;
        // No idempotency token: a retried create meets EntityAlreadyExists (the ARN is
        // made of the URL), and the engine finds the provider again by its ownership tags.
        let thumbprints = input_strings(inputs, "thumbprint_list");
        let out = client
            .create_open_id_connect_provider()
            .url(&url)
            .set_client_id_list(Some(input_strings(inputs, "client_id_list")))
            .set_thumbprint_list((!thumbprints.is_empty()).then_some(thumbprints))
            .set_tags(some_tags(inputs)?)
            .send()
            .await
            .map_err(api_error("CreateOpenIDConnectProvider"))?;
        let arn = out
            .open_id_connect_provider_arn()
            .ok_or_else(|| {
                ProviderError::api("CreateOpenIDConnectProvider", "no provider ARN returned")
            })?
            .to_string();
        let attributes = read_after_write(&format!("OIDC provider {arn}"), || {
            read_provider(&client, &arn)
        })
        .await?;
        Ok(CreateResponse {
            id: arn,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let (inputs, prior, arn) = (req.inputs, req.prior, req.id);
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        if changed("client_id_list") {
            let want = string_set(inputs, "client_id_list");
            let have = string_set(prior, "client_id_list");
            for id in want.difference(&have) {
                client
                    .add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .client_id(id)
                    .send()
                    .await
                    .map_err(api_error("AddClientIDToOpenIDConnectProvider"))?;
            }
            for id in have.difference(&want) {
                client
                    .remove_client_id_from_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .client_id(id)
                    .send()
                    .await
                    .map_err(api_error("RemoveClientIDFromOpenIDConnectProvider"))?;
            }
        }
        if changed("thumbprint_list") {
            client
                .update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(arn)
                .set_thumbprint_list(Some(input_strings(inputs, "thumbprint_list")))
                .send()
                .await
                .map_err(api_error("UpdateOpenIDConnectProviderThumbprint"))?;
        }
        if changed("tags") {
            let (set, removed) = tag_changes(inputs, prior)?;
            if !removed.is_empty() {
                client
                    .untag_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagOpenIDConnectProvider"))?;
            }
            if !set.is_empty() {
                client
                    .tag_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .set_tags(Some(set))
                    .send()
                    .await
                    .map_err(api_error("TagOpenIDConnectProvider"))?;
            }
        }
        let attributes = read_after_write(&format!("OIDC provider {arn}"), || {
            read_provider(&client, arn)
        })
        .await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = self.client(req.region);
        gone_is_ok(
            "DeleteOpenIDConnectProvider",
            client
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// Lists every provider (one ListOpenIDConnectProviders), reads each one
    /// (GetOpenIDConnectProvider, for its tags: IAM has no tag filter), keeps the owned ones.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(req.region);
        let arns: BTreeSet<String> = list_arns(&client).await?.into_iter().collect();
        let mut all = read_each(arns, |arn| {
            let client = client.clone();
            async move { read_provider(&client, &arn).await }
        })
        .await?;
        all.retain(|_, a| is_owned(&req, a));
        Ok(all)
    }
}
