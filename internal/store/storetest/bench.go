package storetest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// SyntheticEntraUsers makes n distinct Entra users shaped like a real tenant's
// (GUID oids, UPNs, names), for benchmarks and crash tests.
func SyntheticEntraUsers(n int) []identity.EntraUser {
	us := make([]identity.EntraUser, n)
	hex := func(v uint64, width int) string {
		s := strconv.FormatUint(v, 16)
		return strings.Repeat("0", max(0, width-len(s))) + s
	}
	for i := range us {
		num := strconv.Itoa(i)
		// A multiplicative hash spreads the oids like real random GUIDs.
		oid := hex(uint64(uint32(i)*2654435761), 8) + "-" + hex(uint64(i&0xffff), 4) + "-4" + hex(uint64(i&0xfff), 3) +
			"-8" + hex(uint64((i>>12)&0xfff), 3) + "-" + hex(uint64(i), 12)
		us[i] = identity.EntraUser{
			ObjectID:       oid,
			TenantID:       "72f988bf-86f1-41af-91ab-2d7cd011db47",
			UPN:            "user" + num + "@contoso.onmicrosoft.com",
			Mail:           "user" + num + "@contoso.com",
			DisplayName:    "User " + num,
			GivenName:      "User",
			Surname:        num,
			AccountEnabled: i%50 != 0,
			InScope:        i%4 != 0,
			UserType:       "Member",
		}
	}
	return us
}

// BenchUpsertEntraUsers measures snapshot writes: each iteration writes rows
// users in one UpsertEntraUsers call (one transaction) into a fresh store, the
// shape of a backfill. It reports rows/s.
func BenchUpsertEntraUsers(b *testing.B, open func(b *testing.B) store.Store, rows int) {
	users := SyntheticEntraUsers(rows)
	ctx := context.Background()
	var total, cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := open(b)
		r, err := s.StartRun(ctx, identity.KindBackfill, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu0 := time.Now(), processCPU()
		if err := s.UpsertEntraUsers(ctx, r.ID, users, &identity.Cursor{Name: "bench", Value: "1"}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		cpu += processCPU() - cpu0
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/total.Seconds(), "rows/s")
	// Client-side CPU only (for PostgreSQL the server's share is not in it).
	b.ReportMetric(float64(rows)*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
}

// ThroughputReport writes IDLINK_BENCH_ROWS users (skipped when unset) in one
// call into a fresh store (the first backfill), then the same users again (a
// later backfill of an unchanged tenant), then all of them changed (the worst
// case), and prints rows/s for each pass.
//
// serverCPU, when not nil, returns the CPU time the database server has spent
// for this store so far (PostgreSQL's backend process); it is added to this
// process's CPU time so that the per-CPU-second figure covers the whole work.
func ThroughputReport(t *testing.T, name string, open func(t *testing.T) store.Store, serverCPU func() time.Duration) {
	v := os.Getenv("IDLINK_BENCH_ROWS")
	if v == "" {
		t.Skip("set IDLINK_BENCH_ROWS=1000000 to measure snapshot write throughput")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("IDLINK_BENCH_ROWS=%q: want a positive number of rows", v)
	}
	users := SyntheticEntraUsers(n)
	ctx := context.Background()
	s := open(t)
	for pass, what := range []string{"insert into empty store", "rewrite, unchanged", "rewrite, every row changed"} {
		r, err := s.StartRun(ctx, identity.KindBackfill, "bench")
		if err != nil {
			t.Fatal(err)
		}
		if pass == 2 {
			for i := range users {
				users[i].DisplayName += " (renamed)"
			}
		}
		cpuNow := processCPU
		if serverCPU != nil {
			cpuNow = func() time.Duration { return processCPU() + serverCPU() }
		}
		cpu0 := cpuNow()
		start := time.Now()
		if err := s.UpsertEntraUsers(ctx, r.ID, users, &identity.Cursor{Name: "bench", Value: what}); err != nil {
			t.Fatal(err)
		}
		d, cpu := time.Since(start), cpuNow()-cpu0
		fmt.Printf("%s: UpsertEntraUsers, %d rows in one transaction, %s: %.2fs wall, %.0f rows/s; CPU used %.2fs, %.0f rows per CPU-second\n",
			name, n, what, d.Seconds(), float64(n)/d.Seconds(), cpu.Seconds(), float64(n)/cpu.Seconds())
	}
	// As a Graph listing stores them: 999-user pages in list order (spread
	// over the key space), each staged in a transaction of its own, into a
	// fresh store, then the listing finished; written as they come, and held
	// for the finish from the first page (IDLINK_BENCH_TX_ROWS sets another
	// page size).
	step := 999
	if v, err := strconv.Atoi(os.Getenv("IDLINK_BENCH_TX_ROWS")); err == nil && v > 0 {
		step = v
	}
	for _, held := range []bool{false, true} {
		paged := open(t)
		r, err := paged.StartRun(ctx, identity.KindBackfill, "bench")
		if err != nil {
			t.Fatal(err)
		}
		cpu0, start := processCPU(), time.Now()
		if err := paged.BeginEntraListing(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if held {
			if err := paged.HoldEntraListing(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < n; i += step {
			if err := paged.StageEntraUsers(ctx, r.ID, users[i:min(i+step, n)]); err != nil {
				t.Fatal(err)
			}
		}
		staged, stagedCPU := time.Since(start), processCPU()-cpu0
		if m, whole, err := paged.FinishEntraListing(ctx, r.ID, nil); err != nil || m != 0 || !whole {
			t.Fatalf("FinishEntraListing = %d, %v, %v; want 0 marked, every stored user written", m, whole, err)
		}
		d, cpu := time.Since(start), processCPU()-cpu0
		how := "written as they come"
		if held {
			how = "held for the finish"
		}
		fmt.Printf("%s: a full listing of %d users in %d-user pages into an empty store, %s: %.2fs wall, %.0f rows/s; CPU used %.2fs, %.0f rows per CPU-second (the pages %.2fs wall, %.2fs CPU; the finish %.2fs wall)\n",
			name, n, step, how, d.Seconds(), float64(n)/d.Seconds(), cpu.Seconds(), float64(n)/cpu.Seconds(),
			staged.Seconds(), stagedCPU.Seconds(), (d - staged).Seconds())
		if got := scanEntra(t, paged); len(got) != n {
			t.Fatalf("the listing stored %d users, want %d", len(got), n)
		}
	}
	count := 0
	if err := s.ScanEntraUsers(ctx, func(u identity.EntraUser) error {
		if !strings.HasSuffix(u.DisplayName, " (renamed)") {
			return fmt.Errorf("user %s not updated by the last pass", u.ObjectID)
		}
		count++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("stored %d users, want %d", count, n)
	}
}

// processCPU is the user+system CPU time of this process so far. On a shared
// machine wall-clock rates swing with other load; CPU time shows the work done.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
