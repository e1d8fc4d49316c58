-- idlink schema, version 1 (SQLite).
-- Timestamps are UTC text in the fixed-width form 2006-01-02T15:04:05.000000Z so
-- that they sort and compare as strings. Booleans are 0/1.

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    holder      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    counts      TEXT NOT NULL DEFAULT '{}', -- JSON object name -> count
    note        TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_kind_id ON runs (kind, id);

-- One row per lease name; a holder owns it while expires_at is in the future.
CREATE TABLE lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE cursors (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- Snapshot of Entra users (Graph), keyed by the immutable object id.
CREATE TABLE entra_users (
    oid             TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    upn             TEXT NOT NULL,
    mail            TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    given_name      TEXT NOT NULL,
    surname         TEXT NOT NULL,
    account_enabled INTEGER NOT NULL,
    deleted         TEXT NOT NULL, -- '', 'soft', 'hard'
    in_scope        INTEGER NOT NULL,
    user_type       TEXT NOT NULL
) WITHOUT ROWID;

-- Which users each run wrote, for marking the users a complete listing did not
-- return. Kept apart from entra_users so that re-writing an unchanged user is
-- no write at all there (in PostgreSQL any column change writes a whole new
-- row version). Rows of a run are dropped once a later run has marked.
CREATE TABLE entra_seen (
    run_id INTEGER NOT NULL,
    oid    TEXT NOT NULL
);

-- Snapshot of Salesforce User records.
CREATE TABLE salesforce_users (
    id                    TEXT PRIMARY KEY,
    username              TEXT NOT NULL,
    federation_identifier TEXT NOT NULL,
    email                 TEXT NOT NULL,
    is_active             INTEGER NOT NULL,
    user_type             TEXT NOT NULL,
    created_date          TEXT,
    system_modstamp       TEXT,
    last_seen_run         INTEGER NOT NULL
) WITHOUT ROWID;

-- Snapshot of Salesforce ThirdPartyAccountLink rows.
CREATE TABLE account_links (
    id                TEXT PRIMARY KEY,
    provider          TEXT NOT NULL,
    remote_identifier TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    last_seen_run     INTEGER NOT NULL
) WITHOUT ROWID;

-- Snapshot of Identity_Link__c records in Salesforce.
CREATE TABLE remote_links (
    provider           TEXT NOT NULL,
    subject            TEXT NOT NULL,
    salesforce_user_id TEXT NOT NULL,
    object_id          TEXT NOT NULL,
    tenant_id          TEXT NOT NULL,
    rule               TEXT NOT NULL,
    status             TEXT NOT NULL,
    reason             TEXT NOT NULL,
    updated_at         TEXT,
    last_seen_run      INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
) WITHOUT ROWID;

-- Observed (sub, oid) pairs: one row per subject of a provider.
CREATE TABLE observations (
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    object_id  TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    source     TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
) WITHOUT ROWID;

-- A subject seen with another oid than the one first bound: kept for admins.
CREATE TABLE observation_conflicts (
    provider        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    other_object_id TEXT NOT NULL,
    source          TEXT NOT NULL,
    seen_at         TEXT NOT NULL,
    PRIMARY KEY (provider, subject, other_object_id)
) WITHOUT ROWID;

-- idlink's own link records (current state).
CREATE TABLE links (
    provider           TEXT NOT NULL,
    subject            TEXT NOT NULL,
    salesforce_user_id TEXT NOT NULL,
    object_id          TEXT NOT NULL,
    tenant_id          TEXT NOT NULL,
    rule               TEXT NOT NULL,
    status             TEXT NOT NULL,
    reason             TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (provider, subject)
) WITHOUT ROWID;

-- Every change of a link, append-only.
CREATE TABLE link_history (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id             INTEGER REFERENCES runs (id),
    at                 TEXT NOT NULL,
    action             TEXT NOT NULL,
    provider           TEXT NOT NULL,
    subject            TEXT NOT NULL,
    salesforce_user_id TEXT NOT NULL,
    object_id          TEXT NOT NULL,
    tenant_id          TEXT NOT NULL,
    rule               TEXT NOT NULL,
    status             TEXT NOT NULL,
    reason             TEXT NOT NULL,
    actor              TEXT NOT NULL,
    detail             TEXT NOT NULL
);
CREATE INDEX link_history_key ON link_history (provider, subject, seq);

CREATE TABLE audit_events (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER REFERENCES runs (id),
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    kind   TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

-- Append-only means append-only: the database itself refuses changes.
CREATE TRIGGER link_history_no_update BEFORE UPDATE ON link_history
BEGIN SELECT RAISE(ABORT, 'link_history is append-only'); END;
CREATE TRIGGER link_history_no_delete BEFORE DELETE ON link_history
BEGIN SELECT RAISE(ABORT, 'link_history is append-only'); END;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

-- Admin approvals and rejections of proposed links.
CREATE TABLE decisions (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    provider           TEXT NOT NULL,
    subject            TEXT NOT NULL,
    salesforce_user_id TEXT NOT NULL,
    object_id          TEXT NOT NULL,
    approved           INTEGER NOT NULL,
    actor              TEXT NOT NULL,
    reason             TEXT NOT NULL,
    at                 TEXT NOT NULL
);

CREATE TABLE run_assessments (
    run_id              INTEGER NOT NULL REFERENCES runs (id),
    seq                 INTEGER NOT NULL,
    provider            TEXT NOT NULL,
    situation           TEXT NOT NULL,
    object_id           TEXT NOT NULL,
    upn                 TEXT NOT NULL,
    salesforce_user_id  TEXT NOT NULL,
    salesforce_username TEXT NOT NULL,
    subject             TEXT NOT NULL,
    rule                TEXT NOT NULL,
    detail              TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE run_actions (
    run_id             INTEGER NOT NULL REFERENCES runs (id),
    seq                INTEGER NOT NULL,
    kind               TEXT NOT NULL,
    provider           TEXT NOT NULL,
    subject            TEXT NOT NULL,
    salesforce_user_id TEXT NOT NULL,
    object_id          TEXT NOT NULL,
    tenant_id          TEXT NOT NULL,
    rule               TEXT NOT NULL,
    status             TEXT NOT NULL,
    link_reason        TEXT NOT NULL,
    link_updated_at    TEXT,
    flag               TEXT NOT NULL,
    reason             TEXT NOT NULL,
    state              TEXT NOT NULL,
    error              TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
