package reconcile

import (
	"errors"
	"fmt"

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
	// Held are the disruptive actions that were not written.
	Held []identity.Action
	// Note explains why an override did not release the plan, if one was given.
	Note string
}

func (e *HeldError) Error() string {
	msg := fmt.Sprintf("plan held by the safety limit: it would revoke or re-point %d of %d active links (limits: %s); nothing was written: review the held actions and re-run with an override naming this run",
		e.Disruptive, e.ActiveLinks, e.Limits)
	if e.Note != "" {
		msg += " (" + e.Note + ")"
	}
	return msg
}

func (e *HeldError) Is(target error) bool { return target == ErrHeld }

func (l Limits) String() string {
	count, pct := "off", "off"
	if l.MaxChanges > 0 {
		count = fmt.Sprint(l.MaxChanges)
	}
	if l.MaxPercent > 0 {
		pct = fmt.Sprintf("%g%%", l.MaxPercent)
	}
	return "max " + count + " changes, max " + pct + " of active links"
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

// CheckLimits returns a *HeldError when r breaks l, else nil.
func CheckLimits(r *Result, l Limits) *HeldError {
	if !l.Exceeded(len(r.Disruptive), r.ActiveLinks) {
		return nil
	}
	held := make([]identity.Action, len(r.Disruptive))
	for i, j := range r.Disruptive {
		held[i] = r.Actions[j]
	}
	return &HeldError{Disruptive: len(r.Disruptive), ActiveLinks: r.ActiveLinks, Limits: l, Held: held}
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
