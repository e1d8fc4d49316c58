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

// Load streams everything Plan needs, one row at a time: the mirror of both
// sides from mirror, idlink's own records from state. A run passes the same
// store twice; a dry run reads both sides into a scratch store and its state
// from the real one. It is LoadSalesforce and LoadRest in turn; a caller
// whose Salesforce side is read before its Entra side (a backfill reads
// both at once, and Salesforce's is the shorter chain) runs the first while
// Entra is still being read.
func Load(ctx context.Context, mirror Mirror, state State) (*Snapshot, error) {
	s := NewSnapshot()
	if err := LoadSalesforce(ctx, mirror, s); err != nil {
		return nil, err
	}
	if err := LoadRest(ctx, mirror, state, s); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadSalesforce adds Salesforce's users and ThirdPartyAccountLink rows to
// a new snapshot s.
func LoadSalesforce(ctx context.Context, mirror Mirror, s *Snapshot) error {
	return loadSteps([]loadStep{
		{"Salesforce users", func() error { return mirror.ScanSalesforceUsers(ctx, s.AddSalesforceUser) }},
		{"ThirdPartyAccountLink rows", func() error { return mirror.ScanAccountLinks(ctx, s.AddAccountLink) }},
	})
}

// LoadRest adds what LoadSalesforce did not to s: Entra's users,
// Identity_Link__c rows, and idlink's own records.
func LoadRest(ctx context.Context, mirror Mirror, state State, s *Snapshot) error {
	return loadSteps([]loadStep{
		{"Entra users", func() error { return mirror.ScanEntraUsers(ctx, s.AddEntraUser) }},
		{"Identity_Link__c rows", func() error { return mirror.ScanRemoteLinks(ctx, s.AddRemoteLink) }},
		{"links", func() error { return state.ScanLinks(ctx, s.AddLink) }},
		{"observations", func() error { return state.ScanObservations(ctx, s.AddObservation) }},
		{"observation conflicts", func() error {
			cs, err := state.ListObservationConflicts(ctx)
			for _, c := range cs {
				if err == nil {
					err = s.AddObservationConflict(c)
				}
			}
			return err
		}},
		{"decisions", func() error { return state.ScanDecisions(ctx, s.AddDecision) }},
	})
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
