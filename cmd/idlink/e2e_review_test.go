package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestBulkReview: an admin writes the proposals to a CSV, marks decisions
// in it and gives it back. The file is checked whole before anything is
// stored; each row is checked against the current proposal; the reasons
// reach the links' history; an approved link is written by the next run.
func TestBulkReview(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 18, Users: 600}})
		h.mustRun(0, "backfill")
		file := filepath.Join(h.dir, "review.csv")
		h.mustRun(0, "links", "list", "--format", "csv", "-o", file)
		rows := readCSV(t, file)
		if len(rows) < 4 {
			t.Fatalf("%d proposals: the test needs three", len(rows)-1)
		}
		if strings.Join(rows[0], ",") != strings.Join(reviewHeader, ",") {
			t.Fatalf("header %v", rows[0])
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		for _, r := range rows[1:] {
			if r[col["status"]] != "proposed" || r[col["entra_upn"]] == "" || r[col["salesforce_username"]] == "" {
				t.Errorf("a review row without names or not proposed: %v", r)
			}
		}
		approve, reject := rows[1], rows[2]
		mark := func(edit func(rows [][]string)) string {
			t.Helper()
			cp := make([][]string, len(rows))
			for i := range rows {
				cp[i] = append([]string(nil), rows[i]...)
			}
			edit(cp)
			path := filepath.Join(t.TempDir(), "marked.csv")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w := csv.NewWriter(f)
			w.WriteAll(cp)
			f.Close()
			return path
		}
		decisions := func() int {
			n := 0
			if err := h.store().ScanDecisions(h.ctx, func(identity.Decision) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			return n
		}

		// A wrong word anywhere refuses the whole file.
		bad := mark(func(rs [][]string) {
			rs[1][col["decision"]] = "approve"
			rs[3][col["decision"]] = "maybe"
		})
		r := h.run("links", "approve", "--from", bad, "--actor", "alice")
		if r.code != ExitUsage || !strings.Contains(r.stderr, `decision "maybe"`) || !strings.Contains(r.stderr, "nothing was recorded") || decisions() != 0 {
			t.Fatalf("a file with a bad decision: %s (decisions %d)", r, decisions())
		}
		// A row whose proposal changed since the file was written.
		stale := mark(func(rs [][]string) {
			rs[1][col["decision"]] = "approve"
			rs[2][col["decision"]] = "approve"
			rs[2][col["salesforce_user_id"]] = "005000000000000AAA"
		})
		r = h.run("links", "approve", "--from", stale, "--actor", "alice")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "changed since the file was written") || decisions() != 0 {
			t.Fatalf("a stale row: %s (decisions %d)", r, decisions())
		}

		good := mark(func(rs [][]string) {
			rs[1][col["decision"]], rs[1][col["decision_reason"]] = "Approve", "same person, checked with HR"
			rs[2][col["decision"]] = "reject"
		})
		r = h.mustRun(0, "links", "approve", "--from", good, "--actor", "alice")
		mustContain(t, r, "approve --from", "approved 1 link(s)", "1 row(s) marked reject are left")
		h.mustRun(0, "links", "reject", "--from", good, "--actor", "bob", "--reason", "not the same person")
		if n := decisions(); n != 2 {
			t.Fatalf("%d decisions, want 2", n)
		}
		// Giving the file back again is harmless: its rows are decided.
		r = h.mustRun(0, "links", "approve", "--from", good, "--actor", "alice")
		mustContain(t, r, "approve twice", "are approved already")
		if n := decisions(); n != 2 {
			t.Fatalf("giving the file back again recorded %d decisions, want still 2", n)
		}

		h.mustRun(0, "run")
		// After the run has written them, nothing waits any more.
		if r := h.run("links", "approve", "--from", good, "--actor", "alice"); r.code != ExitUsage || !strings.Contains(r.stderr, "not proposed") {
			t.Errorf("approving after the run: %s", r)
		}
		aSub, rSub := approve[col["subject"]], reject[col["subject"]]
		aSub, rSub = strings.TrimPrefix(aSub, "'"), strings.TrimPrefix(rSub, "'") // the formula guard
		if l := h.orgLinks()[aSub]; l.Status != "Active" || l.UserID != approve[col["salesforce_user_id"]] {
			t.Errorf("approved link in Salesforce: %+v", l)
		}
		if l := h.links(h.store())[identity.LinkKey{Provider: reject[col["provider"]], Subject: rSub}]; l.Status == identity.LinkActive || l.Status == identity.LinkProposed {
			t.Errorf("rejected link is %s: %+v", l.Status, l)
			for _, rec := range h.actions(h.store(), h.latestRun(h.store()).ID) {
				if rec.Action.Link.Subject == rSub {
					t.Logf("action %+v", rec)
				}
			}
			t.Logf("reject row %v", reject)
		}
		hist := h.mustRun(0, "links", "history", "--provider", approve[col["provider"]], "--subject", aSub)
		mustContain(t, hist, "history", "same person, checked with HR")
	})
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
