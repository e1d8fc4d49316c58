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
	err := s.write(ctx, func(tx *sql.Tx) error {
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

// StopJournal turns the journal off, empties it and drops the lookup indexes.
func (s *Store) StopJournal(ctx context.Context) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range append([]string{"UPDATE journal_state SET valid_from = NULL", "DELETE FROM plan_journal"}, store.DropLookupIndexes()...) {
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
	steps := []func() error{
		func() error {
			return related(ctx, s.r, "related entra users", "SELECT "+entraCols+" FROM entra_users", []lookup{
				inList("oid", q.ObjectIDs), inList("upn_key", q.UPNs), inList("mail_key", q.Emails)}, scanEntra, &r.Entra)
		},
		func() error {
			return related(ctx, s.r, "related salesforce users", "SELECT "+sfCols+" FROM salesforce_users", []lookup{
				inList("id", q.SalesforceIDs), inList("fed_key", q.ObjectIDs), inList("username_key", q.Usernames),
				inList("email_key", q.Emails)}, scanSalesforceUser, &r.Salesforce)
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

// journalVersion is the migration that added the key columns fillKeys fills.
const journalVersion = 4

// fillKeys computes the key columns of the rows written before migration
// journalVersion, in the migration's transaction, a chunk at a time.
func fillKeys(ctx context.Context, tx *sql.Tx) error {
	type row struct{ id, a, b, c string }
	fill := func(what, sel, upd string, keys func(r row) []any) error {
		for {
			rows, err := tx.QueryContext(ctx, sel+" LIMIT 10000")
			if err != nil {
				return fmt.Errorf("fill the keys of %s: %w", what, err)
			}
			var chunk []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.a, &r.b, &r.c); err != nil {
					rows.Close()
					return fmt.Errorf("fill the keys of %s: %w", what, err)
				}
				chunk = append(chunk, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("fill the keys of %s: %w", what, err)
			}
			if len(chunk) == 0 {
				return nil
			}
			for _, r := range chunk {
				if _, err := tx.ExecContext(ctx, upd, append(keys(r), r.id)...); err != nil {
					return fmt.Errorf("fill the keys of %s: %w", what, err)
				}
			}
		}
	}
	err := fill("entra users", "SELECT oid, upn, mail, '' FROM entra_users WHERE upn_key IS NULL",
		"UPDATE entra_users SET upn_key = ?, mail_key = ? WHERE oid = ?",
		func(r row) []any { return []any{identity.FoldKey(r.a), identity.FoldKey(r.b)} })
	if err != nil {
		return err
	}
	return fill("salesforce users", "SELECT id, username, email, federation_identifier FROM salesforce_users WHERE username_key IS NULL",
		"UPDATE salesforce_users SET username_key = ?, email_key = ?, fed_key = ? WHERE id = ?",
		func(r row) []any {
			u, e, f := store.SalesforceUserKeys(identity.SalesforceUser{Username: r.a, Email: r.b, FederationIdentifier: r.c})
			return []any{u, e, f}
		})
}

// CountLinks counts idlink's links in a status.
func (s *Store) CountLinks(ctx context.Context, status identity.LinkStatus) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM links WHERE status = ?", string(status)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count %s links: %w", status, err)
	}
	return n, nil
}

// PrepareRelated creates the lookup indexes a backfill dropped.
func (s *Store) PrepareRelated(ctx context.Context) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range store.CreateLookupIndexes() {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: create the lookup indexes: %w", err)
	}
	return nil
}
