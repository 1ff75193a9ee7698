//! `aws.ec2.flow_log`: a flow log capturing the IP traffic of a VPC, subnet or network
//! interface into CloudWatch Logs, S3 or Kinesis Data Firehose.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, FlowLogsResourceType, LogDestinationType, ResourceType as Ec2ResourceType, TrafficType,
};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    api_error, describe_ids, filter, input_str, is_changed, ownership_filters, put_str,
    require_str, retain_owned, sync_tags, tag_specification, tags_to_value,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.flow_log";

const NOT_FOUND: &str = "InvalidFlowLogId.NotFound";

pub struct FlowLog {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A flow log: records the IP traffic of a VPC, subnet or network interface to CloudWatch Logs, S3 or Kinesis Data Firehose.",
        attributes: vec![
            AttrSchema::required("resource_id", String)
                .forces_replacement()
                .describe("What to log: a VPC (vpc-...), subnet (subnet-...) or network interface (eni-...)."),
            AttrSchema::optional("traffic_type", String)
                .forces_replacement()
                .default(DefaultValue::Str("ALL"))
                .describe("`ACCEPT`, `REJECT` or `ALL`."),
            AttrSchema::optional("log_destination_type", String)
                .forces_replacement()
                .default(DefaultValue::Str("cloud-watch-logs"))
                .describe("`cloud-watch-logs`, `s3` or `kinesis-data-firehose`."),
            AttrSchema::required("log_destination", String)
                .forces_replacement()
                .describe("The ARN of the log group, bucket (optionally with a folder) or delivery stream."),
            AttrSchema::optional("deliver_logs_permission_arn", String)
                .forces_replacement()
                .describe("The IAM role that may write to the destination (needed for CloudWatch Logs)."),
            AttrSchema::optional("max_aggregation_interval", Number)
                .forces_replacement()
                .default(DefaultValue::Int(600))
                .describe("Seconds over which packets are aggregated into one record: 60 or 600."),
            AttrSchema::optional("tags", Map).describe("Tags on the flow log."),
            AttrSchema::computed("id", String).describe("The flow log id (fl-...)."),
            AttrSchema::computed("deliver_logs_status", String)
                .describe("SUCCESS, or FAILED when logs cannot be delivered."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "vpc_flow_log:\n  type: aws.ec2.flow_log\n  properties:\n    resource_id: ${vpc.id}\n    traffic_type: REJECT\n    log_destination_type: s3\n    log_destination: arn:aws:s3:::my-flow-logs/vpc/\n",
    }
}

/// The kind of resource an id names, from its prefix.
fn resource_type(id: &str) -> Result<FlowLogsResourceType, ProviderError> {
    let kind = if id.starts_with("vpc-") {
        FlowLogsResourceType::Vpc
    } else if id.starts_with("subnet-") {
        FlowLogsResourceType::Subnet
    } else if id.starts_with("eni-") {
        FlowLogsResourceType::NetworkInterface
    } else if id.starts_with("tgw-attach-") {
        FlowLogsResourceType::TransitGatewayAttachment
    } else if id.starts_with("tgw-") {
        FlowLogsResourceType::TransitGateway
    } else {
        return Err(ProviderError::Invalid(format!(
            "resource_id `{id}` is not a VPC, subnet, network interface or transit gateway id"
        )));
    };
    Ok(kind)
}

impl FlowLog {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        FlowLog {
            clients,
            schema: schema(),
        }
    }

    /// The flow logs matching `filters`, by id, with every attribute of the schema.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let logs: Vec<_> = crate::client(&self.clients, region)
            .describe_flow_logs()
            .set_filter(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeFlowLogs"))?;
        let mut found = BTreeMap::new();
        for l in &logs {
            let Some(id) = l.flow_log_id() else { continue };
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "resource_id", l.resource_id());
            put_str(
                &mut attrs,
                "traffic_type",
                l.traffic_type().map(TrafficType::as_str),
            );
            put_str(
                &mut attrs,
                "log_destination_type",
                l.log_destination_type().map(LogDestinationType::as_str),
            );
            put_str(&mut attrs, "log_destination", l.log_destination());
            put_str(
                &mut attrs,
                "deliver_logs_permission_arn",
                l.deliver_logs_permission_arn(),
            );
            if let Some(i) = l.max_aggregation_interval() {
                attrs.insert("max_aggregation_interval".into(), Value::int(i64::from(i)));
            }
            put_str(&mut attrs, "deliver_logs_status", l.deliver_logs_status());
            attrs.insert("tags".into(), tags_to_value(l.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![filter("flow-log-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("flow log {id}")))
    }
}

#[async_trait]
impl ResourceType for FlowLog {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = describe_ids(req.ids, "flow-log-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let resource_id = require_str(inputs, "resource_id")?;
        let interval = super::input_int(inputs, "max_aggregation_interval")?
            .map(|i| {
                i32::try_from(i).map_err(|_| {
                    ProviderError::Invalid(format!("max_aggregation_interval {i} out of range"))
                })
            })
            .transpose()?;
        let out = crate::client(&self.clients, req.region)
            .create_flow_logs()
            .resource_type(resource_type(&resource_id)?)
            .resource_ids(&resource_id)
            .traffic_type(TrafficType::from(
                input_str(inputs, "traffic_type")
                    .unwrap_or_else(|| "ALL".into())
                    .as_str(),
            ))
            .set_log_destination_type(
                input_str(inputs, "log_destination_type")
                    .map(|t| LogDestinationType::from(t.as_str())),
            )
            .log_destination(require_str(inputs, "log_destination")?)
            .set_deliver_logs_permission_arn(input_str(inputs, "deliver_logs_permission_arn"))
            .set_max_aggregation_interval(interval)
            .client_token(req.client_token)
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::VpcFlowLog, inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateFlowLogs"))?;
        // Failures for a resource come back as items, not as an error.
        if let Some(err) = out.unsuccessful().iter().find_map(|u| u.error()) {
            return Err(ProviderError::api(
                "CreateFlowLogs",
                format!(
                    "{}: {}",
                    err.code().unwrap_or("error"),
                    err.message().unwrap_or_default()
                ),
            ));
        }
        let id = super::created_id(
            "CreateFlowLogs",
            out.flow_log_ids().first().map(String::as_str),
        )?;
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        if is_changed(req.changed, "tags") {
            let client = crate::client(&self.clients, req.region);
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let out = crate::client(&self.clients, req.region)
            .delete_flow_logs()
            .flow_log_ids(req.id)
            .send()
            .await;
        let Some(out) = terrane_aws_core::unless_gone("DeleteFlowLogs", out, &[NOT_FOUND])? else {
            return Ok(());
        };
        // Failures of a batch delete come back as items, not as an error.
        for err in out.unsuccessful().iter().filter_map(|u| u.error()) {
            if err.code() == Some(NOT_FOUND) {
                continue;
            }
            return Err(ProviderError::api(
                "DeleteFlowLogs",
                format!(
                    "{}: {}",
                    err.code().unwrap_or("error"),
                    err.message().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self.describe(req.region, ownership_filters(&req)).await?;
        Ok(retain_owned(&req, found))
    }
}
