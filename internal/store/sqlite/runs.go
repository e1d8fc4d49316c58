package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// lease is one holder's claim on the lease row; token tells it apart from a
// later holder of the same name.
type lease struct {
	s     *Store
	name  string
	token string
	ttl   time.Duration
}

// AcquireLease takes the named lease when it is free or expired; otherwise it
// returns store.ErrLeaseHeld at once, naming the holder.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	if err := store.CheckLease(name, holder, ttl); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	tok, err := newToken()
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(tx *wtx) error {
		now := time.Now()
		res, err := tx.ExecContext(ctx, `INSERT INTO lease (name, holder, token, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token,
				acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
			WHERE lease.expires_at <= excluded.acquired_at`,
			name, holder, tok, fmtTime(now), fmtTime(now.Add(ttl)))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var who, until string
		if err := tx.QueryRowContext(ctx, "SELECT holder, expires_at FROM lease WHERE name = ?", name).Scan(&who, &until); err != nil {
			return err
		}
		return fmt.Errorf("%w (lease %q held by %s until %s)", store.ErrLeaseHeld, name, who, until)
	})
	if err != nil {
		if errors.Is(err, store.ErrLeaseHeld) {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: acquire lease %q: %w", name, err)
	}
	return &lease{s: s, name: name, token: tok, ttl: ttl}, nil
}

func (l *lease) Renew(ctx context.Context) error {
	res, err := l.s.w.ExecContext(ctx, "UPDATE lease SET expires_at = ? WHERE name = ? AND token = ?",
		fmtTime(time.Now().Add(l.ttl)), l.name, l.token)
	if err != nil {
		return fmt.Errorf("sqlite: renew lease %q: %w", l.name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w (lease %q was lost: it expired and another holder took it)", store.ErrLeaseHeld, l.name)
	}
	return nil
}

func (l *lease) Release(ctx context.Context) error {
	if _, err := l.s.w.ExecContext(ctx, "DELETE FROM lease WHERE name = ? AND token = ?", l.name, l.token); err != nil {
		return fmt.Errorf("sqlite: release lease %q: %w", l.name, err)
	}
	return nil
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// StartRun records a new run in status running.
func (s *Store) StartRun(ctx context.Context, kind identity.RunKind, holder string) (identity.Run, error) {
	if err := store.CheckRun(kind, holder); err != nil {
		return identity.Run{}, fmt.Errorf("sqlite: start run: %w", err)
	}
	r := identity.Run{Kind: kind, Status: identity.StatusRunning, Holder: holder,
		StartedAt: time.Now().UTC().Truncate(time.Microsecond), Counts: map[string]int64{}}
	err := s.write(ctx, func(tx *wtx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO runs (kind, status, holder, started_at) VALUES (?, ?, ?, ?) RETURNING id`,
			string(kind), string(r.Status), holder, fmtTime(r.StartedAt)).Scan(&r.ID)
	})
	if err != nil {
		return identity.Run{}, fmt.Errorf("sqlite: start run: %w", err)
	}
	return r, nil
}

// FinishRun stores a run's end: status, counts, note, error and finish time
// (now when run.FinishedAt is zero).
func (s *Store) FinishRun(ctx context.Context, run identity.Run) error {
	if err := store.CheckFinish(run); err != nil {
		return fmt.Errorf("sqlite: finish run: %w", err)
	}
	counts, err := json.Marshal(nonNilCounts(run.Counts))
	if err != nil {
		return fmt.Errorf("sqlite: finish run %d: counts: %w", run.ID, err)
	}
	fin := run.FinishedAt
	if fin.IsZero() && run.Status != identity.StatusRunning {
		fin = time.Now()
	}
	err = s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ?, counts = ?, note = ?, error = ?, plan_seq = ? WHERE id = ?`,
			string(run.Status), fmtNullTime(fin), string(counts), run.Note, run.Error, run.PlanSeq, run.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("run %d: %w", run.ID, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: finish run: %w", err)
	}
	return nil
}

func nonNilCounts(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

const runCols = "id, kind, status, holder, started_at, finished_at, counts, note, error, details_pruned, plan_seq, plan_base"

func scanRun(sc interface{ Scan(...any) error }) (identity.Run, error) {
	var (
		r            identity.Run
		kind, status string
		started      string
		finished     sql.NullString
		counts       string
	)
	if err := sc.Scan(&r.ID, &kind, &status, &r.Holder, &started, &finished, &counts, &r.Note, &r.Error, &r.DetailsPruned, &r.PlanSeq, &r.PlanBase); err != nil {
		return r, err
	}
	r.Kind, r.Status = identity.RunKind(kind), identity.RunStatus(status)
	var err error
	if r.StartedAt, err = parseTime(started); err != nil {
		return r, err
	}
	if r.FinishedAt, err = parseNullTime(finished); err != nil {
		return r, err
	}
	r.Counts = map[string]int64{}
	if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
		return r, fmt.Errorf("run %d: bad counts %q: %w", r.ID, counts, err)
	}
	return r, nil
}

// GetRun returns one run or store.ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id int64) (identity.Run, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, "SELECT "+runCols+" FROM runs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return identity.Run{}, fmt.Errorf("sqlite: run %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return identity.Run{}, fmt.Errorf("sqlite: run %d: %w", id, err)
	}
	return r, nil
}

// LatestRun returns the newest run of one of kinds (any kind when none given),
// or store.ErrNotFound.
func (s *Store) LatestRun(ctx context.Context, kinds ...identity.RunKind) (identity.Run, error) {
	q := "SELECT " + runCols + " FROM runs"
	var args []any
	if len(kinds) > 0 {
		q += " WHERE kind IN (?" + strings.Repeat(", ?", len(kinds)-1) + ")"
		for _, k := range kinds {
			args = append(args, string(k))
		}
	}
	q += " ORDER BY id DESC LIMIT 1"
	r, err := scanRun(s.r.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return identity.Run{}, fmt.Errorf("sqlite: latest run %v: %w", kinds, store.ErrNotFound)
	}
	if err != nil {
		return identity.Run{}, fmt.Errorf("sqlite: latest run: %w", err)
	}
	return r, nil
}

// ListRuns returns up to limit runs, newest first (all when limit <= 0).
func (s *Store) ListRuns(ctx context.Context, limit int) ([]identity.Run, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+runCols+" FROM runs ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list runs: %w", err)
	}
	defer rows.Close()
	var out []identity.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list runs: %w", err)
	}
	return out, nil
}

// GetCursor returns a stored sync cursor.
func (s *Store) GetCursor(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, "SELECT value FROM cursors WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("sqlite: cursor %q: %w", name, err)
	}
	return v, true, nil
}

// SetCursor stores a sync cursor on its own.
func (s *Store) SetCursor(ctx context.Context, c identity.Cursor) error {
	if err := store.CheckCursor(&c); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := s.write(ctx, func(tx *wtx) error { return setCursor(ctx, tx, &c) }); err != nil {
		return fmt.Errorf("sqlite: set cursor %q: %w", c.Name, err)
	}
	return nil
}

func setCursor(ctx context.Context, tx *wtx, c *identity.Cursor) error {
	if c == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		c.Name, c.Value, fmtTime(time.Now()))
	return err
}

// DeleteCursor forgets a sync cursor (e.g. an expired deltaLink).
func (s *Store) DeleteCursor(ctx context.Context, name string) error {
	if _, err := s.w.ExecContext(ctx, "DELETE FROM cursors WHERE name = ?", name); err != nil {
		return fmt.Errorf("sqlite: delete cursor %q: %w", name, err)
	}
	return nil
}

// ListAudit returns audit events with seq > sinceSeq in order, at most limit
// (all when limit <= 0).
func (s *Store) ListAudit(ctx context.Context, sinceSeq int64, limit int) ([]identity.AuditEvent, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, COALESCE(run_id, 0), at, actor, kind, target, detail
		FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, sinceSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var out []identity.AuditEvent
	for rows.Next() {
		var e identity.AuditEvent
		var at string
		if err := rows.Scan(&e.Seq, &e.RunID, &at, &e.Actor, &e.Kind, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}

const (
	auditCols   = "run_id, at, actor, kind, target, detail"
	auditInsert = "INSERT INTO audit_events (" + auditCols + ") VALUES (?, ?, ?, ?, ?, ?)"
)

func auditArgs(e identity.AuditEvent) []any {
	return []any{nullRun(e.RunID), fmtTime(e.At), e.Actor, e.Kind, e.Target, e.Detail}
}

func insertAudit(ctx context.Context, tx *wtx, e identity.AuditEvent) error {
	_, err := tx.ExecContext(ctx, auditInsert, auditArgs(e)...)
	return err
}

// PruneRunDetails deletes the assessments and actions of the runs
// store.RunsToPrune names and marks them; it returns the runs pruned.
func (s *Store) PruneRunDetails(ctx context.Context, keep int) ([]int64, error) {
	return store.PruneRuns(ctx, s.ListRuns, keep, s.deleteRunDetails)
}

// deleteRunDetails deletes one run's assessments and actions in one transaction.
func (s *Store) deleteRunDetails(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *wtx) error {
		for _, q := range []string{"DELETE FROM run_assessments WHERE run_id = ?", "DELETE FROM run_actions WHERE run_id = ?",
			"DELETE FROM run_replaced WHERE run_id = ?", "UPDATE runs SET details_pruned = 1 WHERE id = ?"} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: prune the details of run %d: %w", id, err)
	}
	return nil
}
