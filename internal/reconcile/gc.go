package reconcile

import (
	"os"
	"runtime/debug"
)

// planGCPercent is the collector's pace (GOGC) while a large snapshot is
// loaded and planned. Go collects by default once the heap has grown by the
// live heap again, so a plan that holds 428 MiB at a million identities
// peaked at 673 MiB. The snapshot's records hold no pointers (strs and int32
// tables, see arena.go and index.go): a collection has little to mark in
// them, and collecting at 25-30 % growth cost no measurable CPU in
// BenchmarkPlan at a million (load 5.0-5.4 s against 5.4-5.8 s at 100 %,
// plan 2.8-3.2 s against 2.9-3.2 s) nor at 300,000. The peak does not fall
// steadily with the pace; 25 % gave the steadiest one under 0.5 GiB: at a
// million, three runs each, 30 % peaked at 470-512 MiB, 25 % at
// 485.3-485.7, 20 % at 495-498.
const planGCPercent = 25

// pacedFromUsers is the number of users (Salesforce's and Entra's) from
// which a snapshot paces the collector. Below it the heap is small, the
// collector's fixed costs dominate, and a faster pace only means collecting
// often: paced at 30 % from its first record, a 100,000-user snapshot cost
// 15 % more load and plan CPU (0.58 s against 0.50, 0.20 against 0.18) to
// save 14 MiB. Pacing from Entra's side only (once Salesforce's is
// loaded) came too late: a million users peaked at 536 MiB.
const pacedFromUsers = 250_000

// gcPace is a snapshot's pacing of the collector: asked for, applied once
// the snapshot is large, ended.
type gcPace struct {
	asked, on bool
	from      int // users: pacedFromUsers
	old       int // the pace found when it was applied
}

// PaceGC makes s pace the collector at planGCPercent from the moment it
// holds pacedFromUsers users until EndGCPace, unless the operator set
// GOGC. The pace is process-wide: one snapshot at a time (a run holds the
// lease), and every PaceGC needs its EndGCPace.
func (s *Snapshot) PaceGC() {
	_, set := os.LookupEnv("GOGC")
	s.pace = gcPace{asked: !set, from: pacedFromUsers}
}

// paceIfLarge applies the pace once s is large enough for it to pay.
func (s *Snapshot) paceIfLarge() {
	if !s.pace.asked || s.pace.on || len(s.sf)+len(s.entra) < s.pace.from {
		return
	}
	s.pace.on = true
	s.pace.old = debug.SetGCPercent(planGCPercent)
	if s.pace.old < planGCPercent { // a faster pace, or -1 (collection off): kept
		debug.SetGCPercent(s.pace.old)
	}
}

// EndGCPace restores the pace s found, if it applied its own, and stops
// asking for it. Calling it again, or without PaceGC, does nothing.
func (s *Snapshot) EndGCPace() {
	if s.pace.on {
		debug.SetGCPercent(s.pace.old)
	}
	s.pace = gcPace{}
}
