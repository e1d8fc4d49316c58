package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// SaveAssessments appends a run's assessments (after any saved before) in one transaction.
func (s *Store) SaveAssessments(ctx context.Context, runID int64, as []identity.Assessment) error {
	err := s.write(ctx, func(tx *wtx) error {
		var next int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM run_assessments WHERE run_id = ?", runID).Scan(&next); err != nil {
			return err
		}
		return upsertBatch(ctx, tx, `INSERT INTO run_assessments (run_id, seq, provider, situation, object_id, upn,
			salesforce_user_id, salesforce_username, subject, rule, detail)`, 11, "", len(as),
			func(i int, v []any) error {
				a := &as[i]
				v[0], v[1], v[2], v[3], v[4], v[5] = runID, next+i, a.Provider, string(a.Situation), a.ObjectID, a.UPN
				v[6], v[7], v[8], v[9], v[10] = a.SalesforceUserID, a.SalesforceUsername, a.Subject, string(a.Rule), a.Detail
				return nil
			})
	})
	if err != nil {
		return fmt.Errorf("sqlite: save %d assessments of run %d: %w", len(as), runID, err)
	}
	return nil
}

const assessmentCols = "provider, situation, object_id, upn, salesforce_user_id, salesforce_username, subject, rule, detail"

func scanAssessment(rows *sql.Rows) (identity.Assessment, error) {
	var a identity.Assessment
	var sit, rule string
	err := rows.Scan(&a.Provider, &sit, &a.ObjectID, &a.UPN, &a.SalesforceUserID, &a.SalesforceUsername, &a.Subject, &rule, &a.Detail)
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
// only those about its identities: by the lookup index on the identity when
// the lookups are built (an incremental plan builds them first), else by a
// scan of the run's rows. SQLite has no statistics to prefer the index over
// the primary key's order, so it is named.
func (s *Store) ownAssessments(ctx context.Context, id int64, about *store.IdentitySet, fn func(identity.Assessment) error) error {
	if about == nil {
		return scanAll(ctx, s.r, "assessments", "SELECT "+assessmentCols+" FROM run_assessments WHERE run_id = ? ORDER BY seq",
			[]any{id}, scanAssessment, fn)
	}
	oidList, sfList := about.Lists()
	oids, err := json.Marshal(nonNil(oidList))
	if err != nil {
		return err
	}
	sfs, err := json.Marshal(nonNil(sfList))
	if err != nil {
		return err
	}
	var indexed bool
	err = s.r.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'run_assessments_identity')").Scan(&indexed)
	if err != nil {
		return fmt.Errorf("sqlite: read assessments: %w", err)
	}
	q := "SELECT " + assessmentCols + ` FROM run_assessments WHERE run_id = ?1
		AND (object_id IN (SELECT value FROM json_each(?2)) OR (object_id = '' AND salesforce_user_id IN (SELECT value FROM json_each(?3))))
		ORDER BY seq`
	if indexed {
		// The same rows, each branch by the index: a row without an object
		// id is found by its Salesforce user unless "" is a named object id.
		q = "SELECT " + assessmentCols + ` FROM (
			SELECT seq, ` + assessmentCols + ` FROM run_assessments INDEXED BY run_assessments_identity
				WHERE run_id = ?1 AND object_id IN (SELECT value FROM json_each(?2))
			UNION ALL
			SELECT seq, ` + assessmentCols + ` FROM run_assessments INDEXED BY run_assessments_identity
				WHERE run_id = ?1 AND object_id = '' AND salesforce_user_id IN (SELECT value FROM json_each(?3))
				AND NOT EXISTS (SELECT 1 FROM json_each(?2) WHERE value = ''))
			ORDER BY seq`
	}
	return scanAll(ctx, s.r, "assessments", q, []any{id, string(oids), string(sfs)}, scanAssessment, fn)
}

// replaced gives add the run_replaced rows of run id.
func (s *Store) replaced(ctx context.Context, id int64, add func(kind, value string)) error {
	return scanAll(ctx, s.r, "replaced identities", "SELECT kind, value FROM run_replaced WHERE run_id = ?", []any{id},
		func(rows *sql.Rows) ([2]string, error) {
			var kv [2]string
			err := rows.Scan(&kv[0], &kv[1])
			return kv, err
		}, func(kv [2]string) error { add(kv[0], kv[1]); return nil })
}

// Replace makes run an incremental run on base.
func (s *Store) Replace(ctx context.Context, run, base int64, r store.Replaced) error {
	if base <= 0 || base >= run {
		return fmt.Errorf("sqlite: run %d cannot build on run %d: a plan base is an older run", run, base)
	}
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE runs SET plan_base = ? WHERE id = ?", base, run); err != nil {
			return err
		}
		kinds, vals := store.ReplacedRows(r)
		return upsertBatch(ctx, tx, "INSERT INTO run_replaced (run_id, kind, value)", 3, "ON CONFLICT DO NOTHING", len(vals),
			func(i int, a []any) error {
				a[0], a[1], a[2] = run, kinds[i], vals[i]
				return nil
			})
	})
	if err != nil {
		return fmt.Errorf("sqlite: record what run %d planned over run %d: %w", run, base, err)
	}
	return nil
}

// SaveActions stores a run's actions keyed by Seq; saving a Seq again replaces
// it (planned -> applied). A zero Seq gets the next free number.
func (s *Store) SaveActions(ctx context.Context, runID int64, actions []identity.ActionRecord) error {
	err := s.write(ctx, func(tx *wtx) error {
		var next int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM run_actions WHERE run_id = ?", runID).Scan(&next); err != nil {
			return err
		}
		for _, a := range actions {
			next = max(next, a.Seq+1)
		}
		return upsertBatch(ctx, tx, `INSERT INTO run_actions (run_id, seq, kind, provider, subject, salesforce_user_id,
			object_id, tenant_id, rule, status, link_reason, link_updated_at, flag, reason, state, error)`, 16,
			`ON CONFLICT (run_id, seq) DO UPDATE SET kind = excluded.kind, provider = excluded.provider, subject = excluded.subject,
				salesforce_user_id = excluded.salesforce_user_id, object_id = excluded.object_id, tenant_id = excluded.tenant_id,
				rule = excluded.rule, status = excluded.status, link_reason = excluded.link_reason,
				link_updated_at = excluded.link_updated_at, flag = excluded.flag, reason = excluded.reason,
				state = excluded.state, error = excluded.error`,
			len(actions), func(i int, v []any) error {
				r := &actions[i]
				if r.Seq < 0 {
					return fmt.Errorf("action %d: negative seq %d", i, r.Seq)
				}
				seq := r.Seq
				if seq == 0 {
					seq = next
					next++
				}
				a, l := &r.Action, &r.Action.Link
				v[0], v[1], v[2], v[3], v[4], v[5] = runID, seq, string(a.Kind), l.Provider, l.Subject, l.SalesforceUserID
				v[6], v[7], v[8], v[9], v[10], v[11] = l.ObjectID, l.TenantID, string(l.Rule), string(l.Status), l.Reason, fmtNullTime(l.UpdatedAt)
				v[12], v[13], v[14], v[15] = a.Flag, a.Reason, r.State, r.Error
				return nil
			})
	})
	if err != nil {
		return fmt.Errorf("sqlite: save %d actions of run %d: %w", len(actions), runID, err)
	}
	return nil
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
		rule, status, link_reason, link_updated_at, flag, reason, state, error FROM run_actions WHERE run_id = ?1`
	args := []any{id}
	if flagsOnly {
		q += " AND kind = '" + string(identity.ActionFlag) + "'"
	}
	if about != nil {
		// A superset, which MergeActions narrows: a subject of any
		// provider, and every object id not spelled canonically.
		subjects, sfs, oids := about.ActionKeys()
		lists := make([]any, 3)
		for i, l := range [][]string{subjects, sfs, oids} {
			b, err := json.Marshal(nonNil(l))
			if err != nil {
				return err
			}
			lists[i] = string(b)
		}
		q += ` AND (subject IN (SELECT value FROM json_each(?2)) OR salesforce_user_id IN (SELECT value FROM json_each(?3))
			OR object_id IN (SELECT value FROM json_each(?4)) OR (object_id <> '' AND NOT (length(object_id) = 36 AND object_id = lower(object_id))))`
		args = append(args, lists...)
	}
	return scanAll(ctx, s.r, "actions", q+" ORDER BY seq", args,
		func(rows *sql.Rows) (identity.ActionRecord, error) {
			var r identity.ActionRecord
			var kind, rule, status string
			var upd sql.NullString
			a, l := &r.Action, &r.Action.Link
			if err := rows.Scan(&r.Seq, &kind, &l.Provider, &l.Subject, &l.SalesforceUserID, &l.ObjectID, &l.TenantID,
				&rule, &status, &l.Reason, &upd, &a.Flag, &a.Reason, &r.State, &r.Error); err != nil {
				return r, err
			}
			a.Kind, l.Rule, l.Status = identity.ActionKind(kind), identity.Rule(rule), identity.LinkStatus(status)
			var err error
			l.UpdatedAt, err = parseNullTime(upd)
			return r, err
		}, fn)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
