-- What an incremental plan needs (internal/reconcile/affected.go): every
-- record found by the keys the planner relates records by, and a journal of
-- the keys of every record that changed since the last plan. Same tables,
-- indexes and journaled columns as migrations/sqlite/0004_plan_journal.sql.

-- Where each run's plan stands in the journal, and the run an incremental
-- plan kept the unaffected identities of (identity.Run.PlanSeq, PlanBase).
ALTER TABLE runs ADD COLUMN plan_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN plan_base BIGINT NOT NULL DEFAULT 0;

-- The identities an incremental run planned itself: its assessments are
-- its plan base's for every other identity (store.MergeAssessments).
CREATE TABLE run_replaced (
    run_id BIGINT NOT NULL REFERENCES runs (id),
    kind   TEXT COLLATE "C" NOT NULL, -- 'oid' (an object id) or 'sf' (a Salesforce user id, for assessments without an object id)
    value  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_id, kind, value)
);

-- Case-folded keys, computed by idlink when it writes a row (the database's
-- own lower() does not fold as Go does outside ASCII). NULL until filled:
-- idlink fills the rows of an existing database once, after this migration.
ALTER TABLE entra_users ADD COLUMN upn_key TEXT COLLATE "C";
ALTER TABLE entra_users ADD COLUMN mail_key TEXT COLLATE "C";
ALTER TABLE salesforce_users ADD COLUMN username_key TEXT COLLATE "C";
ALTER TABLE salesforce_users ADD COLUMN email_key TEXT COLLATE "C";
ALTER TABLE salesforce_users ADD COLUMN fed_key TEXT COLLATE "C"; -- the FederationIdentifier as a canonical object id, '' when it is none

-- Object ids are kept canonical (lower case, no braces), as idlink now
-- writes them, so that lookups by object id find every spelling.
UPDATE remote_links SET object_id = lower(btrim(btrim(object_id), '{}')) WHERE object_id <> lower(btrim(btrim(object_id), '{}'));
UPDATE observations SET object_id = lower(btrim(btrim(object_id), '{}')) WHERE object_id <> lower(btrim(btrim(object_id), '{}'));
UPDATE decisions SET object_id = lower(btrim(btrim(object_id), '{}')) WHERE object_id <> lower(btrim(btrim(object_id), '{}'));

-- Which ThirdPartyAccountLink and Identity_Link__c rows each complete read
-- saw, kept apart from the rows themselves so that reading an unchanged row
-- again writes nothing there (no index, no journal); the rows a read did not
-- see are gone from Salesforce. A run's rows go once a later run has marked.
CREATE TABLE account_links_seen (
    run_id BIGINT NOT NULL,
    id     TEXT COLLATE "C" NOT NULL
);
CREATE TABLE remote_links_seen (
    run_id   BIGINT NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    subject  TEXT COLLATE "C" NOT NULL
);

-- The indexes the plan's lookups use (store.Store.Related) are not made
-- here: a backfill drops them and the first incremental plan creates them
-- (store.LookupIndexes), so that a backfill's million inserts do not
-- maintain them row by row.

-- One row: the journal is complete from sequence number valid_from on, or
-- off (NULL) when no plan may rely on it: a backfill turns it off while it
-- rewrites everything and plans in full.
CREATE TABLE journal_state (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    valid_from BIGINT
);
INSERT INTO journal_state (one, valid_from) VALUES (1, NULL);

-- The keys of each version of a record that changed in a way a plan can see
-- (its old and its new version for an update). Raw values: the planner folds
-- them with its configuration (UPN suffix rewrites, computed subjects).
CREATE TABLE plan_journal (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    object_id     TEXT COLLATE "C" NOT NULL DEFAULT '',
    upn           TEXT COLLATE "C" NOT NULL DEFAULT '',
    mail          TEXT COLLATE "C" NOT NULL DEFAULT '',
    salesforce_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    username      TEXT COLLATE "C" NOT NULL DEFAULT '',
    email         TEXT COLLATE "C" NOT NULL DEFAULT '',
    federation_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    provider      TEXT COLLATE "C" NOT NULL DEFAULT '',
    subject       TEXT COLLATE "C" NOT NULL DEFAULT '',
    other_object  TEXT COLLATE "C" NOT NULL DEFAULT ''
);

-- One trigger function per table. Each does nothing while the journal is
-- off; an update is journaled (old and new version, in that order) only when
-- one of the columns the planner reads changed.

-- Entra users: every stored column but the keys is one the planner reads.
CREATE FUNCTION entra_users_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT valid_from FROM journal_state) IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO plan_journal (object_id, upn, mail) VALUES (NEW.oid, NEW.upn, NEW.mail);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO plan_journal (object_id, upn, mail) VALUES (OLD.oid, OLD.upn, OLD.mail);
    ELSIF (OLD.oid, OLD.tenant_id, OLD.upn, OLD.mail, OLD.account_enabled, OLD.deleted, OLD.in_scope, OLD.user_type)
        IS DISTINCT FROM (NEW.oid, NEW.tenant_id, NEW.upn, NEW.mail, NEW.account_enabled, NEW.deleted, NEW.in_scope, NEW.user_type) THEN
        INSERT INTO plan_journal (object_id, upn, mail) VALUES (OLD.oid, OLD.upn, OLD.mail), (NEW.oid, NEW.upn, NEW.mail);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER entra_users_journal AFTER INSERT OR UPDATE OR DELETE ON entra_users
    FOR EACH ROW EXECUTE FUNCTION entra_users_journal();

-- Salesforce users: last_seen_run and SystemModstamp change on every read or
-- any edit; the planner reads neither.
CREATE FUNCTION salesforce_users_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT valid_from FROM journal_state) IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO plan_journal (salesforce_id, username, email, federation_id)
        VALUES (NEW.id, NEW.username, NEW.email, NEW.federation_identifier);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO plan_journal (salesforce_id, username, email, federation_id)
        VALUES (OLD.id, OLD.username, OLD.email, OLD.federation_identifier);
    ELSIF (OLD.id, OLD.username, OLD.federation_identifier, OLD.email, OLD.is_active, OLD.user_type, OLD.created_date)
        IS DISTINCT FROM (NEW.id, NEW.username, NEW.federation_identifier, NEW.email, NEW.is_active, NEW.user_type, NEW.created_date) THEN
        INSERT INTO plan_journal (salesforce_id, username, email, federation_id)
        VALUES (OLD.id, OLD.username, OLD.email, OLD.federation_identifier), (NEW.id, NEW.username, NEW.email, NEW.federation_identifier);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER salesforce_users_journal AFTER INSERT OR UPDATE OR DELETE ON salesforce_users
    FOR EACH ROW EXECUTE FUNCTION salesforce_users_journal();

-- ThirdPartyAccountLink rows.
CREATE FUNCTION account_links_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT valid_from FROM journal_state) IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO plan_journal (provider, subject, salesforce_id) VALUES (NEW.provider, NEW.remote_identifier, NEW.user_id);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO plan_journal (provider, subject, salesforce_id) VALUES (OLD.provider, OLD.remote_identifier, OLD.user_id);
    ELSIF (OLD.provider, OLD.remote_identifier, OLD.user_id) IS DISTINCT FROM (NEW.provider, NEW.remote_identifier, NEW.user_id) THEN
        INSERT INTO plan_journal (provider, subject, salesforce_id)
        VALUES (OLD.provider, OLD.remote_identifier, OLD.user_id), (NEW.provider, NEW.remote_identifier, NEW.user_id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER account_links_journal AFTER INSERT OR UPDATE OR DELETE ON account_links
    FOR EACH ROW EXECUTE FUNCTION account_links_journal();

-- Identity_Link__c rows (last_seen_run changes on every complete read).
CREATE FUNCTION remote_links_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT valid_from FROM journal_state) IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO plan_journal (provider, subject, salesforce_id, object_id)
        VALUES (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO plan_journal (provider, subject, salesforce_id, object_id)
        VALUES (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id);
    ELSIF (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id, OLD.tenant_id, OLD.rule, OLD.status, OLD.store_id)
        IS DISTINCT FROM (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id, NEW.tenant_id, NEW.rule, NEW.status, NEW.store_id) THEN
        INSERT INTO plan_journal (provider, subject, salesforce_id, object_id)
        VALUES (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id), (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER remote_links_journal AFTER INSERT OR UPDATE OR DELETE ON remote_links
    FOR EACH ROW EXECUTE FUNCTION remote_links_journal();

-- idlink's links.
CREATE FUNCTION links_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT valid_from FROM journal_state) IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO plan_journal (provider, subject, salesforce_id, object_id)
        VALUES (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO plan_journal (provider, subject, salesforce_id, object_id)
        VALUES (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id);
    ELSIF (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id, OLD.tenant_id, OLD.rule, OLD.status)
        IS DISTINCT FROM (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id, NEW.tenant_id, NEW.rule, NEW.status) THEN
        INSERT INTO plan_journal (provider, subject, salesforce_id, object_id)
        VALUES (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id), (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER links_journal AFTER INSERT OR UPDATE OR DELETE ON links
    FOR EACH ROW EXECUTE FUNCTION links_journal();

-- Observations (a repeated sign-in only moves last_seen and count).
CREATE FUNCTION observations_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT valid_from FROM journal_state) IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO plan_journal (provider, subject, object_id) VALUES (NEW.provider, NEW.subject, NEW.object_id);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO plan_journal (provider, subject, object_id) VALUES (OLD.provider, OLD.subject, OLD.object_id);
    ELSIF (OLD.provider, OLD.subject, OLD.object_id) IS DISTINCT FROM (NEW.provider, NEW.subject, NEW.object_id) THEN
        INSERT INTO plan_journal (provider, subject, object_id)
        VALUES (OLD.provider, OLD.subject, OLD.object_id), (NEW.provider, NEW.subject, NEW.object_id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER observations_journal AFTER INSERT OR UPDATE OR DELETE ON observations
    FOR EACH ROW EXECUTE FUNCTION observations_journal();

-- Observation conflicts (a repeat moves source and seen_at, which the
-- assessment's detail names): every update is journaled.
CREATE FUNCTION observation_conflicts_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT valid_from FROM journal_state) IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO plan_journal (provider, subject, object_id, other_object)
        VALUES (NEW.provider, NEW.subject, NEW.object_id, NEW.other_object_id);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO plan_journal (provider, subject, object_id, other_object)
        VALUES (OLD.provider, OLD.subject, OLD.object_id, OLD.other_object_id);
    ELSE
        INSERT INTO plan_journal (provider, subject, object_id, other_object)
        VALUES (OLD.provider, OLD.subject, OLD.object_id, OLD.other_object_id), (NEW.provider, NEW.subject, NEW.object_id, NEW.other_object_id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER observation_conflicts_journal AFTER INSERT OR UPDATE OR DELETE ON observation_conflicts
    FOR EACH ROW EXECUTE FUNCTION observation_conflicts_journal();

-- Admins' decisions are only ever added.
CREATE FUNCTION decisions_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT valid_from FROM journal_state) IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO plan_journal (provider, subject, salesforce_id, object_id)
    VALUES (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER decisions_journal AFTER INSERT ON decisions
    FOR EACH ROW EXECUTE FUNCTION decisions_journal();
