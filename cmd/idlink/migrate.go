package main

import (
	"context"
	"fmt"

	"github.com/idlinkhq/idlink/internal/store/backend"
	"github.com/idlinkhq/idlink/migrations"
)

func cmdMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlags("migrate", e)
	cfgPath := configFlag(fs, e)
	action := "up"
	if len(args) > 0 && (args[0] == "up" || args[0] == "status") {
		action, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, e)
	if err != nil {
		return err
	}
	where := cfg.Store.Driver
	if cfg.Store.Driver == "sqlite" {
		where += " " + cfg.Store.Path
	}
	switch action {
	case "status":
		applied, latest, err := backend.Status(ctx, cfg.Store.Driver, cfg.Store.ConnString())
		if err != nil {
			return fmt.Errorf("migration status of the %s store: %w", where, err)
		}
		state := "up to date"
		if applied > latest {
			return fmt.Errorf("store %s: %s", where, migrations.TooNewMessage(applied, latest))
		}
		if applied < latest {
			state = fmt.Sprintf("%d migration(s) pending: run 'idlink migrate up'", latest-applied)
		}
		fmt.Fprintf(e.stdout, "store: %s\nschema version: %d (latest known: %d), %s\n", where, applied, latest, state)
	default:
		done, err := backend.Migrate(ctx, cfg.Store.Driver, cfg.Store.ConnString())
		if err != nil {
			return fmt.Errorf("migrate the %s store: %w", where, err)
		}
		if len(done) == 0 {
			fmt.Fprintf(e.stdout, "store: %s\nalready up to date\n", where)
			return nil
		}
		fmt.Fprintf(e.stdout, "store: %s\napplied migrations: %v\n", where, done)
	}
	return nil
}
