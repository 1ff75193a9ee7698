//! `aws.ec2.security_group`: a VPC security group and its ingress and egress rules.
//!
//! Rules are held in one canonical form: a sorted list of single-source rules
//! `{protocol, from_port, to_port, cidr_block | ipv6_cidr_block | source_security_group_id |
//! prefix_list_id, description}`. The stack's grouped form (`cidr_blocks: [..]`, ...) and
//! AWS's IpPermissions both turn into it, so a plan compares rules as sets and an update
//! revokes and authorizes exactly the difference.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType as Ec2ResourceType,
    SecurityGroup as Sg, UserIdGroupPair,
};
use terrane_core::{AttrSchema, DefaultValue, OwnsAll, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    WAIT_FOR_CREATE, api_error, arn, describe_ids, filter, gone_is_ok, input_str,
    ownership_filters, put_str, require_str, retain_owned, sync_tags, tag_specification,
    tags_to_value, waiter_error,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.security_group";

pub const DEFAULT_DESCRIPTION: &str = "Managed by terrane";

const NOT_FOUND: &str = "InvalidGroup.NotFound";

pub struct SecurityGroup {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A VPC security group: stateful firewall rules for the network interfaces it is attached to.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The group name, unique within the VPC."),
            AttrSchema::optional("description", String)
                .forces_replacement()
                .default(DefaultValue::Str(DEFAULT_DESCRIPTION))
                .describe("The group description."),
            AttrSchema::required("vpc_id", String)
                .forces_replacement()
                .describe("The VPC the group belongs to."),
            AttrSchema::optional("ingress", List)
                .unordered()
                .owns_all(rules_of("ingress"))
                .describe(
                    "Inbound rules: maps of protocol (tcp, udp, icmp or \"-1\" for all), \
                     from_port, to_port, cidr_blocks, ipv6_cidr_blocks, \
                     source_security_group_ids, prefix_list_ids and description. \
                     When unset, the live rules are left alone; `[]` removes them all.",
                ),
            AttrSchema::optional("egress", List)
                .unordered()
                .owns_all(rules_of("egress"))
                .describe(
                    "Outbound rules, as ingress. When unset, AWS's default egress \
                     (all traffic to anywhere) is left alone.",
                ),
            AttrSchema::optional("tags", Map).describe("Tags on the security group."),
            AttrSchema::computed("id", String).describe("The security group id (sg-...)."),
            AttrSchema::computed("arn", String).describe("The security group's ARN."),
            AttrSchema::computed("owner_id", String)
                .describe("The AWS account that owns the security group."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "web:\n  type: aws.ec2.security_group\n  properties:\n    name: web\n    vpc_id: ${vpc.id}\n    ingress:\n      - protocol: tcp\n        from_port: 443\n        to_port: 443\n        cidr_blocks: [0.0.0.0/0]\n        description: HTTPS\n",
    }
}

// ---------------------------------------------------------------------------------------
// Rules

/// Set inline, `ingress` (or `egress`) is every rule of that direction the group has, so a
/// separate `aws.ec2.security_group_rule` of that direction on the group cannot coexist.
const fn rules_of(direction: &'static str) -> OwnsAll {
    OwnsAll {
        member_type: "aws.ec2.security_group_rule",
        via: "security_group_id",
        when: Some(("direction", direction)),
    }
}

/// Where a rule lets traffic come from (ingress) or go to (egress).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Cidr(String),
    Ipv6Cidr(String),
    Group(String),
    PrefixList(String),
}

impl Source {
    fn key(&self) -> &'static str {
        match self {
            Source::Cidr(_) => "cidr_block",
            Source::Ipv6Cidr(_) => "ipv6_cidr_block",
            Source::Group(_) => "source_security_group_id",
            Source::PrefixList(_) => "prefix_list_id",
        }
    }

    fn value(&self) -> &str {
        match self {
            Source::Cidr(s) | Source::Ipv6Cidr(s) | Source::Group(s) | Source::PrefixList(s) => s,
        }
    }
}

/// One canonical rule: one protocol and port range, one source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    protocol: String,
    from_port: Option<i64>,
    to_port: Option<i64>,
    source: Source,
    description: Option<String>,
}

/// What identifies a rule in AWS: everything but its description.
type RuleKey<'a> = (&'a str, Option<i64>, Option<i64>, &'a Source);

impl Rule {
    fn key(&self) -> RuleKey<'_> {
        (&self.protocol, self.from_port, self.to_port, &self.source)
    }

    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("protocol".to_string(), Value::string(&self.protocol));
        if let Some(p) = self.from_port {
            m.insert("from_port".to_string(), Value::int(p));
        }
        if let Some(p) = self.to_port {
            m.insert("to_port".to_string(), Value::int(p));
        }
        m.insert(
            self.source.key().to_string(),
            Value::string(self.source.value()),
        );
        if let Some(d) = &self.description {
            m.insert("description".to_string(), Value::string(d));
        }
        Value::Map(m)
    }

    fn to_permission(&self) -> Result<IpPermission, ProviderError> {
        let port = |p: Option<i64>| {
            p.map(i32::try_from)
                .transpose()
                .map_err(|_| ProviderError::Invalid(format!("port {p:?} out of range")))
        };
        let description = self.description.clone();
        let p = IpPermission::builder()
            .ip_protocol(&self.protocol)
            .set_from_port(port(self.from_port)?)
            .set_to_port(port(self.to_port)?);
        let p = match &self.source {
            Source::Cidr(c) => p.ip_ranges(
                IpRange::builder()
                    .cidr_ip(c)
                    .set_description(description)
                    .build(),
            ),
            Source::Ipv6Cidr(c) => p.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(c)
                    .set_description(description)
                    .build(),
            ),
            Source::Group(g) => p.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g)
                    .set_description(description)
                    .build(),
            ),
            Source::PrefixList(l) => p.prefix_list_ids(
                PrefixListId::builder()
                    .prefix_list_id(l)
                    .set_description(description)
                    .build(),
            ),
        };
        Ok(p.build())
    }
}

/// `tcp`, `udp`, `icmp`, `icmpv6`, `-1` (all), or another IP protocol number.
fn canonical_protocol(p: &str) -> String {
    match p.trim().to_ascii_lowercase().as_str() {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        "all" | "-1" => "-1".into(),
        other => other.into(),
    }
}

/// Ports mean something only for these protocols; for the others AWS allows every port.
fn has_ports(protocol: &str) -> bool {
    matches!(protocol, "tcp" | "udp" | "icmp" | "icmpv6")
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

const RULE_KEYS: &[&str] = &[
    "protocol",
    "from_port",
    "to_port",
    "cidr_blocks",
    "cidr_block",
    "ipv6_cidr_blocks",
    "ipv6_cidr_block",
    "source_security_group_ids",
    "source_security_group_id",
    "prefix_list_ids",
    "prefix_list_id",
    "description",
];

/// One rule as written in a stack (grouped, `cidr_blocks: [..]`) or in canonical form
/// (`cidr_block: ..`), as canonical rules.
fn parse_rule(v: &Value) -> Result<Vec<Rule>, String> {
    let m = v
        .as_map()
        .ok_or_else(|| format!("a rule must be a map, found a {}", v.type_name()))?;
    if let Some(k) = m.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown rule key `{k}` (expected one of: {})",
            RULE_KEYS.join(", ")
        ));
    }
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let protocol = m
        .get("protocol")
        .and_then(text)
        .map(|p| canonical_protocol(&p))
        .ok_or("a rule needs a protocol (tcp, udp, icmp or \"-1\")")?;
    let port = |name: &str| -> Result<Option<i64>, String> {
        match m.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(p) if (-1..=65535).contains(&p) => Ok(Some(p)),
                _ => Err(format!("`{name}` must be a port number, found {v}")),
            },
        }
    };
    let (from_port, to_port) = if has_ports(&protocol) {
        match (port("from_port")?, port("to_port")?) {
            (Some(f), Some(t)) => (Some(f), Some(t)),
            _ => {
                return Err(format!("a {protocol} rule needs from_port and to_port"));
            }
        }
    } else {
        (None, None)
    };
    let description = m.get("description").and_then(|d| non_empty(d.as_str()));
    let mut sources = Vec::new();
    for (plural, single, make) in [
        (
            "cidr_blocks",
            "cidr_block",
            Source::Cidr as fn(String) -> Source,
        ),
        ("ipv6_cidr_blocks", "ipv6_cidr_block", Source::Ipv6Cidr),
        (
            "source_security_group_ids",
            "source_security_group_id",
            Source::Group,
        ),
        ("prefix_list_ids", "prefix_list_id", Source::PrefixList),
    ] {
        match m.get(plural) {
            None | Some(Value::Null) => {}
            Some(Value::List(items)) => {
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| format!("`{plural}` must be a list of strings"))?;
                    sources.push(make(s.to_string()));
                }
            }
            Some(other) => {
                return Err(format!(
                    "`{plural}` must be a list, found a {}",
                    other.type_name()
                ));
            }
        }
        match m.get(single) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => sources.push(make(s.clone())),
            Some(other) => {
                return Err(format!(
                    "`{single}` must be a string, found a {}",
                    other.type_name()
                ));
            }
        }
    }
    if sources.is_empty() {
        return Err(
            "a rule needs at least one of cidr_blocks, ipv6_cidr_blocks, \
             source_security_group_ids or prefix_list_ids"
                .into(),
        );
    }
    Ok(sources
        .into_iter()
        .map(|source| Rule {
            protocol: protocol.clone(),
            from_port,
            to_port,
            source,
            description: description.clone(),
        })
        .collect())
}

/// A rule list, in stack or canonical form, as a sorted set of canonical rules.
fn parse_rules(v: &Value) -> Result<BTreeSet<Rule>, String> {
    match v {
        Value::Null => Ok(BTreeSet::new()),
        Value::List(items) => {
            let mut rules = BTreeSet::new();
            for item in items {
                rules.extend(parse_rule(item)?);
            }
            Ok(rules)
        }
        other => Err(format!(
            "rules must be a list, found a {}",
            other.type_name()
        )),
    }
}

fn rules_value(rules: &BTreeSet<Rule>) -> Value {
    Value::List(rules.iter().map(Rule::to_value).collect())
}

/// AWS's IpPermissions as canonical rules.
fn rules_from_permissions(perms: &[IpPermission]) -> BTreeSet<Rule> {
    let mut rules = BTreeSet::new();
    for p in perms {
        let protocol = canonical_protocol(p.ip_protocol().unwrap_or("-1"));
        let (from_port, to_port) = if has_ports(&protocol) {
            (p.from_port().map(i64::from), p.to_port().map(i64::from))
        } else {
            (None, None)
        };
        let mut add = |source: Source, description: Option<&str>| {
            rules.insert(Rule {
                protocol: protocol.clone(),
                from_port,
                to_port,
                source,
                description: non_empty(description),
            });
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                add(Source::Cidr(c.into()), r.description());
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                add(Source::Ipv6Cidr(c.into()), r.description());
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                add(Source::Group(id.into()), g.description());
            }
        }
        for l in p.prefix_list_ids() {
            if let Some(id) = l.prefix_list_id() {
                add(Source::PrefixList(id.into()), l.description());
            }
        }
    }
    rules
}

/// The schema's normalizer: `ingress` and `egress`, in stack or observed form, as the
/// canonical sorted list of single-source rules. Anything it cannot read (or not yet
/// known) is returned unchanged, for validation to report.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if !matches!(attr, "ingress" | "egress") || value.contains_unknown() {
        return value.clone();
    }
    match parse_rules(value) {
        Ok(rules) => rules_value(&rules),
        Err(_) => value.clone(),
    }
}

/// The desired rules of `attr`; `None` when the input is unset (not managed).
fn desired_rules(inputs: &Attributes, attr: &str) -> Result<Option<BTreeSet<Rule>>, ProviderError> {
    match inputs.get(attr) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_rules(v)
            .map(Some)
            .map_err(|e| ProviderError::Invalid(format!("{attr}: {e}"))),
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Ingress,
    Egress,
}

/// Brings one direction's rules from `have` to `want`: authorizes new rules first (so no
/// traffic is cut that stays allowed), rewrites descriptions of rules that only differ
/// there, then revokes what is no longer wanted.
async fn apply_rules(
    client: &aws_sdk_ec2::Client,
    id: &str,
    direction: Direction,
    have: &BTreeSet<Rule>,
    want: &BTreeSet<Rule>,
) -> Result<(), ProviderError> {
    let removed: Vec<&Rule> = have.difference(want).collect();
    let added: Vec<&Rule> = want.difference(have).collect();
    let removed_keys: BTreeSet<RuleKey<'_>> = removed.iter().map(|r| r.key()).collect();
    let (redescribed, new): (Vec<&Rule>, Vec<&Rule>) = added
        .into_iter()
        .partition(|r| removed_keys.contains(&r.key()));
    let redescribed_keys: BTreeSet<RuleKey<'_>> = redescribed.iter().map(|r| r.key()).collect();
    let revoked: Vec<&Rule> = removed
        .into_iter()
        .filter(|r| !redescribed_keys.contains(&r.key()))
        .collect();
    let perms = |rules: &[&Rule]| -> Result<Option<Vec<IpPermission>>, ProviderError> {
        rules
            .iter()
            .map(|r| r.to_permission())
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    };

    if !new.is_empty() {
        match direction {
            Direction::Ingress => client
                .authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(perms(&new)?)
                .send()
                .await
                .map(|_| ())
                .map_err(api_error("AuthorizeSecurityGroupIngress")),
            Direction::Egress => client
                .authorize_security_group_egress()
                .group_id(id)
                .set_ip_permissions(perms(&new)?)
                .send()
                .await
                .map(|_| ())
                .map_err(api_error("AuthorizeSecurityGroupEgress")),
        }?;
    }
    if !redescribed.is_empty() {
        match direction {
            Direction::Ingress => client
                .update_security_group_rule_descriptions_ingress()
                .group_id(id)
                .set_ip_permissions(perms(&redescribed)?)
                .send()
                .await
                .map(|_| ())
                .map_err(api_error("UpdateSecurityGroupRuleDescriptionsIngress")),
            Direction::Egress => client
                .update_security_group_rule_descriptions_egress()
                .group_id(id)
                .set_ip_permissions(perms(&redescribed)?)
                .send()
                .await
                .map(|_| ())
                .map_err(api_error("UpdateSecurityGroupRuleDescriptionsEgress")),
        }?;
    }
    if !revoked.is_empty() {
        match direction {
            Direction::Ingress => client
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(perms(&revoked)?)
                .send()
                .await
                .map(|_| ())
                .map_err(api_error("RevokeSecurityGroupIngress")),
            Direction::Egress => client
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(perms(&revoked)?)
                .send()
                .await
                .map(|_| ())
                .map_err(api_error("RevokeSecurityGroupEgress")),
        }?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The resource type

impl SecurityGroup {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        SecurityGroup {
            clients,
            schema: schema(),
        }
    }

    async fn describe_raw(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<Vec<Sg>, ProviderError> {
        crate::client(&self.clients, region)
            .describe_security_groups()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeSecurityGroups"))
    }

    /// The groups matching `filters`, by id, with every attribute of the schema.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = BTreeMap::new();
        for g in self.describe_raw(region, filters).await? {
            let Some(id) = g.group_id() else { continue };
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "name", g.group_name());
            put_str(&mut attrs, "description", g.description());
            put_str(&mut attrs, "vpc_id", g.vpc_id());
            put_str(&mut attrs, "owner_id", g.owner_id());
            let arn = match (g.security_group_arn(), g.owner_id()) {
                (Some(a), _) => Some(a.to_string()),
                (None, Some(owner)) => Some(arn(region, owner, "security-group", id)),
                (None, None) => None,
            };
            put_str(&mut attrs, "arn", arn.as_deref());
            attrs.insert(
                "ingress".into(),
                rules_value(&rules_from_permissions(g.ip_permissions())),
            );
            attrs.insert(
                "egress".into(),
                rules_value(&rules_from_permissions(g.ip_permissions_egress())),
            );
            attrs.insert("tags".into(), tags_to_value(g.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, vec![filter("group-id", [id])])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("security group {id}")))
    }
}

/// The canonical rules of an observed attribute (absent: none).
fn observed_rules(attrs: &Attributes, attr: &str) -> BTreeSet<Rule> {
    attrs
        .get(attr)
        .and_then(|v| parse_rules(v).ok())
        .unwrap_or_default()
}

#[async_trait]
impl ResourceType for SecurityGroup {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = describe_ids(req.ids, "group-id", |filters| {
            self.describe(req.region, filters)
        })
        .await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        // Validate the rules before anything is created.
        let ingress = desired_rules(inputs, "ingress")?;
        let egress = desired_rules(inputs, "egress")?;
        let client = crate::client(&self.clients, req.region);
        let out = client
            .create_security_group()
            .group_name(require_str(inputs, "name")?)
            .description(
                input_str(inputs, "description").unwrap_or_else(|| DEFAULT_DESCRIPTION.into()),
            )
            .vpc_id(require_str(inputs, "vpc_id")?)
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::SecurityGroup, inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateSecurityGroup"))?;
        let id = out
            .group_id()
            .ok_or_else(|| {
                ProviderError::api("CreateSecurityGroup", "the response carries no group id")
            })?
            .to_string();
        if ingress.is_some() || egress.is_some() {
            client
                .wait_until_security_group_exists()
                .filters(filter("group-id", [id.as_str()]))
                .wait(WAIT_FOR_CREATE)
                .await
                .map_err(|e| waiter_error("wait for the security group to exist", e))?;
            // Start from what AWS made (a new group has AWS's default egress rule).
            let live = self.observe_one(req.region, &id).await?;
            if let Some(want) = &ingress {
                let have = observed_rules(&live, "ingress");
                apply_rules(&client, &id, Direction::Ingress, &have, want).await?;
            }
            if let Some(want) = &egress {
                let have = observed_rules(&live, "egress");
                apply_rules(&client, &id, Direction::Egress, &have, want).await?;
            }
        }
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let changed = |name: &str| req.changed.iter().any(|c| c == name);
        for (attr, direction) in [
            ("ingress", Direction::Ingress),
            ("egress", Direction::Egress),
        ] {
            if !changed(attr) {
                continue;
            }
            // Unset means unmanaged: leave the live rules alone.
            if let Some(want) = desired_rules(req.inputs, attr)? {
                let have = observed_rules(req.prior, attr);
                apply_rules(&client, req.id, direction, &have, &want).await?;
            }
        }
        if changed("tags") {
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteSecurityGroup",
            client.delete_security_group().group_id(req.id).send().await,
            &[NOT_FOUND],
        )
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self.describe(req.region, ownership_filters(&req)).await?;
        Ok(retain_owned(&req, found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::string(*s)).collect())
    }

    #[test]
    fn grouped_rules_split_into_sorted_single_source_rules() {
        let stack = Value::List(vec![rule(&[
            ("protocol", Value::string("TCP")),
            ("from_port", Value::int(443)),
            ("to_port", Value::string("443")),
            ("cidr_blocks", strings(&["10.0.0.0/8", "0.0.0.0/0"])),
            ("description", Value::string("")),
        ])]);
        let n = normalize("ingress", &stack);
        let list = n.as_list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0].as_map().unwrap()["cidr_block"],
            Value::string("0.0.0.0/0")
        );
        assert_eq!(list[0].as_map().unwrap()["protocol"], Value::string("tcp"));
        assert_eq!(list[0].as_map().unwrap()["to_port"], Value::int(443));
        assert!(!list[0].as_map().unwrap().contains_key("description"));
        // Canonical form is a fixed point.
        assert_eq!(normalize("ingress", &n), n);
    }

    #[test]
    fn all_traffic_rules_carry_no_ports() {
        let stack = Value::List(vec![rule(&[
            ("protocol", Value::int(-1)),
            ("cidr_blocks", strings(&["0.0.0.0/0"])),
        ])]);
        let observed = rules_value(&rules_from_permissions(&[IpPermission::builder()
            .ip_protocol("-1")
            .from_port(-1)
            .to_port(-1)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build()]));
        assert_eq!(normalize("egress", &stack), observed);
    }

    #[test]
    fn unreadable_or_unknown_rules_are_left_unchanged() {
        let bad = Value::List(vec![rule(&[("protocol", Value::string("tcp"))])]);
        assert_eq!(normalize("ingress", &bad), bad);
        let unknown = Value::List(vec![rule(&[
            ("protocol", Value::string("tcp")),
            ("from_port", Value::int(1)),
            ("to_port", Value::int(2)),
            (
                "source_security_group_ids",
                Value::List(vec![Value::Unknown]),
            ),
        ])]);
        assert_eq!(normalize("ingress", &unknown), unknown);
        assert_eq!(normalize("name", &Value::string("x")), Value::string("x"));
    }
}
