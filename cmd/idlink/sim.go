package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/world"
)

func cmdSim(ctx context.Context, e env, args []string) error {
	fs := newFlags("sim", e)
	users := fs.Int("users", 2000, "Entra users in the simulated tenant")
	seed := fs.Int64("seed", 1, "scenario seed (same seed, same world)")
	dir := fs.String("dir", "idlink-sim", "directory for the config file, CA certificate and database")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	abs, _ := filepath.Abs(*dir)
	w, err := world.Start(world.Options{Scenario: scenario.Config{Seed: *seed, Users: *users}})
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("sim: %w", err))
	}
	defer w.Close()
	caFile := filepath.Join(abs, "sim-ca.pem")
	if err := w.WriteCA(caFile); err != nil {
		return err
	}
	cfgFile := filepath.Join(abs, "idlink.yaml")
	if err := os.WriteFile(cfgFile, []byte(w.ConfigYAML(filepath.Join(abs, "idlink.db"), caFile)), 0o600); err != nil {
		return fmt.Errorf("sim: write config: %w", err)
	}
	sw := w.Scenario
	fmt.Fprintf(e.stdout, `Simulated world: %d Entra users, %d Salesforce users (seed %d)

Entra (login):     %s/%s/oauth2/v2.0/token
Microsoft Graph:   %s/v1.0/users
Salesforce:        %s/services/oauth2/token
CA certificate:    %s
Config file:       %s

idlink's app registration: client id %s
Salesforce connected app:  client id %s

Secrets (for your shell):
  export %s
  export %s

Try:
  curl --cacert %s -d grant_type=client_credentials -d client_id=%s \
       -d client_secret=%s -d scope=https://graph.microsoft.com/.default \
       %s/%s/oauth2/v2.0/token
  idlink backfill --config %s

Serving until interrupted (Ctrl-C).
`, len(sw.Entra), len(sw.Salesforce), *seed,
		w.Entra.LoginURL(), sw.TenantID, w.Entra.GraphURL(), w.Salesforce.URL(), caFile, cfgFile,
		w.JobClientID, w.SFClientID, w.Env()[0], w.Env()[1],
		caFile, w.JobClientID, w.JobSecret, w.Entra.LoginURL(), sw.TenantID, cfgFile)
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "stopped")
	return nil
}
