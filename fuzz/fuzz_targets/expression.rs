//! Arbitrary text as a property value (literal text and `${...}` expressions), evaluated
//! in the scope of one resource of a fixed stack that has variables, locals, `count` and
//! `for_each` resources, a disabled one and modules. Parsing and evaluation must give a
//! value or a located diagnostic, never a panic.
//!
//! Input: the first byte picks the resource whose scope (`count.index`, `each`, module
//! variables) the text is evaluated in; the rest is the text.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use serde_saphyr::{Location, Spanned};
use terrane_stack::node::Node;
use terrane_stack::syntax::ResourceDecl;
use terrane_stack::{LoadOptions, Stack, load_stack};

mod common;
use common::{Lookup, assert_located, env_lookup, may_read_devices, scratch_dir};

const STACK: &str = r#"
stack: fuzz
region: us-east-1
default_tags: { team: fuzz }
variables:
  name: { default: web }
  n: { type: number, default: 3 }
  f: { type: number, default: 1.5 }
  flag: { type: bool, default: true }
  cidrs: { type: list, default: ["10.0.0.0/16", "10.1.0.0/16"] }
  tags: { type: map, default: { team: a, env: prod } }
  nested: { type: any, default: { a: [1, 2, { b: c }], m: { x: y } } }
  pw: { type: string, sensitive: true, from_env: PW }
locals:
  prefix: "${var.name}-x"
  loop: "${local.loop}"
  both: "${local.prefix}/${var.pw}"
  list: ["${var.name}", 2, true, null]
resources:
  vpc:
    type: t.vpc
    properties: { cidr: "${var.cidrs[0]}" }
  subnet:
    type: t.subnet
    count: 2
    properties: { vpc_id: "${vpc.id}", index: "${count.index}" }
  zone:
    type: t.subnet
    for_each: { a: 1, b: { x: 2 } }
    properties: { key: "${each.key}", vpc_id: "${vpc.id}" }
  named:
    type: t.subnet
    for_each: ["x", "y"]
  off:
    type: t.vpc
    enabled: false
modules:
  net:
    source: ./modules/net
    inputs: { name: "${var.name}", cidr: "${var.cidrs[1]}" }
  many:
    source: ./modules/net
    count: 2
    inputs: { name: "m-${count.index}", subnets: 1 }
  keyed:
    source: ./modules/regional
    for_each: { east: us-east-1, west: us-west-2 }
    inputs: { region: "${each.value}" }
outputs:
  vpc: { value: "${vpc.id}" }
"#;

fn stack() -> &'static Stack {
    static STACK_CELL: OnceLock<Stack> = OnceLock::new();
    STACK_CELL.get_or_init(|| {
        let dir = scratch_dir().join("expression");
        std::fs::create_dir_all(&dir).expect("create stack dir");
        std::fs::write(dir.join("stack.yaml"), STACK).expect("write stack.yaml");
        let modules = dir.join("modules");
        if !modules.exists() {
            // The stack's modules are the scratch directory's.
            std::os::unix::fs::symlink(scratch_dir().join("modules"), &modules)
                .expect("link modules");
        }
        let opts = LoadOptions {
            env: None,
            vars: Vec::new(),
            env_lookup: &env_lookup,
        };
        load_stack(&dir, &opts).unwrap_or_else(|d| panic!("the fixed stack loads: {d:?}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if may_read_devices(text) {
        return;
    }
    let _ = terrane_stack::expr::parse_template(text);

    let stack = stack();
    let base = &stack.instances[pick as usize % stack.instances.len()];
    let at = base.location.clone();
    let unknown = Location::UNKNOWN;
    let mut decl: ResourceDecl = (*base.decl).clone();
    let key = Spanned::new("value".to_string(), unknown, unknown);
    let value = Spanned::new(Node::Str(text.to_string()), unknown, unknown);
    decl.properties = Spanned::new(Node::Map(vec![(key, value)]), unknown, unknown);
    let mut inst = base.clone();
    inst.decl = Arc::new(decl);

    match stack.references(&inst) {
        Ok(refs) => {
            for r in refs {
                assert!(
                    stack.instance(&r.address).is_some(),
                    "a reference to {} which is not in the stack ({text:?} at {at})",
                    r.address
                );
            }
        }
        Err(d) => assert_located(&d, text),
    }
    for all_unknown in [false, true] {
        if let Err(d) = stack.evaluate_properties(&inst, &Lookup { all_unknown }) {
            assert_located(&d, text);
        }
    }
});
