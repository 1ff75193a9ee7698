//! Loading, expansion and graph tests on small stacks written to a temporary directory.

use std::path::Path;

use terrane_core::{Address, Value};

use crate::eval::AttrLookup;
use crate::{LoadOptions, StackGraph, load_stack};

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn load(
    files: &[(&str, &str)],
) -> (
    tempfile::TempDir,
    Result<crate::Stack, terrane_core::Diagnostics>,
) {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        write(dir.path(), rel, text);
    }
    let no_env = |_: &str| None;
    let r = load_stack(
        dir.path(),
        &LoadOptions {
            env: None,
            vars: vec![],
            env_lookup: &no_env,
        },
    );
    (dir, r)
}

fn err_text(files: &[(&str, &str)]) -> String {
    let (_d, r) = load(files);
    let diags = r.expect_err("expected an error");
    diags.to_string()
}

struct Known;
impl AttrLookup for Known {
    fn attribute(&self, address: &Address, attribute: &str) -> Option<Value> {
        Some(Value::string(format!("{address}.{attribute}")))
    }
}

const BASE: &str = "stack: t\nregion: us-east-1\nresources:\n  vpc:\n    type: aws.ec2.vpc\n    properties:\n      cidr_block: 10.0.0.0/16\n";

#[test]
fn syntax_error_names_line_and_column() {
    let text = err_text(&[("stack.yaml", "stack: t\nresources:\n  vpc: [unclosed\n")]);
    assert!(text.contains("stack.yaml:"), "{text}");
    assert!(text.contains(":4:") || text.contains(":3:"), "{text}");
}

#[test]
fn unknown_key_names_line_and_column() {
    let text = err_text(&[(
        "stack.yaml",
        "stack: t\nresources:\n  vpc:\n    type: aws.ec2.vpc\n    propertiez: {}\n",
    )]);
    assert!(text.contains("stack.yaml:5:5"), "{text}");
    assert!(text.contains("propertiez"), "{text}");
}

#[test]
fn missing_reference_reported_by_graph() {
    let (_d, r) = load(&[(
        "stack.yaml",
        &format!(
            "{BASE}  subnet:\n    type: aws.ec2.subnet\n    properties:\n      vpc_id: ${{vpcc.id}}\n"
        ),
    )]);
    let stack = r.unwrap();
    let err = StackGraph::build(&stack).err().unwrap().to_string();
    assert!(err.contains("stack.yaml:11:15"), "{err}");
    assert!(err.contains("unknown resource `vpcc`"), "{err}");
}

#[test]
fn cycle_reports_full_path_with_locations() {
    let (_d, r) = load(&[(
        "stack.yaml",
        "stack: t\nregion: us-east-1\nresources:\n  a:\n    type: x.y.z\n    properties:\n      p: ${b.id}\n  b:\n    type: x.y.z\n    properties:\n      p: ${c.id}\n  c:\n    type: x.y.z\n    depends_on: [a]\n",
    )]);
    let stack = r.unwrap();
    let err = StackGraph::build(&stack).err().unwrap().to_string();
    assert!(err.contains("dependency cycle: a -> b -> c -> a"), "{err}");
    assert!(err.contains("a depends on b via ${b.id} at"), "{err}");
    assert!(err.contains("c depends on a via depends_on at"), "{err}");
    assert!(err.contains("stack.yaml:14:18"), "{err}");
    assert!(err.contains("stack.yaml:7:10"), "{err}");
}

#[test]
fn for_each_count_and_references_resolve() {
    let (_d, r) = load(&[(
        "stack.yaml",
        &format!(
            "{BASE}  subnet:\n    type: aws.ec2.subnet\n    for_each:\n      a: 0\n      b: 1\n    properties:\n      vpc_id: ${{vpc.id}}\n      cidr_block: ${{cidrsubnet(\"10.0.0.0/16\", 8, each.value)}}\n  sg:\n    type: aws.ec2.security_group\n    count: 2\n    properties:\n      name: sg-${{count.index}}\n      subnets: ${{subnet[*].id}}\n"
        ),
    )]);
    let stack = r.unwrap();
    let addrs: Vec<&str> = stack.instances.iter().map(|i| i.address.as_str()).collect();
    assert_eq!(
        addrs,
        ["vpc", "subnet[\"a\"]", "subnet[\"b\"]", "sg[0]", "sg[1]"]
    );
    let graph = StackGraph::build(&stack).unwrap();
    assert_eq!(graph.order.first(), Some(&0));
    let b = stack.instance(&Address::new("subnet[\"b\"]")).unwrap();
    let props = stack.evaluate_properties(b, &Known).unwrap();
    assert_eq!(props["cidr_block"], Value::from("10.0.1.0/24"));
    assert_eq!(props["vpc_id"], Value::from("vpc.id"));
    let sg = stack.instance(&Address::new("sg[1]")).unwrap();
    let props = stack.evaluate_properties(sg, &Known).unwrap();
    assert_eq!(props["name"], Value::from("sg-1"));
    assert_eq!(
        props["subnets"],
        Value::List(vec![
            Value::from("subnet[\"a\"].id"),
            Value::from("subnet[\"b\"].id")
        ])
    );
}

#[test]
fn modules_are_stamped_per_region_and_outputs_flow() {
    let (_d, r) = load(&[
        (
            "stack.yaml",
            "stack: t\nregion: us-east-1\nvariables:\n  regions:\n    type: map\n    default: {us-east-1: 10.0.0.0/16, eu-west-1: 10.1.0.0/16}\nmodules:\n  regional:\n    source: ./modules/net\n    for_each: ${var.regions}\n    region: ${each.key}\n    inputs:\n      cidr: ${each.value}\nresources:\n  zone:\n    type: aws.route53.zone\n    properties:\n      vpc: ${module.regional[\"eu-west-1\"].vpc_id}\noutputs:\n  vpcs:\n    value: ${module.regional[*].vpc_id}\n",
        ),
        (
            "modules/net/module.yaml",
            "variables:\n  cidr: {type: string}\nresources:\n  vpc:\n    type: aws.ec2.vpc\n    properties:\n      cidr_block: ${var.cidr}\noutputs:\n  vpc_id:\n    value: ${vpc.id}\n",
        ),
    ]);
    let stack = r.unwrap();
    let eu = stack
        .instance(&Address::new("module.regional[\"eu-west-1\"].vpc"))
        .unwrap();
    assert_eq!(eu.region, "eu-west-1");
    assert_eq!(
        stack.evaluate_properties(eu, &Known).unwrap()["cidr_block"],
        Value::from("10.1.0.0/16")
    );
    let graph = StackGraph::build(&stack).unwrap();
    let zone = stack.by_address[&Address::new("zone")];
    let deps: Vec<usize> = graph.dependencies(zone).collect();
    assert_eq!(
        deps,
        vec![stack.by_address[&Address::new("module.regional[\"eu-west-1\"].vpc")]]
    );
    let out = stack.evaluate_output(&stack.outputs[0], &Known).unwrap();
    assert_eq!(out.as_list().unwrap().len(), 2);
}

#[test]
fn disabled_resources_are_left_out_and_validation_applies() {
    let (_d, r) = load(&[(
        "stack.yaml",
        "stack: t\nregion: us-east-1\nvariables:\n  nat: {type: bool, default: false}\n  env: {type: string, default: qa, allowed: [dev, prod]}\nresources:\n  nat:\n    type: aws.ec2.nat_gateway\n    enabled: ${var.nat}\n",
    )]);
    let err = r.err().unwrap().to_string();
    assert!(err.contains("stack.yaml:5:3"), "{err}");
    assert!(
        err.contains("\"qa\" is not one of the allowed values \"dev\", \"prod\""),
        "{err}"
    );
}

#[test]
fn sensitive_variables_come_from_env_and_stay_secret() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "stack.yaml",
        "stack: t\nregion: us-east-1\nvariables:\n  pw: {sensitive: true, from_env: DB_PW}\nresources:\n  db:\n    type: aws.rds.db_instance\n    properties:\n      password: ${var.pw}\n",
    );
    let env = |k: &str| (k == "DB_PW").then(|| "s3cr3t-value".to_string());
    let stack = load_stack(
        dir.path(),
        &LoadOptions {
            env: None,
            vars: vec![],
            env_lookup: &env,
        },
    )
    .unwrap();
    let props = stack
        .evaluate_properties(&stack.instances[0], &Known)
        .unwrap();
    assert!(matches!(props["password"], Value::Secret(_)));
    assert!(!format!("{:?} {}", props, serde_json::to_string(&props).unwrap()).contains("s3cr3t"));
}

#[test]
fn sensitive_default_in_plain_text_is_refused() {
    let text = err_text(&[(
        "stack.yaml",
        "stack: t\nvariables:\n  pw:\n    sensitive: true\n    default: hunter2\n",
    )]);
    assert!(text.contains("stack.yaml:5:14"), "{text}");
    assert!(text.contains("must not have a default"), "{text}");
}

#[test]
fn json_schema_describes_resources() {
    let schema = crate::json_schema().to_string();
    assert!(schema.contains("for_each"));
    assert!(schema.contains("prevent_destroy"));
}

#[test]
fn paths_are_relative_to_the_stack_directory_and_bundles_hash_as_aws_does() {
    let (dir, r) = load(&[
        (
            "stack.yaml",
            "stack: t\nregion: us-east-1\nlocals:\n  bundle: ${path.root}/app.zip\nmodules:\n  fn:\n    source: ./modules/fn\nresources:\n  top:\n    type: aws.lambda.function\n    properties:\n      filename: ${path.root}/app.zip\n      source_code_hash: ${filebase64sha256(local.bundle)}\n      role: ${replace(\"https://oidc.eks/id/ABC\", \"https://\", \"\")}\n",
        ),
        (
            "modules/fn/module.yaml",
            "resources:\n  inner:\n    type: aws.lambda.function\n    properties:\n      filename: ${path.module}/bundle.zip\n",
        ),
        ("app.zip", "not really a zip"),
    ]);
    let stack = r.unwrap();
    // The same on every machine and checkout (what state records), and read from the
    // stack's directory whatever directory terrane runs in (this test's is elsewhere).
    assert_ne!(std::env::current_dir().unwrap(), dir.path());
    let top = stack.instance(&Address::new("top")).unwrap();
    let props = stack.evaluate_properties(top, &Known).unwrap();
    assert_eq!(props["filename"], Value::from("./app.zip"));
    // base64(sha256("not really a zip")), as `openssl dgst -sha256 -binary | base64` gives.
    assert_eq!(
        props["source_code_hash"],
        Value::from("1b1kpcQ7b4zH9seJfpVOWLiav+1i6FGkf4Qt5xTMp9A=")
    );
    assert_eq!(props["role"], Value::from("oidc.eks/id/ABC"));
    let inner = stack.instance(&Address::new("module.fn.inner")).unwrap();
    assert_eq!(
        stack.evaluate_properties(inner, &Known).unwrap()["filename"],
        Value::from("modules/fn/bundle.zip")
    );
    let (_d, r) = load(&[(
        "stack.yaml",
        "stack: t\nregion: us-east-1\nresources:\n  f:\n    type: aws.lambda.function\n    properties:\n      source_code_hash: ${filebase64sha256(\"missing.zip\")}\n",
    )]);
    let stack = r.unwrap();
    let f = stack.instance(&Address::new("f")).unwrap();
    let err = stack
        .evaluate_properties(f, &Known)
        .unwrap_err()
        .to_string();
    assert!(err.contains("stack.yaml:7:25"), "{err}");
    assert!(err.contains("filebase64sha256: missing.zip"), "{err}");
}

#[test]
fn every_reference_of_a_string_becomes_an_edge() {
    let (_d, r) = load(&[(
        "stack.yaml",
        "stack: t\nregion: us-east-1\nresources:\n  a:\n    type: aws.ecs.cluster\n    properties: { name: a }\n  b:\n    type: aws.ecs.cluster\n    properties: { name: b }\n  c:\n    type: aws.ecs.cluster\n    properties: { name: c }\n  both:\n    type: aws.cloudwatch.log_group\n    properties:\n      name: /x/${a.arn}/${b.arn}\n      flag: ${a.arn == \"x\" && c.arn == \"y\"}\n",
    )]);
    let stack = r.unwrap();
    let graph = StackGraph::build(&stack).unwrap();
    let both = stack.by_address[&Address::new("both")];
    let mut deps: Vec<&str> = graph
        .dependencies(both)
        .map(|d| stack.instances[d].address.as_str())
        .collect();
    deps.sort();
    assert_eq!(deps, ["a", "b", "c"]);
}
