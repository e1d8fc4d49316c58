package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/idlinkhq/idlink/internal/identity"
)

// SaveAssessments appends a run's assessments (after any saved before) in one transaction.
func (s *Store) SaveAssessments(ctx context.Context, runID int64, as []identity.Assessment) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the run so that concurrent saves for it number their rows one after the other.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", runID); err != nil {
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

// ScanAssessments streams a run's assessments in the order they were saved.
func (s *Store) ScanAssessments(ctx context.Context, runID int64, fn func(identity.Assessment) error) error {
	return scanAll(ctx, s.pool, "assessments", `SELECT provider, situation, object_id, upn, salesforce_user_id,
		salesforce_username, subject, rule, detail FROM run_assessments WHERE run_id = $1 ORDER BY seq`, []any{runID},
		func(r pgx.Rows) (identity.Assessment, error) {
			var a identity.Assessment
			var sit, rule string
			err := r.Scan(&a.Provider, &sit, &a.ObjectID, &a.UPN, &a.SalesforceUserID, &a.SalesforceUsername, &a.Subject, &rule, &a.Detail)
			a.Situation, a.Rule = identity.Situation(sit), identity.Rule(rule)
			return a, err
		}, fn)
}

// SaveActions stores a run's actions keyed by Seq; saving a Seq again replaces
// it (planned -> applied). A zero Seq gets the next free number.
func (s *Store) SaveActions(ctx context.Context, runID int64, actions []identity.ActionRecord) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", runID); err != nil {
			return err
		}
		var next int
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM run_actions WHERE run_id = $1", runID).Scan(&next); err != nil {
			return err
		}
		for _, a := range actions {
			next = max(next, a.Seq+1)
		}
		b := &pgx.Batch{}
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
			a, l := &r.Action, &r.Action.Link
			b.Queue(`INSERT INTO run_actions (run_id, seq, kind, provider, subject, salesforce_user_id,
				object_id, tenant_id, rule, status, link_reason, link_updated_at, flag, reason, state, error)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
				ON CONFLICT (run_id, seq) DO UPDATE SET kind = excluded.kind, provider = excluded.provider, subject = excluded.subject,
					salesforce_user_id = excluded.salesforce_user_id, object_id = excluded.object_id, tenant_id = excluded.tenant_id,
					rule = excluded.rule, status = excluded.status, link_reason = excluded.link_reason,
					link_updated_at = excluded.link_updated_at, flag = excluded.flag, reason = excluded.reason,
					state = excluded.state, error = excluded.error`,
				runID, seq, string(a.Kind), l.Provider, l.Subject, l.SalesforceUserID, l.ObjectID, l.TenantID,
				string(l.Rule), string(l.Status), l.Reason, ts(l.UpdatedAt), a.Flag, a.Reason, r.State, r.Error)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: save %d actions of run %d: %w", len(actions), runID, err)
	}
	return nil
}

// ListActions returns a run's actions in Seq order.
func (s *Store) ListActions(ctx context.Context, runID int64) ([]identity.ActionRecord, error) {
	var out []identity.ActionRecord
	err := scanAll(ctx, s.pool, "actions", `SELECT seq, kind, provider, subject, salesforce_user_id, object_id, tenant_id,
		rule, status, link_reason, link_updated_at, flag, reason, state, error FROM run_actions WHERE run_id = $1 ORDER BY seq`, []any{runID},
		func(rows pgx.Rows) (identity.ActionRecord, error) {
			var r identity.ActionRecord
			var kind, rule, status string
			var upd pgtype.Timestamptz
			a, l := &r.Action, &r.Action.Link
			err := rows.Scan(&r.Seq, &kind, &l.Provider, &l.Subject, &l.SalesforceUserID, &l.ObjectID, &l.TenantID,
				&rule, &status, &l.Reason, &upd, &a.Flag, &a.Reason, &r.State, &r.Error)
			a.Kind, l.Rule, l.Status, l.UpdatedAt = identity.ActionKind(kind), identity.Rule(rule), identity.LinkStatus(status), fromTS(upd)
			return r, err
		}, func(r identity.ActionRecord) error { out = append(out, r); return nil })
	return out, err
}
