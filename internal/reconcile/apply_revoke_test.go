package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// revokeCall is one RevokeAccountLink call as the revoker saw it.
type revokeCall struct {
	provider, userID, subject string
	writesBefore              int // Identity_Link__c upsert calls made before it
}

// fakeRevoker stands in for the package's revocation resource: it answers
// err[subject] (nil when absent) and records every call.
type fakeRevoker struct {
	sf    *fakeSalesforce
	err   map[string]error
	calls []revokeCall
	// providerErr answers every call for a provider (the package serves
	// another Auth. Provider: 409 provider_mismatch).
	providerErr map[string]error
}

func (f *fakeRevoker) RevokeAccountLink(_ context.Context, provider, userID, subject string) error {
	f.calls = append(f.calls, revokeCall{provider, userID, subject, len(f.sf.batches)})
	if err, ok := f.providerErr[provider]; ok {
		return err
	}
	return f.err[subject]
}

func (f *fakeRevoker) subjects() []string {
	var out []string
	for _, c := range f.calls {
		out = append(out, c.subject)
	}
	return out
}

// unavailable is what the Salesforce client returns for a refusal that
// concerns the whole org.
func unavailable(why string) error {
	return fmt.Errorf("%w: salesforce POST /services/apexrest/idlink/v1/account-links/revoke: %s", identity.ErrRevocationUnavailable, why)
}

// dupID is the JIT duplicate whose ThirdPartyAccountLink captured the
// subject of Entra user n.
func dupID(n int) string { return sfid(100 + n) }

// revokeAction revokes the ThirdPartyAccountLink that signs Entra user n's
// subject (its oid, provider pB) in as its duplicate.
func revokeAction(n int) identity.Action {
	l := link(pB, oid(n), 100+n, n, identity.LinkRevoked)
	l.Reason = "misrouted to JIT duplicate " + dupID(n) + "; the correct link points at " + sfid(n)
	return identity.Action{Kind: identity.ActionRevokeAccountLink, Link: l, Reason: l.Reason}
}

// linkedHarness is a harness whose store holds idlink's active links of
// Entra users 1..n (to their provisioned accounts), as a run made them.
func linkedHarness(t *testing.T, n int) *harness {
	t.Helper()
	h := newHarness(t)
	run, err := h.st.StartRun(h.ctx, identity.KindRun, "test")
	if err != nil {
		t.Fatal(err)
	}
	var cs []identity.LinkChange
	for i := 1; i <= n; i++ {
		cs = append(cs, identity.LinkChange{Action: identity.ActionCreateLink, Link: link(pB, oid(i), i, i, identity.LinkActive), Actor: "idlink run 0"})
	}
	if err := h.st.ApplyLinkChanges(h.ctx, run.ID, cs); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) revokeHistory(n int) []identity.LinkVersion {
	h.t.Helper()
	hist, err := h.st.LinkHistory(h.ctx, identity.LinkKey{Provider: pB, Subject: oid(n)})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []identity.LinkVersion
	for _, v := range hist {
		if v.Action == identity.ActionRevokeAccountLink {
			out = append(out, v)
		}
	}
	return out
}

func (h *harness) revokeAudit(runID int64) []identity.AuditEvent {
	h.t.Helper()
	evs, err := h.st.ListAudit(h.ctx, 0, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []identity.AuditEvent
	for _, e := range evs {
		if e.Kind == "link."+string(identity.ActionRevokeAccountLink) && e.RunID == runID {
			out = append(out, e)
		}
	}
	return out
}

// TestApplyRevokeAccountLinks: each revoke-account-link is one call of the
// revoker, made after the link writes; a success is recorded in the link's
// history and the audit log (idlink's link stays as it is) and counted as
// applied; a refusal that concerns the org fails the remaining ones without
// calling again; any other error fails that one only; without a revoker
// they all fail with the setting to turn on.
func TestApplyRevokeAccountLinks(t *testing.T) {
	const n = 3
	off := noLimits
	tests := []struct {
		name      string
		noRevoker bool
		errs      map[string]error // by subject
		calls     []string         // subjects the revoker was asked for, in order
		applied   []int            // Entra users whose revoke was applied
		failedHas string           // in every failure's message
	}{
		{name: "all revoked", calls: []string{oid(1), oid(2), oid(3)}, applied: []int{1, 2, 3}},
		{name: "revocation unavailable at the first call", errs: map[string]error{oid(1): unavailable("HTTP 403 revocation_disabled: check Revoke_Enabled__c")},
			calls: []string{oid(1)}, failedHas: "Revoke_Enabled__c"},
		{name: "revocation unavailable at the second call", errs: map[string]error{oid(2): unavailable("HTTP 409 provider_not_found")},
			calls: []string{oid(1), oid(2)}, applied: []int{1}, failedHas: "provider_not_found"},
		{name: "one link refused", errs: map[string]error{oid(2): errors.New("revoke the ThirdPartyAccountLink of user " + dupID(2) + ": HTTP 400 bad_user_id")},
			calls: []string{oid(1), oid(2), oid(3)}, applied: []int{1, 3}, failedHas: "bad_user_id"},
		{name: "every link refused", errs: map[string]error{oid(1): errors.New("HTTP 502 revoke_refused"), oid(2): errors.New("HTTP 502 revoke_refused"), oid(3): errors.New("HTTP 502 revoke_refused")},
			calls: []string{oid(1), oid(2), oid(3)}, failedHas: "revoke_refused"},
		{name: "no revoker", noRevoker: true, failedHas: "revoke_account_links"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := linkedHarness(t, n)
			before := h.links()
			run, err := h.st.StartRun(h.ctx, identity.KindRun, "test")
			if err != nil {
				t.Fatal(err)
			}
			// A create-link of another user comes first, and a flag last.
			create := identity.Action{Kind: identity.ActionCreateLink, Link: link(pB, oid(9), 9, 9, identity.LinkActive), Reason: "matched by oid"}
			r := &Result{Actions: []identity.Action{create}, ActiveLinks: n}
			for i := 1; i <= n; i++ {
				r.Disruptive = append(r.Disruptive, len(r.Actions))
				r.Actions = append(r.Actions, revokeAction(i))
			}
			r.Actions = append(r.Actions, identity.Action{Kind: identity.ActionFlag, Flag: FlagDuplicate, Link: link(pB, oid(1), 101, 1, identity.LinkActive)})
			rv := &fakeRevoker{sf: h.sf, err: tc.errs}
			opt := ApplyOptions{RunID: run.ID, Limits: off, Revoker: rv}
			if tc.noRevoker {
				opt.Revoker = nil
			}
			res, err := Apply(h.ctx, h.st, h.sf, r, opt)

			if got := rv.subjects(); !slices.Equal(got, tc.calls) {
				t.Fatalf("revoker called for %v, want %v", got, tc.calls)
			}
			for _, c := range rv.calls {
				if c.provider != pB || !strings.HasPrefix(c.userID, "005") || c.userID != dupID(slices.Index([]string{"", oid(1), oid(2), oid(3)}, c.subject)) || c.writesBefore != 1 {
					t.Fatalf("call %+v: want provider %s, the duplicate's user id, after the one link write", c, pB)
				}
			}
			failed := n - len(tc.applied)
			if failed == 0 && err != nil || failed > 0 && !errors.Is(err, ErrIncomplete) {
				t.Fatalf("Apply: %v, want %s", err, map[bool]string{true: "nil", false: "ErrIncomplete"}[failed == 0])
			}
			if res.Applied != 1+len(tc.applied) || len(res.Failed) != failed || res.Held {
				t.Fatalf("applied %d, failed %+v, want %d applied (the create and %d revokes) and %d failed", res.Applied, res.Failed, 1+len(tc.applied), len(tc.applied), failed)
			}
			for _, f := range res.Failed {
				if f.Action.Kind != identity.ActionRevokeAccountLink || !strings.HasPrefix(f.Error, "not revoked: ") || !strings.Contains(f.Error, tc.failedHas) {
					t.Fatalf("failure %+v, want a revoke-account-link not revoked because of %q", f, tc.failedHas)
				}
			}
			recs, err := h.st.ListActions(h.ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(r.Actions) || recs[0].State != StateApplied || recs[len(recs)-1].State != StatePlanned {
				t.Fatalf("action records %+v", recs)
			}
			for i := 1; i <= n; i++ {
				rec, want := recs[i], StateFailed
				if slices.Contains(tc.applied, i) {
					want = StateApplied
				}
				if rec.Action.Kind != identity.ActionRevokeAccountLink || rec.State != want || (want == StateFailed) != (rec.Error != "") {
					t.Fatalf("record of user %d's revoke: %+v, want state %s", i, rec, want)
				}
				hist := h.revokeHistory(i)
				if want == StateFailed {
					if len(hist) != 0 {
						t.Fatalf("user %d: a revoke that failed is in the history: %+v", i, hist)
					}
					continue
				}
				if len(hist) != 1 || hist[0].Link.SalesforceUserID != dupID(i) || hist[0].Link.Status != identity.LinkRevoked ||
					hist[0].RunID != run.ID || hist[0].Actor != "idlink run "+fmt.Sprint(run.ID) || !strings.Contains(hist[0].Detail, "misrouted") {
					t.Fatalf("user %d: revoke history %+v, want one entry for duplicate %s by run %d", i, hist, dupID(i), run.ID)
				}
			}
			evs := h.revokeAudit(run.ID)
			if len(evs) != len(tc.applied) {
				t.Fatalf("%d revoke-account-link audit events, want %d: %+v", len(evs), len(tc.applied), evs)
			}
			for k, e := range evs {
				if e.Target != pB+"/"+oid(tc.applied[k]) {
					t.Fatalf("audit event %+v, want target %s/%s", e, pB, oid(tc.applied[k]))
				}
			}
			// idlink's own links are as they were, plus the created one.
			after := h.links()
			if len(after) != n+1 || after[oid(9)].Status != identity.LinkActive {
				t.Fatalf("links after apply: %+v", after)
			}
			for sub, l := range before {
				if after[sub] != l {
					t.Fatalf("link %s changed from %+v to %+v", sub, l, after[sub])
				}
			}
		})
	}
}

// A failure of the link writes stops the run before any revoke: the
// revoker is not called and no revoke is applied.
func TestApplyRevokeAccountLinksNotAfterFailedWrites(t *testing.T) {
	h := linkedHarness(t, 1)
	h.sf.failCall = errors.New("503 SERVER_UNAVAILABLE")
	run, _ := h.st.StartRun(h.ctx, identity.KindRun, "test")
	r := &Result{Actions: []identity.Action{{Kind: identity.ActionCreateLink, Link: link(pB, oid(9), 9, 9, identity.LinkActive)}, revokeAction(1)},
		Disruptive: []int{1}, ActiveLinks: 1}
	rv := &fakeRevoker{sf: h.sf}
	res, err := Apply(h.ctx, h.st, h.sf, r, ApplyOptions{RunID: run.ID, Limits: noLimits, Revoker: rv})
	if err == nil || !strings.Contains(err.Error(), "SERVER_UNAVAILABLE") {
		t.Fatalf("Apply: %v, want the write's error", err)
	}
	if len(rv.calls) != 0 || res.Applied != 0 || len(h.revokeHistory(1)) != 0 {
		t.Fatalf("revoker calls %+v, applied %d: nothing may be revoked after failed writes", rv.calls, res.Applied)
	}
	if res.Records[1].State == StateApplied {
		t.Fatalf("revoke recorded as applied: %+v", res.Records[1])
	}
}

// A revoke Salesforce confirmed but the store could not record is reported
// as such, and the run stops: no further revoke is attempted.
func TestApplyRevokeAccountLinkNotRecorded(t *testing.T) {
	h := linkedHarness(t, 2)
	run, _ := h.st.StartRun(h.ctx, identity.KindRun, "test")
	r := &Result{Actions: []identity.Action{revokeAction(1), revokeAction(2)}, Disruptive: []int{0, 1}, ActiveLinks: 2}
	st := &pipelineStore{Store: h.st, failAt: 1}
	rv := &fakeRevoker{sf: h.sf}
	res, err := Apply(h.ctx, st, h.sf, r, ApplyOptions{RunID: run.ID, Limits: noLimits, Revoker: rv})
	if err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("Apply: %v, want the store's error", err)
	}
	if !slices.Equal(rv.subjects(), []string{oid(1)}) || res.Applied != 0 || len(res.Failed) != 1 ||
		!strings.Contains(res.Failed[0].Error, "revoked in Salesforce but not recorded") {
		t.Fatalf("calls %v, applied %d, failed %+v", rv.subjects(), res.Applied, res.Failed)
	}
	if res.Records[0].State != StateFailed || res.Records[1].State == StateApplied {
		t.Fatalf("records %+v", res.Records)
	}
}

// TestApplyRevokeAccountLinksEndToEnd plans from the store: a JIT duplicate
// holds each person's ThirdPartyAccountLink. The first run writes idlink's
// links and revokes nothing; the next plans one disruptive revoke per
// person, which a count limit below their number holds without calling the
// revoker; with room for them they are revoked and recorded.
func TestApplyRevokeAccountLinksEndToEnd(t *testing.T) {
	const n = 3
	h := newHarness(t)
	h.cfg.Providers[0].RevokeAccountLinks = true
	h.seed(n)
	run, err := h.st.StartRun(h.ctx, identity.KindRun, "test")
	if err != nil {
		t.Fatal(err)
	}
	var dups []identity.SalesforceUser
	var tpals []identity.ThirdPartyAccountLink
	for i := 1; i <= n; i++ {
		dups = append(dups, su(100+i, fmt.Sprintf("u%d@contoso.com.jit", i), ""))
		tpals = append(tpals, tpal(pB, oid(i), 100+i))
	}
	if err := h.st.UpsertSalesforceUsers(h.ctx, run.ID, dups, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.st.UpsertAccountLinks(h.ctx, run.ID, tpals); err != nil {
		t.Fatal(err)
	}
	rv := &fakeRevoker{sf: h.sf}
	limits := func(max int) ApplyOptions {
		return ApplyOptions{Limits: Limits{MaxChanges: max, MaxPercent: -1, MaxCreates: -1, MaxCreatePercent: -1, MaxCoverageDrop: -1}, Revoker: rv}
	}

	_, r, res, err := h.run(limits(n - 1))
	if err != nil || res.Applied != n || len(rv.calls) != 0 {
		t.Fatalf("first run: %v, applied %d, revoker calls %d; plan %v", err, res.Applied, len(rv.calls), actionStrings(r.Actions))
	}

	held, r, res, err := h.run(limits(n - 1))
	var he *HeldError
	if !errors.Is(err, ErrHeld) || !errors.As(err, &he) || !res.Held {
		t.Fatalf("second run: %v, want held; plan %v", err, actionStrings(r.Actions))
	}
	if len(he.Held) != n || he.Disruptive != n || len(r.Disruptive) != n {
		t.Fatalf("held %+v, disruptive %v", he, r.Disruptive)
	}
	for _, a := range he.Held {
		if a.Kind != identity.ActionRevokeAccountLink || a.Link.Status != identity.LinkRevoked || !strings.HasPrefix(a.Link.SalesforceUserID, "005") ||
			a.Link.SalesforceUserID != dupID(slices.Index([]string{"", oid(1), oid(2), oid(3)}, a.Link.Subject)) {
			t.Fatalf("held action %+v, want a revoke-account-link of the duplicate", a)
		}
	}
	if len(rv.calls) != 0 {
		t.Fatalf("a held plan called the revoker: %+v", rv.calls)
	}
	recs, _ := h.st.ListActions(h.ctx, held.ID)
	if countState(recs, StateHeld) != n {
		t.Fatalf("held run's records %+v", recs)
	}
	for i := 1; i <= n; i++ {
		if hist := h.revokeHistory(i); len(hist) != 0 {
			t.Fatalf("a held plan wrote history: %+v", hist)
		}
	}

	applied, r, res, err := h.run(limits(n))
	if err != nil || res.Applied != n || len(rv.calls) != n {
		t.Fatalf("third run: %v, applied %d, revoker calls %+v; plan %v", err, res.Applied, rv.calls, actionStrings(r.Actions))
	}
	for i := 1; i <= n; i++ {
		if c := rv.calls[i-1]; c.provider != pB || c.userID != dupID(i) || c.subject != oid(i) {
			t.Fatalf("call %d: %+v", i, c)
		}
		if hist := h.revokeHistory(i); len(hist) != 1 || hist[0].RunID != applied.ID || hist[0].Link.SalesforceUserID != dupID(i) {
			t.Fatalf("user %d: revoke history %+v", i, hist)
		}
		if l := h.links()[oid(i)]; l.Status != identity.LinkActive || l.SalesforceUserID != sfid(i) {
			t.Fatalf("user %d: idlink's link %+v, want it active to %s", i, l, sfid(i))
		}
	}
	if evs := h.revokeAudit(applied.ID); len(evs) != n {
		t.Fatalf("audit %+v", evs)
	}
	recs, _ = h.st.ListActions(h.ctx, applied.ID)
	if countState(recs, StateApplied) != n {
		t.Fatalf("applied run's records %+v", recs)
	}
}

// The revocation resource serves one Auth. Provider: a refusal for one
// provider (409 provider_mismatch, which the client reports as
// ErrRevocationUnavailable) stops the revokes of that provider only.
func TestApplyRevokeAccountLinksPerProvider(t *testing.T) {
	h := linkedHarness(t, 2)
	run, _ := h.st.StartRun(h.ctx, identity.KindRun, "test")
	other := func(sub string, dup int) identity.Action {
		l := link(pE, sub, dup, dup, identity.LinkRevoked)
		return identity.Action{Kind: identity.ActionRevokeAccountLink, Link: l, Reason: "misrouted"}
	}
	r := &Result{Actions: []identity.Action{other("sub-a", 201), revokeAction(1), other("sub-b", 202), revokeAction(2)},
		Disruptive: []int{0, 1, 2, 3}, ActiveLinks: 4}
	rv := &fakeRevoker{sf: h.sf, providerErr: map[string]error{pE: unavailable("HTTP 409 provider_mismatch: This package revokes links of the Auth. Provider in Auth_Provider__c only.")}}
	res, err := Apply(h.ctx, h.st, h.sf, r, ApplyOptions{RunID: run.ID, Limits: noLimits, Revoker: rv})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Apply: %v, want ErrIncomplete", err)
	}
	if got, want := rv.subjects(), []string{"sub-a", oid(1), oid(2)}; !slices.Equal(got, want) {
		t.Fatalf("revoker called for %v, want %v (one call for %s, every one for %s)", got, want, pE, pB)
	}
	if res.Applied != 2 || len(res.Failed) != 2 {
		t.Fatalf("applied %d, failed %+v; want %s's 2 applied and %s's 2 failed", res.Applied, res.Failed, pB, pE)
	}
	for _, f := range res.Failed {
		if f.Action.Link.Provider != pE || !strings.Contains(f.Error, "provider_mismatch") {
			t.Fatalf("failure %+v", f)
		}
	}
	for i := 1; i <= 2; i++ {
		if hist := h.revokeHistory(i); len(hist) != 1 {
			t.Fatalf("user %d: revoke history %+v", i, hist)
		}
	}
}
