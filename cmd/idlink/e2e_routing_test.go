package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
	"github.com/idlinkhq/idlink/internal/sim/world"
)

// TestSuspectedDuplicatesRoutedThenRevoked follows a JIT duplicate from the
// first backfill to its retirement, with no bridge observation: the backfill
// suspects it (same email, created later, no FederationIdentifier) and only
// proposes the link; the person still lands on the duplicate until an admin
// approves; after approval the package's confirmUser routes the sign-in to
// the provisioned account; with revocation allowed for the provider, the
// next run revokes Salesforce's wrong ThirdPartyAccountLink - refused while
// the package keeps revocation off, held by the safety limit until an admin
// overrides, done then - and the following sign-in goes through createUser
// to the provisioned account.
func TestSuspectedDuplicatesRoutedThenRevoked(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		// The world signs people in with its first provider, the first entry
		// of the providers section.
		allowRevoke := func(y string) string {
			i := strings.Index(y, "providers:\n  - name: ")
			if i < 0 {
				t.Fatalf("config has no providers section:\n%s", y)
			}
			j := i + strings.Index(y[i+len("providers:\n"):], "\n") + len("providers:\n") + 1
			return y[:j] + "    revoke_account_links: true\n" + y[j:]
		}
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 21, Users: 400}, Edit: allowRevoke})
		provider := h.w.Provider.Name
		if !strings.Contains(mustReadFile(t, h.cfgPath), "  - name: "+provider+"\n    revoke_account_links: true\n") {
			t.Fatalf("revoke_account_links not set for %s", provider)
		}

		h.mustRun(0, "backfill")
		st := h.store()
		bf := h.latestRun(st)
		type suspected struct{ oid, sub, dup, owner string }
		var sus []suspected
		owners := map[string]string{}
		for _, a := range h.assessments(st, bf.ID) {
			if a.Provider == provider && a.Situation == identity.Misrouted {
				owners[a.ObjectID] = a.SalesforceUserID
			}
		}
		for _, r := range h.actions(st, bf.ID) {
			a := r.Action
			if a.Kind == identity.ActionFlag && a.Flag == reconcile.FlagSuspectedDuplicate && a.Link.Provider == provider {
				sus = append(sus, suspected{oid: a.Link.ObjectID, sub: a.Link.Subject, dup: a.Link.SalesforceUserID, owner: owners[a.Link.ObjectID]})
			}
		}
		if len(sus) == 0 {
			t.Fatal("the backfill suspected no JIT duplicate for the sign-in provider")
		}
		links := h.links(st)
		for _, s := range sus {
			if l := links[identity.LinkKey{Provider: provider, Subject: s.sub}]; l.Status != identity.LinkProposed || l.SalesforceUserID != s.owner {
				t.Fatalf("suspected duplicate %s: link %+v, want proposed to %s", s.dup, l, s.owner)
			}
		}
		oids := make([]string, len(sus))
		for i, s := range sus {
			oids[i] = s.oid
		}
		check := func(step string, want world.SignInOutcome) {
			t.Helper()
			for i, o := range signInWith(h.ctx, h.w, oids, h.w.EntraUserinfoURL(), world.Handler{}) {
				wantUser := sus[i].owner
				if want == world.LandedDuplicate {
					wantUser = sus[i].dup
				}
				if o.outcome != want || o.userID != wantUser || o.created {
					t.Errorf("%s: %s signed in: %s as %s (err %v), want %s as %s", step, o.oid, o.outcome, o.userID, o.err, want, wantUser)
				}
			}
		}
		t.Logf("%d suspected JIT duplicates of provider %s", len(sus), provider)
		// A proposal is not in Salesforce: nothing changes for the person yet.
		check("before approval", world.LandedDuplicate)

		for _, s := range sus {
			h.mustRun(0, "links", "approve", "--provider", provider, "--subject", s.sub, "--actor", "alice", "--reason", "same person, checked with the manager")
		}
		h.mustRun(0, "run")
		org := h.orgLinks()
		for _, s := range sus {
			if r := org[s.sub]; r.Status != "Active" || r.UserID != s.owner {
				t.Errorf("approved %s: Identity_Link__c %+v, want active -> %s", s.sub, r, s.owner)
			}
		}
		check("after approval", world.LandedProvisioned)

		// Revocation allowed in idlink, still off in the package: refused, nothing lost.
		res := h.run("run")
		if res.code == 0 {
			t.Fatalf("run with revocation off in the package succeeded: %s", res)
		}
		failed := 0
		for _, r := range h.actions(st, h.latestRun(st).ID) {
			if r.Action.Kind == identity.ActionRevokeAccountLink {
				if r.State != reconcile.StateFailed || !strings.Contains(r.Error, "Revoke_Enabled__c") {
					t.Errorf("revoke with the package's revocation off: %s %q", r.State, r.Error)
				}
				failed++
			}
		}
		if failed < len(sus) {
			t.Errorf("%d revoke-account-link actions, want at least %d", failed, len(sus))
		}
		for _, s := range sus {
			if _, ok := h.w.Org.AccountLink(provider, s.sub); !ok {
				t.Errorf("%s: ThirdPartyAccountLink gone although revocation is off", s.sub)
			}
		}

		h.w.Org.SetPackageSettings(sfsim.PackageSettings{RevokeEnabled: true, AuthProvider: provider})
		// Each revoke is a disruptive change: more than the safety limit
		// allows holds the run until an admin overrides it.
		cfgText := mustReadFile(t, h.cfgPath)
		limited := fmt.Sprintf("safety:\n  max_changes: %d\n  max_change_percent: 100\n", len(sus)-1)
		if err := os.WriteFile(h.cfgPath, []byte(strings.Replace(cfgText, defaultSafety, limited, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		h.mustRun(ExitHeld, "run")
		heldRun := h.latestRun(st)
		for _, s := range sus {
			if _, ok := h.w.Org.AccountLink(provider, s.sub); !ok {
				t.Errorf("%s: ThirdPartyAccountLink revoked by a held run", s.sub)
			}
		}
		h.mustRun(0, "run", "--override", fmt.Sprint(heldRun.ID))
		if err := os.WriteFile(h.cfgPath, []byte(cfgText), 0o600); err != nil {
			t.Fatal(err)
		}
		run := h.latestRun(st)
		situation := map[string]identity.Situation{}
		for _, a := range h.assessments(st, run.ID) {
			if a.Provider == provider {
				situation[a.ObjectID] = a.Situation
			}
		}
		for _, s := range sus {
			if _, ok := h.w.Org.AccountLink(provider, s.sub); ok {
				t.Errorf("%s: ThirdPartyAccountLink to the duplicate still there", s.sub)
			}
			if situation[s.oid] != identity.Linked {
				t.Errorf("%s after the revoke: %s, want linked", s.oid, situation[s.oid])
			}
			hist, err := st.LinkHistory(h.ctx, identity.LinkKey{Provider: provider, Subject: s.sub})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(hist); n == 0 || hist[n-1].Action != identity.ActionRevokeAccountLink || hist[n-1].Link.SalesforceUserID != s.dup {
				t.Errorf("%s: history ends with %+v, want the revoked ThirdPartyAccountLink to %s", s.sub, hist[len(hist)-1], s.dup)
			}
		}
		for _, c := range h.w.Org.RevokeCalls() {
			if c.ProviderName != "open id connect" || len(c.UserID) != 15 {
				t.Errorf("revokeAccess called with %q, %q", c.ProviderName, c.UserID)
			}
		}
		// The next sign-in has no ThirdPartyAccountLink: createUser finds the link.
		check("after the revoke", world.LandedProvisioned)
		for _, s := range sus {
			if l, ok := h.w.Org.AccountLink(provider, s.sub); !ok || l.UserID != s.owner {
				t.Errorf("%s: new ThirdPartyAccountLink %+v, want -> %s", s.sub, l, s.owner)
			}
		}
		// Nothing left to do: the next run writes nothing and revokes nothing.
		h.mustRun(0, "run")
		for _, r := range h.actions(st, h.latestRun(st).ID) {
			if r.Action.Kind != identity.ActionFlag && r.Action.Link.Provider == provider {
				for _, s := range sus {
					if r.Action.Link.Subject == s.sub {
						t.Errorf("settled %s planned again: %s", s.sub, r.Action.Kind)
					}
				}
			}
		}
	})
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
