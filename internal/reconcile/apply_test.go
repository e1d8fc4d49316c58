package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store/sqlite"
)

// fakeSalesforce stands in for the Identity_Link__c collection upsert: the
// seam where the real org cannot run. It keeps the rows it accepted and
// refuses the subjects listed in fail, per record, as Salesforce does.
type fakeSalesforce struct {
	mu       sync.Mutex // Apply may call UpsertLinks concurrently
	rows     map[identity.LinkKey]identity.Link
	fail     map[string]string // subject -> Salesforce error
	failCall error
	batches  []int
}

func newFakeSalesforce() *fakeSalesforce {
	return &fakeSalesforce{rows: map[identity.LinkKey]identity.Link{}, fail: map[string]string{}}
}

func (f *fakeSalesforce) UpsertLinks(_ context.Context, links []identity.Link) ([]identity.WriteResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, len(links))
	if f.failCall != nil {
		return nil, f.failCall
	}
	out := make([]identity.WriteResult, len(links))
	for i, l := range links {
		if msg, bad := f.fail[l.Subject]; bad {
			out[i].Error = msg
			continue
		}
		f.rows[l.Key()] = l
		out[i].OK = true
	}
	return out, nil
}

func (f *fakeSalesforce) remote() []identity.Link {
	var out []identity.Link
	for _, l := range f.rows {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b identity.Link) int { return strings.Compare(a.Key().String(), b.Key().String()) })
	return out
}

type harness struct {
	t   *testing.T
	ctx context.Context
	st  *sqlite.Store
	sf  *fakeSalesforce
	cfg Config
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "idlink.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &harness{t: t, ctx: ctx, st: st, sf: newFakeSalesforce(),
		cfg: shipped(Config{Providers: []ProviderConfig{{Provider: identity.Provider{Name: pB, Strategy: identity.StrategyObjectID}}}})}
}

// seed stores n Entra users matched by oid with n Salesforce users.
func (h *harness) seed(n int) {
	h.t.Helper()
	run, err := h.st.StartRun(h.ctx, identity.KindBackfill, "test")
	if err != nil {
		h.t.Fatal(err)
	}
	var es []identity.EntraUser
	var ss []identity.SalesforceUser
	for i := 1; i <= n; i++ {
		es = append(es, eu(i))
		ss = append(ss, su(i, "u"+string(rune('0'+i))+"@contoso.com", oid(i)))
	}
	if err := h.st.UpsertEntraUsers(h.ctx, run.ID, es, nil); err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.UpsertSalesforceUsers(h.ctx, run.ID, ss, nil); err != nil {
		h.t.Fatal(err)
	}
	run.Status, run.FinishedAt = identity.StatusSucceeded, time.Now()
	if err := h.st.FinishRun(h.ctx, run); err != nil {
		h.t.Fatal(err)
	}
}

// run is one reconciliation: re-read Salesforce's rows, plan, apply, finish.
func (h *harness) run(opt ApplyOptions) (identity.Run, *Result, ApplyResult, error) {
	h.t.Helper()
	run, err := h.st.StartRun(h.ctx, identity.KindRun, "test")
	if err != nil {
		h.t.Fatal(err)
	}
	if rows := h.sf.remote(); len(rows) > 0 {
		if err := h.st.UpsertRemoteLinks(h.ctx, run.ID, rows); err != nil {
			h.t.Fatal(err)
		}
	}
	snap, err := load(h.ctx, h.st)
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := Plan(h.cfg, snap)
	if err != nil {
		h.t.Fatal(err)
	}
	opt.RunID = run.ID
	if opt.Limits == (Limits{}) {
		opt.Limits = h.cfg.Limits
	}
	res, applyErr := Apply(h.ctx, h.st, h.sf, r, opt)
	switch {
	case errors.Is(applyErr, ErrHeld):
		run.Status = identity.StatusHeld
	case applyErr != nil:
		run.Status, run.Error = identity.StatusFailed, applyErr.Error()
	default:
		run.Status = identity.StatusSucceeded
	}
	run.FinishedAt = time.Now()
	if err := h.st.FinishRun(h.ctx, run); err != nil {
		h.t.Fatal(err)
	}
	return run, r, res, applyErr
}

func (h *harness) links() map[string]identity.Link {
	h.t.Helper()
	out := map[string]identity.Link{}
	if err := h.st.ScanLinks(h.ctx, func(l identity.Link) error { out[l.Subject] = l; return nil }); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) setEnabled(enabled bool, ns ...int) {
	h.t.Helper()
	run, err := h.st.StartRun(h.ctx, identity.KindRun, "test")
	if err != nil {
		h.t.Fatal(err)
	}
	var es []identity.EntraUser
	for _, n := range ns {
		es = append(es, eu(n, func(u *identity.EntraUser) { u.AccountEnabled = enabled }))
	}
	if err := h.st.UpsertEntraUsers(h.ctx, run.ID, es, nil); err != nil {
		h.t.Fatal(err)
	}
	run.Status, run.FinishedAt = identity.StatusSucceeded, time.Now()
	if err := h.st.FinishRun(h.ctx, run); err != nil {
		h.t.Fatal(err)
	}
}

func TestApplyPartialFailureRetryAndIdempotence(t *testing.T) {
	h := newHarness(t)
	h.seed(6)
	h.sf.fail[oid(2)] = "DUPLICATE_VALUE: duplicate value found: Subject__c"

	run, r, res, err := h.run(ApplyOptions{BatchSize: 4})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("want ErrIncomplete, got %v", err)
	}
	if len(r.Actions) != 6 || res.Applied != 5 || len(res.Failed) != 1 || res.Failed[0].Action.Link.Subject != oid(2) ||
		!strings.Contains(res.Failed[0].Error, "DUPLICATE_VALUE") {
		t.Fatalf("actions %d, applied %d, failed %+v", len(r.Actions), res.Applied, res.Failed)
	}
	if !slices.Equal(h.sf.batches, []int{4, 2}) {
		t.Fatalf("batches %v, want [4 2]", h.sf.batches)
	}
	links := h.links()
	if len(links) != 5 || links[oid(2)].Subject != "" || links[oid(1)].Status != identity.LinkActive {
		t.Fatalf("store links after partial apply: %v", links)
	}
	hist, err := h.st.LinkHistory(h.ctx, identity.LinkKey{Provider: pB, Subject: oid(1)})
	if err != nil || len(hist) != 1 || hist[0].Action != identity.ActionCreateLink || hist[0].RunID != run.ID || hist[0].Actor == "" {
		t.Fatalf("history %+v, %v", hist, err)
	}
	audit, err := h.st.ListAudit(h.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	audited := 0
	for _, ev := range audit {
		if ev.RunID == run.ID && strings.HasPrefix(ev.Target, pB+"/") {
			audited++
		}
	}
	if audited != 5 {
		t.Fatalf("%d audit events for the run's link changes, want 5: %+v", audited, audit)
	}
	recs, err := h.st.ListActions(h.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, rec := range recs {
		states[rec.State]++
		if rec.State == StateFailed && !strings.Contains(rec.Error, "DUPLICATE_VALUE") {
			t.Fatalf("failed action without Salesforce's error: %+v", rec)
		}
	}
	if states[StateApplied] != 5 || states[StateFailed] != 1 {
		t.Fatalf("action states %v", states)
	}

	// The failed write stays pending: the next run plans exactly it again.
	delete(h.sf.fail, oid(2))
	_, r, res, err = h.run(ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.WriteActions() != 1 || r.Actions[0].Link.Subject != oid(2) || res.Applied != 1 {
		t.Fatalf("retry plan %v, applied %d", actionStrings(r.Actions), res.Applied)
	}
	// Idempotent: nothing left to do.
	_, r, res, err = h.run(ApplyOptions{})
	if err != nil || r.WriteActions() != 0 || res.Applied != 0 {
		t.Fatalf("third run: %v, %v, %v", actionStrings(r.Actions), res, err)
	}
	for _, a := range r.Assessments.All() {
		if a.Situation != identity.Linked {
			t.Fatalf("after apply: %+v", a)
		}
	}
}

func TestApplyHeldBySafetyLimitUntilOverride(t *testing.T) {
	h := newHarness(t)
	h.seed(6)
	if _, _, _, err := h.run(ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	okRun, _, _, err := h.run(ApplyOptions{}) // a succeeded run, nothing to do
	if err != nil {
		t.Fatal(err)
	}
	h.setEnabled(false, 1, 2, 3)
	written := len(h.sf.batches)

	held, r, res, err := h.run(ApplyOptions{})
	var he *HeldError
	if !errors.Is(err, ErrHeld) || !errors.As(err, &he) || !res.Held {
		t.Fatalf("want a held plan, got %v", err)
	}
	if len(he.Held) != 3 || he.Disruptive != 3 || he.ActiveLinks != 6 || len(r.Disruptive) != 3 {
		t.Fatalf("held %+v", he)
	}
	for _, a := range he.Held {
		if a.Kind != identity.ActionRevokeLink || a.Reason != "Entra user disabled" {
			t.Fatalf("held action %+v", a)
		}
	}
	if len(h.sf.batches) != written {
		t.Fatal("Salesforce was written by a held plan")
	}
	for _, l := range h.links() {
		if l.Status != identity.LinkActive {
			t.Fatalf("store changed by a held plan: %+v", l)
		}
	}
	recs, _ := h.st.ListActions(h.ctx, held.ID)
	if n := countState(recs, StateHeld); n != 3 {
		t.Fatalf("%d held action records, want 3", n)
	}

	// An override must name a held run.
	if _, _, _, err := h.run(ApplyOptions{Override: Override{RunID: okRun.ID}}); !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "not held") {
		t.Fatalf("override of a succeeded run: %v", err)
	}
	// A plan that grew since the held run is held again.
	h.setEnabled(false, 4)
	grown, _, _, err := h.run(ApplyOptions{Override: Override{RunID: held.ID}})
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "1 of the 4 changes") {
		t.Fatalf("override of a smaller held run: %v", err)
	}
	// Overriding the run that held exactly this plan releases it.
	_, _, res, err = h.run(ApplyOptions{Override: Override{RunID: grown.ID}})
	if err != nil || res.Applied != 4 {
		t.Fatalf("override: applied %d, %v", res.Applied, err)
	}
	links := h.links()
	for i := 1; i <= 6; i++ {
		want := identity.LinkActive
		if i <= 4 {
			want = identity.LinkRevoked
		}
		if l := links[oid(i)]; l.Status != want || (want == identity.LinkRevoked && l.Reason != "Entra user disabled") {
			t.Fatalf("link %d: %+v", i, l)
		}
		if h.sf.rows[identity.LinkKey{Provider: pB, Subject: oid(i)}].Status != want {
			t.Fatalf("Salesforce row %d not %s", i, want)
		}
	}
	hist, _ := h.st.LinkHistory(h.ctx, identity.LinkKey{Provider: pB, Subject: oid(1)})
	if len(hist) != 2 || hist[1].Action != identity.ActionRevokeLink {
		t.Fatalf("history keeps create and revoke: %+v", hist)
	}
	// Re-enabling links again, under the limit (2 of 2 creates are not disruptive).
	h.setEnabled(true, 1, 2)
	if _, r, _, err := h.run(ApplyOptions{}); err != nil || r.WriteActions() != 2 {
		t.Fatalf("re-enable: %v %v", actionStrings(r.Actions), err)
	}
}

func TestApplyWholeCallFailureWritesNothing(t *testing.T) {
	h := newHarness(t)
	h.seed(3)
	h.sf.failCall = errors.New("403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded")
	run, _, res, err := h.run(ApplyOptions{BatchSize: 2})
	if err == nil || errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "REQUEST_LIMIT_EXCEEDED") {
		t.Fatalf("want the call's error, got %v", err)
	}
	if len(h.sf.batches) != 1 || len(res.Failed) != 3 || res.Applied != 0 || len(h.links()) != 0 {
		t.Fatalf("batches %v, failed %d, applied %d, links %v", h.sf.batches, len(res.Failed), res.Applied, h.links())
	}
	recs, _ := h.st.ListActions(h.ctx, run.ID)
	if countState(recs, StateFailed) != 3 {
		t.Fatalf("records %+v", recs)
	}
}

func TestApplyProposalsStayOutOfSalesforce(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	run, _ := h.st.StartRun(ctx, identity.KindBackfill, "test")
	if err := h.st.UpsertEntraUsers(ctx, run.ID, []identity.EntraUser{eu(1)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.st.UpsertSalesforceUsers(ctx, run.ID, []identity.SalesforceUser{su(1, "u1@contoso.com", "")}, nil); err != nil {
		t.Fatal(err)
	}
	run.Status = identity.StatusSucceeded
	h.st.FinishRun(ctx, run)
	// A Salesforce row of an identity that never existed: revoked in Salesforce only.
	h.sf.rows[identity.LinkKey{Provider: pB, Subject: "ghost"}] = link(pB, "ghost", 1, 9, identity.LinkActive)

	_, r, res, err := h.run(ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := actionStrings(r.Actions); !slices.Contains(got, "propose-link B2C/"+oid(1)+"->"+sfid(1)+" proposed") ||
		!slices.Contains(got, "revoke-link B2C/ghost->"+sfid(1)+" revoked") || res.Applied != 2 {
		t.Fatalf("plan %v, applied %d", got, res.Applied)
	}
	if _, ok := h.sf.rows[identity.LinkKey{Provider: pB, Subject: oid(1)}]; ok {
		t.Fatal("a proposal reached Salesforce")
	}
	if h.sf.rows[identity.LinkKey{Provider: pB, Subject: "ghost"}].Status != identity.LinkRevoked {
		t.Fatal("the Salesforce-only row was not revoked")
	}
	if l := h.links()[oid(1)]; l.Status != identity.LinkProposed {
		t.Fatalf("store: %+v", l)
	}
	// An admin approves: the next run links and writes Salesforce.
	if err := h.st.RecordDecisions(ctx, identity.Decision{Provider: pB, Subject: oid(1), SalesforceUserID: sfid(1), ObjectID: oid(1),
		Approved: true, Actor: "admin alice", Reason: "checked with HR", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	_, r, _, err = h.run(ApplyOptions{})
	if err != nil || !slices.Equal(actionStrings(r.Actions), []string{"create-link B2C/" + oid(1) + "->" + sfid(1) + " active"}) {
		t.Fatalf("after approval: %v %v", actionStrings(r.Actions), err)
	}
	if l := h.links()[oid(1)]; l.Status != identity.LinkActive || l.Rule != identity.RuleUPN || !strings.Contains(l.Reason, "admin alice") {
		t.Fatalf("approved link %+v", l)
	}
	if _, r, _, err = h.run(ApplyOptions{}); err != nil || r.WriteActions() != 0 {
		t.Fatalf("not idempotent: %v %v", actionStrings(r.Actions), err)
	}
}

func countState(recs []identity.ActionRecord, state string) int {
	n := 0
	for _, r := range recs {
		if r.State == state {
			n++
		}
	}
	return n
}
