package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/idlinkhq/idlink/internal/config"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/backend"
)

// openStore opens (and migrates) the configured database.
func openStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	st, err := backend.Open(ctx, cfg.Store.Driver, cfg.Store.ConnString())
	if err != nil {
		return nil, fmt.Errorf("open the %s store: %w", cfg.Store.Driver, err)
	}
	return st, nil
}

// startService is the start of the commands that run against the outside
// systems (run, backfill, schedule, bridge): the configuration at path, the
// logger it configures, and its store (created and migrated when new).
// check, when given, refuses a configuration before any database is made.
// The caller closes the store.
func startService(ctx context.Context, e env, path string, check func(config.Config) error) (config.Config, *slog.Logger, store.Store, error) {
	cfg, err := loadConfig(path, e)
	if err != nil {
		return cfg, nil, nil, err
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return cfg, nil, nil, err
		}
	}
	log := newLogger(cfg.Log, e.stderr)
	st, err := openStore(ctx, cfg)
	return cfg, log, st, err
}

// configAndStore loads the configuration at path and opens its store: the
// start of every command that reads or records admin data. The caller
// closes the store.
func configAndStore(ctx context.Context, e env, path string) (config.Config, store.Store, error) {
	cfg, err := loadConfig(path, e)
	if err != nil {
		return cfg, nil, err
	}
	st, err := openStore(ctx, cfg)
	return cfg, st, err
}

// configAndExistingStore is configAndStore for commands that only read.
func configAndExistingStore(ctx context.Context, e env, path string) (config.Config, store.Store, error) {
	cfg, err := loadConfig(path, e)
	if err != nil {
		return cfg, nil, err
	}
	st, err := openExistingStore(ctx, cfg)
	return cfg, st, err
}

// openExistingStore opens the store for a command that only reads it: a
// SQLite file that does not exist is not created (a report or a list from
// the wrong directory would otherwise make an empty database and show
// nothing).
func openExistingStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.Store.Driver == "sqlite" {
		if _, err := os.Stat(cfg.Store.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, withCode(ExitUsage, fmt.Errorf("no idlink database at %s (store.path): pass the --config of the deployment, or run 'idlink backfill' first", cfg.Store.Path))
		}
	}
	return openStore(ctx, cfg)
}
