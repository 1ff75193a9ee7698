//! `aws.route53.record`: one record set of a hosted zone (plain, alias, or with a routing
//! policy: weighted, latency, geolocation, failover).
//!
//! Route53 records carry no tags, so the type is not taggable and `find_by_ownership`
//! finds nothing: an interrupted create is retried with the same UPSERT, which is
//! idempotent by nature.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, GeoLocation, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, ResourceRecordSetRegion, RrType,
};
use terrane_aws_core::AwsError;
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, bare_id, built, dns_name, input_bool, input_i64, input_str, input_strings,
    require_str, value_str, wait_in_sync,
};

pub const TYPE_NAME: &str = "aws.route53.record";

pub struct Record {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A DNS record set in a Route53 hosted zone: plain values or an alias, \
                      optionally with a routing policy (weighted, latency, geolocation, failover).",
        attributes: vec![
            AttrSchema::required("zone_id", String)
                .forces_replacement()
                .describe("The hosted zone's id."),
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The record's full name, e.g. www.example.com."),
            AttrSchema::required("type", String)
                .forces_replacement()
                .describe("The record type: A, AAAA, CNAME, TXT, MX, ..."),
            AttrSchema::optional("ttl", Number)
                .describe("Seconds resolvers may cache the answer (not with `alias`)."),
            AttrSchema::optional("records", List)
                .unordered()
                .describe("The values (TXT values in double quotes); not with `alias`."),
            AttrSchema::optional("alias", Map).describe(
                "An alias to an AWS resource: `{name, zone_id, evaluate_target_health}` \
                 (evaluate_target_health defaults to false).",
            ),
            AttrSchema::optional("set_identifier", String)
                .forces_replacement()
                .describe("Tells apart the records of one name and type under a routing policy."),
            AttrSchema::optional("weight", Number)
                .describe("Weighted routing: this record's weight."),
            AttrSchema::optional("region", String)
                .describe("Latency routing: the AWS region of this record's endpoint."),
            AttrSchema::optional("geolocation", Map).describe(
                "Geolocation routing: `{continent}` or `{country, subdivision}` codes; \
                 `{country: \"*\"}` is the default location.",
            ),
            AttrSchema::optional("failover", String)
                .describe("Failover routing: `PRIMARY` or `SECONDARY`."),
            AttrSchema::optional("health_check_id", String)
                .describe("The health check deciding whether this record is served."),
            AttrSchema::computed("id", String)
                .describe("`zone_id/name/type`, then `/set_identifier` when there is one."),
            AttrSchema::computed("fqdn", String).describe("The record's full name."),
        ],
        taggable: false,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "www:\n  type: aws.route53.record\n  properties:\n    zone_id: ${zone.id}\n    \
                  name: www.example.com\n    type: A\n    ttl: 300\n    records: [192.0.2.10]\n",
    }
}

/// `name` as a canonical DNS name; `alias` with its name canonical and
/// `evaluate_target_health` filled in; `geolocation` without empty parts.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match (attr, value) {
        ("name", Value::String(s)) => Value::string(dns_name(s)),
        ("alias", Value::Map(m)) => {
            let mut out = BTreeMap::new();
            if let Some(n) = m.get("name").and_then(value_str) {
                out.insert("name".to_string(), Value::string(dns_name(&n)));
            }
            if let Some(z) = m.get("zone_id").and_then(value_str) {
                out.insert("zone_id".to_string(), Value::string(z));
            }
            let eval = match m.get("evaluate_target_health") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s == "true",
                _ => false,
            };
            out.insert("evaluate_target_health".to_string(), Value::Bool(eval));
            Value::Map(out)
        }
        ("geolocation", Value::Map(m)) => Value::Map(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// The composite id of a record.
pub fn record_id(zone_id: &str, name: &str, kind: &str, set_identifier: Option<&str>) -> String {
    let base = format!("{}/{}/{}", bare_id(zone_id), dns_name(name), kind);
    match set_identifier {
        Some(s) if !s.is_empty() => format!("{base}/{s}"),
        _ => base,
    }
}

/// The zone id of a composite id.
fn zone_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

fn record_attributes(zone_id: &str, r: &ResourceRecordSet) -> (String, Attributes) {
    let name = dns_name(r.name());
    let kind = r.r#type().as_str().to_string();
    let id = record_id(zone_id, &name, &kind, r.set_identifier());
    let mut a = Attributes::new();
    a.insert("id".into(), Value::string(&id));
    a.insert("zone_id".into(), Value::string(zone_id));
    a.insert("name".into(), Value::string(&name));
    a.insert("fqdn".into(), Value::string(&name));
    a.insert("type".into(), Value::string(kind));
    if let Some(ttl) = r.ttl() {
        a.insert("ttl".into(), Value::int(ttl));
    }
    if r.alias_target().is_none() {
        a.insert(
            "records".into(),
            Value::List(
                r.resource_records()
                    .iter()
                    .map(|v| Value::string(v.value()))
                    .collect(),
            ),
        );
    }
    if let Some(t) = r.alias_target() {
        a.insert(
            "alias".into(),
            normalize(
                "alias",
                &Value::Map(
                    [
                        ("name".to_string(), Value::string(t.dns_name())),
                        ("zone_id".to_string(), Value::string(t.hosted_zone_id())),
                        (
                            "evaluate_target_health".to_string(),
                            Value::Bool(t.evaluate_target_health()),
                        ),
                    ]
                    .into(),
                ),
            ),
        );
    }
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            a.insert(k.into(), Value::string(v));
        }
    };
    put("set_identifier", r.set_identifier());
    put("region", r.region().map(|x| x.as_str()));
    put("failover", r.failover().map(|x| x.as_str()));
    put("health_check_id", r.health_check_id());
    if let Some(w) = r.weight() {
        a.insert("weight".into(), Value::int(w));
    }
    if let Some(g) = r.geo_location() {
        let mut m = BTreeMap::new();
        for (k, v) in [
            ("continent", g.continent_code()),
            ("country", g.country_code()),
            ("subdivision", g.subdivision_code()),
        ] {
            if let Some(v) = v {
                m.insert(k.to_string(), Value::string(v));
            }
        }
        a.insert("geolocation".into(), Value::Map(m));
    }
    (id, a)
}

/// The record set the inputs describe.
fn record_set(inputs: &Attributes) -> Result<ResourceRecordSet, ProviderError> {
    let alias = match inputs.get("alias").and_then(Value::as_map) {
        Some(m) => {
            let get = |k: &str| {
                m.get(k)
                    .and_then(value_str)
                    .ok_or_else(|| ProviderError::Invalid(format!("`alias` needs `{k}`")))
            };
            let eval = input_bool(m, "evaluate_target_health")?.unwrap_or(false);
            Some(built(
                AliasTarget::builder()
                    .dns_name(get("name")?)
                    .hosted_zone_id(get("zone_id")?)
                    .evaluate_target_health(eval)
                    .build(),
            )?)
        }
        None => None,
    };
    let records = input_strings(inputs, "records")
        .into_iter()
        .map(|v| built(ResourceRecord::builder().value(v).build()))
        .collect::<Result<Vec<_>, _>>()?;
    let geo = inputs.get("geolocation").and_then(Value::as_map).map(|m| {
        let get = |k: &str| m.get(k).and_then(value_str);
        GeoLocation::builder()
            .set_continent_code(get("continent"))
            .set_country_code(get("country"))
            .set_subdivision_code(get("subdivision"))
            .build()
    });
    built(
        ResourceRecordSet::builder()
            .name(require_str(inputs, "name")?)
            .r#type(RrType::from(require_str(inputs, "type")?.as_str()))
            .set_ttl(if alias.is_some() {
                None
            } else {
                input_i64(inputs, "ttl")?
            })
            .set_resource_records((alias.is_none()).then_some(records))
            .set_alias_target(alias)
            .set_set_identifier(input_str(inputs, "set_identifier"))
            .set_weight(input_i64(inputs, "weight")?)
            .set_region(
                input_str(inputs, "region").map(|r| ResourceRecordSetRegion::from(r.as_str())),
            )
            .set_geo_location(geo)
            .set_failover(
                input_str(inputs, "failover").map(|f| ResourceRecordSetFailover::from(f.as_str())),
            )
            .set_health_check_id(input_str(inputs, "health_check_id"))
            .build(),
    )
}

impl Record {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Record {
            clients,
            schema: schema(),
        }
    }

    /// Every record set of a zone, by composite id (ListResourceRecordSets, paged), or
    /// `None` when the zone does not exist.
    async fn zone_records(
        client: &aws_sdk_route53::Client,
        zone_id: &str,
    ) -> Result<Option<BTreeMap<String, (ResourceRecordSet, Attributes)>>, ProviderError> {
        let mut out = BTreeMap::new();
        let mut next: Option<(String, RrType, Option<String>)> = None;
        loop {
            let mut call = client.list_resource_record_sets().hosted_zone_id(zone_id);
            if let Some((name, kind, ident)) = next.take() {
                call = call
                    .start_record_name(name)
                    .start_record_type(kind)
                    .set_start_record_identifier(ident);
            }
            let page = match call.send().await {
                Ok(p) => p,
                Err(e) => {
                    let e = AwsError::from_sdk(e);
                    if e.is(&["NoSuchHostedZone"]) {
                        return Ok(None);
                    }
                    return Err(e.into_provider("ListResourceRecordSets"));
                }
            };
            for r in page.resource_record_sets() {
                let (id, a) = record_attributes(zone_id, r);
                out.insert(id, (r.clone(), a));
            }
            match (
                page.is_truncated(),
                page.next_record_name(),
                page.next_record_type(),
            ) {
                (true, Some(n), Some(t)) => {
                    next = Some((
                        n.to_string(),
                        t.clone(),
                        page.next_record_identifier().map(str::to_string),
                    ))
                }
                _ => break,
            }
        }
        Ok(Some(out))
    }

    async fn change(
        &self,
        region: &str,
        zone_id: &str,
        action: ChangeAction,
        set: ResourceRecordSet,
    ) -> Result<(), Option<AwsError>> {
        let client = crate::client(&self.clients, region);
        let change = Change::builder()
            .action(action)
            .resource_record_set(set)
            .build()
            .map_err(|_| None)?;
        let batch = ChangeBatch::builder()
            .changes(change)
            .build()
            .map_err(|_| None)?;
        let out = client
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| Some(AwsError::from_sdk(e)))?;
        if let Some(info) = out.change_info() {
            wait_in_sync(&client, bare_id(info.id()))
                .await
                .map_err(|e| {
                    Some(AwsError {
                        code: None,
                        message: e.to_string(),
                        timed_out: true,
                    })
                })?;
        }
        Ok(())
    }

    async fn upsert(&self, region: &str, inputs: &Attributes) -> Result<Attributes, ProviderError> {
        let zone_id = bare_id(&require_str(inputs, "zone_id")?).to_string();
        let set = record_set(inputs)?;
        self.change(region, &zone_id, ChangeAction::Upsert, set)
            .await
            .map_err(|e| match e {
                Some(e) => e.into_provider("ChangeResourceRecordSets"),
                None => ProviderError::Invalid("an incomplete record".into()),
            })?;
        let id = record_id(
            &zone_id,
            &require_str(inputs, "name")?,
            &require_str(inputs, "type")?,
            input_str(inputs, "set_identifier").as_deref(),
        );
        let client = crate::client(&self.clients, region);
        Self::zone_records(&client, &zone_id)
            .await?
            .and_then(|mut r| r.remove(&id))
            .map(|(_, a)| a)
            .ok_or_else(|| ProviderError::NotFound(format!("record {id}")))
    }
}

#[async_trait]
impl ResourceType for Record {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// One listing of each zone's records serves every asked record of that zone.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let mut by_zone: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for id in req.ids {
            by_zone.entry(zone_of(id)).or_default().insert(id.as_str());
        }
        let mut found = BTreeMap::new();
        for (zone, ids) in by_zone {
            let Some(records) = Self::zone_records(&client, zone).await? else {
                continue;
            };
            for (id, (_, a)) in records {
                if ids.contains(id.as_str()) {
                    found.insert(id, a);
                }
            }
        }
        Ok(ObserveResponse { found })
    }

    /// An UPSERT: a retried create sets the same record again.
    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let attributes = self.upsert(req.region, req.inputs).await?;
        let id = require_str(&attributes, "id")?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let attributes = self.upsert(req.region, req.inputs).await?;
        Ok(UpdateResponse { attributes })
    }

    /// A DELETE must name the record exactly as it is: it is read first. Gone already
    /// (record or zone) is success.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        let zone = zone_of(req.id);
        let Some(mut records) = Self::zone_records(&client, zone).await? else {
            return Ok(());
        };
        let Some((current, _)) = records.remove(req.id) else {
            return Ok(());
        };
        match self
            .change(req.region, zone, ChangeAction::Delete, current)
            .await
        {
            Ok(()) => Ok(()),
            Err(Some(e))
                if e.is(&["NoSuchHostedZone"])
                    || (e.is(&["InvalidChangeBatch"]) && e.message.contains("not found")) =>
            {
                Ok(())
            }
            Err(Some(e)) => Err(e.into_provider("ChangeResourceRecordSets")),
            Err(None) => Err(ProviderError::Invalid("an incomplete record".into())),
        }
    }

    /// Records cannot carry tags (the type is not taggable), so nothing is ever found by
    /// ownership; an interrupted create is simply applied again (an idempotent UPSERT).
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_canonical() {
        assert_eq!(
            record_id("/hostedzone/Z1", "WWW.Example.com.", "A", None),
            "Z1/www.example.com/A"
        );
        assert_eq!(
            record_id("Z1", "\\052.example.com.", "CNAME", Some("eu")),
            "Z1/*.example.com/CNAME/eu"
        );
        let stack = Value::Map(
            [
                ("name".to_string(), Value::string("D1.cloudfront.net")),
                ("zone_id".to_string(), Value::string("Z2FDTNDATAQYW2")),
            ]
            .into(),
        );
        let n = normalize("alias", &stack);
        assert_eq!(
            n.as_map().unwrap()["name"],
            Value::string("d1.cloudfront.net")
        );
        assert_eq!(
            n.as_map().unwrap()["evaluate_target_health"],
            Value::Bool(false)
        );
        assert_eq!(normalize("alias", &n), n);
    }
}
