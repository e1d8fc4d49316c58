package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"

	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/world"
)

func cmdSim(ctx context.Context, e env, args []string) error {
	fs := newFlags("sim", e)
	users := fs.Int("users", 2000, "Entra users in the simulated tenant")
	seed := fs.Int64("seed", 1, "scenario seed (same seed, same world)")
	dir := fs.String("dir", "idlink-sim", "directory for the config file, CA certificate and database")
	signInAs := fs.String("sign-in", "", "UPN or object id of the simulated user to mint a sign-in access token for (default: the first user who can sign in)")
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
	if err := w.WriteBridgeTLS(abs); err != nil {
		return err
	}
	cfgFile := filepath.Join(abs, "idlink.yaml")
	if err := os.WriteFile(cfgFile, []byte(w.ConfigYAML(filepath.Join(abs, "idlink.db"), caFile)), 0o600); err != nil {
		return fmt.Errorf("sim: write config: %w", err)
	}
	// The token an interactive sign-in through the Auth. Provider would give
	// Salesforce, written to a file so that curl can play Salesforce's part
	// against 'idlink bridge'.
	who, tok, err := simSignIn(w, *signInAs)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("sim: --sign-in: %w", err))
	}
	tokenFile := filepath.Join(abs, "access-token.jwt")
	if err := os.WriteFile(tokenFile, []byte(tok.AccessToken+"\n"), 0o600); err != nil {
		return fmt.Errorf("sim: write token: %w", err)
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

Rehearse the bridge (a second shell, with the secrets exported):
  idlink bridge --config %s
  curl --cacert %s -H "Authorization: Bearer $(cat %s)" https://%s/userinfo
The token is %s's sign-in access token (sub %s, valid one hour);
re-run with --sign-in UPN for another user.

Serving until interrupted (Ctrl-C).
`, len(sw.Entra), len(sw.Salesforce), *seed,
		w.Entra.LoginURL(), sw.TenantID, w.Entra.GraphURL(), w.Salesforce.URL(), caFile, cfgFile,
		w.JobClientID, w.SFClientID, w.Env()[0], w.Env()[1],
		caFile, w.JobClientID, w.JobSecret, w.Entra.LoginURL(), sw.TenantID, cfgFile,
		cfgFile, caFile, tokenFile, w.Config("", "").Bridge.Listen, who.UPN, tok.Subject)
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "stopped")
	return nil
}

// simSignIn signs the chosen user (UPN or object id, case-insensitive; the
// first in-scope user who can sign in when empty) in to the world's OIDC app with the
// app's own scope, the token Salesforce would pass to the bridge.
func simSignIn(w *world.World, who string) (identity.EntraUser, entrasim.Tokens, error) {
	scopes := []string{"openid", "profile", "email", "api://" + w.Provider.ClientID + "/access"}
	for _, u := range w.Scenario.Entra {
		if who == "" && !u.InScope || who != "" && !strings.EqualFold(u.UPN, who) && !strings.EqualFold(u.ObjectID, who) {
			continue
		}
		tok, err := w.Entra.SignIn(w.Provider.ClientID, u.ObjectID, scopes...)
		if err == nil {
			return u, tok, nil
		}
		if who != "" {
			return u, entrasim.Tokens{}, err
		}
	}
	if who != "" {
		return identity.EntraUser{}, entrasim.Tokens{}, fmt.Errorf("no simulated user %q: give a UPN or object id from the tenant (Graph /v1.0/users lists them)", who)
	}
	return identity.EntraUser{}, entrasim.Tokens{}, errors.New("no simulated user can sign in")
}
