//! `aws.cloudwatch.log_group`: a CloudWatch Logs log group, with its retention, KMS key
//! and class. Its cloud id is its name.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroupClass;
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{
    input_i32, input_str, is_owned, put_int, put_str, require_str, wanted,
};
use terrane_aws_core::{api_error, gone_is_ok};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{AwsClients, CONCURRENCY, tag_changes, tag_map, tags_value};

pub const TYPE_NAME: &str = "aws.cloudwatch.log_group";

const NOT_FOUND: &str = "ResourceNotFoundException";

pub struct LogGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A CloudWatch Logs log group: where a Lambda function, an ECS task or a \
                      VPC flow log writes, with its retention and encryption.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The log group's name, e.g. `/aws/lambda/my-function`; its cloud id."),
            AttrSchema::optional("retention_in_days", Number).describe(
                "Days events are kept (1, 3, 5, 7, 14, 30, 60, 90, ... 3653); events never \
                 expire when unset.",
            ),
            AttrSchema::optional("kms_key_id", String).describe(
                "The ARN of the KMS key that encrypts the log data (its key policy must let \
                 the CloudWatch Logs service use it).",
            ),
            AttrSchema::optional("log_group_class", String)
                .forces_replacement()
                .describe(
                    "`STANDARD` (the default) or `INFREQUENT_ACCESS` (cheaper, fewer features).",
                ),
            AttrSchema::optional("tags", Map).describe("Tags on the log group."),
            AttrSchema::computed("arn", String).describe(
                "The log group's ARN, without the `:*` suffix (add it for IAM policies on its \
                 log streams).",
            ),
        ],
        taggable: true,
        id_attribute: "name",
        normalize: None,
        example: "api_logs:\n  type: aws.cloudwatch.log_group\n  properties:\n    \
                  name: /aws/lambda/api\n    retention_in_days: 30\n    tags:\n      \
                  team: api\n",
    }
}

/// A described log group's attributes, without its tags.
fn group_attributes(g: &aws_sdk_cloudwatchlogs::types::LogGroup) -> Attributes {
    let mut a = Attributes::new();
    put_str(&mut a, "name", g.log_group_name());
    put_int(&mut a, "retention_in_days", g.retention_in_days());
    put_str(&mut a, "kms_key_id", g.kms_key_id());
    put_str(
        &mut a,
        "log_group_class",
        g.log_group_class().map(LogGroupClass::as_str),
    );
    let arn = g
        .log_group_arn()
        .map(str::to_string)
        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()));
    put_str(&mut a, "arn", arn.as_deref());
    a
}

impl LogGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        LogGroup {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_cloudwatchlogs::Client {
        crate::logs_client(&self.clients, region)
    }

    /// The log groups `keep` accepts, by name: one paginated DescribeLogGroups of the region
    /// (`prefix` narrows it when reading a single group), then ListTagsForResource per group,
    /// concurrently (CloudWatch Logs has no batched tag read).
    async fn list(
        &self,
        region: &str,
        prefix: Option<&str>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(region);
        let groups: Vec<_> = client
            .describe_log_groups()
            .set_log_group_name_prefix(prefix.map(str::to_string))
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeLogGroups"))?;
        let found: Vec<(String, Attributes)> = groups
            .iter()
            .flat_map(|page| page.log_groups())
            .filter_map(|g| {
                let name = g.log_group_name()?;
                keep(name).then(|| (name.to_string(), group_attributes(g)))
            })
            .collect();
        futures::stream::iter(found)
            .map(|(name, mut attrs)| {
                let client = client.clone();
                async move {
                    let arn = attrs.get("arn").and_then(Value::as_str).map(str::to_string);
                    let tags = match arn {
                        Some(arn) => match client
                            .list_tags_for_resource()
                            .resource_arn(arn)
                            .send()
                            .await
                        {
                            Ok(out) => Some(tags_value(
                                out.tags()
                                    .into_iter()
                                    .flatten()
                                    .map(|(k, v)| (k.as_str(), v.as_str())),
                            )),
                            // Deleted between the describe and the tag read: absent.
                            Err(e)
                                if e.as_service_error()
                                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
                            {
                                None
                            }
                            Err(e) => return Err(api_error("ListTagsForResource")(e)),
                        },
                        None => Some(Value::Map(BTreeMap::new())),
                    };
                    Ok(tags.map(|t| {
                        attrs.insert("tags".into(), t);
                        (name, attrs)
                    }))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await
    }

    async fn read_one(&self, region: &str, name: &str) -> Result<Attributes, ProviderError> {
        self.list(region, Some(name), |n| n == name)
            .await?
            .remove(name)
            .ok_or_else(|| ProviderError::NotFound(format!("log group {name}")))
    }

    async fn put_retention(
        &self,
        client: &aws_sdk_cloudwatchlogs::Client,
        name: &str,
        inputs: &Attributes,
    ) -> Result<(), ProviderError> {
        match input_i32(inputs, "retention_in_days")? {
            Some(days) => {
                client
                    .put_retention_policy()
                    .log_group_name(name)
                    .retention_in_days(days)
                    .send()
                    .await
                    .map_err(api_error("PutRetentionPolicy"))?;
            }
            None => {
                client
                    .delete_retention_policy()
                    .log_group_name(name)
                    .send()
                    .await
                    .map_err(api_error("DeleteRetentionPolicy"))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for LogGroup {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let ids = wanted(req.ids);
        // One id: narrow the listing to its name as prefix; several: list the region.
        let prefix = (ids.len() == 1)
            .then(|| ids.iter().next().copied())
            .flatten();
        let found = self
            .list(req.region, prefix, |name| ids.contains(name))
            .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let name = require_str(inputs, "name")?;
        client
            .create_log_group()
            .log_group_name(&name)
            .set_kms_key_id(input_str(inputs, "kms_key_id"))
            .set_log_group_class(input_str(inputs, "log_group_class").map(|c| c.as_str().into()))
            .set_tags({
                let tags = tag_map(inputs);
                (!tags.is_empty()).then(|| tags.into_iter().collect())
            })
            .send()
            .await
            .map_err(api_error("CreateLogGroup"))?;
        if input_i32(inputs, "retention_in_days")?.is_some() {
            self.put_retention(&client, &name, inputs).await?;
        }
        let attributes = self.read_one(req.region, &name).await?;
        Ok(CreateResponse {
            id: name,
            attributes,
        })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let inputs = req.inputs;
        let name = req.id;
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        if changed("retention_in_days") {
            self.put_retention(&client, name, inputs).await?;
        }
        if changed("kms_key_id") {
            match input_str(inputs, "kms_key_id") {
                Some(key) => {
                    client
                        .associate_kms_key()
                        .log_group_name(name)
                        .kms_key_id(key)
                        .send()
                        .await
                        .map_err(api_error("AssociateKmsKey"))?;
                }
                None => {
                    client
                        .disassociate_kms_key()
                        .log_group_name(name)
                        .send()
                        .await
                        .map_err(api_error("DisassociateKmsKey"))?;
                }
            }
        }
        if changed("tags") {
            let arn = req
                .prior
                .get("arn")
                .and_then(Value::as_str)
                .map(str::to_string);
            let arn = match arn {
                Some(arn) => arn,
                None => self
                    .read_one(req.region, name)
                    .await?
                    .get("arn")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| ProviderError::api("DescribeLogGroups", "no ARN returned"))?,
            };
            let (set, removed) = tag_changes(inputs, req.prior);
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(api_error("UntagResource"))?;
            }
            if !set.is_empty() {
                client
                    .tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(set.into_iter().collect()))
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
        }
        let attributes = self.read_one(req.region, name).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        gone_is_ok(
            "DeleteLogGroup",
            self.client(req.region)
                .delete_log_group()
                .log_group_name(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// DescribeLogGroups has no tag filter: every log group of the region is listed with
    /// its tags, and those carrying the ownership tags are kept.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = self.list(req.region, None, |_| true).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
