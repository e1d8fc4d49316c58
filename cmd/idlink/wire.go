package main

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

	"github.com/idlinkhq/idlink/internal/config"
	"github.com/idlinkhq/idlink/internal/entra"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/job"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/reconcile/subject"
	"github.com/idlinkhq/idlink/internal/salesforce"
	"github.com/idlinkhq/idlink/internal/salesforce/linkwriter"
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

func buildParts(cfg config.Config, log *slog.Logger) (parts, error) {
	if err := cfg.RequireSources(); err != nil {
		return parts{}, err
	}
	ec := entra.Config{
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
		DisableInstanceDiscovery: cfg.Entra.DisableInstanceDiscovery,
		CABundleFile:             cfg.Entra.CABundleFile,
		Scope:                    entra.ScopeMode(cfg.Entra.Scope),
		SalesforceAppID:          cfg.Entra.SalesforceAppID,
		NestedGroups:             cfg.Entra.NestedGroups,
		ThrottleBudget:           cfg.Entra.ThrottleBudget.D(),
	}
	graphClientMu.Lock()
	es, err := entra.New(ec, log)
	graphClientMu.Unlock()
	if err != nil {
		return parts{}, &config.Error{Key: "entra", File: cfg.Source, Msg: err.Error(), Fix: "correct the entra section"}
	}
	sc := salesforce.Config{
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
	}
	switch cfg.Salesforce.Audience {
	case "login", "":
		sc.Audience = salesforce.AudienceLogin
	case "test":
		sc.Audience = salesforce.AudienceTest
	default:
		sc.Audience = cfg.Salesforce.Audience
	}
	for _, p := range cfg.Providers {
		sc.Providers = append(sc.Providers, p.Name)
	}
	if cfg.Salesforce.Auth == "jwt-bearer" {
		if sc.PrivateKeyPEM, err = os.ReadFile(cfg.Salesforce.PrivateKeyFile); err != nil {
			return parts{}, &config.Error{Key: "salesforce.private_key_file", File: cfg.Source, Msg: fmt.Sprintf("cannot read the private key: %v", err), Fix: "point it at the PEM private key of the certificate uploaded to the connected app"}
		}
	}
	if cfg.Salesforce.CABundleFile != "" {
		hc, err := httpClientWithCA(cfg.Salesforce.CABundleFile)
		if err != nil {
			return parts{}, &config.Error{Key: "salesforce.ca_bundle_file", File: cfg.Source, Msg: err.Error(), Fix: "point it at a PEM file of CA certificates"}
		}
		sc.HTTPClient = hc
	}
	sf, err := salesforce.New(sc)
	if err != nil {
		return parts{}, &config.Error{Key: "salesforce", File: cfg.Source, Msg: err.Error(), Fix: "correct the salesforce section"}
	}
	return parts{entra: es, sf: sf}, nil
}

func httpClientWithCA(path string) (*http.Client, error) {
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

// reconcileConfig maps the match, safety and providers sections onto the core's config.
func reconcileConfig(cfg config.Config) (reconcile.Config, error) {
	rc := reconcile.Config{
		Orphans: reconcile.OrphanScope(cfg.Match.Orphans),
		Limits:  reconcile.Limits{MaxChanges: cfg.Safety.MaxChanges, MaxPercent: cfg.Safety.MaxChangePercent},
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
		pc := reconcile.ProviderConfig{Provider: identity.Provider{Name: p.Name, Issuer: p.Issuer, ClientID: p.ClientID, Strategy: identity.Strategy(p.Strategy)}}
		if p.Pairwise != nil {
			pc.Pairwise = subject.Pairwise{SectorIdentifier: p.Pairwise.SectorIdentifier, Salt: p.Pairwise.Salt.Reveal(), Encoding: subject.Encoding(p.Pairwise.Encoding)}
		}
		rc.Providers = append(rc.Providers, pc)
	}
	return rc, nil
}

// entraSource and sfSource adapt the adapters to job.Source.
type entraSource struct{ s *entra.Source }

func (e entraSource) Sync(ctx context.Context, st store.Store, runID int64, full bool) (job.SyncResult, error) {
	mode := entra.ModeAuto
	if full {
		mode = entra.ModeFull
	}
	r, err := e.s.Sync(ctx, st, runID, mode)
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
	return job.SyncResult{Counts: map[string]int64{
		"users": int64(r.Users), "account_links": int64(r.AccountLinks), "identity_links": int64(r.RemoteLinks), "account_links_gone": r.NotSeen,
		"api_requests": after.APIRequests - before.APIRequests, "token_requests": after.TokenRequests - before.TokenRequests,
	}}, err
}

// newJob assembles a job from the configuration.
func newJob(cfg config.Config, st store.Store, log *slog.Logger) (*job.Job, error) {
	p, err := buildParts(cfg, log)
	if err != nil {
		return nil, err
	}
	return &job.Job{
		Store:      st,
		Entra:      entraSource{p.entra},
		Salesforce: sfSource{c: p.sf, loginURL: cfg.Salesforce.LoginURL},
		Writer:     linkwriter.Writer{Client: p.sf},
		Log:        log,
		Scratch:    scratchStore,
		Throttled:  isThrottled,
	}, nil
}

func isThrottled(err error) bool { return errors.Is(err, entra.ErrThrottled) }

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

func holder() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", h, os.Getpid(), time.Now().UTC().Format("20060102T150405Z"))
}
