-- Nothing changes here: PostgreSQL writes a full Entra listing's pages into
-- entra_users as they come (entra_seen records which users a listing saw) and
-- keeps up with Graph's paging, while SQLite holds a listing apart in
-- entra_listing until it is complete. The migration exists so that both
-- dialects keep the same schema history.
SELECT 1;
