package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/report"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestDryRunIsARecordedPlan: a dry run of the first backfill names the
// people it would link, is recorded as a plan-only run that 'idlink report
// --run N' renders in every format, and writes nothing to links or to
// Salesforce; the real backfill then applies exactly that plan, and its
// summary shows the situations after apply, as the report does.
func TestDryRunIsARecordedPlan(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 23, Users: 300}})
		dry := h.mustRun(0, "backfill", "--dry-run")
		runID := int64(1)
		if !strings.Contains(dry.stdout, "Dry run, recorded as run 1: nothing was written") {
			t.Fatalf("dry run header: %s", dry)
		}
		st := h.store()
		if n := len(h.links(st)); n != 0 {
			t.Errorf("the dry run wrote %d links", n)
		}
		if n := len(h.orgLinks()); n != len(h.w.Scenario.IdentityLinks) {
			t.Errorf("the dry run changed Identity_Link__c: %d rows, the org had %d", n, len(h.w.Scenario.IdentityLinks))
		}

		plan := h.reportJSON("--run", strconv.FormatInt(runID, 10))
		if plan.Run.Kind != "dry-run" || plan.Run.Status != "succeeded" {
			t.Fatalf("run %d is %s %s", runID, plan.Run.Kind, plan.Run.Status)
		}
		creates := 0
		for _, a := range plan.Actions {
			if a.State != "planned" && a.State != "held" {
				t.Errorf("a dry run's action is %s: %+v", a.State, a)
			}
			if a.Kind != string(identity.ActionCreateLink) {
				continue
			}
			creates++
			// Named by UPN and username in the printed plan, not by sub.
			if a.UPN == "" || a.SalesforceUsername == "" {
				t.Errorf("create-link without names: %+v", a)
			} else if upn := []rune(a.UPN); !strings.Contains(dry.stdout, "+ "+string(upn[:min(len(upn), 28)])) {
				t.Errorf("the dry run does not name %s", a.UPN)
			}
		}
		if creates == 0 {
			t.Fatal("the plan creates nothing: the test checks nothing")
		}
		if !strings.Contains(dry.stdout, "Plan: "+strconv.Itoa(creates)+" to link") {
			t.Errorf("no terraform-style summary line for %d creates:\n%s", creates, clip(dry.stdout))
		}
		for _, format := range []string{"table", "csv"} {
			out := h.mustRun(0, "report", "--run", "1", "--format", format)
			if format == "table" && !strings.Contains(out.stdout, "Plan: "+strconv.Itoa(creates)+" to link") {
				t.Errorf("report --run 1 --format %s shows no plan:\n%s", format, clip(out.stdout))
			}
			if format == "csv" && strings.Count(out.stdout, "\n") != len(plan.Items)+1 {
				t.Errorf("csv of the dry run has %d lines for %d identities", strings.Count(out.stdout, "\n"), len(plan.Items))
			}
		}

		// The default report is of completed runs, not plans.
		if r := h.mustRun(1, "report"); !strings.Contains(r.stderr, "no completed run yet") {
			t.Errorf("report with only a dry run: %s", r)
		}

		real := h.mustRun(0, "backfill")
		rep := h.reportJSON()
		line := "situations:"
		for _, s := range identity.Situations {
			line += "  " + string(s) + " " + strconv.Itoa(rep.Counts[string(s)])
		}
		if !strings.Contains(strings.Join(strings.Fields(real.stdout), " "), strings.Join(strings.Fields(line), " ")) {
			t.Errorf("the run summary's situations differ from the report's (%s):\n%s", line, clip(real.stdout))
		}
		applied := 0
		for _, a := range rep.Actions {
			if a.Kind == string(identity.ActionCreateLink) && a.State == "applied" {
				applied++
			}
		}
		if applied != creates {
			t.Errorf("the backfill applied %d creates, the dry run planned %d", applied, creates)
		}

		// The HTML page of the same run, written in place only once complete.
		page := filepath.Join(h.dir, "report.html")
		h.mustRun(0, "report", "--format", "html", "-o", page)
		html, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for s, n := range rep.Counts {
			if want := fmt.Sprintf(`data-situation="%s" data-count="%d"`, s, n); !strings.Contains(string(html), want) {
				t.Errorf("the HTML page lacks %s", want)
			}
		}
		if strings.Contains(string(html), "<script") {
			t.Error("the HTML page has a script")
		}

		// A later failed run: the report stays on the latest completed run
		// and says so; 'idlink runs' lists all three with the failure's cause.
		wrongSecret := func(k string) string {
			if k == "IDLINK_SALESFORCE_CLIENT_SECRET" {
				return "not-the-secret"
			}
			return h.getenv(k)
		}
		if r := h.runEnv(wrongSecret, "run"); r.code != ExitFailure {
			t.Fatalf("run with a wrong secret: %s", r)
		}
		after := h.mustRun(0, "report")
		if !strings.Contains(after.stdout, "report: run 2 (backfill) succeeded") || !strings.Contains(after.stdout, "NOTE: a later run, 3 (run), failed") {
			t.Errorf("report after a failed run:\n%s", clip(after.stdout))
		}
		runs := h.mustRun(0, "runs", "--format", "json")
		var rows []runRow
		if err := json.Unmarshal([]byte(runs.stdout), &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 || rows[0].Status != "failed" || rows[0].Error == "" || rows[1].Kind != "backfill" || rows[2].Kind != "dry-run" {
			t.Errorf("runs: %+v", rows)
		}
		if rows[1].InScope == 0 || rows[1].Linked != rep.Coverage[0].Linked {
			t.Errorf("runs' coverage %d/%d, the report's %+v", rows[1].Linked, rows[1].InScope, rep.Coverage)
		}
		table := h.mustRun(0, "runs")
		for _, line := range strings.Split(table.stdout, "\n") {
			if len([]rune(line)) > 120 {
				t.Errorf("runs line wider than 120: %q", line)
			}
		}
	})
}

// TestExplainOneIdentity: explain shows one identity the way the run saw it:
// the rule that matched with the account it found, the situation the run
// recorded, the run's actions for it, and the link's history; by UPN, by
// object id and by Salesforce id alike; an unknown identity is a usage error.
func TestExplainOneIdentity(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 29, Users: 300}})
		h.mustRun(0, "backfill")
		rep := h.reportJSON()
		var linked, orphan *report.Item
		for i, it := range rep.Items {
			switch {
			case linked == nil && it.Situation == "linked" && it.Rule == "oid" && it.UPN != "":
				linked = &rep.Items[i]
			case orphan == nil && it.Situation == "orphaned":
				orphan = &rep.Items[i]
			}
		}
		if linked == nil || orphan == nil {
			t.Fatal("the scenario has no linked or no orphaned identity: the test checks nothing")
		}
		for _, args := range [][]string{{"--upn", strings.ToUpper(linked.UPN)}, {"--oid", linked.ObjectID}, {"--salesforce-id", linked.SalesforceUserID}} {
			r := h.mustRun(0, append([]string{"explain"}, args...)...)
			mustContain(t, r, "explain "+args[0],
				"Entra object id "+linked.ObjectID,
				"in scope: yes",
				"oid (FederationIdentifier = object id, links automatically): "+linked.SalesforceUserID,
				linked.Provider+": linked (rule oid)",
				"idlink's link: sub "+linked.Subject+" -> "+linked.SalesforceUserID+", active",
				"6. History of its links",
				"create-link")
		}
		r := h.mustRun(0, "explain", "--salesforce-id", orphan.SalesforceUserID)
		mustContain(t, r, "explain orphan", "idlink explain: Salesforce user "+orphan.SalesforceUserID, "No Entra user has this account's", ": orphaned")
		if r := h.run("explain", "--upn", "nobody@nowhere.example"); r.code != ExitUsage || !strings.Contains(r.stderr, "no Entra user nobody@nowhere.example") {
			t.Errorf("explain of an unknown user: %s", r)
		}
		if r := h.run("explain", "--upn", "a", "--oid", linked.ObjectID); r.code != ExitUsage {
			t.Errorf("explain with two selectors: %s", r)
		}
	})
}
