package postgres

import (
	"context"
	"testing"

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
