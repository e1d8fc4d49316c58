package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/idlinkhq/idlink/internal/config"
	"github.com/idlinkhq/idlink/internal/reconcile"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/report"
	"github.com/idlinkhq/idlink/internal/store"
)

func cmdReport(ctx context.Context, e env, args []string) error {
	fs := newFlags("report", e)
	cfgPath := configFlag(fs, e)
	runID := fs.Int64("run", 0, "run id to report, dry runs included (default: the latest completed run; 'idlink runs' lists them)")
	format := fs.String("format", "table", "table, csv, json, html (one self-contained page to open or publish), or duplicates-csv (the JIT duplicates to retire, for Data Loader)")
	out := fs.String("o", "", "write to this file instead of standard output")
	all := fs.Bool("all", false, "table: list linked identities too")
	limit := fs.Int("limit", 50, "table and html: at most this many rows per list (0 = all for the table, 200 for html)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch *format {
	case "table", "csv", "json", "html", "duplicates-csv":
	default:
		return withCode(ExitUsage, fmt.Errorf("--format %q: use table, csv, json, html or duplicates-csv", *format))
	}
	if *limit < 0 {
		return withCode(ExitUsage, fmt.Errorf("--limit %d: use 0 or a positive count", *limit))
	}
	cfg, st, err := configAndExistingStore(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := buildReport(ctx, st, *runID)
	if err != nil {
		return err
	}
	write := func(w io.Writer) error {
		switch *format {
		case "csv":
			return r.WriteCSV(w)
		case "json":
			return r.WriteJSON(w)
		case "duplicates-csv":
			return r.WriteDuplicatesCSV(w)
		case "html":
			history, err := runHistory(ctx, st, r.Run.ID)
			if err != nil {
				return err
			}
			return r.WriteHTML(w, report.HTMLOptions{History: history, EntraUserURL: cfg.EntraUserURL,
				SalesforceUserURL: salesforceLinker(cfg), Limit: *limit, Generated: time.Now().UTC()})
		}
		return r.WriteTable(w, report.TableOptions{IncludeLinked: *all, Limit: *limit})
	}
	if *out == "" {
		if err := write(e.stdout); err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
		return nil
	}
	if err := writeFileAtomic(*out, write); err != nil {
		return fmt.Errorf("write the report to %s: %w", *out, err)
	}
	return nil
}

// salesforceLinker links Salesforce ids to their records, or nil when no
// org URL is configured.
func salesforceLinker(cfg config.Config) func(string) string {
	if cfg.SalesforceRecordBase() == "" {
		return nil
	}
	return cfg.SalesforceUserURL
}

// runHistory is the completed runs before run id, oldest first, for the
// HTML report's trend charts (at most 30).
func runHistory(ctx context.Context, st store.Store, id int64) ([]report.RunPoint, error) {
	runs, err := st.ListRuns(ctx, 200)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var pts []report.RunPoint
	for _, r := range runs { // newest first
		if r.ID >= id || r.Kind == identity.KindDryRun || (r.Status != identity.StatusSucceeded && r.Status != identity.StatusHeld) {
			continue
		}
		p := report.RunPoint{ID: r.ID, Kind: string(r.Kind), Status: string(r.Status), StartedAt: r.StartedAt, Counts: map[string]int{},
			CoveragePercent: reconcile.CoverageOf(r.Counts).Percent()}
		for _, s := range identity.Situations {
			p.Counts[string(s)] = int(r.SituationCount(s))
		}
		pts = append(pts, p)
		if len(pts) == 29 {
			break
		}
	}
	slices.Reverse(pts)
	return pts, nil
}

// writeFileAtomic writes path through a temporary file in the same
// directory and renames it into place: a failed write leaves no half file
// (a published report is either the old one or the new one).
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing to remove
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// buildReport loads a run (the latest that assessed identities when id is 0)
// and the run before it of the same database.
func buildReport(ctx context.Context, st store.Store, id int64) (report.Report, error) {
	runs, err := st.ListRuns(ctx, 0)
	if err != nil {
		return report.Report{}, fmt.Errorf("list runs: %w", err)
	}
	if len(runs) == 0 {
		return report.Report{}, errors.New("no runs in this database yet: run 'idlink backfill' first")
	}
	// ListRuns is newest first. By default the report is of the latest
	// completed run (succeeded or held: it assessed every identity); a later
	// run that failed is named, not shown as a report of zeros. Dry runs are
	// plans, reported when asked for by id.
	completed := func(r identity.Run) bool {
		return r.Kind != identity.KindDryRun && (r.Status == identity.StatusSucceeded || r.Status == identity.StatusHeld)
	}
	var cur, prev, laterFailed *identity.Run
	for i := range runs {
		r := runs[i]
		if cur == nil {
			switch {
			case id == 0 && completed(r), r.ID == id:
				cur = &runs[i]
			case id == 0 && laterFailed == nil && r.Kind != identity.KindDryRun && (r.Status == identity.StatusFailed || r.Status == identity.StatusThrottled):
				laterFailed = &runs[i]
			}
			continue
		}
		// The baseline of "changes since" is the previous successful run:
		// a failed or held run's assessments are not where identities stood.
		if r.Kind != identity.KindDryRun && r.Status == identity.StatusSucceeded {
			prev = &runs[i]
			break
		}
	}
	if cur == nil {
		switch {
		case id != 0:
			return report.Report{}, fmt.Errorf("run %d not found: 'idlink runs' lists the runs", id)
		case laterFailed != nil:
			return report.Report{}, fmt.Errorf("no completed run yet; the latest, run %d, %s: %s", laterFailed.ID, laterFailed.Status, laterFailed.Error)
		}
		return report.Report{}, errors.New("no completed run yet: run 'idlink backfill' first ('idlink runs' lists the runs)")
	}
	if cur.DetailsPruned {
		return report.Report{}, fmt.Errorf("the assessments and actions of run %d are no longer kept (store.keep_run_details): 'idlink runs' still shows its counts", cur.ID)
	}
	in := report.Input{Run: *cur, LaterFailed: laterFailed}
	if in.Assessments, err = scanAssessments(ctx, st, cur.ID); err != nil {
		return report.Report{}, err
	}
	if in.Actions, err = st.ListActions(ctx, cur.ID); err != nil {
		return report.Report{}, fmt.Errorf("actions of run %d: %w", cur.ID, err)
	}
	if in.Usernames, err = actionUsernames(ctx, st, in.Assessments, in.Actions); err != nil {
		return report.Report{}, err
	}
	if prev != nil && !prev.DetailsPruned { // else no changes to show: the baseline's details are gone
		in.Previous = prev
		if in.PreviousAssessments, err = scanAssessments(ctx, st, prev.ID); err != nil {
			return report.Report{}, err
		}
	}
	return report.Build(in), nil
}

// actionUsernames looks up the usernames of the Salesforce users the
// actions name that no assessment names (JIT duplicates), in one pass over
// the stored Salesforce users.
func actionUsernames(ctx context.Context, st store.Store, as []identity.Assessment, actions []identity.ActionRecord) (map[string]string, error) {
	known := map[string]bool{}
	for _, a := range as {
		if a.SalesforceUsername != "" {
			known[a.SalesforceUserID] = true
		}
	}
	want := map[string]string{}
	for _, a := range actions {
		if id := a.Action.Link.SalesforceUserID; id != "" && !known[id] {
			want[id] = ""
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	err := st.ScanSalesforceUsers(ctx, func(u identity.SalesforceUser) error {
		if _, ok := want[u.ID]; ok {
			want[u.ID] = u.Username
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("usernames of the accounts the actions name: %w", err)
	}
	return want, nil
}

func scanAssessments(ctx context.Context, st store.Store, runID int64) ([]identity.Assessment, error) {
	var as []identity.Assessment
	err := st.ScanAssessments(ctx, runID, func(a identity.Assessment) error {
		as = append(as, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assessments of run %d: %w", runID, err)
	}
	return as, nil
}
