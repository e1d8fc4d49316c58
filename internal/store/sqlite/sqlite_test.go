package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
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

func TestLeaseAcrossHandles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "idlink.db")
	storetest.LeaseAcrossHandles(t, openAt(t, path), openAt(t, path))
}

// A transaction its context ended reports the context, not sql.ErrTxDone:
// callers tell a stop from a failure by context.Canceled.
func TestWriteEndedByItsContextSaysSo(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := s.write(ctx, func(tx *wtx) error {
		if err := setCursor(ctx, tx, &identity.Cursor{Name: "c", Value: "v"}); err != nil {
			return err
		}
		cancel()
		// database/sql rolls the transaction back from a goroutine of its
		// own once ctx is done; the commit after that fails with ErrTxDone.
		for {
			if _, err := tx.ExecContext(context.Background(), "SELECT 1"); errors.Is(err, sql.ErrTxDone) {
				return nil
			}
			runtime.Gosched()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if _, ok, err := s.GetCursor(context.Background(), "c"); err != nil || ok {
		t.Fatalf("cursor stored by a rolled back transaction (ok %v, err %v)", ok, err)
	}
}
