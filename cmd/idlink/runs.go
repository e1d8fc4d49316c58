package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/report"
)

// cmdRuns lists the run history, newest first: what each run was, how it
// ended, where identities stood after it and why it failed or was held.
func cmdRuns(ctx context.Context, e env, args []string) error {
	fs := newFlags("runs", e)
	cfgPath := configFlag(fs, e)
	limit := fs.Int("limit", 20, "at most this many runs, newest first (0 = all)")
	format := fs.String("format", "table", "table or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return withCode(ExitUsage, fmt.Errorf("--format %q: use table or json", *format))
	}
	if *limit < 0 {
		return withCode(ExitUsage, fmt.Errorf("--limit %d: use 0 (all) or a positive count", *limit))
	}
	_, st, err := configAndExistingStore(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.ListRuns(ctx, *limit)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	if *format == "json" {
		out := make([]runRow, 0, len(runs))
		for _, r := range runs {
			out = append(out, newRunRow(r))
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(runs) == 0 {
		fmt.Fprintln(e.stdout, "no runs yet: 'idlink backfill --dry-run' shows the first plan")
		return nil
	}
	tw := tabwriter.NewWriter(report.ClipLines(e.stdout, report.TableWidth), 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tKIND\tSTATUS\tSTARTED (UTC)\tTOOK\tCOVERAGE\tNEED A PERSON\tWHY (held, failed) / NOTE")
	for _, r := range runs {
		row := newRunRow(r)
		cov := "-"
		if row.InScope > 0 {
			cov = fmt.Sprintf("%.1f%%", row.CoveragePercent)
		}
		took := "-"
		if row.Took != "" {
			took = row.Took
		}
		need := "-"
		if row.Situations != nil {
			need = fmt.Sprint(row.NeedAPerson)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Status, r.StartedAt.UTC().Format("2006-01-02 15:04"), took, cov, need, firstLine(r.Error, r.Note))
	}
	tw.Flush()
	fmt.Fprintln(e.stdout, "\nNEED A PERSON counts disputed, misrouted, deprovisioned, orphaned and unmatched identities.\n'idlink report --run N' shows one run.")
	return nil
}

// runRow is one run of 'idlink runs' (also its JSON shape).
type runRow struct {
	ID              int64            `json:"id"`
	Kind            string           `json:"kind"`
	Status          string           `json:"status"`
	StartedAt       time.Time        `json:"started_at"`
	Took            string           `json:"took,omitempty"`
	Situations      map[string]int64 `json:"situations,omitempty"`
	Linked          int              `json:"linked"`
	InScope         int              `json:"in_scope"`
	CoveragePercent float64          `json:"coverage_percent"`
	NeedAPerson     int64            `json:"need_a_person"`
	Held            int64            `json:"held_actions,omitempty"`
	Error           string           `json:"error,omitempty"`
	Note            string           `json:"note,omitempty"`
}

func newRunRow(r identity.Run) runRow {
	row := runRow{ID: r.ID, Kind: string(r.Kind), Status: string(r.Status), StartedAt: r.StartedAt.UTC(), Error: r.Error, Note: r.Note, Held: r.Counts["held"]}
	if !r.FinishedAt.IsZero() {
		row.Took = r.FinishedAt.Sub(r.StartedAt).Round(100 * time.Millisecond).String()
	}
	for _, s := range identity.Situations {
		if n, ok := r.Counts[identity.SituationKey(s)]; ok {
			if row.Situations == nil {
				row.Situations = map[string]int64{}
			}
			row.Situations[string(s)] = n
			switch s {
			case identity.Disputed, identity.Misrouted, identity.Deprovisioned, identity.Orphaned, identity.Unmatched:
				row.NeedAPerson += n
			}
		}
	}
	c := reconcile.CoverageOf(r.Counts)
	row.Linked, row.InScope = c.Linked, c.Total
	row.CoveragePercent = c.Percent()
	return row
}

func firstLine(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			s, _, _ = strings.Cut(s, "\n")
			return s
		}
	}
	return ""
}
