package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/idlinkhq/idlink/"

// allowed lists, per package (a path below the module, longest prefix
// wins), the internal packages its production code may import. Its own
// sub-packages are always allowed. docs/architecture.md explains each rule.
var allowed = map[string][]string{
	"internal/identity":   {},
	"internal/csvsafe":    {},
	"internal/jsonscan":   {},
	"internal/config":     {"internal/identity"},
	"internal/reconcile":  {"internal/identity", "internal/store"}, // the store's contract only, no backend
	"internal/store":      {"internal/identity", "migrations"},
	"internal/job":        {"internal/identity", "internal/reconcile", "internal/store"},
	"internal/entra":      {"internal/identity", "internal/jsonscan"},
	"internal/salesforce": {"internal/identity", "internal/jsonscan"},
	"internal/bridge":     {"internal/identity"},
	// Test helpers fill settings with the shipped defaults (config owns them).
	"internal/bridge/bridgetest": {"internal/identity", "internal/bridge", "internal/config"},
	"internal/report":            {"internal/identity", "internal/csvsafe"},
	"internal/obsfile":           {"internal/identity", "internal/csvsafe"},
	"internal/schedule":          {},
	"internal/sfpackage":         {},
	"internal/sim":               {"internal/identity", "internal/config"},
	"internal/wire": {"internal/identity", "internal/config", "internal/reconcile", "internal/store", "internal/job",
		"internal/entra", "internal/salesforce", "internal/bridge"},
	"internal/e2ebench": {},
	"internal/archtest": {},
	"cmd/idlink":        {"internal", "migrations"},
	"migrations":        {},
}

// TestLayers: no production file imports an internal package its layer does
// not allow: adapters import only the domain, never each other; the core
// imports no adapter; nothing below cmd imports the simulator but itself.
func TestLayers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "node_modules" || strings.HasPrefix(n, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		rule, ok := ruleFor(rel)
		if !ok {
			t.Errorf("%s: no layer rule for package %s: add it to allowed (and to docs/architecture.md)", path, rel)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if !strings.HasPrefix(p, module) {
				continue
			}
			p = strings.TrimPrefix(p, module)
			checked++
			if !permitted(rel, rule, p) {
				t.Errorf("%s imports %s, which layer %s does not allow (allowed: %v)", strings.TrimPrefix(path, root+"/"), p, rel, rule)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d internal imports checked: the walk missed the tree", checked)
	}
}

func ruleFor(pkg string) (rule []string, ok bool) {
	best := ""
	for prefix := range allowed {
		if (pkg == prefix || strings.HasPrefix(pkg, prefix+"/")) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return nil, false
	}
	return append(slices.Clone(allowed[best]), best), true
}

func permitted(pkg string, rule []string, imp string) bool {
	for _, a := range rule {
		if imp == a || strings.HasPrefix(imp, a+"/") {
			return true
		}
	}
	return false
}
