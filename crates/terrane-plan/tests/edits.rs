//! Property: any sequence of stack edits, planned and applied one after another, leaves the
//! cloud and the recorded state as planning and applying the last stack from scratch
//! would (ids aside), and after every apply a new plan has nothing to do.
//!
//! The "cloud" is a test-only simulation in memory. It runs a plan's steps the way the
//! engine does (terrane-engine's apply.rs: inputs resolved with `desired_inputs` against
//! what is live, providers called with the change's type, region and id, state recorded
//! after each step) and answers refreshes like a provider's `observe`: settable inputs as
//! set, computed `id`/`arn`, and never a sensitive value.
//!
//! The planner leaves an optional attribute that has no default alone once the stack stops
//! setting it (schema.rs: "when it is not, terrane does not manage it"); the comparison
//! allows exactly those attributes to differ.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use terrane_core::schema::DefaultValue;
use terrane_core::{
    Address, AttrKind, AttrSchema, ResourceSchema, SchemaSource, SecretHasher, Value, ValueType,
};
use terrane_plan::{
    Action, Observed, Plan, PlanInput, PlannedLookup, RecordedResource, StepKind, desired_inputs,
    plan, steps,
};
use terrane_stack::{LoadOptions, Stack, StackGraph, load_stack};

// ---------------------------------------------------------------------------------------
// Schemas: three types with required, optional (with and without default), immutable,
// sensitive, unordered and computed attributes.

struct Schemas(Vec<ResourceSchema>);

impl SchemaSource for Schemas {
    fn schema(&self, t: &str) -> Option<&ResourceSchema> {
        self.0.iter().find(|s| s.type_name == t)
    }
    fn type_names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.type_name).collect()
    }
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: std::sync::OnceLock<Schemas> = std::sync::OnceLock::new();
    SCHEMAS.get_or_init(make_schemas)
}

fn make_schemas() -> Schemas {
    let base = |type_name, attributes, taggable| ResourceSchema {
        type_name,
        description: "",
        attributes,
        taggable,
        id_attribute: "id",
        normalize: None,
        example: "",
    };
    Schemas(vec![
        base(
            "t.net",
            vec![
                AttrSchema::required("cidr", ValueType::String).forces_replacement(),
                AttrSchema::optional("name", ValueType::String),
                AttrSchema::optional("dns", ValueType::Bool).default(DefaultValue::Bool(true)),
                AttrSchema::optional("tags", ValueType::Map),
                AttrSchema::computed("id", ValueType::String),
                AttrSchema::computed("arn", ValueType::String),
            ],
            true,
        ),
        base(
            "t.sub",
            vec![
                AttrSchema::required("net_id", ValueType::String).forces_replacement(),
                AttrSchema::required("zone", ValueType::String).forces_replacement(),
                AttrSchema::optional("size", ValueType::Number).default(DefaultValue::Int(1)),
                AttrSchema::optional("label", ValueType::String),
                AttrSchema::optional("secret", ValueType::String).sensitive(),
                AttrSchema::optional("tags", ValueType::Map),
                AttrSchema::computed("id", ValueType::String),
            ],
            true,
        ),
        base(
            "t.rule",
            vec![
                AttrSchema::optional("desc", ValueType::String).default(DefaultValue::Str("")),
                AttrSchema::optional("targets", ValueType::List).unordered(),
                AttrSchema::computed("id", ValueType::String),
            ],
            false,
        ),
    ])
}

/// Attributes the planner stops managing when the stack stops setting them.
fn unmanaged_when_unset(schemas: &Schemas, type_name: &str, attr: &str) -> bool {
    schemas
        .schema(type_name)
        .and_then(|s| s.attribute(attr))
        .is_some_and(|a| a.kind == AttrKind::Optional && a.default.is_none())
}

// ---------------------------------------------------------------------------------------
// The desired stack, as a small model rendered to YAML.

const NETS: usize = 2;
const SUBS: usize = 3;
const KEYS: [&str; 3] = ["x", "y", "z"];

#[derive(Clone, Debug)]
struct Net {
    cidr: u8,
    name: Option<u8>,
    dns: Option<bool>,
    tag: Option<u8>,
    /// In eu-west-1 rather than the stack's region (moving it replaces it).
    eu: bool,
    create_before_destroy: bool,
}

#[derive(Clone, Debug)]
enum NetRef {
    /// `${nK.id}`
    Net(usize),
    /// A literal id of something outside the stack.
    External(u8),
}

#[derive(Clone, Debug)]
enum Label {
    Text(u8),
    /// `${nK.name}` (null when that net has no name: then the label is unset).
    NetName(usize),
    /// `${nK.cidr}-x`
    NetCidr(usize),
}

#[derive(Clone, Debug)]
struct Sub {
    net: NetRef,
    zone: u8,
    size: Option<u8>,
    label: Option<Label>,
    /// `${var.pwN}`, a sensitive variable.
    secret: Option<u8>,
    create_before_destroy: bool,
}

#[derive(Clone, Debug)]
struct Rules {
    count: u8,
    desc: u8,
    /// Subnets whose ids the rules list (`${sK.id}`), in this order.
    targets: Vec<usize>,
    /// `depends_on: [nK]`
    depends_on: Option<usize>,
}

#[derive(Clone, Debug)]
struct Desired {
    team: u8,
    nets: Vec<Option<Net>>,
    subs: Vec<Option<Sub>>,
    rules: Option<Rules>,
    /// Which of KEYS the `for_each` resource has.
    keyed: Vec<bool>,
    /// A resource whose type changes: `Some(true)` a t.net, `Some(false)` a t.rule.
    misc: Option<bool>,
}

fn net_strategy() -> impl Strategy<Value = Net> {
    (
        0..2u8,
        proptest::option::of(0..2u8),
        proptest::option::of(any::<bool>()),
        proptest::option::of(0..2u8),
        proptest::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(|(cidr, name, dns, tag, eu, create_before_destroy)| Net {
            cidr,
            name,
            dns,
            tag,
            eu,
            create_before_destroy,
        })
}

fn sub_strategy() -> impl Strategy<Value = Sub> {
    let net = prop_oneof![
        3 => (0..NETS).prop_map(NetRef::Net),
        1 => (0..2u8).prop_map(NetRef::External),
    ];
    let label = prop_oneof![
        (0..2u8).prop_map(Label::Text),
        (0..NETS).prop_map(Label::NetName),
        (0..NETS).prop_map(Label::NetCidr),
    ];
    (
        net,
        0..2u8,
        proptest::option::of(0..3u8),
        proptest::option::of(label),
        proptest::option::of(0..2u8),
        any::<bool>(),
    )
        .prop_map(
            |(net, zone, size, label, secret, create_before_destroy)| Sub {
                net,
                zone,
                size,
                label,
                secret,
                create_before_destroy,
            },
        )
}

fn rules_strategy() -> impl Strategy<Value = Rules> {
    (
        0..3u8,
        0..2u8,
        proptest::collection::vec(0..SUBS, 0..3),
        proptest::option::of(0..NETS),
    )
        .prop_map(|(count, desc, targets, depends_on)| Rules {
            count,
            desc,
            targets,
            depends_on,
        })
}

fn desired_strategy() -> impl Strategy<Value = Desired> {
    (
        0..2u8,
        proptest::collection::vec(proptest::option::weighted(0.75, net_strategy()), NETS),
        proptest::collection::vec(proptest::option::weighted(0.6, sub_strategy()), SUBS),
        proptest::option::weighted(0.6, rules_strategy()),
        proptest::collection::vec(any::<bool>(), KEYS.len()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(team, nets, subs, rules, keyed, misc)| Desired {
            team,
            nets,
            subs,
            rules,
            keyed,
            misc,
        })
}

impl Desired {
    fn render(&self) -> String {
        let mut y = format!(
            "stack: prop\nregion: us-east-1\ndefault_tags: {{ team: t{} }}\n\
             variables:\n  pw0: {{ sensitive: true, from_env: PW0 }}\n  pw1: {{ sensitive: true, from_env: PW1 }}\n\
             resources:\n",
            self.team
        );
        let net_present = |k: usize| self.nets[k].is_some();
        for (k, n) in self.nets.iter().enumerate() {
            let Some(n) = n else { continue };
            y += &format!("  n{k}:\n    type: t.net\n");
            if n.eu {
                y += "    region: eu-west-1\n";
            }
            if n.create_before_destroy {
                y += "    lifecycle: { create_before_destroy: true }\n";
            }
            y += &format!("    properties:\n      cidr: 10.{}.0.0/16\n", n.cidr);
            if let Some(v) = n.name {
                y += &format!("      name: net-{v}\n");
            }
            if let Some(v) = n.dns {
                y += &format!("      dns: {v}\n");
            }
            if let Some(v) = n.tag {
                y += &format!("      tags: {{ kind: k{v} }}\n");
            }
        }
        for (k, s) in self.subs.iter().enumerate() {
            let Some(s) = s else { continue };
            y += &format!("  s{k}:\n    type: t.sub\n");
            if s.create_before_destroy {
                y += "    lifecycle: { create_before_destroy: true }\n";
            }
            let net_id = match s.net {
                NetRef::Net(j) if net_present(j) => format!("${{n{j}.id}}"),
                NetRef::Net(j) => format!("ext-{j}"),
                NetRef::External(v) => format!("ext-{v}"),
            };
            y += &format!(
                "    properties:\n      net_id: {net_id}\n      zone: z{}\n",
                s.zone
            );
            if let Some(v) = s.size {
                y += &format!("      size: {v}\n");
            }
            match &s.label {
                None => {}
                Some(Label::NetName(j)) if net_present(*j) => {
                    y += &format!("      label: ${{n{j}.name}}\n")
                }
                Some(Label::NetCidr(j)) if net_present(*j) => {
                    y += &format!("      label: ${{n{j}.cidr}}-x\n")
                }
                Some(Label::Text(v)) => y += &format!("      label: text-{v}\n"),
                Some(Label::NetName(_) | Label::NetCidr(_)) => y += "      label: no-net\n",
            }
            if let Some(v) = s.secret {
                y += &format!("      secret: ${{var.pw{v}}}\n");
            }
        }
        if let Some(r) = &self.rules {
            y += &format!("  rule:\n    type: t.rule\n    count: {}\n", r.count);
            if let Some(j) = r.depends_on.filter(|j| net_present(*j)) {
                y += &format!("    depends_on: [n{j}]\n");
            }
            y += &format!(
                "    properties:\n      desc: rule-${{count.index}}-{}\n      targets: [",
                r.desc
            );
            let mut listed = Vec::new();
            for &j in &r.targets {
                listed.push(j);
            }
            let targets: Vec<String> = listed
                .iter()
                .map(|&j| {
                    if self.subs[j].is_some() {
                        format!("\"${{s{j}.id}}\"")
                    } else {
                        format!("gone-{j}")
                    }
                })
                .collect();
            y += &targets.join(", ");
            y += "]\n";
        }
        let keys: Vec<&str> = KEYS
            .iter()
            .zip(&self.keyed)
            .filter(|(_, on)| **on)
            .map(|(k, _)| *k)
            .collect();
        if !keys.is_empty() {
            y += &format!(
                "  keyed:\n    type: t.rule\n    for_each: [{}]\n    properties:\n      desc: key-${{each.key}}\n",
                keys.iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        match self.misc {
            Some(true) => {
                y += "  misc:\n    type: t.net\n    properties:\n      cidr: 10.9.0.0/16\n"
            }
            Some(false) => y += "  misc:\n    type: t.rule\n    properties:\n      desc: misc\n",
            None => {}
        }
        if y.ends_with("resources:\n") {
            y.truncate(y.len() - 1);
            y += " {}\n";
        }
        y
    }
}

// ---------------------------------------------------------------------------------------
// The simulated cloud.

#[derive(Clone, Debug, PartialEq)]
struct Object {
    type_name: String,
    region: String,
    /// Everything the cloud holds, sensitive values included.
    attrs: BTreeMap<String, Value>,
}

#[derive(Default, Debug)]
struct Cloud {
    next_id: u64,
    objects: BTreeMap<String, Object>,
}

impl Cloud {
    fn find(&self, type_name: &str, region: &str, id: &str) -> Option<&Object> {
        // A provider reads through its own API in one region: another type's or another
        // region's object with that id is not found.
        self.objects
            .get(id)
            .filter(|o| o.type_name == type_name && o.region == region)
    }

    /// What `observe` returns: everything but sensitive values.
    fn observe(&self, type_name: &str, region: &str, id: &str) -> Option<BTreeMap<String, Value>> {
        let schemas = schemas();
        let schema = schemas.schema(type_name)?;
        self.find(type_name, region, id).map(|o| {
            o.attrs
                .iter()
                .filter(|(k, _)| !schema.attribute(k).is_some_and(|a| a.sensitive))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    fn create(
        &mut self,
        type_name: &str,
        region: &str,
        inputs: &BTreeMap<String, Value>,
    ) -> (String, BTreeMap<String, Value>) {
        self.next_id += 1;
        let id = format!("{}#{}", type_name.trim_start_matches("t."), self.next_id);
        let mut attrs = inputs.clone();
        attrs.insert("id".into(), Value::string(id.clone()));
        if type_name == "t.net" {
            attrs.insert("arn".into(), Value::string(format!("arn:{id}")));
        }
        self.objects.insert(
            id.clone(),
            Object {
                type_name: type_name.into(),
                region: region.into(),
                attrs,
            },
        );
        let observed = self.observe(type_name, region, &id).expect("just created");
        (id, observed)
    }

    /// Changes exactly the `changed` attributes, as the provider contract says.
    fn update(
        &mut self,
        type_name: &str,
        region: &str,
        id: &str,
        inputs: &BTreeMap<String, Value>,
        changed: &[String],
    ) -> BTreeMap<String, Value> {
        assert!(
            self.find(type_name, region, id).is_some(),
            "update of {type_name} {id} in {region}, which does not exist"
        );
        let o = self.objects.get_mut(id).expect("found above");
        for name in changed {
            match inputs.get(name) {
                Some(v) => o.attrs.insert(name.clone(), v.clone()),
                None => o.attrs.remove(name),
            };
        }
        self.observe(type_name, region, id).expect("exists")
    }

    /// Deleting what is not there succeeds (the engine treats not-found as deleted).
    fn delete(&mut self, type_name: &str, region: &str, id: &str) {
        if self.find(type_name, region, id).is_some() {
            self.objects.remove(id);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Plan, apply, refresh: the engine's loop, without the engine.

type State = BTreeMap<Address, RecordedResource>;

struct Loaded {
    yaml: String,
    _dir: tempfile::TempDir,
    stack: Stack,
    graph: StackGraph,
}

fn load(yaml: &str) -> Loaded {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("stack.yaml"), yaml).expect("write stack");
    let env = |k: &str| match k {
        "PW0" => Some("secret-0".to_string()),
        "PW1" => Some("secret-1".to_string()),
        _ => None,
    };
    let stack = load_stack(
        dir.path(),
        &LoadOptions {
            env: None,
            vars: vec![],
            env_lookup: &env,
        },
    )
    .unwrap_or_else(|e| panic!("generated stack does not load: {e}\n{yaml}"));
    let graph = StackGraph::build(&stack).unwrap_or_else(|e| panic!("graph: {e}\n{yaml}"));
    Loaded {
        yaml: yaml.to_string(),
        _dir: dir,
        stack,
        graph,
    }
}

fn refresh(cloud: &Cloud, state: &State) -> BTreeMap<Address, Observed> {
    state
        .values()
        .map(|r| {
            let o = match cloud.observe(&r.type_name, &r.region, &r.cloud_id) {
                Some(attrs) => Observed::Present(attrs),
                None => Observed::Absent,
            };
            (r.address.clone(), o)
        })
        .collect()
}

fn make_plan(w: &Loaded, state: &State, observed: &BTreeMap<Address, Observed>) -> Plan {
    let recorded: Vec<RecordedResource> = state.values().cloned().collect();
    plan(PlanInput {
        stack: &w.stack,
        graph: &w.graph,
        recorded: &recorded,
        observed,
        schemas: schemas(),
        hasher: &hasher(),
    })
    .unwrap_or_else(|e| panic!("plan failed: {e}"))
}

fn hasher() -> SecretHasher {
    SecretHasher::new("salt")
}

/// Runs the plan's steps in an order their constraints allow, recording as the engine does.
fn apply(w: &Loaded, p: &Plan, cloud: &mut Cloud, state: &mut State) -> Result<(), TestCaseError> {
    let schemas = schemas();
    let hasher = hasher();
    let observed = refresh(cloud, state);
    let mut live = PlannedLookup::new();
    for r in state.values() {
        let mut values: BTreeMap<String, Value> = r
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_json(v)))
            .collect();
        values.extend(
            r.attributes
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v))),
        );
        if let Some(Observed::Present(o)) = observed.get(&r.address) {
            values.extend(o.clone());
        }
        if let Some(schema) = schemas.schema(&r.type_name) {
            live.insert(r.address.clone(), schema, values, false);
        }
    }
    let to_json = |m: &BTreeMap<String, Value>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.to_state_json(&hasher)))
            .collect::<BTreeMap<_, _>>()
    };

    let steps = steps(p);
    let describe = |i: usize| format!("{:?} {}", steps[i].kind, p.changes[steps[i].change].address);
    let mut done = vec![false; steps.len()];
    for _ in 0..steps.len() {
        let Some(i) =
            (0..steps.len()).find(|&i| !done[i] && steps[i].after.iter().all(|&a| done[a]))
        else {
            let stuck: Vec<String> = (0..steps.len())
                .filter(|&i| !done[i])
                .map(|i| {
                    let after: Vec<String> = steps[i].after.iter().map(|&a| describe(a)).collect();
                    format!("{} after [{}]", describe(i), after.join(", "))
                })
                .collect();
            return Err(TestCaseError::fail(format!(
                "no step can run, the steps wait on each other in a cycle:\n  {}\nplan: {:?}",
                stuck.join("\n  "),
                p.fingerprint()
            )));
        };
        done[i] = true;
        let step = &steps[i];
        let change = &p.changes[step.change];
        let id = change.cloud_id.clone().unwrap_or_default();
        if step.kind == StepKind::Delete {
            let (type_name, region) = change.existing_placement();
            cloud.delete(type_name, region, &id);
            let old_half_of_cbd = change.create_before_destroy && change.action == Action::Replace;
            if !old_half_of_cbd {
                state.remove(&change.address);
            }
            continue;
        }
        let inst = w
            .stack
            .instance(&change.address)
            .expect("creates and updates are of stack resources");
        let schema = schemas.schema(&change.type_name).expect("known type");
        let inputs = desired_inputs(&w.stack, inst, schema, &live)
            .unwrap_or_else(|e| panic!("inputs of {}: {e}", change.address));
        if let Some((k, _)) = inputs.iter().find(|(_, v)| v.contains_unknown()) {
            panic!("{}: `{k}` is still unknown at apply time", change.address);
        }
        let (id, attributes) = match step.kind {
            StepKind::Create => cloud.create(&change.type_name, &change.region, &inputs),
            _ => {
                let changed: Vec<String> =
                    change.attributes.iter().map(|a| a.name.clone()).collect();
                let attrs = cloud.update(&change.type_name, &change.region, &id, &inputs, &changed);
                (id, attrs)
            }
        };
        let mut values = inputs.clone();
        values.extend(attributes.clone());
        state.insert(
            change.address.clone(),
            RecordedResource {
                address: change.address.clone(),
                type_name: change.type_name.clone(),
                region: change.region.clone(),
                cloud_id: id,
                inputs: to_json(&inputs),
                attributes: to_json(&attributes),
                dependencies: change.depends_on.clone(),
            },
        );
        live.insert(change.address.clone(), schema, values, false);
    }
    // As the engine does after the steps: records of unchanged resources follow the stack.
    for change in p.changes.iter().filter(|c| c.action == Action::NoOp) {
        let (Some(inst), Some(rec)) = (
            w.stack.instance(&change.address),
            state.get(&change.address),
        ) else {
            continue;
        };
        let schema = schemas.schema(&change.type_name).expect("known type");
        let Ok(inputs) = desired_inputs(&w.stack, inst, schema, &live) else {
            continue;
        };
        if let Some(r) = terrane_plan::rerecorded(change, rec, &inputs, &hasher) {
            state.insert(change.address.clone(), r);
        }
    }
    Ok(())
}

/// Plans `d` against the current cloud and state, applies, and checks that a new plan
/// has nothing left to do and that nothing in the cloud is untracked.
fn step(w: &Loaded, cloud: &mut Cloud, state: &mut State) -> Result<(), TestCaseError> {
    let yaml = &w.yaml;
    let observed = refresh(cloud, state);
    let p = make_plan(w, state, &observed);
    apply(w, &p, cloud, state)?;
    let observed = refresh(cloud, state);
    let again = make_plan(w, state, &observed);
    prop_assert!(
        !again.has_changes(),
        "a plan right after apply still has changes: {:?}\nfirst plan: {:?}\nstack:\n{}",
        again.fingerprint(),
        p.fingerprint(),
        yaml
    );
    let in_stack: BTreeSet<&Address> = w.stack.instances.iter().map(|i| &i.address).collect();
    let in_state: BTreeSet<&Address> = state.keys().collect();
    prop_assert_eq!(
        in_stack,
        in_state,
        "state holds exactly the stack's resources"
    );
    let tracked: BTreeSet<&str> = state.values().map(|r| r.cloud_id.as_str()).collect();
    let orphans: Vec<&String> = cloud
        .objects
        .keys()
        .filter(|id| !tracked.contains(id.as_str()))
        .collect();
    prop_assert!(
        orphans.is_empty(),
        "objects left in the cloud that state does not know: {:?}\nplan: {:?}\nstack:\n{}",
        orphans
            .iter()
            .map(|id| (id, &cloud.objects[*id]))
            .collect::<Vec<_>>(),
        p.fingerprint(),
        yaml
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Comparison, ids aside.

/// Every id (and ARN) replaced by the address that owns it, so two clouds that made the
/// same things under different ids compare equal.
struct IdNames(BTreeMap<String, String>);

impl IdNames {
    fn new(state: &State) -> Self {
        let mut m = BTreeMap::new();
        for r in state.values() {
            m.insert(r.cloud_id.clone(), format!("<id of {}>", r.address));
            m.insert(
                format!("arn:{}", r.cloud_id),
                format!("<arn of {}>", r.address),
            );
        }
        IdNames(m)
    }

    fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.0.get(s).cloned().unwrap_or_else(|| s.clone())),
            Value::List(l) => Value::List(l.iter().map(|x| self.value(x)).collect()),
            Value::Map(m) => {
                Value::Map(m.iter().map(|(k, x)| (k.clone(), self.value(x))).collect())
            }
            other => other.clone(),
        }
    }

    fn json(&self, m: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, Value> {
        m.iter()
            .map(|(k, v)| (k.clone(), self.value(&Value::from_json(v))))
            .collect()
    }

    fn values(&self, m: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
        m.iter().map(|(k, v)| (k.clone(), self.value(v))).collect()
    }
}

fn same(schemas: &Schemas, type_name: &str, attr: &str, a: &Value, b: &Value) -> bool {
    let unordered = schemas
        .schema(type_name)
        .and_then(|s| s.attribute(attr))
        .is_some_and(|a| a.unordered);
    match (a, b) {
        (Value::List(x), Value::List(y)) if unordered => {
            // As multisets: each item of one matched with its own item of the other.
            let mut unmatched: Vec<&Value> = y.iter().collect();
            x.len() == y.len()
                && x.iter().all(
                    |i| match unmatched.iter().position(|j| i.semantically_equal(j)) {
                        Some(p) => {
                            unmatched.swap_remove(p);
                            true
                        }
                        None => false,
                    },
                )
        }
        _ => a.semantically_equal(b),
    }
}

/// `stepwise` matches `scratch` attribute by attribute, except that it may keep attributes
/// the final stack no longer sets and the planner no longer manages; with `may_lack`, it
/// may also lack those.
fn compare_attrs(
    what: &str,
    type_name: &str,
    stepwise: &BTreeMap<String, Value>,
    scratch: &BTreeMap<String, Value>,
) -> Result<(), TestCaseError> {
    let schemas = schemas();
    for (k, want) in scratch {
        let got = stepwise.get(k);
        prop_assert!(
            got.is_some_and(|g| same(schemas, type_name, k, g, want)),
            "{what}: `{k}` is {got:?} step by step, {want:?} from scratch\nstep by step: {stepwise:?}\nfrom scratch: {scratch:?}"
        );
    }
    for k in stepwise.keys().filter(|k| !scratch.contains_key(*k)) {
        prop_assert!(
            unmanaged_when_unset(schemas, type_name, k),
            "{what}: `{k}` is set step by step but not from scratch\nstep by step: {stepwise:?}\nfrom scratch: {scratch:?}"
        );
    }
    Ok(())
}

fn compare(
    (cloud_a, state_a): (&Cloud, &State),
    (cloud_b, state_b): (&Cloud, &State),
) -> Result<(), TestCaseError> {
    let (names_a, names_b) = (IdNames::new(state_a), IdNames::new(state_b));
    prop_assert_eq!(
        state_a.keys().collect::<Vec<_>>(),
        state_b.keys().collect::<Vec<_>>(),
        "the same addresses in state"
    );
    for (addr, a) in state_a {
        let b = &state_b[addr];
        prop_assert_eq!(&a.type_name, &b.type_name, "type of {}", addr);
        prop_assert_eq!(&a.region, &b.region, "region of {}", addr);
        compare_attrs(
            &format!("recorded inputs of {addr}"),
            &a.type_name,
            &names_a.json(&a.inputs),
            &names_b.json(&b.inputs),
        )?;
        compare_attrs(
            &format!("recorded attributes of {addr}"),
            &a.type_name,
            &names_a.json(&a.attributes),
            &names_b.json(&b.attributes),
        )?;
        let deps = |r: &RecordedResource| r.dependencies.iter().cloned().collect::<BTreeSet<_>>();
        prop_assert_eq!(deps(a), deps(b), "recorded dependencies of {}", addr);
        let (oa, ob) = (&cloud_a.objects[&a.cloud_id], &cloud_b.objects[&b.cloud_id]);
        prop_assert_eq!(&oa.type_name, &ob.type_name, "live type of {}", addr);
        prop_assert_eq!(&oa.region, &ob.region, "live region of {}", addr);
        compare_attrs(
            &format!("live {addr}"),
            &a.type_name,
            &names_a.values(&oa.attrs),
            &names_b.values(&ob.attrs),
        )?;
    }
    prop_assert_eq!(
        cloud_a.objects.len(),
        state_a.len(),
        "untracked objects step by step"
    );
    prop_assert_eq!(
        cloud_b.objects.len(),
        state_b.len(),
        "untracked objects from scratch"
    );
    Ok(())
}

fn run_sequence(edits: &[Desired]) -> Result<(), TestCaseError> {
    let (mut cloud, mut state) = (Cloud::default(), State::new());
    let mut last: Option<Loaded> = None;
    for d in edits {
        let yaml = d.render();
        // Loading dominates the test's time: an unchanged stack is not loaded again.
        let w = match last.take() {
            Some(w) if w.yaml == yaml => w,
            _ => load(&yaml),
        };
        step(&w, &mut cloud, &mut state)?;
        last = Some(w);
    }
    let last = last.expect("at least one stack");
    let (mut fresh_cloud, mut fresh_state) = (Cloud::default(), State::new());
    step(&last, &mut fresh_cloud, &mut fresh_state)?;
    compare((&cloud, &state), (&fresh_cloud, &fresh_state))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        // A failure is kept in tests/edits.proptest-regressions and replayed first.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn stepwise_edits_end_where_a_fresh_apply_does(
        edits in proptest::collection::vec(desired_strategy(), 1..6)
    ) {
        run_sequence(&edits)?;
    }
}

/// The generator's stacks load, and the simulation itself is sane: a fresh apply makes
/// every resource of the stack and nothing else.
#[test]
fn a_full_stack_applies_from_scratch() {
    let d = Desired {
        team: 0,
        nets: vec![
            Some(Net {
                cidr: 0,
                name: Some(1),
                dns: Some(false),
                tag: Some(0),
                eu: false,
                create_before_destroy: false,
            }),
            Some(Net {
                cidr: 1,
                name: None,
                dns: None,
                tag: None,
                eu: true,
                create_before_destroy: true,
            }),
        ],
        subs: vec![
            Some(Sub {
                net: NetRef::Net(0),
                zone: 0,
                size: Some(2),
                label: Some(Label::NetName(0)),
                secret: Some(1),
                create_before_destroy: false,
            }),
            Some(Sub {
                net: NetRef::Net(1),
                zone: 1,
                size: None,
                label: Some(Label::NetCidr(1)),
                secret: None,
                create_before_destroy: true,
            }),
            None,
        ],
        rules: Some(Rules {
            count: 2,
            desc: 1,
            targets: vec![0, 1, 2],
            depends_on: Some(1),
        }),
        keyed: vec![true, false, true],
        misc: Some(true),
    };
    let (mut cloud, mut state) = (Cloud::default(), State::new());
    step(&load(&d.render()), &mut cloud, &mut state).unwrap();
    assert_eq!(state.len(), 2 + 2 + 2 + 2 + 1);
    assert_eq!(cloud.objects.len(), state.len());
    let s0 = &state[&Address::new("s0")];
    let n0 = &state[&Address::new("n0")];
    assert_eq!(s0.inputs["net_id"], serde_json::json!(n0.cloud_id));
    assert_eq!(s0.inputs["label"], serde_json::json!("net-1"));
    let rule = &cloud.objects[&state[&Address::new("rule[1]")].cloud_id];
    assert_eq!(rule.attrs["desc"], Value::string("rule-1-1"));
    let s1 = &cloud.objects[&state[&Address::new("s1")].cloud_id];
    assert_eq!(s1.attrs["label"], Value::string("10.1.0.0/16-x"));
}

// ---------------------------------------------------------------------------------------
// The planner bugs the property test found, each as the small sequence that showed it:
// a replacement across type or region that deleted through the new type and region,
// steps that waited on each other in a cycle, and records of unchanged resources that
// went stale.

fn empty() -> Desired {
    Desired {
        team: 0,
        nets: vec![None; NETS],
        subs: vec![None; SUBS],
        rules: None,
        keyed: vec![false; KEYS.len()],
        misc: None,
    }
}

fn plain_net(cidr: u8) -> Net {
    Net {
        cidr,
        name: None,
        dns: None,
        tag: None,
        eu: false,
        create_before_destroy: false,
    }
}

fn sub_of(net: usize, create_before_destroy: bool) -> Sub {
    Sub {
        net: NetRef::Net(net),
        zone: 0,
        size: None,
        label: None,
        secret: None,
        create_before_destroy,
    }
}

#[test]
fn moving_a_resource_deletes_the_old_object() {
    let in_region = |eu| Desired {
        nets: vec![Some(Net { eu, ..plain_net(0) }), None],
        ..empty()
    };
    let of_type = |is_net| Desired {
        misc: Some(is_net),
        ..empty()
    };
    let region = run_sequence(&[in_region(false), in_region(true)]);
    let kind = run_sequence(&[of_type(true), of_type(false)]);
    assert!(
        region.is_ok() && kind.is_ok(),
        "region: {region:?}\ntype: {kind:?}"
    );
}

#[test]
fn create_before_destroy_of_a_dependent_replaced_with_its_dependency() {
    let stack = |cidr, cbd| Desired {
        nets: vec![Some(plain_net(cidr)), None],
        subs: vec![None, None, Some(sub_of(0, cbd))],
        ..empty()
    };
    run_sequence(&[stack(0, false), stack(1, true)]).unwrap();
}

#[test]
fn update_that_drops_a_removed_resource_while_its_dependency_is_replaced() {
    let before = Desired {
        nets: vec![None, Some(plain_net(1))],
        subs: vec![Some(sub_of(1, false)), None, None],
        rules: Some(Rules {
            count: 1,
            desc: 0,
            targets: vec![0],
            depends_on: None,
        }),
        ..empty()
    };
    let after = Desired {
        nets: vec![None, Some(plain_net(0))],
        subs: vec![None, None, None],
        rules: Some(Rules {
            count: 1,
            desc: 0,
            targets: vec![],
            depends_on: Some(1),
        }),
        ..empty()
    };
    run_sequence(&[before, after]).unwrap();
}

#[test]
fn records_of_unchanged_resources_follow_the_stack() {
    let net_name_label = Sub {
        label: Some(Label::NetName(1)),
        ..sub_of(0, false)
    };
    let before = Desired {
        nets: vec![Some(plain_net(1)), Some(plain_net(0))],
        subs: vec![None, Some(net_name_label), None],
        ..empty()
    };
    let after = Desired {
        nets: vec![Some(plain_net(1)), None],
        subs: vec![None, Some(sub_of(0, false)), None],
        ..empty()
    };
    let dependencies = run_sequence(&[before, after]);
    let named = |name, dns| Desired {
        nets: vec![
            None,
            Some(Net {
                name,
                dns,
                ..plain_net(0)
            }),
        ],
        ..empty()
    };
    let inputs = run_sequence(&[
        named(Some(0), None),
        named(None, Some(false)),
        named(Some(0), Some(false)),
    ]);
    assert!(
        dependencies.is_ok() && inputs.is_ok(),
        "dependencies: {dependencies:?}\ninputs: {inputs:?}"
    );
}

#[test]
fn a_repeated_item_in_an_unordered_list_is_a_change() {
    let rules = |targets| Desired {
        rules: Some(Rules {
            count: 1,
            desc: 0,
            targets,
            depends_on: None,
        }),
        ..empty()
    };
    // No subnets: the targets are the literal ids `gone-1`, `gone-2`.
    run_sequence(&[rules(vec![1, 2]), rules(vec![1, 1])]).unwrap();
}
