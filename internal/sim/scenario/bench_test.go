package scenario

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkGenerateMillion measures what a 1,000,000-user world costs the
// simulator: generation time and the heap it keeps (the budget for
// the whole simulator is 1.5 GiB). Opt-in and slow (~10 s per iteration):
//
//	go test -run '^$' -bench GenerateMillion -benchtime 1x ./internal/sim/scenario/
func BenchmarkGenerateMillion(b *testing.B) {
	benchmarkGenerate(b, 1_000_000)
}

// BenchmarkGenerate100k is the same at 100,000 users, for quicker runs.
func BenchmarkGenerate100k(b *testing.B) {
	benchmarkGenerate(b, 100_000)
}

func benchmarkGenerate(b *testing.B, users int) {
	var kept *World
	var total time.Duration
	var heap uint64
	for b.Loop() {
		kept = nil
		before := liveHeap()
		start := time.Now()
		w, err := Generate(Config{Seed: 1, Users: users})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		kept = w
		heap = liveHeap() - before
	}
	b.ReportMetric(float64(heap)/float64(users), "heap-bytes/user")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(total.Seconds()/float64(b.N), "gen-s")
	b.ReportMetric(float64(len(kept.Salesforce)), "sf-users")
	runtime.KeepAlive(kept)
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkExpectedMillion measures Expected on a 1,000,000-user world (a
// test tool, not on the simulator's serving path).
func BenchmarkExpectedMillion(b *testing.B) {
	w, err := Generate(Config{Seed: 1, Users: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if len(w.Expected()) == 0 {
			b.Fatal("no expectations")
		}
	}
}

// BenchmarkExpected100k is BenchmarkExpectedMillion at 100,000 users.
func BenchmarkExpected100k(b *testing.B) {
	w, err := Generate(Config{Seed: 1, Users: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if len(w.Expected()) == 0 {
			b.Fatal("no expectations")
		}
	}
}
