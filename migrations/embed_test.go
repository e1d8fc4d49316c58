package migrations

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// Both dialects must describe the same schema history: same versions, same names.
func TestDialectsHaveSameMigrations(t *testing.T) {
	t.Parallel()
	sq, err := List(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := List(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameList(sq, pg); err != nil {
		t.Fatal(err)
	}
}

func TestSameListDetectsDifferences(t *testing.T) {
	t.Parallel()
	a := []Migration{{Version: 1, Name: "init"}, {Version: 2, Name: "more"}}
	tests := []struct {
		name string
		b    []Migration
		want string
	}{
		{"missing", []Migration{{Version: 1, Name: "init"}}, "2 migrations"},
		{"renamed", []Migration{{Version: 1, Name: "init"}, {Version: 2, Name: "other"}}, "0002"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := sameList(a, tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("sameList = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestListRejectsBadNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"no number", fstest.MapFS{"d/init.sql": {}}, "bad migration file name"},
		{"gap", fstest.MapFS{"d/0001_a.sql": {}, "d/0003_c.sql": {}}, "expected version 0002"},
		{"repeat", fstest.MapFS{"d/0001_a.sql": {}, "d/0001_b.sql": {}}, "expected version 0002"},
		{"empty", fstest.MapFS{"d/README": {}}, "no migration files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := list(tc.files, "d")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("list = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestListUnknownDialect(t *testing.T) {
	t.Parallel()
	if _, err := List("oracle"); err == nil || !strings.Contains(err.Error(), "sqlite or postgres") {
		t.Fatalf("List(oracle) = %v", err)
	}
}

func sameList(a, b []Migration) error {
	if len(a) != len(b) {
		return errorf("sqlite has %d migrations, postgres has %d migrations: add the missing files so both dialects have the same numbering", len(a), len(b))
	}
	for i := range a {
		if a[i].Version != b[i].Version || a[i].Name != b[i].Name {
			return errorf("migration %d differs: sqlite %04d_%s.sql, postgres %04d_%s.sql", i+1, a[i].Version, a[i].Name, b[i].Version, b[i].Name)
		}
	}
	return nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
