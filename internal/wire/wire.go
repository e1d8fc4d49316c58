// Package wire builds idlink's parts from the configuration: the Entra
// source, the Salesforce client and link writer, the job, the reconcile and
// bridge configs. cmd/idlink and the end-to-end benchmark share it, so the
// benchmark measures exactly what the CLI runs.
package wire

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/idlinkhq/idlink/internal/bridge"
	"github.com/idlinkhq/idlink/internal/bridge/jwtverify"
	"github.com/idlinkhq/idlink/internal/config"
	"github.com/idlinkhq/idlink/internal/entra"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/job"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/reconcile/subject"
	"github.com/idlinkhq/idlink/internal/salesforce"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/sqlite"
)

// graphClientMu serialises building Graph clients: msgraph-sdk-go's
// NewGraphServiceClient writes package-level kiota state (the backing store
// factory) without a lock, so two commands building their client at once in
// one process (the e2e tests, or demo and a run) race. Found by the e2e suite.
var graphClientMu sync.Mutex

// parts are the adapters one run talks to, built from the configuration.
type parts struct {
	entra *entra.Source
	sf    *salesforce.Client
}

func buildParts(cfg config.Config, storeID string, log *slog.Logger, wrapSF func(http.RoundTripper) http.RoundTripper) (parts, error) {
	if err := cfg.RequireSources(); err != nil {
		return parts{}, err
	}
	ec := entraConfig(cfg)
	graphClientMu.Lock()
	es, err := entra.New(ec, log)
	graphClientMu.Unlock()
	if err != nil {
		return parts{}, &config.Error{Key: "entra", File: cfg.Source, Msg: err.Error(), Fix: "correct the entra section"}
	}
	sc, err := salesforceConfig(cfg, storeID, log)
	if err != nil {
		return parts{}, err
	}
	if wrapSF != nil {
		if sc.HTTPClient == nil {
			sc.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		}
		sc.HTTPClient.Transport = wrapSF(sc.HTTPClient.Transport)
	}
	sf, err := salesforce.New(sc)
	if err != nil {
		return parts{}, &config.Error{Key: "salesforce", File: cfg.Source, Msg: err.Error(), Fix: "correct the salesforce section"}
	}
	return parts{entra: es, sf: sf}, nil
}

// entraConfig maps the entra section onto the Graph source's config.
func entraConfig(cfg config.Config) entra.Config {
	return entra.Config{
		TenantID:                 cfg.Entra.TenantID,
		ClientID:                 cfg.Entra.ClientID,
		Credential:               entra.CredentialKind(cfg.Entra.Credential),
		ClientSecret:             cfg.Entra.ClientSecret.Reveal(),
		CertificateFile:          cfg.Entra.CertificateFile,
		CertificatePassword:      cfg.Entra.CertificatePassword.Reveal(),
		FederatedTokenFile:       cfg.Entra.FederatedTokenFile,
		ManagedIdentityClientID:  cfg.Entra.ManagedIdentityClientID,
		AuthorityHost:            cfg.Entra.AuthorityHost,
		GraphBaseURL:             strings.TrimSuffix(strings.TrimSuffix(cfg.Entra.GraphBaseURL, "/"), "/v1.0"),
		GraphScope:               cfg.Entra.GraphTokenScope(),
		DisableInstanceDiscovery: cfg.Entra.DisableInstanceDiscovery,
		CABundleFile:             cfg.Entra.CABundleFile,
		Scope:                    entra.ScopeMode(cfg.Entra.Scope),
		SalesforceAppID:          cfg.Entra.SalesforceAppID,
		NestedGroups:             cfg.Entra.NestedGroups,
		ThrottleBudget:           cfg.Entra.ThrottleBudget.D(),
	}
}

// HTTPClientWithCA returns a client that trusts the system roots plus the PEM
// certificates in path.
func HTTPClientWithCA(path string) (*http.Client, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig.RootCAs = pool
	return &http.Client{Transport: t}, nil
}

// ReconcileConfig maps the match, safety and providers sections onto the core's config.
func ReconcileConfig(cfg config.Config) reconcile.Config {
	rc := reconcile.Config{
		Orphans: reconcile.OrphanScope(cfg.Match.Orphans),
		Limits: reconcile.Limits{MaxChanges: cfg.Safety.MaxChanges, MaxPercent: cfg.Safety.MaxChangePercent,
			MaxCreates: cfg.Safety.MaxCreates, MaxCreatePercent: cfg.Safety.MaxCreatePercent, MaxCoverageDrop: cfg.Safety.MaxCoverageDrop},
	}
	for _, r := range cfg.Match.Rules {
		rc.Rules = append(rc.Rules, identity.Rule(r))
	}
	for _, r := range cfg.Match.AutoLink {
		rc.AutoLink = append(rc.AutoLink, identity.Rule(r))
	}
	for _, rw := range cfg.Match.UPNSuffixRewrites {
		rc.UPNRewrites = append(rc.UPNRewrites, reconcile.SuffixRewrite{From: rw.From, To: rw.To})
	}
	for _, p := range cfg.Providers {
		pc := reconcile.ProviderConfig{Provider: identity.Provider{Name: p.Name, Issuer: p.Issuer, ClientID: p.ClientID, Strategy: identity.Strategy(p.Strategy)},
			RevokeAccountLinks: p.RevokeAccountLinks}
		if p.Pairwise != nil {
			pc.Pairwise = subject.Pairwise{SectorIdentifier: p.Pairwise.SectorIdentifier, Salt: p.Pairwise.Salt.Reveal(), Encoding: subject.Encoding(p.Pairwise.Encoding)}
		}
		rc.Providers = append(rc.Providers, pc)
	}
	return rc
}

// entraSource and sfSource adapt the adapters to job.Source.
type entraSource struct{ s *entra.Source }

func (e entraSource) Sync(ctx context.Context, st store.Store, runID int64, full bool) (job.SyncResult, error) {
	mode := entra.ModeAuto
	if full {
		mode = entra.ModeFull
	}
	r, err := e.s.Sync(ctx, st, runID, mode)
	err = tlsHint(err, "entra.ca_bundle_file")
	return job.SyncResult{Note: r.Note, Counts: map[string]int64{
		"pages": int64(r.Pages), "users": int64(r.Users), "changed": int64(r.Changed), "soft_deleted": int64(r.SoftDeleted),
		"hard_deleted": int64(r.HardDeleted), "not_seen": r.NotSeen, "guests": int64(r.Guests), "no_upn": int64(r.NoUPN),
		"in_scope": int64(r.InScope), "throttle_wait_ms": r.ThrottleWait.Milliseconds(),
	}}, err
}

type sfSource struct {
	c        *salesforce.Client
	loginURL string
}

func (s sfSource) Sync(ctx context.Context, st store.Store, runID int64, full bool) (job.SyncResult, error) {
	mode := salesforce.Incremental
	if full {
		mode = salesforce.Full
	}
	before := s.c.Stats()
	r, err := s.c.ReadAll(ctx, st, runID, mode)
	after := s.c.Stats()
	// Nothing listening (or no such host) is a configuration matter: name
	// the key. Found by the e2e suite: the bare dial error did not say it.
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if err != nil && (errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial")) {
		err = fmt.Errorf("%w; fix: check salesforce.login_url (%s): it must be the org's My Domain URL (or login/test.salesforce.com) and reachable from this host", err, s.loginURL)
	}
	err = tlsHint(err, "salesforce.ca_bundle_file")
	return job.SyncResult{Note: strings.Join(r.Notes, "; "), Counts: map[string]int64{
		"users": int64(r.Users), "account_links": int64(r.AccountLinks), "identity_links": int64(r.RemoteLinks), "account_links_gone": r.NotSeen,
		"identity_links_gone": r.RemoteLinksGone, "identity_links_complete_read": b2i(r.RemoteLinksComplete),
		"api_requests": after.APIRequests - before.APIRequests, "token_requests": after.TokenRequests - before.TokenRequests,
	}}, err
}

// Instruments wrap the parts to measure them (the benchmark); nil fields
// leave them as they are.
type Instruments struct {
	Transport func(http.RoundTripper) http.RoundTripper // under the Salesforce client
	Source    func(name string, s job.Source) job.Source
	Writer    func(reconcile.LinkWriter) reconcile.LinkWriter
}

// NewJob assembles a job from the configuration.
func NewJob(cfg config.Config, st store.Store, log *slog.Logger, in Instruments) (*job.Job, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	storeID, err := st.StoreID(ctx)
	cancel()
	if err != nil {
		return nil, err
	}
	p, err := buildParts(cfg, storeID, log, in.Transport)
	if err != nil {
		return nil, err
	}
	if in.Source == nil {
		in.Source = func(_ string, s job.Source) job.Source { return s }
	}
	if in.Writer == nil {
		in.Writer = func(w reconcile.LinkWriter) reconcile.LinkWriter { return w }
	}
	var revoker reconcile.AccountLinkRevoker
	for _, pr := range cfg.Providers {
		if pr.RevokeAccountLinks {
			revoker = p.sf
		}
	}
	return &job.Job{
		Revoker:          revoker,
		Store:            st,
		Entra:            in.Source("entra", entraSource{p.entra}),
		Salesforce:       in.Source("salesforce", sfSource{c: p.sf, loginURL: cfg.Salesforce.LoginURL}),
		Writer:           in.Writer(p.sf),
		WriteConcurrency: cfg.Salesforce.WriteConcurrency,
		BulkThreshold:    cfg.Salesforce.BulkThreshold,
		KeepRunDetails:   cfg.Store.KeepRunDetails,
		FullPlanEvery:    time.Duration(cfg.Match.FullPlanEvery),
		Log:              log,
		Scratch:          scratchStore,
		Throttled:        isThrottled,
	}, nil
}

func isThrottled(err error) bool { return errors.Is(err, identity.ErrRetryLater) }

// scratchStore is the throw-away SQLite store a dry run reads into.
func scratchStore(ctx context.Context) (store.Store, func(), error) {
	dir, err := os.MkdirTemp("", "idlink-dry-run-")
	if err != nil {
		return nil, nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "scratch.db"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return st, func() { st.Close(); os.RemoveAll(dir) }, nil
}

// Holder names this process for the lease and the run record.
func Holder() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", h, os.Getpid(), time.Now().UTC().Format("20060102T150405Z"))
}

// BridgeConfig maps the bridge section onto bridge.Config.
func BridgeConfig(cfg config.Config) (bridge.Config, error) {
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
		ListenAddr:             b.ListenAddr(),
		OpsAddr:                b.MetricsListen,
		TLSCertFile:            b.TLSCertFile,
		TLSKeyFile:             b.TLSKeyFile,
	}
	if b.CABundleFile != "" {
		hc, err := HTTPClientWithCA(b.CABundleFile)
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

// salesforceConfig maps the salesforce and providers sections onto the
// client's configuration.
func salesforceConfig(cfg config.Config, storeID string, log *slog.Logger) (salesforce.Config, error) {
	var err error
	sc := salesforce.Config{
		StoreID:         storeID,
		LoginURL:        cfg.Salesforce.LoginURL,
		Auth:            salesforce.AuthKind(cfg.Salesforce.Auth),
		ClientID:        cfg.Salesforce.ClientID,
		ClientSecret:    cfg.Salesforce.ClientSecret.Reveal(),
		SecretInHeader:  cfg.Salesforce.ClientSecretIn == "basic",
		Username:        cfg.Salesforce.Username,
		APIVersion:      cfg.Salesforce.APIVersion,
		RequestTimeout:  cfg.Salesforce.RequestTimeout.D(),
		Retry:           salesforce.RetryPolicy{MaxAttempts: cfg.Salesforce.MaxRetries + 1},
		ExpiredStatuses: cfg.Salesforce.ExpiredStatusCodes,
		QueryBatchSize:  cfg.Salesforce.QueryBatchSize,
		BulkThreshold:   cfg.Salesforce.BulkThreshold,
		Logger:          log,

		RemoteLinksCompleteEvery: time.Duration(cfg.Salesforce.IdentityLinksCompleteReadEvery),
	}
	// "login" (the default) and "test" are resolved by the Salesforce
	// client, which also knows that a sandbox login host means "test".
	sc.Audience = cfg.Salesforce.Audience
	for _, p := range cfg.Providers {
		sc.Providers = append(sc.Providers, p.Name)
		if p.AuthProviderID != "" {
			if sc.ProviderIDs == nil {
				sc.ProviderIDs = map[string]string{}
			}
			sc.ProviderIDs[p.Name] = p.AuthProviderID
		}
	}
	if cfg.Salesforce.Auth == "jwt-bearer" {
		if sc.PrivateKeyPEM, err = os.ReadFile(cfg.Salesforce.PrivateKeyFile); err != nil {
			return sc, &config.Error{Key: "salesforce.private_key_file", File: cfg.Source, Msg: fmt.Sprintf("cannot read the private key: %v", err), Fix: "point it at the PEM private key of the certificate uploaded to the connected app"}
		}
	}
	if cfg.Salesforce.CABundleFile != "" {
		hc, err := HTTPClientWithCA(cfg.Salesforce.CABundleFile)
		if err != nil {
			return sc, &config.Error{Key: "salesforce.ca_bundle_file", File: cfg.Source, Msg: err.Error(), Fix: "point it at a PEM file of CA certificates"}
		}
		sc.HTTPClient = hc
	}
	return sc, nil
}

// tlsHint names the CA bundle key when a certificate could not be verified
// (a TLS-inspecting proxy, a private CA): the bare x509 error does not say
// what to change.
func tlsHint(err error, key string) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &hostname) || strings.Contains(err.Error(), "x509: certificate is valid for"):
		return fmt.Errorf("%w; fix: the certificate is for another host name: check the URL, or the proxy in between", err)
	case errors.As(err, &unknown), errors.As(err, &invalid), strings.Contains(err.Error(), "x509: certificate"):
		return fmt.Errorf("%w; fix: if a proxy or a private CA signs the certificate, give its CA certificates in %s (PEM)", err, key)
	}
	return err
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
