-- Which idlink database wrote an Identity_Link__c row (Store_Id__c), this
-- database's own id, and the other databases whose rows an admin adopted.
ALTER TABLE remote_links ADD COLUMN store_id TEXT NOT NULL DEFAULT '';

CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE adopted_stores (
    store_id TEXT PRIMARY KEY,
    actor    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       TEXT NOT NULL
) WITHOUT ROWID;
