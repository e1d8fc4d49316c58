package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/storetest"
)

// go test -run '^$' -bench UpsertEntraUsers -benchtime 3x ./internal/store/sqlite/
func BenchmarkUpsertEntraUsers(b *testing.B) {
	storetest.BenchUpsertEntraUsers(b, func(b *testing.B) store.Store {
		s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, 100_000)
}

// IDLINK_BENCH_ROWS=1000000 go test -run TestThroughputReport -v ./internal/store/sqlite/
func TestThroughputReport(t *testing.T) {
	storetest.ThroughputReport(t, "sqlite", func(t *testing.T) store.Store { return openTemp(t) }, nil)
}
