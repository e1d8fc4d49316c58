package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/idlinkhq/idlink/internal/bridge"
	"github.com/idlinkhq/idlink/internal/bridge/jwtverify"
	"github.com/idlinkhq/idlink/internal/config"
)

func cmdBridge(ctx context.Context, e env, args []string) error {
	fs := newFlags("bridge", e)
	cfgPath := configFlag(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, e)
	if err != nil {
		return err
	}
	bc, err := bridgeConfig(cfg)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, e.stderr)
	st, err := openStore(ctx, cfg)
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

// bridgeConfig maps the bridge section onto bridge.Config.
func bridgeConfig(cfg config.Config) (bridge.Config, error) {
	b := cfg.Bridge
	if len(b.Issuers) == 0 {
		return bridge.Config{}, &config.Error{Key: "bridge.issuers", File: cfg.Source, Msg: "no issuer configured", Fix: "add the token issuer of each Auth. Provider (provider, issuer, audiences)"}
	}
	bc := bridge.Config{
		Leeway:                 b.Leeway.D(),
		JWKSRefreshInterval:    b.JWKSRefreshInterval.D(),
		JWKSMinRefreshInterval: b.JWKSMinRefreshInterval.D(),
		FlushInterval:          b.FlushInterval.D(),
		EmailPolicy:            bridge.EmailPolicy(b.EmailPolicy),
		ExtraClaims:            b.ExtraClaims,
		ListenAddr:             b.Listen,
		TLSCertFile:            b.TLSCertFile,
		TLSKeyFile:             b.TLSKeyFile,
	}
	if b.CABundleFile != "" {
		hc, err := httpClientWithCA(b.CABundleFile)
		if err != nil {
			return bc, &config.Error{Key: "bridge.ca_bundle_file", File: cfg.Source, Msg: err.Error(), Fix: "point it at a PEM file of CA certificates"}
		}
		hc.Timeout = 10 * time.Second
		bc.HTTPClient = hc
	}
	for _, is := range b.Issuers {
		bc.Issuers = append(bc.Issuers, bridge.IssuerConfig{
			Provider: is.Provider, Issuer: is.Issuer, DiscoveryURL: is.DiscoveryURL, JWKSURL: is.JWKSURL,
			Audiences: is.Audiences, TenantIDs: is.TenantIDs, TenantClaim: jwtverify.TenantClaim(is.TenantClaim),
			ClientID: is.ClientID, AuthorizedParties: is.AuthorizedParties, Scopes: is.Scopes, ObjectIDFromSubject: is.ObjectIDFromSubject,
		})
	}
	return bc, nil
}
