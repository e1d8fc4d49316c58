package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// chunkRows is how many rows one INSERT ... SELECT FROM unnest(...) carries.
// Each column travels as one binary array parameter, so a statement costs
// little per row; chunks bound the memory of one statement.
const chunkRows = 20000

// afterChunk, when set by a test, is called after each statement of a batch
// with the number of rows written so far (the crash test kills the process
// mid-transaction with it).
var afterChunk func(rows int)

// uniqueKeyOrder returns the row indexes of a batch in key order with
// duplicate keys removed, keeping the last occurrence (so a batch behaves as
// if its rows were written one after the other). PostgreSQL refuses an upsert
// statement that touches one row twice; key order also makes index inserts
// nearly sequential.
func uniqueKeyOrder(n int, key func(i int) string) []int32 {
	type keyed struct {
		key string
		i   int32
	}
	ks := make([]keyed, n)
	for i := range ks {
		ks[i] = keyed{key(i), int32(i)}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return int(a.i - b.i)
	})
	idx := make([]int32, 0, n)
	for j, k := range ks {
		if j+1 < len(ks) && ks[j+1].key == k.key {
			continue
		}
		idx = append(idx, k.i)
	}
	return idx
}

// inChunks calls write with consecutive slices of order of at most chunkRows.
func inChunks(order []int32, write func(part []int32) error) error {
	done := 0
	for start := 0; start < len(order); start += chunkRows {
		part := order[start:min(start+chunkRows, len(order))]
		if err := write(part); err != nil {
			return err
		}
		done += len(part)
		if afterChunk != nil {
			afterChunk(done)
		}
	}
	return nil
}

// lockSnapshot serialises the writers of one snapshot table (per schema)
// until the transaction ends: batches from concurrent writers then never race
// to insert the same key. Runs are already exclusive through the lease, so
// this wait is rare and short.
func lockSnapshot(ctx context.Context, tx pgx.Tx, table string) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('idlink.snapshot.' || $1 || '.' || current_schema()))", table)
	return err
}

func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: utc(t), Valid: true}
}

func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// copyThreshold is the batch size from which rows travel by COPY into a
// temporary table and are merged with one INSERT ... SELECT; smaller batches
// (delta pages) use unnest arrays and skip creating the temporary table.
const copyThreshold = 2000

// UpsertEntraUsers writes a batch of Entra users (inserting new ones, updating
// changed ones in place, leaving unchanged ones alone) and the cursor, all in
// one transaction: either the whole batch and the cursor are stored, or
// nothing is.
func (s *Store) UpsertEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser, cursor *identity.Cursor) error {
	if err := store.CheckCursor(cursor); err != nil {
		return fmt.Errorf("postgres: upsert entra users: %w", err)
	}
	order := uniqueKeyOrder(len(users), func(i int) string { return users[i].ObjectID })
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockSnapshot(ctx, tx, "entra_users"); err != nil {
			return err
		}
		var err error
		if len(order) >= copyThreshold {
			err = s.copyEntraUsers(ctx, tx, runID, users, order)
		} else {
			err = s.unnestEntraUsers(ctx, tx, runID, users, order)
		}
		if err != nil {
			return err
		}
		if err := writeEntraKeys(ctx, tx, users, order); err != nil {
			return err
		}
		return setCursor(ctx, tx, cursor)
	})
	if err != nil {
		return fmt.Errorf("postgres: upsert %d entra users: %w", len(users), err)
	}
	return nil
}

// entraChanged is true when a stored user (t) differs from the batch row (b).
const entraChanged = `(t.tenant_id, t.upn, t.mail, t.display_name, t.given_name, t.surname, t.account_enabled, t.deleted, t.in_scope, t.user_type)
	IS DISTINCT FROM (b.tenant_id, b.upn, b.mail, b.display_name, b.given_name, b.surname, b.account_enabled, b.deleted, b.in_scope, b.user_type)`

const entraSet = `tenant_id = b.tenant_id, upn = b.upn, mail = b.mail, display_name = b.display_name, given_name = b.given_name,
	surname = b.surname, account_enabled = b.account_enabled, deleted = b.deleted, in_scope = b.in_scope, user_type = b.user_type`

// copyEntraUsers streams the batch by COPY into a temporary table and merges
// it with one MERGE: new users are inserted, changed users updated, unchanged
// ones not touched (PostgreSQL writes a whole row version for any update, so
// skipping them is what keeps a repeated backfill fast). The caller holds the
// snapshot lock, so no other transaction inserts the same oids meanwhile.
//
// Into an empty table (the first backfill) the rows are copied directly.
func (s *Store) copyEntraUsers(ctx context.Context, tx pgx.Tx, runID int64, users []identity.EntraUser, order []int32) error {
	var empty bool
	if err := tx.QueryRow(ctx, "SELECT NOT EXISTS (SELECT 1 FROM entra_users)").Scan(&empty); err != nil {
		return err
	}
	target := "entra_users"
	if !empty {
		target = "idlink_entra_batch"
		if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE idlink_entra_batch (LIKE entra_users) ON COMMIT DROP`); err != nil {
			return err
		}
	}
	cols := []string{"oid", "tenant_id", "upn", "mail", "display_name", "given_name", "surname", "account_enabled", "deleted", "in_scope", "user_type"}
	row := make([]any, len(cols))
	next := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if next == len(order) {
			return nil, nil
		}
		i := order[next]
		next++
		u := &users[i]
		if err := store.CheckEntraUser(int(i), *u); err != nil {
			return nil, err
		}
		row[0], row[1], row[2], row[3], row[4], row[5], row[6] = u.ObjectID, u.TenantID, u.UPN, u.Mail, u.DisplayName, u.GivenName, u.Surname
		row[7], row[8], row[9], row[10] = u.AccountEnabled, string(u.Deleted), u.InScope, u.UserType
		if afterChunk != nil && next%chunkRows == 0 {
			afterChunk(next)
		}
		return row, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{target}, cols, src); err != nil {
		return err
	}
	if empty {
		_, err := tx.Exec(ctx, "INSERT INTO entra_seen (run_id, oid) SELECT $1, oid FROM entra_users", runID)
		return err
	}
	if _, err := tx.Exec(ctx, `MERGE INTO entra_users AS t USING idlink_entra_batch AS b ON t.oid = b.oid
		WHEN MATCHED AND `+entraChanged+` THEN UPDATE SET `+entraSet+`
		WHEN NOT MATCHED THEN INSERT (`+entraCols+`)
			VALUES (b.oid, b.tenant_id, b.upn, b.mail, b.display_name, b.given_name, b.surname,
			b.account_enabled, b.deleted, b.in_scope, b.user_type)`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "INSERT INTO entra_seen (run_id, oid) SELECT $1, oid FROM idlink_entra_batch", runID)
	return err
}

func (s *Store) unnestEntraUsers(ctx context.Context, tx pgx.Tx, runID int64, users []identity.EntraUser, order []int32) error {
	var (
		oid, tid, upn, mail, dn, gn, sn, deleted, ut []string
		enabled, scope                               []bool
	)
	for _, i := range order {
		u := &users[i]
		if err := store.CheckEntraUser(int(i), *u); err != nil {
			return err
		}
		oid, tid, upn, mail = append(oid, u.ObjectID), append(tid, u.TenantID), append(upn, u.UPN), append(mail, u.Mail)
		dn, gn, sn = append(dn, u.DisplayName), append(gn, u.GivenName), append(sn, u.Surname)
		enabled, deleted, scope, ut = append(enabled, u.AccountEnabled), append(deleted, string(u.Deleted)), append(scope, u.InScope), append(ut, u.UserType)
	}
	if len(oid) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO entra_users AS t (oid, tenant_id, upn, mail, display_name, given_name, surname,
			account_enabled, deleted, in_scope, user_type)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::bool[], $9::text[], $10::bool[], $11::text[])
		ON CONFLICT (oid) DO UPDATE SET `+strings.ReplaceAll(entraSet, "b.", "excluded.")+`
		WHERE `+strings.ReplaceAll(entraChanged, "b.", "excluded."),
		oid, tid, upn, mail, dn, gn, sn, enabled, deleted, scope, ut)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO entra_seen (run_id, oid) SELECT $1, unnest($2::text[])", runID, oid)
	return err
}

const entraCols = "oid, tenant_id, upn, mail, display_name, given_name, surname, account_enabled, deleted, in_scope, user_type"

func scanEntra(row pgx.Row) (identity.EntraUser, error) {
	var u identity.EntraUser
	var deleted string
	err := row.Scan(&u.ObjectID, &u.TenantID, &u.UPN, &u.Mail, &u.DisplayName, &u.GivenName, &u.Surname,
		&u.AccountEnabled, &deleted, &u.InScope, &u.UserType)
	u.Deleted = identity.Deletion(deleted)
	return u, err
}

// LookupEntraUsers returns the stored users among oids.
func (s *Store) LookupEntraUsers(ctx context.Context, oids []string) (map[string]identity.EntraUser, error) {
	out := make(map[string]identity.EntraUser, len(oids))
	if len(oids) == 0 {
		return out, nil
	}
	err := scanAll(ctx, s.pool, "entra users", "SELECT "+entraCols+" FROM entra_users WHERE oid = ANY($1::text[])", []any{oids},
		func(r pgx.Rows) (identity.EntraUser, error) { return scanEntra(r) },
		func(u identity.EntraUser) error { out[u.ObjectID] = u; return nil })
	return out, err
}

// BeginEntraListing forgets which users an earlier attempt at runID's
// listing saw.
//
// PostgreSQL writes a listing's pages into entra_users as they come
// (StageEntraUsers is UpsertEntraUsers, which records each user in
// entra_seen): unlike SQLite's, its inserts of scattered keys keep up with
// Graph's paging, and holding the listing apart would add a copy.
func (s *Store) BeginEntraListing(ctx context.Context, runID int64) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM entra_seen WHERE run_id = $1", runID); err != nil {
		return fmt.Errorf("postgres: begin the entra listing of run %d: %w", runID, err)
	}
	return nil
}

// HoldEntraListing changes nothing: PostgreSQL keeps writing the pages as
// they come (see BeginEntraListing).
func (s *Store) HoldEntraListing(ctx context.Context, runID int64) error { return nil }

// StageEntraUsers writes a page of runID's listing (see BeginEntraListing).
func (s *Store) StageEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser) error {
	return s.UpsertEntraUsers(ctx, runID, users, nil)
}

// FinishEntraListing marks hard deleted every user that runID's listing did
// not write and that is not already, forgets what earlier runs saw (their
// marking is over) and stores cursor. runID's own record stays, so finishing
// again changes nothing.
func (s *Store) FinishEntraListing(ctx context.Context, runID int64, cursor *identity.Cursor) (int64, bool, error) {
	if err := store.CheckCursor(cursor); err != nil {
		return 0, false, fmt.Errorf("postgres: finish the entra listing: %w", err)
	}
	var n int64
	var whole bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockSnapshot(ctx, tx, "entra_users"); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE entra_users AS u SET deleted = $1
			WHERE u.deleted <> $1 AND NOT EXISTS (SELECT 1 FROM entra_seen AS s WHERE s.run_id = $2 AND s.oid = u.oid)`,
			string(identity.HardDeleted), runID)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		// Every user the listing did not write is marked hard deleted now,
		// and a listing writes no user hard deleted: no hard deleted user
		// means it wrote every stored user (one that was staged hard deleted only
		// makes the answer a safe "no"). That spares the caller recording
		// the scope by a join of every user with it (4.7 s at a million).
		// Not an anti-join of the users with entra_seen: inside NOT EXISTS
		// PostgreSQL plans it to find a first row fast, a nested loop over
		// both tables, which had not ended after two minutes at a million.
		err = tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM entra_users WHERE deleted = $1)`,
			string(identity.HardDeleted)).Scan(&whole)
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, "DELETE FROM entra_seen WHERE run_id < $1", runID); err != nil {
			return err
		}
		return setCursor(ctx, tx, cursor)
	})
	if err != nil {
		return 0, false, fmt.Errorf("postgres: finish the entra listing of run %d: %w", runID, err)
	}
	return n, whole, nil
}

// SetEntraScope sets InScope for exactly the given oids, clears it for all
// others and records the scope.
func (s *Store) SetEntraScope(ctx context.Context, scope identity.ObjectIDSet) error {
	inScope := slices.AppendSeq(make([]string, 0, scope.Len()), scope.Strings())
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE entra_users AS u SET in_scope = n.v
			FROM (SELECT e.oid, s.k IS NOT NULL AS v FROM entra_users e
				LEFT JOIN (SELECT DISTINCT k FROM unnest($1::text[]) AS k) s ON s.k = e.oid) AS n
			WHERE u.oid = n.oid AND u.in_scope IS DISTINCT FROM n.v`, inScope)
		if err != nil {
			return err
		}
		return store.PutScope(ctx, scopeChunks(tx), scope)
	})
	if err != nil {
		return fmt.Errorf("postgres: set entra scope (%d users): %w", scope.Len(), err)
	}
	return nil
}

// ChangeEntraScope sets InScope of the users whose scope changed since the
// recorded one, and of the users named, when the recorded scope is from.
func (s *Store) ChangeEntraScope(ctx context.Context, from string, scope identity.ObjectIDSet, users []identity.ObjectID) (bool, error) {
	var ok bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		changed, same, err := store.ChangeScope(ctx, scopeChunks(tx), from, scope)
		if err != nil || !same {
			return err
		}
		ok = true
		return setInScope(ctx, tx, scope, append(changed, users...))
	})
	if err != nil {
		return false, fmt.Errorf("postgres: change the entra scope: %w", err)
	}
	return ok, nil
}

// FixEntraScope records scope and sets InScope of the users named.
func (s *Store) FixEntraScope(ctx context.Context, scope identity.ObjectIDSet, users []identity.ObjectID) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := setInScope(ctx, tx, scope, users); err != nil {
			return err
		}
		return store.PutScope(ctx, scopeChunks(tx), scope)
	})
	if err != nil {
		return fmt.Errorf("postgres: record the entra scope (%d users) and fix %d users' flags: %w", scope.Len(), len(users), err)
	}
	return nil
}

// setInScope sets InScope of the users named from scope, writing only the
// rows whose flag changes.
func setInScope(ctx context.Context, tx pgx.Tx, scope identity.ObjectIDSet, users []identity.ObjectID) error {
	on, off := store.SplitScope(scope, users)
	_, err := tx.Exec(ctx, `UPDATE entra_users SET in_scope = oid = ANY($1::text[])
		WHERE (oid = ANY($1::text[]) OR oid = ANY($2::text[])) AND in_scope IS DISTINCT FROM (oid = ANY($1::text[]))`, nonNil(on), nonNil(off))
	return err
}

// scopeChunks are the recorded scope's rows, read and written in tx.
func scopeChunks(tx pgx.Tx) store.ScopeChunks {
	return store.ScopeChunks{
		Get: func(ctx context.Context, chunk byte) ([]byte, error) {
			var b []byte
			err := tx.QueryRow(ctx, "SELECT oids FROM entra_scope WHERE chunk = $1", int(chunk)).Scan(&b)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, nil
			}
			return b, err
		},
		Put: func(ctx context.Context, chunk byte, oids []byte) error {
			_, err := tx.Exec(ctx, "INSERT INTO entra_scope (chunk, oids) VALUES ($1, $2) ON CONFLICT (chunk) DO UPDATE SET oids = excluded.oids", int(chunk), oids)
			return err
		},
		Delete: func(ctx context.Context, chunk byte) error {
			_, err := tx.Exec(ctx, "DELETE FROM entra_scope WHERE chunk = $1", int(chunk))
			return err
		},
	}
}

// ScanEntraUsers streams the Entra snapshot in oid order.
func (s *Store) ScanEntraUsers(ctx context.Context, fn func(identity.EntraUser) error) error {
	return scanAll(ctx, s.pool, "entra users", "SELECT "+entraCols+" FROM entra_users ORDER BY oid", nil,
		func(r pgx.Rows) (identity.EntraUser, error) { return scanEntra(r) }, fn)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// scanAll streams a query's rows to fn; an error from fn stops the scan and is returned as is.
func scanAll[T any](ctx context.Context, db querier, what, q string, args []any, scan func(pgx.Rows) (T, error), fn func(T) error) error {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("postgres: scan %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return fmt.Errorf("postgres: scan %s: %w", what, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: scan %s: %w", what, err)
	}
	return nil
}

// UpsertSalesforceUsers writes a batch of Salesforce users and the cursor in one transaction.
func (s *Store) UpsertSalesforceUsers(ctx context.Context, runID int64, users []identity.SalesforceUser, cursor *identity.Cursor) error {
	if err := store.CheckCursor(cursor); err != nil {
		return fmt.Errorf("postgres: upsert salesforce users: %w", err)
	}
	order := uniqueKeyOrder(len(users), func(i int) string { return users[i].ID })
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := inChunks(order, func(part []int32) error {
			var id, un, fed, email, ut []string
			var active []bool
			var created, mod []pgtype.Timestamptz
			for _, i := range part {
				u := &users[i]
				if err := store.CheckSalesforceUser(int(i), *u); err != nil {
					return err
				}
				id, un, fed, email = append(id, u.ID), append(un, u.Username), append(fed, u.FederationIdentifier), append(email, u.Email)
				active, ut = append(active, u.IsActive), append(ut, u.UserType)
				created, mod = append(created, ts(u.CreatedDate)), append(mod, ts(u.SystemModstamp))
			}
			_, err := tx.Exec(ctx, `INSERT INTO salesforce_users (`+sfCols+`, last_seen_run)
				SELECT u.*, $9::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[],
					$7::timestamptz[], $8::timestamptz[]) AS u
				ON CONFLICT (id) DO UPDATE SET username = excluded.username, federation_identifier = excluded.federation_identifier,
					email = excluded.email, is_active = excluded.is_active, user_type = excluded.user_type,
					created_date = excluded.created_date, system_modstamp = excluded.system_modstamp, last_seen_run = excluded.last_seen_run`,
				id, un, fed, email, active, ut, created, mod, runID)
			return err
		})
		if err != nil {
			return err
		}
		if err := writeSalesforceKeys(ctx, tx, users, order); err != nil {
			return err
		}
		return setCursor(ctx, tx, cursor)
	})
	if err != nil {
		return fmt.Errorf("postgres: upsert %d salesforce users: %w", len(users), err)
	}
	return nil
}

// ScanSalesforceUsers streams the Salesforce user snapshot in Id order.
func (s *Store) ScanSalesforceUsers(ctx context.Context, fn func(identity.SalesforceUser) error) error {
	return scanAll(ctx, s.pool, "salesforce users", "SELECT "+sfCols+" FROM salesforce_users ORDER BY id", nil, scanSalesforceUser, fn)
}

const sfCols = "id, username, federation_identifier, email, is_active, user_type, created_date, system_modstamp"

func scanSalesforceUser(r pgx.Rows) (identity.SalesforceUser, error) {
	var u identity.SalesforceUser
	var created, mod pgtype.Timestamptz
	err := r.Scan(&u.ID, &u.Username, &u.FederationIdentifier, &u.Email, &u.IsActive, &u.UserType, &created, &mod)
	u.CreatedDate, u.SystemModstamp = fromTS(created), fromTS(mod)
	return u, err
}

// UpsertAccountLinks writes a batch of ThirdPartyAccountLink rows in one transaction.
func (s *Store) UpsertAccountLinks(ctx context.Context, runID int64, links []identity.ThirdPartyAccountLink) error {
	order := uniqueKeyOrder(len(links), func(i int) string { return links[i].ID })
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := dropPagesCursor(ctx, tx); err != nil {
			return err
		}
		return inChunks(order, func(part []int32) error {
			var id, prov, rid, uid []string
			for _, i := range part {
				l := &links[i]
				if err := store.CheckAccountLink(int(i), *l); err != nil {
					return err
				}
				id, prov, rid, uid = append(id, l.ID), append(prov, l.Provider), append(rid, l.RemoteIdentifier), append(uid, l.UserID)
			}
			// A row read unchanged is not rewritten: a complete read returns
			// every row every run.
			_, err := tx.Exec(ctx, `INSERT INTO account_links (id, provider, remote_identifier, user_id, last_seen_run)
				SELECT u.*, $5::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u
				ON CONFLICT (id) DO UPDATE SET provider = excluded.provider, remote_identifier = excluded.remote_identifier,
					user_id = excluded.user_id, last_seen_run = excluded.last_seen_run
				WHERE (account_links.provider, account_links.remote_identifier, account_links.user_id)
					IS DISTINCT FROM (excluded.provider, excluded.remote_identifier, excluded.user_id)`, id, prov, rid, uid, runID)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("postgres: upsert %d account links: %w", len(links), err)
	}
	return nil
}

// DropAccountLinksExcept removes from the snapshot the account links a
// complete read did not see (Salesforce deleted them). NOT EXISTS over the
// unnested ids plans as an anti-join, which a NOT IN of a quarter million
// values would not once they outgrow work_mem.
func (s *Store) DropAccountLinksExcept(ctx context.Context, ids []string) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := dropPagesCursor(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM account_links a
			WHERE NOT EXISTS (SELECT 1 FROM unnest($1::text[]) AS seen (id) WHERE seen.id = a.id)`, nonNil(ids))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: drop account links a complete read did not see: %w", err)
	}
	return n, nil
}

// dropPagesCursor deletes identity.AccountLinkPagesCursor: the account links
// are about to change.
func dropPagesCursor(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "DELETE FROM cursors WHERE name = $1", identity.AccountLinkPagesCursor)
	return err
}

// ScanAccountLinks streams the ThirdPartyAccountLink snapshot in Id order.
func (s *Store) ScanAccountLinks(ctx context.Context, fn func(identity.ThirdPartyAccountLink) error) error {
	return scanAll(ctx, s.pool, "account links", "SELECT "+accountLinkCols+" FROM account_links ORDER BY id", nil, scanAccountLink, fn)
}

const accountLinkCols = "id, provider, remote_identifier, user_id"

func scanAccountLink(r pgx.Rows) (identity.ThirdPartyAccountLink, error) {
	var l identity.ThirdPartyAccountLink
	err := r.Scan(&l.ID, &l.Provider, &l.RemoteIdentifier, &l.UserID)
	return l, err
}

const linkCols = "provider, subject, salesforce_user_id, object_id, tenant_id, rule, status, reason, updated_at"

// UpsertRemoteLinks writes a batch of Identity_Link__c rows in one transaction.
func (s *Store) UpsertRemoteLinks(ctx context.Context, runID int64, links []identity.Link) error {
	order := uniqueKeyOrder(len(links), func(i int) string { return links[i].Provider + "\x00" + links[i].Subject })
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return inChunks(order, func(part []int32) error {
			var prov, sub, user, oid, tid, rule, status, reason, sid []string
			var upd []pgtype.Timestamptz
			for _, i := range part {
				l := &links[i]
				if err := store.CheckRemoteLink(int(i), *l); err != nil {
					return err
				}
				prov, sub, user, oid, tid = append(prov, l.Provider), append(sub, l.Subject), append(user, l.SalesforceUserID), append(oid, store.CanonicalOID(l.ObjectID)), append(tid, l.TenantID)
				rule, status, reason, upd = append(rule, string(l.Rule)), append(status, string(l.Status)), append(reason, l.Reason), append(upd, ts(l.UpdatedAt))
				sid = append(sid, l.StoreID)
			}
			_, err := tx.Exec(ctx, `INSERT INTO remote_links (`+linkCols+`, store_id, last_seen_run)
				SELECT u.*, $11::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
					$8::text[], $9::timestamptz[], $10::text[]) AS u
				ON CONFLICT (provider, subject) DO UPDATE SET salesforce_user_id = excluded.salesforce_user_id,
					object_id = excluded.object_id, tenant_id = excluded.tenant_id, rule = excluded.rule, status = excluded.status,
					reason = excluded.reason, updated_at = excluded.updated_at, last_seen_run = excluded.last_seen_run,
					store_id = excluded.store_id
				WHERE (remote_links.salesforce_user_id, remote_links.object_id, remote_links.tenant_id, remote_links.rule,
					remote_links.status, remote_links.reason, remote_links.updated_at, remote_links.store_id)
					IS DISTINCT FROM (excluded.salesforce_user_id, excluded.object_id, excluded.tenant_id, excluded.rule,
					excluded.status, excluded.reason, excluded.updated_at, excluded.store_id)`,
				prov, sub, user, oid, tid, rule, status, reason, upd, sid, runID)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "INSERT INTO remote_links_seen (run_id, provider, subject) SELECT $1, p, s FROM unnest($2::text[], $3::text[]) AS u (p, s)",
				runID, prov, sub)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("postgres: upsert %d remote links: %w", len(links), err)
	}
	return nil
}

// MarkRemoteLinksNotSeen removes from the snapshot the Identity_Link__c rows
// that runID's complete read did not see (someone deleted them in Salesforce).
func (s *Store) MarkRemoteLinksNotSeen(ctx context.Context, runID int64) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM remote_links r
			WHERE NOT EXISTS (SELECT 1 FROM remote_links_seen s WHERE s.run_id = $1 AND s.provider = r.provider AND s.subject = r.subject)`, runID)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, "DELETE FROM remote_links_seen WHERE run_id < $1", runID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: drop Identity_Link__c rows not seen by run %d: %w", runID, err)
	}
	return n, nil
}

// DeleteRemoteLinks drops the Identity_Link__c rows of these keys.
func (s *Store) DeleteRemoteLinks(ctx context.Context, keys []identity.LinkKey) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	prov, sub := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		prov[i], sub[i] = k.Provider, k.Subject
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM remote_links WHERE (provider, subject) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, prov, sub)
	if err != nil {
		return 0, fmt.Errorf("postgres: drop %d deleted Identity_Link__c rows: %w", len(keys), err)
	}
	return tag.RowsAffected(), nil
}

// ScanRemoteLinks streams the Identity_Link__c snapshot in (provider, subject) order.
func (s *Store) ScanRemoteLinks(ctx context.Context, fn func(identity.Link) error) error {
	return scanAll(ctx, s.pool, "remote links", "SELECT "+linkCols+", store_id FROM remote_links ORDER BY provider, subject", nil, scanRemoteLink, fn)
}

func scanRemoteLink(r pgx.Rows) (identity.Link, error) {
	var l identity.Link
	var rule, status string
	var upd pgtype.Timestamptz
	err := r.Scan(&l.Provider, &l.Subject, &l.SalesforceUserID, &l.ObjectID, &l.TenantID, &rule, &status, &l.Reason, &upd, &l.StoreID)
	l.Rule, l.Status, l.UpdatedAt = identity.Rule(rule), identity.LinkStatus(status), fromTS(upd)
	return l, err
}

func scanLink(r pgx.Rows) (identity.Link, error) {
	var l identity.Link
	var rule, status string
	var upd pgtype.Timestamptz
	err := r.Scan(&l.Provider, &l.Subject, &l.SalesforceUserID, &l.ObjectID, &l.TenantID, &rule, &status, &l.Reason, &upd)
	l.Rule, l.Status, l.UpdatedAt = identity.Rule(rule), identity.LinkStatus(status), fromTS(upd)
	return l, err
}
