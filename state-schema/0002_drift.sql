-- terrane state, schema version 2: drift findings kept as history.

-- One row per drift found: when it was first seen, by which run, and when and how it ended.
CREATE TABLE drift_findings (
    id            INTEGER PRIMARY KEY,
    stack_id      INTEGER NOT NULL REFERENCES stacks(id),
    first_run_id  INTEGER NOT NULL REFERENCES runs(id),
    last_run_id   INTEGER NOT NULL REFERENCES runs(id),
    address       TEXT NOT NULL,      -- for unmanaged resources: the address their tags claim, or ''
    type          TEXT NOT NULL,
    region        TEXT NOT NULL,
    cloud_id      TEXT NOT NULL,
    kind          TEXT NOT NULL,      -- modified | deleted | unmanaged
    attribute     TEXT,               -- for modified: the attribute
    recorded      TEXT,               -- JSON: the value last applied (sensitive ones masked)
    live          TEXT,               -- JSON: the value found
    first_seen_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_seen_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    resolved_at   TEXT,
    resolution    TEXT                -- applied | reverted | accepted
);
CREATE INDEX drift_findings_open ON drift_findings(stack_id, address) WHERE resolved_at IS NULL;
