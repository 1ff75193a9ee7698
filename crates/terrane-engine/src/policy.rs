//! Security checks run by `terrane validate --policy`: each a pure look at one resource's
//! desired inputs, reported with its address and where it was written, waivable per
//! resource with a reason.

use std::collections::BTreeMap;

use serde::Serialize;
use terrane_core::{SchemaSource, SourceLocation, Value};
use terrane_plan::PlannedLookup;
use terrane_stack::Stack;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyFinding {
    pub rule: &'static str,
    pub address: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub location: SourceLocation,
    pub message: String,
    /// Set when the resource waives this rule: the reason given.
    pub waived: Option<String>,
}

/// The checks, by id: what they look for, in one line each (for docs and `--policy` output).
pub const RULES: &[(&str, &str)] = &[
    (
        "open-admin-port",
        "a security group open to the whole internet (0.0.0.0/0 or ::/0) on an administration or database port",
    ),
    (
        "unencrypted-storage",
        "storage without encryption at rest: RDS instances and clusters, ElastiCache, DynamoDB, S3, EBS",
    ),
    ("public-bucket", "an S3 bucket that allows public access"),
    (
        "eks-public-endpoint",
        "an EKS API endpoint open to the internet with no CIDR list",
    ),
    ("kms-no-rotation", "a KMS key without automatic rotation"),
];

/// Ports an attacker looks for: SSH, RDP, and the usual databases and caches.
const ADMIN_PORTS: &[(i64, &str)] = &[
    (22, "SSH"),
    (3389, "RDP"),
    (3306, "MySQL"),
    (5432, "PostgreSQL"),
    (1433, "SQL Server"),
    (6379, "Redis"),
    (11211, "Memcached"),
    (27017, "MongoDB"),
    (9200, "Elasticsearch"),
];

pub fn check(stack: &Stack, schemas: &dyn SchemaSource) -> Vec<PolicyFinding> {
    // Values known before apply are what the checks judge; references stay unknown.
    let lookup = PlannedLookup::new();
    let mut out = Vec::new();
    for inst in &stack.instances {
        let Some(schema) = schemas.schema(&inst.type_name) else {
            continue;
        };
        let Ok(inputs) = terrane_plan::desired_inputs(stack, inst, schema, &lookup) else {
            continue;
        };
        let at = |attr: &str| {
            inst.property_location(attr)
                .unwrap_or_else(|| inst.location.clone())
        };
        let mut found = |rule: &'static str, attr: &str, message: String| {
            out.push(PolicyFinding {
                rule,
                address: inst.address.to_string(),
                type_name: inst.type_name.clone(),
                location: at(attr),
                message,
                waived: inst
                    .decl
                    .waivers
                    .iter()
                    .find(|w| w.rule == rule)
                    .map(|w| w.reason.clone()),
            });
        };
        match inst.type_name.as_str() {
            "aws.ec2.security_group" => {
                for rule in inputs
                    .get("ingress")
                    .and_then(Value::as_list)
                    .unwrap_or_default()
                {
                    if let Some(m) = open_admin_port(rule) {
                        found("open-admin-port", "ingress", m);
                    }
                }
            }
            "aws.ec2.security_group_rule"
                if inputs.get("direction").and_then(Value::as_str) == Some("ingress") =>
            {
                // The same rule written as a group's `ingress` entry.
                let mut as_entry = inputs.clone();
                if let Some(c) = inputs.get("cidr_ipv4") {
                    as_entry.insert("cidr_block".into(), c.clone());
                }
                if let Some(c) = inputs.get("cidr_ipv6") {
                    as_entry.insert("ipv6_cidr_blocks".into(), Value::List(vec![c.clone()]));
                }
                if let Some(m) = open_admin_port(&Value::Map(as_entry)) {
                    found("open-admin-port", "cidr_ipv4", m);
                }
            }
            "aws.rds.db_instance" | "aws.rds.db_cluster"
                if !is_true(&inputs, "storage_encrypted")
                    && !inputs.contains_key("replicate_source_db") =>
            {
                found("unencrypted-storage", "storage_encrypted", "storage is not encrypted: set storage_encrypted: true (and kms_key_id for a key of your own)".into());
            }
            "aws.elasticache.replication_group" if !is_true(&inputs, "at_rest_encryption") => {
                found(
                    "unencrypted-storage",
                    "at_rest_encryption",
                    "data at rest is not encrypted: set at_rest_encryption: true".into(),
                );
            }
            "aws.dynamodb.table"
                if inputs.get("sse_enabled").and_then(Value::as_bool) == Some(false) =>
            {
                found(
                    "unencrypted-storage",
                    "sse_enabled",
                    "server-side encryption with a KMS key is turned off".into(),
                );
            }
            "aws.eks.cluster" => {
                let public = inputs
                    .get("endpoint_public_access")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let cidrs = inputs
                    .get("public_access_cidrs")
                    .and_then(Value::as_list)
                    .unwrap_or_default();
                let open =
                    cidrs.is_empty() || cidrs.iter().any(|c| c.as_str() == Some("0.0.0.0/0"));
                if public && open {
                    found("eks-public-endpoint", "endpoint_public_access", "the cluster's API endpoint is open to the whole internet: set public_access_cidrs, or endpoint_public_access: false".into());
                }
            }
            "aws.s3.bucket" => {
                if inputs.get("encryption").is_none_or(Value::is_null)
                    && !is_true(&inputs, "encrypted")
                {
                    found(
                        "unencrypted-storage",
                        "encryption",
                        "the bucket declares no default encryption".into(),
                    );
                }
                if inputs.get("block_public_access").and_then(Value::as_bool) == Some(false)
                    || inputs
                        .get("acl")
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.starts_with("public"))
                {
                    found(
                        "public-bucket",
                        "block_public_access",
                        "the bucket allows public access".into(),
                    );
                }
            }
            "aws.kms.key" if !is_true(&inputs, "enable_key_rotation") => {
                found(
                    "kms-no-rotation",
                    "enable_key_rotation",
                    "automatic key rotation is off: set enable_key_rotation: true".into(),
                );
            }
            "aws.ec2.volume" if !is_true(&inputs, "encrypted") => {
                found(
                    "unencrypted-storage",
                    "encrypted",
                    "the volume is not encrypted".into(),
                );
            }
            _ => {}
        }
    }
    out
}

fn is_true(inputs: &BTreeMap<String, Value>, attr: &str) -> bool {
    inputs.get(attr).and_then(Value::as_bool) == Some(true)
}

/// Whether one ingress rule (as the stack writes it) opens an admin port to everyone.
fn open_admin_port(rule: &Value) -> Option<String> {
    let m = rule.as_map()?;
    let world = |key: &str, any: &str| {
        m.get(key)
            .and_then(Value::as_list)
            .unwrap_or_default()
            .iter()
            .any(|c| c.as_str() == Some(any))
    };
    let to_world = world("cidr_blocks", "0.0.0.0/0")
        || world("ipv6_cidr_blocks", "::/0")
        || m.get("cidr_block").and_then(Value::as_str) == Some("0.0.0.0/0");
    if !to_world {
        return None;
    }
    let protocol = m
        .get("protocol")
        .map(|p| p.to_string().trim_matches('"').to_string())
        .unwrap_or_default();
    let (from, to) = if protocol == "-1" || protocol == "all" {
        (0, 65535)
    } else {
        (
            m.get("from_port").and_then(Value::as_i64)?,
            m.get("to_port").and_then(Value::as_i64)?,
        )
    };
    let hit: Vec<String> = ADMIN_PORTS
        .iter()
        .filter(|(p, _)| (from..=to).contains(p))
        .map(|(p, n)| format!("{p} ({n})"))
        .collect();
    (!hit.is_empty()).then(|| format!("ingress open to the whole internet on {}", hit.join(", ")))
}
