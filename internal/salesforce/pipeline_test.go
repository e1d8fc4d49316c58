package salesforce

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
)

// waited waits up to a second for ch: a sequential client never gets there,
// so the test fails after the wait instead of hanging.
func waited(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(time.Second):
		return false
	}
}

// overlapSink holds the first User page until the ThirdPartyAccountLink read
// has delivered a page: only concurrent reads of the objects get past it.
type overlapSink struct {
	Sink
	mu       sync.Mutex
	links    chan struct{} // closed at the first ThirdPartyAccountLink page
	once     sync.Once
	overlap  bool
	userPage int
}

func (s *overlapSink) UpsertAccountLinks(ctx context.Context, runID int64, l []identity.ThirdPartyAccountLink) error {
	s.once.Do(func() { close(s.links) })
	return s.Sink.UpsertAccountLinks(ctx, runID, l)
}

func (s *overlapSink) UpsertSalesforceUsers(ctx context.Context, runID int64, u []identity.SalesforceUser, cur *identity.Cursor) error {
	s.mu.Lock()
	s.userPage++
	first := s.userPage == 1
	s.mu.Unlock()
	if first {
		s.overlap = waited(s.links)
	}
	return s.Sink.UpsertSalesforceUsers(ctx, runID, u, cur)
}

func TestReadAllReadsTheObjectsConcurrently(t *testing.T) {
	srv := newSim(t, 4500, 700)
	c := newClient(t, ccConfig(srv))
	st, run := openStore(t)
	sink := &overlapSink{Sink: st, links: make(chan struct{})}
	stats, err := c.ReadAll(context.Background(), sink, run, Full)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Users != 4501 || stats.AccountLinks != 700 {
		t.Fatalf("stats %+v", stats)
	}
	if !sink.overlap {
		t.Fatal("the ThirdPartyAccountLink read did not progress while the User read was storing its first page")
	}
	if s := c.Stats(); s.TokenRequests != 1 {
		t.Fatalf("%d token requests for three concurrent reads, want 1", s.TokenRequests)
	}
}

// The first failure is the error ReadAll returns, not the cancellation it
// causes in the other reads.
func TestReadAllReturnsTheFirstFailure(t *testing.T) {
	srv := newSim(t, 4500, 700)
	c := newClient(t, ccConfig(srv))
	st, run := openStore(t)
	boom := errors.New("store is full")
	sink := &failingLinksSink{Sink: st, err: boom}
	_, err := c.ReadAll(context.Background(), sink, run, Full)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the store's error", err)
	}
}

type failingLinksSink struct {
	Sink
	err error
}

func (s *failingLinksSink) UpsertAccountLinks(context.Context, int64, []identity.ThirdPartyAccountLink) error {
	return s.err
}

// prefetchSink holds each User page until the simulator has been asked for
// the next one: the client requests page k+1 while page k is stored.
type prefetchSink struct {
	UserSink
	srv        *sfsim.Server
	pages      int
	prefetched int
}

func (s *prefetchSink) UpsertSalesforceUsers(ctx context.Context, runID int64, u []identity.SalesforceUser, cur *identity.Cursor) error {
	s.pages++
	if cur == nil { // not the last page
		want := int64(s.pages) // nextRecordsUrl requests once page k+1 is asked for
		if waited(s.srv.Faults().Reached(sfsim.EndpointQueryMore, want)) {
			s.prefetched++
		}
	}
	return s.UserSink.UpsertSalesforceUsers(ctx, runID, u, cur)
}

func TestQueryRequestsTheNextPageWhileStoringOne(t *testing.T) {
	s := newSim(t, 4500, 0) // 3 pages of 2,000
	c := newClient(t, ccConfig(s))
	st, run := openStore(t)
	sink := &prefetchSink{UserSink: st, srv: s}
	n, _, err := c.ReadUsers(context.Background(), sink, run, Full)
	if err != nil || n != 4501 {
		t.Fatalf("read %d: %v", n, err)
	}
	if sink.pages != 3 || sink.prefetched != 2 {
		t.Fatalf("%d of %d pages were stored while the next was requested, want 2 of 3", sink.prefetched, sink.pages)
	}
	if got := countUsers(t, st); got != 4501 {
		t.Fatalf("stored %d users", got)
	}
}
