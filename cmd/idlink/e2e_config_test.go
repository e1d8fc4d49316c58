package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestGraphBehindGateway: with Graph reached through another host (a
// proxy or API gateway; here the simulator under the name localhost), the
// token scope derived from graph_base_url names a resource Entra does not
// know (AADSTS500011) and the error says to set entra.graph_scope; set to
// the Graph resource, the backfill works.
func TestGraphBehindGateway(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backendSQLite, harnessOptions{Scenario: scenario.Config{Seed: 3, Users: 50}})
	raw, err := os.ReadFile(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`graph_base_url: "https://127\.0\.0\.1:`)
	if !re.Match(raw) {
		t.Fatalf("the world's config has no loopback graph_base_url:\n%s", raw)
	}
	gateway := re.ReplaceAllString(string(raw), `graph_base_url: "https://localhost:`)
	if err := os.WriteFile(h.cfgPath, []byte(gateway), 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.run("backfill")
	if r.code == 0 {
		t.Fatalf("a scope derived from the gateway host was accepted: %s", r)
	}
	mustContain(t, r, "derived scope", "AADSTS500011", "entra.graph_scope")
	withScope := strings.Replace(gateway, "  graph_base_url:", "  graph_scope: https://graph.microsoft.com/.default\n  graph_base_url:", 1)
	if err := os.WriteFile(h.cfgPath, []byte(withScope), 0o600); err != nil {
		t.Fatal(err)
	}
	h.mustRun(0, "backfill")
}
