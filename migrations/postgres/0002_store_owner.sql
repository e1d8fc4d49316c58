-- Which idlink database wrote an Identity_Link__c row (Store_Id__c), this
-- database's own id, and the other databases whose rows an admin adopted.
ALTER TABLE remote_links ADD COLUMN store_id TEXT COLLATE "C" NOT NULL DEFAULT '';

CREATE TABLE store_meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

CREATE TABLE adopted_stores (
    store_id TEXT COLLATE "C" PRIMARY KEY,
    actor    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL
);
