package bridge

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/idlinkhq/idlink/internal/bridge/jwtverify"
	"github.com/idlinkhq/idlink/internal/identity"
)

// MaxRequestHeaderBytes bounds all request headers together; an Authorization
// header larger than a token may be (jwtverify.MaxTokenBytes) is refused anyway.
const MaxRequestHeaderBytes = 32 << 10

// Server is the userinfo bridge.
type Server struct {
	cfg      Config
	log      *slog.Logger
	verifier *jwtverify.Verifier
	keySets  []*jwtverify.KeySet
	// keySetIssuer names each key set by the first issuer using it.
	keySetIssuer []string
	issuers      map[string]IssuerConfig // by exact iss
	obs          *observer
	metrics      *metrics
}

// New checks the configuration and builds the bridge. It fetches nothing:
// keys are loaded by Run (or on the first request).
func New(cfg Config, rec ObservationRecorder, logger *slog.Logger) (*Server, error) {
	if rec == nil {
		return nil, errors.New("bridge: no observation recorder (store)")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: c, log: logger, issuers: map[string]IssuerConfig{}}
	shared := map[string]*jwtverify.KeySet{} // issuers publishing the same JWKS share one cache
	var vis []jwtverify.Issuer
	for _, ic := range c.Issuers {
		key := "jwks " + ic.JWKSURL
		if ic.JWKSURL == "" {
			key = "discovery " + ic.DiscoveryURL + " " + ic.Issuer
		}
		ks, ok := shared[key]
		if !ok {
			ks, err = jwtverify.NewKeySet(jwtverify.KeySetConfig{
				Issuer: ic.Issuer, DiscoveryURL: ic.DiscoveryURL, JWKSURL: ic.JWKSURL,
				Client: c.HTTPClient, MinRefreshInterval: c.JWKSMinRefreshInterval, Now: c.Now,
			})
			if err != nil {
				return nil, fmt.Errorf("bridge issuer %s: %w", ic.Issuer, err)
			}
			shared[key] = ks
			s.keySets = append(s.keySets, ks)
			s.keySetIssuer = append(s.keySetIssuer, ic.Issuer)
		}
		vis = append(vis, jwtverify.Issuer{
			Issuer: ic.Issuer, Audiences: ic.Audiences, TenantIDs: ic.TenantIDs, TenantClaim: ic.TenantClaim,
			AuthorizedParties: ic.AuthorizedParties, Scopes: ic.Scopes, AllowNoScope: ic.AllowNoScope,
			ObjectIDFromSubject: ic.ObjectIDFromSubject, Keys: ks,
		})
		s.issuers[ic.Issuer] = ic
	}
	s.verifier, err = jwtverify.NewVerifier(vis, jwtverify.Options{Leeway: c.Leeway, Now: c.Now})
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	s.metrics = newMetrics(s.keyStats)
	s.obs = newObserver(rec, logger, s.metrics, c.Now, c.MaxCachedPairs)
	return s, nil
}

func (s *Server) keyStats() []keyStat {
	out := make([]keyStat, 0, len(s.keySets))
	for i, ks := range s.keySets {
		out = append(out, keyStat{issuer: s.keySetName(i), keys: ks.Len(), fetches: ks.Fetches.Load(), failed: ks.FetchFailures.Load()})
	}
	return out
}

// keySetName names a key set by the first issuer using it.
func (s *Server) keySetName(i int) string { return s.keySetIssuer[i] }

// Handler serves /userinfo (GET and POST): the public port Salesforce calls.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/userinfo", s.userinfo)
	return mux
}

// OpsHandler serves /healthz and /metrics, for the operator's network only:
// metrics name issuers and counts that the internet need not see.
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.healthz)
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// Run refreshes every issuer's keys at once and then on the refresh interval,
// and writes coalesced observations on the flush interval, until ctx is done.
// A last flush runs on the way out, with its own 10 s budget.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i, ks := range s.keySets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.refreshLoop(ctx, ks, s.keySetName(i))
		}()
	}
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
			if n, err := s.obs.flush(ctx); err != nil {
				s.log.Warn("bridge: observation flush incomplete; will retry", "written", n, "err", err)
			}
		}
	}
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	n, err := s.obs.flush(fctx)
	if err != nil {
		pairs, sightings := s.obs.pendingCount()
		s.log.Error("bridge: final observation flush failed; last-seen times and counts of known pairs are lost (their bindings are stored)",
			"written", n, "pairs", pairs, "sightings", sightings, "err", err)
		return fmt.Errorf("bridge: final observation flush: %w", err)
	}
	return nil
}

func (s *Server) refreshLoop(ctx context.Context, ks *jwtverify.KeySet, name string) {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := ks.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("bridge: JWKS refresh failed; keeping the cached keys", "issuer", name, "err", err)
			wait = min(s.cfg.JWKSMinRefreshInterval, s.cfg.JWKSRefreshInterval)
			continue
		}
		s.log.Debug("bridge: JWKS refreshed", "issuer", name, "keys", ks.Len())
		wait = s.cfg.JWKSRefreshInterval
	}
}

// Serve answers on ln until ctx is done, then drains requests (10 s), stops
// the background work and flushes observations.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxRequestHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(runCtx) }()

	serveErr := make(chan error, 1)
	go func() {
		if s.cfg.TLSCertFile != "" {
			serveErr <- srv.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	var err error
	select {
	case err = <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	stopRun()
	return errors.Join(err, <-runErr)
}

// ListenAndServe listens on the configured address (TLS when cert and key are set).
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("bridge: listen on %s: %w", s.cfg.ListenAddr, err)
	}
	s.log.Info("bridge: listening", "addr", ln.Addr().String(), "tls", s.cfg.TLSCertFile != "")
	if s.cfg.OpsAddr != "" {
		ops, err := net.Listen("tcp", s.cfg.OpsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("bridge: listen on %s (bridge.metrics_listen): %w", s.cfg.OpsAddr, err)
		}
		s.log.Info("bridge: /healthz and /metrics", "addr", ops.Addr().String())
		osrv := &http.Server{Handler: s.OpsHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = osrv.Serve(ops) }()
		defer osrv.Close()
	}
	return s.Serve(ctx, ln)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	type issuerHealth struct {
		Issuer string `json:"issuer"`
		Keys   int    `json:"keys"`
		Error  string `json:"error,omitempty"`
	}
	body := struct {
		Status  string         `json:"status"`
		Issuers []issuerHealth `json:"issuers"`
	}{Status: "ok"}
	code := http.StatusOK
	for i, ks := range s.keySets {
		h := issuerHealth{Issuer: s.keySetName(i), Keys: ks.Len()}
		if !ks.Loaded() {
			code, body.Status = http.StatusServiceUnavailable, "keys not loaded"
			if err := ks.LastError(); err != nil {
				h.Error = err.Error()
			}
		}
		body.Issuers = append(body.Issuers, h)
	}
	writeJSON(w, code, body)
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	result := s.serveUserinfo(w, r)
	s.metrics.requests[result].Inc()
	s.metrics.latency.Observe(time.Since(start).Seconds())
}

func (s *Server) serveUserinfo(w http.ResponseWriter, r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "use GET or POST")
		return resultBadRequest
	}
	if r.Method == http.MethodPost && r.Body != nil {
		// The token travels in the Authorization header only (RFC 6750 §2.1);
		// a body is read and ignored, bounded.
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
	}
	token, problem := bearerToken(r)
	if problem != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="idlink", error="invalid_request", error_description="`+quote(problem)+`"`)
		writeError(w, http.StatusUnauthorized, "invalid_request", problem)
		return resultBadRequest
	}
	fp := Fingerprint(token)
	claims, err := s.verifier.Verify(r.Context(), token)
	if err != nil {
		var e *jwtverify.Error
		if !errors.As(err, &e) {
			e = &jwtverify.Error{Reason: jwtverify.ReasonMalformed, Description: "token refused", Err: err}
		}
		if c, ok := s.metrics.failures[e.Reason]; ok {
			c.Inc()
		}
		if e.Reason == jwtverify.ReasonKeysUnavailable {
			s.log.Error("bridge: cannot verify tokens: issuer keys unavailable", "token_fp", fp, "err", err)
			w.Header().Set("Retry-After", "10")
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", e.Description)
			return resultUnavailable
		}
		s.log.Warn("bridge: token refused", "token_fp", fp, "reason", string(e.Reason), "detail", e.Detail)
		w.Header().Set("WWW-Authenticate", `Bearer realm="idlink", error="invalid_token", error_description="`+quote(e.Description)+`"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", e.Description)
		return resultInvalid
	}

	ic := s.issuers[claims.Issuer]
	client := ic.ClientID
	if client == "" {
		client = claims.AuthorizedParty
	}
	err = s.obs.observe(r.Context(), identity.Observation{
		Provider: ic.Provider, Subject: claims.Subject, ObjectID: claims.ObjectID, TenantID: claims.TenantID,
		ClientID: client, Source: identity.SourceBridge, LastSeen: s.cfg.Now().UTC(),
	})
	switch {
	case errors.Is(err, errConflict):
		s.log.Warn("bridge: subject is bound to another object id; sign-in refused",
			"token_fp", fp, "provider", ic.Provider, "oid", claims.ObjectID, "err", err)
		writeError(w, http.StatusForbidden, "subject_conflict",
			"this sign-in subject is already bound to another Entra object id; an identity admin must resolve the conflict (idlink report lists it)")
		return resultConflict
	case err != nil:
		s.log.Error("bridge: observation not recorded; sign-in refused so that Salesforce never sees an unrecorded subject",
			"token_fp", fp, "provider", ic.Provider, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the bridge could not record this sign-in; try again")
		return resultUnavailable
	}
	s.log.Debug("bridge: userinfo answered", "token_fp", fp, "provider", ic.Provider, "oid", claims.ObjectID)
	writeJSON(w, http.StatusOK, s.response(claims))
	return resultOK
}

// response is the userinfo document: standard OIDC members plus oid and tid.
func (s *Server) response(c *jwtverify.Claims) map[string]any {
	out := map[string]any{"sub": c.Subject, "oid": c.ObjectID, "tid": c.TenantID}
	for k, v := range map[string]string{
		"preferred_username": c.PreferredUsername, "name": c.Name,
		"given_name": c.GivenName, "family_name": c.FamilyName,
	} {
		if v != "" {
			out[k] = v
		}
	}
	if c.Email != "" && (s.cfg.EmailPolicy == EmailAlways || (s.cfg.EmailPolicy == EmailVerified && c.EmailVerified)) {
		out["email"] = c.Email
		out["email_verified"] = c.EmailVerified
	}
	for _, n := range s.cfg.ExtraClaims {
		if v, ok := c.Raw[n]; ok {
			out[n] = v
		}
	}
	return out
}

// bearerToken extracts the token of the one Authorization: Bearer header.
func bearerToken(r *http.Request) (token, problem string) {
	vals := r.Header.Values("Authorization")
	switch {
	case len(vals) == 0 && r.URL.Query().Has("access_token"):
		// Tokens in URLs end up in proxy and access logs; refuse, and say how to fix it.
		return "", "the access token came in the query string; enable 'Send access token in header' on the Salesforce Auth. Provider"
	case len(vals) == 0:
		return "", "missing Authorization: Bearer header"
	case len(vals) > 1:
		return "", "more than one Authorization header"
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", "Authorization header is not a Bearer token"
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" {
		return "", "empty bearer token"
	}
	return tok, ""
}

// Fingerprint identifies a token in logs without revealing it: the first 12
// hex digits of its SHA-256.
func Fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}

// quote makes s safe inside a quoted-string of an auth-param (RFC 9110 §5.6.4).
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

func writeError(w http.ResponseWriter, code int, errCode, desc string) {
	writeJSON(w, code, map[string]string{"error": errCode, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(b)
}
