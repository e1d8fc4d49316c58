package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/pgtest"
	"github.com/idlinkhq/idlink/internal/store/storetest"
)

func testDSN(t testing.TB) string { return pgtest.DSN(t) }

func withParams(dsn string, params map[string]string) string { return pgtest.WithParams(dsn, params) }

// newSchema gives one test an empty schema, dropped afterwards.
func newSchema(t testing.TB) string {
	return pgtest.WithParams(pgtest.Schema(t, "idlink_test_"), map[string]string{"pool_max_conns": "4"})
}

func openTemp(t testing.TB) *Store {
	t.Helper()
	dsn := newSchema(t)
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // runs before the schema is dropped
	return s
}

func TestConformance(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestLeaseAcrossHandles(t *testing.T) {
	testDSN(t)
	t.Parallel()
	dsn := newSchema(t)
	open := func() store.Store {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.LeaseAcrossHandles(t, open(), open())
}

// Apply saves its records (each with its Seq) while the job saves the run's
// assessments, which lock the run to number their rows: the records must
// not wait for that lock.
func TestSaveActionsWithSeqDoNotWaitForTheRunLock(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	run, err := s.StartRun(ctx, identity.KindBackfill, "test")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, lockRunSQL, run.ID); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rec := identity.ActionRecord{Seq: 1, Action: identity.Action{Kind: identity.ActionFlag, Flag: "orphan"}, State: "planned"}
	if err := s.SaveActions(wctx, run.ID, []identity.ActionRecord{rec}); err != nil {
		t.Fatalf("SaveActions with a Seq while the run is locked: %v", err)
	}
}
