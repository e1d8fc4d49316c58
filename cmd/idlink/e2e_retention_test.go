package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestRunDetailsRetention: with store.keep_run_details 2, each run deletes
// the assessments and actions of the runs before the two newest, keeps
// their records and counts, and the report of such a run says why it cannot
// be shown instead of showing an empty run. (Every run plans in full here;
// TestRetentionKeepsPlanBases has incremental runs.)
func TestRunDetailsRetention(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backendSQLite, harnessOptions{Scenario: scenario.Config{Seed: 3, Users: 200}, Edit: func(y string) string {
		return strings.Replace(y, "store:\n", "store:\n  keep_run_details: 2\n", 1)
	}})
	h.env["IDLINK_MATCH_FULL_PLAN_EVERY"] = "0s"
	h.mustRun(0, "backfill")
	for range 3 {
		h.mustRun(0, "run")
	}
	st := h.store()
	runs, err := st.ListRuns(h.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 {
		t.Fatalf("%d runs, want 4", len(runs))
	}
	for i, r := range runs { // newest first
		n := len(h.assessments(st, r.ID))
		if want := i >= 2; r.DetailsPruned != want || (n == 0) != want {
			t.Errorf("run %d (%s): pruned %v with %d assessments; want pruned %v", r.ID, r.Kind, r.DetailsPruned, n, want)
		}
		if r.Counts[identity.SituationKey(identity.Unlinked)] == 0 {
			t.Errorf("run %d lost its counts: %v", r.ID, r.Counts)
		}
	}
	old := runs[3].ID
	r := h.run("report", "--run", strconv.FormatInt(old, 10))
	if r.code == 0 || !strings.Contains(r.stderr, "no longer kept") || !strings.Contains(r.stderr, "store.keep_run_details") {
		t.Errorf("report of a pruned run: exit %d\n%s", r.code, r.stderr)
	}
	if r := h.mustRun(0, "runs"); !strings.Contains(r.stdout, strconv.FormatInt(old, 10)) {
		t.Errorf("'idlink runs' no longer lists run %d:\n%s", old, r.stdout)
	}
	h.mustRun(0, "report")
}

// TestRetentionKeepsPlanBases: the assessments of an incremental run are
// those it planned and its plan base's for everyone else, so the runs a
// kept run builds on keep their details until a full plan ends the chain.
func TestRetentionKeepsPlanBases(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backendSQLite, harnessOptions{Scenario: scenario.Config{Seed: 3, Users: 200}, Edit: func(y string) string {
		return strings.Replace(y, "store:\n", "store:\n  keep_run_details: 2\n", 1)
	}})
	h.mustRun(0, "backfill")
	for range 3 {
		h.mustRun(0, "run")
	}
	st := h.store()
	check := func(wantPruned map[int64]bool) {
		t.Helper()
		runs, err := st.ListRuns(h.ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			n := len(h.assessments(st, r.ID))
			if r.DetailsPruned != wantPruned[r.ID] || (n == 0) != wantPruned[r.ID] {
				t.Errorf("run %d (%s, plan base %d): pruned %v with %d assessments; want pruned %v", r.ID, r.Kind, r.PlanBase, r.DetailsPruned, n, wantPruned[r.ID])
			}
		}
	}
	if r := h.latestRun(st); r.PlanBase != 3 {
		t.Fatalf("run %d planned on run %d (%s); want incremental runs on each other", r.ID, r.PlanBase, r.Note)
	}
	// 4 and 3 are kept, and they build on 2, a full plan (the first run
	// after the backfill, 1, which no run builds on).
	check(map[int64]bool{1: true})
	h.env["IDLINK_MATCH_FULL_PLAN_EVERY"] = "0s"
	h.mustRun(0, "run") // 5: a full plan; 4 still builds on 3, 2
	check(map[int64]bool{1: true})
	h.mustRun(0, "run") // 6: with 5, no kept run needs the older ones
	check(map[int64]bool{1: true, 2: true, 3: true, 4: true})
	h.mustRun(0, "report")
}
