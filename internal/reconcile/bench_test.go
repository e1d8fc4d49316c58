package reconcile

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// benchGUID formats n as a canonical GUID without fmt (cheap, so the
// generator does not dominate the measurement).
func benchGUID(prefix string, n int) string {
	h := strconv.FormatInt(int64(n), 16)
	const zeros = "000000000000"
	return prefix + zeros[:12-len(h)] + h
}

// feedBenchWorld streams a tenant of n Entra users and about n Salesforce
// users into s, record by record and in the same order as a full load does from
// the store (Salesforce's side first). The mix:
// 55% linked (idlink link, Identity_Link__c, ThirdPartyAccountLink), 25%
// signed in but not linked yet (create), 8% provisioned, never signed in,
// 3% UPN-only (propose), 3% disabled (revoke), 2% JIT duplicates
// (misrouted), 2% unprovisioned (unmatched), 2% out of scope, plus 1%
// orphans and a few integration users on the Salesforce side.
func feedBenchWorld(tb testing.TB, s *Snapshot, n int) {
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	// c gives each record its own copy of a string, as a store scan does
	// (every column of every row is a new allocation).
	c := strings.Clone
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	// Two passes over the same identities, in a full load's order: Salesforce's
	// users and ThirdPartyAccountLink rows first, then Entra's users and the
	// link records.
	for _, sfSide := range []bool{true, false} {
		sfSeq := 0
		nextSF := func() string {
			sfSeq++
			d := strconv.Itoa(sfSeq)
			return "005" + "000000000000000"[:15-len(d)] + d
		}
		for i := 0; i < n; i++ {
			oid := benchGUID("00000000-0000-4000-8000-", i)
			upn := "user" + strconv.Itoa(i) + "@contoso.com"
			kind := i % 100
			if !sfSide {
				u := identity.EntraUser{ObjectID: c(oid), TenantID: c(tid), UPN: c(upn), Mail: c(upn), AccountEnabled: true, InScope: true, UserType: "Member"}
				switch {
				case kind < 3:
					u.AccountEnabled = false
				case kind >= 98:
					u.InScope = false
				}
				must(s.AddEntraUser(u))
			}
			if kind >= 96 { // unprovisioned or out of scope: no Salesforce user
				continue
			}
			id := nextSF()
			fed := oid
			if kind >= 88 && kind < 91 {
				fed = "" // UPN-only
			}
			sub := "sub-" + oid
			if sfSide {
				must(s.AddSalesforceUser(identity.SalesforceUser{ID: c(id), Username: c(upn), FederationIdentifier: c(fed), Email: c(upn), IsActive: true, UserType: "Standard"}))
			}
			switch {
			case kind < 58: // linked (and the disabled ones were linked)
				if sfSide {
					must(s.AddAccountLink(identity.ThirdPartyAccountLink{ID: "0Jr" + id[3:], Provider: "EntraID", RemoteIdentifier: c(sub), UserID: c(id)}))
					continue
				}
				l := func() identity.Link {
					return identity.Link{Provider: "EntraID", Subject: c(sub), SalesforceUserID: c(id), ObjectID: c(oid), TenantID: c(tid), Rule: identity.RuleObjectID, Status: identity.LinkActive}
				}
				must(s.AddLink(l()))
				must(s.AddRemoteLink(l()))
			case kind < 83: // signed in once, not linked yet
				if sfSide {
					must(s.AddAccountLink(identity.ThirdPartyAccountLink{ID: "0Jr" + id[3:], Provider: "EntraID", RemoteIdentifier: c(sub), UserID: c(id)}))
				}
			case kind < 88: // provisioned, never signed in
			case kind < 91: // UPN-only, observed by the bridge
				if !sfSide {
					must(s.AddObservation(identity.Observation{Provider: "EntraID", Subject: c(sub), ObjectID: c(oid), TenantID: c(tid), Source: identity.SourceBridge}))
				}
			case kind < 93: // JIT duplicate
				dup := nextSF()
				if sfSide {
					must(s.AddSalesforceUser(identity.SalesforceUser{ID: c(dup), Username: upn + ".jit", Email: c(upn), IsActive: true, UserType: "Standard"}))
					must(s.AddAccountLink(identity.ThirdPartyAccountLink{ID: "0Jr" + dup[3:], Provider: "EntraID", RemoteIdentifier: c(sub), UserID: c(dup)}))
					continue
				}
				must(s.AddObservation(identity.Observation{Provider: "EntraID", Subject: c(sub), ObjectID: c(oid), TenantID: c(tid), Source: identity.SourceBridge}))
			}
		}
		if !sfSide {
			continue
		}
		for i := 0; i < n/100; i++ { // orphans: leftover FederationIdentifiers
			must(s.AddSalesforceUser(identity.SalesforceUser{ID: nextSF(), Username: "left" + strconv.Itoa(i) + "@fabrikam.com",
				FederationIdentifier: benchGUID("11111111-0000-4000-8000-", i), IsActive: true, UserType: "Standard"}))
		}
		for i := 0; i < 3; i++ {
			must(s.AddSalesforceUser(identity.SalesforceUser{ID: nextSF(), Username: "integration" + strconv.Itoa(i) + "@contoso.com", IsActive: true, UserType: "Standard"}))
		}
	}
}

// cpuTime is the CPU time of the whole process (all threads, GC included):
// on a shared machine it says what the work costs, wall time says what the
// neighbours left.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapSampler records the peak of live heap objects while it runs.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > h.peak {
			h.peak = v
		}
	}
	read()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 { close(h.stop); h.wg.Wait(); return h.peak }

// BenchmarkPlan measures loading a snapshot (streamed, record by record) and
// planning, for 10k, 100k and 1M Entra users against about as many
// Salesforce users. Run with -benchtime=1x; figures: load-s, plan-s,
// peak-heap-MiB (heap objects, live or not yet collected, sampled every
// 2 ms, including the result; the collector paced by the snapshot as in
// the job, so GOGC=100 shows Go's default pace and GOMEMLIMIT the bound a
// memory limit gives), live-MiB (snapshot and result after GC: the most the plan
// holds at once, what a memory limit must leave room for), retained-MiB
// (the result after GC: its assessments hold the snapshot's rows and
// strings; the snapshot itself is not held, as the job does not hold it),
// total-alloc-MiB.
func BenchmarkPlan(b *testing.B) {
	cfg := shipped(Config{Providers: []ProviderConfig{{Provider: identity.Provider{Name: "EntraID", Strategy: identity.StrategyObserved}}}})
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			var load, plan, loadCPU, planCPU time.Duration
			var peak, live, retained, alloc float64
			var actions, assessments int
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				hs := startHeapSampler()
				c0 := cpuTime()
				t0 := time.Now()
				s := NewSnapshot()
				s.PaceGC() // paced and fitted as the job's full plans are
				feedBenchWorld(b, s, n)
				s.fit()
				t1, c1 := time.Now(), cpuTime()
				r, err := Plan(cfg, s)
				if err != nil {
					b.Fatal(err)
				}
				t2, c2 := time.Now(), cpuTime()
				s.EndGCPace()
				loadCPU += c1 - c0
				planCPU += c2 - c1
				p := hs.Stop()
				runtime.ReadMemStats(&after)
				load += t1.Sub(t0)
				plan += t2.Sub(t1)
				peak = max(peak, float64(p-min(p, before.HeapAlloc))/(1<<20))
				alloc += float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20)
				runtime.GC()
				runtime.ReadMemStats(&after)
				live = float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc)) / (1 << 20)
				runtime.KeepAlive(s)
				runtime.GC()
				runtime.ReadMemStats(&after)
				retained = float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc)) / (1 << 20)
				actions, assessments = len(r.Actions), r.Assessments.Len()
				runtime.KeepAlive(r)
			}
			k := float64(b.N)
			b.ReportMetric(load.Seconds()/k, "load-s")
			b.ReportMetric(plan.Seconds()/k, "plan-s")
			b.ReportMetric(loadCPU.Seconds()/k, "load-cpu-s")
			b.ReportMetric(planCPU.Seconds()/k, "plan-cpu-s")
			b.ReportMetric(peak, "peak-heap-MiB")
			b.ReportMetric(live, "live-MiB")
			b.ReportMetric(retained, "retained-MiB")
			b.ReportMetric(alloc/k, "total-alloc-MiB")
			b.ReportMetric(float64(actions), "actions")
			b.ReportMetric(float64(assessments), "assessments")
		})
	}
}

// BenchmarkCheckLimits times the safety check between the plan and the first
// write: with no earlier run (a first backfill) and with one, whose coverage
// the plan's is compared with.
//
//	go test ./internal/reconcile/ -run '^$' -bench CheckLimits
func BenchmarkCheckLimits(b *testing.B) {
	cfg := shipped(Config{Providers: []ProviderConfig{{Provider: identity.Provider{Name: "EntraID", Strategy: identity.StrategyObserved}}}})
	s := NewSnapshot()
	feedBenchWorld(b, s, 100_000)
	s.fit()
	r, err := Plan(cfg, s)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		baseline *Coverage
	}{
		{"first run", nil},
		{"after a run", &Coverage{Linked: 50_000, Total: 90_000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if h := CheckLimits(r, shippedLimits(), bc.baseline); h != nil && len(h.Reasons) == 0 {
					b.Fatal("held without a reason")
				}
			}
		})
	}
}
