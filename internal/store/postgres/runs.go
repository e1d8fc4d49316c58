package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// lease is one holder's claim on the lease row; token tells it apart from a
// later holder of the same name. Expiry is judged by the database's clock so
// that replicas on hosts with skewed clocks agree.
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
		return nil, fmt.Errorf("postgres: %w", err)
	}
	tok, err := newToken()
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The upsert only takes over a row whose lease has expired. A
		// concurrent acquirer waits only for the other's short transaction,
		// never for the lease itself.
		tag, err := tx.Exec(ctx, `INSERT INTO lease (name, holder, token, acquired_at, expires_at)
			VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp() + make_interval(secs => $4))
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token,
				acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
			WHERE lease.expires_at <= clock_timestamp()`, name, holder, tok, ttl.Seconds())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var who string
		var until time.Time
		if err := tx.QueryRow(ctx, "SELECT holder, expires_at FROM lease WHERE name = $1", name).Scan(&who, &until); err != nil {
			return err
		}
		return fmt.Errorf("%w (lease %q held by %s until %s)", store.ErrLeaseHeld, name, who, until.UTC().Format(time.RFC3339))
	})
	if err != nil {
		if errors.Is(err, store.ErrLeaseHeld) {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: acquire lease %q: %w", name, err)
	}
	return &lease{s: s, name: name, token: tok, ttl: ttl}, nil
}

func (l *lease) Renew(ctx context.Context) error {
	tag, err := l.s.pool.Exec(ctx, "UPDATE lease SET expires_at = clock_timestamp() + make_interval(secs => $1) WHERE name = $2 AND token = $3",
		l.ttl.Seconds(), l.name, l.token)
	if err != nil {
		return fmt.Errorf("postgres: renew lease %q: %w", l.name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w (lease %q was lost: it expired and another holder took it)", store.ErrLeaseHeld, l.name)
	}
	return nil
}

func (l *lease) Release(ctx context.Context) error {
	if _, err := l.s.pool.Exec(ctx, "DELETE FROM lease WHERE name = $1 AND token = $2", l.name, l.token); err != nil {
		return fmt.Errorf("postgres: release lease %q: %w", l.name, err)
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
		return identity.Run{}, fmt.Errorf("postgres: start run: %w", err)
	}
	r := identity.Run{Kind: kind, Status: identity.StatusRunning, Holder: holder, StartedAt: utc(time.Now()), Counts: map[string]int64{}}
	err := s.pool.QueryRow(ctx, `INSERT INTO runs (kind, status, holder, started_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		string(kind), string(r.Status), holder, r.StartedAt).Scan(&r.ID)
	if err != nil {
		return identity.Run{}, fmt.Errorf("postgres: start run: %w", err)
	}
	return r, nil
}

// FinishRun stores a run's end: status, counts, note, error and finish time
// (now when run.FinishedAt is zero).
func (s *Store) FinishRun(ctx context.Context, run identity.Run) error {
	if err := store.CheckFinish(run); err != nil {
		return fmt.Errorf("postgres: finish run: %w", err)
	}
	counts, err := json.Marshal(nonNilCounts(run.Counts))
	if err != nil {
		return fmt.Errorf("postgres: finish run %d: counts: %w", run.ID, err)
	}
	fin := run.FinishedAt
	if fin.IsZero() && run.Status != identity.StatusRunning {
		fin = time.Now()
	}
	// plan_base is ReplaceAssessments' to write.
	tag, err := s.pool.Exec(ctx, `UPDATE runs SET status = $1, finished_at = $2, counts = $3, note = $4, error = $5, plan_seq = $6
		WHERE id = $7`,
		string(run.Status), nullTime(fin), string(counts), run.Note, run.Error, run.PlanSeq, run.ID)
	if err != nil {
		return fmt.Errorf("postgres: finish run %d: %w", run.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: finish run %d: %w", run.ID, store.ErrNotFound)
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

func scanRun(row pgx.Row) (identity.Run, error) {
	var (
		r            identity.Run
		kind, status string
		finished     *time.Time
		counts       string
	)
	if err := row.Scan(&r.ID, &kind, &status, &r.Holder, &r.StartedAt, &finished, &counts, &r.Note, &r.Error, &r.DetailsPruned, &r.PlanSeq, &r.PlanBase); err != nil {
		return r, err
	}
	r.Kind, r.Status = identity.RunKind(kind), identity.RunStatus(status)
	r.StartedAt, r.FinishedAt = r.StartedAt.UTC(), fromNull(finished)
	r.Counts = map[string]int64{}
	if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
		return r, fmt.Errorf("run %d: bad counts %q: %w", r.ID, counts, err)
	}
	return r, nil
}

// GetRun returns one run or store.ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id int64) (identity.Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, "SELECT "+runCols+" FROM runs WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.Run{}, fmt.Errorf("postgres: run %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return identity.Run{}, fmt.Errorf("postgres: run %d: %w", id, err)
	}
	return r, nil
}

// LatestRun returns the newest run of one of kinds (any kind when none given),
// or store.ErrNotFound.
func (s *Store) LatestRun(ctx context.Context, kinds ...identity.RunKind) (identity.Run, error) {
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	r, err := scanRun(s.pool.QueryRow(ctx, "SELECT "+runCols+" FROM runs WHERE cardinality($1::text[]) = 0 OR kind = ANY($1) ORDER BY id DESC LIMIT 1", ks))
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.Run{}, fmt.Errorf("postgres: latest run %v: %w", kinds, store.ErrNotFound)
	}
	if err != nil {
		return identity.Run{}, fmt.Errorf("postgres: latest run: %w", err)
	}
	return r, nil
}

// ListRuns returns up to limit runs, newest first (all when limit <= 0).
func (s *Store) ListRuns(ctx context.Context, limit int) ([]identity.Run, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, "SELECT "+runCols+" FROM runs ORDER BY id DESC LIMIT $1", lim)
	if err != nil {
		return nil, fmt.Errorf("postgres: list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (identity.Run, error) { return scanRun(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list runs: %w", err)
	}
	return out, nil
}

// GetCursor returns a stored sync cursor.
func (s *Store) GetCursor(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.pool.QueryRow(ctx, "SELECT value FROM cursors WHERE name = $1", name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("postgres: cursor %q: %w", name, err)
	}
	return v, true, nil
}

// SetCursor stores a sync cursor on its own.
func (s *Store) SetCursor(ctx context.Context, c identity.Cursor) error {
	if err := store.CheckCursor(&c); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := setCursor(ctx, s.pool, &c); err != nil {
		return fmt.Errorf("postgres: set cursor %q: %w", c.Name, err)
	}
	return nil
}

// execer is what pool and transaction have in common for writes.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func setCursor(ctx context.Context, db execer, c *identity.Cursor) error {
	if c == nil {
		return nil
	}
	_, err := db.Exec(ctx, `INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, c.Name, c.Value)
	return err
}

// DeleteCursor forgets a sync cursor (e.g. an expired deltaLink).
func (s *Store) DeleteCursor(ctx context.Context, name string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM cursors WHERE name = $1", name); err != nil {
		return fmt.Errorf("postgres: delete cursor %q: %w", name, err)
	}
	return nil
}

// ListAudit returns audit events with seq > sinceSeq in order, at most limit
// (all when limit <= 0).
func (s *Store) ListAudit(ctx context.Context, sinceSeq int64, limit int) ([]identity.AuditEvent, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, COALESCE(run_id, 0), at, actor, kind, target, detail
		FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, sinceSeq, lim)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (identity.AuditEvent, error) {
		var e identity.AuditEvent
		err := row.Scan(&e.Seq, &e.RunID, &e.At, &e.Actor, &e.Kind, &e.Target, &e.Detail)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return out, nil
}

const insertAuditSQL = `INSERT INTO audit_events (run_id, at, actor, kind, target, detail) VALUES ($1, $2, $3, $4, $5, $6)`

func insertAudit(ctx context.Context, tx pgx.Tx, e identity.AuditEvent) error {
	_, err := tx.Exec(ctx, insertAuditSQL, nullRun(e.RunID), utc(e.At), e.Actor, e.Kind, e.Target, e.Detail)
	return err
}

// queueAudit queues the statement insertAudit runs.
func queueAudit(b *pgx.Batch, e identity.AuditEvent) {
	b.Queue(insertAuditSQL, nullRun(e.RunID), utc(e.At), e.Actor, e.Kind, e.Target, e.Detail)
}

// PruneRunDetails deletes the assessments and actions of the runs
// store.RunsToPrune names and marks them; it returns the runs pruned.
func (s *Store) PruneRunDetails(ctx context.Context, keep int) ([]int64, error) {
	return store.PruneRuns(ctx, s.ListRuns, keep, s.deleteRunDetails)
}

// deleteRunDetails deletes one run's assessments and actions in one transaction.
func (s *Store) deleteRunDetails(ctx context.Context, id int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []string{"DELETE FROM run_assessments WHERE run_id = $1", "DELETE FROM run_actions WHERE run_id = $1",
			"DELETE FROM run_replaced WHERE run_id = $1", "UPDATE runs SET details_pruned = true WHERE id = $1"} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: prune the details of run %d: %w", id, err)
	}
	return nil
}
