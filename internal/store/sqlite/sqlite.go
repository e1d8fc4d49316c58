// Package sqlite is the embedded storage backend of idlink: one SQLite file,
// pure Go (modernc.org/sqlite), WAL journal, busy timeout, foreign keys on.
//
// Writes go through a single connection whose transactions start with BEGIN
// IMMEDIATE, so a write transaction takes the database's write lock up front
// instead of failing half-way with SQLITE_BUSY when it upgrades from a read.
// Reads use a separate small pool; in WAL mode they never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/migrations"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// writerCacheKiB is the writer connection's page cache. A backfill's
// writes reach the whole of several tables' indexes at once (staged and
// stored users, assessments, actions, link history); with 64 MiB the
// writer read evicted pages back ~175,000 times in a 100,000-user
// backfill, each read a system call (expensive on virtual machines), and
// that backfill took 8 % longer (TestBackfillReport; 256 MiB gained 2 %
// more) for ~50 MiB less RSS. At a million users neither size holds what
// the writes reach: the same CPU, ~125 MiB more RSS. SQLite's memory is
// outside Go's GOMEMLIMIT: the deployments leave room for it.
const writerCacheKiB = 128 << 10

// busyTimeout is how long a write waits for another process's write lock.
const busyTimeout = 10 * time.Second

// Store is a store.Store on one SQLite file.
type Store struct {
	path string
	w    *sql.DB // the one writer connection: BEGIN IMMEDIATE transactions
	r    *sql.DB // readers (query_only)
	// entraWrites counts the ended transactions that wrote Entra users
	// (writeEntra), so that SetEntraScope can tell whether what it read
	// outside its transaction is still what the table holds.
	entraWrites atomic.Int64
	stmts       *stmtCache    // the writer's multi-row statements, prepared once
	ckpt        *checkpointer // copies the log into the database beside the writer
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at path and applies any
// pending migrations. A database migrated by a newer idlink is refused with an
// error wrapping store.ErrSchemaTooNew.
func Open(ctx context.Context, path string) (*Store, error) {
	s, err := OpenNoMigrate(ctx, path)
	if err != nil {
		return nil, err
	}
	if _, err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// OpenNoMigrate opens the database without applying migrations, for `idlink
// migrate status`. Most callers want Open.
func OpenNoMigrate(ctx context.Context, path string) (*Store, error) {
	if strings.TrimSpace(path) == "" {
		return nil, errors.New("sqlite: empty database path: set store.dsn to a file path such as ./idlink.db")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: database path %q contains '?' or '#': use a path without them", path)
	}
	base := path + "?_pragma=" + fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()) +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	// The writer sets WAL mode (persistent in the file) before any reader opens.
	// The writer keeps statement journals in memory and a larger page cache, so
	// that a large snapshot batch does not spill to temporary files mid-transaction.
	// The log is checkpointed beside the writer by a connection of its own,
	// and by the writer at writerCheckpointFrames (checkpointer).
	w, err := sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_pragma=temp_store(MEMORY)"+
		fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)&_pragma=cache_size(%d)", writerCheckpointFrames, -writerCacheKiB)+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w (check that the directory exists and is writable)", path, err)
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("sqlite: %s: journal mode is %q, not WAL (is the file on a network file system? keep it on local disk)", path, mode)
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	c, err := sql.Open("sqlite", base)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	return &Store{path: path, w: w, r: r, stmts: newStmtCache(w), ckpt: newCheckpointer(c)}, nil
}

// Close closes the database. The checkpointer goes first: the writer,
// closed last, copies what is left of the log and removes it.
func (s *Store) Close() error {
	return errors.Join(s.ckpt.Close(), s.stmts.close(), s.r.Close(), s.w.Close())
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`

// Migrate applies the pending migrations in one transaction and returns their
// versions (empty when the schema is current). Running it again is harmless.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	ms, err := migrations.List(migrations.SQLite)
	if err != nil {
		return nil, err
	}
	latest := ms[len(ms)-1].Version
	var applied []int
	err = s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, createSchemaMigrations); err != nil {
			return err
		}
		var cur int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
			return err
		}
		if cur > latest {
			return fmt.Errorf("%w: %s", store.ErrSchemaTooNew, migrations.TooNewMessage(cur, latest))
		}
		for _, m := range ms[cur:] {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.Version, m.Name, fmtTime(time.Now())); err != nil {
				return err
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrate %s: %w", s.path, err)
	}
	return applied, nil
}

// SchemaVersion reports the applied and the latest known migration.
func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int, err error) {
	latest, err = migrations.Latest(migrations.SQLite)
	if err != nil {
		return 0, 0, err
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n); err != nil {
		return 0, 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	if n == 0 {
		return 0, latest, nil
	}
	if err := s.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&applied); err != nil {
		return 0, 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return applied, latest, nil
}

// write runs fn in one write transaction (BEGIN IMMEDIATE) and commits it.
func (s *Store) write(ctx context.Context, fn func(*wtx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(&wtx{Tx: tx, stmts: s.stmts}); err != nil {
		tx.Rollback()
		return ctxCause(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return ctxCause(ctx, err)
	}
	s.ckpt.committed()
	s.stmts.prepareWanted(ctx)
	return nil
}

// wtx is a write transaction with the writer's statement cache.
type wtx struct {
	*sql.Tx
	stmts *stmtCache
}

// ctxCause names the context as the cause when it ended the transaction:
// database/sql rolls a transaction back once its context is done, and the
// statements after that fail with sql.ErrTxDone, which says nothing of why
// (a caller that tells a cancellation from a failure needs context.Canceled).
func ctxCause(ctx context.Context, err error) error {
	if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
		return fmt.Errorf("%w (the transaction was rolled back)", ctx.Err())
	}
	return err
}

// writeEntra is write for transactions that write entra_users: it counts
// them once they have ended, committed or not. Counting after the end means
// that a reader who loads the count before its read sees either the
// transaction's rows or a count that moved.
func (s *Store) writeEntra(ctx context.Context, fn func(*wtx) error) error {
	defer s.entraWrites.Add(1)
	return s.write(ctx, fn)
}

// Exists reports whether a database file is at path, so that `idlink migrate
// status` can say so without creating one.
func Exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// tsLayout is fixed-width so that stored timestamps compare as strings.
const tsLayout = "2006-01-02T15:04:05.000000Z"

// fmtTime stores t in UTC at microsecond precision (the precision PostgreSQL
// keeps, so both backends return the same values).
func fmtTime(t time.Time) string { return t.UTC().Truncate(time.Microsecond).Format(tsLayout) }

// fmtNullTime stores the zero time as NULL.
func fmtNullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(tsLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: bad stored timestamp %q: %w", s, err)
	}
	return t, nil
}

func parseNullTime(ns sql.NullString) (time.Time, error) {
	if !ns.Valid || ns.String == "" {
		return time.Time{}, nil
	}
	return parseTime(ns.String)
}

func nullRun(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
