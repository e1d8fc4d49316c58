package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/idlinkhq/idlink/internal/wire"

	"github.com/idlinkhq/idlink/internal/bridge"
	"github.com/idlinkhq/idlink/internal/config"
)

func cmdBridge(ctx context.Context, e env, args []string) error {
	fs := newFlags("bridge", e)
	cfgPath := configFlag(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var bc bridge.Config
	cfg, log, st, err := startService(ctx, e, *cfgPath, func(cfg config.Config) (err error) {
		bc, err = wire.BridgeConfig(cfg)
		return err
	})
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := bridge.New(bc, st, log)
	if err != nil {
		return &config.Error{Key: "bridge", File: cfg.Source, Msg: err.Error(), Fix: "correct the bridge section"}
	}
	if err := srv.ListenAndServe(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("bridge: %w", err)
	}
	return nil
}
