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

// StopJournal turns the journal off, empties it and drops the lookup indexes
// and the users' keys.
func (s *Store) StopJournal(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		qs := append([]string{"UPDATE journal_state SET valid_from = NULL, lookups = false", "DELETE FROM plan_journal"}, store.DropLookupIndexes()...)
		for _, q := range append(qs, "TRUNCATE entra_user_keys, salesforce_user_keys") {
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

// inKeys finds users by a key of their key table (idCol names the user's id
// in both).
func inKeys(idCol, keyTable, keyCol string, vals []string) lookup {
	if len(vals) == 0 {
		return lookup{}
	}
	return lookup{func(p int) string {
		return fmt.Sprintf("%s IN (SELECT %s FROM %s WHERE %s = ANY($%d::text[]))", idCol, idCol, keyTable, keyCol, p)
	}, []any{vals}}
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
	ready, err := lookupsReady(ctx, s.pool)
	if err != nil {
		return r, fmt.Errorf("postgres: related records: %w", err)
	}
	if !ready {
		return r, fmt.Errorf("postgres: related records: %w", store.ErrLookupsNotPrepared)
	}
	steps := []func() error{
		func() error {
			return related(ctx, s.pool, "related entra users", "SELECT "+entraCols+" FROM entra_users", []lookup{
				inList("oid", q.ObjectIDs), inKeys("oid", "entra_user_keys", "upn_key", q.UPNs),
				inKeys("oid", "entra_user_keys", "mail_key", q.Emails)},
				func(r pgx.Rows) (identity.EntraUser, error) { return scanEntra(r) }, &r.Entra)
		},
		func() error {
			return related(ctx, s.pool, "related salesforce users", "SELECT "+sfCols+" FROM salesforce_users", []lookup{
				inList("id", q.SalesforceIDs), inKeys("id", "salesforce_user_keys", "fed_key", q.ObjectIDs),
				inKeys("id", "salesforce_user_keys", "username_key", q.Usernames),
				inKeys("id", "salesforce_user_keys", "email_key", q.Emails)}, scanSalesforceUser, &r.Salesforce)
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

// CountLinks counts idlink's links in a status.
func (s *Store) CountLinks(ctx context.Context, status identity.LinkStatus) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM links WHERE status = $1", string(status)).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count %s links: %w", status, err)
	}
	return n, nil
}

// PrepareRelated computes the keys of every user and creates the lookup
// indexes, unless they are there: a backfill dropped them (StopJournal).
// Only the job writes users, and it is the caller, so no user write runs
// beside it.
func (s *Store) PrepareRelated(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var ready bool
		if err := tx.QueryRow(ctx, "SELECT lookups FROM journal_state FOR UPDATE").Scan(&ready); err != nil {
			return err
		}
		if ready {
			return nil
		}
		if _, err := tx.Exec(ctx, "TRUNCATE entra_user_keys, salesforce_user_keys"); err != nil {
			return err
		}
		err := fillKeys(ctx, tx, "entra users", "SELECT oid, upn, mail, '' FROM entra_users WHERE oid > $1 ORDER BY oid LIMIT $2",
			"INSERT INTO entra_user_keys (oid, upn_key, mail_key) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
			func(_, upn, mail, _ string) []string {
				u, m := store.EntraUserKeys(identity.EntraUser{UPN: upn, Mail: mail})
				return []string{u, m}
			})
		if err != nil {
			return err
		}
		err = fillKeys(ctx, tx, "salesforce users", "SELECT id, username, email, federation_identifier FROM salesforce_users WHERE id > $1 ORDER BY id LIMIT $2",
			"INSERT INTO salesforce_user_keys (id, username_key, email_key, fed_key) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
			func(_, username, email, fed string) []string {
				u, e, f := store.SalesforceUserKeys(identity.SalesforceUser{Username: username, Email: email, FederationIdentifier: fed})
				return []string{u, e, f}
			})
		if err != nil {
			return err
		}
		for _, q := range append(store.CreateLookupIndexes(), "UPDATE journal_state SET lookups = true") {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: prepare the lookups: %w", err)
	}
	return nil
}

// fillKeyChunk is how many users fillKeys reads and writes per statement.
const fillKeyChunk = 10000

// fillKeys writes the keys of every user sel reads (id order, after a given
// id, up to a limit) into a key table, a chunk at a time, each chunk by one
// INSERT ... SELECT FROM unnest of the id and the keys.
func fillKeys(ctx context.Context, tx pgx.Tx, what, sel, insert string, keys func(id, a, b, c string) []string) error {
	after := ""
	for {
		rows, err := tx.Query(ctx, sel, after, fillKeyChunk)
		if err != nil {
			return fmt.Errorf("compute the keys of %s: %w", what, err)
		}
		var ids []string
		var cols [][]string
		for rows.Next() {
			var id, a, b, c string
			if err := rows.Scan(&id, &a, &b, &c); err != nil {
				rows.Close()
				return fmt.Errorf("compute the keys of %s: %w", what, err)
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
			return fmt.Errorf("compute the keys of %s: %w", what, err)
		}
		if len(ids) == 0 {
			return nil
		}
		args := []any{ids}
		for _, c := range cols {
			args = append(args, c)
		}
		if _, err := tx.Exec(ctx, insert, args...); err != nil {
			return fmt.Errorf("store the keys of %s: %w", what, err)
		}
		after = ids[len(ids)-1]
	}
}

// lookupsReady reports whether the key tables are kept (PrepareRelated ran
// since the last StopJournal), read through the pool or a transaction.
func lookupsReady(ctx context.Context, db interface {
	QueryRow(ctx context.Context, q string, args ...any) pgx.Row
}) (bool, error) {
	var ready bool
	err := db.QueryRow(ctx, "SELECT lookups FROM journal_state").Scan(&ready)
	return ready, err
}

// writeEntraKeys keeps the keys of the users just written, while the key
// tables are kept. An unchanged key is not rewritten.
func writeEntraKeys(ctx context.Context, tx pgx.Tx, users []identity.EntraUser, order []int32) error {
	if ready, err := lookupsReady(ctx, tx); err != nil || !ready || len(order) == 0 {
		return err
	}
	oids, upnKeys, mailKeys := make([]string, len(order)), make([]string, len(order)), make([]string, len(order))
	for i, j := range order {
		oids[i] = users[j].ObjectID
		upnKeys[i], mailKeys[i] = store.EntraUserKeys(users[j])
	}
	_, err := tx.Exec(ctx, `INSERT INTO entra_user_keys AS t (oid, upn_key, mail_key)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
		ON CONFLICT (oid) DO UPDATE SET upn_key = excluded.upn_key, mail_key = excluded.mail_key
		WHERE (t.upn_key, t.mail_key) IS DISTINCT FROM (excluded.upn_key, excluded.mail_key)`, oids, upnKeys, mailKeys)
	return err
}

// writeSalesforceKeys is writeEntraKeys for Salesforce users.
func writeSalesforceKeys(ctx context.Context, tx pgx.Tx, users []identity.SalesforceUser, order []int32) error {
	if ready, err := lookupsReady(ctx, tx); err != nil || !ready || len(order) == 0 {
		return err
	}
	ids, un, em, fed := make([]string, len(order)), make([]string, len(order)), make([]string, len(order)), make([]string, len(order))
	for i, j := range order {
		ids[i] = users[j].ID
		un[i], em[i], fed[i] = store.SalesforceUserKeys(users[j])
	}
	_, err := tx.Exec(ctx, `INSERT INTO salesforce_user_keys AS t (id, username_key, email_key, fed_key)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
		ON CONFLICT (id) DO UPDATE SET username_key = excluded.username_key, email_key = excluded.email_key, fed_key = excluded.fed_key
		WHERE (t.username_key, t.email_key, t.fed_key) IS DISTINCT FROM (excluded.username_key, excluded.email_key, excluded.fed_key)`,
		ids, un, em, fed)
	return err
}
