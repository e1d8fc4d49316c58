package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestConflictsDecide: a subject the bridge saw with a second object id is
// disputed for both people and gets no link; an import from a foreign tenant
// or with a second subject for a user is refused before anything is
// written; deleting the wrong observation (audited) lets the next run link
// the subject to its owner.
func TestConflictsDecide(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 9, Users: 300}})
		sw := h.w.Scenario
		h.mustRun(0, "backfill")
		st := h.store()
		// Two matched people, unlinked, sub not known yet.
		var two []identity.Assessment
		for _, a := range h.assessments(st, h.latestRun(st).ID) {
			if a.Provider == h.w.Provider.Name && a.Situation == identity.Unlinked && a.Rule == identity.RuleObjectID && a.Subject == "" && len(two) < 2 {
				two = append(two, a)
			}
		}
		if len(two) < 2 {
			t.Fatal("the scenario has fewer than two unlinked users to test with")
		}
		owner, other := two[0], two[1]
		client := h.w.Provider.ClientID
		sub := sw.Subject(client, owner.ObjectID)
		// What the bridge does: the owner signs in, then a token with the same
		// sub names another oid; the store keeps the first and records the conflict.
		for _, oid := range []string{owner.ObjectID, other.ObjectID} {
			if _, err := st.RecordObservation(h.ctx, identity.Observation{Provider: h.w.Provider.Name, Subject: sub, ObjectID: oid, TenantID: sw.TenantID, ClientID: client, Source: identity.SourceBridge}); err != nil {
				t.Fatal(err)
			}
		}
		h.mustRun(0, "run")
		got := map[string]identity.Assessment{}
		for _, a := range h.assessments(st, h.latestRun(st).ID) {
			if a.Provider == h.w.Provider.Name {
				got[a.ObjectID] = a
			}
		}
		for _, p := range []identity.Assessment{owner, other} {
			a := got[p.ObjectID]
			if a.Situation != identity.Disputed || !strings.Contains(a.Detail, "recorded conflict") {
				t.Errorf("%s after a recorded conflict: %s (%s), want disputed with the evidence", p.UPN, a.Situation, a.Detail)
			}
		}
		if l, ok := h.links(st)[identity.LinkKey{Provider: h.w.Provider.Name, Subject: sub}]; ok {
			t.Errorf("a link was made for the contested subject: %+v", l)
		}
		if _, ok := h.orgLinks()[sub]; ok {
			t.Errorf("an Identity_Link__c was written for the contested subject")
		}
		list := h.mustRun(0, "observations", "list", "--conflicts")
		mustContain(t, list, "observations list --conflicts", sub, other.ObjectID)

		// Imports are checked whole before anything is written.
		write := func(name string, rows ...string) string {
			path := filepath.Join(h.dir, name)
			if err := os.WriteFile(path, []byte("sub,oid,tid,client\n"+strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}
		countObs := func() int {
			n := 0
			if err := st.ScanObservations(h.ctx, func(identity.Observation) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := countObs()
		foreign := "0badc0de-0000-4000-8000-000000000001"
		third := two[1]
		r := h.mustRun(ExitUsage, "observations", "import", write("foreign.csv", fmt.Sprintf("subF,%s,%s,%s", third.ObjectID, foreign, client)))
		mustContain(t, r, "foreign tenant", "not a configured tenant")
		r = h.mustRun(ExitUsage, "observations", "import", write("second.csv", fmt.Sprintf("another-sub-for-the-owner,%s,%s,%s", owner.ObjectID, sw.TenantID, client)))
		mustContain(t, r, "second sub", "second one", "nothing was imported")
		if n := countObs(); n != before {
			t.Fatalf("refused imports wrote %d observations", n-before)
		}

		// The admin removes the wrong binding; the owner is linked next run.
		h.mustRun(0, "observations", "delete", "--provider", h.w.Provider.Name, "--subject", sub, "--oid", other.ObjectID, "--actor", "alice", "--reason", "token replayed from a shared kiosk")
		h.mustRun(0, "run")
		l := h.links(st)[identity.LinkKey{Provider: h.w.Provider.Name, Subject: sub}]
		if l.Status != identity.LinkActive || l.ObjectID != owner.ObjectID || l.SalesforceUserID != owner.SalesforceUserID {
			t.Errorf("after deleting the wrong observation: link %+v, want active for %s -> %s", l, owner.UPN, owner.SalesforceUserID)
		}
		events, err := st.ListAudit(h.ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range events {
			found = found || e.Kind == "observation.delete" && e.Actor == "alice" && strings.Contains(e.Detail, "shared kiosk")
		}
		if !found {
			t.Error("the deletion is not in the audit log with actor and reason")
		}
	})
}
