-- The case-folded keys move out of the user rows into tables of their own,
-- which only exist filled while the lookup indexes do (journal_state.lookups):
-- a backfill writes no keys, the first incremental plan after it computes
-- them all at once (store.Store.PrepareRelated). Kept in the user rows they
-- widened every row a backfill wrote, and a million-user backfill's SQLite
-- page reads grew with them (1M users in 999-row transactions: 46 s of CPU
-- without the key columns, 57 s with them).
DROP INDEX IF EXISTS entra_users_upn_key;
DROP INDEX IF EXISTS entra_users_mail_key;
DROP INDEX IF EXISTS salesforce_users_username_key;
DROP INDEX IF EXISTS salesforce_users_email_key;
DROP INDEX IF EXISTS salesforce_users_fed_key;
ALTER TABLE entra_users DROP COLUMN upn_key;
ALTER TABLE entra_users DROP COLUMN mail_key;
ALTER TABLE salesforce_users DROP COLUMN username_key;
ALTER TABLE salesforce_users DROP COLUMN email_key;
ALTER TABLE salesforce_users DROP COLUMN fed_key;

-- Keys computed by idlink (identity.FoldKey: the database's lower() does not
-- fold as Go does outside ASCII).
CREATE TABLE entra_user_keys (
    oid      TEXT PRIMARY KEY,
    upn_key  TEXT NOT NULL,
    mail_key TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE salesforce_user_keys (
    id           TEXT PRIMARY KEY,
    username_key TEXT NOT NULL,
    email_key    TEXT NOT NULL,
    fed_key      TEXT NOT NULL -- the FederationIdentifier as a canonical object id, '' when it is none
) WITHOUT ROWID;

-- 1 while the key tables hold the keys of every user and the lookup indexes
-- exist; 0 after a backfill (StopJournal) until the next PrepareRelated.
ALTER TABLE journal_state ADD COLUMN lookups INTEGER NOT NULL DEFAULT 0;

-- idlink never deletes users, but a row deleted by hand takes its keys along.
CREATE TRIGGER entra_users_keys_delete AFTER DELETE ON entra_users
BEGIN
    DELETE FROM entra_user_keys WHERE oid = OLD.oid;
END;
CREATE TRIGGER salesforce_users_keys_delete AFTER DELETE ON salesforce_users
BEGIN
    DELETE FROM salesforce_user_keys WHERE id = OLD.id;
END;
