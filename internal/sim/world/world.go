// Package world starts the whole simulated world - an Entra tenant (Graph,
// token endpoint, sign-in) and a Salesforce org - from one generated scenario,
// on loopback with TLS, and hands out an idlink configuration that points at
// it. `idlink sim`, `idlink demo`, the end-to-end tests and the benchmarks all
// start their world here, so they exercise the same setup.
package world

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/idlinkhq/idlink/internal/config"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
	"github.com/idlinkhq/idlink/internal/sim/simtls"
)

// Options choose the world.
type Options struct {
	Scenario scenario.Config
	// DeltaPageSize is Graph's server-chosen delta page size (default 200).
	DeltaPageSize int
	// SalesforceAddr is the org's listen address (default 127.0.0.1:0).
	SalesforceAddr string
}

// World is a running simulated tenant and org.
type World struct {
	Scenario   *scenario.World
	TLS        *simtls.Authority
	Entra      *entrasim.Sim
	Org        *sfsim.Org
	Salesforce *sfsim.Server

	// Credentials of idlink's Entra app registration and Salesforce connected app.
	JobClientID, JobSecret string
	SFClientID, SFSecret   string
	IntegrationUser        string
	// Provider is the Auth. Provider users sign in with.
	Provider identity.Provider

	bridgeCert, bridgeKey string // WriteBridgeTLS
}

func secret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Start generates the scenario and starts both services.
func Start(opt Options) (*World, error) {
	sw, err := scenario.Generate(opt.Scenario)
	if err != nil {
		return nil, err
	}
	if len(sw.Providers) == 0 {
		return nil, fmt.Errorf("world: the scenario has no OIDC provider")
	}
	w := &World{Scenario: sw, Provider: sw.Providers[0], JobSecret: secret(), SFSecret: secret()}
	w.JobClientID = newGUID()
	w.SFClientID = "3MVG9sim" + secret()[:24]

	apps := []entrasim.App{
		{ClientID: w.JobClientID, DisplayName: "idlink", Secret: w.JobSecret,
			GraphPermissions: []string{"User.Read.All", "Application.Read.All", "GroupMember.Read.All"}},
	}
	es, err := entrasim.New(entrasim.Options{TenantID: sw.TenantID, Apps: apps, DeltaPageSize: opt.DeltaPageSize, Subject: sw.Subject})
	if err != nil {
		return nil, err
	}
	w.Entra = es
	// One authority for both services, so clients trust one CA file.
	w.TLS = es.TLS()
	ca := w.TLS
	if err := es.LoadScenario(sw); err != nil {
		w.Close()
		return nil, err
	}

	org := sfsim.NewOrg()
	if err := org.LoadScenario(sw); err != nil {
		w.Close()
		return nil, err
	}
	w.Org = org
	srv, err := sfsim.Start(org, ca, sfsim.Config{Addr: opt.SalesforceAddr})
	if err != nil {
		w.Close()
		return nil, err
	}
	w.Salesforce = srv
	w.IntegrationUser = integrationUsername(sw)
	srv.AddConnectedApp(sfsim.ConnectedApp{ClientID: w.SFClientID, ClientSecret: w.SFSecret, ClientCredentialsUser: w.IntegrationUser})
	return w, nil
}

func integrationUsername(sw *scenario.World) string {
	for i, u := range sw.Salesforce {
		if sw.Integration(i) {
			return u.Username
		}
	}
	return "idlink.integration@" + sw.Domain
}

// Close stops both services.
func (w *World) Close() {
	if w.Salesforce != nil {
		w.Salesforce.Close()
	}
	if w.Entra != nil {
		w.Entra.Close()
	}
}

// HTTPClient trusts the world's certificate.
func (w *World) HTTPClient() *http.Client { return w.TLS.Client() }

// EntraUserinfoURL is Entra's own userinfo endpoint (no oid, no tid).
func (w *World) EntraUserinfoURL() string { return w.Entra.GraphURL() + "/oidc/userinfo" }

// Config returns an idlink configuration for the world with secrets filled
// in, storing into the SQLite file at storePath. caFile must hold the world's
// CA certificate (WriteCA) for the parts that read files.
func (w *World) Config(storePath, caFile string) config.Config {
	cfg := config.Defaults()
	cfg.Store.Path = storePath
	e := &cfg.Entra
	e.TenantID = w.Scenario.TenantID
	e.ClientID = w.JobClientID
	e.ClientSecret = config.Secret(w.JobSecret)
	e.AuthorityHost = w.Entra.LoginURL() + "/"
	e.GraphBaseURL = w.Entra.GraphURL()
	e.DisableInstanceDiscovery = true
	e.CABundleFile = caFile
	e.SalesforceAppID = w.Scenario.App.AppID
	s := &cfg.Salesforce
	s.LoginURL = w.Salesforce.URL()
	s.ClientID = w.SFClientID
	s.ClientSecret = config.Secret(w.SFSecret)
	s.CABundleFile = caFile
	for _, p := range w.Scenario.Providers {
		cfg.Providers = append(cfg.Providers, config.Provider{Name: p.Name, Issuer: w.Entra.Issuer(), ClientID: p.ClientID, Strategy: string(p.Strategy)})
		cfg.Bridge.Issuers = append(cfg.Bridge.Issuers, config.BridgeIssuer{
			Provider: p.Name, Issuer: w.Entra.Issuer(), Audiences: []string{p.ClientID, "api://" + p.ClientID},
			TenantIDs: []string{w.Scenario.TenantID}, ClientID: p.ClientID,
		})
	}
	cfg.Bridge.CABundleFile = caFile
	cfg.Bridge.Listen = "127.0.0.1:8443"
	cfg.Bridge.TLSCertFile, cfg.Bridge.TLSKeyFile = w.bridgeCert, w.bridgeKey
	return cfg
}

// WriteBridgeTLS writes a loopback certificate and key signed by the world's
// CA to dir, and makes Config serve the bridge over TLS with them.
func (w *World) WriteBridgeTLS(dir string) error {
	cert, key := filepath.Join(dir, "bridge-tls.crt"), filepath.Join(dir, "bridge-tls.key")
	if err := w.TLS.WriteServerCert(cert, key); err != nil {
		return err
	}
	w.bridgeCert, w.bridgeKey = cert, key
	return nil
}

// WriteCA writes the world's CA certificate (what clients must trust).
func (w *World) WriteCA(path string) error { return w.TLS.WriteCA(path) }

// ConfigYAML renders the config as a file an admin can pass to idlink. Secrets
// are not in it: they are given as environment variables (see Env).
func (w *World) ConfigYAML(storePath, caFile string) string {
	cfg := w.Config(storePath, caFile)
	var b strings.Builder
	fmt.Fprintf(&b, "# idlink configuration for the simulated world started by 'idlink sim'.\n")
	fmt.Fprintf(&b, "# Secrets come from the environment: see the lines printed with it.\n")
	fmt.Fprintf(&b, "store:\n  driver: sqlite\n  path: %q\n", storePath)
	fmt.Fprintf(&b, "entra:\n  tenant_id: %s\n  client_id: %s\n  credential: client-secret\n  authority_host: %q\n  graph_base_url: %q\n  disable_instance_discovery: true\n  ca_bundle_file: %q\n  scope: app-assignments\n  salesforce_app_id: %s\n",
		cfg.Entra.TenantID, cfg.Entra.ClientID, cfg.Entra.AuthorityHost, cfg.Entra.GraphBaseURL, caFile, cfg.Entra.SalesforceAppID)
	fmt.Fprintf(&b, "salesforce:\n  login_url: %q\n  auth: client-credentials\n  client_id: %q\n  ca_bundle_file: %q\n", cfg.Salesforce.LoginURL, cfg.Salesforce.ClientID, caFile)
	fmt.Fprintf(&b, "providers:\n")
	for _, p := range cfg.Providers {
		fmt.Fprintf(&b, "  - name: %s\n    issuer: %q\n    client_id: %s\n    strategy: %s\n", p.Name, p.Issuer, p.ClientID, p.Strategy)
	}
	fmt.Fprintf(&b, "bridge:\n  listen: %q\n  ca_bundle_file: %q\n", cfg.Bridge.Listen, caFile)
	if cfg.Bridge.TLSCertFile != "" {
		fmt.Fprintf(&b, "  tls_cert_file: %q\n  tls_key_file: %q\n", cfg.Bridge.TLSCertFile, cfg.Bridge.TLSKeyFile)
	}
	fmt.Fprintf(&b, "  issuers:\n")
	for _, is := range cfg.Bridge.Issuers {
		fmt.Fprintf(&b, "    - provider: %s\n      issuer: %q\n      audiences: [%q, %q]\n      tenant_ids: [%s]\n      client_id: %q\n", is.Provider, is.Issuer, is.Audiences[0], is.Audiences[1], is.TenantIDs[0], is.ClientID)
	}
	return b.String()
}

// Env lists the environment variables that carry the world's secrets.
func (w *World) Env() []string {
	return []string{"IDLINK_ENTRA_CLIENT_SECRET=" + w.JobSecret, "IDLINK_SALESFORCE_CLIENT_SECRET=" + w.SFSecret}
}

// Handler is how the org's registration handler is set up for a sign-in.
type Handler struct {
	// JIT creates a user when nothing matches (a duplicate for a person who
	// has an account).
	JIT bool
	// Legacy is a handler from before idlink, without confirmUser: an
	// existing ThirdPartyAccountLink decides alone.
	Legacy bool
	// RepointOnConfirm: the org re-points the ThirdPartyAccountLink to the
	// user confirmUser returns (undocumented; see sfsim.SignInConfig).
	RepointOnConfirm bool
}

// SignInVia emulates one person's OIDC sign-in to Salesforce with the Auth.
// Provider's user info endpoint at userinfoURL. Entra's own userinfo accepts
// only Graph tokens, so the token is requested for Graph there and for the
// app's own scope otherwise (what the bridge requires).
func (w *World) SignInVia(ctx context.Context, oid, userinfoURL string, client *http.Client, h Handler) (sfsim.SignInResult, error) {
	scopes := []string{"openid", "profile", "email", "api://" + w.Provider.ClientID + "/access"}
	if userinfoURL == w.EntraUserinfoURL() {
		scopes = []string{"openid", "profile", "email"}
	}
	tok, err := w.Entra.SignIn(w.Provider.ClientID, oid, scopes...)
	if err != nil {
		return sfsim.SignInResult{}, err
	}
	if client == nil {
		client = w.HTTPClient()
	}
	return w.Salesforce.SignIn(ctx, client, userinfoURL, tok.AccessToken, sfsim.SignInConfig{
		Provider: w.Provider.Name, TenantID: w.Scenario.TenantID, JIT: h.JIT,
		LegacyHandler: h.Legacy, RepointOnConfirm: h.RepointOnConfirm,
	})
}

// SignInOutcome classifies a sign-in for the story the demo tells.
type SignInOutcome string

const (
	LandedProvisioned SignInOutcome = "landed on the provisioned account"
	LandedDuplicate   SignInOutcome = "landed on a duplicate account"
	CreatedDuplicate  SignInOutcome = "created a duplicate account"
	Failed            SignInOutcome = "failed"
	Refused           SignInOutcome = "refused by Entra (disabled or deleted)"
)

// Classify tells where a sign-in of oid landed. The provisioned account is
// the one Entra provisioning (or, for UPN-only users, the admin before it)
// created for the person: the scenario knows which.
func (w *World) Classify(oid string, r sfsim.SignInResult, err error) SignInOutcome {
	if err != nil {
		if strings.Contains(err.Error(), "AADSTS50057") {
			return Refused
		}
		return Failed
	}
	switch {
	case r.CreatedUser:
		return CreatedDuplicate
	case r.UserID == "":
		return Failed
	}
	owner, ok := w.Scenario.EntraIndex(oid)
	if !ok {
		return LandedDuplicate
	}
	if i, ok := w.Scenario.SalesforceIndex(r.UserID); ok {
		role, o := w.Scenario.SalesforceRole(i)
		if o == owner && (role == scenario.RoleProvisioned || role == scenario.RoleUPNOnly) {
			return LandedProvisioned
		}
	}
	return LandedDuplicate
}

func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
