package store

import (
	"slices"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

func TestRunsToPrune(t *testing.T) {
	run := func(id int64, kind identity.RunKind, st identity.RunStatus) identity.Run {
		return identity.Run{ID: id, Kind: kind, Status: st}
	}
	ok, failed, held := identity.StatusSucceeded, identity.StatusFailed, identity.StatusHeld
	r, bf, dry := identity.KindRun, identity.KindBackfill, identity.KindDryRun
	pruned := func(x identity.Run) identity.Run { x.DetailsPruned = true; return x }
	on := func(x identity.Run, base int64) identity.Run { x.PlanBase = base; return x }
	tests := []struct {
		name string
		runs []identity.Run // newest first
		keep int
		want []int64
	}{
		{"keep 0 keeps everything", []identity.Run{run(3, r, ok), run(2, r, ok), run(1, bf, ok)}, 0, nil},
		{"older than the newest keep go, oldest first", []identity.Run{run(5, r, ok), run(4, r, ok), run(3, r, ok), run(2, r, ok), run(1, bf, ok)}, 2, []int64{1, 2, 3}},
		{"the two newest successful runs stay behind failures", []identity.Run{run(6, r, failed), run(5, r, failed), run(4, dry, ok), run(3, r, ok), run(2, r, failed), run(1, bf, ok)}, 2, []int64{2, 4}},
		{"a held run after the newest success stays for its override", []identity.Run{run(5, r, failed), run(4, r, failed), run(3, r, held), run(2, r, ok), run(1, bf, held)}, 2, []int64{1}},
		{"a running run is never pruned", []identity.Run{run(4, r, ok), run(3, r, ok), run(2, r, identity.StatusRunning), run(1, r, ok)}, 2, []int64{1}},
		{"the runs a kept run builds on stay", []identity.Run{on(run(6, r, ok), 5), on(run(5, r, ok), 3), on(run(4, r, failed), 3), on(run(3, r, ok), 1), run(2, r, failed), run(1, bf, ok)}, 2, []int64{2, 4}},
		{"a run building on a pruned one is no reason to keep more", []identity.Run{on(run(5, r, ok), 4), run(4, r, ok), on(run(3, r, ok), 2), run(2, r, ok), run(1, bf, ok)}, 2, []int64{1, 2, 3}},
		{"already pruned runs are not pruned again", []identity.Run{run(4, r, ok), run(3, r, ok), run(2, r, ok), pruned(run(1, bf, ok))}, 2, []int64{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RunsToPrune(tc.runs, tc.keep); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
