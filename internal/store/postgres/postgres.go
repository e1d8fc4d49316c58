// Package postgres is the PostgreSQL storage backend of idlink (pgx/v5), for
// production and for several replicas sharing one database. It keeps the same
// schema and behaviour as the SQLite backend; the storetest conformance suite
// runs against both.
//
// The schema lives in the first schema of the connection's search_path (set it
// with search_path=... in the DSN to keep several idlink databases apart).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/migrations"
)

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	host string // for error messages; never the password
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string) and applies pending migrations. A database migrated by a newer
// idlink is refused with an error wrapping store.ErrSchemaTooNew.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s, err := OpenNoMigrate(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// OpenNoMigrate connects without applying migrations, for `idlink migrate
// status`. Most callers want Open.
func OpenNoMigrate(ctx context.Context, dsn string) (*Store, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("postgres: empty DSN: set store.dsn to e.g. postgres://idlink@db.example.com:5432/idlink?sslmode=verify-full (password from IDLINK_STORE_DSN or a file, not the config)")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can echo the DSN; keep the password out of them.
		return nil, errors.New("postgres: cannot parse the DSN: use a postgres://user@host:5432/db?sslmode=... URL or a key=value string")
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["temp_buffers"]; !ok {
		// Large snapshot batches pass through a temporary table; the default
		// 8MB of temporary buffers would send it to disk. Memory is only
		// used by sessions that write large batches.
		cfg.ConnConfig.RuntimeParams["temp_buffers"] = "128MB"
	}
	host := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect %s: %w", host, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect %s: %w (is the server running and the DSN right?)", host, err)
	}
	return &Store{pool: pool, host: host}, nil
}

// Close closes every connection.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL
)`

// Migrate applies the pending migrations in one transaction and returns their
// versions. Replicas starting at once serialise on an advisory lock, so each
// migration runs exactly once.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	ms, err := migrations.List(migrations.Postgres)
	if err != nil {
		return nil, err
	}
	latest := ms[len(ms)-1].Version
	var applied []int
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var schema *string
		if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return err
		}
		if schema == nil {
			return errors.New("no schema to create tables in: the search_path names no existing schema (create it, or fix search_path in the DSN)")
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('idlink.migrate.' || $1))", *schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, createSchemaMigrations); err != nil {
			return err
		}
		var cur int
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
			return err
		}
		if cur > latest {
			return fmt.Errorf("%w: %s", store.ErrSchemaTooNew, migrations.TooNewMessage(cur, latest))
		}
		for _, m := range ms[cur:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())", m.Version, m.Name); err != nil {
				return err
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate %s: %w", s.host, err)
	}
	return applied, nil
}

// SchemaVersion reports the applied and the latest known migration.
func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int, err error) {
	latest, err = migrations.Latest(migrations.Postgres)
	if err != nil {
		return 0, 0, err
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	if !exists {
		return 0, latest, nil
	}
	if err := s.pool.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&applied); err != nil {
		return 0, 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	return applied, latest, nil
}

// utc stores times in UTC at microsecond precision (what timestamptz keeps).
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return utc(t)
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullRun(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
