package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
)

// TestBackfillThroughBulkAPI: with salesforce.bulk_threshold set, a run with
// at least that many link writes sends them as Bulk API 2.0 jobs of that
// size (the last, smaller batch through sObject Collections), and the org
// ends up with the links the store records, as through collections.
func TestBackfillThroughBulkAPI(t *testing.T) {
	t.Parallel()
	const threshold = 210 // above the collection size, where batches of 200 never reached it
	h := newHarness(t, backendSQLite, harnessOptions{Scenario: scenario.Config{Seed: 5, Users: 2600}, Edit: func(y string) string {
		return strings.Replace(y, "salesforce:\n", "salesforce:\n  bulk_threshold: "+strconv.Itoa(threshold)+"\n", 1)
	}})
	h.importObservations("observations.csv", h.w.Scenario.Observations)
	faults := h.w.Salesforce.Faults()
	bulk0 := faults.Counter(sfsim.EndpointBulk).Requests
	coll0 := faults.Counter(sfsim.EndpointCollections).Requests

	h.mustRun(0, "backfill")
	st := h.store()
	run := h.latestRun(st)
	writes := 0
	for _, r := range h.actions(st, run.ID) {
		switch r.Action.Kind {
		case identity.ActionCreateLink, identity.ActionUpdateLink, identity.ActionRevokeLink:
			if r.State != "applied" {
				t.Errorf("%s %s: %s %s", r.Action.Kind, r.Action.Link.Key(), r.State, r.Error)
			}
			writes++
		}
	}
	if writes < 2*threshold {
		t.Fatalf("only %d link writes: the test needs at least two bulk jobs", writes)
	}
	// Each job is create, upload, close, at least one status check, and the
	// two result files: at least 6 calls.
	jobs := writes / threshold
	if got := faults.Counter(sfsim.EndpointBulk).Requests - bulk0; got < int64(6*jobs) {
		t.Errorf("%d Bulk API calls for %d writes at threshold %d: want at least %d (%d jobs)", got, writes, threshold, 6*jobs, jobs)
	}
	rest := writes % threshold
	if got, want := faults.Counter(sfsim.EndpointCollections).Requests-coll0, int64((rest+199)/200); got != want {
		t.Errorf("%d collection calls, want %d for the last %d writes", got, want, rest)
	}
	org := h.orgLinks()
	for k, l := range h.links(st) {
		if l.Status == identity.LinkProposed {
			continue
		}
		o, ok := org[k.Subject]
		if !ok || o.UserID != l.SalesforceUserID || o.ObjectID != l.ObjectID || !strings.EqualFold(o.Status, string(l.Status)) {
			t.Errorf("link %s -> %s (%s) is %+v in the org", k, l.SalesforceUserID, l.Status, o)
		}
	}
}
