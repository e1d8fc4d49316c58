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
	runID := fs.Int64("run", 0, "run id to report (default: the latest run that finished planning)")
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
	// ListRuns is newest first. Reports speak of runs that planned: succeeded,
	// held, or failed during apply.
	reportable := func(r store.Run) bool {
		return r.Kind != store.KindDryRun && r.Status != store.StatusSkipped && r.Status != store.StatusRunning
	}
	var cur *store.Run
	var prev *store.Run
	for i := range runs {
		r := runs[i]
		if cur == nil {
			if (id == 0 && reportable(r)) || r.ID == id {
				cur = &runs[i]
			}
			continue
		}
		// The baseline of "changes since" is the previous successful run:
		// a failed or held run's assessments are not where identities stood.
		if reportable(r) && r.Status == store.StatusSucceeded {
			prev = &runs[i]
			break
		}
	}
	if cur == nil {
		if id != 0 {
			return report.Report{}, fmt.Errorf("run %d not found: 'idlink report' without --run shows the latest", id)
		}
		return report.Report{}, errors.New("no finished run yet: run 'idlink backfill' first")
	}
	in := report.Input{Run: *cur}
	if in.Assessments, err = scanAssessments(ctx, st, cur.ID); err != nil {
		return report.Report{}, err
	}
	if in.Actions, err = st.ListActions(ctx, cur.ID); err != nil {
		return report.Report{}, fmt.Errorf("actions of run %d: %w", cur.ID, err)
	}
	if in.Usernames, err = duplicateUsernames(ctx, st, in.Actions); err != nil {
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

// duplicateUsernames looks up the usernames of the JIT duplicates the
// actions flag, in one pass over the stored Salesforce users.
func duplicateUsernames(ctx context.Context, st store.Store, actions []store.ActionRecord) (map[string]string, error) {
	want := map[string]string{}
	for _, a := range actions {
		if a.Action.Kind == identity.ActionFlag && a.Action.Flag == report.FlagDuplicate {
			want[a.Action.Link.SalesforceUserID] = ""
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
		return nil, fmt.Errorf("usernames of duplicate accounts: %w", err)
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
