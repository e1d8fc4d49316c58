package store

import (
	"context"
	"fmt"

	"github.com/idlinkhq/idlink/internal/identity"
)

// An incremental run saves only the assessments of the identities its
// changes reached (ReplaceAssessments names them) and keeps its plan base's
// for every other identity; the base may itself keep an older run's. A run's
// assessments are its own, then each older run's in the chain about the
// identities no newer run in it replaced. The chain ends at a full plan.

// IdentitySet names identities as an assessment is about them: by object
// id, or for one without, by Salesforce user id (reconcile.AssessmentIn).
type IdentitySet struct {
	ObjectIDs     map[string]bool
	SalesforceIDs map[string]bool
}

// NewIdentitySet returns the set of the given ids.
func NewIdentitySet(oids, sfs []string) IdentitySet {
	s := IdentitySet{ObjectIDs: make(map[string]bool, len(oids)), SalesforceIDs: make(map[string]bool, len(sfs))}
	s.Add(oids, sfs)
	return s
}

// Add adds ids to s.
func (s IdentitySet) Add(oids, sfs []string) {
	for _, o := range oids {
		s.ObjectIDs[o] = true
	}
	for _, id := range sfs {
		s.SalesforceIDs[id] = true
	}
}

// Lists returns the ids in s, in no order.
func (s IdentitySet) Lists() (oids, sfs []string) {
	for o := range s.ObjectIDs {
		oids = append(oids, o)
	}
	for id := range s.SalesforceIDs {
		sfs = append(sfs, id)
	}
	return oids, sfs
}

// The kinds of a run_replaced row: an object id, or a Salesforce user id
// (for assessments without an object id).
const (
	replacedObjectID     = "oid"
	replacedSalesforceID = "sf"
)

// ReplacedRows are the (kind, value) rows a backend stores in run_replaced
// for the identities named.
func ReplacedRows(oids, sfs []string) (kinds, values []string) {
	kinds, values = make([]string, 0, len(oids)+len(sfs)), make([]string, 0, len(oids)+len(sfs))
	for _, o := range oids {
		kinds, values = append(kinds, replacedObjectID), append(values, o)
	}
	for _, id := range sfs {
		kinds, values = append(kinds, replacedSalesforceID), append(values, id)
	}
	return kinds, values
}

// AddReplaced adds one run_replaced row to s.
func (s IdentitySet) AddReplaced(kind, value string) {
	if kind == replacedObjectID {
		s.ObjectIDs[value] = true
	} else {
		s.SalesforceIDs[value] = true
	}
}

// Has reports whether a is about an identity of s.
func (s IdentitySet) Has(a identity.Assessment) bool {
	if a.ObjectID != "" {
		return s.ObjectIDs[a.ObjectID]
	}
	return s.SalesforceIDs[a.SalesforceUserID]
}

// ChainReader is what a backend gives MergeAssessments: a run's record, the
// assessments it saved itself (only those about about, when not nil, as
// far as an index or filter makes that cheap; MergeAssessments checks
// again), and its run_replaced rows, each given to add.
type ChainReader struct {
	Run      func(ctx context.Context, id int64) (identity.Run, error)
	Own      func(ctx context.Context, id int64, about *IdentitySet, fn func(identity.Assessment) error) error
	Replaced func(ctx context.Context, id int64, add func(kind, value string)) error
}

// MergeAssessments streams the assessments of run id, following its chain of
// plan bases; with about, only those about its identities.
func MergeAssessments(ctx context.Context, c ChainReader, id int64, about *IdentitySet, fn func(identity.Assessment) error) error {
	replaced := NewIdentitySet(nil, nil)
	for first := true; ; first = false {
		run, err := c.Run(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case first && run.DetailsPruned:
			return nil // none kept (the report says so)
		case run.DetailsPruned:
			return fmt.Errorf("the assessments build on those of run %d, which are no longer kept: %w", id, ErrNotFound)
		}
		err = c.Own(ctx, id, about, func(a identity.Assessment) error {
			if (about != nil && !about.Has(a)) || replaced.Has(a) {
				return nil
			}
			return fn(a)
		})
		if err != nil {
			return err
		}
		if run.PlanBase == 0 {
			return nil
		}
		if run.PlanBase >= id {
			return fmt.Errorf("run %d builds on run %d, which is not older", id, run.PlanBase)
		}
		if err := c.Replaced(ctx, id, replaced.AddReplaced); err != nil {
			return err
		}
		id = run.PlanBase
	}
}
