package reconcile

import (
	"context"
	"fmt"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// Source is the part of store.Store a snapshot is read from.
type Source interface {
	ScanEntraUsers(ctx context.Context, fn func(identity.EntraUser) error) error
	ScanSalesforceUsers(ctx context.Context, fn func(identity.SalesforceUser) error) error
	ScanAccountLinks(ctx context.Context, fn func(identity.ThirdPartyAccountLink) error) error
	ScanLinks(ctx context.Context, fn func(identity.Link) error) error
	ScanRemoteLinks(ctx context.Context, fn func(identity.Link) error) error
	ScanObservations(ctx context.Context, fn func(identity.Observation) error) error
	ScanDecisions(ctx context.Context, fn func(store.Decision) error) error
}

// Load streams a snapshot out of the store, one row at a time.
func Load(ctx context.Context, src Source) (*Snapshot, error) {
	s := NewSnapshot()
	steps := []struct {
		what string
		scan func() error
	}{
		{"Entra users", func() error { return src.ScanEntraUsers(ctx, s.AddEntraUser) }},
		{"Salesforce users", func() error { return src.ScanSalesforceUsers(ctx, s.AddSalesforceUser) }},
		{"ThirdPartyAccountLink rows", func() error { return src.ScanAccountLinks(ctx, s.AddAccountLink) }},
		{"links", func() error { return src.ScanLinks(ctx, s.AddLink) }},
		{"Identity_Link__c rows", func() error { return src.ScanRemoteLinks(ctx, s.AddRemoteLink) }},
		{"observations", func() error { return src.ScanObservations(ctx, s.AddObservation) }},
		{"decisions", func() error { return src.ScanDecisions(ctx, s.AddDecision) }},
	}
	for _, st := range steps {
		if err := st.scan(); err != nil {
			return nil, fmt.Errorf("load snapshot: read %s: %w", st.what, err)
		}
	}
	return s, nil
}
