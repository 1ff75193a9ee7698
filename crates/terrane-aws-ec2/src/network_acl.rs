//! `aws.ec2.network_acl`: a network ACL of a VPC, with its numbered ingress and egress
//! entries.
//!
//! Entries are held in one canonical form, a list sorted by rule number of maps
//! `{rule_number, protocol, action, cidr_block | ipv6_cidr_block, from_port, to_port,
//! icmp_type, icmp_code}` (ports only for tcp and udp, ICMP type and code only for icmp), so
//! that the stack's spelling (`protocol: tcp` or `6`, `action: ALLOW`) and AWS's compare
//! equal. An update creates, replaces and deletes entries by rule number. AWS's own last
//! rule (number 32767, deny everything) is not shown and cannot be managed.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, IcmpTypeCode, NetworkAcl as Nacl, NetworkAclEntry, PortRange,
    ResourceType as Ec2ResourceType, RuleAction,
};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    api_error, arn, created_id, gone_is_ok, is_changed, ownership_filters, put_str, require_str,
    retain_owned, sync_tags, tag_specification, tags_to_value,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.network_acl";

const NOT_FOUND: &str = "InvalidNetworkAclID.NotFound";
const ENTRY_NOT_FOUND: &str = "InvalidNetworkAclEntry.NotFound";
/// AWS's catch-all deny rule, present in every ACL.
const DEFAULT_RULE: i64 = 32767;

pub struct NetworkAcl {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A network ACL: stateless, numbered allow/deny rules for the subnets associated with it.",
        attributes: vec![
            AttrSchema::required("vpc_id", String)
                .forces_replacement()
                .describe("The VPC the ACL belongs to."),
            AttrSchema::optional("ingress", List).unordered().describe(
                "Inbound entries: maps of rule_number (1-32766), protocol (tcp, udp, icmp, \
                 a protocol number, or \"-1\" for all), action (allow or deny), cidr_block or \
                 ipv6_cidr_block, from_port and to_port (tcp, udp), icmp_type and icmp_code \
                 (icmp). When unset, the live entries are left alone; `[]` removes them all.",
            ),
            AttrSchema::optional("egress", List)
                .unordered()
                .describe("Outbound entries, as ingress."),
            AttrSchema::optional("tags", Map).describe("Tags on the network ACL."),
            AttrSchema::computed("id", String).describe("The network ACL id (acl-...)."),
            AttrSchema::computed("owner_id", String)
                .describe("The AWS account that owns the network ACL."),
            AttrSchema::computed("arn", String).describe("The network ACL's ARN."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "acl:\n  type: aws.ec2.network_acl\n  properties:\n    vpc_id: ${vpc.id}\n    ingress:\n      - rule_number: 100\n        protocol: tcp\n        action: allow\n        cidr_block: 0.0.0.0/0\n        from_port: 443\n        to_port: 443\n    egress:\n      - rule_number: 100\n        protocol: \"-1\"\n        action: allow\n        cidr_block: 0.0.0.0/0\n",
    }
}

// ---------------------------------------------------------------------------------------
// Entries

/// One canonical entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    rule_number: i64,
    protocol: String,
    action: String,
    cidr_block: Option<String>,
    ipv6_cidr_block: Option<String>,
    from_port: Option<i64>,
    to_port: Option<i64>,
    icmp_type: Option<i64>,
    icmp_code: Option<i64>,
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

/// The protocol as AWS takes it: a number.
fn protocol_number(p: &str) -> String {
    match p {
        "tcp" => "6".into(),
        "udp" => "17".into(),
        "icmp" => "1".into(),
        "icmpv6" => "58".into(),
        other => other.into(),
    }
}

fn has_ports(protocol: &str) -> bool {
    matches!(protocol, "tcp" | "udp")
}

fn has_icmp(protocol: &str) -> bool {
    matches!(protocol, "icmp" | "icmpv6")
}

impl Entry {
    fn from_value(v: &Value) -> Result<Entry, String> {
        let m = v.as_map().ok_or("each entry must be a map")?;
        for k in m.keys() {
            if ![
                "rule_number",
                "protocol",
                "action",
                "cidr_block",
                "ipv6_cidr_block",
                "from_port",
                "to_port",
                "icmp_type",
                "icmp_code",
            ]
            .contains(&k.as_str())
            {
                return Err(format!("unknown entry key `{k}`"));
            }
        }
        let text = |k: &str| -> Option<String> {
            match m.get(k)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let int = |k: &str| -> Result<Option<i64>, String> {
            text(k)
                .map(|t| {
                    t.trim()
                        .parse::<i64>()
                        .map_err(|_| format!("`{k}` must be an integer, not {t}"))
                })
                .transpose()
        };
        let rule_number = int("rule_number")?.ok_or("`rule_number` is required")?;
        let protocol = canonical_protocol(&text("protocol").ok_or("`protocol` is required")?);
        let action = text("action")
            .ok_or("`action` is required")?
            .to_ascii_lowercase();
        if !matches!(action.as_str(), "allow" | "deny") {
            return Err(format!("`action` must be allow or deny, not {action}"));
        }
        let cidr_block = text("cidr_block");
        let ipv6_cidr_block = text("ipv6_cidr_block");
        if cidr_block.is_some() == ipv6_cidr_block.is_some() {
            return Err("an entry takes one of cidr_block and ipv6_cidr_block".into());
        }
        let ports = has_ports(&protocol);
        let icmp = has_icmp(&protocol);
        let (from_port, to_port) = if ports {
            let from = int("from_port")?.ok_or("`from_port` is required for tcp and udp")?;
            (Some(from), Some(int("to_port")?.unwrap_or(from)))
        } else {
            (None, None)
        };
        let (icmp_type, icmp_code) = if icmp {
            (
                Some(int("icmp_type")?.unwrap_or(-1)),
                Some(int("icmp_code")?.unwrap_or(-1)),
            )
        } else {
            (None, None)
        };
        Ok(Entry {
            rule_number,
            protocol,
            action,
            cidr_block,
            ipv6_cidr_block,
            from_port,
            to_port,
            icmp_type,
            icmp_code,
        })
    }

    fn from_sdk(e: &NetworkAclEntry) -> Option<Entry> {
        let protocol = canonical_protocol(e.protocol()?);
        let ports = has_ports(&protocol);
        let icmp = has_icmp(&protocol);
        Some(Entry {
            rule_number: i64::from(e.rule_number()?),
            action: e.rule_action()?.as_str().to_ascii_lowercase(),
            cidr_block: e.cidr_block().map(str::to_string),
            ipv6_cidr_block: e.ipv6_cidr_block().map(str::to_string),
            from_port: e
                .port_range()
                .and_then(PortRange::from)
                .map(i64::from)
                .filter(|_| ports),
            to_port: e
                .port_range()
                .and_then(PortRange::to)
                .map(i64::from)
                .filter(|_| ports),
            icmp_type: e
                .icmp_type_code()
                .and_then(IcmpTypeCode::r#type)
                .map(i64::from)
                .filter(|_| icmp),
            icmp_code: e
                .icmp_type_code()
                .and_then(IcmpTypeCode::code)
                .map(i64::from)
                .filter(|_| icmp),
            protocol,
        })
    }

    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("rule_number".to_string(), Value::int(self.rule_number));
        m.insert("protocol".to_string(), Value::string(&self.protocol));
        m.insert("action".to_string(), Value::string(&self.action));
        let mut put_s = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.to_string(), Value::string(v));
            }
        };
        put_s("cidr_block", &self.cidr_block);
        put_s("ipv6_cidr_block", &self.ipv6_cidr_block);
        for (k, v) in [
            ("from_port", self.from_port),
            ("to_port", self.to_port),
            ("icmp_type", self.icmp_type),
            ("icmp_code", self.icmp_code),
        ] {
            if let Some(v) = v {
                m.insert(k.to_string(), Value::int(v));
            }
        }
        Value::Map(m)
    }
}

fn parse_entries(v: &Value) -> Result<BTreeMap<i64, Entry>, String> {
    let list = v.as_list().ok_or("entries must be a list")?;
    let mut out = BTreeMap::new();
    for item in list {
        let e = Entry::from_value(item)?;
        if !(1..DEFAULT_RULE).contains(&e.rule_number) {
            return Err(format!(
                "rule_number {} is outside 1-{}",
                e.rule_number,
                DEFAULT_RULE - 1
            ));
        }
        if out.insert(e.rule_number, e).is_some() {
            return Err("two entries share a rule_number".into());
        }
    }
    Ok(out)
}

fn entries_value(entries: &BTreeMap<i64, Entry>) -> Value {
    Value::List(entries.values().map(Entry::to_value).collect())
}

/// The schema's normalizer: `ingress` and `egress`, in stack or observed form, as the
/// canonical list sorted by rule number. Anything it cannot read (or not yet known) is
/// returned unchanged, for validation to report.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if !matches!(attr, "ingress" | "egress") || value.contains_unknown() {
        return value.clone();
    }
    match parse_entries(value) {
        Ok(entries) => entries_value(&entries),
        Err(_) => value.clone(),
    }
}

fn desired_entries(
    inputs: &Attributes,
    attr: &str,
) -> Result<Option<BTreeMap<i64, Entry>>, ProviderError> {
    match inputs.get(attr) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_entries(v)
            .map(Some)
            .map_err(|e| ProviderError::Invalid(format!("{attr}: {e}"))),
    }
}

fn observed_entries(attrs: &Attributes, attr: &str) -> BTreeMap<i64, Entry> {
    attrs
        .get(attr)
        .and_then(|v| parse_entries(v).ok())
        .unwrap_or_default()
}

/// Brings one direction's entries from `have` to `want`, by rule number.
async fn apply_entries(
    client: &aws_sdk_ec2::Client,
    id: &str,
    egress: bool,
    have: &BTreeMap<i64, Entry>,
    want: &BTreeMap<i64, Entry>,
) -> Result<(), ProviderError> {
    for (n, e) in want {
        let port_range = e.from_port.map(|from| {
            PortRange::builder()
                .from(from as i32)
                .set_to(e.to_port.map(|t| t as i32))
                .build()
        });
        let icmp = e.icmp_type.map(|t| {
            IcmpTypeCode::builder()
                .r#type(t as i32)
                .set_code(e.icmp_code.map(|c| c as i32))
                .build()
        });
        match have.get(n) {
            Some(h) if h == e => {}
            Some(_) => {
                client
                    .replace_network_acl_entry()
                    .network_acl_id(id)
                    .egress(egress)
                    .rule_number(*n as i32)
                    .protocol(protocol_number(&e.protocol))
                    .rule_action(RuleAction::from(e.action.as_str()))
                    .set_cidr_block(e.cidr_block.clone())
                    .set_ipv6_cidr_block(e.ipv6_cidr_block.clone())
                    .set_port_range(port_range)
                    .set_icmp_type_code(icmp)
                    .send()
                    .await
                    .map_err(api_error("ReplaceNetworkAclEntry"))?;
            }
            None => {
                client
                    .create_network_acl_entry()
                    .network_acl_id(id)
                    .egress(egress)
                    .rule_number(*n as i32)
                    .protocol(protocol_number(&e.protocol))
                    .rule_action(RuleAction::from(e.action.as_str()))
                    .set_cidr_block(e.cidr_block.clone())
                    .set_ipv6_cidr_block(e.ipv6_cidr_block.clone())
                    .set_port_range(port_range)
                    .set_icmp_type_code(icmp)
                    .send()
                    .await
                    .map_err(api_error("CreateNetworkAclEntry"))?;
            }
        }
    }
    for n in have.keys().filter(|n| !want.contains_key(n)) {
        gone_is_ok(
            "DeleteNetworkAclEntry",
            client
                .delete_network_acl_entry()
                .network_acl_id(id)
                .egress(egress)
                .rule_number(*n as i32)
                .send()
                .await,
            &[ENTRY_NOT_FOUND],
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The resource type

impl NetworkAcl {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        NetworkAcl {
            clients,
            schema: schema(),
        }
    }

    async fn describe_raw(
        &self,
        region: &str,
        filters: Vec<Filter>,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<Nacl>, ProviderError> {
        crate::client(&self.clients, region)
            .describe_network_acls()
            .set_filters(Some(filters))
            .set_network_acl_ids(ids)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeNetworkAcls"))
    }

    /// The ACLs matching `filters`, by id, with every attribute of the schema.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
        ids: Option<Vec<String>>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let mut found = BTreeMap::new();
        for acl in self.describe_raw(region, filters, ids).await? {
            let Some(id) = acl.network_acl_id() else {
                continue;
            };
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "vpc_id", acl.vpc_id());
            put_str(&mut attrs, "owner_id", acl.owner_id());
            if let Some(owner) = acl.owner_id() {
                attrs.insert(
                    "arn".into(),
                    Value::string(arn(region, owner, "network-acl", id)),
                );
            }
            let (mut ingress, mut egress) = (BTreeMap::new(), BTreeMap::new());
            for e in acl.entries() {
                let Some(entry) = Entry::from_sdk(e) else {
                    continue;
                };
                if entry.rule_number >= DEFAULT_RULE {
                    continue;
                }
                if e.egress() == Some(true) {
                    egress.insert(entry.rule_number, entry);
                } else {
                    ingress.insert(entry.rule_number, entry);
                }
            }
            attrs.insert("ingress".into(), entries_value(&ingress));
            attrs.insert("egress".into(), entries_value(&egress));
            attrs.insert("tags".into(), tags_to_value(acl.tags()));
            found.insert(id.to_string(), attrs);
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        // By id: it exists (it was just made or is being changed).
        self.describe(region, Vec::new(), Some(vec![id.to_string()]))
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("network ACL {id}")))
    }
}

#[async_trait]
impl ResourceType for NetworkAcl {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        // One paginated describe of the region's network ACLs, keeping the requested ids: a
        // filter on `network-acl-id` is not understood by every EC2-compatible endpoint, and the
        // id-list parameter fails the whole call when one id is unknown.
        let mut found = if req.ids.is_empty() {
            BTreeMap::new()
        } else {
            self.describe(req.region, Vec::new(), None).await?
        };
        let wanted = terrane_aws_core::inputs::wanted(req.ids);
        found.retain(|id, _| wanted.contains(id.as_str()));
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        // Validate the entries before anything is created.
        let ingress = desired_entries(inputs, "ingress")?;
        let egress = desired_entries(inputs, "egress")?;
        let client = crate::client(&self.clients, req.region);
        let out = client
            .create_network_acl()
            .vpc_id(require_str(inputs, "vpc_id")?)
            .client_token(req.client_token)
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::NetworkAcl, inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateNetworkAcl"))?;
        let id = created_id(
            "CreateNetworkAcl",
            out.network_acl().and_then(|a| a.network_acl_id()),
        )?;
        if ingress.is_some() || egress.is_some() {
            // Start from what AWS made (a new ACL has only the default deny rules).
            let live = self.observe_one(req.region, &id).await?;
            if let Some(want) = &ingress {
                let have = observed_entries(&live, "ingress");
                apply_entries(&client, &id, false, &have, want).await?;
            }
            if let Some(want) = &egress {
                let have = observed_entries(&live, "egress");
                apply_entries(&client, &id, true, &have, want).await?;
            }
        }
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        for (attr, egress) in [("ingress", false), ("egress", true)] {
            if !is_changed(req.changed, attr) {
                continue;
            }
            if let Some(want) = desired_entries(req.inputs, attr)? {
                let have = observed_entries(req.prior, attr);
                apply_entries(&client, req.id, egress, &have, &want).await?;
            }
        }
        if is_changed(req.changed, "tags") {
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteNetworkAcl",
            client
                .delete_network_acl()
                .network_acl_id(req.id)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self
            .describe(req.region, ownership_filters(&req), None)
            .await?;
        Ok(retain_owned(&req, found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn stack_and_observed_spellings_normalize_alike() {
        let stack = Value::List(vec![
            entry(&[
                ("rule_number", Value::string("200")),
                ("protocol", Value::string("ALL")),
                ("action", Value::string("DENY")),
                ("cidr_block", Value::string("10.0.0.0/8")),
            ]),
            entry(&[
                ("rule_number", Value::int(100)),
                ("protocol", Value::int(6)),
                ("action", Value::string("allow")),
                ("cidr_block", Value::string("0.0.0.0/0")),
                ("from_port", Value::int(443)),
            ]),
        ]);
        let n = normalize("ingress", &stack);
        let list = n.as_list().unwrap();
        assert_eq!(list[0].as_map().unwrap()["rule_number"], Value::int(100));
        assert_eq!(list[0].as_map().unwrap()["protocol"], Value::string("tcp"));
        assert_eq!(list[0].as_map().unwrap()["to_port"], Value::int(443));
        assert_eq!(list[1].as_map().unwrap()["protocol"], Value::string("-1"));
        assert_eq!(list[1].as_map().unwrap()["action"], Value::string("deny"));
        assert!(!list[1].as_map().unwrap().contains_key("from_port"));
        assert_eq!(normalize("ingress", &n), n);
    }

    #[test]
    fn bad_entries_are_refused_or_left_unchanged() {
        let dup = Value::List(vec![
            entry(&[
                ("rule_number", Value::int(1)),
                ("protocol", Value::string("-1")),
                ("action", Value::string("allow")),
                ("cidr_block", Value::string("0.0.0.0/0")),
            ]);
            2
        ]);
        assert!(parse_entries(&dup).is_err());
        assert_eq!(normalize("egress", &dup), dup);
        let no_cidr = Value::List(vec![entry(&[
            ("rule_number", Value::int(1)),
            ("protocol", Value::string("-1")),
            ("action", Value::string("allow")),
        ])]);
        assert!(parse_entries(&no_cidr).is_err());
    }
}
