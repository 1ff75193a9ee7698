//! The planner's behaviour, with hand-made schemas and no network.

use std::collections::BTreeMap;

use terrane_core::schema::DefaultValue;
use terrane_core::{
    Address, AttrSchema, OwnsAll, ResourceSchema, SchemaSource, SecretHasher, Value, ValueType,
};
use terrane_stack::{LoadOptions, Stack, StackGraph, load_stack};

use crate::{Action, Observed, Plan, RecordedResource, StepKind, plan, steps};

struct Schemas(Vec<ResourceSchema>);

impl SchemaSource for Schemas {
    fn schema(&self, t: &str) -> Option<&ResourceSchema> {
        self.0.iter().find(|s| s.type_name == t)
    }
    fn type_names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.type_name).collect()
    }
}

fn schemas() -> Schemas {
    let base = |name, attrs| ResourceSchema {
        type_name: name,
        description: "",
        attributes: attrs,
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "",
    };
    Schemas(vec![
        base(
            "t.vpc",
            vec![
                AttrSchema::required("cidr_block", ValueType::String).forces_replacement(),
                AttrSchema::optional("dns", ValueType::Bool).default(DefaultValue::Bool(true)),
                AttrSchema::optional("key", ValueType::String).forces_replacement_once_set(),
                AttrSchema::optional("tags", ValueType::Map),
                AttrSchema::computed("id", ValueType::String),
            ],
        ),
        base(
            "t.group",
            vec![
                AttrSchema::optional("ingress", ValueType::List).owns_all(OwnsAll {
                    member_type: "t.rule",
                    via: "group_id",
                    when: Some(("direction", "ingress")),
                }),
                AttrSchema::computed("id", ValueType::String),
            ],
        ),
        base(
            "t.rule",
            vec![
                AttrSchema::required("group_id", ValueType::String),
                AttrSchema::required("direction", ValueType::String),
                AttrSchema::computed("id", ValueType::String),
            ],
        ),
        base(
            "t.subnet",
            vec![
                AttrSchema::required("vpc_id", ValueType::String).forces_replacement(),
                AttrSchema::required("cidr_block", ValueType::String).forces_replacement(),
                AttrSchema::optional("password", ValueType::String).sensitive(),
                AttrSchema::optional("tags", ValueType::Map),
                AttrSchema::computed("id", ValueType::String),
            ],
        ),
    ])
}

const STACK: &str = "stack: demo\nregion: us-east-1\ndefault_tags: {team: platform}\nresources:\n  vpc:\n    type: t.vpc\n    properties:\n      cidr_block: 10.0.0.0/16\n  subnet:\n    type: t.subnet\n    properties:\n      vpc_id: ${vpc.id}\n      cidr_block: 10.0.1.0/24\n      tags: {Name: a}\n";

struct World {
    _dir: tempfile::TempDir,
    stack: Stack,
    graph: StackGraph,
}

fn world(yaml: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), yaml).unwrap();
    let env = |k: &str| (k == "PW").then(|| "pw-1".to_string());
    let stack = load_stack(
        dir.path(),
        &LoadOptions {
            env: None,
            vars: vec![],
            env_lookup: &env,
        },
    )
    .unwrap();
    let graph = StackGraph::build(&stack).unwrap();
    World {
        _dir: dir,
        stack,
        graph,
    }
}

fn run(
    w: &World,
    recorded: &[RecordedResource],
    observed: &BTreeMap<Address, Observed>,
) -> Result<Plan, terrane_core::Diagnostics> {
    let s = schemas();
    let hasher = SecretHasher::new("salt");
    plan(crate::PlanInput {
        stack: &w.stack,
        graph: &w.graph,
        recorded,
        observed,
        schemas: &s,
        hasher: &hasher,
    })
}

fn tags(addr: &str, extra: &[(&str, &str)]) -> Value {
    let mut m: BTreeMap<String, Value> = BTreeMap::from([
        ("team".into(), Value::from("platform")),
        ("terrane:stack".into(), Value::from("demo")),
        ("terrane:address".into(), Value::from(addr)),
    ]);
    for (k, v) in extra {
        m.insert(k.to_string(), Value::from(*v));
    }
    Value::Map(m)
}

/// State and live attributes exactly as an apply of `STACK` would leave them.
fn applied() -> (Vec<RecordedResource>, BTreeMap<Address, Observed>) {
    let vpc_live = BTreeMap::from([
        ("cidr_block".to_string(), Value::from("10.0.0.0/16")),
        ("dns".to_string(), Value::Bool(true)),
        ("tags".to_string(), tags("vpc", &[])),
        ("id".to_string(), Value::from("vpc-1")),
    ]);
    let subnet_live = BTreeMap::from([
        ("vpc_id".to_string(), Value::from("vpc-1")),
        ("cidr_block".to_string(), Value::from("10.0.1.0/24")),
        ("tags".to_string(), tags("subnet", &[("Name", "a")])),
        ("id".to_string(), Value::from("subnet-1")),
    ]);
    let rec =
        |addr: &str, t: &str, id: &str, live: &BTreeMap<String, Value>, deps: Vec<Address>| {
            RecordedResource {
                address: Address::new(addr),
                type_name: t.into(),
                region: "us-east-1".into(),
                cloud_id: id.into(),
                inputs: live
                    .iter()
                    .filter(|(k, _)| *k != "id")
                    .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap()))
                    .collect(),
                attributes: live
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap()))
                    .collect(),
                dependencies: deps,
            }
        };
    let recorded = vec![
        rec("vpc", "t.vpc", "vpc-1", &vpc_live, vec![]),
        rec(
            "subnet",
            "t.subnet",
            "subnet-1",
            &subnet_live,
            vec![Address::new("vpc")],
        ),
    ];
    let observed = BTreeMap::from([
        (Address::new("vpc"), Observed::Present(vpc_live)),
        (Address::new("subnet"), Observed::Present(subnet_live)),
    ]);
    (recorded, observed)
}

fn actions(p: &Plan) -> Vec<(String, Action)> {
    p.changes
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

#[test]
fn empty_state_creates_everything_with_unknown_references() {
    let w = world(STACK);
    let p = run(&w, &[], &BTreeMap::new()).unwrap();
    assert_eq!(
        actions(&p),
        [
            ("vpc".into(), Action::Create),
            ("subnet".into(), Action::Create)
        ]
    );
    let subnet = p.change(&Address::new("subnet")).unwrap();
    let vpc_id = subnet
        .attributes
        .iter()
        .find(|a| a.name == "vpc_id")
        .unwrap();
    assert_eq!(vpc_id.after, Value::Unknown);
    let t = subnet.attributes.iter().find(|a| a.name == "tags").unwrap();
    assert_eq!(t.after, tags("subnet", &[("Name", "a")]));
    let vpc = p.change(&Address::new("vpc")).unwrap();
    assert!(
        vpc.attributes
            .iter()
            .any(|a| a.name == "dns" && a.after == Value::Bool(true)),
        "defaults are planned"
    );
}

#[test]
fn applied_stack_plans_no_changes() {
    let w = world(STACK);
    let (rec, obs) = applied();
    let p = run(&w, &rec, &obs).unwrap();
    assert!(!p.has_changes(), "{:#?}", p.changes);
    assert!(steps(&p).is_empty());
}

#[test]
fn a_tag_change_is_an_update_in_place() {
    let w = world(&STACK.replace("{Name: a}", "{Name: b}"));
    let (rec, obs) = applied();
    let p = run(&w, &rec, &obs).unwrap();
    assert_eq!(
        actions(&p),
        [
            ("vpc".into(), Action::NoOp),
            ("subnet".into(), Action::Update)
        ]
    );
    let c = &p.change(&Address::new("subnet")).unwrap().attributes;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].name, "tags");
}

#[test]
fn drift_of_a_default_is_restored() {
    let w = world(STACK);
    let (rec, mut obs) = applied();
    if let Some(Observed::Present(v)) = obs.get_mut(&Address::new("vpc")) {
        v.insert("dns".into(), Value::Bool(false));
    }
    let p = run(&w, &rec, &obs).unwrap();
    assert_eq!(
        p.change(&Address::new("vpc")).unwrap().action,
        Action::Update
    );
}

#[test]
fn an_immutable_change_replaces_and_cascades_through_forcing_references() {
    let w = world(&STACK.replace("10.0.0.0/16", "10.9.0.0/16"));
    let (rec, obs) = applied();
    let p = run(&w, &rec, &obs).unwrap();
    assert_eq!(
        actions(&p),
        [
            ("vpc".into(), Action::Replace),
            ("subnet".into(), Action::Replace)
        ]
    );
    let s = steps(&p);
    let pos = |kind, addr: &str| {
        s.iter()
            .position(|x| x.kind == kind && p.changes[x.change].address.as_str() == addr)
            .unwrap()
    };
    // The subnet goes before its VPC; the new VPC comes before the new subnet.
    assert!(
        s[pos(StepKind::Delete, "vpc")]
            .after
            .contains(&pos(StepKind::Delete, "subnet"))
    );
    assert!(
        s[pos(StepKind::Create, "vpc")]
            .after
            .contains(&pos(StepKind::Delete, "vpc"))
    );
    assert!(
        s[pos(StepKind::Create, "subnet")]
            .after
            .contains(&pos(StepKind::Create, "vpc"))
    );
}

#[test]
fn a_removed_resource_is_deleted_after_its_dependants() {
    let w = world("stack: demo\nregion: us-east-1\nresources: {}\n");
    let (rec, obs) = applied();
    let p = run(&w, &rec, &obs).unwrap();
    assert_eq!(
        actions(&p),
        [
            ("subnet".into(), Action::Delete),
            ("vpc".into(), Action::Delete)
        ]
    );
    let s = steps(&p);
    let vpc = s
        .iter()
        .find(|x| p.changes[x.change].address.as_str() == "vpc")
        .unwrap();
    assert_eq!(vpc.after.len(), 1);
    assert_eq!(p.changes[s[vpc.after[0]].change].address.as_str(), "subnet");
}

#[test]
fn deleted_out_of_band_is_created_again() {
    let w = world(STACK);
    let (rec, mut obs) = applied();
    obs.insert(Address::new("subnet"), Observed::Absent);
    let p = run(&w, &rec, &obs).unwrap();
    let c = p.change(&Address::new("subnet")).unwrap();
    assert_eq!(c.action, Action::Create);
    assert!(c.reason.as_deref().unwrap().contains("outside terrane"));
}

#[test]
fn ignore_changes_hides_a_difference() {
    let yaml = STACK.replace(
        "      tags: {Name: a}\n",
        "      tags: {Name: zzz}\n    lifecycle:\n      ignore_changes: [tags]\n",
    );
    let w = world(&yaml);
    let (rec, obs) = applied();
    let p = run(&w, &rec, &obs).unwrap();
    assert!(!p.has_changes(), "{:#?}", p.changes);
}

#[test]
fn prevent_destroy_refuses_a_replacement() {
    let yaml = STACK.replace(
        "      cidr_block: 10.0.0.0/16\n",
        "      cidr_block: 10.5.0.0/16\n    lifecycle: {prevent_destroy: true}\n",
    );
    let w = world(&yaml);
    let (rec, obs) = applied();
    let err = run(&w, &rec, &obs).unwrap_err().to_string();
    assert!(err.contains("prevent_destroy"), "{err}");
    assert!(err.contains("stack.yaml:5:3"), "{err}");
}

#[test]
fn unknown_property_and_type_are_located() {
    let yaml = STACK
        .replace(
            "      cidr_block: 10.0.1.0/24\n",
            "      cidr_blok: 10.0.1.0/24\n",
        )
        .replace("type: t.vpc", "type: t.vpcc");
    let w = world(&yaml);
    let err = run(&w, &[], &BTreeMap::new()).unwrap_err().to_string();
    assert!(
        err.contains("stack.yaml:6:11: error: vpc: unknown resource type `t.vpcc`"),
        "{err}"
    );
    assert!(
        err.contains("stack.yaml:13:7: error: subnet: unknown property `cidr_blok` for t.subnet"),
        "{err}"
    );
}

#[test]
fn secrets_are_compared_by_digest_and_never_shown() {
    let yaml = format!(
        "{}      password: ${{var.pw}}\nvariables:\n  pw: {{sensitive: true, from_env: PW}}\n",
        STACK
    );
    let w = world(&yaml);
    let (mut rec, obs) = applied();
    let hasher = SecretHasher::new("salt");
    rec[1].inputs.insert(
        "password".into(),
        Value::Secret(terrane_core::SecretString::new("pw-1")).to_state_json(&hasher),
    );
    let p = run(&w, &rec, &obs).unwrap();
    assert!(!p.has_changes(), "same secret, no change: {:#?}", p.changes);
    rec[1].inputs.insert(
        "password".into(),
        Value::Secret(terrane_core::SecretString::new("old")).to_state_json(&hasher),
    );
    let p = run(&w, &rec, &obs).unwrap();
    assert_eq!(
        p.change(&Address::new("subnet")).unwrap().action,
        Action::Update
    );
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains("pw-1"), "{json}");
}

#[test]
fn an_attribute_that_replaces_once_set_is_set_in_place_first() {
    let w = world(&STACK.replace(
        "cidr_block: 10.0.0.0/16\n",
        "cidr_block: 10.0.0.0/16\n      key: k2\n",
    ));
    let (recorded, mut observed) = applied();
    let p = run(&w, &recorded, &observed).unwrap();
    assert_eq!(
        p.change(&Address::new("vpc")).unwrap().action,
        Action::Update,
        "none yet: set in place"
    );
    if let Some(Observed::Present(live)) = observed.get_mut(&Address::new("vpc")) {
        live.insert("key".into(), Value::from("k1"));
    }
    let p = run(&w, &recorded, &observed).unwrap();
    let vpc = p.change(&Address::new("vpc")).unwrap();
    assert_eq!(vpc.action, Action::Replace, "another key: replaced");
    assert!(
        vpc.attributes
            .iter()
            .any(|a| a.name == "key" && a.forces_replacement)
    );
}

#[test]
fn a_separate_member_of_a_list_its_owner_sets_inline_is_refused() {
    let stack = |rule_direction: &str, inline: &str| {
        format!(
            "stack: demo\nregion: us-east-1\nlocals:\n  gid: ${{open.id}}\nresources:\n  open:\n    type: t.group\n    properties:\n{inline}\n  bare:\n    type: t.group\n  https:\n    type: t.rule\n    properties:\n      group_id: ${{local.gid}}\n      direction: {rule_direction}\n  other:\n    type: t.rule\n    properties:\n      group_id: ${{bare.id}}\n      direction: ingress\n"
        )
    };
    let inline = "      ingress: [{port: 80}]";
    let w = world(&stack("ingress", inline));
    let err = run(&w, &[], &BTreeMap::new()).unwrap_err().to_string();
    // Named where the rule points at the group (through a local), the group's list located.
    assert!(err.contains("stack.yaml:15:7"), "{err}");
    assert!(
        err.contains(
            "`https` (t.rule, direction: ingress) is attached to `open`, whose `ingress` lists all of those"
        ),
        "{err}"
    );
    assert!(err.contains("`open` sets `ingress` at "), "{err}");
    assert!(err.contains("stack.yaml:9:7"), "{err}");
    // `other` is on a group that leaves `ingress` unset: no finding for it.
    assert!(!err.contains("`other`"), "{err}");

    // An egress rule is not one of the inbound rules the list owns.
    assert!(run(&world(&stack("egress", inline)), &[], &BTreeMap::new()).is_ok());
    // Nor is anything owned when the list is left out.
    assert!(run(&world(&stack("ingress", "      {}")), &[], &BTreeMap::new()).is_ok());
}
