package reconcile

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// ErrHeld is matched (errors.Is) by the error Apply returns when the safety
// limit stopped a run before it wrote anything. The CLI maps it to its own
// exit code.
var ErrHeld = errors.New("plan held by the safety limit")

// Override lets a plan past the safety limit. It names the held run whose
// listed changes the admin reviewed; the new plan may go ahead only if every
// disruptive change in it was among that run's held actions.
type Override struct {
	RunID int64
}

// HeldError describes a held plan.
type HeldError struct {
	Disruptive  int
	ActiveLinks int
	Limits      Limits
	// Reasons say which limits the plan broke, with the numbers.
	Reasons []string
	// Held are the actions that were not written because of the limit:
	// the disruptive ones and, when the create limit broke, the computed creates.
	Held []identity.Action
	// Note explains why an override did not release the plan, if one was given.
	Note string
	// Foreign is set when rows of another idlink database held the plan:
	// no override releases that, only an adoption.
	Foreign bool
	// idx are the indexes of Held in the plan's Actions.
	idx []int
}

func (e *HeldError) Error() string {
	msg := "plan held by the safety limit: " + strings.Join(e.Reasons, "; ") + "; nothing was written: review the held actions and re-run with an override naming this run"
	if e.Note != "" {
		msg += " (" + e.Note + ")"
	}
	return msg
}

func (e *HeldError) Is(target error) bool { return target == ErrHeld }

func (l Limits) String() string {
	off := func(v float64, f string) string {
		if v > 0 {
			return fmt.Sprintf(f, v)
		}
		return "off"
	}
	return "max " + off(float64(l.MaxChanges), "%g") + " changes, max " + off(l.MaxPercent, "%g%%") + " of active links, max " +
		off(float64(l.MaxCreates), "%g") + " computed creates, max " + off(l.MaxCreatePercent, "%g%%") + " of matched identities, max coverage drop " +
		off(l.MaxCoverageDrop, "%g points")
}

// Exceeded reports whether disruptive changes out of active links break the
// limits. 0 active links (a first backfill) only has the count limit.
func (l Limits) Exceeded(disruptive, active int) bool {
	if disruptive == 0 {
		return false
	}
	if l.MaxChanges > 0 && disruptive > l.MaxChanges {
		return true
	}
	if l.MaxPercent > 0 && active > 0 && float64(disruptive)*100 > l.MaxPercent*float64(active) {
		return true
	}
	return false
}

// createsExceeded reports whether computed creates break the create limits.
// Before any link is active (a first backfill) creates are not limited:
// creating everyone's link is what a first backfill is for, and its dry run
// is the plan to review.
func (l Limits) createsExceeded(creates, matched, active int) bool {
	if creates == 0 || active == 0 {
		return false
	}
	if l.MaxCreates > 0 && creates > l.MaxCreates {
		return true
	}
	return l.MaxCreatePercent > 0 && matched > 0 && float64(creates)*100 > l.MaxCreatePercent*float64(matched)
}

// Coverage is how many identities that should be able to sign in have a
// link (situations linked, unlinked, unmatched, disputed, misrouted).
type Coverage struct {
	Linked, Total int
}

// Percent is the linked share, 0-100.
func (c Coverage) Percent() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.Linked) * 100 / float64(c.Total)
}

// CoverageOf counts a run's situation counts ("situation.<name>").
func CoverageOf(counts map[string]int64) Coverage {
	var c Coverage
	for _, s := range []identity.Situation{identity.Linked, identity.Unlinked, identity.Unmatched, identity.Disputed, identity.Misrouted} {
		c.Total += int(counts[identity.SituationKey(s)])
	}
	c.Linked = int(counts[identity.SituationKey(identity.Linked)])
	return c
}

// CoverageAfter is the coverage the plan leads to once applied: linked
// identities plus unlinked ones whose active link it creates.
func CoverageAfter(r *Result) Coverage {
	created := map[identity.LinkKey]string{}
	for _, a := range r.Actions {
		if (a.Kind == identity.ActionCreateLink || a.Kind == identity.ActionUpdateLink || a.Kind == identity.ActionAdoptLink) && a.Link.Status == identity.LinkActive {
			created[a.Link.Key()] = a.Link.SalesforceUserID
		}
	}
	c := r.keptCoverage()
	as := &r.Assessments
	for i := range as.Len() {
		switch as.Situation(i) { // the rest of an assessment is read only when needed
		case identity.Linked:
			c.Linked++
		case identity.Unlinked:
			if a := as.At(i); a.Subject != "" {
				if sf, ok := created[identity.LinkKey{Provider: a.Provider, Subject: a.Subject}]; ok && sf == a.SalesforceUserID {
					c.Linked++
				}
			}
		case identity.Unmatched, identity.Disputed, identity.Misrouted:
		default:
			continue
		}
		c.Total++
	}
	return c
}

// CheckLimits returns a *HeldError when r breaks l, else nil. baseline is
// the coverage of the previous successful run (nil: none, the coverage
// limit does not apply).
func CheckLimits(r *Result, l Limits, baseline *Coverage) *HeldError {
	h := &HeldError{Disruptive: len(r.Disruptive), ActiveLinks: r.ActiveLinks, Limits: l}
	held := slices.Clone(r.Disruptive)
	if l.Exceeded(len(r.Disruptive), r.ActiveLinks) {
		h.Reasons = append(h.Reasons, fmt.Sprintf("it would revoke or re-point %d of %d active links (limits: max %s changes, max %s of active links)",
			len(r.Disruptive), r.ActiveLinks, limitText(float64(l.MaxChanges), ""), limitText(l.MaxPercent, "%")))
	}
	// What the limits compare is counted only when a limit could apply:
	// each count visits every assessment (41 ms at 100,000 identities, on
	// the way to the first write).
	matched := 0
	if len(r.ComputedCreates) > 0 && r.ActiveLinks > 0 {
		matched = r.Matched()
	}
	if l.createsExceeded(len(r.ComputedCreates), matched, r.ActiveLinks) {
		h.Reasons = append(h.Reasons, fmt.Sprintf("it would create %d links with computed subjects for %d matched identities while %d links are active (limits: max %s, max %s of matched identities): check the provider's strategy, sector identifier and salt",
			len(r.ComputedCreates), matched, r.ActiveLinks, limitText(float64(l.MaxCreates), ""), limitText(l.MaxCreatePercent, "%")))
		held = append(held, r.ComputedCreates...)
	}
	if baseline != nil && baseline.Total > 0 && l.MaxCoverageDrop > 0 {
		if after := CoverageAfter(r); baseline.Percent()-after.Percent() > l.MaxCoverageDrop {
			h.Reasons = append(h.Reasons, fmt.Sprintf("linked coverage would drop from %.1f%% (%d of %d, previous successful run) to %.1f%% (%d of %d), more than %g points: check for a renamed provider, a changed strategy or a broken scope",
				baseline.Percent(), baseline.Linked, baseline.Total, after.Percent(), after.Linked, after.Total, l.MaxCoverageDrop))
		}
	}
	if len(r.Foreign) > 0 {
		ids := slices.Sorted(maps.Keys(r.Foreign))
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = fmt.Sprintf("%s: %d", id, r.Foreign[id])
		}
		h.Foreign = true
		h.Reasons = append(h.Reasons, fmt.Sprintf("active Identity_Link__c rows were written by another idlink database (%s), not by this one (%s): two databases on one org undo each other; stop the other deployment, then adopt its rows with 'idlink links adopt --store-id ID --reason TEXT' (no override releases this)",
			strings.Join(parts, ", "), r.StoreID))
	}
	if len(h.Reasons) == 0 {
		return nil
	}
	slices.Sort(held)
	h.idx = slices.Compact(held)
	for _, j := range h.idx {
		h.Held = append(h.Held, r.Actions[j])
	}
	return h
}

func limitText(v float64, unit string) string {
	if v <= 0 {
		return "off"
	}
	return fmt.Sprintf("%g%s", v, unit)
}

// actionKey identifies an action for comparing a plan with a held run.
type actionKey struct {
	kind                   identity.ActionKind
	provider, sub, sf, oid string
	status                 identity.LinkStatus
}

func keyOf(a identity.Action) actionKey {
	return actionKey{a.Kind, a.Link.Provider, a.Link.Subject, a.Link.SalesforceUserID, a.Link.ObjectID, a.Link.Status}
}

// PlanRecords are the records of a plan that is not applied (a dry run):
// every action planned, those the safety limit would hold marked held.
func PlanRecords(r *Result, held *HeldError) []identity.ActionRecord {
	recs := make([]identity.ActionRecord, len(r.Actions))
	for i, a := range r.Actions {
		recs[i] = identity.ActionRecord{Seq: i + 1, Action: a, State: StatePlanned}
	}
	if held != nil {
		for _, i := range held.idx {
			recs[i].State = StateHeld
		}
	}
	return recs
}
