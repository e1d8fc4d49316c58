package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store/sqlite"
)

// pipelineStore is the real store with ApplyLinkChanges instrumented: it can
// fail its n-th call, and when next is set, a recording that leaves batches
// of size batch unrecorded waits (up to a deadline) until the writer has
// started the call of the batch after it, counting the overlaps.
type pipelineStore struct {
	*sqlite.Store
	calls    atomic.Int32
	failAt   int32
	batch    int
	batches  int
	recorded int           // batches recorded so far
	next     chan struct{} // a Salesforce call started
	started  int           // calls started, as taken from next
	overlaps atomic.Int32
}

func (s *pipelineStore) ApplyLinkChanges(ctx context.Context, runID int64, changes []identity.LinkChange) error {
	n := s.calls.Add(1)
	if s.next != nil {
		s.recorded += len(changes) / s.batch // recordings run one at a time
		if s.recorded < s.batches {
			deadline := time.After(10 * time.Second) // a deadline: Apply sent nothing while recording
			for s.started <= s.recorded {
				select {
				case <-s.next:
					s.started++
					continue
				case <-deadline:
				}
				break
			}
			if s.started > s.recorded {
				s.overlaps.Add(1)
			}
		}
	}
	if n == s.failAt {
		return errors.New("disk I/O error")
	}
	return s.Store.ApplyLinkChanges(ctx, runID, changes)
}

// planFor plans a run of the harness's world without applying it.
func (h *harness) planFor() (identity.Run, *Result) {
	h.t.Helper()
	run, err := h.st.StartRun(h.ctx, identity.KindRun, "test")
	if err != nil {
		h.t.Fatal(err)
	}
	snap, err := load(h.ctx, h.st)
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := Plan(h.cfg, snap)
	if err != nil {
		h.t.Fatal(err)
	}
	return run, r
}

// A failure to record the first batch in the store also fails the second,
// which was already on its way to Salesforce: both stay pending for the
// next run, and nothing after them is sent. (With one call at a time, at
// most two batches are written and not recorded; the second may be recorded
// with the first, in the same failed transaction, or after it.)
func TestApplyStoreFailureWhilePipelined(t *testing.T) {
	h := newHarness(t)
	h.seed(8)
	run, r := h.planFor()
	st := &pipelineStore{Store: h.st, failAt: 1}
	res, err := Apply(h.ctx, st, h.sf, r, ApplyOptions{RunID: run.ID, BatchSize: 2, Limits: h.cfg.Limits})
	if err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("want the store's error, got %v", err)
	}
	if !slices.Equal(h.sf.batches, []int{2, 2}) {
		t.Fatalf("batches sent %v, want [2 2]: the second goes out while the first is recorded, the third never", h.sf.batches)
	}
	if res.Applied != 0 || len(res.Failed) != 4 {
		t.Fatalf("applied %d, failed %d, want 0 and 4", res.Applied, len(res.Failed))
	}
	for _, f := range res.Failed {
		if !strings.Contains(f.Error, "written to Salesforce but not recorded") {
			t.Fatalf("failure %q", f.Error)
		}
	}
	if n := len(h.links()); n != 0 {
		t.Fatalf("%d links recorded, want none", n)
	}
	recs, err := h.st.ListActions(h.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if countState(recs, StateApplied) != 0 || countState(recs, StateFailed) != 4 || countState(recs, StatePlanned) != 4 {
		t.Fatalf("states: applied %d failed %d planned %d", countState(recs, StateApplied), countState(recs, StateFailed), countState(recs, StatePlanned))
	}
}

// Batches that are back from Salesforce by the time the one before them is
// recorded are recorded with it, in one transaction, in plan order.
func TestApplyRecordsReturnedBatchesTogether(t *testing.T) {
	h := newHarness(t)
	h.seed(8)
	run, r := h.planFor()
	// Calls 2-4 wait until the first batch is being recorded, and that
	// recording waits until they have returned.
	st := &groupStore{Store: h.st, recording: make(chan struct{}), returned: make(chan struct{}, 8)}
	if !writesIdentityLink(r.Actions[0].Kind) {
		t.Fatalf("the plan starts with %s, not a link write", r.Actions[0].Kind)
	}
	first := r.Actions[0].Link.Subject // the first batch starts with the least subject of the first kind
	for _, a := range r.Actions {
		if a.Kind == r.Actions[0].Kind && a.Link.Subject < first {
			first = a.Link.Subject
		}
	}
	w := &heldWriter{LinkWriter: h.sf, st: st, first: first}
	res, err := Apply(h.ctx, st, w, r, ApplyOptions{RunID: run.ID, BatchSize: 2, Concurrency: 4, Limits: h.cfg.Limits})
	if err != nil || res.Applied != 8 {
		t.Fatalf("applied %d: %v", res.Applied, err)
	}
	if got := st.sizes; !slices.Equal(got, []int{2, 6}) {
		t.Fatalf("recorded in transactions of %v changes, want [2 6]: the first batch alone, the three back meanwhile together", got)
	}
	if n := len(h.links()); n != 8 {
		t.Fatalf("%d links recorded", n)
	}
}

// overlapWriter tells the store each time a Salesforce call starts.
type overlapWriter struct {
	*fakeSalesforce
	st *pipelineStore
}

func (w *overlapWriter) UpsertLinks(ctx context.Context, links []identity.Link) ([]identity.WriteResult, error) {
	w.st.next <- struct{}{}
	return w.fakeSalesforce.UpsertLinks(ctx, links)
}

// The store records a batch (or the batches back by then) while the batch
// after them is written to Salesforce.
func TestApplyRecordsWhileTheNextBatchIsWritten(t *testing.T) {
	h := newHarness(t)
	h.seed(8)
	run, r := h.planFor()
	// Every recording but the last waits for the next call: with one call
	// at a time, that call must start before the batches before it are
	// recorded.
	st := &pipelineStore{Store: h.st, batch: 2, batches: 4, next: make(chan struct{}, 8)}
	w := &overlapWriter{fakeSalesforce: h.sf, st: st}
	res, err := Apply(h.ctx, st, w, r, ApplyOptions{RunID: run.ID, BatchSize: 2, Limits: h.cfg.Limits})
	if err != nil || res.Applied != 8 {
		t.Fatalf("applied %d: %v", res.Applied, err)
	}
	if n, calls := st.overlaps.Load(), st.calls.Load(); n != calls-1 || calls < 2 {
		t.Fatalf("%d of %d recordings before the last overlapped the next call", n, calls-1)
	}
	if n := len(h.links()); n != 8 {
		t.Fatalf("%d links recorded", n)
	}
}

// gatedWriter holds each call until `want` calls are in flight at once
// (proving Apply runs them side by side), then lets every call through.
type gatedWriter struct {
	LinkWriter
	want     int
	mu       sync.Mutex
	inflight int
	peak     int
	open     chan struct{}
	opened   bool
}

func (g *gatedWriter) UpsertLinks(ctx context.Context, links []identity.Link) ([]identity.WriteResult, error) {
	g.mu.Lock()
	g.inflight++
	g.peak = max(g.peak, g.inflight)
	if g.inflight == g.want && !g.opened {
		g.opened = true
		close(g.open)
	}
	g.mu.Unlock()
	defer func() { g.mu.Lock(); g.inflight--; g.mu.Unlock() }()
	select {
	case <-g.open:
	case <-time.After(20 * time.Second): // a deadline, not a wait: Apply never reached `want` calls at once
		return nil, fmt.Errorf("only %d calls ever ran at once, want %d", g.peak, g.want)
	}
	return g.LinkWriter.UpsertLinks(ctx, links)
}

// TestApplyWritesConcurrently: with Concurrency 3, three collection calls
// are in flight at once and never more; every link is written and recorded
// once, and the action records keep the plan's order.
func TestApplyWritesConcurrently(t *testing.T) {
	h := newHarness(t)
	h.seed(9)
	run, r := h.planFor()
	g := &gatedWriter{LinkWriter: h.sf, want: 3, open: make(chan struct{})}
	res, err := Apply(h.ctx, h.st, g, r, ApplyOptions{RunID: run.ID, BatchSize: 2, Concurrency: 3, Limits: h.cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	if g.peak != 3 {
		t.Fatalf("peak %d calls in flight, want 3", g.peak)
	}
	if res.Applied != 9 || len(h.sf.batches) != 5 || len(h.links()) != 9 {
		t.Fatalf("applied %d, batches %v, links %d", res.Applied, h.sf.batches, len(h.links()))
	}
	for i, rec := range res.Records {
		if rec.Seq != i+1 || rec.State != StateApplied {
			t.Fatalf("record %d: %+v", i, rec)
		}
	}
	for _, l := range h.links() {
		if hist, _ := h.st.LinkHistory(h.ctx, l.Key()); len(hist) != 1 {
			t.Fatalf("%s recorded %d times", l.Key(), len(hist))
		}
	}
}

// asideStore is the real store; its SaveActions says when it first saved an
// action that no Salesforce call decides.
type asideStore struct {
	*sqlite.Store
	once  sync.Once
	saved chan struct{}
}

func (s *asideStore) SaveActions(ctx context.Context, runID int64, recs []identity.ActionRecord) error {
	err := s.Store.SaveActions(ctx, runID, recs)
	for _, rec := range recs {
		if rec.Action.Kind == identity.ActionProposeLink && rec.State == StateApplied && err == nil {
			s.once.Do(func() { close(s.saved) })
		}
	}
	return err
}

// asideWriter holds its first call until the store saved a recorded
// proposal (or a deadline passed, when Apply does that only after writing).
type asideWriter struct {
	LinkWriter
	saved   <-chan struct{}
	once    sync.Once
	overlap bool
}

func (w *asideWriter) UpsertLinks(ctx context.Context, links []identity.Link) ([]identity.WriteResult, error) {
	w.once.Do(func() {
		select {
		case <-w.saved:
			w.overlap = true
		case <-time.After(5 * time.Second):
		}
	})
	return w.LinkWriter.UpsertLinks(ctx, links)
}

// Proposals are recorded in the store, and saved as applied, while the link
// writes are on their way to Salesforce: the store's work does not wait for
// the calls', nor the calls for it.
func TestApplyRecordsProposalsWhileWriting(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	run, err := h.st.StartRun(ctx, identity.KindBackfill, "test")
	if err != nil {
		t.Fatal(err)
	}
	// User 1 matches by UPN only (a proposal); users 2-5 by object id (writes).
	es := []identity.EntraUser{eu(1)}
	ss := []identity.SalesforceUser{su(1, "u1@contoso.com", "")}
	for i := 2; i <= 5; i++ {
		es = append(es, eu(i))
		ss = append(ss, su(i, fmt.Sprintf("u%d@contoso.com", i), oid(i)))
	}
	if err := h.st.UpsertEntraUsers(ctx, run.ID, es, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.st.UpsertSalesforceUsers(ctx, run.ID, ss, nil); err != nil {
		t.Fatal(err)
	}
	run.Status = identity.StatusSucceeded
	if err := h.st.FinishRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	run, r := h.planFor()
	st := &asideStore{Store: h.st, saved: make(chan struct{})}
	w := &asideWriter{LinkWriter: h.sf, saved: st.saved}
	res, err := Apply(ctx, st, w, r, ApplyOptions{RunID: run.ID, BatchSize: 2, Limits: h.cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	if !w.overlap {
		t.Fatal("the first link write went out only after the proposal was recorded and saved, or not at all")
	}
	if res.Applied != 5 || len(res.Failed) != 0 {
		t.Fatalf("applied %d, failed %v; want 5 and none", res.Applied, res.Failed)
	}
	recs, err := h.st.ListActions(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(r.Actions) || countState(recs, StateApplied) != 5 {
		t.Fatalf("saved %d records (%d applied) of %d actions: %+v", len(recs), countState(recs, StateApplied), len(r.Actions), recs)
	}
	for i, rec := range recs {
		if rec.Seq != i+1 || rec.Action.Kind != r.Actions[i].Kind {
			t.Fatalf("record %d is %+v, want action %d (%s)", i, rec, i+1, r.Actions[i].Kind)
		}
	}
}

// groupStore is the real store; its first ApplyLinkChanges says it started
// and waits (up to a deadline) for three Salesforce calls to return.
type groupStore struct {
	*sqlite.Store
	mu        sync.Mutex
	sizes     []int
	recording chan struct{}
	returned  chan struct{}
}

func (s *groupStore) ApplyLinkChanges(ctx context.Context, runID int64, changes []identity.LinkChange) error {
	s.mu.Lock()
	first := len(s.sizes) == 0
	s.sizes = append(s.sizes, len(changes))
	s.mu.Unlock()
	if first && len(changes) == 2 {
		close(s.recording)
		deadline := time.After(10 * time.Second)
		for range 3 {
			select {
			case <-s.returned:
			case <-deadline:
				return errors.New("the other calls did not return")
			}
		}
	}
	return s.Store.ApplyLinkChanges(ctx, runID, changes)
}

// heldWriter lets the first batch through and holds the others until the
// store records it (the calls may start in any order).
type heldWriter struct {
	LinkWriter
	st    *groupStore
	first string // the subject the first batch starts with
}

func (w *heldWriter) UpsertLinks(ctx context.Context, links []identity.Link) ([]identity.WriteResult, error) {
	if links[0].Subject == w.first {
		return w.LinkWriter.UpsertLinks(ctx, links)
	}
	<-w.st.recording
	defer func() { w.st.returned <- struct{}{} }()
	return w.LinkWriter.UpsertLinks(ctx, links)
}

// orderWriter records the subjects of each call, in the order the calls
// come.
type orderWriter struct {
	LinkWriter
	mu    sync.Mutex
	calls [][]string
}

func (w *orderWriter) UpsertLinks(ctx context.Context, links []identity.Link) ([]identity.WriteResult, error) {
	w.mu.Lock()
	var subs []string
	for _, l := range links {
		subs = append(subs, l.Subject)
	}
	w.calls = append(w.calls, subs)
	w.mu.Unlock()
	return w.LinkWriter.UpsertLinks(ctx, links)
}

// Link writes go out in the plan's order of kinds (revokes before updates
// before creates) and, within a kind, in the order of their subjects, so
// that each batch the store records holds neighbouring keys; the store
// records them in that order too.
func TestApplyWritesEachKindInSubjectOrder(t *testing.T) {
	h := linkedHarness(t, 4)
	run, err := h.st.StartRun(h.ctx, identity.KindRun, "test")
	if err != nil {
		t.Fatal(err)
	}
	revoke := func(n int) identity.Action {
		return identity.Action{Kind: identity.ActionRevokeLink, Link: link(pB, oid(n), n, n, identity.LinkRevoked)}
	}
	update := func(n int) identity.Action {
		return identity.Action{Kind: identity.ActionUpdateLink, Link: link(pB, oid(n), 50+n, n, identity.LinkActive)}
	}
	create := func(n int) identity.Action {
		return identity.Action{Kind: identity.ActionCreateLink, Link: link(pB, oid(n), n, n, identity.LinkActive)}
	}
	r := &Result{Actions: []identity.Action{revoke(3), revoke(1), update(4), update(2), create(9), create(7), create(8)},
		Disruptive: []int{0, 1, 2, 3}, ActiveLinks: 4}
	w := &orderWriter{LinkWriter: h.sf}
	res, err := Apply(h.ctx, h.st, w, r, ApplyOptions{RunID: run.ID, BatchSize: 2, Concurrency: 1, Limits: noLimits})
	if err != nil || res.Applied != 7 {
		t.Fatalf("applied %d: %v", res.Applied, err)
	}
	want := [][]string{{oid(1), oid(3)}, {oid(2), oid(4)}, {oid(7), oid(8)}, {oid(9)}}
	if !slices.EqualFunc(w.calls, want, slices.Equal[[]string]) {
		t.Fatalf("calls %v, want %v", w.calls, want)
	}
	// The records of the run's actions stay in the plan's order.
	for i, rec := range res.Records {
		if rec.Action.Link.Subject != r.Actions[i].Link.Subject || rec.State != StateApplied {
			t.Fatalf("record %d: %s %s, want %s applied", i, rec.Action.Link.Subject, rec.State, r.Actions[i].Link.Subject)
		}
	}
}

// lastHeldWriter holds the call of the batch that starts with subject last
// until decided is closed (or a deadline passed, when Apply saves the
// writes' records only after the last call).
type lastHeldWriter struct {
	LinkWriter
	last    string
	decided <-chan struct{}
	overlap bool
}

func (w *lastHeldWriter) UpsertLinks(ctx context.Context, links []identity.Link) ([]identity.WriteResult, error) {
	if links[0].Subject == w.last {
		select {
		case <-w.decided:
			w.overlap = true
		case <-time.After(5 * time.Second):
		}
	}
	return w.LinkWriter.UpsertLinks(ctx, links)
}

// The records of the link writes are saved, and handed to Decided, as their
// batches are recorded, while the later batches are on their way: what
// depends on them (the job's assessments) need not wait for the last call.
// Decided sees every action's record once.
func TestApplySavesWriteRecordsWhileWriting(t *testing.T) {
	h := newHarness(t)
	h.seed(6)
	run, r := h.planFor()
	var subs []string
	for _, a := range r.Actions {
		if a.Kind != identity.ActionCreateLink {
			t.Fatalf("the plan holds a %s; want six creates", a.Kind)
		}
		subs = append(subs, a.Link.Subject)
	}
	slices.Sort(subs)
	firstDecided := make(chan struct{})
	w := &lastHeldWriter{LinkWriter: h.sf, last: subs[4], decided: firstDecided}
	seen := map[int]int{}
	decided := func(recs []identity.ActionRecord) error {
		for _, rec := range recs {
			seen[rec.Seq]++
			if rec.State == StateApplied && len(seen) == 1 {
				close(firstDecided)
			}
		}
		return nil
	}
	res, err := Apply(h.ctx, h.st, w, r, ApplyOptions{RunID: run.ID, BatchSize: 2, Concurrency: 1, Limits: h.cfg.Limits, Decided: decided})
	if err != nil || res.Applied != 6 {
		t.Fatalf("applied %d: %v", res.Applied, err)
	}
	if !w.overlap {
		t.Fatal("the last batch went out before any write's record was saved and decided")
	}
	for seq := 1; seq <= len(r.Actions); seq++ {
		if seen[seq] != 1 {
			t.Fatalf("Decided saw the record of action %d %d times, want once (%v)", seq, seen[seq], seen)
		}
	}
	recs, err := h.st.ListActions(h.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 || countState(recs, StateApplied) != 6 {
		t.Fatalf("saved %d records, %d applied; want 6 applied", len(recs), countState(recs, StateApplied))
	}
}
