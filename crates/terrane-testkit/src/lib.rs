//! Test support: a moto server on a free loopback port, started by the test itself and
//! stopped when the guard drops, even when the test panics.

pub mod odd_address;
pub mod proxy;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (where `.venv` lives).
pub fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join(".git").exists() && !dir.join("state-schema").is_dir() {
        if !dir.pop() {
            break;
        }
    }
    dir
}

/// The moto server binary of the project's virtual environment, or `$TERRANE_MOTO_SERVER`.
pub fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("TERRANE_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    repo_root().join(".venv/bin/moto_server")
}

/// A running moto server. Dropping it kills the server.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Moto {
        let bin = moto_binary();
        assert!(
            bin.exists(),
            "moto server not found at {}: run scripts/setup.sh first (it installs moto into .venv)",
            bin.display()
        );
        // A few tries: another process can take the port between choosing it and binding it.
        for _ in 0..5 {
            let port = free_port();
            let mut child = spawn(&bin, port);
            if wait_ready(port, &mut child, Duration::from_secs(60)) {
                return Moto { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto server did not start");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a process (the terrane CLI, an SDK client) that talks to this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_SESSION_TOKEN".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
        ]
    }

    /// An SDK configuration that reaches this server in `region`, with dummy credentials.
    pub async fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "terrane-testkit",
            ))
            .load()
            .await
    }

    /// terrane's AWS clients, reaching this server (regions are chosen per call).
    pub async fn clients(&self, region: &str) -> std::sync::Arc<terrane_aws_core::AwsClients> {
        std::sync::Arc::new(terrane_aws_core::AwsClients::with_config(
            self.sdk_config(region).await,
        ))
    }

    /// Clears every resource in the server.
    pub fn reset(&self) {
        http_post(self.port, "/moto-api/reset", "");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn spawn(bin: &Path, port: u16) -> Child {
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("MOTO_ALLOW_NONEXISTENT_REGION", "false")
        // Stacks attach AWS-managed policies (AmazonEKSClusterPolicy, ...) to their roles.
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true");
    kill_with_parent(&mut cmd);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

/// Asks Linux to kill the server when the test process dies, even by SIGKILL, so that no
/// server outlives a run whose guard never got to drop.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn kill_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child being created.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn kill_with_parent(_cmd: &mut Command) {}

fn wait_ready(port: u16, child: &mut Child, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if http_get_ok(port, "/moto-api/") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn request(port: u16, raw: &str) -> Option<String> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(raw.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn http_get_ok(port: u16, path: &str) -> bool {
    request(
        port,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
    )
    .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
}

/// A POST to the server's control API (reset, state manager).
pub fn http_post(port: u16, path: &str, body: &str) -> Option<String> {
    request(
        port,
        &format!(
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// The helpers every provider test file writes the same way (create, observe, update, delete,
/// find by ownership, and small value builders), generated in the calling test file, which
/// defines `REGION` and `STACK`: `terrane_testkit::provider_test_helpers!(create, observe);`.
#[macro_export]
macro_rules! provider_test_helpers {
    ($($name:ident),* $(,)?) => { $( $crate::__provider_test_helper!($name); )* };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __provider_test_helper {
    (attrs) => {
        #[allow(dead_code)]
        fn attrs(pairs: &[(&str, Value)]) -> ::terrane_provider::Attributes {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        }
    };
    (map) => {
        #[allow(dead_code)]
        fn map(pairs: &[(&str, &str)]) -> ::terrane_core::Value {
            ::terrane_core::Value::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ::terrane_core::Value::string(*v)))
                    .collect(),
            )
        }
    };
    (strings) => {
        #[allow(dead_code)]
        fn strings(items: &[&str]) -> ::terrane_core::Value {
            ::terrane_core::Value::List(
                items
                    .iter()
                    .map(|s| ::terrane_core::Value::string(*s))
                    .collect(),
            )
        }
    };
    (tags) => {
        #[allow(dead_code)]
        /// Tags as the planner hands them over: own tags plus the ownership tags.
        fn tags(address: &str, own: &[(&str, &str)]) -> ::terrane_core::Value {
            let mut all = vec![
                (::terrane_core::OWNERSHIP_TAG_STACK, STACK),
                (::terrane_core::OWNERSHIP_TAG_ADDRESS, address),
            ];
            all.extend_from_slice(own);
            map(&all)
        }
    };
    (create) => {
        #[allow(dead_code)]
        async fn create(
            t: &dyn ::terrane_provider::ResourceType,
            address: &str,
            inputs: &::terrane_provider::Attributes,
        ) -> (String, ::terrane_provider::Attributes) {
            let address = ::terrane_core::Address::new(address);
            let out = t
                .create(::terrane_provider::CreateRequest {
                    region: REGION,
                    address: &address,
                    inputs,
                    client_token: "token",
                })
                .await
                .unwrap_or_else(|e| panic!("create {address}: {e}"));
            (out.id, out.attributes)
        }
    };
    (observe) => {
        #[allow(dead_code)]
        async fn observe(
            t: &dyn ::terrane_provider::ResourceType,
            ids: &[&str],
        ) -> ::std::collections::BTreeMap<String, ::terrane_provider::Attributes> {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            t.observe(::terrane_provider::ObserveRequest {
                region: REGION,
                ids: &ids,
            })
            .await
            .expect("observe")
            .found
        }
    };
    (update) => {
        #[allow(dead_code)]
        async fn update(
            t: &dyn ::terrane_provider::ResourceType,
            id: &str,
            inputs: &::terrane_provider::Attributes,
            prior: &::terrane_provider::Attributes,
            changed: &[&str],
        ) -> ::terrane_provider::Attributes {
            let changed: Vec<String> = changed.iter().map(|s| s.to_string()).collect();
            t.update(::terrane_provider::UpdateRequest {
                region: REGION,
                id,
                inputs,
                prior,
                changed: &changed,
            })
            .await
            .unwrap_or_else(|e| panic!("update {id}: {e}"))
            .attributes
        }
    };
    (delete) => {
        #[allow(dead_code)]
        async fn delete(
            t: &dyn ::terrane_provider::ResourceType,
            id: &str,
            prior: &::terrane_provider::Attributes,
        ) {
            t.delete(::terrane_provider::DeleteRequest {
                region: REGION,
                id,
                prior,
            })
            .await
            .unwrap_or_else(|e| panic!("delete {id}: {e}"));
        }
    };
    (find) => {
        #[allow(dead_code)]
        async fn find(
            t: &dyn ::terrane_provider::ResourceType,
            stack: &str,
            address: Option<&str>,
        ) -> Vec<String> {
            t.find_by_ownership(::terrane_provider::FindRequest {
                region: REGION,
                stack,
                address,
            })
            .await
            .expect("find_by_ownership")
            .into_keys()
            .collect()
        }
    };
    (delete_twice_and_gone) => {
        #[allow(dead_code)]
        /// Delete twice (the second finds nothing and still succeeds), then observe it absent.
        async fn delete_twice_and_gone(
            t: &dyn ::terrane_provider::ResourceType,
            id: &str,
            prior: &::terrane_provider::Attributes,
        ) {
            delete(t, id, prior).await;
            delete(t, id, prior).await;
            assert!(observe(t, &[id]).await.is_empty(), "{id} is still observed");
        }
    };
    (s) => {
        #[allow(dead_code)]
        fn s(a: &::terrane_provider::Attributes, name: &str) -> String {
            a.get(name)
                .and_then(::terrane_core::Value::as_str)
                .unwrap_or_else(|| panic!("{name} missing or not a string in {a:?}"))
                .to_string()
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_starts_answers_and_stops_on_drop() {
        let moto = Moto::start();
        let port = moto.port;
        assert!(http_get_ok(port, "/moto-api/"));
        drop(moto);
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !http_get_ok(port, "/moto-api/"),
            "server still answers after drop"
        );
    }
}
