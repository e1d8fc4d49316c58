package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/storetest"
)

// testDSN is the server the tests use. Without IDLINK_TEST_POSTGRES_DSN the
// tests skip, except under CI=true, where a missing PostgreSQL is a failure.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("IDLINK_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but IDLINK_TEST_POSTGRES_DSN is not set: PostgreSQL tests must run in CI (export IDLINK_TEST_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)")
		}
		t.Skip("IDLINK_TEST_POSTGRES_DSN not set: skipping PostgreSQL tests")
	}
	return dsn
}

// withParams adds connection parameters to a URL or key=value DSN.
func withParams(dsn string, params map[string]string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			for k, v := range params {
				q.Set(k, v)
			}
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	for k, v := range params {
		dsn += " " + k + "=" + v
	}
	return dsn
}

// newSchema creates an empty schema for one test and drops it afterwards; it
// returns a DSN whose search_path points at it.
func newSchema(t testing.TB) string {
	t.Helper()
	dsn := testDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("IDLINK_TEST_POSTGRES_DSN is set but PostgreSQL is unreachable: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "idlink_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close(ctx)
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})
	return withParams(dsn, map[string]string{"search_path": schema, "pool_max_conns": "4"})
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
