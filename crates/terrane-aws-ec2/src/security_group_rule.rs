//! `aws.ec2.security_group_rule`: one ingress or egress rule of a security group, tracked on
//! its own by its rule id (sgr-...), with its own tags. A group whose rules are managed this
//! way leaves its `ingress`/`egress` unset, so the two never fight over the same rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType as Ec2ResourceType,
    SecurityGroupRule as SdkRule, SecurityGroupRuleRequest, SecurityGroupRuleUpdate,
    UserIdGroupPair,
};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    AwsError, api_error, arn, describe_ids, input_int, input_str, is_changed, ownership_filters,
    put_str, require_str, retain_owned, sync_tags, tag_specification, tags_to_value,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.security_group_rule";

const RULE_NOT_FOUND: &[&str] = &[
    "InvalidSecurityGroupRuleId.NotFound",
    "InvalidPermission.NotFound",
    "InvalidGroup.NotFound",
];

/// The attributes that say where traffic comes from (ingress) or goes to (egress).
const PEERS: [&str; 4] = [
    "cidr_ipv4",
    "cidr_ipv6",
    "referenced_security_group_id",
    "prefix_list_id",
];

pub struct SecurityGroupRule {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "One rule of a security group, tracked on its own (its own id, tags and drift); the group then leaves `ingress`/`egress` unset.",
        attributes: vec![
            AttrSchema::required("security_group_id", String)
                .forces_replacement()
                .describe("The group the rule belongs to."),
            AttrSchema::required("direction", String)
                .forces_replacement()
                .describe("`ingress` or `egress`."),
            AttrSchema::required("protocol", String)
                .forces_replacement()
                .describe("tcp, udp, icmp, icmpv6, or \"-1\" for all."),
            AttrSchema::optional("from_port", Number)
                .forces_replacement()
                .describe("First port (or ICMP type); not with protocol -1."),
            AttrSchema::optional("to_port", Number)
                .forces_replacement()
                .describe("Last port (or ICMP code); not with protocol -1."),
            AttrSchema::optional("cidr_ipv4", String)
                .forces_replacement()
                .describe("The IPv4 range the rule allows. Exactly one of cidr_ipv4, cidr_ipv6, referenced_security_group_id and prefix_list_id."),
            AttrSchema::optional("cidr_ipv6", String)
                .forces_replacement()
                .describe("The IPv6 range the rule allows."),
            AttrSchema::optional("referenced_security_group_id", String)
                .forces_replacement()
                .describe("The security group whose members the rule allows."),
            AttrSchema::optional("prefix_list_id", String)
                .forces_replacement()
                .describe("The managed prefix list the rule allows."),
            AttrSchema::optional("description", String)
                .describe("What the rule is for; changed in place."),
            AttrSchema::optional("tags", Map).describe("Tags on the rule."),
            AttrSchema::computed("id", String).describe("The rule id (sgr-...)."),
            AttrSchema::computed("arn", String).describe("The rule's ARN."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "https_in:\n  type: aws.ec2.security_group_rule\n  properties:\n    security_group_id: ${web.id}\n    direction: ingress\n    protocol: tcp\n    from_port: 443\n    to_port: 443\n    cidr_ipv4: 0.0.0.0/0\n    description: HTTPS from anywhere\n",
    }
}

fn attributes(region: &str, r: &SdkRule) -> Option<(String, Attributes)> {
    let id = r.security_group_rule_id()?;
    let mut a = Attributes::new();
    a.insert("id".into(), Value::string(id));
    put_str(&mut a, "security_group_id", r.group_id());
    a.insert(
        "direction".into(),
        Value::string(if r.is_egress() == Some(true) {
            "egress"
        } else {
            "ingress"
        }),
    );
    let protocol = r.ip_protocol().unwrap_or("-1");
    a.insert("protocol".into(), Value::string(protocol));
    // AWS reports -1 ports for "all traffic": the stack leaves them out.
    if protocol != "-1" {
        for (name, port) in [("from_port", r.from_port()), ("to_port", r.to_port())] {
            if let Some(p) = port {
                a.insert(name.into(), Value::int(p.into()));
            }
        }
    }
    put_str(&mut a, "cidr_ipv4", r.cidr_ipv4());
    put_str(&mut a, "cidr_ipv6", r.cidr_ipv6());
    put_str(
        &mut a,
        "referenced_security_group_id",
        r.referenced_group_info().and_then(|g| g.group_id()),
    );
    put_str(&mut a, "prefix_list_id", r.prefix_list_id());
    put_str(&mut a, "description", r.description());
    a.insert("tags".into(), tags_to_value(r.tags()));
    if let Some(owner) = r.group_owner_id() {
        a.insert(
            "arn".into(),
            Value::string(arn(region, owner, "security-group-rule", id)),
        );
    }
    Some((id.to_string(), a))
}

/// The rule as the IpPermission that AuthorizeSecurityGroup{Ingress,Egress} takes.
fn permission(inputs: &Attributes) -> Result<IpPermission, ProviderError> {
    let peers: Vec<&str> = PEERS
        .iter()
        .copied()
        .filter(|p| input_str(inputs, p).is_some())
        .collect();
    if peers.len() != 1 {
        return Err(ProviderError::Invalid(format!(
            "a rule needs exactly one of {}, found {}",
            PEERS.join(", "),
            if peers.is_empty() {
                "none".to_string()
            } else {
                peers.join(" and ")
            }
        )));
    }
    let description = input_str(inputs, "description");
    let port = |name: &str| -> Result<Option<i32>, ProviderError> {
        input_int(inputs, name)?
            .map(|p| {
                i32::try_from(p)
                    .map_err(|_| ProviderError::Invalid(format!("`{name}` is out of range")))
            })
            .transpose()
    };
    let mut p = IpPermission::builder()
        .ip_protocol(require_str(inputs, "protocol")?)
        .set_from_port(port("from_port")?)
        .set_to_port(port("to_port")?);
    p = match peers[0] {
        "cidr_ipv4" => p.ip_ranges(
            IpRange::builder()
                .set_cidr_ip(input_str(inputs, "cidr_ipv4"))
                .set_description(description)
                .build(),
        ),
        "cidr_ipv6" => p.ipv6_ranges(
            Ipv6Range::builder()
                .set_cidr_ipv6(input_str(inputs, "cidr_ipv6"))
                .set_description(description)
                .build(),
        ),
        "referenced_security_group_id" => p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .set_group_id(input_str(inputs, "referenced_security_group_id"))
                .set_description(description)
                .build(),
        ),
        _ => p.prefix_list_ids(
            PrefixListId::builder()
                .set_prefix_list_id(input_str(inputs, "prefix_list_id"))
                .set_description(description)
                .build(),
        ),
    };
    Ok(p.build())
}

fn egress(attrs: &Attributes) -> bool {
    input_str(attrs, "direction").as_deref() == Some("egress")
}

impl SecurityGroupRule {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        SecurityGroupRule {
            clients,
            schema: schema(),
        }
    }

    /// The rules matching `filters`, by id: one paginated DescribeSecurityGroupRules, whose
    /// answer carries each rule's tags.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let rules: Vec<SdkRule> = crate::client(&self.clients, region)
            .describe_security_group_rules()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeSecurityGroupRules"))?;
        Ok(rules.iter().filter_map(|r| attributes(region, r)).collect())
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![super::filter("security-group-rule-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("security group rule {id}")))
    }
}

#[async_trait]
impl ResourceType for SecurityGroupRule {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = describe_ids(req.ids, "security-group-rule-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = crate::client(&self.clients, req.region);
        let group = require_str(inputs, "security_group_id")?;
        let tags = tag_specification(Ec2ResourceType::SecurityGroupRule, inputs);
        let rule = permission(inputs)?;
        // The rule's tags ride on the authorize call: a rule made just before a crash is
        // found again by them.
        let created = if egress(inputs) {
            client
                .authorize_security_group_egress()
                .group_id(&group)
                .ip_permissions(rule)
                .set_tag_specifications(tags.map(|t| vec![t]))
                .send()
                .await
                .map_err(api_error("AuthorizeSecurityGroupEgress"))?
                .security_group_rules
        } else {
            client
                .authorize_security_group_ingress()
                .group_id(&group)
                .ip_permissions(rule)
                .set_tag_specifications(tags.map(|t| vec![t]))
                .send()
                .await
                .map_err(api_error("AuthorizeSecurityGroupIngress"))?
                .security_group_rules
        };
        let id = created
            .unwrap_or_default()
            .first()
            .and_then(|r| r.security_group_rule_id())
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::api("AuthorizeSecurityGroupRule", "no rule id returned")
            })?;
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let inputs = req.inputs;
        if is_changed(req.changed, "description") {
            // ModifySecurityGroupRules restates the whole rule; only the description differs.
            let p = permission(inputs)?;
            let rule = SecurityGroupRuleRequest::builder()
                .set_ip_protocol(p.ip_protocol().map(str::to_string))
                .set_from_port(p.from_port())
                .set_to_port(p.to_port())
                .set_cidr_ipv4(input_str(inputs, "cidr_ipv4"))
                .set_cidr_ipv6(input_str(inputs, "cidr_ipv6"))
                .set_referenced_group_id(input_str(inputs, "referenced_security_group_id"))
                .set_prefix_list_id(input_str(inputs, "prefix_list_id"))
                .set_description(input_str(inputs, "description"))
                .build();
            client
                .modify_security_group_rules()
                .group_id(require_str(inputs, "security_group_id")?)
                .security_group_rules(
                    SecurityGroupRuleUpdate::builder()
                        .security_group_rule_id(req.id)
                        .security_group_rule(rule)
                        .build(),
                )
                .send()
                .await
                .map_err(api_error("ModifySecurityGroupRules"))?;
        }
        if is_changed(req.changed, "tags") {
            sync_tags(&client, req.id, inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let Some(group) = input_str(req.prior, "security_group_id") else {
            return Err(ProviderError::Invalid(format!(
                "rule {} has no recorded security_group_id to revoke it from",
                req.id
            )));
        };
        let result = if egress(req.prior) {
            client
                .revoke_security_group_egress()
                .group_id(&group)
                .security_group_rule_ids(req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::from_sdk)
        } else {
            client
                .revoke_security_group_ingress()
                .group_id(&group)
                .security_group_rule_ids(req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::from_sdk)
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.is(RULE_NOT_FOUND) => Ok(()),
            Err(e) => Err(e.into_provider("RevokeSecurityGroupRule")),
        }
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self.describe(req.region, ownership_filters(&req)).await?;
        Ok(retain_owned(&req, found))
    }
}
