use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_sdk_ec2::types::Filter;
pub use terrane_testkit::Moto;

/// This checkout's root, as the test binary was built from it (several checkouts may share
/// one target directory, so this is the integration tests' own manifest, not a library's).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A copy of a stack in a temporary directory, so tests can edit it and keep its state apart.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    inner: Option<PathBuf>,
}

impl Workdir {
    pub fn copy_of(stack: &str) -> Workdir {
        let src = repo_root().join(stack);
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&src, dir.path());
        Workdir { dir, inner: None }
    }

    /// An empty directory, for a stack a test writes itself.
    pub fn empty() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().unwrap(),
            inner: None,
        }
    }

    /// A copy of the whole `tree` (e.g. `stacks`, so that modules shared between stacks
    /// resolve), working in `tree/inner`.
    pub fn copy_within(tree: &str, inner: &str) -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo_root().join(tree), &dir.path().join(tree));
        Workdir {
            dir,
            inner: Some(PathBuf::from(tree).join(inner)),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The stack's directory: the copy itself, or the stack inside the copied tree.
    pub fn stack_dir(&self) -> PathBuf {
        match &self.inner {
            Some(inner) => self.dir.path().join(inner),
            None => self.dir.path().to_path_buf(),
        }
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let p = self.file(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.file(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".terrane" {
            continue;
        }
        let target = dst.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs the terrane binary with the endpoint's environment and no colour.
pub fn terrane(moto: Option<&Moto>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("TERRANE_STATE")
        .env_remove("TERRANE_API_QUOTAS");
    match moto {
        Some(m) => {
            for (k, v) in m.env() {
                cmd.env(k, v);
            }
        }
        None => {
            // Nothing may reach AWS: an unroutable endpoint makes any attempt fail fast.
            cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
                .env("AWS_ACCESS_KEY_ID", "x")
                .env("AWS_SECRET_ACCESS_KEY", "x")
                .env("AWS_REGION", "us-east-1");
        }
    }
    cmd.output().expect("run terrane")
}

pub fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code, showing the whole output when it differs.
#[track_caller]
pub fn expect_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit code\n{}",
        text(out)
    );
}

pub async fn ec2(moto: &Moto, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&moto.sdk_config(region).await)
}

pub fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

pub fn stack_filter(stack: &str) -> Filter {
    tag_filter("terrane:stack", stack)
}

pub fn tags_of(tags: &[aws_sdk_ec2::types::Tag]) -> std::collections::BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Every EC2 resource of the kinds terrane manages that carries the stack's ownership tag.
pub async fn owned_count(client: &aws_sdk_ec2::Client, stack: &str) -> usize {
    let vpcs = client
        .describe_vpcs()
        .filters(stack_filter(stack))
        .send()
        .await
        .unwrap()
        .vpcs()
        .len();
    let subnets = client
        .describe_subnets()
        .filters(stack_filter(stack))
        .send()
        .await
        .unwrap()
        .subnets()
        .len();
    let igws = client
        .describe_internet_gateways()
        .filters(stack_filter(stack))
        .send()
        .await
        .unwrap()
        .internet_gateways()
        .len();
    let sgs = client
        .describe_security_groups()
        .filters(stack_filter(stack))
        .send()
        .await
        .unwrap()
        .security_groups()
        .len();
    vpcs + subnets + igws + sgs
}

pub fn state_list(moto: &Moto, dir: &Path) -> Vec<serde_json::Value> {
    state_list_of_env(moto, dir, None)
}

/// `state list --json` of one environment of the stack (each is a stack of its own).
pub fn state_list_of_env(moto: &Moto, dir: &Path, env: Option<&str>) -> Vec<serde_json::Value> {
    let mut args = vec!["state", "list", dir.to_str().unwrap(), "--json"];
    if let Some(env) = env {
        args.extend(["--env", env]);
    }
    let out = terrane(Some(moto), &args);
    expect_code(&out, 0);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("state list --json: {e}\n{}", text(&out)))
}

/// An address as AWS holds it in the `terrane:address` tag of a service other than EC2:
/// characters most services refuse in tag values (brackets, quotes) are encoded.
pub fn owned_address(address: &str) -> String {
    terrane_aws_core::tags::encode_tag_value(terrane_core::OWNERSHIP_TAG_ADDRESS, address)
}
