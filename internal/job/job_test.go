package job

import (
	"context"
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
	afterApply(as, recs)
	want := []identity.Situation{identity.Linked, identity.Unlinked, identity.Misrouted, identity.Unlinked, identity.Unlinked}
	for i, w := range want {
		if as[i].Situation != w {
			t.Errorf("assessment %d (%s) = %s, want %s", i, as[i].Subject, as[i].Situation, w)
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
