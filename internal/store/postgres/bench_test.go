package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/storetest"
)

// IDLINK_TEST_POSTGRES_DSN=... go test -run '^$' -bench UpsertEntraUsers -benchtime 3x ./internal/store/postgres/
func BenchmarkUpsertEntraUsers(b *testing.B) {
	storetest.BenchUpsertEntraUsers(b, func(b *testing.B) store.Store {
		s, err := Open(context.Background(), newSchema(b))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, 100_000)
}

// IDLINK_TEST_POSTGRES_DSN=... IDLINK_BENCH_ROWS=1000000 go test -run TestThroughputReport -v ./internal/store/postgres/
//
// The store gets one connection, so that the CPU time of its server process
// (read from /proc when the server runs on this machine) can be added to the
// report: on a shared machine CPU time says more than wall-clock time.
func TestThroughputReport(t *testing.T) {
	var backendPID int
	storetest.ThroughputReport(t, "postgres", func(t *testing.T) store.Store {
		dsn := withParams(newSchema(t), map[string]string{"pool_max_conns": "1"})
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.pool.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&backendPID); err != nil {
			t.Fatal(err)
		}
		return s
	}, func() time.Duration { return procCPU(backendPID) })
}

// procCPU is the user+system CPU time of a local process (0 if unreadable).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line, in clock ticks (100 per second on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
