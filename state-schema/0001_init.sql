-- terrane state, schema version 1.
-- Applied by terrane-state when a store is opened; see README.md in this directory.

CREATE TABLE stacks (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    -- Salt for the digests that stand in for sensitive values.
    secret_salt TEXT NOT NULL,
    -- Increases with every change to the stack's resources; a saved plan records it.
    serial      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE resources (
    stack_id     INTEGER NOT NULL REFERENCES stacks(id),
    address      TEXT NOT NULL,
    type         TEXT NOT NULL,
    region       TEXT NOT NULL,
    cloud_id     TEXT NOT NULL,
    -- JSON object: inputs as last applied; sensitive values only as salted digests.
    inputs       TEXT NOT NULL,
    -- JSON object: attributes observed right after the last apply.
    attributes   TEXT NOT NULL,
    -- JSON array of addresses this resource depended on when applied.
    dependencies TEXT NOT NULL,
    serial       INTEGER NOT NULL,
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (stack_id, address)
);

-- One row per plan, apply, destroy or drift run.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    stack_id    INTEGER NOT NULL REFERENCES stacks(id),
    kind        TEXT NOT NULL,
    started_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    -- NULL while running (or if the process died), then 'succeeded' or 'failed: ...'.
    outcome     TEXT,
    user        TEXT,
    host        TEXT,
    pid         INTEGER
);

-- Every operation against AWS: the intent is committed before the call, the outcome after.
-- An intent with no outcome is what a crash leaves; the next run resolves it.
CREATE TABLE journal (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    stack_id     INTEGER NOT NULL REFERENCES stacks(id),
    address      TEXT NOT NULL,
    type         TEXT NOT NULL,
    region       TEXT NOT NULL,
    operation    TEXT NOT NULL,   -- create | update | delete
    client_token TEXT NOT NULL,
    cloud_id     TEXT,
    started_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at  TEXT,
    outcome      TEXT,            -- NULL (in flight or interrupted), 'succeeded', 'failed', 'adopted', 'abandoned'
    error        TEXT
);
CREATE INDEX journal_open ON journal(stack_id) WHERE outcome IS NULL;

-- Every version of every resource record, so history can be shown and state rolled back.
CREATE TABLE resource_versions (
    id        INTEGER PRIMARY KEY,
    stack_id  INTEGER NOT NULL REFERENCES stacks(id),
    run_id    INTEGER REFERENCES runs(id),
    address   TEXT NOT NULL,
    serial    INTEGER NOT NULL,
    -- JSON of the record as written, or NULL when the resource left state.
    record    TEXT,
    at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX resource_versions_by_address ON resource_versions(stack_id, address, serial);

-- One writer per stack.
CREATE TABLE locks (
    stack_id    INTEGER PRIMARY KEY REFERENCES stacks(id),
    holder      TEXT NOT NULL,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    operation   TEXT NOT NULL,
    acquired_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
