package main

import (
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestChangesSinceTheLastSuccessfulRun: a run that failed (here: a wrong
// Salesforce secret) is not the baseline of "changes since"; the next
// report compares with the last successful run instead of listing every
// identity as new.
func TestChangesSinceTheLastSuccessfulRun(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 5, Users: 200}})
		h.mustRun(0, "backfill")
		st := h.store()
		bf := h.latestRun(st)
		r := h.runEnv(func(k string) string {
			if k == "IDLINK_SALESFORCE_CLIENT_SECRET" {
				return "wrong-sf-secret-0123456789"
			}
			return h.getenv(k)
		}, "run")
		if r.code == 0 {
			t.Fatalf("run with a wrong secret succeeded: %s", r)
		}
		if failed := h.latestRun(st); failed.Status != identity.StatusFailed {
			t.Fatalf("the run with a wrong secret is %s, want failed", failed.Status)
		}
		h.mustRun(0, "run")
		rep := h.reportJSON()
		if rep.Previous == nil || rep.Previous.ID != bf.ID {
			t.Fatalf("report of run %d compares with %+v, want the backfill (run %d)", rep.Run.ID, rep.Previous, bf.ID)
		}
		for _, c := range rep.Changes {
			if c.From == "" {
				t.Errorf("%s %s listed as new although the backfill assessed it", c.Provider, c.Label)
			}
		}
	})
}
