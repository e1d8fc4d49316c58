package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/report"
	"github.com/idlinkhq/idlink/internal/store"
)

func cmdReport(ctx context.Context, e env, args []string) error {
	fs := newFlags("report", e)
	cfgPath := configFlag(fs, e)
	runID := fs.Int64("run", 0, "run id to report, dry runs included (default: the latest completed run; 'idlink runs' lists them)")
	format := fs.String("format", "table", "table, csv, json, or duplicates-csv (the JIT duplicates to retire, for Data Loader)")
	out := fs.String("o", "", "write to this file instead of standard output")
	all := fs.Bool("all", false, "table: list linked identities too")
	limit := fs.Int("limit", 50, "table: at most this many rows per situation (0 = all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch *format {
	case "table", "csv", "json", "duplicates-csv":
	default:
		return withCode(ExitUsage, fmt.Errorf("--format %q: use table, csv, json or duplicates-csv", *format))
	}
	cfg, err := loadConfig(*cfgPath, e)
	if err != nil {
		return err
	}
	st, err := openExistingStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := buildReport(ctx, st, *runID)
	if err != nil {
		return err
	}
	w := e.stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("report output: %w", err)
		}
		defer f.Close()
		w = f
	}
	switch *format {
	case "csv":
		err = r.WriteCSV(w)
	case "json":
		err = r.WriteJSON(w)
	case "duplicates-csv":
		err = r.WriteDuplicatesCSV(w)
	default:
		err = r.WriteTable(w, report.TableOptions{IncludeLinked: *all, Limit: *limit})
	}
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
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
	completed := func(r store.Run) bool {
		return r.Kind != store.KindDryRun && (r.Status == store.StatusSucceeded || r.Status == store.StatusHeld)
	}
	var cur, prev, laterFailed *store.Run
	for i := range runs {
		r := runs[i]
		if cur == nil {
			switch {
			case id == 0 && completed(r), r.ID == id:
				cur = &runs[i]
			case id == 0 && laterFailed == nil && r.Kind != store.KindDryRun && (r.Status == store.StatusFailed || r.Status == store.StatusThrottled):
				laterFailed = &runs[i]
			}
			continue
		}
		// The baseline of "changes since" is the previous successful run:
		// a failed or held run's assessments are not where identities stood.
		if r.Kind != store.KindDryRun && r.Status == store.StatusSucceeded {
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
	if prev != nil {
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
func actionUsernames(ctx context.Context, st store.Store, as []identity.Assessment, actions []store.ActionRecord) (map[string]string, error) {
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
