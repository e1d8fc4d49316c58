package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/idlinkhq/idlink/internal/wire"

	"github.com/idlinkhq/idlink/internal/bridge"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/job"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/world"
)

// planOnly computes what `idlink backfill --dry-run` plans, with the
// assessments before anything is applied (the dry run prints only actions).
func (h *harness) planOnly() *reconcile.Result {
	h.t.Helper()
	e := env{stdout: io.Discard, stderr: io.Discard, getenv: h.getenv}
	cfg, err := loadConfig(h.cfgPath, e)
	if err != nil {
		h.t.Fatal(err)
	}
	st, err := openStore(h.ctx, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	j, err := wire.NewJob(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)), wire.Instruments{})
	if err != nil {
		h.t.Fatal(err)
	}
	rc := wire.ReconcileConfig(cfg)
	out, err := j.Run(h.ctx, job.Options{Kind: identity.KindBackfill, DryRun: true, Holder: "e2e", Reconcile: rc})
	if err != nil {
		h.t.Fatalf("dry run: %v", err)
	}
	return out.Result
}

// compareSituations fails with every key whose situation differs.
func compareSituations(t *testing.T, what string, want map[string]scenario.Expectation, got map[string]identity.Assessment, upgrade func(scenario.Expectation, identity.Assessment) identity.Situation) {
	t.Helper()
	var problems []string
	for k, e := range want {
		a, ok := got[k]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: want %s (%s), idlink has no assessment", k, e.Situation, e.Why))
			continue
		}
		ws := e.Situation
		if upgrade != nil {
			ws = upgrade(e, a)
		}
		if a.Situation != ws {
			problems = append(problems, fmt.Sprintf("%s: want %s (%s), got %s (%s)", k, ws, e.Why, a.Situation, a.Detail))
		}
	}
	for k, a := range got {
		if _, ok := want[k]; !ok {
			problems = append(problems, fmt.Sprintf("%s: idlink says %s (%s), the generator expects nothing", k, a.Situation, a.Detail))
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Fatalf("%s: %d of %d expectations differ:\n%s", what, len(problems), len(want), strings.Join(problems[:min(len(problems), 25)], "\n"))
	}
}

// TestBackfillMatchesScenario: the situations idlink finds are, key by key,
// the ones the scenario generator expects; before apply (the dry run's plan)
// exactly, after apply with every link the run wrote turning unlinked into
// linked.
func TestBackfillMatchesScenario(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		// Default rates: every mess, soft-deleted users included (a full
		// listing reads them from Graph's recycle bin).
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 11, Users: 800}})
		sw := h.w.Scenario
		// The bridge's earlier observations (JIT duplicates) are what makes
		// misrouted visible; a real first run gets them from an import.
		if len(sw.Observations) == 0 {
			t.Fatal("the scenario has no observations: misrouted cannot be checked")
		}
		h.importObservations("observations.csv", sw.Observations)
		want := expectationKeys(sw.Expected())
		counts := scenario.CountSituations(sw.Expected())
		if sw.MessCounts()[scenario.MessSoftDeleted] == 0 {
			t.Fatal("the scenario has no soft-deleted user")
		}
		for _, s := range identity.Situations {
			if counts[s] == 0 {
				t.Fatalf("the scenario expects no %s identity: the test would not check it (counts %v)", s, counts)
			}
		}

		// Before apply: the dry run.
		dry := h.mustRun(0, "backfill", "--dry-run")
		if !strings.Contains(dry.stdout, "nothing was written to Salesforce or to links") {
			t.Fatalf("dry run output: %s", dry)
		}
		// The generator counts an Identity_Link__c row from an earlier run as
		// idlink's link; a first run's store has none yet, so before apply
		// such an identity is unlinked with a create-link re-deriving exactly
		// that row.
		plan := h.planOnly()
		remote := map[string]string{}
		for _, r := range sw.IdentityLinks {
			if r.Status == identity.LinkActive {
				remote[r.Provider+"|"+r.Subject] = r.SalesforceUserID
			}
		}
		// A new database adopts the Identity_Link__c rows that already say
		// what it would write: recorded, never written again.
		adopted := 0
		for _, a := range plan.Actions {
			k := a.Link.Provider + "|" + a.Link.Subject
			switch {
			case a.Kind == identity.ActionAdoptLink && remote[k] == a.Link.SalesforceUserID:
				adopted++
			case (a.Kind == identity.ActionCreateLink || a.Kind == identity.ActionUpdateLink) && remote[k] == a.Link.SalesforceUserID:
				t.Errorf("the dry run of a new database rewrites the agreeing Identity_Link__c %s", k)
			}
		}
		compareSituations(t, "dry run", want, assessmentKeys(t, sw, planned(&plan.Assessments)), func(e scenario.Expectation, a identity.Assessment) identity.Situation {
			return e.Situation
		})
		if adopted == 0 {
			t.Fatal("no Identity_Link__c row of an earlier run was adopted")
		}
		if n := len(h.w.Org.IdentityLinks()); n != len(sw.IdentityLinks) {
			t.Fatalf("the dry run wrote to the org: %d Identity_Link__c rows, the scenario had %d", n, len(sw.IdentityLinks))
		}

		// Apply, then compare what the run saved.
		h.mustRun(0, "backfill")
		st := h.store()
		run := h.latestRun(st)
		if run.Kind != identity.KindBackfill || run.Status != identity.StatusSucceeded {
			t.Fatalf("latest run: %+v", run)
		}
		written := map[identity.LinkKey]identity.Link{} // active links this run wrote
		for _, r := range h.actions(st, run.ID) {
			if r.State == reconcile.StateApplied && r.Action.Link.Status == identity.LinkActive &&
				(r.Action.Kind == identity.ActionCreateLink || r.Action.Kind == identity.ActionUpdateLink) {
				written[r.Action.Link.Key()] = r.Action.Link
			}
		}
		if len(written) == 0 {
			t.Fatal("the backfill wrote no link")
		}
		upgraded := 0
		compareSituations(t, "after backfill", want, assessmentKeys(t, sw, h.assessments(st, run.ID)), func(e scenario.Expectation, a identity.Assessment) identity.Situation {
			if e.Situation == identity.Unlinked && a.Subject != "" {
				if l, ok := written[identity.LinkKey{Provider: a.Provider, Subject: a.Subject}]; ok && l.SalesforceUserID == a.SalesforceUserID {
					upgraded++
					return identity.Linked
				}
			}
			return e.Situation
		})
		// Every link written names the true sub of its Entra user (the world's
		// secret pairwise function), and the org holds it.
		org := h.orgLinks()
		for k, l := range written {
			if sub := sw.Subject(providerClient(t, sw, k.Provider), l.ObjectID); sub != k.Subject {
				t.Fatalf("link %s is for oid %s whose sub is %s", k, l.ObjectID, sub)
			}
			r, ok := org[k.Subject]
			if !ok || r.UserID != l.SalesforceUserID || r.Status != "Active" {
				t.Fatalf("link %s -> %s written in the store, org has %+v", k, l.SalesforceUserID, r)
			}
		}
		// And the JSON report tells the same counts.
		rep := h.reportJSON()
		for _, s := range identity.Situations {
			if rep.Counts[string(s)] != int(run.Counts["situation."+string(s)]) {
				t.Fatalf("report counts %v, run counts %v", rep.Counts, run.Counts)
			}
		}
		t.Logf("%d expectations matched before and after apply (%d unlinked -> linked by the run's writes): %v", len(want), upgraded, counts)
	})
}

func providerClient(t testing.TB, sw *scenario.World, name string) string {
	p, ok := sw.Provider(name)
	if !ok {
		t.Fatalf("no provider %q", name)
	}
	return p.ClientID
}

// startBridge serves the userinfo bridge from the configuration's bridge
// section on 127.0.0.1:0, as the demo does; stop flushes it.
func (h *harness) startBridge() (userinfoURL string, stop func()) {
	h.t.Helper()
	e := env{stdout: io.Discard, stderr: io.Discard, getenv: h.getenv}
	cfg, err := loadConfig(h.cfgPath, e)
	if err != nil {
		h.t.Fatal(err)
	}
	bc, err := wire.BridgeConfig(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	st, err := openStore(h.ctx, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	br, err := bridge.New(bc, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		st.Close()
		h.t.Fatalf("bridge: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- br.Serve(ctx, ln) }()
	ops := httptest.NewServer(br.OpsHandler())
	h.t.Cleanup(ops.Close)
	waitReady(h.ctx, ops.URL+"/healthz")
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && ctx.Err() == nil {
				h.t.Errorf("bridge: %v", err)
			}
			st.Close()
		})
	}
	h.t.Cleanup(stop)
	return "http://" + ln.Addr().String() + "/userinfo", stop
}

// signIn signs oids in concurrently and returns each one's outcome.
type signInOutcome struct {
	oid     string
	outcome world.SignInOutcome
	userID  string
	created bool
	err     error
}

func signInAllOf(ctx context.Context, w *world.World, oids []string, userinfoURL string, jit bool) []signInOutcome {
	return signInWith(ctx, w, oids, userinfoURL, world.Handler{JIT: jit})
}

func signInWith(ctx context.Context, w *world.World, oids []string, userinfoURL string, handler world.Handler) []signInOutcome {
	out := make([]signInOutcome, len(oids))
	var wg sync.WaitGroup
	work := make(chan int)
	client := w.HTTPClient()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r, err := w.SignInVia(ctx, oids[i], userinfoURL, client, handler)
				out[i] = signInOutcome{oid: oids[i], outcome: w.Classify(oids[i], r, err), userID: r.UserID, created: r.CreatedUser, err: err}
			}
		}()
	}
	for i := range oids {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

// TestSignInsAfterBackfill: after the backfill, every linked identity signs
// in through Entra's own userinfo with JIT creation on and lands on its
// provisioned account (no duplicate); the unlinked ones sign in through the
// bridge, land on the provisioned account, and the next run turns the
// bridge's observations into Identity_Link__c rows.
func TestSignInsAfterBackfill(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 12, Users: 500}})
		h.mustRun(0, "backfill")
		st := h.store()
		bf := h.latestRun(st)
		usersBefore := h.w.Org.UserCount()

		// Unlinked by oid with the sub unknown: the bridge will learn it. Those
		// with a JIT duplicate land on it (Salesforce's own link points there)
		// and must come out misrouted; the others land on their account.
		var linked, unlinked, jit []identity.Assessment
		for _, a := range h.assessments(st, bf.ID) {
			if a.ObjectID == "" {
				continue
			}
			switch a.Situation {
			case identity.Linked:
				linked = append(linked, a)
			case identity.Misrouted:
				// Suspected JIT duplicates (no observation imported): a link
				// is proposed, nothing routes them yet.
				if a.Provider == h.w.Provider.Name && strings.Contains(a.Detail, "suspected JIT duplicate") {
					jit = append(jit, a)
				}
			case identity.Unlinked:
				if a.Rule != identity.RuleObjectID || a.Subject != "" {
					break
				}
				i, ok := h.w.Scenario.EntraIndex(a.ObjectID)
				switch {
				case !ok:
					t.Fatalf("assessment for unknown oid %s", a.ObjectID)
				case h.w.Scenario.EntraMess(i) == scenario.MessJITDuplicate:
					jit = append(jit, a)
				default:
					unlinked = append(unlinked, a)
				}
			}
		}
		if len(linked) < 20 || len(unlinked) < 20 || len(jit) == 0 {
			t.Fatalf("too few identities to check: %d linked, %d unlinked by oid without sub, %d with a JIT duplicate", len(linked), len(unlinked), len(jit))
		}

		// 1. Linked identities, Entra's userinfo (no oid), JIT on.
		oids := make([]string, len(linked))
		for i, a := range linked {
			oids[i] = a.ObjectID
		}
		for i, o := range signInAllOf(h.ctx, h.w, oids, h.w.EntraUserinfoURL(), true) {
			if o.created || o.outcome != world.LandedProvisioned || o.userID != linked[i].SalesforceUserID {
				t.Errorf("linked %s signed in: %s (user %s, created %v, err %v); want the provisioned account %s", o.oid, o.outcome, o.userID, o.created, o.err, linked[i].SalesforceUserID)
			}
		}
		if n := h.w.Org.UserCount(); n != usersBefore {
			t.Fatalf("sign-ins of linked identities created %d Salesforce users", n-usersBefore)
		}

		// 2. Unlinked identities through the bridge, JIT off.
		userinfo, stopBridge := h.startBridge()
		oids = oids[:0]
		for _, a := range unlinked {
			oids = append(oids, a.ObjectID)
		}
		for i, o := range signInAllOf(h.ctx, h.w, oids, userinfo, false) {
			if o.created || o.outcome != world.LandedProvisioned || o.userID != unlinked[i].SalesforceUserID {
				t.Errorf("unlinked %s signed in through the bridge: %s (user %s, err %v); want %s", o.oid, o.outcome, o.userID, o.err, unlinked[i].SalesforceUserID)
			}
		}
		oids = oids[:0]
		for _, a := range jit {
			oids = append(oids, a.ObjectID)
		}
		// A handler without confirmUser lets the duplicate's
		// ThirdPartyAccountLink decide; idlink's confirmUser routes the same
		// sign-in to the provisioned account by the bridge's oid.
		for _, o := range signInWith(h.ctx, h.w, oids, userinfo, world.Handler{Legacy: true}) {
			if o.created || o.outcome != world.LandedDuplicate {
				t.Errorf("%s with a JIT duplicate, legacy handler: %s (err %v); want the duplicate its ThirdPartyAccountLink names", o.oid, o.outcome, o.err)
			}
		}
		for i, o := range signInAllOf(h.ctx, h.w, oids, userinfo, false) {
			if o.created || o.outcome != world.LandedProvisioned || o.userID != jit[i].SalesforceUserID {
				t.Errorf("%s with a JIT duplicate signed in through the bridge: %s (user %s, err %v); want confirmUser to route it to %s", o.oid, o.outcome, o.userID, o.err, jit[i].SalesforceUserID)
			}
		}
		stopBridge() // flushes the observations
		if t.Failed() {
			t.FailNow()
		}

		// 3. The next run turns the observations into links.
		h.mustRun(0, "run")
		run := h.latestRun(st)
		got := map[string]identity.Assessment{}
		for _, a := range h.assessments(st, run.ID) {
			if a.ObjectID != "" {
				got[a.Provider+"|"+a.ObjectID] = a
			}
		}
		org := h.orgLinks()
		for _, u := range unlinked {
			a := got[u.Provider+"|"+u.ObjectID]
			sub := h.w.Scenario.Subject(providerClient(t, h.w.Scenario, u.Provider), u.ObjectID)
			if a.Situation != identity.Linked || a.Subject != sub {
				t.Errorf("%s after the run: %s sub %q (%s); want linked with the observed sub", u.ObjectID, a.Situation, a.Subject, a.Detail)
				continue
			}
			if r, ok := org[sub]; !ok || r.UserID != u.SalesforceUserID || r.Status != "Active" || r.ObjectID != u.ObjectID {
				t.Errorf("%s: Identity_Link__c for its sub is %+v, want active -> %s", u.ObjectID, r, u.SalesforceUserID)
			}
		}
		for _, u := range jit {
			a := got[u.Provider+"|"+u.ObjectID]
			sub := h.w.Scenario.Subject(providerClient(t, h.w.Scenario, u.Provider), u.ObjectID)
			if a.Situation != identity.Misrouted {
				t.Errorf("%s (JIT duplicate) after the run: %s (%s); want misrouted", u.ObjectID, a.Situation, a.Detail)
			}
			if r, ok := org[sub]; ok && r.Status == "Active" && r.UserID != u.SalesforceUserID {
				t.Errorf("%s: an active Identity_Link__c points at %s, not the provisioned %s", u.ObjectID, r.UserID, u.SalesforceUserID)
			}
		}
		if n := h.w.Org.UserCount(); n != usersBefore {
			t.Fatalf("%d Salesforce users created during the test", n-usersBefore)
		}
		t.Logf("%d linked sign-ins without duplicate; %d bridge sign-ins became links", len(linked), len(unlinked))
	})
}
