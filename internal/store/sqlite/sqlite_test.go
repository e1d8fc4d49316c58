package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "idlink.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// The suite again with full listings written at their finish: beyond their
// first 1,000 users, and not at all as they come.
func TestConformanceListingsFinished(t *testing.T) {
	for _, rows := range []int64{1000, 0} {
		t.Run(fmt.Sprintf("direct=%d", rows), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				s := openTemp(t)
				s.directRows = rows
				return s
			})
		})
	}
}

func TestLeaseAcrossHandles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "idlink.db")
	storetest.LeaseAcrossHandles(t, openAt(t, path), openAt(t, path))
}
