package postgres

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/storetest"
)

const crashDSNEnv = "IDLINK_CRASH_CHILD_POSTGRES"

// TestCrashChild is the child process of TestCrashSafety; it does nothing on its own.
func TestCrashChild(t *testing.T) {
	dsn := os.Getenv(crashDSNEnv)
	if dsn == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	afterChunk = func(int) { once.Do(func() { fmt.Println(storetest.CrashWritingLine) }) }
	if err := storetest.CrashChildWrite(s); err != nil {
		t.Fatal(err)
	}
}

// A client killed with SIGKILL in the middle of one large batch leaves all or
// none of it in the database.
func TestCrashSafety(t *testing.T) {
	testDSN(t)
	t.Parallel()
	dsns := map[int]string{}
	storetest.CrashParent(t, "TestCrashChild",
		func(t *testing.T, attempt int) []string {
			dsns[attempt] = newSchema(t)
			return []string{crashDSNEnv + "=" + dsns[attempt]}
		},
		func(t *testing.T, attempt int) store.Store {
			s, err := Open(context.Background(), dsns[attempt])
			if err != nil {
				t.Fatalf("open after crash: %v", err)
			}
			return s
		})
}
