// Package migrations holds the database schema of idlink, one directory per SQL
// dialect with the same numbering, embedded into the binary so that `idlink
// migrate` and start-up can apply it without files on disk.
//
// A migration file is named NNNN_name.sql (for example 0001_init.sql). The
// version is the number; the name is the rest. Both dialects must list the same
// versions with the same names (a test checks it), so that "version 3" means the
// same schema on SQLite and on PostgreSQL.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Dialect names a SQL dialect with its own migration directory.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Dialects lists every dialect that has migrations.
var Dialects = []Dialect{SQLite, Postgres}

// Migration is one numbered schema change.
type Migration struct {
	Version int    // 1, 2, ...
	Name    string // "init"
	SQL     string
}

// List returns the migrations of a dialect in version order. It fails when a
// file name does not follow NNNN_name.sql or when versions are not 1, 2, 3, ...
// without gaps or repeats.
func List(d Dialect) ([]Migration, error) {
	return list(files, string(d))
}

func list(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: unknown dialect %q (want sqlite or postgres): %w", dir, err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, name, err := parseName(e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrations/%s: %w", dir, err)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations/%s: read %s: %w", dir, e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations/%s: expected version %04d, found %04d_%s.sql (versions must be 1, 2, 3, ... without gaps or repeats)", dir, i+1, m.Version, m.Name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("migrations/%s: no migration files", dir)
	}
	return out, nil
}

// Latest returns the highest version of a dialect.
func Latest(d Dialect) (int, error) {
	ms, err := List(d)
	if err != nil {
		return 0, err
	}
	return ms[len(ms)-1].Version, nil
}

func parseName(file string) (int, string, error) {
	base := strings.TrimSuffix(file, ".sql")
	num, name, ok := strings.Cut(base, "_")
	if !ok || len(num) != 4 || name == "" {
		return 0, "", fmt.Errorf("bad migration file name %q: want NNNN_name.sql, e.g. 0002_add_index.sql", file)
	}
	v, err := strconv.Atoi(num)
	if err != nil || v <= 0 {
		return 0, "", fmt.Errorf("bad migration file name %q: %q is not a positive 4-digit version", file, num)
	}
	return v, name, nil
}

// TooNewMessage is the text shown when a database was migrated by a newer
// idlink; backends wrap store.ErrSchemaTooNew with it.
func TooNewMessage(applied, latest int) string {
	return fmt.Sprintf("database was migrated by a newer idlink (version %d > %d); upgrade idlink or point it at another database", applied, latest)
}
