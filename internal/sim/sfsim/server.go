package sfsim

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/sim/simtls"
)

// Endpoint names for fault injection and counters.
const (
	EndpointToken       = "token"
	EndpointQuery       = "query"       // first page of a query or queryAll
	EndpointQueryMore   = "query-more"  // nextRecordsUrl pages
	EndpointCollections = "collections" // sObject Collections upsert
	EndpointLimits      = "limits"
)

// Config shapes the simulated org's service behaviour.
type Config struct {
	// Addr is the listen address; default 127.0.0.1:0.
	Addr string
	// SessionTTL is how long an access token stays valid (Salesforce's
	// session timeout setting, 2 hours by default).
	SessionTTL time.Duration
	// DailyLimit is the org's daily API request allocation; default 100,000.
	DailyLimit int64
	// Seed drives random faults.
	Seed uint64
	// CursorIdle is how long an unused query locator lives; default 15 minutes.
	CursorIdle time.Duration
	// Concurrent long-running requests: Salesforce refuses new API requests
	// with 403 REQUEST_LIMIT_EXCEEDED while LongRunningLimit requests (25 in
	// production orgs and sandboxes, 5 in Developer Edition) have run for
	// LongRunning (20 s) or longer; shorter requests are not limited.
	// https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html
	// ("Concurrent API Request Limits"). Tests shorten LongRunning.
	LongRunning      time.Duration
	LongRunningLimit int
}

// ConnectedApp is an External Client App / connected app the token endpoint
// knows.
type ConnectedApp struct {
	ClientID     string // consumer key
	ClientSecret string // consumer secret
	// ClientCredentialsUser is the "Run As" username of the client
	// credentials flow; empty means the flow is not enabled for the app.
	ClientCredentialsUser string
	// JWTKey is the public key of the certificate uploaded for the JWT
	// bearer flow ("Use digital signatures"); nil disables the flow.
	JWTKey *rsa.PublicKey
	// PreAuthorized are the usernames allowed to use the JWT bearer flow
	// ("Admin approved users are pre-authorized" plus a profile or
	// permission set granting the app).
	PreAuthorized []string
	Scope         string // default "api"
}

type session struct {
	userID  string
	expires time.Time
}

// Server serves one simulated org over TLS.
type Server struct {
	Org *Org

	cfg    Config
	faults *fault.Injector
	srv    *http.Server
	ln     net.Listener
	url    string

	mu       sync.Mutex
	apps     map[string]ConnectedApp
	sessions map[string]*session
	cursors  map[string]*cursor
	userCurs map[string][]string // user id -> open locators, oldest first
	recFails map[string][]RecordError
	reqFails map[string][]requestFailure
	seq      uint64

	bulk bulkState

	used       atomic.Int64
	dailyLimit atomic.Int64

	inflight    map[uint64]inflightReq // API requests being served
	reqSeq      uint64
	maxInflight map[string]int // the most requests to one endpoint at once
	now         func() time.Time
}

type requestFailure struct {
	status    int
	code, msg string
}

// Start serves org on cfg.Addr with a certificate from auth.
func Start(org *Org, auth *simtls.Authority, cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 2 * time.Hour
	}
	if cfg.DailyLimit <= 0 {
		cfg.DailyLimit = 100000
	}
	if cfg.CursorIdle <= 0 {
		cfg.CursorIdle = 15 * time.Minute
	}
	if cfg.LongRunning <= 0 {
		cfg.LongRunning = 20 * time.Second
	}
	if cfg.LongRunningLimit <= 0 {
		cfg.LongRunningLimit = 25
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sim salesforce: listen %s: %w", cfg.Addr, err)
	}
	s := &Server{
		Org: org, cfg: cfg, faults: fault.New(cfg.Seed), ln: ln,
		url:      "https://" + ln.Addr().String(),
		apps:     map[string]ConnectedApp{},
		sessions: map[string]*session{},
		cursors:  map[string]*cursor{},
		userCurs: map[string][]string{},
		recFails: map[string][]RecordError{},
		reqFails: map[string][]requestFailure{},
		inflight: map[uint64]inflightReq{},
		now:      time.Now,
	}
	s.bulk.jobs = map[string]*bulkJob{}
	s.dailyLimit.Store(cfg.DailyLimit)
	s.srv = &http.Server{Handler: s.Handler(), TLSConfig: auth.ServerTLS(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return s, nil
}

// URL is the org's My Domain and instance URL, e.g. https://127.0.0.1:43121.
func (s *Server) URL() string { return s.url }

// Close stops the server at once, dropping open connections (a graceful
// shutdown waits about a second for HTTP/2 clients to go away).
func (s *Server) Close() error { return s.srv.Close() }

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Faults is the injector for latency, 429, 503 and resets per endpoint.
func (s *Server) Faults() *fault.Injector { return s.faults }

// AddConnectedApp registers (or replaces) a connected app.
func (s *Server) AddConnectedApp(a ConnectedApp) {
	if a.Scope == "" {
		a.Scope = "api"
	}
	s.mu.Lock()
	s.apps[a.ClientID] = a
	s.mu.Unlock()
}

// ExpireSessions invalidates every access token issued so far: the next API
// call with one gets 401 INVALID_SESSION_ID.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	for _, ss := range s.sessions {
		ss.expires = time.Time{}
	}
	s.mu.Unlock()
}

// SetDailyLimit changes the daily API request allocation.
func (s *Server) SetDailyLimit(n int64) { s.dailyLimit.Store(n) }

// APIUsage reports requests counted today and the daily limit.
func (s *Server) APIUsage() (used, limit int64) { return s.used.Load(), s.dailyLimit.Load() }

// ResetAPIUsage starts a new day.
func (s *Server) ResetAPIUsage() { s.used.Store(0) }

// FailNextRequests makes the next n requests to endpoint fail as a whole with
// status and Salesforce's error body [{"message","errorCode"}].
func (s *Server) FailNextRequests(endpoint string, n int, status int, errorCode, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.reqFails[endpoint] = append(s.reqFails[endpoint], requestFailure{status, errorCode, message})
	}
}

// RecordError is a per-record failure of an sObject Collections call.
type RecordError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// FailRecord makes the next times upserts of the Identity_Link__c with this
// Subject__c fail with e (e.g. UNABLE_TO_LOCK_ROW, or a validation rule's
// FIELD_CUSTOM_VALIDATION_EXCEPTION) while the rest of the call succeeds.
func (s *Server) FailRecord(subject string, times int, e RecordError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Fields == nil {
		e.Fields = []string{}
	}
	for i := 0; i < times; i++ {
		s.recFails[subject] = append(s.recFails[subject], e)
	}
}

func (s *Server) takeRecordFailure(subject string) (RecordError, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.recFails[subject]
	if len(q) == 0 {
		return RecordError{}, false
	}
	s.recFails[subject] = q[1:]
	return q[0], true
}

func (s *Server) takeRequestFailure(endpoint string) (requestFailure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.reqFails[endpoint]
	if len(q) == 0 {
		return requestFailure{}, false
	}
	s.reqFails[endpoint] = q[1:]
	return q[0], true
}

// apiError is Salesforce's REST error body: a JSON array of {message, errorCode}.
type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode([]apiError{{Message: msg, ErrorCode: code}})
}

// faultBody writes the body of injected 429 and 503 answers.
func faultBody(w http.ResponseWriter, status int, _ time.Duration) {
	if status == http.StatusServiceUnavailable {
		writeAPIError(w, status, "SERVER_UNAVAILABLE", "Server is temporarily unavailable. Please try again later.")
		return
	}
	writeAPIError(w, status, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
}

// Handler routes the org's endpoints (Start serves it; idlink sim may mount it).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /services/oauth2/token", s.faults.Wrap(EndpointToken, faultBody, http.HandlerFunc(s.handleToken)))
	mux.Handle("GET /services/data/{version}/query", s.api(EndpointQuery, s.handleQuery))
	mux.Handle("GET /services/data/{version}/queryAll", s.api(EndpointQuery, s.handleQuery))
	mux.Handle("GET /services/data/{version}/query/{locator}", s.api(EndpointQueryMore, s.handleQueryMore))
	mux.Handle("GET /services/data/{version}/queryAll/{locator}", s.api(EndpointQueryMore, s.handleQueryMore))
	mux.Handle("PATCH /services/data/{version}/composite/sobjects/{object}/{field}", s.api(EndpointCollections, s.handleUpsert))
	mux.Handle("GET /services/data/{version}/limits", s.api(EndpointLimits, s.handleLimits))
	// Apex REST resources have no API version in their path.
	mux.Handle("POST /services/apexrest/idlink/v1/account-links/revoke", s.api(EndpointRevoke, s.handleRevoke))
	s.bulkRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	})
	return mux
}

type apiHandler func(w http.ResponseWriter, r *http.Request, userID string, version float64)

// api wraps a REST endpoint: faults, version, session, daily limit and the
// Sforce-Limit-Info header, in the order Salesforce applies them.
func (s *Server) api(name string, h apiHandler) http.Handler {
	return s.concurrency(name, s.faults.Wrap(name, faultBody, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var version float64
		if name != EndpointRevoke { // Apex REST paths carry no API version
			v := r.PathValue("version")
			var err error
			version, err = strconv.ParseFloat(strings.TrimPrefix(v, "v"), 64)
			if !strings.HasPrefix(v, "v") || err != nil || version < 20 {
				writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
				return
			}
		}
		userID, ok := s.authenticate(r)
		if !ok {
			writeAPIError(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
			return
		}
		limit := s.dailyLimit.Load()
		used := s.used.Load()
		if used >= limit {
			// https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm
			// Past the daily allocation every call gets 403 REQUEST_LIMIT_EXCEEDED.
			w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
			writeAPIError(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
			return
		}
		used = s.used.Add(1)
		w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
		// The org's clock, which stamps SystemModstamp: "An origin server
		// with a clock ... MUST generate a Date header field" (RFC 9110,
		// 6.6.1); net/http would send the host's.
		w.Header().Set("Date", s.Org.Now().Format(http.TimeFormat))
		if f, ok := s.takeRequestFailure(name); ok {
			writeAPIError(w, f.status, f.code, f.msg)
			return
		}
		h(w, r, userID, version)
	})))
}

type inflightReq struct {
	start    time.Time
	endpoint string
}

// concurrency counts the API requests in flight and refuses a new one while
// too many have been running for long (Config.LongRunning).
func (s *Server) concurrency(endpoint string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		s.mu.Lock()
		long, same := 0, 1
		for _, q := range s.inflight {
			if now.Sub(q.start) >= s.cfg.LongRunning {
				long++
			}
			if q.endpoint == endpoint {
				same++
			}
		}
		if long >= s.cfg.LongRunningLimit {
			s.mu.Unlock()
			writeAPIError(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
			return
		}
		s.reqSeq++
		id := s.reqSeq
		s.inflight[id] = inflightReq{start: now, endpoint: endpoint}
		if s.maxInflight == nil {
			s.maxInflight = map[string]int{}
		}
		s.maxInflight[endpoint] = max(s.maxInflight[endpoint], same)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.inflight, id)
			s.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

// MaxInFlight is the most requests to endpoint the org served at once.
func (s *Server) MaxInFlight(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInflight[endpoint]
}

// InFlight is the number of API requests being served now.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}

func (s *Server) authenticate(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		// Salesforce also accepts the older "OAuth <token>" form.
		tok, ok = strings.CutPrefix(auth, "OAuth ")
	}
	if !ok || tok == "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, found := s.sessions[tok]
	if !found || !s.now().Before(ss.expires) {
		return "", false
	}
	return ss.userID, true
}

func (s *Server) handleLimits(w http.ResponseWriter, r *http.Request, _ string, _ float64) {
	used, limit := s.APIUsage()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"DailyApiRequests": map[string]int64{"Max": limit, "Remaining": max(0, limit-used)},
	})
}
