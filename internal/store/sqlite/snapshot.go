package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// rowsPerStatement is how many rows one multi-row INSERT carries. Larger
// statements amortise the per-statement cost; SQLite allows 32766 parameters.
const rowsPerStatement = 256

// afterChunk, when set by a test, is called after each multi-row statement of
// a batch with the number of rows written so far (the crash test uses it to
// kill the process mid-transaction).
var afterChunk func(rows int)

// upsertBatch writes n rows with multi-row "INSERT ... VALUES (...), (...) <suffix>"
// statements inside tx. fill puts row i's values into args (len ncols) or
// refuses the row; a refusal fails the whole batch (the caller rolls back).
func upsertBatch(ctx context.Context, tx *wtx, prefix string, ncols int, suffix string, n int, fill func(i int, args []any) error) error {
	if n == 0 {
		return nil
	}
	tuple := "(?" + strings.Repeat(", ?", ncols-1) + ")"
	stmtFor := func(rows int) (*sql.Stmt, error) {
		var b strings.Builder
		b.WriteString(prefix)
		b.WriteString(" VALUES ")
		for i := 0; i < rows; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
		}
		b.WriteString(" ")
		b.WriteString(suffix)
		return tx.stmts.prepare(ctx, tx.Tx, b.String())
	}
	per := min(rowsPerStatement, n)
	full, err := stmtFor(per)
	if err != nil {
		return err
	}
	defer full.Close()
	args := make([]any, per*ncols)
	for start := 0; start < n; start += per {
		rows := min(per, n-start)
		for i := 0; i < rows; i++ {
			if err := fill(start+i, args[i*ncols:(i+1)*ncols]); err != nil {
				return err
			}
		}
		st := full
		if rows < per {
			if st, err = stmtFor(rows); err != nil {
				return err
			}
			defer st.Close()
		}
		if _, err := st.ExecContext(ctx, args[:rows*ncols]...); err != nil {
			return err
		}
		if afterChunk != nil {
			afterChunk(start + rows)
		}
	}
	return nil
}

// keyOrder returns the row indexes of a batch sorted by key, keeping the
// input order among equal keys (so the last of duplicates still wins). Writing
// in key order turns random B-tree inserts into near-appends: each statement
// touches a few neighbouring pages instead of hundreds of scattered ones,
// which is several times faster on large batches.
func keyOrder(n int, key func(i int) string) []int32 {
	type keyed struct {
		key string
		i   int32
	}
	ks := make([]keyed, n)
	for i := range ks {
		ks[i] = keyed{key(i), int32(i)}
	}
	// Ties broken by input position: the same order a stable sort gives, with
	// the faster unstable sort.
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return int(a.i - b.i)
	})
	idx := make([]int32, n)
	for j, k := range ks {
		idx[j] = k.i
	}
	return idx
}

const entraCols = "oid, tenant_id, upn, mail, display_name, given_name, surname, account_enabled, deleted, in_scope, user_type"

// entraUpsert writes a user over its stored version, unless every field is
// the same: a stored user whose fields are unchanged is not rewritten.
const entraUpsert = `ON CONFLICT (oid) DO UPDATE SET tenant_id = excluded.tenant_id, upn = excluded.upn, mail = excluded.mail,
	display_name = excluded.display_name, given_name = excluded.given_name, surname = excluded.surname,
	account_enabled = excluded.account_enabled, deleted = excluded.deleted, in_scope = excluded.in_scope,
	user_type = excluded.user_type
WHERE (entra_users.tenant_id, entra_users.upn, entra_users.mail, entra_users.display_name, entra_users.given_name,
	entra_users.surname, entra_users.account_enabled, entra_users.deleted, entra_users.in_scope, entra_users.user_type)
	IS NOT (excluded.tenant_id, excluded.upn, excluded.mail, excluded.display_name, excluded.given_name,
	excluded.surname, excluded.account_enabled, excluded.deleted, excluded.in_scope, excluded.user_type)`

// UpsertEntraUsers writes a batch of Entra users (inserting new ones, updating
// known ones in place) and the cursor, all in one transaction: either the
// whole batch and the cursor are stored, or nothing is.
func (s *Store) UpsertEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser, cursor *identity.Cursor) error {
	if err := store.CheckCursor(cursor); err != nil {
		return fmt.Errorf("sqlite: upsert entra users: %w", err)
	}
	err := s.writeEntra(ctx, func(tx *wtx) error {
		if err := upsertEntra(ctx, tx, users); err != nil {
			return err
		}
		return setCursor(ctx, tx, cursor)
	})
	if err != nil {
		return fmt.Errorf("sqlite: upsert %d entra users: %w", len(users), err)
	}
	return nil
}

// upsertEntra writes users in key order, and their lookup keys.
func upsertEntra(ctx context.Context, tx *wtx, users []identity.EntraUser) error {
	order := keyOrder(len(users), func(i int) string { return users[i].ObjectID })
	err := upsertBatch(ctx, tx, "INSERT INTO entra_users ("+entraCols+")", 11, entraUpsert,
		len(users), func(i int, a []any) error {
			i = int(order[i])
			u := &users[i]
			if err := store.CheckEntraUser(i, *u); err != nil {
				return err
			}
			a[0], a[1], a[2], a[3], a[4], a[5], a[6] = u.ObjectID, u.TenantID, u.UPN, u.Mail, u.DisplayName, u.GivenName, u.Surname
			a[7], a[8], a[9], a[10] = b2i(u.AccountEnabled), string(u.Deleted), b2i(u.InScope), u.UserType
			return nil
		})
	if err != nil {
		return err
	}
	return writeEntraKeys(ctx, tx, users, order)
}

func scanEntra(rows *sql.Rows) (identity.EntraUser, error) {
	var u identity.EntraUser
	var enabled, inScope int
	var deleted string
	err := rows.Scan(&u.ObjectID, &u.TenantID, &u.UPN, &u.Mail, &u.DisplayName, &u.GivenName, &u.Surname,
		&enabled, &deleted, &inScope, &u.UserType)
	u.AccountEnabled, u.InScope, u.Deleted = enabled != 0, inScope != 0, identity.Deletion(deleted)
	return u, err
}

// LookupEntraUsers returns the stored users among oids.
func (s *Store) LookupEntraUsers(ctx context.Context, oids []string) (map[string]identity.EntraUser, error) {
	out := make(map[string]identity.EntraUser, len(oids))
	if len(oids) == 0 {
		return out, nil
	}
	list, err := json.Marshal(oids)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+entraCols+" FROM entra_users WHERE oid IN (SELECT value FROM json_each(?))", string(list))
	if err != nil {
		return nil, fmt.Errorf("sqlite: lookup entra users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanEntra(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: lookup entra users: %w", err)
		}
		out[u.ObjectID] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: lookup entra users: %w", err)
	}
	return out, nil
}

// BeginEntraListing drops what a listing cut short left in entra_listing
// and records that runID's listing is under way.
func (s *Store) BeginEntraListing(ctx context.Context, runID int64) error {
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM entra_listing"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO entra_listing_state (one, run_id, finished, was_empty, held)
			VALUES (1, ?, 0, NOT EXISTS (SELECT 1 FROM entra_users), 0)
			ON CONFLICT (one) DO UPDATE SET run_id = excluded.run_id, finished = 0, was_empty = excluded.was_empty, held = 0`, runID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: begin the entra listing of run %d: %w", runID, err)
	}
	return nil
}

// listing is where runID's listing stands (entra_listing_state).
type listing struct {
	begun, finished, wasEmpty, held bool
}

func listingState(ctx context.Context, tx *wtx, runID int64) (listing, error) {
	var l listing
	var run int64
	err := tx.QueryRowContext(ctx, "SELECT run_id, finished, was_empty, held FROM entra_listing_state").
		Scan(&run, &l.finished, &l.wasEmpty, &l.held)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && run != runID) {
		return listing{}, nil
	}
	l.begun = err == nil
	return l, err
}

// errListingNotBegun is a caller's mistake: StageEntraUsers or
// FinishEntraListing without BeginEntraListing for the run.
func errListingNotBegun(runID int64) error {
	return fmt.Errorf("run %d has no entra listing under way (BeginEntraListing first)", runID)
}

// HoldEntraListing makes the rest of runID's listing wait in entra_listing
// for the finish, which writes it in key order (see the migration that made
// the table for why).
func (s *Store) HoldEntraListing(ctx context.Context, runID int64) error {
	err := s.write(ctx, func(tx *wtx) error {
		switch l, err := listingState(ctx, tx, runID); {
		case err != nil:
			return err
		case !l.begun || l.finished:
			return errListingNotBegun(runID)
		}
		_, err := tx.ExecContext(ctx, "UPDATE entra_listing_state SET held = 1")
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: hold the entra listing of run %d: %w", runID, err)
	}
	return nil
}

// StageEntraUsers records a page of runID's full listing in entra_listing
// and, unless the listing is held, writes it into entra_users too (applied).
func (s *Store) StageEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser) error {
	err := s.writeEntra(ctx, func(tx *wtx) error {
		l, err := listingState(ctx, tx, runID)
		switch {
		case err != nil:
			return err
		case !l.begun || l.finished:
			return errListingNotBegun(runID)
		}
		applied := !l.held
		if applied {
			if err := upsertEntra(ctx, tx, users); err != nil {
				return err
			}
		}
		err = upsertBatch(ctx, tx, "INSERT INTO entra_listing (run_id, applied, "+entraCols+", upn_key, mail_key)", 15, "",
			len(users), func(i int, a []any) error {
				u := &users[i]
				a[0], a[1], a[2] = runID, b2i(applied), u.ObjectID
				if applied { // checked by upsertEntra; the finish needs only its object id, to mark the users not listed
					clear(a[3:])
					return nil
				}
				if err := store.CheckEntraUser(i, *u); err != nil {
					return err
				}
				a[3], a[4], a[5], a[6], a[7], a[8] = u.TenantID, u.UPN, u.Mail, u.DisplayName, u.GivenName, u.Surname
				a[9], a[10], a[11], a[12] = b2i(u.AccountEnabled), string(u.Deleted), b2i(u.InScope), u.UserType
				a[13], a[14] = store.EntraUserKeys(*u)
				return nil
			})
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: stage %d entra users: %w", len(users), err)
	}
	return nil
}

// FinishEntraListing writes the users of runID's listing not yet applied
// into entra_users in object id order (a user listed twice as listed last:
// the later row updates the earlier), marks hard deleted the stored users
// the listing did not hold, and stores cursor, in one transaction.
// Finishing a finished listing again changes nothing.
func (s *Store) FinishEntraListing(ctx context.Context, runID int64, cursor *identity.Cursor) (int64, bool, error) {
	if err := store.CheckCursor(cursor); err != nil {
		return 0, false, fmt.Errorf("sqlite: finish the entra listing: %w", err)
	}
	var n int64
	var whole bool
	err := s.writeEntra(ctx, func(tx *wtx) error {
		l, err := listingState(ctx, tx, runID)
		switch {
		case err != nil:
			return err
		case !l.begun:
			return errListingNotBegun(runID)
		case l.finished:
			whole = l.wasEmpty
			return nil
		}
		whole = l.wasEmpty // else it would take another walk of both tables to tell
		_, err = tx.ExecContext(ctx, "INSERT INTO entra_users ("+entraCols+") SELECT "+entraCols+
			" FROM entra_listing WHERE run_id = ? AND applied = 0 ORDER BY oid, rowid "+entraUpsert, runID)
		if err != nil {
			return err
		}
		if ready, err := lookupsReady(ctx, tx); err != nil {
			return err
		} else if ready {
			_, err := tx.ExecContext(ctx, `INSERT INTO entra_user_keys (oid, upn_key, mail_key)
				SELECT oid, upn_key, mail_key FROM entra_listing WHERE run_id = ? AND applied = 0 ORDER BY oid, rowid
				ON CONFLICT (oid) DO UPDATE SET upn_key = excluded.upn_key, mail_key = excluded.mail_key
				WHERE (entra_user_keys.upn_key, entra_user_keys.mail_key) IS NOT (excluded.upn_key, excluded.mail_key)`, runID)
			if err != nil {
				return err
			}
		}
		// Into a table empty when the listing began (a first backfill)
		// every user came from the listing.
		if !l.wasEmpty {
			res, err := tx.ExecContext(ctx, `UPDATE entra_users SET deleted = ?1
				WHERE deleted <> ?1 AND oid NOT IN (SELECT oid FROM entra_listing WHERE run_id = ?2)`,
				string(identity.HardDeleted), runID)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM entra_listing"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE entra_listing_state SET finished = 1"); err != nil {
			return err
		}
		return setCursor(ctx, tx, cursor)
	})
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: finish the entra listing of run %d: %w", runID, err)
	}
	return n, whole, nil
}

// SetEntraScope sets InScope for exactly the given oids and clears it for all
// others. It walks the stored users in oid order beside the sorted scope and
// writes only the users whose scope changed: handing SQLite the whole scope
// as one IN list (JSON, then a temporary index of it) cost 4.4 s of a
// million-user scheduled run. The walk reads on a reader connection: on the
// writer it filled that connection's page cache (64 MiB, sized for
// backfills) with a million rows read once, a third of a million-user
// scheduled run's peak memory. Should Entra users have been written since
// the walk began, it walks again inside the write transaction.
func (s *Store) SetEntraScope(ctx context.Context, inScope identity.ObjectIDSet) error {
	before := s.entraWrites.Load()
	on, off, err := scopeChanges(ctx, s.r, inScope)
	if testHookScopeWalked != nil {
		testHookScopeWalked()
	}
	if err == nil {
		err = s.writeEntra(ctx, func(tx *wtx) error {
			if s.entraWrites.Load() != before {
				var err error
				if on, off, err = scopeChanges(ctx, tx, inScope); err != nil {
					return err
				}
			}
			if err := setInScope(ctx, tx, on, off); err != nil {
				return err
			}
			return store.PutScope(ctx, scopeChunks(tx), inScope)
		})
	}
	if err != nil {
		return fmt.Errorf("sqlite: set entra scope (%d users): %w", inScope.Len(), err)
	}
	return nil
}

// FixEntraScope records inScope and sets InScope of the users named.
func (s *Store) FixEntraScope(ctx context.Context, inScope identity.ObjectIDSet, users []identity.ObjectID) error {
	err := s.writeEntra(ctx, func(tx *wtx) error {
		on, off := store.SplitScope(inScope, users)
		if err := setInScope(ctx, tx, on, off); err != nil {
			return err
		}
		return store.PutScope(ctx, scopeChunks(tx), inScope)
	})
	if err != nil {
		return fmt.Errorf("sqlite: record the entra scope (%d users) and fix %d users' flags: %w", inScope.Len(), len(users), err)
	}
	return nil
}

// ChangeEntraScope sets InScope of the users whose scope changed since the
// recorded one, and of the users named, when the recorded scope is from.
func (s *Store) ChangeEntraScope(ctx context.Context, from string, inScope identity.ObjectIDSet, users []identity.ObjectID) (bool, error) {
	var ok bool
	err := s.writeEntra(ctx, func(tx *wtx) error {
		changed, same, err := store.ChangeScope(ctx, scopeChunks(tx), from, inScope)
		if err != nil || !same {
			return err
		}
		ok = true
		on, off := store.SplitScope(inScope, append(changed, users...))
		return setInScope(ctx, tx, on, off)
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: change the entra scope: %w", err)
	}
	return ok, nil
}

// setInScope brings the users on into the scope and takes the users off
// out of it, writing only the rows whose flag changes.
func setInScope(ctx context.Context, tx *wtx, on, off []string) error {
	for _, set := range []struct {
		oids []string
		in   int
	}{{on, 1}, {off, 0}} {
		if len(set.oids) == 0 {
			continue
		}
		list, err := json.Marshal(set.oids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE entra_users SET in_scope = ? WHERE in_scope <> ? AND oid IN (SELECT value FROM json_each(?))", set.in, set.in, string(list)); err != nil {
			return err
		}
	}
	return nil
}

// scopeChunks are the recorded scope's rows, read and written in tx.
func scopeChunks(tx *wtx) store.ScopeChunks {
	return store.ScopeChunks{
		Get: func(ctx context.Context, chunk byte) ([]byte, error) {
			var b []byte
			err := tx.QueryRowContext(ctx, "SELECT oids FROM entra_scope WHERE chunk = ?", int(chunk)).Scan(&b)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, nil
			}
			return b, err
		},
		Put: func(ctx context.Context, chunk byte, oids []byte) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO entra_scope (chunk, oids) VALUES (?, ?) ON CONFLICT (chunk) DO UPDATE SET oids = excluded.oids", int(chunk), oids)
			return err
		},
		Delete: func(ctx context.Context, chunk byte) error {
			_, err := tx.ExecContext(ctx, "DELETE FROM entra_scope WHERE chunk = ?", int(chunk))
			return err
		},
	}
}

// testHookScopeWalked, when set by a test, runs between SetEntraScope's walk
// and its write.
var testHookScopeWalked func()

// scopeChanges walks the stored users beside the scope: the users to bring
// into it (on) and to take out (off).
func scopeChanges(ctx context.Context, db querier, inScope identity.ObjectIDSet) (on, off []string, err error) {
	next := 0
	err = scanAll(ctx, db, "entra scope", "SELECT oid, in_scope FROM entra_users ORDER BY oid", nil,
		func(rows *sql.Rows) (struct{}, error) {
			var oid string
			var in bool
			if err := rows.Scan(&oid, &in); err != nil {
				return struct{}{}, err
			}
			id, ok := identity.ParseObjectID(oid)
			if !ok {
				return struct{}{}, fmt.Errorf("stored Entra user %q: object id is not a GUID: the snapshot is damaged, run a backfill", oid)
			}
			// Stored oids are canonical, and canonical order is byte order
			// (BINARY collation), as packed ids compare.
			for next < inScope.Len() && inScope.At(next).Compare(id) < 0 {
				next++
			}
			switch assigned := next < inScope.Len() && inScope.At(next) == id; {
			case assigned && !in:
				on = append(on, oid)
			case !assigned && in:
				off = append(off, oid)
			}
			return struct{}{}, nil
		}, func(struct{}) error { return nil })
	return on, off, err
}

// ScanEntraUsers streams the Entra snapshot in oid order.
func (s *Store) ScanEntraUsers(ctx context.Context, fn func(identity.EntraUser) error) error {
	return scanAll(ctx, s.r, "entra users", "SELECT "+entraCols+" FROM entra_users ORDER BY oid", nil, scanEntra, fn)
}

// scanAll streams a query's rows to fn; an error from fn stops the scan and is returned as is.
// querier is a database or a transaction.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func scanAll[T any](ctx context.Context, db querier, what, q string, args []any, scan func(*sql.Rows) (T, error), fn func(T) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: scan %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return fmt.Errorf("sqlite: scan %s: %w", what, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan %s: %w", what, err)
	}
	return nil
}

const sfCols = "id, username, federation_identifier, email, is_active, user_type, created_date, system_modstamp, last_seen_run"

// UpsertSalesforceUsers writes a batch of Salesforce users and the cursor in one transaction.
func (s *Store) UpsertSalesforceUsers(ctx context.Context, runID int64, users []identity.SalesforceUser, cursor *identity.Cursor) error {
	if err := store.CheckCursor(cursor); err != nil {
		return fmt.Errorf("sqlite: upsert salesforce users: %w", err)
	}
	order := keyOrder(len(users), func(i int) string { return users[i].ID })
	err := s.write(ctx, func(tx *wtx) error {
		err := upsertBatch(ctx, tx, "INSERT INTO salesforce_users ("+sfCols+")", 9,
			`ON CONFLICT (id) DO UPDATE SET username = excluded.username, federation_identifier = excluded.federation_identifier,
				email = excluded.email, is_active = excluded.is_active, user_type = excluded.user_type,
				created_date = excluded.created_date, system_modstamp = excluded.system_modstamp, last_seen_run = excluded.last_seen_run`,
			len(users), func(i int, a []any) error {
				i = int(order[i])
				u := &users[i]
				if err := store.CheckSalesforceUser(i, *u); err != nil {
					return err
				}
				a[0], a[1], a[2], a[3], a[4], a[5] = u.ID, u.Username, u.FederationIdentifier, u.Email, b2i(u.IsActive), u.UserType
				a[6], a[7], a[8] = fmtNullTime(u.CreatedDate), fmtNullTime(u.SystemModstamp), runID
				return nil
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
		return fmt.Errorf("sqlite: upsert %d salesforce users: %w", len(users), err)
	}
	return nil
}

// ScanSalesforceUsers streams the Salesforce user snapshot in Id order.
func (s *Store) ScanSalesforceUsers(ctx context.Context, fn func(identity.SalesforceUser) error) error {
	return scanAll(ctx, s.r, "salesforce users", "SELECT "+sfCols+" FROM salesforce_users ORDER BY id", nil, scanSalesforceUser, fn)
}

func scanSalesforceUser(rows *sql.Rows) (identity.SalesforceUser, error) {
	var u identity.SalesforceUser
	var active int
	var created, mod sql.NullString
	var seen int64
	if err := rows.Scan(&u.ID, &u.Username, &u.FederationIdentifier, &u.Email, &active, &u.UserType, &created, &mod, &seen); err != nil {
		return u, err
	}
	u.IsActive = active != 0
	var err error
	if u.CreatedDate, err = parseNullTime(created); err != nil {
		return u, err
	}
	u.SystemModstamp, err = parseNullTime(mod)
	return u, err
}

// UpsertAccountLinks writes a batch of ThirdPartyAccountLink rows in one
// transaction. A row read unchanged is not rewritten: a complete read
// returns every row every run, nearly all unchanged, so the batch is first
// compared with the stored rows of its Id range (unchangedAccountLinks).
func (s *Store) UpsertAccountLinks(ctx context.Context, runID int64, links []identity.ThirdPartyAccountLink) error {
	for i, l := range links {
		if err := store.CheckAccountLink(i, l); err != nil {
			return fmt.Errorf("sqlite: upsert %d account links: %w", len(links), err)
		}
	}
	err := s.write(ctx, func(tx *wtx) error {
		same, err := unchangedAccountLinks(ctx, tx, links)
		if err != nil {
			return err
		}
		if err := dropPagesCursor(ctx, tx); err != nil {
			return err
		}
		var write []*identity.ThirdPartyAccountLink
		for i := range links {
			if !same[i] {
				write = append(write, &links[i])
			}
		}
		return upsertBatch(ctx, tx, "INSERT INTO account_links (id, provider, remote_identifier, user_id, last_seen_run)", 5,
			`ON CONFLICT (id) DO UPDATE SET provider = excluded.provider, remote_identifier = excluded.remote_identifier,
				user_id = excluded.user_id, last_seen_run = excluded.last_seen_run
			WHERE (account_links.provider, account_links.remote_identifier, account_links.user_id)
				IS NOT (excluded.provider, excluded.remote_identifier, excluded.user_id)`,
			len(write), func(i int, a []any) error {
				l := write[i]
				a[0], a[1], a[2], a[3], a[4] = l.ID, l.Provider, l.RemoteIdentifier, l.UserID, runID
				return nil
			})
	})
	if err != nil {
		return fmt.Errorf("sqlite: upsert %d account links: %w", len(links), err)
	}
	return nil
}

// unchangedAccountLinks marks the links stored exactly as given. It reads
// the stored rows between the batch's least and greatest Id in one ordered
// scan, which costs a fraction of an upsert's lookup per row: a batch is a
// run of Salesforce's Id order, so the range holds little else. Salesforce
// does not document that its Id order is byte order: the scan stops after a
// few times the batch's rows, and a row it did not reach goes to the
// upsert, which compares it itself.
func unchangedAccountLinks(ctx context.Context, tx *wtx, links []identity.ThirdPartyAccountLink) ([]bool, error) {
	same := make([]bool, len(links))
	if len(links) == 0 {
		return same, nil
	}
	lo, hi := links[0].ID, links[0].ID
	for _, l := range links[1:] {
		lo, hi = min(lo, l.ID), max(hi, l.ID)
	}
	limit := 4*len(links) + 64
	stored := make(map[string]identity.ThirdPartyAccountLink, len(links))
	err := scanAll(ctx, tx, "account links", "SELECT id, provider, remote_identifier, user_id FROM account_links WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ?",
		[]any{lo, hi, limit}, func(rows *sql.Rows) (identity.ThirdPartyAccountLink, error) {
			var l identity.ThirdPartyAccountLink
			err := rows.Scan(&l.ID, &l.Provider, &l.RemoteIdentifier, &l.UserID)
			return l, err
		}, func(l identity.ThirdPartyAccountLink) error { stored[l.ID] = l; return nil })
	if err != nil {
		return same, err
	}
	for i, l := range links {
		if st, ok := stored[l.ID]; ok && st == l {
			same[i] = true
		}
	}
	return same, nil
}

// dropPagesCursor deletes identity.AccountLinkPagesCursor: the account links
// are about to change.
func dropPagesCursor(ctx context.Context, tx *wtx) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM cursors WHERE name = ?", identity.AccountLinkPagesCursor)
	return err
}

// DropAccountLinksExcept removes from the snapshot the account links a
// complete read did not see (Salesforce deleted them): it walks the stored
// Ids in order beside the sorted ids read, so that a read of every row
// costs one pass over the table and no write for the rows still there.
func (s *Store) DropAccountLinksExcept(ctx context.Context, ids []string) (int64, error) {
	slices.Sort(ids)
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		if err := dropPagesCursor(ctx, tx); err != nil {
			return err
		}
		var gone []string
		err := scanAll(ctx, tx, "account links", "SELECT id FROM account_links ORDER BY id", nil,
			func(rows *sql.Rows) (string, error) {
				var id string
				err := rows.Scan(&id)
				return id, err
			}, func(id string) error {
				i, found := slices.BinarySearch(ids, id)
				if !found {
					gone = append(gone, id)
				}
				ids = ids[i:]
				return nil
			})
		if err != nil {
			return err
		}
		for part := range slices.Chunk(gone, 10_000) {
			list, err := json.Marshal(part)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM account_links WHERE id IN (SELECT value FROM json_each(?))", string(list))
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: drop account links a complete read did not see: %w", err)
	}
	return n, nil
}

// ScanAccountLinks streams the ThirdPartyAccountLink snapshot in Id order.
func (s *Store) ScanAccountLinks(ctx context.Context, fn func(identity.ThirdPartyAccountLink) error) error {
	return scanAll(ctx, s.r, "account links", "SELECT "+accountLinkCols+" FROM account_links ORDER BY id", nil, scanAccountLink, fn)
}

const accountLinkCols = "id, provider, remote_identifier, user_id"

func scanAccountLink(rows *sql.Rows) (identity.ThirdPartyAccountLink, error) {
	var l identity.ThirdPartyAccountLink
	err := rows.Scan(&l.ID, &l.Provider, &l.RemoteIdentifier, &l.UserID)
	return l, err
}

const linkCols = "provider, subject, salesforce_user_id, object_id, tenant_id, rule, status, reason, updated_at"

// UpsertRemoteLinks writes a batch of Identity_Link__c rows in one
// transaction and notes them seen by runID. A row read unchanged is not
// rewritten: a complete read returns every row every run.
func (s *Store) UpsertRemoteLinks(ctx context.Context, runID int64, links []identity.Link) error {
	err := s.write(ctx, func(tx *wtx) error {
		err := upsertBatch(ctx, tx, "INSERT INTO remote_links ("+linkCols+", last_seen_run, store_id)", 11,
			`ON CONFLICT (provider, subject) DO UPDATE SET salesforce_user_id = excluded.salesforce_user_id,
				object_id = excluded.object_id, tenant_id = excluded.tenant_id, rule = excluded.rule, status = excluded.status,
				reason = excluded.reason, updated_at = excluded.updated_at, last_seen_run = excluded.last_seen_run,
				store_id = excluded.store_id
			WHERE (remote_links.salesforce_user_id, remote_links.object_id, remote_links.tenant_id, remote_links.rule, remote_links.status,
				remote_links.reason, remote_links.updated_at, remote_links.store_id)
				IS NOT (excluded.salesforce_user_id, excluded.object_id, excluded.tenant_id, excluded.rule, excluded.status,
				excluded.reason, excluded.updated_at, excluded.store_id)`,
			len(links), func(i int, a []any) error {
				l := &links[i]
				if err := store.CheckRemoteLink(i, *l); err != nil {
					return err
				}
				a[0], a[1], a[2], a[3], a[4] = l.Provider, l.Subject, l.SalesforceUserID, store.CanonicalOID(l.ObjectID), l.TenantID
				a[5], a[6], a[7], a[8], a[9], a[10] = string(l.Rule), string(l.Status), l.Reason, fmtNullTime(l.UpdatedAt), runID, l.StoreID
				return nil
			})
		if err != nil {
			return err
		}
		return upsertBatch(ctx, tx, "INSERT INTO remote_links_seen (run_id, provider, subject)", 3, "", len(links), func(i int, a []any) error {
			a[0], a[1], a[2] = runID, links[i].Provider, links[i].Subject
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("sqlite: upsert %d remote links: %w", len(links), err)
	}
	return nil
}

// MarkRemoteLinksNotSeen removes from the snapshot the Identity_Link__c rows
// that runID's complete read did not see (someone deleted them in
// Salesforce), then forgets what earlier runs saw.
func (s *Store) MarkRemoteLinksNotSeen(ctx context.Context, runID int64) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM remote_links
			WHERE (provider, subject) NOT IN (SELECT provider, subject FROM remote_links_seen WHERE run_id = ?)`, runID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM remote_links_seen WHERE run_id < ?", runID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: drop Identity_Link__c rows not seen by run %d: %w", runID, err)
	}
	return n, nil
}

// DeleteRemoteLinks drops the Identity_Link__c rows of these keys.
func (s *Store) DeleteRemoteLinks(ctx context.Context, keys []identity.LinkKey) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	pairs := make([][2]string, len(keys))
	for i, k := range keys {
		pairs[i] = [2]string{k.Provider, k.Subject}
	}
	b, err := json.Marshal(pairs)
	if err != nil {
		return 0, err
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM remote_links WHERE (provider, subject) IN
		(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))`, string(b))
	if err != nil {
		return 0, fmt.Errorf("sqlite: drop %d deleted Identity_Link__c rows: %w", len(keys), err)
	}
	return res.RowsAffected()
}

// ScanRemoteLinks streams the Identity_Link__c snapshot in (provider, subject) order.
func (s *Store) ScanRemoteLinks(ctx context.Context, fn func(identity.Link) error) error {
	return scanAll(ctx, s.r, "remote links", "SELECT "+linkCols+", store_id FROM remote_links ORDER BY provider, subject", nil, scanRemoteLink, fn)
}

func scanRemoteLink(rows *sql.Rows) (identity.Link, error) {
	var l identity.Link
	var rule, status string
	var updated sql.NullString
	if err := rows.Scan(&l.Provider, &l.Subject, &l.SalesforceUserID, &l.ObjectID, &l.TenantID, &rule, &status, &l.Reason, &updated, &l.StoreID); err != nil {
		return l, err
	}
	l.Rule, l.Status = identity.Rule(rule), identity.LinkStatus(status)
	var err error
	l.UpdatedAt, err = parseNullTime(updated)
	return l, err
}

func scanLink(rows *sql.Rows) (identity.Link, error) {
	var l identity.Link
	var rule, status string
	var updated sql.NullString
	if err := rows.Scan(&l.Provider, &l.Subject, &l.SalesforceUserID, &l.ObjectID, &l.TenantID, &rule, &status, &l.Reason, &updated); err != nil {
		return l, err
	}
	l.Rule, l.Status = identity.Rule(rule), identity.LinkStatus(status)
	var err error
	l.UpdatedAt, err = parseNullTime(updated)
	return l, err
}
