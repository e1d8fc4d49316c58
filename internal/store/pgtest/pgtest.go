// Package pgtest gives tests a PostgreSQL schema of their own: the store's
// conformance suite and the end-to-end suite both use it. Without
// IDLINK_TEST_POSTGRES_DSN the tests skip, except under CI=true, where a
// missing or unreachable PostgreSQL is a failure.
package pgtest

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
)

// DSN is the server the tests use (IDLINK_TEST_POSTGRES_DSN).
func DSN(t testing.TB) string {
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

// WithParams adds connection parameters to a URL or key=value DSN.
func WithParams(dsn string, params map[string]string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
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

// Schema creates an empty schema (named prefix + random hex) for one test,
// drops it at cleanup, and returns a DSN whose search_path points at it.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	dsn := DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("IDLINK_TEST_POSTGRES_DSN is set but PostgreSQL is unreachable: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])
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
	return WithParams(dsn, map[string]string{"search_path": schema})
}
