package backend

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/migrations"
)

func TestUnknownDriver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, d := range []string{"", "mysql", "SQLite"} {
		_, err := Open(ctx, d, "x.db")
		if err == nil || !strings.Contains(err.Error(), "store.driver must be sqlite or postgres") {
			t.Errorf("Open(%q): err = %v", d, err)
		}
		if _, _, err := Status(ctx, d, "x.db"); err == nil {
			t.Errorf("Status(%q) accepted the driver", d)
		}
		if _, err := Migrate(ctx, d, "x.db"); err == nil {
			t.Errorf("Migrate(%q) accepted the driver", d)
		}
	}
}

func TestSQLiteMigrateAndStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "idlink.db")
	latest, err := migrations.Latest(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	applied, l, err := Status(ctx, SQLite, path)
	if err != nil || applied != 0 || l != latest {
		t.Fatalf("Status(fresh path) = %d, %d, %v; want 0, %d", applied, l, err, latest)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Status created the database file (stat err %v)", err)
	}
	done, err := Migrate(ctx, SQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, latest)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(done, want) {
		t.Fatalf("Migrate on a new file applied %v, want %v", done, want)
	}
	if done, err := Migrate(ctx, SQLite, path); err != nil || len(done) != 0 {
		t.Fatalf("second Migrate = %v, %v; want nothing to do", done, err)
	}
	if applied, l, err := Status(ctx, SQLite, path); err != nil || applied != latest || l != latest {
		t.Fatalf("Status after migrate = %d, %d, %v", applied, l, err)
	}
	s, err := Open(ctx, SQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.StartRun(ctx, identity.KindRun, "test"); err != nil {
		t.Fatal(err)
	}
}

func TestSQLiteBadPath(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), SQLite, filepath.Join(t.TempDir(), "missing-dir", "idlink.db"))
	if err == nil || !strings.Contains(err.Error(), "directory exists") {
		t.Fatalf("Open in a missing directory: err = %v, want a hint about the directory", err)
	}
}

func TestPostgresStatus(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("IDLINK_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but IDLINK_TEST_POSTGRES_DSN is not set")
		}
		t.Skip("IDLINK_TEST_POSTGRES_DSN not set")
	}
	// The shared database may hold anything; only check that status answers
	// and that an unreachable server gives an error naming the problem.
	ctx := context.Background()
	if _, latest, err := Status(ctx, Postgres, dsn); err != nil || latest < 1 {
		t.Fatalf("Status(postgres) = latest %d, %v", latest, err)
	}
	_, _, err := Status(ctx, Postgres, "postgres://nobody:secret-pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("Status(unreachable) = %v; want an error without the password", err)
	}
}
