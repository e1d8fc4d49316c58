package reconcile

import (
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Keep completes the plan of the records some changes affect with what an
// earlier plan decided for every other identity, which a plan of everything
// would decide again (TestIncrementalPlanEqualsFullPlan): their assessments
// and their flags (every other action of a successful run was applied, so
// its identity changed). Flags are the last kind of action, so the indexes
// of the plan's own actions stay valid. activeLinks is the store's count of
// active links, the safety limit's denominator, which a partial snapshot
// does not know.
//
// The counters of Entra users that get no assessment ("entra.quiet",
// "entra.guest", "entra.no-upn", "ignored.*") cannot be completed from an
// earlier plan's totals; they are dropped, and kept by full plans only.
func (r *Result) Keep(as []identity.Assessment, flags []identity.Action, activeLinks int) {
	for k := range r.Counts {
		if strings.HasPrefix(k, "entra.") || strings.HasPrefix(k, "ignored.") {
			delete(r.Counts, k)
		}
	}
	r.Assessments = append(r.Assessments, as...)
	for _, a := range as {
		r.Counts[identity.SituationKey(a.Situation)]++
	}
	r.Actions = append(r.Actions, flags...)
	for _, a := range flags {
		r.Counts["action."+string(a.Kind)]++
		r.Counts["flag."+a.Flag]++
	}
	r.ActiveLinks = activeLinks
}
