-- The case-folded keys move out of the user rows into tables of their own,
-- which only exist filled while the lookup indexes do (journal_state.lookups):
-- a backfill writes no keys, the first incremental plan after it computes
-- them all at once (store.Store.PrepareRelated). Kept in the user rows they
-- widened every row a backfill wrote.
ALTER TABLE entra_users DROP COLUMN upn_key;
ALTER TABLE entra_users DROP COLUMN mail_key;
ALTER TABLE salesforce_users DROP COLUMN username_key;
ALTER TABLE salesforce_users DROP COLUMN email_key;
ALTER TABLE salesforce_users DROP COLUMN fed_key;

-- Keys computed by idlink (identity.FoldKey: the database's lower() does not
-- fold as Go does outside ASCII).
CREATE TABLE entra_user_keys (
    oid      TEXT COLLATE "C" PRIMARY KEY,
    upn_key  TEXT COLLATE "C" NOT NULL,
    mail_key TEXT COLLATE "C" NOT NULL
);
CREATE TABLE salesforce_user_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    username_key TEXT COLLATE "C" NOT NULL,
    email_key    TEXT COLLATE "C" NOT NULL,
    fed_key      TEXT COLLATE "C" NOT NULL -- the FederationIdentifier as a canonical object id, '' when it is none
);

-- true while the key tables hold the keys of every user and the lookup
-- indexes exist; false after a backfill (StopJournal) until the next
-- PrepareRelated.
ALTER TABLE journal_state ADD COLUMN lookups BOOLEAN NOT NULL DEFAULT false;

-- idlink never deletes users, but a row deleted by hand takes its keys along.
CREATE FUNCTION user_keys_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'entra_users' THEN
        DELETE FROM entra_user_keys WHERE oid = OLD.oid;
    ELSE
        DELETE FROM salesforce_user_keys WHERE id = OLD.id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER entra_users_keys_delete AFTER DELETE ON entra_users FOR EACH ROW EXECUTE FUNCTION user_keys_delete();
CREATE TRIGGER salesforce_users_keys_delete AFTER DELETE ON salesforce_users FOR EACH ROW EXECUTE FUNCTION user_keys_delete();
