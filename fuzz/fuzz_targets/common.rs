//! Shared by the fuzz targets: a scratch stack directory holding a few fixed modules, a
//! lookup that answers references, and the check that every error is located.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use terrane_core::{Address, Diagnostic, Value};
use terrane_stack::AttrLookup;

/// Modules the fuzzed stacks may use (`source: ./modules/net` etc., as the repo's stacks do).
const MODULES: &[(&str, &str)] = &[
    (
        "modules/net",
        "variables:\n  cidr: { type: string, default: 10.0.0.0/16 }\n  name: { type: string, default: net }\n  subnets: { type: number, default: 2 }\n\
resources:\n  vpc:\n    type: aws.ec2.vpc\n    properties:\n      cidr_block: ${var.cidr}\n      tags: { Name: \"${var.name}\" }\n  subnet:\n    type: aws.ec2.subnet\n    count: ${var.subnets}\n    properties:\n      vpc_id: ${vpc.id}\n      cidr_block: ${cidrsubnet(var.cidr, 8, count.index)}\n\
outputs:\n  vpc_id: { value: \"${vpc.id}\" }\n  subnet_ids: { value: \"${subnet[*].id}\" }\n  name: { value: \"${var.name}\" }\n",
    ),
    (
        "modules/regional",
        "variables:\n  region: { type: string, default: us-east-1 }\n  cidr: { type: string, default: 10.1.0.0/16, validation: { cidr: true } }\n  flow_traffic: { type: string, default: ALL }\n\
resources:\n  vpc:\n    type: aws.ec2.vpc\n    properties:\n      cidr_block: ${var.cidr}\n  public:\n    type: aws.ec2.subnet\n    properties:\n      vpc_id: ${vpc.id}\n      cidr_block: ${cidrsubnet(var.cidr, 8, 1)}\n      availability_zone: ${var.region}a\n\
outputs:\n  vpc_id: { value: \"${vpc.id}\" }\n  public_subnet_id: { value: \"${public.id}\" }\n",
    ),
];

/// A scratch directory of this process (under $TMPDIR) with the modules written in it.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("terrane-fuzz-{}", std::process::id()));
        for (path, text) in MODULES {
            let m = dir.join(path);
            std::fs::create_dir_all(&m).expect("create scratch module dir");
            std::fs::write(m.join("module.yaml"), text).expect("write scratch module");
        }
        std::fs::write(dir.join("secret.txt"), "s3cret\n").expect("write scratch file");
        dir
    })
}

/// Environment variables as `from_env` sees them (never the process environment).
pub fn env_lookup(name: &str) -> Option<String> {
    match name {
        "FUZZ_STRING" | "PW" | "DB_PASSWORD" => Some("from-env".into()),
        "FUZZ_NUMBER" => Some("42".into()),
        "FUZZ_LIST" => Some("[\"a\", \"b\"]".into()),
        _ => None,
    }
}

/// Answers references: some attributes known, some known only after apply, others absent.
pub struct Lookup {
    pub all_unknown: bool,
}

impl AttrLookup for Lookup {
    fn attribute(&self, address: &Address, attribute: &str) -> Option<Value> {
        if self.all_unknown {
            return Some(Value::Unknown);
        }
        match attribute {
            "id" | "arn" | "name" => Some(Value::string(format!("{address}/{attribute}"))),
            "ids" => Some(Value::List(vec![Value::string("a"), Value::string("b")])),
            "tags" => Some(Value::Map(
                [("Name".to_string(), Value::string(address.to_string()))].into(),
            )),
            "count" => Some(Value::int(2)),
            "pending" | "dns_name" => Some(Value::Unknown),
            "nothing" => Some(Value::Null),
            _ => None,
        }
    }
}

/// Errors must say where: a file, and a line where there is one.
pub fn assert_located(d: &Diagnostic, input: &str) {
    assert!(
        d.location.is_some(),
        "diagnostic without a location: {d}\ninput: {input:?}"
    );
}

/// Whether the text might make `filebase64sha256` read a device (`/dev/zero` never ends,
/// `/dev/stdin` blocks): the harness skips those, they are not the evaluator's bugs.
pub fn may_read_devices(text: &str) -> bool {
    text.contains("filebase64sha256")
        && ["dev", "proc", "fd", "std", "zero", "random"]
            .iter()
            .any(|w| text.contains(w))
}
