-- A full Entra listing's users as read, until the listing is complete
-- (store.Store.StageEntraUsers, HoldEntraListing, FinishEntraListing). Graph
-- lists users in an order unrelated to their object ids, so writing each page
-- into entra_users dirties one of its leaf pages per user: a million-user
-- listing so took 38.5 s of CPU, against 11.3 s held here. Pages are written
-- as they come (applied, only their object ids kept here) while that keeps up
-- with Graph; once held, the rest of the listing waits here, where a page
-- fills a few new pages, and the finish writes it into entra_users in key
-- order, each leaf page once. The finish marks the users the listing did not
-- hold.
CREATE TABLE entra_listing (
    run_id          INTEGER NOT NULL,
    applied         INTEGER NOT NULL, -- 1: written into entra_users already, the rest NULL
    oid             TEXT NOT NULL,
    tenant_id       TEXT,
    upn             TEXT,
    mail            TEXT,
    display_name    TEXT,
    given_name      TEXT,
    surname         TEXT,
    account_enabled INTEGER,
    deleted         TEXT,
    in_scope        INTEGER,
    user_type       TEXT,
    upn_key         TEXT, -- entra_user_keys' values, written there when the lookups are kept
    mail_key        TEXT
);

-- Which run's listing entra_listing holds and whether it was finished (a
-- finish repeated, its commit's answer lost, then changes nothing instead of
-- marking every user not in an emptied listing), whether entra_users was
-- empty when it began (nothing to mark then), and whether it is held.
CREATE TABLE entra_listing_state (
    one       INTEGER PRIMARY KEY CHECK (one = 1),
    run_id    INTEGER NOT NULL,
    finished  INTEGER NOT NULL,
    was_empty INTEGER NOT NULL,
    held      INTEGER NOT NULL
);

-- The listing itself says which users were seen.
DROP TABLE entra_seen;
