package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/idlinkhq/idlink/internal/identity"
)

// SaveAssessments appends a run's assessments (after any saved before) in one transaction.
func (s *Store) SaveAssessments(ctx context.Context, runID int64, as []identity.Assessment) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
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

// ScanAssessments streams a run's assessments in the order they were saved.
func (s *Store) ScanAssessments(ctx context.Context, runID int64, fn func(identity.Assessment) error) error {
	return scanAll(ctx, s.r, "assessments", `SELECT provider, situation, object_id, upn, salesforce_user_id,
		salesforce_username, subject, rule, detail FROM run_assessments WHERE run_id = ? ORDER BY seq`, []any{runID},
		func(rows *sql.Rows) (identity.Assessment, error) {
			var a identity.Assessment
			var sit, rule string
			err := rows.Scan(&a.Provider, &sit, &a.ObjectID, &a.UPN, &a.SalesforceUserID, &a.SalesforceUsername, &a.Subject, &rule, &a.Detail)
			a.Situation, a.Rule = identity.Situation(sit), identity.Rule(rule)
			return a, err
		}, fn)
}

// SaveActions stores a run's actions keyed by Seq; saving a Seq again replaces
// it (planned -> applied). A zero Seq gets the next free number.
func (s *Store) SaveActions(ctx context.Context, runID int64, actions []identity.ActionRecord) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
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

// ListActions returns a run's actions in Seq order.
func (s *Store) ListActions(ctx context.Context, runID int64) ([]identity.ActionRecord, error) {
	var out []identity.ActionRecord
	err := scanAll(ctx, s.r, "actions", `SELECT seq, kind, provider, subject, salesforce_user_id, object_id, tenant_id,
		rule, status, link_reason, link_updated_at, flag, reason, state, error FROM run_actions WHERE run_id = ? ORDER BY seq`, []any{runID},
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
		}, func(r identity.ActionRecord) error { out = append(out, r); return nil })
	return out, err
}
