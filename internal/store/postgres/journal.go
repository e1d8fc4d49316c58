package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// JournalState reports from which sequence number on the plan journal is complete.
func (s *Store) JournalState(ctx context.Context) (int64, bool, error) {
	var v *int64
	if err := s.pool.QueryRow(ctx, "SELECT valid_from FROM journal_state").Scan(&v); err != nil {
		return 0, false, fmt.Errorf("postgres: read the plan journal's state: %w", err)
	}
	if v == nil {
		return 0, false, nil
	}
	return *v, true, nil
}

// lockJournal waits until every transaction that wrote to the journal has
// ended and keeps new writes out until tx ends. Unlike SQLite's single
// writer, PostgreSQL's writers take sequence numbers in one order and commit
// in another: without the lock a reader could see seq 10 committed, move
// past it, and never see seq 9 committed a moment later. A number is only
// taken by an INSERT into plan_journal, which holds ROW EXCLUSIVE on it
// until commit; SHARE conflicts with that.
func lockJournal(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "LOCK TABLE plan_journal IN SHARE MODE")
	return err
}

// StartJournal turns the journal on and returns the newest sequence number.
// Turning it on journals an empty change whose number the journal is complete
// from, so that the number is never 0 (0 means "no position").
func (s *Store) StartJournal(ctx context.Context) (int64, error) {
	var last int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var on bool
		if err := tx.QueryRow(ctx, "SELECT valid_from IS NOT NULL FROM journal_state").Scan(&on); err != nil {
			return err
		}
		if !on {
			// Every write reads journal_state in its trigger and holds that
			// lock until it commits: waiting for them all means no write that
			// saw the journal off commits after it is on.
			if _, err := tx.Exec(ctx, "LOCK TABLE journal_state IN ACCESS EXCLUSIVE MODE"); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "INSERT INTO plan_journal DEFAULT VALUES RETURNING seq").Scan(&last); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "UPDATE journal_state SET valid_from = $1", last)
			return err
		}
		if err := lockJournal(ctx, tx); err != nil {
			return err
		}
		// The identity sequence keeps the largest number it handed out, also
		// after the rows are trimmed.
		return tx.QueryRow(ctx, "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('plan_journal', 'seq')::regclass), 0)").Scan(&last)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: start the plan journal: %w", err)
	}
	return last, nil
}

// StopJournal turns the journal off, empties it and drops the lookup indexes.
func (s *Store) StopJournal(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range append([]string{"UPDATE journal_state SET valid_from = NULL", "DELETE FROM plan_journal"}, store.DropLookupIndexes()...) {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: stop the plan journal: %w", err)
	}
	return nil
}

const changeCols = "seq, object_id, upn, mail, salesforce_id, username, email, federation_id, provider, subject, other_object"

// ReadJournal returns up to limit changes after sequence number after.
func (s *Store) ReadJournal(ctx context.Context, after int64, limit int) ([]identity.Change, error) {
	var lim any = limit
	if limit < 0 {
		lim = nil // no limit, as SQLite reads a negative LIMIT
	}
	var out []identity.Change
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockJournal(ctx, tx); err != nil {
			return fmt.Errorf("postgres: read the plan journal: %w", err)
		}
		return scanAll(ctx, tx, "plan journal", "SELECT "+changeCols+" FROM plan_journal WHERE seq > $1 ORDER BY seq LIMIT $2",
			[]any{after, lim}, func(r pgx.Rows) (identity.Change, error) {
				var c identity.Change
				err := r.Scan(&c.Seq, &c.ObjectID, &c.UPN, &c.Mail, &c.SalesforceID, &c.Username, &c.Email,
					&c.FederationIdentifier, &c.Provider, &c.Subject, &c.OtherObject)
				return c, err
			}, func(c identity.Change) error { out = append(out, c); return nil })
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TrimJournal deletes the changes up to and including through.
func (s *Store) TrimJournal(ctx context.Context, through int64) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM plan_journal WHERE seq <= $1", through); err != nil {
		return fmt.Errorf("postgres: trim the plan journal through %d: %w", through, err)
	}
	return nil
}

// lookup is one indexed condition of a Related query: column = ANY(list),
// or (provider, subject column) IN the pairs of two parallel lists. cond
// gives the condition with its parameters numbered from p on; nil when the
// list is empty.
type lookup struct {
	cond func(p int) string
	args []any
}

func inList(col string, vals []string) lookup {
	if len(vals) == 0 {
		return lookup{}
	}
	return lookup{func(p int) string { return fmt.Sprintf("%s = ANY($%d::text[])", col, p) }, []any{vals}}
}

func inSubjects(subCol string, keys []identity.LinkKey) lookup {
	if len(keys) == 0 {
		return lookup{}
	}
	prov, sub := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		prov[i], sub[i] = k.Provider, k.Subject
	}
	return lookup{func(p int) string {
		return fmt.Sprintf("(provider, %s) IN (SELECT * FROM unnest($%d::text[], $%d::text[]))", subCol, p, p+1)
	}, []any{prov, sub}}
}

// related appends to out the rows of one table that meet any of the
// lookups: one indexed query per lookup, united (UNION drops repeats).
func related[T any](ctx context.Context, db querier, what, selectFrom string, lookups []lookup, scan func(pgx.Rows) (T, error), out *[]T) error {
	var parts []string
	var args []any
	for _, l := range lookups {
		if l.cond == nil {
			continue
		}
		parts = append(parts, selectFrom+" WHERE "+l.cond(len(args)+1))
		args = append(args, l.args...)
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
			return related(ctx, s.pool, "related entra users", "SELECT "+entraCols+" FROM entra_users", []lookup{
				inList("oid", q.ObjectIDs), inList("upn_key", q.UPNs), inList("mail_key", q.Emails)},
				func(r pgx.Rows) (identity.EntraUser, error) { return scanEntra(r) }, &r.Entra)
		},
		func() error {
			return related(ctx, s.pool, "related salesforce users", "SELECT "+sfCols+" FROM salesforce_users", []lookup{
				inList("id", q.SalesforceIDs), inList("fed_key", q.ObjectIDs), inList("username_key", q.Usernames),
				inList("email_key", q.Emails)}, scanSalesforceUser, &r.Salesforce)
		},
		func() error {
			return related(ctx, s.pool, "related account links", "SELECT "+accountLinkCols+" FROM account_links", []lookup{
				inSubjects("remote_identifier", q.Subjects), inList("user_id", q.SalesforceIDs)}, scanAccountLink, &r.AccountLinks)
		},
		func() error {
			return related(ctx, s.pool, "related Identity_Link__c rows", "SELECT "+linkCols+", store_id FROM remote_links",
				linkLookups(q), scanRemoteLink, &r.RemoteLinks)
		},
		func() error {
			return related(ctx, s.pool, "related links", "SELECT "+linkCols+" FROM links", linkLookups(q), scanLink, &r.Links)
		},
		func() error {
			return related(ctx, s.pool, "related observations", "SELECT "+obsCols+" FROM observations", []lookup{
				inSubjects("subject", q.Subjects), inList("object_id", q.ObjectIDs)},
				func(r pgx.Rows) (identity.Observation, error) { return scanObservation(r) }, &r.Observations)
		},
		func() error {
			return related(ctx, s.pool, "related observation conflicts", "SELECT "+conflictCols+" FROM observation_conflicts", []lookup{
				inSubjects("subject", q.Subjects), inList("object_id", q.ObjectIDs), inList("other_object_id", q.ObjectIDs)},
				scanConflict, &r.Conflicts)
		},
		func() error {
			return related(ctx, s.pool, "related decisions", "SELECT "+decisionCols+" FROM decisions", []lookup{
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

// fillKeyChunk is how many rows fillKeys reads and updates per statement.
const fillKeyChunk = 10000

// fillKeys computes the key columns of the rows written before migration
// journalVersion, in the migration's transaction, a chunk at a time (in
// primary key order, each chunk written by one UPDATE ... FROM unnest; a
// filled row no longer matches, so the next chunk starts at the last key).
func fillKeys(ctx context.Context, tx pgx.Tx) error {
	fill := func(what, sel, upd string, keys func(id, a, b, c string) []string) error {
		after := ""
		for {
			rows, err := tx.Query(ctx, sel, after, fillKeyChunk)
			if err != nil {
				return fmt.Errorf("fill the keys of %s: %w", what, err)
			}
			var ids []string
			var cols [][]string
			for rows.Next() {
				var id, a, b, c string
				if err := rows.Scan(&id, &a, &b, &c); err != nil {
					rows.Close()
					return fmt.Errorf("fill the keys of %s: %w", what, err)
				}
				ks := keys(id, a, b, c)
				if cols == nil {
					cols = make([][]string, len(ks))
				}
				for i, k := range ks {
					cols[i] = append(cols[i], k)
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("fill the keys of %s: %w", what, err)
			}
			if len(ids) == 0 {
				return nil
			}
			args := []any{ids}
			for _, c := range cols {
				args = append(args, c)
			}
			if _, err := tx.Exec(ctx, upd, args...); err != nil {
				return fmt.Errorf("fill the keys of %s: %w", what, err)
			}
			after = ids[len(ids)-1]
		}
	}
	err := fill("entra users", "SELECT oid, upn, mail, '' FROM entra_users WHERE upn_key IS NULL AND oid >= $1 ORDER BY oid LIMIT $2",
		`UPDATE entra_users AS t SET upn_key = k.upn_key, mail_key = k.mail_key
			FROM unnest($1::text[], $2::text[], $3::text[]) AS k (oid, upn_key, mail_key) WHERE t.oid = k.oid`,
		func(_, upn, mail, _ string) []string { return []string{identity.FoldKey(upn), identity.FoldKey(mail)} })
	if err != nil {
		return err
	}
	return fill("salesforce users", `SELECT id, username, email, federation_identifier FROM salesforce_users
			WHERE username_key IS NULL AND id >= $1 ORDER BY id LIMIT $2`,
		`UPDATE salesforce_users AS t SET username_key = k.username_key, email_key = k.email_key, fed_key = k.fed_key
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k (id, username_key, email_key, fed_key) WHERE t.id = k.id`,
		func(_, username, email, fed string) []string {
			u, e, f := store.SalesforceUserKeys(identity.SalesforceUser{Username: username, Email: email, FederationIdentifier: fed})
			return []string{u, e, f}
		})
}

// CountLinks counts idlink's links in a status.
func (s *Store) CountLinks(ctx context.Context, status identity.LinkStatus) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM links WHERE status = $1", string(status)).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count %s links: %w", status, err)
	}
	return n, nil
}

// PrepareRelated creates the lookup indexes a backfill dropped.
func (s *Store) PrepareRelated(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range store.CreateLookupIndexes() {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: create the lookup indexes: %w", err)
	}
	return nil
}
