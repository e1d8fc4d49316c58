-- idlink schema, version 1 (PostgreSQL). Same tables and meaning as
-- migrations/sqlite/0001_init.sql; timestamps are timestamptz (UTC, microseconds).
-- Text columns use the "C" collation so that keys sort byte-wise, as in SQLite,
-- and Scan* methods return the same order on both backends.

CREATE TABLE runs (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT COLLATE "C" NOT NULL,
    status      TEXT COLLATE "C" NOT NULL,
    holder      TEXT COLLATE "C" NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    counts      TEXT COLLATE "C" NOT NULL DEFAULT '{}', -- JSON object name -> count
    note        TEXT COLLATE "C" NOT NULL DEFAULT '',
    error       TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX runs_kind_id ON runs (kind, id);

-- One row per lease name; a holder owns it while expires_at is in the future
-- (judged by the database clock, so replicas on several hosts agree).
CREATE TABLE lease (
    name        TEXT COLLATE "C" PRIMARY KEY,
    holder      TEXT COLLATE "C" NOT NULL,
    token       TEXT COLLATE "C" NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE cursors (
    name       TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT COLLATE "C" NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE entra_users (
    oid             TEXT COLLATE "C" PRIMARY KEY,
    tenant_id       TEXT COLLATE "C" NOT NULL,
    upn             TEXT COLLATE "C" NOT NULL,
    mail            TEXT COLLATE "C" NOT NULL,
    display_name    TEXT COLLATE "C" NOT NULL,
    given_name      TEXT COLLATE "C" NOT NULL,
    surname         TEXT COLLATE "C" NOT NULL,
    account_enabled BOOLEAN NOT NULL,
    deleted         TEXT COLLATE "C" NOT NULL, -- '', 'soft', 'hard'
    in_scope        BOOLEAN NOT NULL,
    user_type       TEXT COLLATE "C" NOT NULL
);

-- Which users each run wrote, for marking the users a complete listing did not
-- return. Kept apart from entra_users so that re-writing an unchanged user is
-- no write at all there (in PostgreSQL any column change writes a whole new
-- row version). Rows of a run are dropped once a later run has marked.
CREATE TABLE entra_seen (
    run_id BIGINT NOT NULL,
    oid    TEXT COLLATE "C" NOT NULL
);

CREATE TABLE salesforce_users (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    username              TEXT COLLATE "C" NOT NULL,
    federation_identifier TEXT COLLATE "C" NOT NULL,
    email                 TEXT COLLATE "C" NOT NULL,
    is_active             BOOLEAN NOT NULL,
    user_type             TEXT COLLATE "C" NOT NULL,
    created_date          TIMESTAMPTZ,
    system_modstamp       TIMESTAMPTZ,
    last_seen_run         BIGINT NOT NULL
);

CREATE TABLE account_links (
    id                TEXT COLLATE "C" PRIMARY KEY,
    provider          TEXT COLLATE "C" NOT NULL,
    remote_identifier TEXT COLLATE "C" NOT NULL,
    user_id           TEXT COLLATE "C" NOT NULL,
    last_seen_run     BIGINT NOT NULL
);

CREATE TABLE remote_links (
    provider           TEXT COLLATE "C" NOT NULL,
    subject            TEXT COLLATE "C" NOT NULL,
    salesforce_user_id TEXT COLLATE "C" NOT NULL,
    object_id          TEXT COLLATE "C" NOT NULL,
    tenant_id          TEXT COLLATE "C" NOT NULL,
    rule               TEXT COLLATE "C" NOT NULL,
    status             TEXT COLLATE "C" NOT NULL,
    reason             TEXT COLLATE "C" NOT NULL,
    updated_at         TIMESTAMPTZ,
    last_seen_run      BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE TABLE observations (
    provider   TEXT COLLATE "C" NOT NULL,
    subject    TEXT COLLATE "C" NOT NULL,
    object_id  TEXT COLLATE "C" NOT NULL,
    tenant_id  TEXT COLLATE "C" NOT NULL,
    client_id  TEXT COLLATE "C" NOT NULL,
    source     TEXT COLLATE "C" NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE TABLE observation_conflicts (
    provider        TEXT COLLATE "C" NOT NULL,
    subject         TEXT COLLATE "C" NOT NULL,
    object_id       TEXT COLLATE "C" NOT NULL,
    other_object_id TEXT COLLATE "C" NOT NULL,
    source          TEXT COLLATE "C" NOT NULL,
    seen_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, subject, other_object_id)
);

CREATE TABLE links (
    provider           TEXT COLLATE "C" NOT NULL,
    subject            TEXT COLLATE "C" NOT NULL,
    salesforce_user_id TEXT COLLATE "C" NOT NULL,
    object_id          TEXT COLLATE "C" NOT NULL,
    tenant_id          TEXT COLLATE "C" NOT NULL,
    rule               TEXT COLLATE "C" NOT NULL,
    status             TEXT COLLATE "C" NOT NULL,
    reason             TEXT COLLATE "C" NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE TABLE link_history (
    seq                BIGSERIAL PRIMARY KEY,
    run_id             BIGINT REFERENCES runs (id),
    at                 TIMESTAMPTZ NOT NULL,
    action             TEXT COLLATE "C" NOT NULL,
    provider           TEXT COLLATE "C" NOT NULL,
    subject            TEXT COLLATE "C" NOT NULL,
    salesforce_user_id TEXT COLLATE "C" NOT NULL,
    object_id          TEXT COLLATE "C" NOT NULL,
    tenant_id          TEXT COLLATE "C" NOT NULL,
    rule               TEXT COLLATE "C" NOT NULL,
    status             TEXT COLLATE "C" NOT NULL,
    reason             TEXT COLLATE "C" NOT NULL,
    actor              TEXT COLLATE "C" NOT NULL,
    detail             TEXT COLLATE "C" NOT NULL
);
CREATE INDEX link_history_key ON link_history (provider, subject, seq);

CREATE TABLE audit_events (
    seq    BIGSERIAL PRIMARY KEY,
    run_id BIGINT REFERENCES runs (id),
    at     TIMESTAMPTZ NOT NULL,
    actor  TEXT COLLATE "C" NOT NULL,
    kind   TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    detail TEXT COLLATE "C" NOT NULL
);

-- Append-only means append-only: the database itself refuses changes.
CREATE FUNCTION idlink_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER link_history_append_only BEFORE UPDATE OR DELETE ON link_history
    FOR EACH ROW EXECUTE FUNCTION idlink_append_only();
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION idlink_append_only();

CREATE TABLE decisions (
    seq                BIGSERIAL PRIMARY KEY,
    provider           TEXT COLLATE "C" NOT NULL,
    subject            TEXT COLLATE "C" NOT NULL,
    salesforce_user_id TEXT COLLATE "C" NOT NULL,
    object_id          TEXT COLLATE "C" NOT NULL,
    approved           BOOLEAN NOT NULL,
    actor              TEXT COLLATE "C" NOT NULL,
    reason             TEXT COLLATE "C" NOT NULL,
    at                 TIMESTAMPTZ NOT NULL
);

CREATE TABLE run_assessments (
    run_id              BIGINT NOT NULL REFERENCES runs (id),
    seq                 INTEGER NOT NULL,
    provider            TEXT COLLATE "C" NOT NULL,
    situation           TEXT COLLATE "C" NOT NULL,
    object_id           TEXT COLLATE "C" NOT NULL,
    upn                 TEXT COLLATE "C" NOT NULL,
    salesforce_user_id  TEXT COLLATE "C" NOT NULL,
    salesforce_username TEXT COLLATE "C" NOT NULL,
    subject             TEXT COLLATE "C" NOT NULL,
    rule                TEXT COLLATE "C" NOT NULL,
    detail              TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE run_actions (
    run_id             BIGINT NOT NULL REFERENCES runs (id),
    seq                INTEGER NOT NULL,
    kind               TEXT COLLATE "C" NOT NULL,
    provider           TEXT COLLATE "C" NOT NULL,
    subject            TEXT COLLATE "C" NOT NULL,
    salesforce_user_id TEXT COLLATE "C" NOT NULL,
    object_id          TEXT COLLATE "C" NOT NULL,
    tenant_id          TEXT COLLATE "C" NOT NULL,
    rule               TEXT COLLATE "C" NOT NULL,
    status             TEXT COLLATE "C" NOT NULL,
    link_reason        TEXT COLLATE "C" NOT NULL,
    link_updated_at    TIMESTAMPTZ,
    flag               TEXT COLLATE "C" NOT NULL,
    reason             TEXT COLLATE "C" NOT NULL,
    state              TEXT COLLATE "C" NOT NULL,
    error              TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_id, seq)
);
