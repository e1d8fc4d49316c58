package store

import (
	"context"

	"github.com/idlinkhq/idlink/internal/identity"
)

// RunsToPrune is the retention rule of run details (assessments and
// actions): it returns the runs whose details go, oldest first. Kept are the
// newest keep runs, the two newest successful runs and backfills (a report
// shows the changes since the previous successful run), and every run held
// after the newest successful one (an admin may still override it), and
// every run whose assessments a kept run builds on (its plan base, and
// theirs: MergeAssessments). A run's own record, with its counts, always
// stays: the report's trends use it.
// runs are newest first, as ListRuns returns them; keep 0 prunes nothing.
// Every backend applies this one rule.
func RunsToPrune(runs []identity.Run, keep int) []int64 {
	if keep <= 0 {
		return nil
	}
	kept := map[int64]bool{}
	for i, r := range runs {
		if i < keep {
			kept[r.ID] = true
		}
	}
	successes := 0
	for _, r := range runs {
		if successes == 2 {
			break
		}
		switch {
		case r.Status == identity.StatusSucceeded && (r.Kind == identity.KindRun || r.Kind == identity.KindBackfill):
			kept[r.ID] = true
			successes++
		case r.Status == identity.StatusHeld && successes == 0:
			kept[r.ID] = true
		}
	}
	byID := make(map[int64]identity.Run, len(runs))
	for _, r := range runs {
		byID[r.ID] = r
	}
	for id := range kept {
		for r := byID[id]; r.PlanBase != 0 && !kept[r.PlanBase]; r = byID[r.PlanBase] {
			kept[r.PlanBase] = true
		}
	}
	var out []int64
	for i := len(runs) - 1; i >= 0; i-- {
		if r := runs[i]; !kept[r.ID] && !r.DetailsPruned && r.Status != identity.StatusRunning {
			out = append(out, r.ID)
		}
	}
	return out
}

// PruneRuns applies RunsToPrune for a backend: it lists the runs and deletes
// the details of each one the rule names with deleteDetails (a transaction
// per run), returning the runs pruned up to the first failure.
func PruneRuns(ctx context.Context, list func(context.Context, int) ([]identity.Run, error), keep int,
	deleteDetails func(context.Context, int64) error) ([]int64, error) {
	runs, err := list(ctx, 0)
	if err != nil {
		return nil, err
	}
	var done []int64
	for _, id := range RunsToPrune(runs, keep) {
		if err := deleteDetails(ctx, id); err != nil {
			return done, err
		}
		done = append(done, id)
	}
	return done, nil
}
