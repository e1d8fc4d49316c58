package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// JournalState reports from which sequence number on the plan journal is complete.
func (s *Store) JournalState(ctx context.Context) (int64, bool, error) {
	var v sql.NullInt64
	if err := s.r.QueryRowContext(ctx, "SELECT valid_from FROM journal_state").Scan(&v); err != nil {
		return 0, false, fmt.Errorf("sqlite: read the plan journal's state: %w", err)
	}
	return v.Int64, v.Valid, nil
}

// StartJournal turns the journal on and returns the newest sequence number.
// Turning it on journals an empty change whose number the journal is complete
// from, so that the number is never 0 (0 means "no position"). The one
// writer connection orders it after every write that saw the journal off.
func (s *Store) StartJournal(ctx context.Context) (int64, error) {
	var last int64
	err := s.write(ctx, func(tx *wtx) error {
		var on bool
		if err := tx.QueryRowContext(ctx, "SELECT valid_from IS NOT NULL FROM journal_state").Scan(&on); err != nil {
			return err
		}
		if !on {
			if err := tx.QueryRowContext(ctx, "INSERT INTO plan_journal DEFAULT VALUES RETURNING seq").Scan(&last); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE journal_state SET valid_from = ?", last)
			return err
		}
		// sqlite_sequence keeps the largest number AUTOINCREMENT handed out,
		// also after the rows are trimmed.
		return tx.QueryRowContext(ctx, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'plan_journal'), 0)").Scan(&last)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: start the plan journal: %w", err)
	}
	return last, nil
}

// StopJournal turns the journal off, empties it and drops the lookup indexes
// and the users' keys.
func (s *Store) StopJournal(ctx context.Context) error {
	err := s.write(ctx, func(tx *wtx) error {
		qs := append([]string{"UPDATE journal_state SET valid_from = NULL, lookups = 0", "DELETE FROM plan_journal"}, store.DropLookupIndexes()...)
		for _, q := range append(qs, "DELETE FROM entra_user_keys", "DELETE FROM salesforce_user_keys") {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: stop the plan journal: %w", err)
	}
	return nil
}

const changeCols = "seq, object_id, upn, mail, salesforce_id, username, email, federation_id, provider, subject, other_object"

// ReadJournal returns up to limit changes after sequence number after.
func (s *Store) ReadJournal(ctx context.Context, after int64, limit int) ([]identity.Change, error) {
	var out []identity.Change
	err := scanAll(ctx, s.r, "plan journal", "SELECT "+changeCols+" FROM plan_journal WHERE seq > ? ORDER BY seq LIMIT ?",
		[]any{after, limit}, func(rows *sql.Rows) (identity.Change, error) {
			var c identity.Change
			err := rows.Scan(&c.Seq, &c.ObjectID, &c.UPN, &c.Mail, &c.SalesforceID, &c.Username, &c.Email,
				&c.FederationIdentifier, &c.Provider, &c.Subject, &c.OtherObject)
			return c, err
		}, func(c identity.Change) error { out = append(out, c); return nil })
	return out, err
}

// TrimJournal deletes the changes up to and including through.
func (s *Store) TrimJournal(ctx context.Context, through int64) error {
	if _, err := s.w.ExecContext(ctx, "DELETE FROM plan_journal WHERE seq <= ?", through); err != nil {
		return fmt.Errorf("sqlite: trim the plan journal through %d: %w", through, err)
	}
	return nil
}

// lookup is one indexed condition of a Related query: column IN list, or
// (provider, subject column) IN list of pairs.
type lookup struct {
	cond string
	list any
}

func inList(col string, vals []string) lookup {
	return lookup{col + " IN (SELECT value FROM json_each(?))", vals}
}

// inKeys finds users by a key of their key table (idCol names the user's id
// in both).
func inKeys(idCol, keyTable, keyCol string, vals []string) lookup {
	return lookup{idCol + " IN (SELECT " + idCol + " FROM " + keyTable + " WHERE " + keyCol + " IN (SELECT value FROM json_each(?)))", vals}
}

func inSubjects(subCol string, keys []identity.LinkKey) lookup {
	pairs := make([][2]string, len(keys))
	for i, k := range keys {
		pairs[i] = [2]string{k.Provider, k.Subject}
	}
	return lookup{"(provider, " + subCol + ") IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))", pairs}
}

// related appends to out the rows of one table that meet any of the
// lookups: one indexed query per lookup, united (UNION drops repeats).
func related[T any](ctx context.Context, db *sql.DB, what, selectFrom string, lookups []lookup, scan func(*sql.Rows) (T, error), out *[]T) error {
	var parts []string
	var args []any
	for _, l := range lookups {
		if n, ok := l.list.([]string); ok && len(n) == 0 {
			continue
		}
		if n, ok := l.list.([][2]string); ok && len(n) == 0 {
			continue
		}
		b, err := json.Marshal(l.list)
		if err != nil {
			return err
		}
		parts = append(parts, selectFrom+" WHERE "+l.cond)
		args = append(args, string(b))
	}
	if len(parts) == 0 {
		return nil
	}
	return scanAll(ctx, db, what, strings.Join(parts, " UNION "), args, scan, func(v T) error { *out = append(*out, v); return nil })
}

// Related returns every stored record that carries one of q's keys.
func (s *Store) Related(ctx context.Context, q identity.KeyQuery) (identity.Records, error) {
	var r identity.Records
	if q.Empty() {
		return r, nil
	}
	ready, err := lookupsReady(ctx, s.r)
	if err != nil {
		return r, fmt.Errorf("sqlite: related records: %w", err)
	}
	if !ready {
		return r, fmt.Errorf("sqlite: related records: %w", store.ErrLookupsNotPrepared)
	}
	steps := []func() error{
		func() error {
			return related(ctx, s.r, "related entra users", "SELECT "+entraCols+" FROM entra_users", []lookup{
				inList("oid", q.ObjectIDs), inKeys("oid", "entra_user_keys", "upn_key", q.UPNs),
				inKeys("oid", "entra_user_keys", "mail_key", q.Emails)}, scanEntra, &r.Entra)
		},
		func() error {
			return related(ctx, s.r, "related salesforce users", "SELECT "+sfCols+" FROM salesforce_users", []lookup{
				inList("id", q.SalesforceIDs), inKeys("id", "salesforce_user_keys", "fed_key", q.ObjectIDs),
				inKeys("id", "salesforce_user_keys", "username_key", q.Usernames),
				inKeys("id", "salesforce_user_keys", "email_key", q.Emails)}, scanSalesforceUser, &r.Salesforce)
		},
		func() error {
			return related(ctx, s.r, "related account links", "SELECT "+accountLinkCols+" FROM account_links", []lookup{
				inSubjects("remote_identifier", q.Subjects), inList("user_id", q.SalesforceIDs)}, scanAccountLink, &r.AccountLinks)
		},
		func() error {
			return related(ctx, s.r, "related Identity_Link__c rows", "SELECT "+linkCols+", store_id FROM remote_links",
				linkLookups(q), scanRemoteLink, &r.RemoteLinks)
		},
		func() error {
			return related(ctx, s.r, "related links", "SELECT "+linkCols+" FROM links", linkLookups(q), scanLink, &r.Links)
		},
		func() error {
			return related(ctx, s.r, "related observations", "SELECT "+obsCols+" FROM observations", []lookup{
				inSubjects("subject", q.Subjects), inList("object_id", q.ObjectIDs)},
				func(rows *sql.Rows) (identity.Observation, error) { return scanObservation(rows) }, &r.Observations)
		},
		func() error {
			return related(ctx, s.r, "related observation conflicts", "SELECT "+conflictCols+" FROM observation_conflicts", []lookup{
				inSubjects("subject", q.Subjects), inList("object_id", q.ObjectIDs), inList("other_object_id", q.ObjectIDs)},
				scanConflict, &r.Conflicts)
		},
		func() error {
			return related(ctx, s.r, "related decisions", "SELECT "+decisionCols+" FROM decisions", []lookup{
				inSubjects("subject", q.Subjects), inList("salesforce_user_id", q.SalesforceIDs), inList("object_id", q.ObjectIDs)},
				scanDecision, &r.Decisions)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return identity.Records{}, err
		}
	}
	return r, nil
}

func linkLookups(q identity.KeyQuery) []lookup {
	return []lookup{inSubjects("subject", q.Subjects), inList("salesforce_user_id", q.SalesforceIDs), inList("object_id", q.ObjectIDs)}
}

// CountLinks counts idlink's links in a status.
func (s *Store) CountLinks(ctx context.Context, status identity.LinkStatus) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM links WHERE status = ?", string(status)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count %s links: %w", status, err)
	}
	return n, nil
}

// PrepareRelated computes the keys of every user and creates the lookup
// indexes, unless they are there: a backfill dropped them (StopJournal).
func (s *Store) PrepareRelated(ctx context.Context) error {
	err := s.write(ctx, func(tx *wtx) error {
		if ready, err := lookupsReady(ctx, tx); err != nil || ready {
			return err
		}
		for _, q := range []string{"DELETE FROM entra_user_keys", "DELETE FROM salesforce_user_keys"} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		err := fillKeys(ctx, tx, "entra users", "SELECT oid, upn, mail, '' FROM entra_users WHERE oid > ? ORDER BY oid LIMIT ?",
			"INSERT INTO entra_user_keys (oid, upn_key, mail_key)", 3, func(r keyRow, a []any) {
				a[0] = r.id
				a[1], a[2] = store.EntraUserKeys(identity.EntraUser{UPN: r.a, Mail: r.b})
			})
		if err != nil {
			return err
		}
		err = fillKeys(ctx, tx, "salesforce users", "SELECT id, username, email, federation_identifier FROM salesforce_users WHERE id > ? ORDER BY id LIMIT ?",
			"INSERT INTO salesforce_user_keys (id, username_key, email_key, fed_key)", 4, func(r keyRow, a []any) {
				a[0] = r.id
				a[1], a[2], a[3] = store.SalesforceUserKeys(identity.SalesforceUser{Username: r.a, Email: r.b, FederationIdentifier: r.c})
			})
		if err != nil {
			return err
		}
		for _, q := range append(store.CreateLookupIndexes(), "UPDATE journal_state SET lookups = 1") {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: prepare the lookups: %w", err)
	}
	return nil
}

// keyRow is a user's id and the up to three values its keys come from.
type keyRow struct{ id, a, b, c string }

// fillKeyChunk is how many users fillKeys reads before it writes their keys.
const fillKeyChunk = 10_000

// fillKeys writes the keys of every user sel reads (id order, after a given
// id, up to a limit) into a key table, a chunk at a time, in id order: the
// key table's own order, so each chunk appends.
func fillKeys(ctx context.Context, tx *wtx, what, sel, insert string, ncols int, keys func(r keyRow, a []any)) error {
	after := ""
	for {
		var chunk []keyRow
		err := scanAll(ctx, tx, what, sel, []any{after, fillKeyChunk}, func(rows *sql.Rows) (keyRow, error) {
			var r keyRow
			err := rows.Scan(&r.id, &r.a, &r.b, &r.c)
			return r, err
		}, func(r keyRow) error { chunk = append(chunk, r); return nil })
		if err != nil {
			return fmt.Errorf("compute the keys of %s: %w", what, err)
		}
		if len(chunk) == 0 {
			return nil
		}
		err = upsertBatch(ctx, tx, insert, ncols, "", len(chunk), func(i int, a []any) error {
			keys(chunk[i], a)
			return nil
		})
		if err != nil {
			return fmt.Errorf("store the keys of %s: %w", what, err)
		}
		after = chunk[len(chunk)-1].id
	}
}

// lookupsReady reports whether the key tables are kept (PrepareRelated ran
// since the last StopJournal), read through a database or a transaction.
func lookupsReady(ctx context.Context, db interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}) (bool, error) {
	var ready bool
	err := db.QueryRowContext(ctx, "SELECT lookups FROM journal_state").Scan(&ready)
	return ready, err
}

// writeEntraKeys keeps the keys of the users just written, while the key
// tables are kept. An unchanged key is not rewritten.
func writeEntraKeys(ctx context.Context, tx *wtx, users []identity.EntraUser, order []int32) error {
	if ready, err := lookupsReady(ctx, tx); err != nil || !ready {
		return err
	}
	return upsertBatch(ctx, tx, "INSERT INTO entra_user_keys (oid, upn_key, mail_key)", 3,
		`ON CONFLICT (oid) DO UPDATE SET upn_key = excluded.upn_key, mail_key = excluded.mail_key
		WHERE (entra_user_keys.upn_key, entra_user_keys.mail_key) IS NOT (excluded.upn_key, excluded.mail_key)`,
		len(order), func(i int, a []any) error {
			u := &users[order[i]]
			a[0] = u.ObjectID
			a[1], a[2] = store.EntraUserKeys(*u)
			return nil
		})
}

// writeSalesforceKeys is writeEntraKeys for Salesforce users.
func writeSalesforceKeys(ctx context.Context, tx *wtx, users []identity.SalesforceUser, order []int32) error {
	if ready, err := lookupsReady(ctx, tx); err != nil || !ready {
		return err
	}
	return upsertBatch(ctx, tx, "INSERT INTO salesforce_user_keys (id, username_key, email_key, fed_key)", 4,
		`ON CONFLICT (id) DO UPDATE SET username_key = excluded.username_key, email_key = excluded.email_key, fed_key = excluded.fed_key
		WHERE (salesforce_user_keys.username_key, salesforce_user_keys.email_key, salesforce_user_keys.fed_key)
			IS NOT (excluded.username_key, excluded.email_key, excluded.fed_key)`,
		len(order), func(i int, a []any) error {
			u := &users[order[i]]
			a[0] = u.ID
			a[1], a[2], a[3] = store.SalesforceUserKeys(*u)
			return nil
		})
}
