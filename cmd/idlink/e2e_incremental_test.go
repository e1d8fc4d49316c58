package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/job"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/wire"
)

// refusingWriter fails every Identity_Link__c write, so that a run plans and
// records its plan but changes nothing: two runs in a row then plan the same
// store.
type refusingWriter struct{}

func (refusingWriter) UpsertLinks(_ context.Context, ls []identity.Link) ([]identity.WriteResult, error) {
	rs := make([]identity.WriteResult, len(ls))
	for i := range rs {
		rs[i].Error = "REFUSED: by the test"
	}
	return rs, nil
}

// planRun runs one reconciliation that writes nothing, planning in full when
// full is set, and returns its outcome.
func (h *harness) planRun(st store.Store, full bool) job.Outcome {
	h.t.Helper()
	e := env{stdout: io.Discard, stderr: io.Discard, getenv: h.getenv}
	cfg, err := loadConfig(h.cfgPath, e)
	if err != nil {
		h.t.Fatal(err)
	}
	j, err := wire.NewJob(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)),
		wire.Instruments{Writer: func(reconcile.LinkWriter) reconcile.LinkWriter { return refusingWriter{} }})
	if err != nil {
		h.t.Fatal(err)
	}
	j.Revoker = nil // revocations fail too: nothing changes in the org
	if full {
		j.FullPlanEvery = 0
	}
	out, err := j.Run(h.ctx, job.Options{Kind: identity.KindRun, Holder: "e2e", Reconcile: wire.ReconcileConfig(cfg)})
	if err != nil && !errors.Is(err, reconcile.ErrIncomplete) {
		h.t.Fatalf("run: %v", err)
	}
	return out
}

// renderRun is a run's saved assessments and its plan's actions, sorted.
func (h *harness) renderRun(st store.Store, out job.Outcome) (as, acts []string) {
	for _, a := range h.assessments(st, out.Run.ID) {
		as = append(as, fmt.Sprintf("%+v", a))
	}
	// As stored, which is what reports show: an incremental run keeps its
	// base's flags there by reference, not in its Result.
	recs, err := st.ListActions(h.ctx, out.Run.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range recs {
		acts = append(acts, fmt.Sprintf("%+v %s", r.Action, r.State))
	}
	slices.Sort(as)
	slices.Sort(acts)
	return as, acts
}

// TestIncrementalRunPlansAsFullPlan: after changes of every kind a scheduled
// run sees - users disabled, renamed, added, soft deleted, deactivated in
// Salesforce, a JIT duplicate signing in, a sign-in observed - a run plans
// only what they reach and keeps the rest from the last successful run, and
// its assessments, actions and situation counts are those of a plan of every
// identity of the same store.
func TestIncrementalRunPlansAsFullPlan(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backendSQLite, harnessOptions{Scenario: scenario.Config{Seed: 21, Users: 400}})
	h.importObservations("observations.csv", h.w.Scenario.Observations)
	h.mustRun(0, "backfill")
	h.mustRun(0, "run")
	st := h.store()
	// The backfill's own writes are not journaled: the run after it plans
	// in full, the next one what changed.
	if r := h.latestRun(st); r.PlanBase != 0 || !strings.Contains(r.Note, "full plan: the last successful run") || !strings.Contains(r.Note, "was a backfill") {
		t.Fatalf("the run after a backfill: %q; want a full plan", r.Note)
	}
	h.mustRun(0, "run")
	if r := h.latestRun(st); r.PlanBase == 0 || !strings.Contains(r.Note, "planned what changed since run") {
		t.Fatalf("the second run after a backfill planned in full: %q", r.Note)
	}

	w := h.w
	// Linked people, whose links, ThirdPartyAccountLink rows and sign-ins
	// the changes reach, and people idlink could not link.
	var linked []identity.Link
	for _, l := range h.links(st) {
		if l.Status == identity.LinkActive {
			linked = append(linked, l)
		}
	}
	slices.SortFunc(linked, func(a, b identity.Link) int { return strings.Compare(a.Subject, b.Subject) })
	var unlinked []identity.EntraUser
	for _, e := range w.Scenario.Entra {
		if u, ok := w.Entra.User(e.ObjectID); ok && u.Active() && !slices.ContainsFunc(linked, func(l identity.Link) bool { return l.ObjectID == u.ObjectID }) {
			unlinked = append(unlinked, u)
		}
	}
	if len(linked) < 4 || len(unlinked) < 2 {
		t.Fatalf("%d linked and %d unlinked people: the scenario is too small", len(linked), len(unlinked))
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Entra.UpdateUser(linked[0].ObjectID, func(e *identity.EntraUser) { e.AccountEnabled = false }))
	must(w.Entra.UpdateUser(linked[1].ObjectID, func(e *identity.EntraUser) { e.UPN = "renamed." + e.UPN }))
	must(w.Entra.SoftDelete(linked[2].ObjectID))
	must(w.Org.UpdateUser(linked[3].SalesforceUserID, func(u *identity.SalesforceUser) { u.IsActive = false }))
	must(w.Entra.UpdateUser(unlinked[0].ObjectID, func(e *identity.EntraUser) { e.UPN = "renamed." + e.UPN }))
	must(w.Entra.UpdateUser(unlinked[1].ObjectID, func(e *identity.EntraUser) { e.AccountEnabled = false }))
	added := uuid.NewString()
	must(w.Entra.AddUser(identity.EntraUser{ObjectID: added, TenantID: w.Scenario.TenantID, UPN: "added@" + w.Scenario.Domain,
		Mail: "added@" + w.Scenario.Domain, AccountEnabled: true, UserType: "Member"}))
	must(w.Entra.AssignAppRole(w.Scenario.App.AppID, added, w.Scenario.App.AppRoleID))
	_, err := w.Org.AddUser(identity.SalesforceUser{Username: "added@" + w.Scenario.Domain, FederationIdentifier: added,
		Email: "added@" + w.Scenario.Domain, IsActive: true, UserType: "Standard"})
	must(err)
	// The added person signs in before any run linked them: the bridge
	// observes the subject, and Salesforce, finding no link, made a JIT
	// duplicate account and linked the subject to it.
	provider, sub := w.Scenario.Providers[0].Name, "new-subject-"+added
	h.importObservations("more.csv", []identity.Observation{{Provider: provider, Subject: sub, ObjectID: added, TenantID: w.Scenario.TenantID}})
	dup, err := w.Org.AddUser(identity.SalesforceUser{Username: "jit.added@" + w.Scenario.Domain, Email: "added@" + w.Scenario.Domain, IsActive: true, UserType: "Standard"})
	must(err)
	_, err = w.Org.AddAccountLink(identity.ThirdPartyAccountLink{Provider: provider, RemoteIdentifier: sub, UserID: dup})
	must(err)

	inc := h.planRun(st, false)
	if inc.Run.PlanBase == 0 {
		t.Fatalf("the run planned in full: %q", inc.Run.Note)
	}
	affected := inc.Run.Counts["plan.affected-records"]
	if total := inc.Run.Counts["plan.assessments"]; affected == 0 || affected > total/2 {
		t.Fatalf("the changes reached %d records of %d identities: not a plan of what changed", affected, total)
	}
	t.Logf("incremental: %s (%d assessments planned, %d kept, %d actions)", inc.Run.Note, inc.Result.Assessments.Len(), inc.Result.Identities()-inc.Result.Assessments.Len(), len(inc.Result.Actions))
	full := h.planRun(st, true)
	if full.Run.PlanBase != 0 {
		t.Fatalf("full_plan_every 0 planned incrementally: %q", full.Run.Note)
	}
	ia, iacts := h.renderRun(st, inc)
	fa, facts := h.renderRun(st, full)
	if len(ia) == 0 {
		t.Fatal("the incremental run saved no assessments")
	}
	if !slices.Equal(ia, fa) {
		t.Errorf("assessments of the incremental plan differ from the full plan's:\n%s", diffLines(fa, ia))
	}
	if !slices.Equal(iacts, facts) {
		t.Errorf("actions of the incremental plan differ from the full plan's:\n%s", diffLines(facts, iacts))
	}
	// Flags both planned again and kept by reference, or the comparison
	// says little about keeping them.
	own := 0
	for _, a := range inc.Result.Actions {
		if a.Kind == identity.ActionFlag {
			own++
		}
	}
	if total := inc.Run.Counts["plan.flags"]; own == 0 || total <= int64(own) {
		t.Fatalf("the incremental run planned %d flags and counts %d in all: want some of each kind", own, total)
	}
	for k, v := range full.Run.Counts {
		if strings.HasPrefix(k, "situation.") || strings.HasPrefix(k, "action.") || strings.HasPrefix(k, "flag.") || k == "plan.flags" {
			if inc.Run.Counts[k] != v {
				t.Errorf("count %s: incremental %d, full %d", k, inc.Run.Counts[k], v)
			}
		}
	}
	misrouted := false
	for _, a := range inc.Result.Assessments.All() {
		misrouted = misrouted || a.Subject == sub && a.Situation == identity.Misrouted
	}
	if !misrouted {
		t.Errorf("the JIT duplicate of the added person was not found misrouted")
	}
}

// diffLines lists what one sorted list has and the other has not.
func diffLines(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			fmt.Fprintf(&b, "  missing: %s\n", w)
		}
	}
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			fmt.Fprintf(&b, "  extra:   %s\n", g)
		}
	}
	return b.String()
}
