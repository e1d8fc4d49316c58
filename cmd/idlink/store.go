package main

import (
	"context"
	"fmt"

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
