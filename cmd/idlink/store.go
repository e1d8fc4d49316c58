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
