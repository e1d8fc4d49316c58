package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// lockRunSQL locks a run's row while a save numbers its rows. NO KEY: the
// foreign key checks of rows inserted for the run meanwhile (action records
// beside the assessments) take a key-share lock, which FOR UPDATE would
// make wait until the save commits.
const lockRunSQL = "SELECT 1 FROM runs WHERE id = $1 FOR NO KEY UPDATE"

// SaveAssessments appends a run's assessments (after any saved before) in one transaction.
func (s *Store) SaveAssessments(ctx context.Context, runID int64, as []identity.Assessment) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the run so that concurrent saves for it number their rows one after the other.
		if _, err := tx.Exec(ctx, lockRunSQL, runID); err != nil {
			return err
		}
		var next int
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM run_assessments WHERE run_id = $1", runID).Scan(&next); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"run_assessments"},
			[]string{"run_id", "seq", "provider", "situation", "object_id", "upn", "salesforce_user_id", "salesforce_username", "subject", "rule", "detail"},
			pgx.CopyFromSlice(len(as), func(i int) ([]any, error) {
				a := &as[i]
				return []any{runID, int32(next + i), a.Provider, string(a.Situation), a.ObjectID, a.UPN, a.SalesforceUserID,
					a.SalesforceUsername, a.Subject, string(a.Rule), a.Detail}, nil
			}))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: save %d assessments of run %d: %w", len(as), runID, err)
	}
	return nil
}

const assessmentCols = "provider, situation, object_id, upn, salesforce_user_id, salesforce_username, subject, rule, detail"

func scanAssessment(r pgx.Rows) (identity.Assessment, error) {
	var a identity.Assessment
	var sit, rule string
	err := r.Scan(&a.Provider, &sit, &a.ObjectID, &a.UPN, &a.SalesforceUserID, &a.SalesforceUsername, &a.Subject, &rule, &a.Detail)
	a.Situation, a.Rule = identity.Situation(sit), identity.Rule(rule)
	return a, err
}

// ScanAssessments streams a run's assessments, its own in the order they
// were saved, then those it kept of its plan base's.
func (s *Store) ScanAssessments(ctx context.Context, runID int64, fn func(identity.Assessment) error) error {
	return store.MergeAssessments(ctx, s.chain(), runID, nil, fn)
}

// AssessmentsAbout streams a run's assessments about the identities named.
func (s *Store) AssessmentsAbout(ctx context.Context, runID int64, oids, sfs []string, fn func(identity.Assessment) error) error {
	about := store.NewIdentitySet(store.Replaced{ObjectIDs: oids, SalesforceIDs: sfs})
	return store.MergeAssessments(ctx, s.chain(), runID, &about, fn)
}

func (s *Store) chain() store.ChainReader {
	return store.ChainReader{Run: s.GetRun, Own: s.ownAssessments, OwnActions: s.ownActions, Replaced: s.replaced}
}

// ownAssessments streams the assessments run id saved itself; with about,
// only those about its identities (by the lookup index on the identity once
// an incremental plan has built the lookups, else by a scan of the run's
// rows: the planner's statistics choose).
func (s *Store) ownAssessments(ctx context.Context, id int64, about *store.IdentitySet, fn func(identity.Assessment) error) error {
	if about == nil {
		return scanAll(ctx, s.pool, "assessments", "SELECT "+assessmentCols+" FROM run_assessments WHERE run_id = $1 ORDER BY seq",
			[]any{id}, scanAssessment, fn)
	}
	oids, sfs := about.Lists()
	return scanAll(ctx, s.pool, "assessments", "SELECT "+assessmentCols+` FROM run_assessments WHERE run_id = $1
		AND (object_id = ANY($2::text[]) OR (object_id = '' AND salesforce_user_id = ANY($3::text[])))
		ORDER BY seq`, []any{id, nonNil(oids), nonNil(sfs)}, scanAssessment, fn)
}

// nonNil gives pgx an empty array rather than NULL.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// replaced gives add the run_replaced rows of run id.
func (s *Store) replaced(ctx context.Context, id int64, add func(kind, value string)) error {
	return scanAll(ctx, s.pool, "replaced identities", "SELECT kind, value FROM run_replaced WHERE run_id = $1", []any{id},
		func(r pgx.Rows) ([2]string, error) {
			var kv [2]string
			err := r.Scan(&kv[0], &kv[1])
			return kv, err
		}, func(kv [2]string) error { add(kv[0], kv[1]); return nil })
}

// Replace makes run an incremental run on base.
func (s *Store) Replace(ctx context.Context, run, base int64, r store.Replaced) error {
	if base <= 0 || base >= run {
		return fmt.Errorf("postgres: run %d cannot build on run %d: a plan base is an older run", run, base)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE runs SET plan_base = $1 WHERE id = $2", base, run); err != nil {
			return err
		}
		kinds, vals := store.ReplacedRows(r)
		_, err := tx.Exec(ctx, `INSERT INTO run_replaced (run_id, kind, value) SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS u (k, v)
			ON CONFLICT DO NOTHING`, run, kinds, vals)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: record what run %d planned over run %d: %w", run, base, err)
	}
	return nil
}

// SaveActions stores a run's actions keyed by Seq; saving a Seq again replaces
// it (planned -> applied). A zero Seq gets the next free number.
func (s *Store) SaveActions(ctx context.Context, runID int64, actions []identity.ActionRecord) error {
	numbered := !slices.ContainsFunc(actions, func(a identity.ActionRecord) bool { return a.Seq == 0 })
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var next int
		if !numbered {
			// Lock the run so that concurrent saves number their records one
			// after the other. Records that carry their Seq (Apply's) need no
			// number, and then do not wait for the run's assessment saves.
			if _, err := tx.Exec(ctx, lockRunSQL, runID); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM run_actions WHERE run_id = $1", runID).Scan(&next); err != nil {
				return err
			}
			for _, a := range actions {
				next = max(next, a.Seq+1)
			}
		}
		// One statement over arrays, not one per record: a backfill saves
		// a quarter of a million records in one call.
		var c actionColumns
		at := map[int]int{} // seq -> its row in c: saving a Seq twice keeps the later record, as one upsert after the other would
		for i := range actions {
			r := &actions[i]
			if r.Seq < 0 {
				return fmt.Errorf("action %d: negative seq %d", i, r.Seq)
			}
			seq := r.Seq
			if seq == 0 {
				seq = next
				next++
			}
			if k, dup := at[seq]; dup {
				c.set(k, seq, r)
				continue
			}
			at[seq] = c.add(seq, r)
		}
		_, err := tx.Exec(ctx, `INSERT INTO run_actions (run_id, seq, kind, provider, subject, salesforce_user_id,
			object_id, tenant_id, rule, status, link_reason, link_updated_at, flag, reason, state, error)
			SELECT $1, u.* FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
				$9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::text[], $14::text[], $15::text[], $16::text[]) AS u
			ON CONFLICT (run_id, seq) DO UPDATE SET kind = excluded.kind, provider = excluded.provider, subject = excluded.subject,
				salesforce_user_id = excluded.salesforce_user_id, object_id = excluded.object_id, tenant_id = excluded.tenant_id,
				rule = excluded.rule, status = excluded.status, link_reason = excluded.link_reason,
				link_updated_at = excluded.link_updated_at, flag = excluded.flag, reason = excluded.reason,
				state = excluded.state, error = excluded.error`,
			runID, c.seq, c.kind, c.provider, c.subject, c.sf, c.oid, c.tid, c.rule, c.status, c.linkReason, c.updated,
			c.flag, c.reason, c.state, c.err)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: save %d actions of run %d: %w", len(actions), runID, err)
	}
	return nil
}

// actionColumns are action records as the columns of run_actions.
type actionColumns struct {
	seq                                                                   []int32
	kind, provider, subject, sf, oid, tid, rule, status, linkReason, flag []string
	reason, state, err                                                    []string
	updated                                                               []pgtype.Timestamptz
}

// add appends r as seq and returns its row.
func (c *actionColumns) add(seq int, r *identity.ActionRecord) int {
	k := len(c.seq)
	for _, col := range []*[]string{&c.kind, &c.provider, &c.subject, &c.sf, &c.oid, &c.tid, &c.rule, &c.status, &c.linkReason, &c.flag, &c.reason, &c.state, &c.err} {
		*col = append(*col, "")
	}
	c.seq, c.updated = append(c.seq, 0), append(c.updated, pgtype.Timestamptz{})
	c.set(k, seq, r)
	return k
}

func (c *actionColumns) set(k, seq int, r *identity.ActionRecord) {
	a, l := &r.Action, &r.Action.Link
	c.seq[k], c.kind[k], c.provider[k], c.subject[k], c.sf[k] = int32(seq), string(a.Kind), l.Provider, l.Subject, l.SalesforceUserID
	c.oid[k], c.tid[k], c.rule[k], c.status[k], c.linkReason[k] = l.ObjectID, l.TenantID, string(l.Rule), string(l.Status), l.Reason
	c.updated[k], c.flag[k], c.reason[k], c.state[k], c.err[k] = ts(l.UpdatedAt), a.Flag, a.Reason, r.State, r.Error
}

// ScanActions streams a run's actions: its own in Seq order, then the
// flags it kept of its plan base's.
func (s *Store) ScanActions(ctx context.Context, runID int64, fn func(identity.ActionRecord) error) error {
	return store.MergeActions(ctx, s.chain(), runID, nil, fn)
}

// ActionsAbout streams a run's actions about the identities named.
func (s *Store) ActionsAbout(ctx context.Context, runID int64, r store.Replaced, fn func(identity.ActionRecord) error) error {
	about := store.NewIdentitySet(r)
	return store.MergeActions(ctx, s.chain(), runID, &about, fn)
}

// ListActions returns what ScanActions streams.
func (s *Store) ListActions(ctx context.Context, runID int64) ([]identity.ActionRecord, error) {
	var out []identity.ActionRecord
	err := s.ScanActions(ctx, runID, func(r identity.ActionRecord) error { out = append(out, r); return nil })
	return out, err
}

// ownActions streams the actions run id saved itself, in Seq order; with
// flagsOnly, only its flags.
func (s *Store) ownActions(ctx context.Context, id int64, flagsOnly bool, about *store.IdentitySet, fn func(identity.ActionRecord) error) error {
	q := `SELECT seq, kind, provider, subject, salesforce_user_id, object_id, tenant_id,
		rule, status, link_reason, link_updated_at, flag, reason, state, error FROM run_actions WHERE run_id = $1`
	args := []any{id}
	if flagsOnly {
		q += " AND kind = '" + string(identity.ActionFlag) + "'"
	}
	if about != nil {
		// A superset, which MergeActions narrows: a subject of any
		// provider, and every object id not spelled canonically.
		subjects, sfs, oids := about.ActionKeys()
		q += ` AND (subject = ANY($2::text[]) OR salesforce_user_id = ANY($3::text[]) OR object_id = ANY($4::text[])
			OR (object_id <> '' AND NOT (length(object_id) = 36 AND object_id = lower(object_id))))`
		args = append(args, nonNil(subjects), nonNil(sfs), nonNil(oids))
	}
	return scanAll(ctx, s.pool, "actions", q+" ORDER BY seq", args,
		func(rows pgx.Rows) (identity.ActionRecord, error) {
			var r identity.ActionRecord
			var kind, rule, status string
			var upd pgtype.Timestamptz
			a, l := &r.Action, &r.Action.Link
			err := rows.Scan(&r.Seq, &kind, &l.Provider, &l.Subject, &l.SalesforceUserID, &l.ObjectID, &l.TenantID,
				&rule, &status, &l.Reason, &upd, &a.Flag, &a.Reason, &r.State, &r.Error)
			a.Kind, l.Rule, l.Status, l.UpdatedAt = identity.ActionKind(kind), identity.Rule(rule), identity.LinkStatus(status), fromTS(upd)
			return r, err
		}, fn)
}
