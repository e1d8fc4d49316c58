package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestSecondDatabaseOnOneOrg: a second idlink database against an org the
// first one manages holds instead of rewriting or revoking what the first
// wrote, naming both databases; after an admin adopts the first database's
// rows and imports its decisions, the second one records the agreeing rows
// without writing a single Identity_Link__c, and keeps the link an admin
// approved in the first.
func TestSecondDatabaseOnOneOrg(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 41, Users: 300}})
		// One UPN-only user's sub is known (as from the bridge), so the
		// backfill proposes its link for an admin.
		sw := h.w.Scenario
		for _, e := range sw.Expected() {
			if e.Situation == identity.Unlinked && e.Why == scenario.WhyUnlinkedUPN {
				oid := strings.TrimPrefix(e.Key, scenario.KeyEntra)
				client := providerClient(t, sw, e.Provider)
				h.importObservations("upn.csv", []identity.Observation{{Provider: e.Provider, Subject: sw.Subject(client, oid), ObjectID: oid, TenantID: sw.TenantID, ClientID: client}})
				break
			}
		}
		h.mustRun(0, "backfill")
		st := h.store()
		first, err := st.StoreID(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		// An admin approves a UPN-only match in the first database.
		var approved identity.Link
		for _, l := range h.links(st) {
			if l.Status == identity.LinkProposed && l.Rule == identity.RuleUPN {
				approved = l
				break
			}
		}
		if approved.Subject == "" {
			t.Fatal("the backfill proposed no UPN-only link")
		}
		h.mustRun(0, "links", "approve", "--provider", approved.Provider, "--subject", approved.Subject, "--actor", "alice", "--reason", "checked with HR")
		h.mustRun(0, "run")
		if r := h.orgLinks()[approved.Subject]; r.Status != "Active" {
			t.Fatalf("the approved link is not active in Salesforce: %+v", r)
		}
		decisions := filepath.Join(h.dir, "decisions.jsonl")
		h.mustRun(0, "links", "export-decisions", "-o", decisions)
		before := h.w.Org.IdentityLinks()
		for _, r := range before {
			if r.Status == "Active" && r.StoreID != first && r.StoreID != "" {
				t.Fatalf("row %s written by %q, not by the first database %s", r.Subject, r.StoreID, first)
			}
		}

		// The second database: same org, another store.
		env2 := map[string]string{}
		for k, v := range h.env {
			env2[k] = v
		}
		if b == backendPostgres {
			env2["IDLINK_STORE_DSN"], _ = pgSchema(t)
		} else {
			env2["IDLINK_STORE_PATH"] = filepath.Join(h.dir, "second.db")
		}
		second := func(want int, args ...string) result {
			t.Helper()
			r := h.runEnv(func(k string) string { return env2[k] }, args...)
			if r.code != want {
				t.Fatalf("second database: idlink %s: want exit %d, got %s", strings.Join(args, " "), want, r)
			}
			return r
		}
		r := second(ExitHeld, "backfill")
		mustContain(t, r, "second database's backfill", "written by another idlink database", first, "idlink links adopt")
		if after := h.w.Org.IdentityLinks(); !reflect.DeepEqual(after, before) {
			t.Fatal("the held second database changed Identity_Link__c rows")
		}
		r = second(ExitUsage, "links", "adopt", "--store-id", first, "--actor", "alice")
		mustContain(t, r, "adopt without a reason", "--reason")
		second(0, "links", "adopt", "--store-id", first, "--actor", "alice", "--reason", "moving to the new database; the old deployment is stopped")
		second(0, "links", "import-decisions", decisions)
		second(0, "backfill")
		after := h.w.Org.IdentityLinks()
		if !reflect.DeepEqual(after, before) {
			changed := 0
			for i := range after {
				if i >= len(before) || !reflect.DeepEqual(after[i], before[i]) {
					changed++
				}
			}
			t.Errorf("the second database rewrote %d Identity_Link__c rows that agreed with its plan (of %d before, %d after)", changed, len(before), len(after))
		}
		if r := h.w.Org.IdentityLinks(); len(r) == 0 {
			t.Fatal("no Identity_Link__c rows")
		}
		for _, r := range after {
			if r.Subject == approved.Subject && r.Status != "Active" {
				t.Errorf("the link approved in the first database was revoked by the second: %+v", r)
			}
		}
		// Importing the decisions again is harmless.
		r = second(0, "links", "import-decisions", decisions)
		mustContain(t, r, "second import", "imported 0 decision(s)")
	})
}
