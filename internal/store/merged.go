package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// An incremental run saves only the assessments of the identities its
// changes reached (ReplaceAssessments names them) and keeps its plan base's
// for every other identity; the base may itself keep an older run's. A run's
// assessments are its own, then each older run's in the chain about the
// identities no newer run in it replaced. The chain ends at a full plan.

// IdentitySet names identities as an assessment or an action is about
// them: by object id, by Salesforce user id, and for actions by subject
// (reconcile.AssessmentIn and reconcile.ActionIn, which
// TestReplacedAgreesWithTheClosure holds these to).
type IdentitySet struct {
	ObjectIDs     map[string]bool
	SalesforceIDs map[string]bool
	Subjects      map[identity.LinkKey]bool
}

// Replaced names the identities an incremental run planned again: the
// object ids, Salesforce user ids and subjects of its closure.
type Replaced struct {
	ObjectIDs     []string
	SalesforceIDs []string
	Subjects      []identity.LinkKey
}

// NewIdentitySet returns the set of the given ids.
func NewIdentitySet(r Replaced) IdentitySet {
	s := IdentitySet{ObjectIDs: make(map[string]bool, len(r.ObjectIDs)), SalesforceIDs: make(map[string]bool, len(r.SalesforceIDs)),
		Subjects: make(map[identity.LinkKey]bool, len(r.Subjects))}
	for _, o := range r.ObjectIDs {
		s.ObjectIDs[o] = true
	}
	for _, id := range r.SalesforceIDs {
		s.SalesforceIDs[id] = true
	}
	for _, k := range r.Subjects {
		s.Subjects[k] = true
	}
	return s
}

// Lists returns the object and Salesforce ids in s, in no order.
func (s IdentitySet) Lists() (oids, sfs []string) {
	for o := range s.ObjectIDs {
		oids = append(oids, o)
	}
	for id := range s.SalesforceIDs {
		sfs = append(sfs, id)
	}
	return oids, sfs
}

// The kinds of a run_replaced row: an object id, a Salesforce user id, or
// a subject, whose kind names its provider ("sub:" + provider).
const (
	replacedObjectID     = "oid"
	replacedSalesforceID = "sf"
	replacedSubject      = "sub:"
)

// ReplacedRows are the (kind, value) rows a backend stores in run_replaced
// for the identities named.
func ReplacedRows(r Replaced) (kinds, values []string) {
	n := len(r.ObjectIDs) + len(r.SalesforceIDs) + len(r.Subjects)
	kinds, values = make([]string, 0, n), make([]string, 0, n)
	for _, o := range r.ObjectIDs {
		kinds, values = append(kinds, replacedObjectID), append(values, o)
	}
	for _, id := range r.SalesforceIDs {
		kinds, values = append(kinds, replacedSalesforceID), append(values, id)
	}
	for _, k := range r.Subjects {
		kinds, values = append(kinds, replacedSubject+k.Provider), append(values, k.Subject)
	}
	return kinds, values
}

// AddReplaced adds one run_replaced row to s.
func (s IdentitySet) AddReplaced(kind, value string) {
	switch {
	case kind == replacedObjectID:
		s.ObjectIDs[value] = true
	case kind == replacedSalesforceID:
		s.SalesforceIDs[value] = true
	case strings.HasPrefix(kind, replacedSubject):
		s.Subjects[identity.LinkKey{Provider: strings.TrimPrefix(kind, replacedSubject), Subject: value}] = true
	}
}

// ActionKeys are the subjects (of any provider), Salesforce user ids and
// object ids in s: what a backend filters actions by before HasAction.
func (s IdentitySet) ActionKeys() (subjects, salesforceIDs, objectIDs []string) {
	seen := map[string]bool{}
	for k := range s.Subjects {
		if !seen[k.Subject] {
			seen[k.Subject] = true
			subjects = append(subjects, k.Subject)
		}
	}
	objectIDs, salesforceIDs = s.Lists()
	return subjects, salesforceIDs, objectIDs
}

// Has reports whether a is about an identity of s: its Entra user (by the
// object id in canonical form), or for one without, its Salesforce user.
func (s IdentitySet) Has(a identity.Assessment) bool {
	if a.ObjectID != "" {
		oid, ok := identity.NormalizeGUID(a.ObjectID)
		return ok && s.ObjectIDs[oid]
	}
	return s.SalesforceIDs[a.SalesforceUserID]
}

// HasAction reports whether a concerns an identity of s: its subject, its
// Salesforce user or its Entra user (by the object id in canonical form).
func (s IdentitySet) HasAction(a identity.Action) bool {
	l := &a.Link
	if l.Subject != "" && s.Subjects[identity.LinkKey{Provider: l.Provider, Subject: l.Subject}] {
		return true
	}
	if l.SalesforceUserID != "" && s.SalesforceIDs[l.SalesforceUserID] {
		return true
	}
	oid, ok := identity.NormalizeGUID(l.ObjectID)
	return ok && s.ObjectIDs[oid]
}

// ChainReader is what a backend gives MergeAssessments and MergeActions: a
// run's record, the assessments and the actions it saved itself (only those
// about about, when not nil, as far as a filter makes that cheap: the
// merge checks again), the actions in Seq order and only its flags when
// flagsOnly, and its run_replaced rows, each given to add.
type ChainReader struct {
	Run        func(ctx context.Context, id int64) (identity.Run, error)
	Own        func(ctx context.Context, id int64, about *IdentitySet, fn func(identity.Assessment) error) error
	OwnActions func(ctx context.Context, id int64, flagsOnly bool, about *IdentitySet, fn func(identity.ActionRecord) error) error
	Replaced   func(ctx context.Context, id int64, add func(kind, value string)) error
}

// MergeAssessments streams the assessments of run id, following its chain of
// plan bases; with about, only those about its identities.
func MergeAssessments(ctx context.Context, c ChainReader, id int64, about *IdentitySet, fn func(identity.Assessment) error) error {
	return walkChain(ctx, c, id, "assessments", func(run int64, _ bool, replaced IdentitySet) error {
		return c.Own(ctx, run, about, func(a identity.Assessment) error {
			if (about != nil && !about.Has(a)) || replaced.Has(a) {
				return nil
			}
			return fn(a)
		})
	})
}

// MergeActions streams the actions of run id: those it saved itself, in Seq
// order, then the flags of each older run in its chain about identities no
// newer run in it replaced; with about, only those about its identities.
// An incremental run keeps only flags: every other action of its base was
// written, so the store journaled it and its identity is replaced. The kept
// flags are numbered on after the run's own actions, so that Seq stays
// unique within the run (with about, the numbers are not those a whole
// listing gives).
func MergeActions(ctx context.Context, c ChainReader, id int64, about *IdentitySet, fn func(identity.ActionRecord) error) error {
	seq := 0
	return walkChain(ctx, c, id, "actions", func(run int64, first bool, replaced IdentitySet) error {
		return c.OwnActions(ctx, run, !first, about, func(r identity.ActionRecord) error {
			if about != nil && !about.HasAction(r.Action) {
				return nil
			}
			if first {
				seq = max(seq, r.Seq)
				return fn(r)
			}
			if r.Action.Kind != identity.ActionFlag || replaced.HasAction(r.Action) {
				return nil
			}
			seq++
			r.Seq = seq
			return fn(r)
		})
	})
}

// walkChain calls own for run id and then for each run of its chain of plan
// bases, oldest last, with the identities the runs before it in the walk
// replaced. The chain ends at a full plan.
func walkChain(ctx context.Context, c ChainReader, id int64, what string, own func(id int64, first bool, replaced IdentitySet) error) error {
	replaced := NewIdentitySet(Replaced{})
	for first := true; ; first = false {
		run, err := c.Run(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case first && run.DetailsPruned:
			return nil // none kept (the report says so)
		case run.DetailsPruned:
			return fmt.Errorf("the %s build on those of run %d, which are no longer kept: %w", what, id, ErrNotFound)
		}
		if err := own(id, first, replaced); err != nil {
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
