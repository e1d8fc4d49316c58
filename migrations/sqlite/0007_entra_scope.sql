-- The app-assignment scope last recorded in entra_users.in_scope, in 256
-- chunks by the object ids' first byte, each the packed ids one after the
-- other (identity.AppendObjectIDs): the next scope read that differs sets
-- only the users that changed and rewrites only the chunks that hold them
-- (store.Store.ChangeEntraScope), instead of checking every stored user.
CREATE TABLE entra_scope (
    chunk INTEGER PRIMARY KEY CHECK (chunk BETWEEN 0 AND 255),
    oids  BLOB NOT NULL
);
