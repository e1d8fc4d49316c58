package main

import (
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestDeletedIdentityLinkIsWrittenAgain: an Identity_Link__c that an admin
// deletes in Salesforce is written again by the next run. The package's
// confirmUser finds the person's account through it; had the snapshot kept
// the deleted record, the plan would take the link for written and the
// person's sign-in would stay broken for good. A record in the Recycle Bin
// is found by the next run's incremental read (queryAll); one removed past
// it, by the next complete read.
func TestDeletedIdentityLinkIsWrittenAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		purge        bool
		completeRead string // salesforce.identity_links_complete_read_every
	}{
		{"in the Recycle Bin", false, ""},
		{"past the Recycle Bin", true, "0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			deletedLinkIsWrittenAgain(t, tc.purge, tc.completeRead)
		})
	}
}

func deletedLinkIsWrittenAgain(t *testing.T, purge bool, completeRead string) {
	h := newHarness(t, backendSQLite, harnessOptions{Scenario: scenario.Config{Seed: 9, Users: 300}})
	h.importObservations("observations.csv", h.w.Scenario.Observations)
	h.mustRun(0, "backfill")
	h.mustRun(0, "run") // reads back what the backfill wrote: the snapshot holds the org's records
	st := h.store()
	var victim identity.Link
	for _, l := range h.links(st) {
		if l.Status == identity.LinkActive {
			if _, ok := h.orgLinks()[l.Subject]; ok {
				victim = l
				break
			}
		}
	}
	if victim.Subject == "" {
		t.Fatal("no active link in both the store and the org")
	}
	if !h.w.Org.DeleteIdentityLink(victim.Subject) {
		t.Fatal("could not delete the Identity_Link__c")
	}
	if purge {
		h.w.Org.PurgeDeletedIdentityLinks()
	}
	if completeRead != "" {
		h.env["IDLINK_SALESFORCE_IDENTITY_LINKS_COMPLETE_READ_EVERY"] = completeRead
	}

	r := h.mustRun(0, "run")
	o, ok := h.orgLinks()[victim.Subject]
	if !ok || o.UserID != victim.SalesforceUserID || o.ObjectID != victim.ObjectID || !strings.EqualFold(o.Status, "active") {
		t.Fatalf("after the run the org has %+v for %s (want user %s, object %s, active)\n%s", o, victim.Subject, victim.SalesforceUserID, victim.ObjectID, r)
	}
	run := h.latestRun(st)
	complete := int64(0)
	if purge {
		complete = 1
	}
	if run.Counts["salesforce.identity_links_gone"] != 1 || run.Counts["salesforce.identity_links_complete_read"] != complete {
		t.Errorf("counts: %v; want 1 gone, complete read %d", run.Counts, complete)
	}
	repaired := false
	for _, a := range h.actions(st, run.ID) {
		repaired = repaired || a.Action.Link.Subject == victim.Subject && a.Action.Kind == identity.ActionUpdateLink && a.State == "applied"
	}
	if !repaired {
		t.Error("the run did not write the deleted link again (update-link)")
	}
}
