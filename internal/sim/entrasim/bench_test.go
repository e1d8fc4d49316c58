package entrasim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// loadUsers adds n users with realistic string sizes.
func loadUsers(tb testing.TB, s *Sim, n int) {
	tb.Helper()
	const batch = 10000
	us := make([]identity.EntraUser, 0, batch)
	for i := 0; i < n; i++ {
		num := strconv.Itoa(i)
		us = append(us, identity.EntraUser{ObjectID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i),
			UPN: "first.last" + num + "@contoso.com", Mail: "first.last" + num + "@contoso.com",
			DisplayName: "First Last " + num, GivenName: "First", Surname: "Last" + num, AccountEnabled: true})
		if len(us) == batch || i == n-1 {
			if err := s.AddUser(us...); err != nil {
				tb.Fatal(err)
			}
			us = us[:0]
		}
	}
}

func benchSim(b *testing.B, n int) (*Sim, string) {
	b.Helper()
	s := newTestSim(b, 0)
	loadUsers(b, s, n)
	rc := newRaw(b, s)
	return s, rc.tok
}

// BenchmarkUsersPage serves one 999-user page of GET /v1.0/users (handler
// only, no TLS): the simulator's CPU per page the client reads.
func BenchmarkUsersPage(b *testing.B) {
	s, tok := benchSim(b, 100_000)
	h := s.graphHandler()
	req := httptest.NewRequest("GET", "/v1.0/users?$select=id,userPrincipalName,mail,displayName,givenName,surname,accountEnabled,userType&$top=999", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	var bytes int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		bytes = rec.Body.Len()
	}
	b.ReportMetric(float64(bytes), "bytes/page")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
}

// BenchmarkDeltaPage serves one page of an initial users delta round.
func BenchmarkDeltaPage(b *testing.B) {
	s, tok := benchSim(b, 100_000)
	h := s.graphHandler()
	req := httptest.NewRequest("GET", "/v1.0/users/delta?$select=id,userPrincipalName,mail,displayName,givenName,surname,accountEnabled,userType", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkMillionUsers loads 1,000,000 users and reports the simulator's
// heap per user and in total (the budget is 1.5 GiB), then one page served
// from the end of the directory.
func BenchmarkMillionUsers(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		s := newTestSim(b, 0)
		start := time.Now()
		loadUsers(b, s, 1_000_000)
		load := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap := float64(m1.HeapAlloc - m0.HeapAlloc)
		b.ReportMetric(heap/1e6, "heap-MB")
		b.ReportMetric(heap/1_000_000, "bytes/user")
		b.ReportMetric(load.Seconds(), "load-s")
		runtime.KeepAlive(s)
	}
}
