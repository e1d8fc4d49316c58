package job

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
)

func TestAfterApplyMarksOnlyAppliedLinksLinked(t *testing.T) {
	as := []identity.Assessment{
		{Provider: "P", Subject: "s1", SalesforceUserID: "005A", Situation: identity.Unlinked},
		{Provider: "P", Subject: "s2", SalesforceUserID: "005B", Situation: identity.Unlinked},
		{Provider: "P", Subject: "s3", SalesforceUserID: "005C", Situation: identity.Misrouted},
		{Provider: "P", Subject: "s4", SalesforceUserID: "005D", Situation: identity.Unlinked},
		{Provider: "P", Subject: "", SalesforceUserID: "005E", Situation: identity.Unlinked},
	}
	link := func(sub, sf string, st identity.LinkStatus) identity.Link {
		return identity.Link{Provider: "P", Subject: sub, SalesforceUserID: sf, Status: st}
	}
	recs := []identity.ActionRecord{
		{Action: identity.Action{Kind: identity.ActionCreateLink, Link: link("s1", "005A", identity.LinkActive)}, State: reconcile.StateApplied},
		{Action: identity.Action{Kind: identity.ActionCreateLink, Link: link("s2", "005B", identity.LinkActive)}, State: reconcile.StateFailed},
		{Action: identity.Action{Kind: identity.ActionCreateLink, Link: link("s3", "005C", identity.LinkActive)}, State: reconcile.StateApplied},
		{Action: identity.Action{Kind: identity.ActionProposeLink, Link: link("s4", "005D", identity.LinkProposed)}, State: reconcile.StateApplied},
	}
	var res reconcile.Assessments
	for _, a := range as {
		res.Append(a)
	}
	afterApply(&res, recs, []int{0, 1, 2, 3, 4})
	want := []identity.Situation{identity.Linked, identity.Unlinked, identity.Misrouted, identity.Unlinked, identity.Unlinked}
	for i, w := range want {
		if a := res.At(i); a.Situation != w {
			t.Errorf("assessment %d (%s) = %s, want %s", i, a.Subject, a.Situation, w)
		}
	}
}

// The assessments saved before apply ends (settled) are never ones
// afterApply changes, whatever the actions' kinds and outcomes; settled and
// pending together name every assessment once, each in plan order.
func TestSplitByApplyHoldsBackWhatApplyChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []identity.ActionKind{identity.ActionCreateLink, identity.ActionUpdateLink, identity.ActionAdoptLink,
		identity.ActionRevokeAccountLink, identity.ActionProposeLink, identity.ActionRevokeLink, identity.ActionFlag}
	statuses := []identity.LinkStatus{identity.LinkActive, identity.LinkProposed, identity.LinkRevoked}
	states := []string{reconcile.StateApplied, reconcile.StateFailed, reconcile.StatePlanned}
	situations := []identity.Situation{identity.Unlinked, identity.Misrouted, identity.Linked, identity.Disputed}
	for round := range 200 {
		res := &reconcile.Result{}
		for i := range 12 {
			sub := fmt.Sprintf("s%d", rng.IntN(8))
			if i%5 == 4 {
				sub = ""
			}
			oid := ""
			if i%3 > 0 {
				oid = fmt.Sprintf("oid-%d", i)
			}
			res.Assessments.Append(identity.Assessment{Provider: "P", Subject: sub, ObjectID: oid,
				SalesforceUserID: fmt.Sprintf("005%d", rng.IntN(3)), Situation: situations[rng.IntN(len(situations))]})
		}
		var recs []identity.ActionRecord
		for range 6 {
			a := identity.Action{Kind: kinds[rng.IntN(len(kinds))], Link: identity.Link{Provider: "P",
				Subject: fmt.Sprintf("s%d", rng.IntN(8)), SalesforceUserID: fmt.Sprintf("005%d", rng.IntN(3)), Status: statuses[rng.IntN(len(statuses))]}}
			res.Actions = append(res.Actions, a)
			recs = append(recs, identity.ActionRecord{Action: a, State: states[rng.IntN(len(states))]})
		}
		settled, pending := splitByApply(res)
		every := make([]int, res.Assessments.Len())
		for i := range every {
			every[i] = i
		}
		if all := slices.Sorted(slices.Values(slices.Concat(settled, pending))); !slices.Equal(all, every) ||
			!slices.IsSorted(settled) || !slices.IsSorted(pending) {
			t.Fatalf("round %d: settled %v and pending %v do not split %d assessments", round, settled, pending, res.Assessments.Len())
		}
		var before []identity.Assessment
		onlyPending := &reconcile.Assessments{}
		for _, a := range res.Assessments.All() {
			before = append(before, a)
			onlyPending.Append(a)
		}
		matched := res.Matched() // a run counts them before afterApply
		afterApply(&res.Assessments, recs, every)
		afterApply(onlyPending, recs, pending) // as a run does
		if after := res.Matched(); after != matched {
			t.Fatalf("round %d: %d matched identities before afterApply, %d after", round, matched, after)
		}
		for i := range every {
			if after := res.Assessments.At(i); slices.Contains(settled, i) && after != before[i] {
				t.Fatalf("round %d: assessment %d was saved before apply ended, but afterApply changed it: %+v -> %+v",
					round, i, before[i], after)
			}
			if got, want := onlyPending.At(i), res.Assessments.At(i); got != want {
				t.Fatalf("round %d: assessment %d after the pending ones were updated: %+v, after all were: %+v", round, i, got, want)
			}
		}
	}
}

func TestMeterReportsUntilStopped(t *testing.T) {
	m := newMeter()
	m.entra.Add(999)
	m.toWrite.Store(10)
	m.written.Add(4)
	var seen []Progress
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	twice := make(chan struct{})
	go func() {
		m.report(ctx, func(p Progress) {
			if seen = append(seen, p); len(seen) == 2 {
				close(twice)
			}
		}, time.Millisecond)
		close(done)
	}()
	select {
	case <-twice:
	case <-time.After(10 * time.Second):
		t.Fatal("the meter never reported twice")
	}
	m.stage.Store("done")
	cancel()
	<-done
	if len(seen) < 2 {
		t.Fatalf("got %d reports", len(seen))
	}
	last := seen[len(seen)-1]
	if last.Stage != "done" || last.EntraUsers != 999 || last.Written != 4 || last.ToWrite != 10 {
		t.Fatalf("last report = %+v", last)
	}
}

// The pending saver saves, while Apply runs, exactly the assessments whose
// every moving action is decided, with the values afterApply gives them
// once Apply has returned; what it has not saved, unsaved names, so that
// the pending assessments are saved once each. Records come in any order
// and chunks, some twice (a failed Apply saves every record again).
func TestPendingSaverSavesWhatAfterApplyGives(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	kinds := []identity.ActionKind{identity.ActionCreateLink, identity.ActionUpdateLink, identity.ActionAdoptLink,
		identity.ActionRevokeAccountLink, identity.ActionProposeLink, identity.ActionFlag}
	statuses := []identity.LinkStatus{identity.LinkActive, identity.LinkProposed, identity.LinkRevoked}
	states := []string{reconcile.StateApplied, reconcile.StateApplied, reconcile.StateFailed, reconcile.StatePlanned}
	situations := []identity.Situation{identity.Unlinked, identity.Misrouted, identity.Linked}
	early := 0
	for round := range 500 {
		res := &reconcile.Result{}
		for i := range 16 {
			sub := fmt.Sprintf("s%d", rng.IntN(6))
			if i%7 == 6 {
				sub = ""
			}
			res.Assessments.Append(identity.Assessment{Provider: "P", Subject: sub,
				SalesforceUserID: fmt.Sprintf("005%d", rng.IntN(2)), Situation: situations[rng.IntN(len(situations))]})
		}
		var recs []identity.ActionRecord
		for i := range 10 {
			a := identity.Action{Kind: kinds[rng.IntN(len(kinds))], Link: identity.Link{Provider: "P",
				Subject: fmt.Sprintf("s%d", rng.IntN(6)), SalesforceUserID: fmt.Sprintf("005%d", rng.IntN(2)), Status: statuses[rng.IntN(len(statuses))]}}
			res.Actions = append(res.Actions, a)
			recs = append(recs, identity.ActionRecord{Seq: i + 1, Action: a, State: states[rng.IntN(len(states))]})
		}
		_, pending := splitByApply(res)
		saved := map[int]identity.Assessment{}
		var p *pendingSaver
		p = newPendingSaver(res, pending, func(as []identity.Assessment) error {
			for k, j := range p.at {
				if _, twice := saved[j]; twice {
					t.Fatalf("round %d: assessment %d saved twice", round, j)
				}
				saved[j] = as[k]
			}
			return nil
		})
		p.chunk = 1 + rng.IntN(3)
		// Some records are decided, in a random order and chunks, some twice.
		order := rng.Perm(len(recs))[:rng.IntN(len(recs)+1)]
		order = append(order, order[:rng.IntN(len(order)+1)]...)
		for len(order) > 0 {
			n := 1 + rng.IntN(len(order))
			var chunk []identity.ActionRecord
			for _, i := range order[:n] {
				chunk = append(chunk, recs[i])
			}
			if err := p.decided(chunk); err != nil {
				t.Fatal(err)
			}
			order = order[n:]
		}
		afterApply(&res.Assessments, recs, pending)
		unsaved := p.unsaved()
		if got := slices.Sorted(slices.Values(slices.Concat(unsaved, slices.Collect(maps.Keys(saved))))); !slices.Equal(got, pending) {
			t.Fatalf("round %d: saved %v and unsaved %v, want the pending %v once each", round, slices.Sorted(maps.Keys(saved)), unsaved, pending)
		}
		for j, a := range saved {
			if want := res.Assessments.At(j); a != want {
				t.Fatalf("round %d: assessment %d saved as %+v, afterApply gives %+v", round, j, a, want)
			}
		}
		early += len(saved)
	}
	if early == 0 {
		t.Fatal("no assessment was saved before Apply returned: the test exercised nothing")
	}
}
