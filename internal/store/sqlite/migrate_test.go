package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/migrations"
)

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "idlink.db")
	s, err := OpenNoMigrate(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if applied, latest, err := s.SchemaVersion(ctx); err != nil || applied != 0 || latest < 1 {
		t.Fatalf("SchemaVersion of an empty file = %d, %d, %v", applied, latest, err)
	}
	first, err := s.Migrate(ctx)
	if err != nil || len(first) == 0 || first[0] != 1 {
		t.Fatalf("first Migrate = %v, %v", first, err)
	}
	again, err := s.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Migrate = %v, %v; want nothing applied", again, err)
	}
	s.Close()
	// Open migrates too, and does nothing on a current database.
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.r.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(first) {
		t.Fatalf("schema_migrations rows = %d, %v; want %d", n, err, len(first))
	}
}

func TestRefuseNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "idlink.db")
	s := openAt(t, path)
	latest, _ := migrations.Latest(migrations.SQLite)
	if _, err := s.w.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', '2030-01-01T00:00:00.000000Z')", latest+5); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, path)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer database: err = %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{"newer idlink", "upgrade idlink or point it at another database"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
	// Status still works, so `idlink migrate status` can explain it.
	s, err = OpenNoMigrate(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	applied, l, err := s.SchemaVersion(ctx)
	if err != nil || applied != latest+5 || l != latest {
		t.Fatalf("SchemaVersion = %d, %d, %v", applied, l, err)
	}
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The database itself refuses to change history and audit rows.
func TestAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	r, err := s.StartRun(ctx, identity.KindRun, "t")
	if err != nil {
		t.Fatal(err)
	}
	err = s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{{Action: identity.ActionCreateLink, Actor: "t",
		Link: identity.Link{Provider: "p", Subject: "s", SalesforceUserID: "005A", Status: identity.LinkActive}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"UPDATE link_history SET actor = 'x'", "DELETE FROM link_history",
		"UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events",
	} {
		if _, err := s.w.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", q, err)
		}
	}
}

func TestConnectionSettings(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	for _, db := range []struct {
		name string
		q    func(string) (string, error)
	}{
		{"writer", func(p string) (v string, err error) { err = s.w.QueryRow("PRAGMA " + p).Scan(&v); return }},
		{"reader", func(p string) (v string, err error) { err = s.r.QueryRow("PRAGMA " + p).Scan(&v); return }},
	} {
		for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "synchronous": "1"} {
			got, err := db.q(pragma)
			if err != nil || got != want {
				t.Errorf("%s: PRAGMA %s = %q, %v; want %q", db.name, pragma, got, err, want)
			}
		}
	}
	if _, err := s.r.Exec("DELETE FROM cursors"); err == nil {
		t.Error("the reader pool can write; it should be query_only")
	}
}

func TestOpenBadPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "  ", "a?b.db"} {
		if _, err := Open(context.Background(), p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// TestUpgradeKeepsLookups: a database written before the plan journal (3),
// or with the key columns and their indexes of migration 0004 (4), upgrades,
// and PrepareRelated computes its keys as Go folds them (not as SQLite's
// ASCII lower() would) with its object ids canonical, so that Related finds
// its old rows.
func TestUpgradeKeepsLookups(t *testing.T) {
	t.Parallel()
	for _, from := range []int{3, 4} {
		t.Run(fmt.Sprintf("from %d", from), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, err := OpenNoMigrate(ctx, filepath.Join(t.TempDir(), "idlink.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ms, err := migrations.List(migrations.SQLite)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.w.Exec(createSchemaMigrations); err != nil {
				t.Fatal(err)
			}
			for _, m := range ms[:from] {
				if _, err := s.w.Exec(m.SQL); err != nil {
					t.Fatal(err)
				}
				if _, err := s.w.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, '2026-01-01T00:00:00.000000Z')", m.Version, m.Name); err != nil {
					t.Fatal(err)
				}
			}
			const oid = "0a8f2c1e-1111-4000-8000-000000000001"
			qs := []string{
				`INSERT INTO entra_users (oid, tenant_id, upn, mail, display_name, given_name, surname, account_enabled, deleted, in_scope, user_type)
					VALUES ('` + oid + `', 't', ' ÉMILE@Contoso.com', 'Émile.B@contoso.com', '', '', '', 1, '', 1, 'Member')`,
				`INSERT INTO salesforce_users (id, username, federation_identifier, email, is_active, user_type, last_seen_run)
					VALUES ('005A', 'ÉMILE@contoso.com.uat', '{` + strings.ToUpper(oid) + `}', 'x@contoso.com', 1, 'Standard', 1)`,
				`INSERT INTO remote_links (provider, subject, salesforce_user_id, object_id, tenant_id, rule, status, reason, last_seen_run)
					VALUES ('p', 's', '005A', '{` + strings.ToUpper(oid) + `}', 't', 'oid', 'active', '', 1)`,
			}
			if from == 4 { // as idlink wrote at 4: keys filled and indexed, object ids canonical
				qs = append(qs, "UPDATE remote_links SET object_id = '"+oid+"'", "UPDATE entra_users SET upn_key = 'x', mail_key = 'x'",
					"CREATE INDEX entra_users_upn_key ON entra_users (upn_key)",
					"CREATE INDEX salesforce_users_fed_key ON salesforce_users (fed_key)")
			}
			for _, q := range qs {
				if _, err := s.w.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			applied, err := s.Migrate(ctx)
			if err != nil || len(applied) == 0 {
				t.Fatalf("Migrate = %v, %v", applied, err)
			}
			if err := s.PrepareRelated(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := s.Related(ctx, identity.KeyQuery{UPNs: []string{"émile@contoso.com"}, Usernames: []string{"émile@contoso.com.uat"},
				Emails: []string{"émile.b@contoso.com"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Entra) != 1 || len(got.Salesforce) != 1 {
				t.Fatalf("Related by folded keys after the upgrade = %+v; want the Entra and the Salesforce user", got)
			}
			got, err = s.Related(ctx, identity.KeyQuery{ObjectIDs: []string{oid}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Salesforce) != 1 || len(got.RemoteLinks) != 1 || got.RemoteLinks[0].ObjectID != oid {
				t.Fatalf("Related by object id after the upgrade = %+v; want the user by FederationIdentifier and the canonical Identity_Link__c row", got)
			}
			if _, on, err := s.JournalState(ctx); err != nil || on {
				t.Fatalf("journal after the upgrade: on=%v, %v; want off until a full plan", on, err)
			}
		})
	}
}

// TestLookupIndexesFollowTheJournal: a backfill (StopJournal) drops the
// indexes of the plan's lookups and the users' keys, PrepareRelated builds
// them, and user writes in between keep the keys.
func TestLookupIndexesFollowTheJournal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	count := func() int {
		var n int
		if err := s.r.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN (SELECT value FROM json_each(?))",
			lookupIndexNames()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("%d lookup indexes in a new store; want none", n)
	}
	if err := s.PrepareRelated(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != len(store.LookupIndexes) {
		t.Fatalf("%d lookup indexes after PrepareRelated; want %d", n, len(store.LookupIndexes))
	}
	if err := s.PrepareRelated(ctx); err != nil { // again: nothing to do
		t.Fatal(err)
	}
	if err := s.StopJournal(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d lookup indexes after the journal stopped; want none", n)
	}
}

func lookupIndexNames() string {
	var names []string
	for _, x := range store.LookupIndexes {
		names = append(names, `"`+x.Name+`"`)
	}
	return "[" + strings.Join(names, ",") + "]"
}
