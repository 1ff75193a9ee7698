//! Arbitrary bytes as a `stack.yaml`: loading must give a stack or located diagnostics,
//! never a panic; a stack that loads is also put through the graph and every evaluation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use terrane_stack::stack::parse_yaml_str;
use terrane_stack::syntax::StackFile;
use terrane_stack::{LoadOptions, StackGraph, load_stack};

mod common;
use common::{Lookup, assert_located, env_lookup, may_read_devices, scratch_dir};

/// Whether a path written in the stack stays inside the scratch directory (the harness
/// must not read `/dev/zero` or walk the file system; that is not the parser's business).
fn confined(p: &str) -> bool {
    let p = std::path::Path::new(p);
    !p.is_absolute()
        && p.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir();
    let stack_file = dir.join("stack.yaml");
    let shown = String::from_utf8_lossy(data);
    if may_read_devices(&shown) {
        return;
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(decl) = parse_yaml_str::<StackFile>(&stack_file, text)
    {
        let paths_ok = decl
            .variables
            .values()
            .filter_map(|v| v.from_file.as_deref())
            .chain(decl.modules.values().map(|m| m.source.value.as_str()))
            .all(confined);
        if !paths_ok {
            return;
        }
    }
    std::fs::write(&stack_file, data).expect("write stack.yaml");
    let opts = LoadOptions {
        env: None,
        vars: Vec::new(),
        env_lookup: &env_lookup,
    };
    let stack = match load_stack(dir, &opts) {
        Ok(s) => s,
        Err(diags) => {
            assert!(!diags.is_empty(), "an error with no diagnostic");
            for d in diags.iter() {
                assert_located(d, &shown);
            }
            return;
        }
    };
    let graph = match StackGraph::build(&stack) {
        Ok(g) => Some(g),
        Err(diags) => {
            assert!(!diags.is_empty(), "a graph error with no diagnostic");
            for d in diags.iter() {
                assert_located(d, &shown);
            }
            None
        }
    };
    if let Some(g) = &graph {
        let _ = g.to_dot(&stack);
        let _ = g.to_mermaid(&stack);
        let _ = terrane_stack::graph::ordered_addresses(&stack, g);
    }
    for all_unknown in [false, true] {
        let lookup = Lookup { all_unknown };
        for inst in &stack.instances {
            let _ = inst.property_keys();
            if let Err(d) = stack.references(inst) {
                assert_located(&d, &shown);
            }
            if let Err(d) = stack.evaluate_properties(inst, &lookup) {
                assert_located(&d, &shown);
            }
            for entry in &inst.decl.depends_on {
                let _ = stack.resolve_depends_on(inst, &entry.value);
            }
        }
        if let Err(d) = stack.output_references() {
            assert_located(&d, &shown);
        }
        for o in &stack.outputs {
            if let Err(d) = stack.evaluate_output(o, &lookup) {
                assert_located(&d, &shown);
            }
        }
    }
});
