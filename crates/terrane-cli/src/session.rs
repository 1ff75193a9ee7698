//! Where a stack's state lives, chosen per stack: the embedded SQLite file, or a DynamoDB
//! table shared by a team. Either way the engine works on a `StateStore`; for DynamoDB it is
//! a local working copy written back after every committed change, and the lock is remote.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use terrane_state::{LockInfo, StackRecord, StateError, StateStore};
use terrane_state_dynamodb::DynamoBackend;

use crate::args::StateArgs;

/// Where state lives.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendSpec {
    Sqlite,
    DynamoDb {
        table: String,
        region: Option<String>,
    },
}

impl BackendSpec {
    pub fn parse(s: &str) -> Result<BackendSpec> {
        if s == "sqlite" || s.is_empty() {
            return Ok(BackendSpec::Sqlite);
        }
        if let Some(rest) = s.strip_prefix("dynamodb://") {
            let (table, query) = rest.split_once('?').unwrap_or((rest, ""));
            if table.is_empty() {
                bail!("backend `{s}`: name the table, e.g. dynamodb://terrane-state");
            }
            let region = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("region="))
                .map(str::to_string);
            return Ok(BackendSpec::DynamoDb {
                table: table.to_string(),
                region,
            });
        }
        bail!("unknown state backend `{s}`: use `sqlite` or `dynamodb://TABLE`")
    }
}

struct Remote {
    backend: Arc<DynamoBackend>,
    /// Serial of the document last read or written, for the conditional write.
    serial: Arc<Mutex<Option<i64>>>,
    holding: Option<LockInfo>,
}

pub struct Session {
    pub store: StateStore,
    pub stack: StackRecord,
    remote: Option<Remote>,
    _workdir: Option<tempfile::TempDir>,
}

impl Deref for Session {
    type Target = StateStore;
    fn deref(&self) -> &StateStore {
        &self.store
    }
}

impl DerefMut for Session {
    fn deref_mut(&mut self) -> &mut StateStore {
        &mut self.store
    }
}

/// The backend named by `--backend`/`TERRANE_BACKEND`, else by the stack's `backend:`.
pub fn backend_of(args: &StateArgs, from_stack: Option<&str>) -> Result<BackendSpec> {
    match args.backend.as_deref().or(from_stack) {
        Some(s) => BackendSpec::parse(s),
        None => Ok(BackendSpec::Sqlite),
    }
}

/// Opens the state of `stack_name`: `local` is the SQLite file of the embedded backend.
pub async fn open(spec: &BackendSpec, local: &Path, stack_name: &str) -> Result<Session> {
    match spec {
        BackendSpec::Sqlite => {
            let mut store = StateStore::open(local)?;
            let stack = store.stack(stack_name)?;
            Ok(Session {
                store,
                stack,
                remote: None,
                _workdir: None,
            })
        }
        BackendSpec::DynamoDb { table, region } => {
            let clients = crate::commands::aws_clients().await;
            let region = region
                .clone()
                .or_else(|| clients.sdk_config().region().map(|r| r.to_string()))
                .unwrap_or_else(|| "us-east-1".into());
            let backend = Arc::new(DynamoBackend::new(&clients, &region, table));
            backend.ensure_table().await?;
            let workdir = tempfile::tempdir().context("a working directory for the state copy")?;
            let serial = Arc::new(Mutex::new(None));
            let (store, stack) =
                working_copy(&backend, workdir.path(), stack_name, &serial).await?;
            Ok(Session {
                store,
                stack,
                remote: Some(Remote {
                    backend,
                    serial,
                    holding: None,
                }),
                _workdir: Some(workdir),
            })
        }
    }
}

/// A fresh local copy of the remote document (empty when there is none), which writes
/// itself back after every committed change.
async fn working_copy(
    backend: &Arc<DynamoBackend>,
    dir: &Path,
    stack_name: &str,
    serial: &Arc<Mutex<Option<i64>>>,
) -> Result<(StateStore, StackRecord)> {
    static COPIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut store = StateStore::open(&dir.join(format!("state-{n}.db")))?;
    let doc = backend.load(stack_name).await?;
    let stack = match &doc {
        Some(doc) => store.import_document(doc, true)?,
        None => store.stack(stack_name)?,
    };
    *serial.lock().unwrap_or_else(|e| e.into_inner()) = doc.map(|d| d.serial);
    let hook_backend = backend.clone();
    let hook_serial = serial.clone();
    let handle = tokio::runtime::Handle::current();
    store.set_commit_hook(Box::new(move |store, stack| {
        let doc = store.export(stack)?;
        let read = *hook_serial.lock().unwrap_or_else(|e| e.into_inner());
        tokio::task::block_in_place(|| handle.block_on(hook_backend.save(&doc, read)))?;
        *hook_serial.lock().unwrap_or_else(|e| e.into_inner()) = Some(doc.serial);
        Ok(())
    }));
    Ok((store, stack))
}

impl Session {
    /// Takes the stack's lock, waiting up to `timeout` for another holder to let go.
    pub async fn acquire(&mut self, op: &str, timeout: Option<Duration>) -> Result<()> {
        let deadline = Instant::now() + timeout.unwrap_or_default();
        let mut told = false;
        loop {
            let attempt = match &mut self.remote {
                None => self.store.lock(&self.stack, op),
                Some(remote) => {
                    let (holder, host, pid) = terrane_state::who();
                    let who = LockInfo {
                        holder,
                        host,
                        pid,
                        operation: op.to_string(),
                        since: self.store.now()?,
                    };
                    let r = remote.backend.lock(&self.stack.name, &who).await;
                    if r.is_ok() {
                        remote.holding = Some(who);
                    }
                    r
                }
            };
            match attempt {
                Ok(()) => break,
                Err(StateError::Locked { held, .. }) if Instant::now() < deadline => {
                    if !told {
                        eprintln!(
                            "waiting for the lock held by {} on {} (pid {}) for {}",
                            held.holder, held.host, held.pid, held.operation
                        );
                        told = true;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e @ StateError::Locked { .. }) => {
                    let dead = matches!(&e, StateError::Locked { held, .. } if held_by_dead_process(&held.host, held.pid));
                    let hint = if dead {
                        "\n  note: that process is no longer running; after making sure no apply is under way, break the lock with `terrane state unlock --force`"
                    } else {
                        "\n  note: wait for it with --lock-timeout, or break a lock left by a dead process with `terrane state unlock --force`"
                    };
                    bail!("{e}{hint}");
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Holding the lock, read the latest state: another writer may have finished since.
        if let (Some(remote), Some(dir)) = (&self.remote, &self._workdir) {
            let (store, stack) = working_copy(
                &remote.backend,
                dir.path(),
                &self.stack.name,
                &remote.serial,
            )
            .await?;
            self.store = store;
            self.stack = stack;
        }
        Ok(())
    }

    /// Releases the lock this process holds.
    pub async fn release(&mut self) -> Result<()> {
        match &mut self.remote {
            None => self.store.unlock(&self.stack)?,
            Some(remote) => {
                if let Some(who) = remote.holding.take() {
                    remote.backend.unlock(&self.stack.name, &who).await?;
                }
            }
        }
        Ok(())
    }

    pub async fn holder(&self) -> Result<Option<LockInfo>> {
        Ok(match &self.remote {
            None => self.store.lock_holder(&self.stack)?,
            Some(remote) => remote.backend.lock_holder(&self.stack.name).await?,
        })
    }

    /// Removes the lock whoever holds it.
    pub async fn break_lock(&mut self) -> Result<Option<LockInfo>> {
        Ok(match &self.remote {
            None => self.store.force_unlock(&self.stack)?,
            Some(remote) => remote.backend.force_unlock(&self.stack.name).await?,
        })
    }
}

/// Whether the lock's holder was a process of this host that no longer runs.
fn held_by_dead_process(host: &str, pid: i64) -> bool {
    let (_, here, _) = terrane_state::who();
    host == here && !Path::new(&format!("/proc/{pid}")).exists()
}
