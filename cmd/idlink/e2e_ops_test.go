package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
	"github.com/idlinkhq/idlink/internal/store"
)

// linkedIdentities returns the run's linked Entra identities, in a stable order.
func (h *harness) linkedIdentities(st store.Store, runID int64) []identity.Assessment {
	h.t.Helper()
	var out []identity.Assessment
	for _, a := range h.assessments(st, runID) {
		if a.Situation == identity.Linked && a.ObjectID != "" && a.Subject != "" {
			out = append(out, a)
		}
	}
	return out
}

// TestDeltaRun: after a backfill, renames, disables, soft and hard deletions
// in Entra reach the next run through Graph delta, and the run revokes the
// links of the users who can no longer sign in, with a reason, and keeps the
// renamed user's oid link untouched.
func TestDeltaRun(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 13, Users: 600}})
		h.mustRun(0, "backfill")
		st := h.store()
		bf := h.latestRun(st)
		linked := h.linkedIdentities(st, bf.ID)
		if len(linked) < 6 {
			t.Fatalf("only %d linked identities", len(linked))
		}
		renamed, disabled, soft, hard := linked[0], linked[1:3], linked[3], linked[4]
		es := h.w.Entra
		newUPN := "renamed." + renamed.UPN
		if err := es.UpdateUser(renamed.ObjectID, func(u *identity.EntraUser) { u.UPN = newUPN; u.Mail = newUPN }); err != nil {
			t.Fatal(err)
		}
		for _, a := range disabled {
			if err := es.UpdateUser(a.ObjectID, func(u *identity.EntraUser) { u.AccountEnabled = false }); err != nil {
				t.Fatal(err)
			}
		}
		if err := es.SoftDelete(soft.ObjectID); err != nil {
			t.Fatal(err)
		}
		if err := es.HardDelete(hard.ObjectID); err != nil {
			t.Fatal(err)
		}

		before := es.Faults.Counters()
		h.mustRun(0, "run")
		after := es.Faults.Counters()
		run := h.latestRun(st)
		if run.Kind != identity.KindRun || run.Status != identity.StatusSucceeded {
			t.Fatalf("run: %+v", run)
		}
		// Delta, not a listing: no /users request, a page or two of delta.
		if n := after[entrasim.EPUsers].Requests - before[entrasim.EPUsers].Requests; n != 0 {
			t.Errorf("the run listed /users %d times; want delta only", n)
		}
		if n := after[entrasim.EPDelta].Requests - before[entrasim.EPDelta].Requests; n < 1 || n > 3 {
			t.Errorf("the run made %d delta requests; want 1-3", n)
		}
		if p := run.Counts["entra.pages"]; p < 1 || p > 3 {
			t.Errorf("entra.pages = %d; want a delta page or two (counts %v)", p, run.Counts)
		}
		if c := run.Counts["entra.changed"] + run.Counts["entra.soft_deleted"] + run.Counts["entra.hard_deleted"]; c < 5 || c > 10 {
			t.Errorf("delta reported %d changes for 5 mutated users (counts %v)", c, run.Counts)
		}

		// Actions: exactly the four revokes, each with a reason.
		wantRevoke := map[string]string{} // sub -> oid
		for _, a := range append(append([]identity.Assessment{}, disabled...), soft, hard) {
			wantRevoke[a.Subject] = a.ObjectID
		}
		for _, r := range h.actions(st, run.ID) {
			a := r.Action
			if a.Kind == identity.ActionFlag {
				continue
			}
			if a.Link.Subject == renamed.Subject {
				t.Errorf("the renamed user's link got %s (%s); want no change", a.Kind, a.Reason)
				continue
			}
			if _, ok := wantRevoke[a.Link.Subject]; !ok {
				t.Errorf("unexpected action %s %s/%s (%s)", a.Kind, a.Link.Provider, a.Link.Subject, a.Reason)
				continue
			}
			if a.Kind != identity.ActionRevokeLink || r.State != reconcile.StateApplied || strings.TrimSpace(a.Reason) == "" || a.Link.Status != identity.LinkRevoked {
				t.Errorf("%s: %s state %s status %s reason %q; want an applied revoke-link with a reason", a.Link.Subject, a.Kind, r.State, a.Link.Status, a.Reason)
			}
			delete(wantRevoke, a.Link.Subject)
		}
		for sub, oid := range wantRevoke {
			t.Errorf("no revoke-link for %s (Entra %s)", sub, oid)
		}
		org := h.orgLinks()
		links := h.links(st)
		for _, a := range append(append([]identity.Assessment{}, disabled...), soft, hard) {
			if r := org[a.Subject]; r.Status != "Revoked" || r.RevokeReason == "" {
				t.Errorf("Identity_Link__c %s: %+v; want Revoked with a reason", a.Subject, r)
			}
			if l := links[identity.LinkKey{Provider: a.Provider, Subject: a.Subject}]; l.Status != identity.LinkRevoked {
				t.Errorf("store link %s: %s; want revoked", a.Subject, l.Status)
			}
		}
		if r := org[renamed.Subject]; r.Status != "Active" || r.UserID != renamed.SalesforceUserID {
			t.Errorf("renamed user's Identity_Link__c: %+v; want still active -> %s", r, renamed.SalesforceUserID)
		}
		for _, a := range h.assessments(st, run.ID) {
			if a.ObjectID == renamed.ObjectID {
				if a.Situation != identity.Linked || a.UPN != newUPN {
					t.Errorf("renamed user: %s UPN %s; want linked with the new UPN %s", a.Situation, a.UPN, newUPN)
				}
			}
			for _, d := range disabled {
				if a.ObjectID == d.ObjectID && a.Situation != identity.Deprovisioned {
					t.Errorf("disabled user %s: %s (%s); want deprovisioned", d.ObjectID, a.Situation, a.Detail)
				}
			}
		}
		// The report shows the same actions.
		rep := h.reportJSON()
		if rep.ActionCounts[string(identity.ActionRevokeLink)]["applied"] != 4 {
			t.Errorf("report action counts %v; want 4 applied revoke-link", rep.ActionCounts)
		}
	})
}

// child is idlink running args with the harness's configuration in a
// process of its own (TestHelperProcess), for tests that kill it.
func (h *harness) child(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "IDLINK_E2E_CHILD=1", "IDLINK_E2E_ARGS="+strings.Join(append(args, "--config", h.cfgPath), "\x1f"))
	for k, v := range h.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// TestHelperProcess is the child the crash and soak tests kill: it runs one
// idlink command line from the environment.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("IDLINK_E2E_CHILD") != "1" {
		t.Skip("helper process of TestCrashDuringApply")
	}
	args := strings.Split(os.Getenv("IDLINK_E2E_ARGS"), "\x1f")
	os.Exit(Run(context.Background(), args, os.Stdout, os.Stderr, os.Getenv))
}

// TestCrashDuringApply: a backfill killed with SIGKILL between two
// Salesforce collection writes is simply run again and converges: a third
// run plans no writes, the org has one Identity_Link__c per subject and the
// store's history one create per link.
func TestCrashDuringApply(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 14, Users: 1600}})
		plan := h.mustRun(10, "backfill", "--dry-run", "--detailed-exitcode")
		if !strings.Contains(plan.stdout, "+ to link (") {
			t.Fatalf("nothing to create: %s", plan)
		}
		faults := h.w.Salesforce.Faults()
		faults.Set(sfsim.EndpointCollections, fault.Faults{Latency: 700 * time.Millisecond})
		base := faults.Counter(sfsim.EndpointCollections).Requests

		cmd := h.child("backfill")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill while collection calls are in flight (700 ms each, up to
		// salesforce.write_concurrency at once): some batches may be written
		// to Salesforce, and maybe recorded, the rest not.
		select {
		case <-faults.Reached(sfsim.EndpointCollections, base+2):
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child never reached its second collection write:\n%s", clip(out.String()))
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !ws.Signaled() {
			t.Fatalf("the child was not killed (it finished first: %v):\n%s", err, clip(out.String()))
		}
		checkNoSecrets(t, "backfill (killed child)", out.String(), h.outCheck...)
		faults.Set(sfsim.EndpointCollections, fault.Faults{})

		st := h.store()
		killed := h.latestRun(st)
		if killed.Status != identity.StatusRunning {
			t.Fatalf("the killed run is recorded as %s; want running (it never finished)", killed.Status)
		}
		partial := len(h.w.Org.IdentityLinks())
		// Its lease outlives it until the TTL; a run now is skipped, saying who holds it.
		if r := h.run("backfill"); r.code != ExitSkipped || !strings.Contains(r.stderr, "skipped") {
			t.Fatalf("a run while the dead run's lease is valid: %s", r)
		}
		h.expireLease()

		h.mustRun(0, "backfill")
		if r, err := st.GetRun(h.ctx, killed.ID); err != nil || r.Status != identity.StatusFailed || !strings.Contains(r.Error, "interrupted") {
			t.Fatalf("the killed run %d is recorded as %s (%q, %v); want failed, interrupted", killed.ID, r.Status, r.Error, err)
		}
		h.mustRun(0, "backfill", "--dry-run", "--detailed-exitcode")
		h.mustRun(0, "run", "--dry-run", "--detailed-exitcode")

		org := h.orgLinks() // fails on a duplicate Subject__c
		if len(org) <= partial {
			t.Fatalf("the second run added no Identity_Link__c (%d before, %d after)", partial, len(org))
		}
		links := h.links(st)
		creates := map[string]int{}
		audit, err := st.ListAudit(h.ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range audit {
			if e.Kind == "link."+string(identity.ActionCreateLink) {
				creates[e.Target]++
			}
		}
		active := 0
		for k, l := range links {
			hist, err := st.LinkHistory(h.ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			n, proposed := 0, 0
			for _, v := range hist {
				switch v.Action {
				case identity.ActionCreateLink, identity.ActionAdoptLink:
					// A row written before the kill but not recorded is
					// adopted by the next run instead of written again.
					n++
				case identity.ActionProposeLink:
					proposed++
				}
			}
			switch {
			case l.Status == identity.LinkProposed && (n != 0 || proposed != 1):
				// Suspected JIT duplicates are proposed once and never created without an approval.
				t.Errorf("proposed link %s has %d create and %d propose events in its history; want 0 and 1", k, n, proposed)
			case l.Status != identity.LinkProposed && n != 1:
				t.Errorf("link %s has %d create or adopt events in its history; want 1", k, n)
			}
			if c := creates[k.String()]; c > 1 {
				t.Errorf("link %s has %d create audit events", k, c)
			}
			if l.Status != identity.LinkActive {
				continue
			}
			active++
			if r, ok := org[k.Subject]; !ok || r.Status != "Active" || r.UserID != l.SalesforceUserID {
				t.Errorf("store link %s -> %s, org row %+v", k, l.SalesforceUserID, r)
			}
		}
		for sub, r := range org {
			if r.Status == "Active" {
				if _, ok := links[identity.LinkKey{Provider: h.w.Provider.Name, Subject: sub}]; !ok {
					t.Errorf("org Identity_Link__c %s has no link in the store", sub)
				}
			}
		}
		t.Logf("killed after %d collection calls with %d org rows; converged to %d active links", 2, partial, active)
	})
}

// TestSafetyLimitAndOverride: a plan that would revoke more links than
// allowed is held with nothing written and exit 4; an override naming another
// run does not release it; naming the held run does.
func TestSafetyLimitAndOverride(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{
			Scenario: scenario.Config{Seed: 15, Users: 500},
			Edit: func(y string) string {
				return strings.Replace(y, defaultSafety, "safety:\n  max_changes: 1\n  max_change_percent: 100\n", 1)
			},
		})
		r := h.run("backfill")
		st := h.store()
		if r.code == ExitHeld { // the scenario's own revokes; an admin reviews and overrides
			h.mustRun(0, "backfill", "--override", fmt.Sprint(h.latestRun(st).ID))
		} else if r.code != 0 {
			t.Fatalf("backfill: %s", r)
		}
		bf := h.latestRun(st)
		linked := h.linkedIdentities(st, bf.ID)
		if len(linked) < 3 {
			t.Fatalf("only %d linked identities", len(linked))
		}
		victims := map[string]bool{}
		for _, a := range linked[:3] {
			victims[a.Subject] = true
			if err := h.w.Entra.UpdateUser(a.ObjectID, func(u *identity.EntraUser) { u.AccountEnabled = false }); err != nil {
				t.Fatal(err)
			}
		}
		orgBefore, linksBefore := h.orgLinks(), h.links(st)

		held := h.mustRun(ExitHeld, "run")
		heldRun := h.latestRun(st)
		if heldRun.Status != identity.StatusHeld || !strings.Contains(held.stdout, "HELD by the safety limit") || !strings.Contains(held.stderr, fmt.Sprintf("--override %d", heldRun.ID)) {
			t.Fatalf("held run %+v:\n%s", heldRun, held)
		}
		assertUnchanged := func(when string) {
			t.Helper()
			if got := h.orgLinks(); !reflect.DeepEqual(got, orgBefore) {
				t.Fatalf("%s: Identity_Link__c rows changed", when)
			}
			if got := h.links(st); !reflect.DeepEqual(got, linksBefore) {
				t.Fatalf("%s: the store's links changed", when)
			}
		}
		assertUnchanged("held run")
		rep := h.reportJSON("--run", fmt.Sprint(heldRun.ID))
		heldSubs := map[string]bool{}
		for _, a := range rep.Actions {
			if a.State == "held" {
				if a.Kind != string(identity.ActionRevokeLink) || !victims[a.Subject] {
					t.Errorf("held action %s %s is none of the disabled users' revokes", a.Kind, a.Subject)
				}
				heldSubs[a.Subject] = true
			}
		}
		if len(heldSubs) != len(victims) {
			t.Fatalf("report of run %d holds %v; want the revokes of %v", heldRun.ID, heldSubs, victims)
		}

		// An override naming another run (the backfill) or no run is refused
		// before anything runs, saying why.
		for wrong, why := range map[int64]string{bf.ID: "not held", heldRun.ID + 1000: "no such run"} {
			r := h.mustRun(ExitUsage, "run", "--override", fmt.Sprint(wrong))
			if !strings.Contains(r.stderr, why) {
				t.Errorf("override %d: the refusal does not say %q:\n%s", wrong, why, r)
			}
			assertUnchanged(fmt.Sprintf("override %d", wrong))
		}

		h.mustRun(0, "run", "--override", fmt.Sprint(heldRun.ID))
		org := h.orgLinks()
		for sub := range victims {
			if org[sub].Status != "Revoked" {
				t.Errorf("after the override, Identity_Link__c %s is %+v; want Revoked", sub, org[sub])
			}
		}
		h.mustRun(0, "run", "--dry-run", "--detailed-exitcode")
	})
}

// TestConcurrentRuns: while one run holds the lease, a second exits 3
// ("skipped") at once; the first finishes normally.
func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 16, Users: 300}})
		faults := h.w.Salesforce.Faults()
		faults.Set(sfsim.EndpointQuery, fault.Faults{Latency: 1500 * time.Millisecond})
		base := faults.Counter(sfsim.EndpointQuery).Requests
		var first result
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			first = h.run("backfill")
		}()
		select { // the first run is reading: it holds the lease
		case <-faults.Reached(sfsim.EndpointQuery, base+1):
		case <-time.After(60 * time.Second):
			t.Fatal("the first run never queried Salesforce")
		}
		start := time.Now()
		second := h.run("run")
		took := time.Since(start)
		wg.Wait()
		if first.code != 0 {
			t.Fatalf("first run: %s", first)
		}
		if second.code != ExitSkipped || !strings.Contains(second.stderr, "skipped") {
			t.Fatalf("second run: %s", second)
		}
		// The first run needs at least three 1.5 s queries; the second must
		// not wait for it (3 s leaves room for a loaded machine under -race).
		if took > 3*time.Second {
			t.Errorf("the skipped run took %s; it must not wait for the lease", took)
		}
		if first.code == 0 && !strings.Contains(second.stderr, "another idlink run") {
			t.Errorf("the skipped run does not say why: %s", second)
		}
		st := h.store()
		runs, err := st.ListRuns(h.ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Kind != identity.KindBackfill {
			t.Fatalf("runs recorded: %+v; want the one backfill", runs)
		}
	})
}
