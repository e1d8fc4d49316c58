package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/migrations"
)

func TestMigrateIdempotentAndRefuseNewer(t *testing.T) {
	testDSN(t)
	t.Parallel()
	ctx := context.Background()
	dsn := newSchema(t)
	s, err := OpenNoMigrate(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if applied, _, err := s.SchemaVersion(ctx); err != nil || applied != 0 {
		t.Fatalf("SchemaVersion of an empty schema = %d, %v", applied, err)
	}
	first, err := s.Migrate(ctx)
	if err != nil || len(first) == 0 {
		t.Fatalf("first Migrate = %v, %v", first, err)
	}
	if again, err := s.Migrate(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second Migrate = %v, %v; want nothing applied", again, err)
	}
	latest, _ := migrations.Latest(migrations.Postgres)
	if _, err := s.pool.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from_the_future', now())", latest+3); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, dsn)
	if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "upgrade idlink or point it at another database") {
		t.Fatalf("Open of a newer database: err = %v, want ErrSchemaTooNew with advice", err)
	}
	if applied, l, err := s.SchemaVersion(ctx); err != nil || applied != latest+3 || l != latest {
		t.Fatalf("SchemaVersion = %d, %d, %v", applied, l, err)
	}
}

func TestMissingSchema(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	_, err := Open(context.Background(), withParams(dsn, map[string]string{"search_path": "idlink_no_such_schema"}))
	if err == nil || !strings.Contains(err.Error(), "search_path") {
		t.Fatalf("Open with a search_path naming no schema: err = %v", err)
	}
}

// The database itself refuses to change history and audit rows.
func TestAppendOnly(t *testing.T) {
	testDSN(t)
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	err := s.ApplyLinkChanges(ctx, 0, []identity.LinkChange{{Action: identity.ActionCreateLink, Actor: "t",
		Link: identity.Link{Provider: "p", Subject: "s", SalesforceUserID: "005A", Status: identity.LinkActive}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"UPDATE link_history SET actor = 'x'", "DELETE FROM link_history",
		"UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events",
	} {
		if _, err := s.pool.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", q, err)
		}
	}
}

func TestBadDSN(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"", "postgres://u:topsecret@[::1:5432/db"} {
		_, err := Open(context.Background(), dsn)
		if err == nil || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("Open(bad DSN) = %v; want an error that does not echo the password", err)
		}
	}
}
