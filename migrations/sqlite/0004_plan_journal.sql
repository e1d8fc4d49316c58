-- What an incremental plan needs (internal/reconcile/affected.go): every
-- record found by the keys the planner relates records by, and a journal of
-- the keys of every record that changed since the last plan.

-- Where each run's plan stands in the journal, and the run an incremental
-- plan kept the unaffected identities of (identity.Run.PlanSeq, PlanBase).
ALTER TABLE runs ADD COLUMN plan_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN plan_base INTEGER NOT NULL DEFAULT 0;

-- The identities an incremental run planned itself: its assessments are
-- its plan base's for every other identity (store.MergeAssessments).
CREATE TABLE run_replaced (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    kind   TEXT NOT NULL, -- 'oid' (an object id) or 'sf' (a Salesforce user id, for assessments without an object id)
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, value)
) WITHOUT ROWID;

-- Case-folded keys, computed by idlink when it writes a row (the database's
-- own lower() does not fold as Go does outside ASCII). NULL until filled:
-- idlink fills the rows of an existing database once, after this migration.
ALTER TABLE entra_users ADD COLUMN upn_key TEXT;
ALTER TABLE entra_users ADD COLUMN mail_key TEXT;
ALTER TABLE salesforce_users ADD COLUMN username_key TEXT;
ALTER TABLE salesforce_users ADD COLUMN email_key TEXT;
ALTER TABLE salesforce_users ADD COLUMN fed_key TEXT; -- the FederationIdentifier as a canonical object id, '' when it is none

-- Object ids are kept canonical (lower case, no braces), as idlink now
-- writes them, so that lookups by object id find every spelling.
UPDATE remote_links SET object_id = lower(trim(trim(object_id), '{}')) WHERE object_id <> lower(trim(trim(object_id), '{}'));
UPDATE observations SET object_id = lower(trim(trim(object_id), '{}')) WHERE object_id <> lower(trim(trim(object_id), '{}'));
UPDATE decisions SET object_id = lower(trim(trim(object_id), '{}')) WHERE object_id <> lower(trim(trim(object_id), '{}'));

-- Which ThirdPartyAccountLink and Identity_Link__c rows each complete read
-- saw, kept apart from the rows themselves so that reading an unchanged row
-- again writes nothing there (no index, no journal); the rows a read did not
-- see are gone from Salesforce. A run's rows go once a later run has marked.
CREATE TABLE account_links_seen (
    run_id INTEGER NOT NULL,
    id     TEXT NOT NULL
);
CREATE TABLE remote_links_seen (
    run_id   INTEGER NOT NULL,
    provider TEXT NOT NULL,
    subject  TEXT NOT NULL
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
    valid_from INTEGER
);
INSERT INTO journal_state (one, valid_from) VALUES (1, NULL);

-- The keys of each version of a record that changed in a way a plan can see
-- (its old and its new version for an update). Raw values: the planner folds
-- them with its configuration (UPN suffix rewrites, computed subjects).
CREATE TABLE plan_journal (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id     TEXT NOT NULL DEFAULT '',
    upn           TEXT NOT NULL DEFAULT '',
    mail          TEXT NOT NULL DEFAULT '',
    salesforce_id TEXT NOT NULL DEFAULT '',
    username      TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    federation_id TEXT NOT NULL DEFAULT '',
    provider      TEXT NOT NULL DEFAULT '',
    subject       TEXT NOT NULL DEFAULT '',
    other_object  TEXT NOT NULL DEFAULT ''
);

-- Entra users: every stored column but the keys is one the planner reads.
CREATE TRIGGER entra_users_journal_insert AFTER INSERT ON entra_users
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (object_id, upn, mail) VALUES (NEW.oid, NEW.upn, NEW.mail);
END;
CREATE TRIGGER entra_users_journal_update AFTER UPDATE ON entra_users
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
 AND (OLD.oid, OLD.tenant_id, OLD.upn, OLD.mail, OLD.account_enabled, OLD.deleted, OLD.in_scope, OLD.user_type)
     IS NOT (NEW.oid, NEW.tenant_id, NEW.upn, NEW.mail, NEW.account_enabled, NEW.deleted, NEW.in_scope, NEW.user_type)
BEGIN
    INSERT INTO plan_journal (object_id, upn, mail) VALUES (OLD.oid, OLD.upn, OLD.mail), (NEW.oid, NEW.upn, NEW.mail);
END;
CREATE TRIGGER entra_users_journal_delete AFTER DELETE ON entra_users
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (object_id, upn, mail) VALUES (OLD.oid, OLD.upn, OLD.mail);
END;

-- Salesforce users: last_seen_run and SystemModstamp change on every read or
-- any edit; the planner reads neither.
CREATE TRIGGER salesforce_users_journal_insert AFTER INSERT ON salesforce_users
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (salesforce_id, username, email, federation_id)
    VALUES (NEW.id, NEW.username, NEW.email, NEW.federation_identifier);
END;
CREATE TRIGGER salesforce_users_journal_update AFTER UPDATE ON salesforce_users
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
 AND (OLD.id, OLD.username, OLD.federation_identifier, OLD.email, OLD.is_active, OLD.user_type, OLD.created_date)
     IS NOT (NEW.id, NEW.username, NEW.federation_identifier, NEW.email, NEW.is_active, NEW.user_type, NEW.created_date)
BEGIN
    INSERT INTO plan_journal (salesforce_id, username, email, federation_id)
    VALUES (OLD.id, OLD.username, OLD.email, OLD.federation_identifier), (NEW.id, NEW.username, NEW.email, NEW.federation_identifier);
END;
CREATE TRIGGER salesforce_users_journal_delete AFTER DELETE ON salesforce_users
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (salesforce_id, username, email, federation_id)
    VALUES (OLD.id, OLD.username, OLD.email, OLD.federation_identifier);
END;

-- ThirdPartyAccountLink rows.
CREATE TRIGGER account_links_journal_insert AFTER INSERT ON account_links
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id) VALUES (NEW.provider, NEW.remote_identifier, NEW.user_id);
END;
CREATE TRIGGER account_links_journal_update AFTER UPDATE ON account_links
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
 AND (OLD.provider, OLD.remote_identifier, OLD.user_id) IS NOT (NEW.provider, NEW.remote_identifier, NEW.user_id)
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id)
    VALUES (OLD.provider, OLD.remote_identifier, OLD.user_id), (NEW.provider, NEW.remote_identifier, NEW.user_id);
END;
CREATE TRIGGER account_links_journal_delete AFTER DELETE ON account_links
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id) VALUES (OLD.provider, OLD.remote_identifier, OLD.user_id);
END;

-- Identity_Link__c rows (last_seen_run changes on every complete read).
CREATE TRIGGER remote_links_journal_insert AFTER INSERT ON remote_links
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id, object_id) VALUES (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
END;
CREATE TRIGGER remote_links_journal_update AFTER UPDATE ON remote_links
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
 AND (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id, OLD.tenant_id, OLD.rule, OLD.status, OLD.store_id)
     IS NOT (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id, NEW.tenant_id, NEW.rule, NEW.status, NEW.store_id)
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id, object_id)
    VALUES (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id), (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
END;
CREATE TRIGGER remote_links_journal_delete AFTER DELETE ON remote_links
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id, object_id) VALUES (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id);
END;

-- idlink's links.
CREATE TRIGGER links_journal_insert AFTER INSERT ON links
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id, object_id) VALUES (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
END;
CREATE TRIGGER links_journal_update AFTER UPDATE ON links
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
 AND (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id, OLD.tenant_id, OLD.rule, OLD.status)
     IS NOT (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id, NEW.tenant_id, NEW.rule, NEW.status)
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id, object_id)
    VALUES (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id), (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
END;
CREATE TRIGGER links_journal_delete AFTER DELETE ON links
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id, object_id) VALUES (OLD.provider, OLD.subject, OLD.salesforce_user_id, OLD.object_id);
END;

-- Observations (a repeated sign-in only moves last_seen and count).
CREATE TRIGGER observations_journal_insert AFTER INSERT ON observations
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, object_id) VALUES (NEW.provider, NEW.subject, NEW.object_id);
END;
CREATE TRIGGER observations_journal_update AFTER UPDATE ON observations
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
 AND (OLD.provider, OLD.subject, OLD.object_id) IS NOT (NEW.provider, NEW.subject, NEW.object_id)
BEGIN
    INSERT INTO plan_journal (provider, subject, object_id)
    VALUES (OLD.provider, OLD.subject, OLD.object_id), (NEW.provider, NEW.subject, NEW.object_id);
END;
CREATE TRIGGER observations_journal_delete AFTER DELETE ON observations
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, object_id) VALUES (OLD.provider, OLD.subject, OLD.object_id);
END;

-- Observation conflicts (a repeat moves source and seen_at, which the
-- assessment's detail names).
CREATE TRIGGER observation_conflicts_journal_insert AFTER INSERT ON observation_conflicts
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, object_id, other_object) VALUES (NEW.provider, NEW.subject, NEW.object_id, NEW.other_object_id);
END;
CREATE TRIGGER observation_conflicts_journal_update AFTER UPDATE ON observation_conflicts
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, object_id, other_object)
    VALUES (OLD.provider, OLD.subject, OLD.object_id, OLD.other_object_id), (NEW.provider, NEW.subject, NEW.object_id, NEW.other_object_id);
END;
CREATE TRIGGER observation_conflicts_journal_delete AFTER DELETE ON observation_conflicts
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, object_id, other_object) VALUES (OLD.provider, OLD.subject, OLD.object_id, OLD.other_object_id);
END;

-- Admins' decisions are only ever added.
CREATE TRIGGER decisions_journal_insert AFTER INSERT ON decisions
WHEN (SELECT valid_from FROM journal_state) IS NOT NULL
BEGIN
    INSERT INTO plan_journal (provider, subject, salesforce_id, object_id) VALUES (NEW.provider, NEW.subject, NEW.salesforce_user_id, NEW.object_id);
END;
