// Package backend opens the store a configuration names (store.driver and
// store.dsn) and runs `idlink migrate` against it, so that commands do not
// need to know the backends.
package backend

import (
	"context"
	"fmt"

	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/postgres"
	"github.com/idlinkhq/idlink/internal/store/sqlite"
	"github.com/idlinkhq/idlink/migrations"
)

// Driver names a storage backend.
const (
	SQLite   = "sqlite"   // dsn: a file path
	Postgres = "postgres" // dsn: a postgres:// URL or key=value string
)

// migrator is what `idlink migrate` needs from a backend.
type migrator interface {
	store.Store
	Migrate(ctx context.Context) ([]int, error)
}

func checkDriver(driver string) error {
	switch driver {
	case SQLite, Postgres:
		return nil
	}
	return fmt.Errorf("store.driver must be sqlite or postgres (got %q)", driver)
}

// Open opens the store and applies pending migrations.
func Open(ctx context.Context, driver, dsn string) (store.Store, error) {
	if err := checkDriver(driver); err != nil {
		return nil, err
	}
	if driver == Postgres {
		return postgres.Open(ctx, dsn)
	}
	return sqlite.Open(ctx, dsn)
}

func openNoMigrate(ctx context.Context, driver, dsn string) (migrator, error) {
	if err := checkDriver(driver); err != nil {
		return nil, err
	}
	if driver == Postgres {
		return postgres.OpenNoMigrate(ctx, dsn)
	}
	return sqlite.OpenNoMigrate(ctx, dsn)
}

// Migrate applies pending migrations (creating a SQLite file if needed) and
// returns the versions it applied; none when the schema is current.
func Migrate(ctx context.Context, driver, dsn string) ([]int, error) {
	s, err := openNoMigrate(ctx, driver, dsn)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Migrate(ctx)
}

// Status reports the applied and the latest known schema version without
// changing anything (a SQLite file that does not exist reports 0 and is not
// created). applied > latest means a newer idlink migrated the database.
func Status(ctx context.Context, driver, dsn string) (applied, latest int, err error) {
	if err := checkDriver(driver); err != nil {
		return 0, 0, err
	}
	if driver == SQLite {
		ok, err := sqlite.Exists(dsn)
		if err != nil {
			return 0, 0, fmt.Errorf("sqlite: %s: %w", dsn, err)
		}
		if !ok {
			latest, err := migrations.Latest(migrations.SQLite)
			return 0, latest, err
		}
	}
	s, err := openNoMigrate(ctx, driver, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	return s.SchemaVersion(ctx)
}
