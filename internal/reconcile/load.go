package reconcile

import (
	"context"
	"fmt"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Mirror is what a snapshot reads of both sides, as the last sync stored them.
type Mirror interface {
	ScanEntraUsers(ctx context.Context, fn func(identity.EntraUser) error) error
	ScanSalesforceUsers(ctx context.Context, fn func(identity.SalesforceUser) error) error
	ScanAccountLinks(ctx context.Context, fn func(identity.ThirdPartyAccountLink) error) error
	ScanRemoteLinks(ctx context.Context, fn func(identity.Link) error) error
}

// State is idlink's own records a snapshot reads: links, observations and
// their conflicts, admins' decisions.
type State interface {
	ScanLinks(ctx context.Context, fn func(identity.Link) error) error
	ScanObservations(ctx context.Context, fn func(identity.Observation) error) error
	ListObservationConflicts(ctx context.Context) ([]identity.ObservationConflict, error)
	ScanDecisions(ctx context.Context, fn func(identity.Decision) error) error
}

// LoadSalesforce adds Salesforce's users and ThirdPartyAccountLink rows to
// a new snapshot s: the first half of a snapshot's load, LoadRest the
// second. A run passes the same store as mirror and state; a dry run reads
// both sides into a scratch store and its state from the real one. A
// backfill reads both sides at once and Salesforce's is the shorter chain,
// so its first half is loaded while Entra is still being read.
func LoadSalesforce(ctx context.Context, mirror Mirror, s *Snapshot) error {
	return loadSteps([]loadStep{
		{"Salesforce users", func() error { return streamed(ctx, mirror.ScanSalesforceUsers, s.AddSalesforceUser) }},
		{"ThirdPartyAccountLink rows", func() error { return streamed(ctx, mirror.ScanAccountLinks, s.AddAccountLink) }},
	})
}

// LoadRest adds what LoadSalesforce did not to s: Entra's users,
// Identity_Link__c rows, and idlink's own records. It ends the load: s is
// then fitted to what it holds, for Plan.
func LoadRest(ctx context.Context, mirror Mirror, state State, s *Snapshot) error {
	if err := loadSteps([]loadStep{
		{"Entra users", func() error { return streamed(ctx, mirror.ScanEntraUsers, s.AddEntraUser) }},
		{"Identity_Link__c rows", func() error { return streamed(ctx, mirror.ScanRemoteLinks, s.AddRemoteLink) }},
		{"links", func() error { return streamed(ctx, state.ScanLinks, s.AddLink) }},
		{"observations", func() error { return streamed(ctx, state.ScanObservations, s.AddObservation) }},
		{"observation conflicts", func() error {
			cs, err := state.ListObservationConflicts(ctx)
			for _, c := range cs {
				if err == nil {
					err = s.AddObservationConflict(c)
				}
			}
			return err
		}},
		{"decisions", func() error { return streamed(ctx, state.ScanDecisions, s.AddDecision) }},
	}); err != nil {
		return err
	}
	s.fit()
	return nil
}

type loadStep struct {
	what string
	scan func() error
}

func loadSteps(steps []loadStep) error {
	for _, st := range steps {
		if err := st.scan(); err != nil {
			return fmt.Errorf("load %s from the store: %w", st.what, err)
		}
	}
	return nil
}

// streamed hands the rows scan streams to add, in order, with the scan in a
// goroutine of its own a few batches ahead: decoding the store's rows and
// adding them to the snapshot cost about as much each (1.5 and 1.2 s of CPU
// for a million Entra users), and after the read a run's two cores are
// otherwise idle while it loads. An error of either side stops both and is
// returned (add's first).
func streamed[T any](ctx context.Context, scan func(context.Context, func(T) error) error, add func(T) error) error {
	const batch = 512
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan []T, 4)
	free := make(chan []T, 5) // batches added, for the scan to fill again
	scanned := make(chan error, 1)
	go func() {
		defer close(full)
		buf := make([]T, 0, batch)
		send := func() error {
			select {
			case full <- buf:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case buf = <-free:
			default:
				buf = make([]T, 0, batch)
			}
			return nil
		}
		err := scan(ctx, func(v T) error {
			if buf = append(buf, v); len(buf) == batch {
				return send()
			}
			return nil
		})
		if err == nil && len(buf) > 0 {
			err = send()
		}
		scanned <- err
	}()
	var addErr error
	for b := range full {
		for _, v := range b {
			if addErr != nil {
				break
			}
			if addErr = add(v); addErr != nil {
				cancel() // the scan stops at its next row; full is drained until it does
			}
		}
		clear(b) // the rows' strings are the snapshot's copies now, or garbage
		select {
		case free <- b[:0]:
		default:
		}
	}
	if err := <-scanned; addErr == nil {
		return err
	}
	return addErr
}
