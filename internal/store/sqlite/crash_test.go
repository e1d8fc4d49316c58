package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/storetest"
)

const crashDBEnv = "IDLINK_CRASH_CHILD_SQLITE"

// TestCrashChild is the child process of TestCrashSafety; it does nothing on its own.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	afterChunk = func(int) { once.Do(func() { fmt.Println(storetest.CrashWritingLine) }) }
	if err := storetest.CrashChildWrite(s); err != nil {
		t.Fatal(err)
	}
}

// A process killed with SIGKILL in the middle of one large batch leaves a
// database that opens, passes integrity_check and holds all or none of it.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := func(attempt int) string { return filepath.Join(dir, fmt.Sprintf("crash-%d.db", attempt)) }
	storetest.CrashParent(t, "TestCrashChild",
		func(t *testing.T, attempt int) []string { return []string{crashDBEnv + "=" + path(attempt)} },
		func(t *testing.T, attempt int) store.Store {
			s, err := Open(context.Background(), path(attempt))
			if err != nil {
				t.Fatalf("open after crash: %v", err)
			}
			var res string
			if err := s.w.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
				t.Fatalf("integrity_check after crash = %q, %v", res, err)
			}
			return s
		})
}
