package sfsim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/fault"
)

func loadUsers(b *testing.B, org *Org, n int) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		_, err := org.AddUser(identity.SalesforceUser{
			Username: fmt.Sprintf("user%07d@contoso.example.com", i), Email: fmt.Sprintf("user%07d@contoso.example.com", i),
			FederationIdentifier: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), IsActive: true, UserType: "Standard",
			CreatedDate: base, SystemModstamp: base.Add(time.Duration(i) * time.Second),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the process's user+system CPU time (it includes GC work the page caused).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkOrgMillionUsers reports the heap one million users take
// (target: under 1.5 GiB). Run with -benchtime=1x.
func BenchmarkOrgMillionUsers(b *testing.B) {
	for i := 0; i < b.N; i++ {
		before := heapMiB()
		org := NewOrg()
		loadUsers(b, org, 1_000_000)
		after := heapMiB()
		b.ReportMetric(after-before, "heap-MiB")
		runtime.KeepAlive(org)
	}
}

// BenchmarkQueryPage2000 measures serving one 2,000-row User page
// (nextRecordsUrl) from an org of 1,000,000 users, through the handler.
func BenchmarkQueryPage2000(b *testing.B) {
	org := NewOrg()
	loadUsers(b, org, 1_000_000)
	org.AddUser(identity.SalesforceUser{Username: "integration@example.com", IsActive: true})
	s := &Server{Org: org, cfg: Config{SessionTTL: time.Hour, CursorIdle: time.Hour}, url: "https://sim",
		apps: map[string]ConnectedApp{}, sessions: map[string]*session{}, cursors: map[string]*cursor{}, userCurs: map[string][]string{},
		recFails: map[string][]RecordError{}, reqFails: map[string][]requestFailure{}, now: time.Now}
	s.faults = fault.New(0)
	s.bulk.jobs = map[string]*bulkJob{}
	s.dailyLimit.Store(1 << 40)
	s.AddConnectedApp(ConnectedApp{ClientID: "c", ClientSecret: "s", ClientCredentialsUser: "integration@example.com"})
	h := s.Handler()
	rec := httptest.NewRecorder()
	treq := httptest.NewRequest("POST", "/services/oauth2/token", strings.NewReader("grant_type=client_credentials&client_id=c&client_secret=s"))
	treq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, treq)
	tok := rec.Body.String()
	if rec.Code != 200 {
		b.Fatalf("token: %s", tok)
	}
	tok = tok[strings.Index(tok, `"access_token":"`)+16:]
	tok = tok[:strings.IndexByte(tok, '"')]
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		return rec
	}
	q := "/services/data/v62.0/query?q=" + url.QueryEscape("SELECT Id, Username, FederationIdentifier, Email, IsActive, UserType, CreatedDate, SystemModstamp FROM User")
	start := time.Now()
	first := get(q)
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "first-page-ms")
	body := first.Body.String()
	next := body[strings.Index(body, `"nextRecordsUrl":"`)+18:]
	next = next[:strings.IndexByte(next, '"')]
	locator := next[:strings.LastIndexByte(next, '-')]
	b.SetBytes(int64(first.Body.Len()))
	runtime.GC()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := 2000 * (1 + i%400)
		req := httptest.NewRequest("GET", fmt.Sprintf("%s-%d", locator, off), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != 0 && w.code != http.StatusOK || w.n < 2000*300 {
			b.Fatalf("page: %d, %d bytes", w.code, w.n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
}

// discardWriter stands in for a socket: it counts what the handler writes.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
