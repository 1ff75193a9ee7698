//! The embedded state store: SQLite in WAL mode, schema from numbered migrations in
//! `state-schema/`, one file per stack directory (several stacks may share one file).
//!
//! It records what was applied, a journal of every AWS operation (intent before the call,
//! outcome after), every version of every record, runs, and the one-writer lock.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use terrane_core::Address;
use terrane_plan::RecordedResource;

/// Numbered migrations; `PRAGMA user_version` says how many have been applied.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init.sql",
        include_str!("../../../state-schema/0001_init.sql"),
    ),
    (
        "0002_drift.sql",
        include_str!("../../../state-schema/0002_drift.sql"),
    ),
    (
        "0003_api_calls.sql",
        include_str!("../../../state-schema/0003_api_calls.sql"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: not a terrane state database ({reason}); nothing was changed")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{path}: written by a newer terrane (schema version {found}, this one knows up to {known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "stack `{stack}` is locked by {} on {} (pid {}) for {} since {}",
        held.holder, held.host, held.pid, held.operation, held.since
    )]
    Locked { stack: String, held: Box<LockInfo> },
    #[error("no resource `{0}` in state")]
    NotFound(String),
    #[error("`{0}` is already in state")]
    Exists(String),
    #[error("not a terrane state document (format `{0}`, expected terrane-state/1)")]
    Format(String),
    #[error("state backend: {0}")]
    Backend(String),
    #[error("state: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state: {0}")]
    Io(#[from] std::io::Error),
    #[error("state: bad JSON in a record: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, StateError>;

pub struct StateStore {
    conn: Connection,
    path: PathBuf,
    on_commit: Option<CommitHook>,
}

/// Called after every committed change to a stack's records or journal, with the store
/// and the stack: how a remote backend keeps its copy current (see terrane-state-dynamodb).
pub type CommitHook = Box<dyn FnMut(&StateStore, &StackRecord) -> Result<()> + Send>;

/// A stack's row: its id, and the salt of its secret digests.
#[derive(Clone, Debug)]
pub struct StackRecord {
    pub id: i64,
    pub name: String,
    pub secret_salt: String,
    pub serial: i64,
}

/// An operation whose intent was written but whose outcome never was: a crash, a kill.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OpenIntent {
    pub journal_id: i64,
    pub address: Address,
    pub type_name: String,
    pub region: String,
    pub operation: String,
    pub client_token: String,
}

/// The version of the document `state pull` writes and `state push` reads.
pub const STATE_FORMAT: &str = "terrane-state/1";

/// A stack's state, portable between stores and backends. Sensitive values appear only as
/// salted digests; the salt travels with them so they stay comparable.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StateDocument {
    pub format: String,
    pub stack: String,
    pub serial: i64,
    pub secret_salt: String,
    pub resources: Vec<RecordedResource>,
    /// Operations begun but never finished (a crash), so another machine can resolve them.
    #[serde(default)]
    pub open_intents: Vec<OpenIntent>,
}

/// One run of terrane against a stack.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RunInfo {
    pub id: i64,
    pub kind: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: Option<String>,
    pub user: Option<String>,
    pub host: Option<String>,
    pub pid: Option<i64>,
    /// How many resource records this run wrote or removed.
    pub records_written: i64,
}

/// A drift finding as a run reports it, before it is matched with history.
#[derive(Clone, Debug, PartialEq)]
pub struct FindingRow {
    pub address: String,
    pub type_name: String,
    pub region: String,
    pub cloud_id: String,
    pub kind: String,
    pub attribute: Option<String>,
    pub recorded: Option<serde_json::Value>,
    pub live: Option<serde_json::Value>,
}

/// A drift finding with its history: when it appeared, whether it is still there, and
/// when and how it ended.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DriftRecord {
    pub id: i64,
    pub address: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub region: String,
    pub cloud_id: String,
    pub kind: String,
    pub attribute: Option<String>,
    pub recorded: Option<serde_json::Value>,
    pub live: Option<serde_json::Value>,
    pub first_run_id: i64,
    pub last_run_id: i64,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub resolved_at: Option<String>,
    /// applied (an apply put it back), reverted (someone undid it), accepted (`drift --accept`).
    pub resolution: Option<String>,
}

/// What recording one drift run changed in the history.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct DriftChanges {
    pub new: usize,
    pub still_present: usize,
    pub resolved: Vec<DriftRecord>,
}

/// One operation against AWS as the journal recorded it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct JournalEntry {
    pub id: i64,
    pub run_id: i64,
    pub address: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub region: String,
    pub operation: String,
    pub cloud_id: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// None while in flight or when the process died; then succeeded, failed, adopted or abandoned.
    pub outcome: Option<String>,
    pub error: Option<String>,
    /// AWS API calls the operation made (retries count once), when it was measured.
    pub api_calls: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LockInfo {
    pub holder: String,
    pub host: String,
    pub pid: i64,
    pub operation: String,
    pub since: String,
}

impl StateStore {
    /// Opens (creating it with mode 0600 if needed) and migrates the store at `path`.
    /// A file that is not a terrane store is refused and left untouched.
    pub fn open(path: &Path) -> Result<StateStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let existed = path.exists();
        if !existed {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
        }
        let conn = Connection::open(path)?;
        let corrupt = |e: rusqlite::Error| StateError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        // Any read of a file that is not SQLite fails here, before anything is written.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(corrupt)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(corrupt)?;
        if check != "ok" {
            return Err(StateError::Corrupt {
                path: path.to_path_buf(),
                reason: check,
            });
        }
        if existed && version == 0 {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(corrupt)?;
            if tables > 0 {
                return Err(StateError::Corrupt {
                    path: path.to_path_buf(),
                    reason: "an SQLite database, but not one of terrane's".into(),
                });
            }
        }
        if version > MIGRATIONS.len() as i64 {
            return Err(StateError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: MIGRATIONS.len() as i64,
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mut store = StateStore {
            conn,
            path: path.to_path_buf(),
            on_commit: None,
        };
        store.migrate(version)?;
        Ok(store)
    }

    fn migrate(&mut self, from: i64) -> Result<()> {
        for (i, (_name, sql)) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Exclusive)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Installs the hook called after each committed change.
    pub fn set_commit_hook(&mut self, hook: CommitHook) {
        self.on_commit = Some(hook);
    }

    fn after_commit(&mut self, stack: &StackRecord) -> Result<()> {
        if let Some(mut hook) = self.on_commit.take() {
            let result = hook(self, stack);
            self.on_commit = Some(hook);
            result?;
        }
        Ok(())
    }

    /// Sets the stack's serial (a working copy of a remote backend continues its numbering).
    pub fn set_serial(&mut self, stack: &StackRecord, serial: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE stacks SET serial = ?2 WHERE id = ?1",
            params![stack.id, serial],
        )?;
        Ok(())
    }

    /// The current time as the store writes it (UTC, RFC 3339).
    pub fn now(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |r| {
                r.get(0)
            })?)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// The stack's row, created on first use with a fresh secret salt.
    pub fn stack(&mut self, name: &str) -> Result<StackRecord> {
        let salt = uuid::Uuid::new_v4().simple().to_string();
        self.conn.execute(
            "INSERT OR IGNORE INTO stacks(name, secret_salt) VALUES (?1, ?2)",
            params![name, salt],
        )?;
        Ok(self.conn.query_row(
            "SELECT id, name, secret_salt, serial FROM stacks WHERE name = ?1",
            params![name],
            |r| {
                Ok(StackRecord {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    secret_salt: r.get(2)?,
                    serial: r.get(3)?,
                })
            },
        )?)
    }

    /// The average number of AWS API calls of each (resource type, operation) that
    /// succeeded in this store, with how many operations the average is of.
    pub fn operation_costs(
        &self,
    ) -> Result<std::collections::BTreeMap<(String, String), (f64, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT type, operation, avg(api_calls), count(*) FROM journal
             WHERE outcome = 'succeeded' AND api_calls IS NOT NULL GROUP BY type, operation",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                (r.get::<_, f64>(2)?, r.get::<_, i64>(3)? as u64),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<std::collections::BTreeMap<_, _>>>()?)
    }

    /// The names of every stack this store holds, sorted.
    pub fn stack_names(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT name FROM stacks ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<Vec<String>, _>>()?;
        Ok(names)
    }

    /// An existing stack's row, without creating one.
    pub fn find_stack(&self, name: &str) -> Result<Option<StackRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, secret_salt, serial FROM stacks WHERE name = ?1",
                params![name],
                |r| {
                    Ok(StackRecord {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        secret_salt: r.get(2)?,
                        serial: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn serial(&self, stack: &StackRecord) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT serial FROM stacks WHERE id = ?1",
            params![stack.id],
            |r| r.get(0),
        )?)
    }

    pub fn resources(&self, stack: &StackRecord) -> Result<Vec<RecordedResource>> {
        let mut stmt = self.conn.prepare(
            "SELECT address, type, region, cloud_id, inputs, attributes, dependencies FROM resources WHERE stack_id = ?1 ORDER BY address",
        )?;
        let rows = stmt.query_map(params![stack.id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (address, type_name, region, cloud_id, inputs, attributes, deps) = row?;
            out.push(RecordedResource {
                address: Address::new(address),
                type_name,
                region,
                cloud_id,
                inputs: serde_json::from_str(&inputs)?,
                attributes: serde_json::from_str(&attributes)?,
                dependencies: serde_json::from_str(&deps)?,
            });
        }
        Ok(out)
    }

    pub fn resource(
        &self,
        stack: &StackRecord,
        address: &Address,
    ) -> Result<Option<RecordedResource>> {
        Ok(self
            .resources(stack)?
            .into_iter()
            .find(|r| &r.address == address))
    }

    pub fn begin_run(&mut self, stack: &StackRecord, kind: &str) -> Result<i64> {
        let (user, host, pid) = who();
        self.conn.execute(
            "INSERT INTO runs(stack_id, kind, user, host, pid) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![stack.id, kind, user, host, pid],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&mut self, run_id: i64, outcome: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET outcome = ?2, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
            params![run_id, outcome],
        )?;
        Ok(())
    }

    /// Commits the intent to operate on a resource, before the call to AWS is made.
    #[allow(clippy::too_many_arguments)] // one column each; a struct would only rename them
    pub fn journal_intent(
        &mut self,
        stack: &StackRecord,
        run_id: i64,
        address: &Address,
        type_name: &str,
        region: &str,
        operation: &str,
        client_token: &str,
    ) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO journal(run_id, stack_id, address, type, region, operation, client_token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![run_id, stack.id, address.as_str(), type_name, region, operation, client_token],
        )?;
        let id = self.conn.last_insert_rowid();
        self.after_commit(stack)?;
        Ok(id)
    }

    /// Records an operation's outcome; with `record`, writes the resource in the same
    /// transaction, so state and journal never disagree.
    #[allow(clippy::too_many_arguments)] // one column each; a struct would only rename them
    pub fn journal_outcome(
        &mut self,
        stack: &StackRecord,
        run_id: i64,
        journal_id: i64,
        outcome: &str,
        cloud_id: Option<&str>,
        error: Option<&str>,
        change: RecordChange<'_>,
    ) -> Result<()> {
        self.journal_outcome_measured(
            stack, run_id, journal_id, outcome, cloud_id, error, None, change,
        )
    }

    /// [`Self::journal_outcome`], with the number of API calls the operation made.
    #[allow(clippy::too_many_arguments)]
    pub fn journal_outcome_measured(
        &mut self,
        stack: &StackRecord,
        run_id: i64,
        journal_id: i64,
        outcome: &str,
        cloud_id: Option<&str>,
        error: Option<&str>,
        api_calls: Option<u64>,
        change: RecordChange<'_>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE journal SET outcome = ?2, cloud_id = coalesce(?3, cloud_id), error = ?4, api_calls = coalesce(?5, api_calls), finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
            params![journal_id, outcome, cloud_id, error, api_calls.map(|n| n as i64)],
        )?;
        apply_change(&tx, stack, run_id, change)?;
        tx.commit()?;
        self.after_commit(stack)?;
        Ok(())
    }

    /// Writes or removes a resource record outside an operation (import, `state rm`, adoption).
    pub fn record(
        &mut self,
        stack: &StackRecord,
        run_id: Option<i64>,
        change: RecordChange<'_>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        apply_change(&tx, stack, run_id.unwrap_or(0), change)?;
        tx.commit()?;
        self.after_commit(stack)?;
        Ok(())
    }

    /// Operations begun but never finished, oldest first.
    pub fn open_intents(&self, stack: &StackRecord) -> Result<Vec<OpenIntent>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, address, type, region, operation, client_token FROM journal WHERE stack_id = ?1 AND outcome IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map(params![stack.id], |r| {
            Ok(OpenIntent {
                journal_id: r.get(0)?,
                address: Address::new(r.get::<_, String>(1)?),
                type_name: r.get(2)?,
                region: r.get(3)?,
                operation: r.get(4)?,
                client_token: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The stack's runs, newest first.
    pub fn runs(&self, stack: &StackRecord) -> Result<Vec<RunInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.kind, r.started_at, r.finished_at, r.outcome, r.user, r.host, r.pid,
                    (SELECT count(*) FROM resource_versions v WHERE v.run_id = r.id)
             FROM runs r WHERE r.stack_id = ?1 ORDER BY r.id DESC",
        )?;
        let rows = stmt.query_map(params![stack.id], |r| {
            Ok(RunInfo {
                id: r.get(0)?,
                kind: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
                outcome: r.get(4)?,
                user: r.get(5)?,
                host: r.get(6)?,
                pid: r.get(7)?,
                records_written: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The stack's resources as they stood when run `run_id` ended.
    pub fn resources_at(&self, stack: &StackRecord, run_id: i64) -> Result<Vec<RecordedResource>> {
        let mut stmt = self.conn.prepare(
            "SELECT v.record FROM resource_versions v
             WHERE v.stack_id = ?1
               AND v.id = (SELECT max(w.id) FROM resource_versions w
                           WHERE w.stack_id = v.stack_id AND w.address = v.address
                             AND w.id <= (SELECT coalesce(max(x.id), 0) FROM resource_versions x
                                          WHERE x.stack_id = ?1 AND x.run_id <= ?2))
               AND v.record IS NOT NULL
             ORDER BY v.address",
        )?;
        let rows = stmt.query_map(params![stack.id, run_id], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// Replaces every record of the stack with `resources` in one transaction, each change
    /// kept as a version of run `run_id` (a rollback, a `state push`).
    pub fn replace_all(
        &mut self,
        stack: &StackRecord,
        run_id: Option<i64>,
        resources: &[RecordedResource],
    ) -> Result<()> {
        let current = self.resources(stack)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let run = run_id.unwrap_or(0);
        for r in &current {
            if !resources.iter().any(|n| n.address == r.address) {
                apply_change(&tx, stack, run, RecordChange::Remove(&r.address))?;
            }
        }
        for r in resources {
            if current.iter().any(|c| c == r) {
                continue;
            }
            apply_change(&tx, stack, run, RecordChange::Put(r))?;
        }
        tx.commit()?;
        self.after_commit(stack)?;
        Ok(())
    }

    /// Renames a record (`state mv`), keeping its history under both addresses.
    pub fn rename(&mut self, stack: &StackRecord, from: &Address, to: &Address) -> Result<()> {
        let Some(mut r) = self.resource(stack, from)? else {
            return Err(StateError::NotFound(from.to_string()));
        };
        if self.resource(stack, to)?.is_some() {
            return Err(StateError::Exists(to.to_string()));
        }
        r.address = to.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        apply_change(&tx, stack, 0, RecordChange::Remove(from))?;
        apply_change(&tx, stack, 0, RecordChange::Put(&r))?;
        tx.commit()?;
        self.after_commit(stack)?;
        Ok(())
    }

    /// The stack's state as a portable document (`state pull`).
    pub fn export(&self, stack: &StackRecord) -> Result<StateDocument> {
        Ok(StateDocument {
            format: STATE_FORMAT.to_string(),
            stack: stack.name.clone(),
            serial: self.serial(stack)?,
            secret_salt: stack.secret_salt.clone(),
            resources: self.resources(stack)?,
            open_intents: self.open_intents(stack)?,
        })
    }

    /// Loads a document into a stack that has no resources yet (`state push`); with
    /// `force`, replaces whatever the stack holds.
    pub fn import_document(&mut self, doc: &StateDocument, force: bool) -> Result<StackRecord> {
        if doc.format != STATE_FORMAT {
            return Err(StateError::Format(doc.format.clone()));
        }
        let stack = self.stack(&doc.stack)?;
        if !force && !self.resources(&stack)?.is_empty() {
            return Err(StateError::Exists(format!(
                "stack `{}` already has resources in this store",
                doc.stack
            )));
        }
        // The digests of secrets were made with the document's salt: keep it.
        self.conn.execute(
            "UPDATE stacks SET secret_salt = ?2 WHERE id = ?1",
            params![stack.id, doc.secret_salt],
        )?;
        let stack = self.stack(&doc.stack)?;
        let hook = self.on_commit.take();
        let result = (|| {
            self.replace_all(&stack, None, &doc.resources)?;
            if !doc.open_intents.is_empty() {
                // Operations interrupted elsewhere travel with the state, so any machine
                // can recover them.
                let run = self.begin_run(&stack, "push")?;
                for i in &doc.open_intents {
                    self.journal_intent(
                        &stack,
                        run,
                        &i.address,
                        &i.type_name,
                        &i.region,
                        &i.operation,
                        &i.client_token,
                    )?;
                }
            }
            self.set_serial(&stack, doc.serial)
        })();
        self.on_commit = hook;
        result?;
        let stack = self.stack(&doc.stack)?;
        self.after_commit(&stack)?;
        Ok(stack)
    }

    /// Records run `run_id`'s findings: a finding already open is carried on, a new one
    /// opened, and an open one no longer found is resolved (by an apply if one succeeded
    /// since it was last seen, otherwise because someone reverted it).
    pub fn record_drift(
        &mut self,
        stack: &StackRecord,
        run_id: i64,
        findings: &[FindingRow],
    ) -> Result<DriftChanges> {
        let open = self.drift_history(stack, None, true)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changes = DriftChanges::default();
        let same = |o: &DriftRecord, f: &FindingRow| {
            o.address == f.address
                && o.cloud_id == f.cloud_id
                && o.kind == f.kind
                && o.attribute == f.attribute
        };
        for f in findings {
            let live = f.live.as_ref().map(|v| v.to_string());
            match open.iter().find(|o| same(o, f)) {
                Some(o) => {
                    tx.execute(
                        "UPDATE drift_findings SET last_run_id = ?2, live = ?3, last_seen_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
                        params![o.id, run_id, live],
                    )?;
                    changes.still_present += 1;
                }
                None => {
                    tx.execute(
                        "INSERT INTO drift_findings(stack_id, first_run_id, last_run_id, address, type, region, cloud_id, kind, attribute, recorded, live)
                         VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        params![stack.id, run_id, f.address, f.type_name, f.region, f.cloud_id, f.kind, f.attribute, f.recorded.as_ref().map(|v| v.to_string()), live],
                    )?;
                    changes.new += 1;
                }
            }
        }
        for o in open.iter().filter(|o| !findings.iter().any(|f| same(o, f))) {
            let applied: i64 = tx.query_row(
                "SELECT count(*) FROM runs WHERE stack_id = ?1 AND kind IN ('apply', 'destroy') AND outcome = 'succeeded' AND id > ?2",
                params![stack.id, o.last_run_id],
                |r| r.get(0),
            )?;
            let resolution = if applied > 0 { "applied" } else { "reverted" };
            tx.execute(
                "UPDATE drift_findings SET resolved_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), resolution = ?2 WHERE id = ?1",
                params![o.id, resolution],
            )?;
            let mut done = o.clone();
            done.resolution = Some(resolution.into());
            changes.resolved.push(done);
        }
        tx.commit()?;
        Ok(changes)
    }

    /// Closes the open findings of `address` as `resolution` (e.g. accepted).
    pub fn resolve_drift(
        &mut self,
        stack: &StackRecord,
        address: &str,
        resolution: &str,
    ) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE drift_findings SET resolved_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), resolution = ?3
             WHERE stack_id = ?1 AND address = ?2 AND resolved_at IS NULL",
            params![stack.id, address, resolution],
        )?)
    }

    /// Drift findings, oldest first; of one address, and/or only the open ones.
    pub fn drift_history(
        &self,
        stack: &StackRecord,
        address: Option<&str>,
        open_only: bool,
    ) -> Result<Vec<DriftRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, address, type, region, cloud_id, kind, attribute, recorded, live, first_run_id, last_run_id,
                    first_seen_at, last_seen_at, resolved_at, resolution
             FROM drift_findings
             WHERE stack_id = ?1 AND (?2 IS NULL OR address = ?2) AND (?3 = 0 OR resolved_at IS NULL)
             ORDER BY id",
        )?;
        let json = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
        let rows = stmt.query_map(params![stack.id, address, open_only as i64], |r| {
            Ok(DriftRecord {
                id: r.get(0)?,
                address: r.get(1)?,
                type_name: r.get(2)?,
                region: r.get(3)?,
                cloud_id: r.get(4)?,
                kind: r.get(5)?,
                attribute: r.get(6)?,
                recorded: json(r.get(7)?),
                live: json(r.get(8)?),
                first_run_id: r.get(9)?,
                last_run_id: r.get(10)?,
                first_seen_at: r.get(11)?,
                last_seen_at: r.get(12)?,
                resolved_at: r.get(13)?,
                resolution: r.get(14)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Every journalled operation of the stack, oldest first.
    pub fn journal(&self, stack: &StackRecord) -> Result<Vec<JournalEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, run_id, address, type, region, operation, cloud_id, started_at, finished_at, outcome, error, api_calls
             FROM journal WHERE stack_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![stack.id], |r| {
            Ok(JournalEntry {
                id: r.get(0)?,
                run_id: r.get(1)?,
                address: r.get(2)?,
                type_name: r.get(3)?,
                region: r.get(4)?,
                operation: r.get(5)?,
                cloud_id: r.get(6)?,
                started_at: r.get(7)?,
                finished_at: r.get(8)?,
                outcome: r.get(9)?,
                error: r.get(10)?,
                api_calls: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Takes the stack's write lock, or says who holds it.
    pub fn lock(&mut self, stack: &StackRecord, operation: &str) -> Result<()> {
        let (user, host, pid) = who();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(held) = lock_info(&tx, stack.id)? {
            return Err(StateError::Locked {
                stack: stack.name.clone(),
                held: Box::new(held),
            });
        }
        tx.execute(
            "INSERT INTO locks(stack_id, holder, host, pid, operation) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![stack.id, user, host, pid, operation],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Releases the lock if this process holds it.
    pub fn unlock(&mut self, stack: &StackRecord) -> Result<()> {
        let (_, host, pid) = who();
        self.conn.execute(
            "DELETE FROM locks WHERE stack_id = ?1 AND host = ?2 AND pid = ?3",
            params![stack.id, host, pid],
        )?;
        Ok(())
    }

    /// Removes the lock whoever holds it (`terrane state unlock`), returning what was removed.
    pub fn force_unlock(&mut self, stack: &StackRecord) -> Result<Option<LockInfo>> {
        let held = lock_info(&self.conn, stack.id)?;
        self.conn
            .execute("DELETE FROM locks WHERE stack_id = ?1", params![stack.id])?;
        Ok(held)
    }

    pub fn lock_holder(&self, stack: &StackRecord) -> Result<Option<LockInfo>> {
        lock_info(&self.conn, stack.id)
    }
}

/// A change to one resource record, written with the journal entry that caused it.
pub enum RecordChange<'a> {
    None,
    Put(&'a RecordedResource),
    Remove(&'a Address),
}

fn apply_change(
    tx: &rusqlite::Transaction<'_>,
    stack: &StackRecord,
    run_id: i64,
    change: RecordChange<'_>,
) -> Result<()> {
    let run = (run_id > 0).then_some(run_id);
    match change {
        RecordChange::None => return Ok(()),
        RecordChange::Put(r) => {
            tx.execute(
                "UPDATE stacks SET serial = serial + 1 WHERE id = ?1",
                params![stack.id],
            )?;
            let serial: i64 = tx.query_row(
                "SELECT serial FROM stacks WHERE id = ?1",
                params![stack.id],
                |row| row.get(0),
            )?;
            tx.execute(
                "INSERT INTO resources(stack_id, address, type, region, cloud_id, inputs, attributes, dependencies, serial)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(stack_id, address) DO UPDATE SET type = excluded.type, region = excluded.region,
                   cloud_id = excluded.cloud_id, inputs = excluded.inputs, attributes = excluded.attributes,
                   dependencies = excluded.dependencies, serial = excluded.serial,
                   updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![
                    stack.id,
                    r.address.as_str(),
                    r.type_name,
                    r.region,
                    r.cloud_id,
                    serde_json::to_string(&r.inputs)?,
                    serde_json::to_string(&r.attributes)?,
                    serde_json::to_string(&r.dependencies)?,
                    serial
                ],
            )?;
            tx.execute(
                "INSERT INTO resource_versions(stack_id, run_id, address, serial, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![stack.id, run, r.address.as_str(), serial, serde_json::to_string(r)?],
            )?;
        }
        RecordChange::Remove(address) => {
            tx.execute(
                "UPDATE stacks SET serial = serial + 1 WHERE id = ?1",
                params![stack.id],
            )?;
            let serial: i64 = tx.query_row(
                "SELECT serial FROM stacks WHERE id = ?1",
                params![stack.id],
                |row| row.get(0),
            )?;
            tx.execute(
                "DELETE FROM resources WHERE stack_id = ?1 AND address = ?2",
                params![stack.id, address.as_str()],
            )?;
            tx.execute(
                "INSERT INTO resource_versions(stack_id, run_id, address, serial, record) VALUES (?1, ?2, ?3, ?4, NULL)",
                params![stack.id, run, address.as_str(), serial],
            )?;
        }
    }
    Ok(())
}

fn lock_info(conn: &Connection, stack_id: i64) -> Result<Option<LockInfo>> {
    Ok(conn
        .query_row(
            "SELECT holder, host, pid, operation, acquired_at FROM locks WHERE stack_id = ?1",
            params![stack_id],
            |r| {
                Ok(LockInfo {
                    holder: r.get(0)?,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                    operation: r.get(3)?,
                    since: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// This process: user, host and pid, as locks and runs record them.
pub fn who() -> (String, String, i64) {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into());
    (user, host, std::process::id() as i64)
}

#[cfg(test)]
mod tests;
