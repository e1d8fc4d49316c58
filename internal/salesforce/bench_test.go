package salesforce

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
)

// countingSink keeps nothing: the benchmark measures the client, not a
// store. When measure is set it records the live heap (after a GC) while the
// client holds each page: the figure that must not grow with M.
type countingSink struct {
	users    atomic.Int64
	measure  bool
	peakLive uint64
}

func (s *countingSink) UpsertSalesforceUsers(_ context.Context, _ int64, u []identity.SalesforceUser, _ *identity.Cursor) error {
	s.users.Add(int64(len(u)))
	if s.measure {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		s.peakLive = max(s.peakLive, m.HeapAlloc)
	}
	return nil
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
func (s *countingSink) GetCursor(context.Context, string) (string, bool, error) {
	return "", false, nil
}

// peakHeap samples the live heap while fn runs and returns the peak above
// the heap before it (MiB).
func peakHeap(fn func()) float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base := m.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	p := peak.Load()
	if p < base {
		return 0
	}
	return float64(p-base) / (1 << 20)
}

// BenchmarkReadUsers reads M users through the client from the simulator:
// requests should be ceil(M/2000) plus one token request, and the peak heap
// should not grow with M (page-sized memory). Run with -benchtime=3x.
func BenchmarkReadUsers(b *testing.B) {
	for _, m := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("M=%d", m), func(b *testing.B) {
			srv := newSim(b, m-1, 0) // plus the integration user = m
			ctx := context.Background()
			var reqs, tokens int64
			var peak, live float64
			for i := 0; i < b.N; i++ {
				c := newClient(b, ccConfig(srv))
				sink := &countingSink{measure: i == 0}
				base := liveHeap()
				var err error
				p := peakHeap(func() { _, _, err = c.ReadUsers(ctx, sink, 1, Full) })
				if err != nil || sink.users.Load() != int64(m) {
					b.Fatalf("read %d: %v", sink.users.Load(), err)
				}
				peak = max(peak, p)
				if i == 0 {
					live = float64(sink.peakLive-min(base, sink.peakLive)) / (1 << 20)
				}
				s := c.Stats()
				reqs, tokens = s.APIRequests, s.TokenRequests
			}
			floor := (m + 1999) / 2000
			b.ReportMetric(float64(reqs), "requests")
			b.ReportMetric(float64(tokens), "token-requests")
			b.ReportMetric(float64(floor), "floor")
			b.ReportMetric(float64(reqs)/float64(floor), "ratio")
			b.ReportMetric(peak, "peak-heap-MiB") // includes garbage not yet collected (GOGC)
			b.ReportMetric(live, "peak-live-MiB") // live heap while a page is held
			b.ReportMetric(float64(m)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}

// BenchmarkUpsertLinks writes W links: ceil(W/200) sObject Collections
// calls, or one Bulk API 2.0 job (6 calls) when the bulk threshold is set.
func BenchmarkUpsertLinks(b *testing.B) {
	const w = 10_000
	for _, mode := range []string{"collections", "bulk"} {
		b.Run(mode, func(b *testing.B) {
			srv := newSim(b, 100, 0)
			users := srv.Org.Users()
			links := make([]identity.Link, w)
			for i := range links {
				links[i] = identity.Link{Provider: provider, Subject: fmt.Sprintf("sub-%06d", i), SalesforceUserID: users[1+i%100].ID,
					ObjectID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), Rule: identity.RuleObjectID, Status: identity.LinkActive}
			}
			cfg := ccConfig(srv)
			endpoint, floor := sfsim.EndpointCollections, (w+199)/200
			if mode == "bulk" {
				cfg.BulkThreshold, cfg.BulkPollInterval = 1000, time.Millisecond
				endpoint, floor = sfsim.EndpointBulk, 6
			}
			ctx := context.Background()
			var calls int64
			for i := 0; i < b.N; i++ {
				c := newClient(b, cfg)
				before := srv.Faults().Counter(endpoint).Requests
				res, err := c.UpsertLinkRecords(ctx, links)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					if !r.OK {
						b.Fatalf("%v: %s", r.Key, r.Error())
					}
				}
				calls = srv.Faults().Counter(endpoint).Requests - before
			}
			b.ReportMetric(float64(calls), "requests")
			b.ReportMetric(float64(floor), "floor")
			b.ReportMetric(float64(calls)/float64(floor), "ratio")
			b.ReportMetric(float64(w)*float64(b.N)/b.Elapsed().Seconds(), "links/s")
		})
	}
}
