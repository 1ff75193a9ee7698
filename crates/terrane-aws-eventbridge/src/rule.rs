//! `aws.eventbridge.rule`: an EventBridge rule (an event pattern or a schedule) with its
//! targets. Its cloud id is the rule's name for a rule on the `default` event bus, and
//! `<event_bus_name>|<rule name>` for a rule on another bus.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eventbridge::types::{Rule as AwsRule, RuleState, Tag, Target};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_json, input_str, is_owned, json_value, put_str, require_str};
use terrane_aws_core::{AwsError, api_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.eventbridge.rule";

const NOT_FOUND: &str = "ResourceNotFoundException";

const DEFAULT_BUS: &str = "default";

/// Per-rule reads (targets, tags) in flight at once during an observe.
const CONCURRENCY: usize = 8;

/// The inputs PutRule carries (all of them each time).
const DEFINITION: &[&str] = &[
    "schedule_expression",
    "event_pattern",
    "state",
    "description",
    "role_arn",
];

pub struct Rule {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "An EventBridge rule: an event pattern or a schedule, and the targets \
                      (Lambda functions, SQS queues, ...) it sends matching events to. Its \
                      cloud id is its name on the `default` bus, `<bus>|<name>` on another.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The rule's name, unique on its event bus."),
            AttrSchema::optional("event_bus_name", String)
                .default(DefaultValue::Str(DEFAULT_BUS))
                .forces_replacement()
                .describe("The event bus the rule belongs to."),
            AttrSchema::optional("schedule_expression", String)
                .describe("A schedule: `rate(5 minutes)` or `cron(0 7 * * ? *)`."),
            AttrSchema::optional("event_pattern", Any)
                .describe("The events matched (a map or JSON text), compared as data."),
            AttrSchema::optional("state", String)
                .default(DefaultValue::Str("ENABLED"))
                .describe("`ENABLED` or `DISABLED`."),
            AttrSchema::optional("description", String).describe("What the rule is for."),
            AttrSchema::optional("role_arn", String)
                .describe("The IAM role EventBridge uses to deliver to targets that need one."),
            AttrSchema::optional("targets", List).unordered().describe(
                "Where matched events go: `{id, arn, input, role_arn}`; `input` (a map or JSON \
                 text) replaces the event sent. Added, changed and removed in place.",
            ),
            AttrSchema::optional("tags", Map).describe("Tags on the rule."),
            AttrSchema::computed("arn", String).describe("The rule's ARN."),
        ],
        taggable: true,
        id_attribute: "arn",
        normalize: Some(normalize),
        example: "nightly_plans:\n  type: aws.eventbridge.rule\n  properties:\n    \
                  name: nightly-meal-plans\n    schedule_expression: cron(0 3 * * ? *)\n    \
                  targets:\n      - id: planner\n        arn: ${planner.arn}\n        \
                  input:\n          task: weekly-plan\n",
    }
}

fn json_doc(value: &Value) -> Value {
    match value {
        Value::String(s) => json_value(s),
        other => other.clone(),
    }
}

/// Documents compare as data; targets in id order, without unset fields.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match (attr, value) {
        ("event_pattern", v) => json_doc(v),
        ("targets", Value::List(l)) => {
            let mut out: Vec<Value> = l
                .iter()
                .map(|t| match t {
                    Value::Map(m) => Value::Map(
                        m.iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| {
                                let v = if k == "input" { json_doc(v) } else { v.clone() };
                                (k.clone(), v)
                            })
                            .collect(),
                    ),
                    other => other.clone(),
                })
                .collect();
            out.sort_by_key(|t| {
                t.as_map()
                    .and_then(|m| m.get("id"))
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            });
            Value::List(out)
        }
        _ => value.clone(),
    }
}

/// The bus and name of a cloud id.
fn parse_id(id: &str) -> (&str, &str) {
    match id.split_once('|') {
        Some((bus, name)) => (bus, name),
        None => (DEFAULT_BUS, id),
    }
}

fn make_id(bus: &str, name: &str) -> String {
    if bus == DEFAULT_BUS {
        name.to_string()
    } else {
        format!("{bus}|{name}")
    }
}

/// The `event_bus_name` of a bus given by name or ARN.
fn bus_name(bus: &str) -> &str {
    if bus.starts_with("arn:") {
        bus.rsplit('/').next().unwrap_or(bus)
    } else {
        bus
    }
}

fn rule_attributes(r: &AwsRule, bus: &str) -> Attributes {
    let mut a = Attributes::new();
    put_str(&mut a, "name", r.name());
    a.insert("event_bus_name".into(), Value::string(bus));
    put_str(&mut a, "arn", r.arn());
    put_str(&mut a, "schedule_expression", r.schedule_expression());
    if let Some(p) = r.event_pattern() {
        a.insert("event_pattern".into(), json_value(p));
    }
    put_str(&mut a, "state", r.state().map(RuleState::as_str));
    put_str(&mut a, "description", r.description());
    put_str(&mut a, "role_arn", r.role_arn());
    a
}

fn target_value(t: &Target) -> Value {
    let mut m = BTreeMap::new();
    m.insert("id".to_string(), Value::string(t.id()));
    m.insert("arn".to_string(), Value::string(t.arn()));
    if let Some(i) = t.input() {
        m.insert("input".to_string(), json_value(i));
    }
    if let Some(r) = t.role_arn() {
        m.insert("role_arn".to_string(), Value::string(r));
    }
    Value::Map(m)
}

/// The `targets` input as EventBridge targets.
fn targets_input(inputs: &Attributes) -> Result<Vec<(String, Target)>, ProviderError> {
    let Some(list) = inputs.get("targets").and_then(Value::as_list) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|t| {
            let m = t
                .as_map()
                .ok_or_else(|| ProviderError::Invalid("each of `targets` must be a map".into()))?;
            let field = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
            let id = field("id")
                .ok_or_else(|| ProviderError::Invalid("a target needs an `id`".into()))?;
            let arn = field("arn")
                .ok_or_else(|| ProviderError::Invalid(format!("target `{id}` needs an `arn`")))?;
            let input_attrs: Attributes = m
                .get("input")
                .map(|v| [("input".to_string(), v.clone())].into_iter().collect())
                .unwrap_or_default();
            let input = input_json(&input_attrs, "input")?;
            let target = Target::builder()
                .id(&id)
                .arn(arn)
                .set_input(input)
                .set_role_arn(field("role_arn"))
                .build()
                .map_err(|e| ProviderError::Invalid(e.to_string()))?;
            Ok((id, target))
        })
        .collect()
}

impl Rule {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Rule {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_eventbridge::Client {
        crate::client(&self.clients, region)
    }

    /// Every rule of these buses that `keep` accepts, by cloud id: one paginated ListRules
    /// per bus, then ListTargetsByRule and ListTagsForResource per rule, concurrently
    /// (EventBridge has no batched read of either).
    async fn read(
        &self,
        region: &str,
        buses: BTreeSet<String>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(region);
        let mut rules: Vec<(String, String, Attributes)> = Vec::new();
        for bus in buses {
            let mut token: Option<String> = None;
            loop {
                let out = match client
                    .list_rules()
                    .event_bus_name(&bus)
                    .set_next_token(token.take())
                    .send()
                    .await
                {
                    Ok(out) => out,
                    Err(e) => {
                        let e = AwsError::from_sdk(e);
                        // A bus that does not exist holds no rules.
                        if e.is(&[NOT_FOUND]) {
                            break;
                        }
                        return Err(e.into_provider("ListRules"));
                    }
                };
                for r in out.rules() {
                    let Some(name) = r.name() else { continue };
                    let id = make_id(&bus, name);
                    if keep(&id) {
                        rules.push((id, bus.clone(), rule_attributes(r, &bus)));
                    }
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        futures::stream::iter(rules)
            .map(|(id, bus, mut attrs)| {
                let client = client.clone();
                async move {
                    let name = parse_id(&id).1.to_string();
                    let Some(targets) = list_targets(&client, &bus, &name).await? else {
                        return Ok(None);
                    };
                    attrs.insert(
                        "targets".into(),
                        Value::List(targets.iter().map(target_value).collect()),
                    );
                    let arn = attrs.get("arn").and_then(Value::as_str).map(str::to_string);
                    let mut tags = BTreeMap::new();
                    if let Some(arn) = arn {
                        match client
                            .list_tags_for_resource()
                            .resource_arn(arn)
                            .send()
                            .await
                        {
                            Ok(out) => {
                                for t in out.tags() {
                                    if !t.key().starts_with("aws:") {
                                        let value = terrane_aws_core::tags::decode_tag_value(
                                            t.key(),
                                            t.value(),
                                        );
                                        tags.insert(t.key().to_string(), Value::string(value));
                                    }
                                }
                            }
                            Err(e) => {
                                let e = AwsError::from_sdk(e);
                                if e.is(&[NOT_FOUND]) {
                                    return Ok(None);
                                }
                                return Err(e.into_provider("ListTagsForResource"));
                            }
                        }
                    }
                    attrs.insert("tags".into(), Value::Map(tags));
                    Ok::<_, ProviderError>(Some((id, attrs)))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        let bus = parse_id(id).0.to_string();
        self.read(region, [bus].into(), |i| i == id)
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("rule {id}")))
    }

    /// The rule's definition in one PutRule (create or full replace).
    async fn put_rule(
        &self,
        client: &aws_sdk_eventbridge::Client,
        bus: &str,
        name: &str,
        inputs: &Attributes,
        tags: Option<Vec<Tag>>,
    ) -> Result<(), ProviderError> {
        client
            .put_rule()
            .name(name)
            .event_bus_name(bus)
            .set_schedule_expression(input_str(inputs, "schedule_expression"))
            .set_event_pattern(input_json(inputs, "event_pattern")?)
            .set_state(input_str(inputs, "state").map(|s| RuleState::from(s.as_str())))
            .set_description(input_str(inputs, "description"))
            .set_role_arn(input_str(inputs, "role_arn"))
            .set_tags(tags)
            .send()
            .await
            .map_err(api_error("PutRule"))?;
        Ok(())
    }

    /// Brings the rule's targets from `prior` to `inputs`: RemoveTargets for the ids no
    /// longer wanted, PutTargets (add or replace) for the wanted ones.
    async fn sync_targets(
        &self,
        client: &aws_sdk_eventbridge::Client,
        bus: &str,
        name: &str,
        inputs: &Attributes,
        prior_ids: Vec<String>,
    ) -> Result<(), ProviderError> {
        let want = targets_input(inputs)?;
        let keep: BTreeSet<&str> = want.iter().map(|(id, _)| id.as_str()).collect();
        let removed: Vec<String> = prior_ids
            .into_iter()
            .filter(|id| !keep.contains(id.as_str()))
            .collect();
        // At most 10 targets per call (AWS's limit).
        for chunk in removed.chunks(10) {
            let out = client
                .remove_targets()
                .rule(name)
                .event_bus_name(bus)
                .set_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(api_error("RemoveTargets"))?;
            if out.failed_entry_count() > 0 {
                return Err(ProviderError::api(
                    "RemoveTargets",
                    format!("{:?}", out.failed_entries()),
                ));
            }
        }
        let targets: Vec<Target> = want.into_iter().map(|(_, t)| t).collect();
        for chunk in targets.chunks(10) {
            let out = client
                .put_targets()
                .rule(name)
                .event_bus_name(bus)
                .set_targets(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(api_error("PutTargets"))?;
            if out.failed_entry_count() > 0 {
                let reasons: Vec<String> = out
                    .failed_entries()
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {} {}",
                            f.target_id().unwrap_or(""),
                            f.error_code().unwrap_or(""),
                            f.error_message().unwrap_or("")
                        )
                    })
                    .collect();
                return Err(ProviderError::api("PutTargets", reasons.join("; ")));
            }
        }
        Ok(())
    }

    async fn live_target_ids(
        &self,
        client: &aws_sdk_eventbridge::Client,
        bus: &str,
        name: &str,
    ) -> Result<Option<Vec<String>>, ProviderError> {
        Ok(list_targets(client, bus, name)
            .await?
            .map(|t| t.iter().map(|t| t.id().to_string()).collect()))
    }
}

/// The targets of a rule (ListTargetsByRule, page by page); `None` when the rule is gone.
async fn list_targets(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    name: &str,
) -> Result<Option<Vec<Target>>, ProviderError> {
    let mut targets = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = match client
            .list_targets_by_rule()
            .rule(name)
            .event_bus_name(bus)
            .set_next_token(token.take())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(&[NOT_FOUND]) {
                    return Ok(None);
                }
                return Err(e.into_provider("ListTargetsByRule"));
            }
        };
        targets.extend(out.targets().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(Some(targets));
        }
    }
}

#[async_trait]
impl ResourceType for Rule {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids: BTreeSet<&str> = req.ids.iter().map(String::as_str).collect();
        if ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let buses = ids.iter().map(|id| parse_id(id).0.to_string()).collect();
        let found = self.read(req.region, buses, |id| ids.contains(id)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let client = self.client(req.region);
        let name = require_str(inputs, "name")?;
        let bus = input_str(inputs, "event_bus_name").unwrap_or_else(|| DEFAULT_BUS.into());
        let bus = bus_name(&bus).to_string();
        if input_str(inputs, "schedule_expression").is_none()
            && !inputs.contains_key("event_pattern")
        {
            return Err(ProviderError::Invalid(format!(
                "rule `{name}` needs a `schedule_expression` or an `event_pattern`"
            )));
        }
        let tags: Vec<Tag> = terrane_aws_core::tags::aws_tags_from_inputs(inputs)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<_, _>>()
            .map_err(|e| ProviderError::Invalid(e.to_string()))?;
        self.put_rule(
            &client,
            &bus,
            &name,
            inputs,
            (!tags.is_empty()).then_some(tags),
        )
        .await?;
        self.sync_targets(&client, &bus, &name, inputs, Vec::new())
            .await?;
        let id = make_id(&bus, &name);
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        let (bus, name) = parse_id(req.id);
        let changed = |a: &str| req.changed.iter().any(|c| c == a);
        if DEFINITION.iter().any(|a| changed(a)) {
            self.put_rule(&client, bus, name, req.inputs, None).await?;
        }
        if changed("targets") {
            let live = self
                .live_target_ids(&client, bus, name)
                .await?
                .ok_or_else(|| ProviderError::NotFound(format!("rule {}", req.id)))?;
            self.sync_targets(&client, bus, name, req.inputs, live)
                .await?;
        }
        if changed("tags") {
            let arn = match req.prior.get("arn").and_then(Value::as_str) {
                Some(arn) => arn.to_string(),
                None => self
                    .read_one(req.region, req.id)
                    .await?
                    .get("arn")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| ProviderError::api("ListRules", "no ARN returned"))?,
            };
            let want: HashMap<String, String> =
                terrane_aws_core::tags::aws_tags_from_inputs(req.inputs)
                    .into_iter()
                    .collect();
            let have: HashMap<String, String> =
                terrane_aws_core::tags::aws_tags_from_inputs(req.prior)
                    .into_iter()
                    .collect();
            let removed: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            let set: Vec<Tag> = want
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(*v))
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<_, _>>()
                .map_err(|e| ProviderError::Invalid(e.to_string()))?;
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
                    .set_tags(Some(set))
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Removes the rule's targets (AWS refuses to delete a rule that has some), then the rule.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = self.client(req.region);
        let (bus, name) = parse_id(req.id);
        let Some(targets) = self.live_target_ids(&client, bus, name).await? else {
            return Ok(());
        };
        for chunk in targets.chunks(10) {
            client
                .remove_targets()
                .rule(name)
                .event_bus_name(bus)
                .set_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(api_error("RemoveTargets"))?;
        }
        terrane_aws_core::gone_is_ok(
            "DeleteRule",
            client
                .delete_rule()
                .name(name)
                .event_bus_name(bus)
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// ListRules has no tag filter: every rule of every event bus of the region (one
    /// ListEventBuses) is read with its tags, and those carrying the ownership tags kept.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(req.region);
        let mut buses: BTreeSet<String> = [DEFAULT_BUS.to_string()].into();
        let mut token: Option<String> = None;
        loop {
            let out = client
                .list_event_buses()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(api_error("ListEventBuses"))?;
            buses.extend(
                out.event_buses()
                    .iter()
                    .filter_map(|b| b.name().map(str::to_string)),
            );
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let mut found = self.read(req.region, buses, |_| true).await?;
        found.retain(|_, a| is_owned(&req, a));
        Ok(found)
    }
}
