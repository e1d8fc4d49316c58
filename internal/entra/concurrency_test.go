package entra

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/sim/fault"
)

// timingSink notes when the first user page arrives and holds every page
// until Graph has been asked for the next one (or a second has passed).
type timingSink struct {
	Sink
	sim        *entrasim.Sim
	start      time.Time
	first      atomic.Int64 // ns after start
	last       int          // the listing's pages
	pages      int
	prefetched int
}

func (s *timingSink) StageEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser) error {
	s.first.CompareAndSwap(0, int64(time.Since(s.start)))
	if len(users) > 0 && users[0].Deleted == identity.NotDeleted {
		s.pages++
		if s.pages < s.last { // page k+1 should be on its way
			want := int64(s.pages + 1)
			select {
			case <-s.sim.Faults.Reached(entrasim.EPUsers, want):
				s.prefetched++
			case <-time.After(time.Second): // a sequential client never sends it
			}
		}
	}
	return s.Sink.StageEntraUsers(ctx, runID, users)
}

// The assignment scope and the user listing are read concurrently, and each
// users page is stored while the next is requested.
func TestScopeAndListingRunConcurrently(t *testing.T) {
	w := newWorld(t, 2500) // 3 pages of 999
	s := w.sim
	must(t, s.AssignAppRole(sfAppID, oidOf(7), ""))
	s.Faults.Set(entrasim.EPAssignments, fault.Faults{Latency: 3 * time.Second})
	cfg := w.config()
	cfg.Scope, cfg.SalesforceAppID = ScopeAppAssignments, sfAppID
	st := openStore(t)
	fixes := &fixRecorder{Sink: st}
	sink := &timingSink{Sink: fixes, sim: s, start: time.Now(), last: 3}
	res, err := w.source(t, cfg).Sync(context.Background(), sink, startRun(t, st), ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	if res.InScope != 1 || res.Users != 2500 {
		t.Fatalf("result %+v", res)
	}
	if first := time.Duration(sink.first.Load()); first >= 2*time.Second {
		t.Errorf("the first users page was stored %s after the start: the listing waited for the 3 s assignment read", first)
	}
	if sink.pages != 3 || sink.prefetched != 2 {
		t.Errorf("%d of %d pages were stored while the next was requested, want 2 of 3", sink.prefetched, sink.pages)
	}
	got := stored(t, st)
	for i := 0; i < 2500; i++ {
		if got[oidOf(i)].InScope != (i == 7) {
			t.Fatalf("user %d in scope %v after the sync", i, got[oidOf(i)].InScope)
		}
	}
	// Every user was written in scope before the scope was read: the store
	// is asked to set the flag of those outside it only.
	if len(fixes.named) != 1 || fixes.named[0] != 2499 {
		t.Errorf("the scope's fixes named %v users, want one fix naming 2499 (all but the one in scope)", fixes.named)
	}
}

// fixRecorder notes how many users each FixEntraScope names and how many
// listing pages were stored before it. Once scopeRead is closed, it holds
// the first listing page's store until then (wait).
type fixRecorder struct {
	Sink
	named, atPage []int
	pages         int
	scopeRead     chan struct{}
}

func (f *fixRecorder) StageEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser) error {
	err := f.Sink.StageEntraUsers(ctx, runID, users)
	if len(users) > 0 && users[0].Deleted == identity.NotDeleted {
		if f.pages++; f.pages == 1 && f.scopeRead != nil {
			<-f.scopeRead
		}
	}
	return err
}

func (f *fixRecorder) FixEntraScope(ctx context.Context, inScope identity.ObjectIDSet, users []identity.ObjectID) error {
	f.named, f.atPage = append(f.named, len(users)), append(f.atPage, f.pages)
	return f.Sink.FixEntraScope(ctx, inScope, users)
}

// A scope read while the listing goes on is recorded then, with the flags
// of the users written before it, and not again after the last page.
func TestScopeRecordedWhileListing(t *testing.T) {
	const pageSize, pages = 10, 5
	w := newWorld(t, pages*pageSize)
	s := w.sim
	must(t, s.AssignAppRole(sfAppID, oidOf(7), ""))  // on the first page
	must(t, s.AssignAppRole(sfAppID, oidOf(23), "")) // on the third
	cfg := w.config()
	cfg.Scope, cfg.SalesforceAppID, cfg.PageSize = ScopeAppAssignments, sfAppID, pageSize
	st := openStore(t)
	// The scope is read after the first page was stored (which waits for
	// it): that page's users are written before the scope is known.
	s.Faults.Set(entrasim.EPSP, fault.Faults{Latency: 300 * time.Millisecond})
	fixes := &fixRecorder{Sink: st, scopeRead: make(chan struct{})}
	src := w.source(t, cfg)
	src.scopeRead = func() { close(fixes.scopeRead) }
	if _, err := src.Sync(context.Background(), fixes, startRun(t, st), ModeFull); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fixes.named, []int{pageSize - 1}) || !slices.Equal(fixes.atPage, []int{1}) {
		t.Errorf("the scope's fixes named %v users after %v pages, want one naming %d after the first page", fixes.named, fixes.atPage, pageSize-1)
	}
	got := stored(t, st)
	for i := range pages * pageSize {
		if got[oidOf(i)].InScope != (i == 7 || i == 23) {
			t.Errorf("user %d in scope %v after the sync", i, got[oidOf(i)].InScope)
		}
	}
	digest, ok, err := st.GetCursor(context.Background(), src.scopeCursorName())
	if err != nil || !ok || digest == scopePending {
		t.Errorf("the scope's digest after the sync: %q, %v, %v", digest, ok, err)
	}
}

// aheadSink holds the recycle bin's page until Graph has been asked for the
// last page of the user listing, and notes the order the pages are stored in.
type aheadSink struct {
	Sink
	sim      *entrasim.Sim
	last     int64 // the listing's pages
	order    []identity.Deletion
	ranAhead bool
}

func (s *aheadSink) StageEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser) error {
	if len(users) > 0 {
		if users[0].Deleted == identity.SoftDeleted {
			select {
			case <-s.sim.Faults.Reached(entrasim.EPUsers, s.last):
				s.ranAhead = true
			case <-time.After(10 * time.Second): // a client that stores before it reads on never sends it
			}
		}
		s.order = append(s.order, users[0].Deleted)
	}
	return s.Sink.StageEntraUsers(ctx, runID, users)
}

// The user listing is read while the recycle bin's pages are stored, and
// neither waits for the other's storing; the recycle bin is still stored
// first, so a user both name ends as the listing says.
func TestListingRunsAheadOfStoring(t *testing.T) {
	w := newWorld(t, 2500) // 3 pages of 999
	must(t, w.sim.AddUser(identity.EntraUser{ObjectID: oidOf(9003), UPN: "binned@contoso.com", AccountEnabled: true, Deleted: identity.SoftDeleted}))
	st := openStore(t)
	sink := &aheadSink{Sink: st, sim: w.sim, last: 3}
	res, err := w.source(t, w.config()).Sync(context.Background(), sink, startRun(t, st), ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	if !sink.ranAhead {
		t.Error("the user listing's pages were not requested while the recycle bin's page was stored")
	}
	want := []identity.Deletion{identity.SoftDeleted, identity.NotDeleted, identity.NotDeleted, identity.NotDeleted}
	if !slices.Equal(sink.order, want) {
		t.Errorf("pages stored in the order %v, want %v", sink.order, want)
	}
	if res.Users != 2501 || res.RecycleBin != 1 || res.Pages != 3 {
		t.Errorf("result %+v", res)
	}
	if got := stored(t, st); len(got) != 2501 || got[oidOf(9003)].Deleted != identity.SoftDeleted {
		t.Errorf("stored %d users, the binned one %+v", len(got), got[oidOf(9003)])
	}
}

// A failing scope read is the error Sync returns (not the cancellation of the
// listing it causes), and the listing stops.
func TestScopeFailureStopsTheListing(t *testing.T) {
	w := newWorld(t, 2500)
	w.sim.Faults.Set(entrasim.EPUsers, fault.Faults{Latency: 300 * time.Millisecond})
	cfg := w.config()
	cfg.Scope, cfg.SalesforceAppID = ScopeAppAssignments, "00000000-0000-4000-8000-00000000dead" // no such app
	st := openStore(t)
	_, err := w.source(t, cfg).Sync(context.Background(), st, startRun(t, st), ModeFull)
	if err == nil || !strings.Contains(err.Error(), "entra.salesforce_app_id") {
		t.Fatalf("got %v, want the scope's error naming entra.salesforce_app_id", err)
	}
	if n := w.sim.Faults.Counter(entrasim.EPUsers).Requests; n >= 3 {
		t.Errorf("the listing read all %d pages after the scope read had failed", n)
	}
}

// The direct members of assigned groups are read a few groups at a time.
func TestGroupMembersReadConcurrently(t *testing.T) {
	w := newWorld(t, 20)
	s := w.sim
	for g := 0; g < 8; g++ {
		gid := fmt.Sprintf("30000000-0000-4000-8000-%012d", g)
		must(t, s.AddGroup(gid, fmt.Sprintf("Sales %d", g)))
		must(t, s.AddMember(gid, oidOf(g)))
		must(t, s.AssignAppRole(sfAppID, gid, ""))
	}
	s.Faults.Set(entrasim.EPMembers, fault.Faults{Latency: 500 * time.Millisecond})
	cfg := w.config()
	cfg.Scope, cfg.SalesforceAppID = ScopeAppAssignments, sfAppID
	st := openStore(t)
	start := time.Now()
	res := runSync(t, w.source(t, cfg), st, ModeFull)
	took := time.Since(start)
	if res.InScope != 8 {
		t.Fatalf("in scope %d, want 8", res.InScope)
	}
	if c := s.Faults.Counter(entrasim.EPMembers); c.Requests != 8 {
		t.Errorf("member requests %d, want 8", c.Requests)
	}
	// One at a time would take 8 x 500 ms.
	if took >= 3*time.Second {
		t.Errorf("the scope read took %s: the 8 group listings did not overlap", took)
	}
}

// holdSink stores the listing's pages at the pace of its kind and notes the
// page the listing was held at.
type holdSink struct {
	Sink
	sim    *entrasim.Sim
	kind   storeKind
	pages  int
	heldAt int
}

// holdTestLatency is Graph's latency for each users page in the hold tests.
const holdTestLatency = 20 * time.Millisecond

type storeKind int

const (
	keepsUp     storeKind = iota // stores each page at once
	stallsOnce                   // keeps the first page until pagesAhead pages wait behind it, then keeps up
	staysBehind                  // takes three times Graph's latency a page: the listing keeps waiting for it
)

func (s *holdSink) StageEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser) error {
	if len(users) > 0 && users[0].Deleted == identity.NotDeleted {
		s.pages++
		asked := int64(0) // wait until Graph has been asked for this many pages
		switch {
		case s.kind == stallsOnce && s.pages == 1:
			asked = pagesAhead + 2 // page 1 taken, pagesAhead waiting, the next asked for
		case s.kind == staysBehind:
			// A store slower than Graph: its pace is the test's subject,
			// not something it waits for.
			<-time.After(3 * holdTestLatency)
		}
		if asked > 0 {
			select {
			case <-s.sim.Faults.Reached(entrasim.EPUsers, asked):
			case <-time.After(10 * time.Second):
			}
		}
	}
	return s.Sink.StageEntraUsers(ctx, runID, users)
}

func (s *holdSink) HoldEntraListing(ctx context.Context, runID int64) error {
	if s.heldAt == 0 {
		s.heldAt = s.pages + 1
	}
	return s.Sink.HoldEntraListing(ctx, runID)
}

// A store that the listing keeps waiting for gets the rest of it held for
// the finish; one that keeps up with Graph, or stalls once and catches up,
// writes every page as it comes. All end with the listing stored.
func TestListingHeldWhenTheStoreStaysBehind(t *testing.T) {
	const (
		pageSize = 50
		pages    = 2*pagesAhead + holdAfter // a slow store: full after ~24 pages, held ~holdAfter later
	)
	w := newWorld(t, pages*pageSize)
	for _, tc := range []struct {
		name string
		kind storeKind
		held bool
	}{
		{"keeps up", keepsUp, false},
		{"stalls once", stallsOnce, false},
		{"stays behind", staysBehind, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.sim.Faults.Reset()
			w.sim.Faults.Set(entrasim.EPUsers, fault.Faults{Latency: holdTestLatency})
			st := openStore(t)
			hs := &holdSink{Sink: st, sim: w.sim, kind: tc.kind}
			cfg := w.config()
			cfg.PageSize = pageSize
			res, err := w.source(t, cfg).Sync(context.Background(), hs, startRun(t, st), ModeFull)
			if err != nil {
				t.Fatal(err)
			}
			if res.Pages != pages || res.Users != pages*pageSize {
				t.Fatalf("result %+v", res)
			}
			switch {
			case tc.held && hs.heldAt == 0:
				t.Errorf("a store that stayed behind wrote every page as it came")
			case !tc.held && hs.heldAt != 0:
				t.Errorf("the listing was held at page %d", hs.heldAt)
			}
			if got := stored(t, st); len(got) != pages*pageSize {
				t.Errorf("stored %d users, want %d", len(got), pages*pageSize)
			}
		})
	}
}

// Pages of the listing that arrive while the recycle bin's are stored wait
// for the bin, not for the store: a store that keeps up with them and with
// the pages after has nothing held.
func TestListingNotHeldForPagesThatWaitedForTheRecycleBin(t *testing.T) {
	const (
		pageSize  = 10
		binPages  = 3
		listPages = pagesAhead + holdAfter + 4
	)
	w := newWorld(t, (binPages+listPages)*pageSize)
	for i := range binPages * pageSize {
		if err := w.sim.SoftDelete(oidOf(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The bin's chain (3 x 400 ms) lets the listing's pages (50 ms each)
	// fill what may wait before its first is stored.
	w.sim.Faults.Set(entrasim.EPDeleted, fault.Faults{Latency: 400 * time.Millisecond})
	w.sim.Faults.Set(entrasim.EPUsers, fault.Faults{Latency: 50 * time.Millisecond})
	st := openStore(t)
	hs := &holdSink{Sink: st, sim: w.sim}
	cfg := w.config()
	cfg.PageSize = pageSize
	res, err := w.source(t, cfg).Sync(context.Background(), hs, startRun(t, st), ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages != listPages || res.RecycleBin != binPages*pageSize {
		t.Fatalf("result %+v", res)
	}
	if hs.heldAt != 0 {
		t.Errorf("the listing was held at page %d for pages that waited while the recycle bin was stored", hs.heldAt)
	}
	if got := stored(t, st); len(got) != (binPages+listPages)*pageSize {
		t.Errorf("stored %d users, want %d", len(got), (binPages+listPages)*pageSize)
	}
}
