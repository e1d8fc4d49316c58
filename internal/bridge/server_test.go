package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/bridge"
	"github.com/idlinkhq/idlink/internal/bridge/bridgetest"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store/sqlite"
)

const provider = "EntraSSO"

// countingRecorder is the real store with a write counter and a switch that
// makes writes fail (a database outage).
type countingRecorder struct {
	st     *sqlite.Store
	writes atomic.Int64
	fail   atomic.Bool
}

func (c *countingRecorder) RecordObservation(ctx context.Context, o identity.Observation) (identity.ObservationResult, error) {
	if c.fail.Load() {
		return identity.ObservationResult{}, errors.New("database unavailable")
	}
	c.writes.Add(1)
	return c.st.RecordObservation(ctx, o)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t    testing.TB
	iss  *bridgetest.Issuer
	st   *sqlite.Store
	rec  *countingRecorder
	srv  *bridge.Server
	http *httptest.Server
	ops  *httptest.Server // /healthz and /metrics
	logs *syncBuffer
	now  time.Time
}

func newEnv(t *testing.T, mod func(*bridge.Config)) *env { return newEnvTB(t, slog.LevelDebug, mod) }

func newEnvTB(t testing.TB, level slog.Level, mod func(*bridge.Config)) *env {
	t.Helper()
	iss := bridgetest.NewIssuer(t, bridgetest.TenantID)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "idlink.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, iss: iss, st: st, rec: &countingRecorder{st: st}, logs: &syncBuffer{}, now: time.Now().Truncate(time.Second)}
	cfg := bridge.Config{
		Issuers: []bridge.IssuerConfig{{
			Provider: provider, Issuer: iss.IssuerURL, Audiences: []string{bridgetest.ClientID},
			TenantIDs: []string{bridgetest.TenantID}, ClientID: bridgetest.ClientID,
		}},
		HTTPClient: iss.Client(),
		Now:        func() time.Time { return e.now },
	}
	if mod != nil {
		mod(&cfg)
	}
	bridgetest.Shipped(&cfg)
	e.srv, err = bridge.New(cfg, e.rec, slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.http.Close)
	e.ops = httptest.NewServer(e.srv.OpsHandler())
	t.Cleanup(e.ops.Close)
	return e
}

type reply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) call(method, authorization string) reply {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.http.URL+"/userinfo", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) reply {
	e.t.Helper()
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, header: resp.Header, raw: string(b)}
	json.Unmarshal(b, &r.body)
	return r
}

func (e *env) token(n int, mod func(map[string]any)) string {
	c := e.iss.Claims(e.now, n)
	if mod != nil {
		mod(c)
	}
	return e.iss.Sign("k0", c)
}

func (e *env) observations() []identity.Observation {
	var out []identity.Observation
	if err := e.st.ScanObservations(context.Background(), func(o identity.Observation) error { out = append(out, o); return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func TestUserinfoHappyPath(t *testing.T) {
	e := newEnv(t, func(c *bridge.Config) { c.ExtraClaims = []string{"ver", "roles"} })
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r := e.call(method, "Bearer "+e.token(5, nil))
		if r.code != http.StatusOK {
			t.Fatalf("%s: %d %s", method, r.code, r.raw)
		}
		want := map[string]any{
			"sub": "pairwise-sub-0005-AbCdEfGhIjKlMnOp", "oid": "00000000-0000-4000-8000-000000000005", "tid": bridgetest.TenantID,
			"preferred_username": "user5@contoso.example", "name": "User 5", "given_name": "User", "family_name": "5", "ver": "2.0",
		}
		if len(r.body) != len(want) {
			t.Errorf("%s: body %v, want %v", method, r.body, want)
		}
		for k, v := range want {
			if r.body[k] != v {
				t.Errorf("%s: %s = %v, want %v", method, k, r.body[k], v)
			}
		}
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.header)
		}
	}
	obs := e.observations()
	if len(obs) != 1 {
		t.Fatalf("observations %+v", obs)
	}
	o := obs[0]
	if o.Provider != provider || o.Subject != "pairwise-sub-0005-AbCdEfGhIjKlMnOp" || o.ObjectID != "00000000-0000-4000-8000-000000000005" ||
		o.TenantID != bridgetest.TenantID || o.ClientID != bridgetest.ClientID || o.Source != identity.SourceBridge || o.Count != 1 {
		t.Errorf("observation %+v (the second sighting is coalesced, not yet flushed)", o)
	}
}

func TestEmailPolicy(t *testing.T) {
	cases := []struct {
		policy   bridge.EmailPolicy
		verified bool
		want     bool
	}{
		{"", true, false}, {bridge.EmailNever, true, false},
		{bridge.EmailVerified, false, false}, {bridge.EmailVerified, true, true},
		{bridge.EmailAlways, false, true},
	}
	for _, tc := range cases {
		e := newEnv(t, func(c *bridge.Config) { c.EmailPolicy = tc.policy })
		r := e.call("GET", "Bearer "+e.token(1, func(c map[string]any) {
			if tc.verified {
				c["xms_edov"] = true
			}
		}))
		if r.code != 200 {
			t.Fatalf("%d %s", r.code, r.raw)
		}
		if _, got := r.body["email"]; got != tc.want {
			t.Errorf("policy %q verified %v: email present %v, want %v", tc.policy, tc.verified, got, tc.want)
		}
	}
}

// TestRefusals runs the security matrix through HTTP: 401, the invalid_token
// challenge, no token in the body or the logs, the fingerprint in the logs,
// and no observation written.
func TestRefusals(t *testing.T) {
	e := newEnv(t, nil)
	valid := e.token(1, nil)
	parts := strings.Split(valid, ".")
	pem := bridgetest.PublicKeyPEM(&bridgetest.Key(0).PublicKey)
	mod := func(f func(map[string]any)) string { return e.token(1, f) }
	cases := map[string]string{
		"alg none":              bridgetest.Segment(map[string]any{"alg": "none", "kid": "k0"}) + "." + parts[1] + "." + parts[2],
		"HS256 with public key": bridgetest.SignHS256(pem, map[string]any{"alg": "HS256", "kid": "k0"}, e.iss.Claims(e.now, 1)),
		"unknown kid":           bridgetest.SignRS256(bridgetest.Key(1), map[string]any{"alg": "RS256", "kid": "nope"}, e.iss.Claims(e.now, 1)),
		"expired":               mod(func(c map[string]any) { c["exp"] = e.now.Add(-2 * time.Minute).Unix() }),
		"not yet valid":         mod(func(c map[string]any) { c["nbf"] = e.now.Add(2 * time.Minute).Unix() }),
		"wrong aud":             mod(func(c map[string]any) { c["aud"] = "api://other" }),
		"wrong iss": mod(func(c map[string]any) {
			c["iss"] = "https://login.microsoftonline.com/" + bridgetest.TenantID + "/v2.0"
		}),
		"wrong tid":            mod(func(c map[string]any) { c["tid"] = "9a9a9a9a-0000-4000-8000-000000000000" }),
		"missing tid":          mod(func(c map[string]any) { delete(c, "tid") }),
		"key not in JWKS":      bridgetest.SignRS256(bridgetest.Key(1), map[string]any{"alg": "RS256", "kid": "k0"}, e.iss.Claims(e.now, 1)),
		"tampered payload":     parts[0] + "." + bridgetest.Segment(mod2(e.iss.Claims(e.now, 1))) + "." + parts[2],
		"malformed base64":     parts[0] + "." + parts[1][:10] + "%%" + parts[1][12:] + "." + parts[2],
		"oversized JWT header": bridgetest.Segment(map[string]any{"alg": "RS256", "kid": "k0", "pad": strings.Repeat("x", 1500)}) + "." + parts[1] + "." + parts[2],
		"oversized token":      valid + strings.Repeat("A", 17<<10),
		"ID token (no scp)":    mod(func(c map[string]any) { delete(c, "scp") }),
		"graph token":          mod(func(c map[string]any) { c["aud"] = "00000003-0000-0000-c000-000000000000" }),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.call("GET", "Bearer "+tok)
			if r.code != http.StatusUnauthorized {
				t.Fatalf("status %d %s", r.code, r.raw)
			}
			ch := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, `Bearer realm="idlink", error="invalid_token", error_description="`) {
				t.Errorf("challenge %q", ch)
			}
			if name == "graph token" && !strings.Contains(ch, "must request the app's own scope") {
				t.Errorf("graph token challenge does not tell the fix: %q", ch)
			}
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			if len(sig) > 16 && (strings.Contains(r.raw, sig[:16]) || strings.Contains(ch, sig[:16]) || strings.Contains(e.logs.String(), sig[:16])) {
				t.Error("token material in the response or the logs")
			}
			if !strings.Contains(e.logs.String(), "token_fp="+bridge.Fingerprint(tok)) {
				t.Error("refusal not logged with the token fingerprint")
			}
		})
	}
	if obs := e.observations(); len(obs) != 0 {
		t.Errorf("refused tokens left observations: %+v", obs)
	}
	if r := e.call("GET", "Bearer "+valid); r.code != 200 {
		t.Fatalf("control token refused: %d %s", r.code, r.raw)
	}
}

func mod2(c map[string]any) map[string]any {
	c["oid"] = "00000000-0000-4000-8000-999999999999"
	return c
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.call("GET", ""); r.code != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Errorf("no header: %d %v", r.code, r.header)
	}
	req0, _ := http.NewRequest("GET", e.http.URL+"/userinfo?access_token="+e.token(1, nil), nil)
	if r := e.do(req0); r.code != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "Send access token in header") {
		t.Errorf("token in query: %d %v", r.code, r.header)
	}
	if r := e.call("GET", "Basic dXNlcjpwYXNz"); r.code != 401 {
		t.Errorf("basic: %d", r.code)
	}
	if r := e.call("DELETE", "Bearer "+e.token(1, nil)); r.code != 405 || r.header.Get("Allow") != "GET, POST" {
		t.Errorf("DELETE: %d %v", r.code, r.header)
	}
	req, _ := http.NewRequest("GET", e.http.URL+"/userinfo", nil)
	req.Header.Add("Authorization", "Bearer "+e.token(1, nil))
	req.Header.Add("Authorization", "Bearer "+e.token(2, nil))
	if r := e.do(req); r.code != 401 {
		t.Errorf("two Authorization headers: %d", r.code)
	}
	// Lower-case scheme is fine (RFC 9110 §11.1: case-insensitive).
	if r := e.call("GET", "bearer "+e.token(1, nil)); r.code != 200 {
		t.Errorf("lower-case bearer: %d %s", r.code, r.raw)
	}
}

// TestOversizedHTTPHeader: the real http.Server refuses headers over the limit
// before the handler runs.
func TestOversizedHTTPHeader(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("A", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header: %d, want 431", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestCoalescing: a known pair costs no store write per request; its
// sightings are written by the flush, one write per pair, with the count.
func TestCoalescing(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 50; i++ {
		tok := e.token(1, func(c map[string]any) { c["jti"] = i }) // distinct tokens, same pair
		if r := e.call("GET", "Bearer "+tok); r.code != 200 {
			t.Fatalf("request %d: %d %s", i, r.code, r.raw)
		}
	}
	if n := e.rec.writes.Load(); n != 1 {
		t.Fatalf("%d store writes for 50 sightings of one pair, want 1", n)
	}
	e.now = e.now.Add(10 * time.Second)
	e.call("GET", "Bearer "+e.token(1, nil))
	n, err := bridge.Flush(e.srv, context.Background())
	if err != nil || n != 1 {
		t.Fatalf("flush wrote %d, err %v", n, err)
	}
	obs := e.observations()
	if len(obs) != 1 || obs[0].Count != 51 || !obs[0].LastSeen.Equal(e.now) || !obs[0].FirstSeen.Equal(e.now.Add(-10*time.Second)) {
		t.Fatalf("after flush: %+v, want count 51 last seen %v", obs, e.now)
	}
	if n, _ := bridge.Flush(e.srv, context.Background()); n != 0 {
		t.Errorf("second flush wrote %d, want 0", n)
	}
}

// TestStoreOutage: a new pair cannot be answered without its durable write
// (503); a known pair keeps working from memory and its sightings are
// written once the store is back.
func TestStoreOutage(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.call("GET", "Bearer "+e.token(1, nil)); r.code != 200 {
		t.Fatal(r.code)
	}
	e.rec.fail.Store(true)
	r := e.call("GET", "Bearer "+e.token(2, nil))
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("new pair during outage: %d %v", r.code, r.header)
	}
	if r := e.call("GET", "Bearer "+e.token(1, nil)); r.code != 200 {
		t.Fatalf("known pair during outage: %d", r.code)
	}
	if _, err := bridge.Flush(e.srv, context.Background()); err == nil {
		t.Fatal("flush during outage reported success")
	}
	e.rec.fail.Store(false)
	if n, err := bridge.Flush(e.srv, context.Background()); err != nil || n != 1 {
		t.Fatalf("flush after outage: %d %v", n, err)
	}
	obs := e.observations()
	if len(obs) != 1 || obs[0].Count != 2 {
		t.Fatalf("observations %+v: the requeued sighting is lost", obs)
	}
}

// TestConflict: one sub presented with two oids is recorded and refused; the
// first binding keeps working; a repeat of the conflict costs no write.
func TestConflict(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.call("GET", "Bearer "+e.token(1, nil)); r.code != 200 {
		t.Fatal(r.code)
	}
	other := func(c map[string]any) { c["oid"] = "00000000-0000-4000-8000-000000000666" }
	r := e.call("GET", "Bearer "+e.token(1, other))
	if r.code != http.StatusForbidden || r.body["error"] != "subject_conflict" {
		t.Fatalf("conflict: %d %s", r.code, r.raw)
	}
	conf, err := e.st.ListObservationConflicts(context.Background())
	if err != nil || len(conf) != 1 || conf[0].ObjectID != "00000000-0000-4000-8000-000000000001" || conf[0].OtherObject != "00000000-0000-4000-8000-000000000666" {
		t.Fatalf("conflicts %+v %v", conf, err)
	}
	writes := e.rec.writes.Load()
	if r := e.call("GET", "Bearer "+e.token(1, other)); r.code != http.StatusForbidden {
		t.Fatalf("repeat conflict: %d", r.code)
	}
	if e.rec.writes.Load() != writes {
		t.Error("a repeated conflict wrote again")
	}
	if r := e.call("GET", "Bearer "+e.token(1, nil)); r.code != 200 {
		t.Fatalf("first binding after conflict: %d", r.code)
	}
}

// TestConflictFromStoreAfterRestart: a fresh process (empty cache) learns the
// binding from the store and refuses the conflicting oid.
func TestConflictFromStoreAfterRestart(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.st.RecordObservation(context.Background(), identity.Observation{
		Provider: provider, Subject: "pairwise-sub-0001-AbCdEfGhIjKlMnOp", ObjectID: "00000000-0000-4000-8000-000000000777", Source: identity.SourceAccountLnk,
	}); err != nil {
		t.Fatal(err)
	}
	if r := e.call("GET", "Bearer "+e.token(1, nil)); r.code != http.StatusForbidden {
		t.Fatalf("conflicting with a stored binding: %d %s", r.code, r.raw)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, nil)
	// The public port answers /userinfo only.
	for _, path := range []string{"/metrics", "/healthz"} {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("public port serves %s: %d", path, resp.StatusCode)
		}
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(e.ops.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 503 {
		t.Errorf("healthz before keys: %d %s", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(ctx) }()
	for _, ready := range bridge.KeysReady(e.srv) {
		select {
		case <-ready:
		case <-time.After(5 * time.Second): // a deadline: Run never loaded the keys
			_, body := get("/healthz")
			t.Fatalf("keys never loaded: %s", body)
		}
	}
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("healthz after the keys loaded: %d %s", code, body)
	}
	e.call("GET", "Bearer "+e.token(1, nil))
	e.call("GET", "Bearer "+e.token(1, nil))
	e.call("GET", "Bearer "+e.token(1, func(c map[string]any) { c["aud"] = "x" }))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if obs := e.observations(); len(obs) != 1 || obs[0].Count != 2 {
		t.Errorf("final flush on shutdown: %+v", obs)
	}
	_, m := get("/metrics")
	for _, want := range []string{
		`idlink_bridge_requests_total{result="ok"} 2`,
		`idlink_bridge_requests_total{result="invalid_token"} 1`,
		`idlink_bridge_verification_failures_total{reason="audience"} 1`,
		`idlink_bridge_observation_writes_total{outcome="new"} 1`,
		`idlink_bridge_observations_coalesced_total 1`,
		`idlink_bridge_observation_flush_writes_total{result="ok"} 1`,
		`idlink_bridge_request_duration_seconds_count 3`,
		`idlink_bridge_jwks_keys{issuer="` + e.iss.IssuerURL + `"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good := bridge.IssuerConfig{Provider: "p", Issuer: "https://login.microsoftonline.com/" + bridgetest.TenantID + "/v2.0", Audiences: []string{bridgetest.ClientID}}
	cases := map[string]func(*bridge.Config){
		"no issuers": func(c *bridge.Config) { c.Issuers = nil },
		"no provider name": func(c *bridge.Config) {
			c.Issuers = []bridge.IssuerConfig{{Issuer: good.Issuer, Audiences: good.Audiences}}
		},
		"duplicate issuer": func(c *bridge.Config) { c.Issuers = []bridge.IssuerConfig{good, good} },
		"graph audience": func(c *bridge.Config) {
			c.Issuers = []bridge.IssuerConfig{{Provider: "p", Issuer: good.Issuer, Audiences: []string{"https://graph.microsoft.com"}}}
		},
		"leeway too large": func(c *bridge.Config) { c.Leeway = time.Hour },
		"bad email policy": func(c *bridge.Config) { c.EmailPolicy = "sometimes" },
		"no email policy":  func(c *bridge.Config) { c.EmailPolicy = "" },
		"reserved extra":   func(c *bridge.Config) { c.ExtraClaims = []string{"email"} },
		"cert without key": func(c *bridge.Config) { c.TLSCertFile = "c.pem" },
		"no listen":        func(c *bridge.Config) { c.ListenAddr = "" },
		"no flush":         func(c *bridge.Config) { c.FlushInterval = 0 },
		"no JWKS refresh":  func(c *bridge.Config) { c.JWKSRefreshInterval = 0 },
		"http discovery": func(c *bridge.Config) {
			c.Issuers = []bridge.IssuerConfig{{Provider: "p", Issuer: good.Issuer, Audiences: good.Audiences, DiscoveryURL: "http://x/.well-known/openid-configuration"}}
		},
	}
	base := func() bridge.Config {
		c := bridge.Config{Issuers: []bridge.IssuerConfig{good}}
		bridgetest.Shipped(&c)
		return c
	}
	for name, mod := range cases {
		cfg := base()
		mod(&cfg)
		if _, err := bridge.New(cfg, &countingRecorder{}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	good0 := base()
	good0.Leeway = 0 // no leeway is a choice, not a request for the default
	if _, err := bridge.New(good0, &countingRecorder{}, nil); err != nil {
		t.Errorf("good config refused: %v", err)
	}
}

// TestUnknownKidOverHTTP: a burst of tokens under an unknown kid costs exactly
// one JWKS fetch once the rate-limit window has passed, and none inside it.
func TestUnknownKidOverHTTP(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.call("GET", "Bearer "+e.token(1, nil)); r.code != 200 {
		t.Fatal(r.code)
	}
	forged := func() string {
		return bridgetest.SignRS256(bridgetest.Key(1), map[string]any{"alg": "RS256", "kid": "rotated?"}, e.iss.Claims(e.now, 1))
	}
	base := e.iss.JWKSRequests.Load()
	for i := 0; i < 5; i++ {
		if r := e.call("GET", "Bearer "+forged()); r.code != 401 {
			t.Fatal(r.code)
		}
	}
	if n := e.iss.JWKSRequests.Load() - base; n != 0 {
		t.Fatalf("%d JWKS fetches inside the rate-limit window, want 0", n)
	}
	e.now = e.now.Add(61 * time.Second)
	for i := 0; i < 5; i++ {
		if r := e.call("GET", "Bearer "+forged()); r.code != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "key the issuer does not publish") {
			t.Fatalf("%d %v", r.code, r.header)
		}
	}
	if n := e.iss.JWKSRequests.Load() - base; n != 1 {
		t.Fatalf("%d JWKS fetches for 5 unknown-kid tokens after the window, want exactly 1", n)
	}
}

// TestTwoIssuers: tokens are routed by their exact iss to that issuer's keys,
// audiences and provider name; a token naming one issuer but signed with the
// other's key is refused.
func TestTwoIssuers(t *testing.T) {
	iss1 := bridgetest.NewIssuer(t, bridgetest.TenantID)
	iss2 := bridgetest.NewIssuer(t, "7b7b7b7b-0000-4000-8000-000000000001")
	iss2.Unpublish("k0")
	iss2.Publish("k9", bridgetest.Key(3))
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "idlink.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := bridge.Config{
		Issuers: []bridge.IssuerConfig{
			{Provider: "EntraSSO", Issuer: iss1.IssuerURL, Audiences: []string{bridgetest.ClientID}},
			{Provider: "B2CSSO", Issuer: iss2.IssuerURL, Audiences: []string{"b2c-app"}},
		},
		HTTPClient: bridgetest.ClientTrusting(iss1, iss2),
	}
	bridgetest.Shipped(&cfg)
	srv, err := bridge.New(cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	e := &env{t: t, http: hs}
	now := time.Now()
	c2 := iss2.Claims(now, 2)
	c2["aud"] = "b2c-app"
	for _, tc := range []struct {
		name  string
		token string
		code  int
	}{
		{"first issuer", iss1.Sign("k0", iss1.Claims(now, 1)), 200},
		{"second issuer", iss2.Sign("k9", c2), 200},
		{"second issuer, first issuer's audience", iss2.Sign("k9", iss2.Claims(now, 2)), 401},
		{"second issuer's iss, first issuer's key and kid", bridgetest.SignRS256(bridgetest.Key(0), map[string]any{"alg": "RS256", "kid": "k0"}, c2), 401},
	} {
		if r := e.call("GET", "Bearer "+tc.token); r.code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, r.code, r.raw, tc.code)
		}
	}
	got := map[string]string{}
	st.ScanObservations(context.Background(), func(o identity.Observation) error { got[o.Provider] = o.TenantID; return nil })
	if len(got) != 2 || got["EntraSSO"] != bridgetest.TenantID || got["B2CSSO"] != "7b7b7b7b-0000-4000-8000-000000000001" {
		t.Errorf("observations by provider: %v", got)
	}
}
