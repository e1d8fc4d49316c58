package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// readJournal returns the changes after seq, rendered without their
// sequence numbers (which backends may hand out with gaps), in order.
func readJournal(t *testing.T, s store.Store, after int64) ([]string, int64) {
	t.Helper()
	cs, err := s.ReadJournal(ctxT(t), after, 1000)
	must(t, err)
	var out []string
	last := after
	for _, c := range cs {
		if c.Seq <= last {
			t.Fatalf("ReadJournal after %d: sequence %d does not grow (previous %d)", after, c.Seq, last)
		}
		last = c.Seq
		c.Seq = 0
		out = append(out, fmt.Sprintf("%+v", c))
	}
	return out, last
}

// journaled runs write and checks that it journaled exactly want.
func journaled(t *testing.T, s store.Store, after *int64, what string, write func() error, want ...identity.Change) {
	t.Helper()
	must(t, write())
	got, last := readJournal(t, s, *after)
	var ws []string
	for _, c := range want {
		ws = append(ws, fmt.Sprintf("%+v", c))
	}
	if !slices.Equal(got, ws) {
		t.Fatalf("%s journaled\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(ws, "\n  "))
	}
	*after = last
}

// testJournal: while the journal is on, every write that changes what a plan
// sees journals its record's old and new keys, and writes that change
// nothing a plan reads (a re-read, a repeated sign-in) journal nothing.
func testJournal(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, on, err := s.JournalState(ctx); err != nil || on {
		t.Fatalf("a new store's journal: on=%v err=%v; want off (no plan may rely on it before a full plan)", on, err)
	}
	r1 := startRun(t, s, identity.KindBackfill)
	u := entraUser(1)
	must(t, s.UpsertEntraUsers(ctx, r1.ID, []identity.EntraUser{u}, nil))
	if cs, err := s.ReadJournal(ctx, 0, 10); err != nil || len(cs) != 0 {
		t.Fatalf("journal off: ReadJournal = %v, %v; want nothing journaled", cs, err)
	}
	seq, err := s.StartJournal(ctx)
	must(t, err)
	from, on, err := s.JournalState(ctx)
	if err != nil || !on || from != seq || seq < 1 {
		t.Fatalf("after StartJournal = %d: JournalState = %d, %v, %v; want on from the returned number, at least 1", seq, from, on, err)
	}

	eu := func(u identity.EntraUser) identity.Change {
		return identity.Change{ObjectID: u.ObjectID, UPN: u.UPN, Mail: u.Mail}
	}
	r2 := startRun(t, s, identity.KindRun)
	journaled(t, s, &seq, "re-writing an unchanged Entra user", func() error {
		return s.UpsertEntraUsers(ctx, r2.ID, []identity.EntraUser{u}, nil)
	})
	u2 := u
	u2.UPN, u2.DisplayName = "renamed@contoso.com", "Renamed"
	journaled(t, s, &seq, "renaming an Entra user", func() error {
		return s.UpsertEntraUsers(ctx, r2.ID, []identity.EntraUser{u2}, nil)
	}, eu(u), eu(u2))
	u3 := entraUser(3)
	journaled(t, s, &seq, "a new Entra user", func() error { return s.UpsertEntraUsers(ctx, r2.ID, []identity.EntraUser{u3}, nil) }, eu(u3))
	journaled(t, s, &seq, "a scope change", func() error { return s.SetEntraScope(ctx, identity.ObjectIDSetOf(u3.ObjectID)) }, eu(u3), eu(u3))
	journaled(t, s, &seq, "an unchanged scope", func() error { return s.SetEntraScope(ctx, identity.ObjectIDSetOf(u3.ObjectID)) })
	r3 := startRun(t, s, identity.KindRun)
	u3.InScope = true // as the scope set it: re-read unchanged
	journaled(t, s, &seq, "a full listing re-reading a user", func() error {
		if err := s.BeginEntraListing(ctx, r3.ID); err != nil {
			return err
		}
		return s.StageEntraUsers(ctx, r3.ID, []identity.EntraUser{u3})
	})
	journaled(t, s, &seq, "finishing the listing: re-read unchanged, the user not listed marked", func() error {
		_, _, err := s.FinishEntraListing(ctx, r3.ID, nil)
		return err
	}, eu(u2), eu(u2))

	sf := identity.SalesforceUser{ID: "005A", Username: "a@contoso.com", Email: "a@contoso.com", FederationIdentifier: oid(1), IsActive: true, SystemModstamp: ts(1)}
	sfc := func(u identity.SalesforceUser) identity.Change {
		return identity.Change{SalesforceID: u.ID, Username: u.Username, Email: u.Email, FederationIdentifier: u.FederationIdentifier}
	}
	journaled(t, s, &seq, "a new Salesforce user", func() error { return s.UpsertSalesforceUsers(ctx, r2.ID, []identity.SalesforceUser{sf}, nil) }, sfc(sf))
	sfTouched := sf
	sfTouched.SystemModstamp = ts(2)
	journaled(t, s, &seq, "a Salesforce user read again with only SystemModstamp moved", func() error {
		return s.UpsertSalesforceUsers(ctx, r3.ID, []identity.SalesforceUser{sfTouched}, nil)
	})
	sf2 := sfTouched
	sf2.IsActive = false
	journaled(t, s, &seq, "a deactivated Salesforce user", func() error {
		return s.UpsertSalesforceUsers(ctx, r3.ID, []identity.SalesforceUser{sf2}, nil)
	}, sfc(sf), sfc(sf2))

	tp := identity.ThirdPartyAccountLink{ID: "0JL1", Provider: "EntraOIDC", RemoteIdentifier: "sub-1", UserID: "005J"}
	tpc := identity.Change{Provider: "EntraOIDC", Subject: "sub-1", SalesforceID: "005J"}
	journaled(t, s, &seq, "a new ThirdPartyAccountLink", func() error { return s.UpsertAccountLinks(ctx, r2.ID, []identity.ThirdPartyAccountLink{tp}) }, tpc)
	journaled(t, s, &seq, "a ThirdPartyAccountLink read again", func() error { return s.UpsertAccountLinks(ctx, r3.ID, []identity.ThirdPartyAccountLink{tp}) })
	r4 := startRun(t, s, identity.KindRun)
	journaled(t, s, &seq, "a ThirdPartyAccountLink deleted in Salesforce", func() error { _, err := s.DropAccountLinksExcept(ctx, nil); return err }, tpc)

	rl := identity.Link{Provider: "EntraOIDC", Subject: "sub-2", SalesforceUserID: "005A", ObjectID: strings.ToUpper(oid(1)), Rule: identity.RuleObjectID, Status: identity.LinkActive}
	rlc := identity.Change{Provider: "EntraOIDC", Subject: "sub-2", SalesforceID: "005A", ObjectID: oid(1)}
	journaled(t, s, &seq, "a new Identity_Link__c row (its object id stored canonical)", func() error { return s.UpsertRemoteLinks(ctx, r3.ID, []identity.Link{rl}) }, rlc)
	journaled(t, s, &seq, "an Identity_Link__c row read again", func() error { return s.UpsertRemoteLinks(ctx, r4.ID, []identity.Link{rl}) })
	r5 := startRun(t, s, identity.KindRun)
	journaled(t, s, &seq, "an Identity_Link__c row deleted in Salesforce", func() error { _, err := s.MarkRemoteLinksNotSeen(ctx, r5.ID); return err }, rlc)
	journaled(t, s, &seq, "an Identity_Link__c row written again", func() error { return s.UpsertRemoteLinks(ctx, r5.ID, []identity.Link{rl}) }, rlc)
	journaled(t, s, &seq, "an Identity_Link__c row found deleted by an incremental read", func() error {
		_, err := s.DeleteRemoteLinks(ctx, []identity.LinkKey{{Provider: rl.Provider, Subject: rl.Subject}})
		return err
	}, rlc)

	l := link("sub-3", "005A", identity.LinkActive)
	lc := identity.Change{Provider: "EntraOIDC", Subject: "sub-3", SalesforceID: "005A", ObjectID: oid(1)}
	journaled(t, s, &seq, "a new link", func() error {
		return s.ApplyLinkChanges(ctx, r5.ID, []identity.LinkChange{{Action: identity.ActionCreateLink, Link: l, Actor: "idlink run"}})
	}, lc)
	l2 := l
	l2.SalesforceUserID = "005B"
	lc2 := lc
	lc2.SalesforceID = "005B"
	journaled(t, s, &seq, "a re-pointed link", func() error {
		return s.ApplyLinkChanges(ctx, r5.ID, []identity.LinkChange{{Action: identity.ActionUpdateLink, Link: l2, Actor: "idlink run"}})
	}, lc, lc2)

	o := obs("sub-4", oid(1), ts(1))
	oc := identity.Change{Provider: "EntraOIDC", Subject: "sub-4", ObjectID: oid(1)}
	journaled(t, s, &seq, "a new observation", func() error { _, err := s.RecordObservation(ctx, o); return err }, oc)
	journaled(t, s, &seq, "a repeated sign-in", func() error { _, err := s.RecordObservation(ctx, obs("sub-4", oid(1), ts(9))); return err })
	journaled(t, s, &seq, "a conflicting sign-in", func() error { _, err := s.RecordObservation(ctx, obs("sub-4", oid(2), ts(10))); return err },
		identity.Change{Provider: "EntraOIDC", Subject: "sub-4", ObjectID: oid(1), OtherObject: oid(2)})

	d := identity.Decision{Provider: "EntraOIDC", Subject: "sub-5", SalesforceUserID: "005C", ObjectID: "{" + strings.ToUpper(oid(3)) + "}", Approved: true, Actor: "alice"}
	journaled(t, s, &seq, "a decision", func() error { return s.RecordDecisions(ctx, d) },
		identity.Change{Provider: "EntraOIDC", Subject: "sub-5", SalesforceID: "005C", ObjectID: oid(3)})

	// Trimming keeps what follows; the sequence keeps growing past a trim.
	must(t, s.TrimJournal(ctx, seq-1))
	if rest, _ := readJournal(t, s, 0); len(rest) != 1 {
		t.Fatalf("after TrimJournal(%d): %d changes left, want 1", seq-1, len(rest))
	}
	must(t, s.TrimJournal(ctx, seq))
	last, err := s.StartJournal(ctx)
	must(t, err)
	if from2, _, _ := s.JournalState(ctx); last != seq || from2 != from {
		t.Fatalf("StartJournal on a running journal = %d (valid from %d); want the newest sequence %d, valid from %d unchanged", last, from2, seq, from)
	}
	journaled(t, s, &seq, "a user added after a trim", func() error { return s.UpsertEntraUsers(ctx, r5.ID, []identity.EntraUser{entraUser(7)}, nil) }, eu(entraUser(7)))

	must(t, s.StopJournal(ctx))
	if _, on, _ := s.JournalState(ctx); on {
		t.Fatal("StopJournal left the journal on")
	}
	must(t, s.UpsertEntraUsers(ctx, r5.ID, []identity.EntraUser{entraUser(8)}, nil))
	if rest, _ := readJournal(t, s, 0); len(rest) != 0 {
		t.Fatalf("a stopped journal holds %v, want nothing", rest)
	}
	again, err := s.StartJournal(ctx)
	must(t, err)
	if from3, on, _ := s.JournalState(ctx); !on || again < seq || from3 != again {
		t.Fatalf("restarted journal: StartJournal = %d, valid from %d (on %v); want ≥ %d and valid from it", again, from3, on, seq)
	}
}

// testRelated: Related finds each kind of record by every key it carries,
// with the planner's folding (case, spaces, non-ASCII letters, GUID spelling).
func testRelated(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	e1, e2 := entraUser(1), entraUser(2)
	e1.UPN, e1.Mail = " Émile@Contoso.com", "EMILE.B@contoso.com"
	must(t, s.UpsertEntraUsers(ctx, r.ID, []identity.EntraUser{e1, e2}, nil))
	sfB := identity.SalesforceUser{ID: "005B", Username: "b@contoso.com", Email: "b@contoso.com"}
	must(t, s.UpsertSalesforceUsers(ctx, r.ID, []identity.SalesforceUser{
		{ID: "005A", Username: "ÉMILE@contoso.com.sandbox", Email: "Emile.B@Contoso.com", FederationIdentifier: "{" + strings.ToUpper(oid(1)) + "}"},
		sfB,
	}, nil))
	// The users' keys are computed by PrepareRelated; until then Related
	// refuses rather than miss what only a key finds.
	if _, err := s.Related(ctx, identity.KeyQuery{UPNs: []string{"x"}}); !errors.Is(err, store.ErrLookupsNotPrepared) {
		t.Fatalf("Related before PrepareRelated = %v; want ErrLookupsNotPrepared", err)
	}
	must(t, s.PrepareRelated(ctx))
	// Written after it: the writes keep the keys.
	e2.UPN, sfB.Username, sfB.FederationIdentifier = "Zoë@contoso.com", "ZOË@contoso.com.sandbox", oid(2)
	must(t, s.UpsertEntraUsers(ctx, r.ID, []identity.EntraUser{e2, entraUser(3)}, nil))
	must(t, s.UpsertSalesforceUsers(ctx, r.ID, []identity.SalesforceUser{sfB}, nil))
	must(t, s.UpsertAccountLinks(ctx, r.ID, []identity.ThirdPartyAccountLink{
		{ID: "0JL1", Provider: "EntraOIDC", RemoteIdentifier: "sub-1", UserID: "005A"},
		{ID: "0JL2", Provider: "Other", RemoteIdentifier: "sub-1", UserID: "005B"},
	}))
	must(t, s.UpsertRemoteLinks(ctx, r.ID, []identity.Link{
		{Provider: "EntraOIDC", Subject: "sub-r", SalesforceUserID: "005C", ObjectID: strings.ToUpper(oid(4)), Rule: identity.RuleObjectID, Status: identity.LinkActive},
	}))
	must(t, s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{{Action: identity.ActionCreateLink, Actor: "run",
		Link: identity.Link{Provider: "EntraOIDC", Subject: "sub-l", SalesforceUserID: "005D", ObjectID: oid(5), Rule: identity.RuleObjectID, Status: identity.LinkActive}}}))
	_, err := s.RecordObservation(ctx, obs("sub-o", oid(6), ts(1)))
	must(t, err)
	_, err = s.RecordObservation(ctx, obs("sub-o", oid(7), ts(2)))
	must(t, err)
	must(t, s.RecordDecisions(ctx, identity.Decision{Provider: "EntraOIDC", Subject: "sub-d", SalesforceUserID: "005E", ObjectID: oid(8), Actor: "alice"}))

	render := func(rs identity.Records) []string {
		var out []string
		for _, u := range rs.Entra {
			out = append(out, "entra "+u.ObjectID)
		}
		for _, u := range rs.Salesforce {
			out = append(out, "sf "+u.ID)
		}
		for _, l := range rs.AccountLinks {
			out = append(out, "tpal "+l.ID)
		}
		for _, l := range rs.RemoteLinks {
			out = append(out, "remote "+l.Subject+" "+l.ObjectID)
		}
		for _, l := range rs.Links {
			out = append(out, "link "+l.Subject)
		}
		for _, o := range rs.Observations {
			out = append(out, "obs "+o.Subject)
		}
		for _, c := range rs.Conflicts {
			out = append(out, "conflict "+c.Subject+" "+c.OtherObject)
		}
		for _, d := range rs.Decisions {
			out = append(out, "decision "+d.Subject)
		}
		slices.Sort(out)
		return out
	}
	sub := func(p, s string) []identity.LinkKey { return []identity.LinkKey{{Provider: p, Subject: s}} }
	tests := []struct {
		name string
		q    identity.KeyQuery
		want []string
	}{
		{"nothing", identity.KeyQuery{}, nil},
		{"an object id", identity.KeyQuery{ObjectIDs: []string{oid(1)}}, []string{"entra " + oid(1), "sf 005A"}},
		{"an object id stored in upper case", identity.KeyQuery{ObjectIDs: []string{oid(4)}}, []string{"remote sub-r " + oid(4)}},
		{"a link's object id", identity.KeyQuery{ObjectIDs: []string{oid(5)}}, []string{"link sub-l"}},
		{"an observation's object id", identity.KeyQuery{ObjectIDs: []string{oid(6)}}, []string{"conflict sub-o " + oid(7), "obs sub-o"}},
		{"a conflict's other object id", identity.KeyQuery{ObjectIDs: []string{oid(7)}}, []string{"conflict sub-o " + oid(7)}},
		{"a decision's object id", identity.KeyQuery{ObjectIDs: []string{oid(8)}}, []string{"decision sub-d"}},
		{"a folded UPN", identity.KeyQuery{UPNs: []string{"émile@contoso.com"}}, []string{"entra " + oid(1)}},
		{"a folded username", identity.KeyQuery{Usernames: []string{"émile@contoso.com.sandbox"}}, []string{"sf 005A"}},
		{"a UPN is not a username", identity.KeyQuery{Usernames: []string{"user3@contoso.com"}}, nil},
		{"keys written after PrepareRelated", identity.KeyQuery{UPNs: []string{"zoë@contoso.com", "user3@contoso.com"},
			Usernames: []string{"zoë@contoso.com.sandbox"}}, []string{"entra " + oid(2), "entra " + oid(3), "sf 005B"}},
		{"a FederationIdentifier written after PrepareRelated", identity.KeyQuery{ObjectIDs: []string{oid(2)}}, []string{"entra " + oid(2), "sf 005B"}},
		{"keys replaced by a rename", identity.KeyQuery{UPNs: []string{"user2@contoso.com"}, Usernames: []string{"b@contoso.com"}}, nil},
		{"a folded email, both sides", identity.KeyQuery{Emails: []string{"emile.b@contoso.com"}}, []string{"entra " + oid(1), "sf 005A"}},
		{"a Salesforce id", identity.KeyQuery{SalesforceIDs: []string{"005A"}}, []string{"sf 005A", "tpal 0JL1"}},
		{"Salesforce ids of links and decisions", identity.KeyQuery{SalesforceIDs: []string{"005C", "005D", "005E"}},
			[]string{"decision sub-d", "link sub-l", "remote sub-r " + oid(4)}},
		{"a subject is per provider", identity.KeyQuery{Subjects: sub("Other", "sub-1")}, []string{"tpal 0JL2"}},
		{"subjects of every kind", identity.KeyQuery{Subjects: []identity.LinkKey{{Provider: "EntraOIDC", Subject: "sub-r"},
			{Provider: "EntraOIDC", Subject: "sub-l"}, {Provider: "EntraOIDC", Subject: "sub-o"}, {Provider: "EntraOIDC", Subject: "sub-d"}}},
			[]string{"conflict sub-o " + oid(7), "decision sub-d", "link sub-l", "obs sub-o", "remote sub-r " + oid(4)}},
		{"one record found by two keys once", identity.KeyQuery{ObjectIDs: []string{oid(1)}, SalesforceIDs: []string{"005A"}, Emails: []string{"emile.b@contoso.com"}},
			[]string{"entra " + oid(1), "sf 005A", "tpal 0JL1"}},
	}
	for _, tc := range tests {
		got, err := s.Related(ctx, tc.q)
		must(t, err)
		if g := render(got); !slices.Equal(g, tc.want) {
			t.Errorf("%s: Related = %v, want %v", tc.name, g, tc.want)
		}
	}
	// A backfill drops the keys; its writes keep none; the next
	// PrepareRelated computes them all again.
	must(t, s.StopJournal(ctx))
	e2.UPN = "Zoé@contoso.com"
	must(t, s.UpsertEntraUsers(ctx, r.ID, []identity.EntraUser{e2}, nil))
	if _, err := s.Related(ctx, identity.KeyQuery{UPNs: []string{"x"}}); !errors.Is(err, store.ErrLookupsNotPrepared) {
		t.Fatalf("Related after StopJournal = %v; want ErrLookupsNotPrepared", err)
	}
	must(t, s.PrepareRelated(ctx))
	for q, want := range map[string][]string{"zoé@contoso.com": {"entra " + oid(2)}, "zoë@contoso.com": nil, "émile@contoso.com": {"entra " + oid(1)}} {
		got, err := s.Related(ctx, identity.KeyQuery{UPNs: []string{q}})
		must(t, err)
		if g := render(got); !slices.Equal(g, want) {
			t.Errorf("UPN %s after a backfill and PrepareRelated: Related = %v, want %v", q, g, want)
		}
	}
}

// testRunPlan: a run's plan position and base are kept with its end, and
// CountLinks counts idlink's links by status.
func testRunPlan(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	base := r
	r = startRun(t, s, identity.KindRun)
	must(t, s.Replace(ctx, r.ID, base.ID, store.Replaced{}))
	r.Status, r.PlanSeq = identity.StatusSucceeded, 42
	must(t, s.FinishRun(ctx, r)) // PlanBase 0 here: FinishRun leaves the base alone
	got, err := s.GetRun(ctx, r.ID)
	must(t, err)
	if got.PlanSeq != 42 || got.PlanBase != base.ID {
		t.Fatalf("GetRun = plan seq %d, base %d; want 42, %d", got.PlanSeq, got.PlanBase, base.ID)
	}
	if runs, err := s.ListRuns(ctx, 1); err != nil || len(runs) != 1 || runs[0].PlanSeq != 42 || runs[0].PlanBase != base.ID {
		t.Fatalf("ListRuns = %+v, %v; want plan seq 42, base %d", runs, err, base.ID)
	}
	a, b, c := link("sub-a", "005A", identity.LinkActive), link("sub-b", "005B", identity.LinkActive), link("sub-c", "005C", identity.LinkProposed)
	must(t, s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{
		{Action: identity.ActionCreateLink, Link: a, Actor: "run"}, {Action: identity.ActionCreateLink, Link: b, Actor: "run"},
		{Action: identity.ActionProposeLink, Link: c, Actor: "run"}}))
	for status, want := range map[identity.LinkStatus]int64{identity.LinkActive: 2, identity.LinkProposed: 1, identity.LinkRevoked: 0} {
		if n, err := s.CountLinks(ctx, status); err != nil || n != want {
			t.Errorf("CountLinks(%s) = %d, %v; want %d", status, n, err, want)
		}
	}
}

// testReplaceActions: an incremental run saves its own actions and keeps
// its plan base's flags about the identities it did not replace (by
// subject, Salesforce user or object id in any spelling), numbered after
// its own, through a chain of such runs down to a full plan; a base's
// other actions are never kept.
func testReplaceActions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	flag := func(name, sub, sf, objectID string) identity.Action {
		return identity.Action{Kind: identity.ActionFlag, Flag: name, Reason: name + " " + sub,
			Link: identity.Link{Provider: "p", Subject: sub, SalesforceUserID: sf, ObjectID: objectID}}
	}
	rec := func(seq int, a identity.Action, state string) identity.ActionRecord {
		return identity.ActionRecord{Seq: seq, Action: a, State: state}
	}
	list := func(id int64) string {
		got, err := s.ListActions(ctx, id)
		must(t, err)
		var scanned []identity.ActionRecord
		must(t, s.ScanActions(ctx, id, func(r identity.ActionRecord) error { scanned = append(scanned, r); return nil }))
		if fmt.Sprint(got) != fmt.Sprint(scanned) {
			t.Fatalf("run %d: ListActions %v, ScanActions %v", id, got, scanned)
		}
		return fmt.Sprint(got)
	}
	create := identity.Action{Kind: identity.ActionCreateLink, Link: link("sub-new", "005N", identity.LinkActive)}
	fSub := flag("dup", "s1", "", "")    // replaced by its subject in r2
	fOther := flag("dup", "s1x", "", "") // r2 replaces subject s1x of provider p only
	fOther.Link.Provider = "q"
	fSF := flag("guest", "", "005A", "")                                // replaced by its Salesforce user in r2
	fUpper := flag("conflict", "", "", "{"+strings.ToUpper(oid(2))+"}") // replaced by its object id in r3
	fKept := flag("orphan", "s9", "005Z", oid(9))                       // kept throughout
	base := startRun(t, s, identity.KindRun)
	baseRecs := []identity.ActionRecord{rec(1, create, "applied"), rec(2, fSub, "planned"), rec(3, fOther, "planned"),
		rec(4, fSF, "planned"), rec(5, fUpper, "planned"), rec(6, fKept, "planned")}
	must(t, s.SaveActions(ctx, base.ID, baseRecs))

	r2 := startRun(t, s, identity.KindRun)
	must(t, s.Replace(ctx, r2.ID, base.ID, store.Replaced{SalesforceIDs: []string{"005A"},
		Subjects: []identity.LinkKey{{Provider: "p", Subject: "s1"}, {Provider: "p", Subject: "s1x"}}}))
	own := flag("dup", "s1", "", oid(1))
	must(t, s.SaveActions(ctx, r2.ID, []identity.ActionRecord{rec(1, own, "planned")}))
	// The base's create is not kept although nothing replaced its identity:
	// a run keeps flags only.
	if got, want := list(r2.ID), fmt.Sprint([]identity.ActionRecord{rec(1, own, "planned"), rec(2, fOther, "planned"),
		rec(3, fUpper, "planned"), rec(4, fKept, "planned")}); got != want {
		t.Fatalf("run %d on run %d has\n  %s\nwant\n  %s", r2.ID, base.ID, got, want)
	}

	r3 := startRun(t, s, identity.KindRun)
	must(t, s.Replace(ctx, r3.ID, r2.ID, store.Replaced{ObjectIDs: []string{oid(2)}}))
	if got, want := list(r3.ID), fmt.Sprint([]identity.ActionRecord{rec(1, own, "planned"), rec(2, fOther, "planned"),
		rec(3, fKept, "planned")}); got != want {
		t.Fatalf("run %d on run %d on run %d has\n  %s\nwant\n  %s", r3.ID, r2.ID, base.ID, got, want)
	}
	// Saving an outcome replaces the run's own record only.
	must(t, s.SaveActions(ctx, r2.ID, []identity.ActionRecord{rec(1, own, "failed")}))
	if got, want := list(r2.ID), fmt.Sprint([]identity.ActionRecord{rec(1, own, "failed"), rec(2, fOther, "planned"),
		rec(3, fUpper, "planned"), rec(4, fKept, "planned")}); got != want {
		t.Fatalf("after saving an outcome, run %d has\n  %s\nwant\n  %s", r2.ID, got, want)
	}
	// ActionsAbout: by a subject of one provider, by an object id spelled
	// otherwise in the record, by a Salesforce user, down the chain.
	about := func(id int64, r store.Replaced) string {
		var got []identity.Action
		must(t, s.ActionsAbout(ctx, id, r, func(rec identity.ActionRecord) error { got = append(got, rec.Action); return nil }))
		return fmt.Sprint(got)
	}
	if got, want := about(r2.ID, store.Replaced{ObjectIDs: []string{oid(2)}, Subjects: []identity.LinkKey{{Provider: "q", Subject: "s1x"}, {Provider: "q", Subject: "s1"}}}),
		fmt.Sprint([]identity.Action{fOther, fUpper}); got != want {
		t.Fatalf("ActionsAbout(run %d) = %s, want %s", r2.ID, got, want)
	}
	if got, want := about(r3.ID, store.Replaced{SalesforceIDs: []string{"005Z", "005A"}}), fmt.Sprint([]identity.Action{fKept}); got != want {
		t.Fatalf("ActionsAbout(run %d) = %s, want %s", r3.ID, got, want)
	}
	if got, want := about(base.ID, store.Replaced{ObjectIDs: []string{oid(1)}}), fmt.Sprint([]identity.Action{create}); got != want {
		t.Fatalf("ActionsAbout(run %d) = %s, want %s", base.ID, got, want)
	}
	if got := about(r2.ID, store.Replaced{}); got != "[]" {
		t.Fatalf("ActionsAbout(nothing) = %s", got)
	}
	if got, want := list(base.ID), fmt.Sprint(baseRecs); got != want {
		t.Fatalf("the base run's actions changed:\n  %s\nwant\n  %s", got, want)
	}
}

// testReplaceAssessments: an incremental run saves the assessments of the
// identities its changes reached and keeps its plan base's for the others,
// through a chain of such runs down to a full plan.
func testReplaceAssessments(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	base := startRun(t, s, identity.KindRun)
	as := []identity.Assessment{
		{Provider: "p", Situation: identity.Linked, ObjectID: oid(1), SalesforceUserID: "005A", Subject: "s1", Detail: "one"},
		{Provider: "p", Situation: identity.Unlinked, ObjectID: oid(2), SalesforceUserID: "005B", Subject: "s2"},
		{Situation: identity.Orphaned, SalesforceUserID: "005X", SalesforceUsername: "x@contoso.com"},
		{Situation: identity.Orphaned, SalesforceUserID: "005Y"},
		{Provider: "p", Situation: identity.Unmatched, ObjectID: oid(3)},
		{Provider: "q", Situation: identity.Linked, ObjectID: oid(1), SalesforceUserID: "005A", Subject: "t1"},
	}
	must(t, s.SaveAssessments(ctx, base.ID, as))
	scan := func(id int64) string {
		var got []identity.Assessment
		must(t, s.ScanAssessments(ctx, id, func(a identity.Assessment) error { got = append(got, a); return nil }))
		return fmt.Sprint(got)
	}

	r2 := startRun(t, s, identity.KindRun)
	own := identity.Assessment{Provider: "p", Situation: identity.Misrouted, ObjectID: oid(2), SalesforceUserID: "005B", Subject: "s2"}
	// 005A names a kept identity's account: only an assessment without an
	// object id is replaced by its Salesforce user.
	must(t, s.Replace(ctx, r2.ID, base.ID, store.Replaced{ObjectIDs: []string{oid(2)}, SalesforceIDs: []string{"005X", "005A"}}))
	must(t, s.SaveAssessments(ctx, r2.ID, []identity.Assessment{own}))
	if got, want := scan(r2.ID), fmt.Sprint([]identity.Assessment{own, as[0], as[3], as[4], as[5]}); got != want {
		t.Fatalf("run %d on run %d has\n  %s\nwant\n  %s", r2.ID, base.ID, got, want)
	}
	if run, err := s.GetRun(ctx, r2.ID); err != nil || run.PlanBase != base.ID {
		t.Fatalf("GetRun = plan base %d, %v; want %d", run.PlanBase, err, base.ID)
	}

	// A run on that run: oid(1) is gone without an assessment, 005Z is new.
	r3 := startRun(t, s, identity.KindRun)
	orphan := identity.Assessment{Situation: identity.Orphaned, SalesforceUserID: "005Z"}
	must(t, s.Replace(ctx, r3.ID, r2.ID, store.Replaced{ObjectIDs: []string{oid(1)}, SalesforceIDs: []string{"005Z"}}))
	must(t, s.SaveAssessments(ctx, r3.ID, []identity.Assessment{orphan}))
	if got, want := scan(r3.ID), fmt.Sprint([]identity.Assessment{orphan, own, as[3], as[4]}); got != want {
		t.Fatalf("run %d on run %d on run %d has\n  %s\nwant\n  %s", r3.ID, r2.ID, base.ID, got, want)
	}
	var about []identity.Assessment
	must(t, s.AssessmentsAbout(ctx, r3.ID, []string{oid(2), oid(3)}, []string{"005Y", "005B"}, func(a identity.Assessment) error {
		about = append(about, a)
		return nil
	}))
	if got, want := fmt.Sprint(about), fmt.Sprint([]identity.Assessment{own, as[3], as[4]}); got != want {
		t.Fatalf("AssessmentsAbout = %s, want %s", got, want)
	}
	// With the lookups built (a backend may then read by an index), the
	// same rows in the same order, also when "" is among the object ids.
	aboutOf := func(oids, sfs []string) string {
		var got []identity.Assessment
		must(t, s.AssessmentsAbout(ctx, r3.ID, oids, sfs, func(a identity.Assessment) error { got = append(got, a); return nil }))
		return fmt.Sprint(got)
	}
	queries := [][2][]string{{{oid(2), oid(3)}, {"005Y", "005B"}}, {{"", oid(3)}, {"005Y"}}, {{oid(1)}, {"005X", "005Z"}}, {nil, {"005Y"}}}
	var before []string
	for _, q := range queries {
		before = append(before, aboutOf(q[0], q[1]))
	}
	must(t, s.PrepareRelated(ctx))
	for i, q := range queries {
		if got := aboutOf(q[0], q[1]); got != before[i] {
			t.Fatalf("AssessmentsAbout(%q, %q) with the lookups built = %s, without %s", q[0], q[1], got, before[i])
		}
	}
	// The base keeps its own.
	if got, want := scan(base.ID), fmt.Sprint(as); got != want {
		t.Fatalf("the base run's assessments changed: %s", got)
	}
	if err := s.Replace(ctx, base.ID, r3.ID, store.Replaced{}); err == nil {
		t.Fatal("a run was made to build on a newer run")
	}
}
