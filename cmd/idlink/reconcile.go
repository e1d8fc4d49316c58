package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/idlinkhq/idlink/internal/wire"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/job"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/report"
	"github.com/idlinkhq/idlink/internal/salesforce"
	"github.com/idlinkhq/idlink/internal/store"
)

// errPlanHasChanges is the quiet "exit 10" of --detailed-exitcode.
var errPlanHasChanges = errors.New("the plan has changes")

func cmdRun(ctx context.Context, e env, args []string) error {
	return reconcileCommand(ctx, e, "run", identity.KindRun, args)
}

func cmdBackfill(ctx context.Context, e env, args []string) error {
	return reconcileCommand(ctx, e, "backfill", identity.KindBackfill, args)
}

func reconcileCommand(ctx context.Context, e env, name string, kind identity.RunKind, args []string) error {
	fs := newFlags(name, e)
	cfgPath := configFlag(fs, e)
	dry := fs.Bool("dry-run", false, "compute and print the plan; write nothing to Salesforce or the store")
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when the plan has no changes and 10 when it has some")
	override := fs.Int64("override", 0, "release the plan held by the safety limit in this run id (after reviewing it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, log, st, err := startService(ctx, e, *cfgPath, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if *override != 0 {
		// An override names a held run whose actions an admin reviewed;
		// anything else is a mistake to say now, not to ignore.
		r, err := st.GetRun(ctx, *override)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return withCode(ExitUsage, fmt.Errorf("--override %d: no such run; 'idlink report' of the held run names its id", *override))
		case err != nil:
			return err
		case r.Status != identity.StatusHeld:
			return withCode(ExitUsage, fmt.Errorf("--override %d: run %d was %s, not held by the safety limit; only a held run can be overridden", *override, r.ID, r.Status))
		}
	}
	j, err := wire.NewJob(cfg, st, log, wire.Instruments{})
	if err != nil {
		return err
	}
	rc := wire.ReconcileConfig(cfg)
	if isTerminal(e.stderr) {
		j.Progress = terminalProgress(e.stderr)
	}
	out, err := j.Run(ctx, job.Options{Kind: kind, DryRun: *dry, Override: *override, Holder: wire.Holder(), Reconcile: rc})
	if out.Result != nil {
		plan, perr := buildReport(ctx, st, out.Run.ID)
		if perr != nil {
			log.Warn("read back the run's report", "err", perr)
		}
		printSummary(e.stdout, out, *dry, plan, perr == nil)
	}
	return finishReconcile(e, name, *dry, *detailed, out, err)
}

// finishReconcile prints what a run did and turns its error into the exit code.
func finishReconcile(e env, name string, dry, detailed bool, out job.Outcome, err error) error {
	var held *reconcile.HeldError
	switch {
	case errors.Is(err, job.ErrSkipped):
		return withCode(ExitSkipped, err)
	case errors.As(err, &held):
		printHeld(e.stdout, held, out.Run.ID)
		return withCode(ExitHeld, fmt.Errorf("run %d held by the safety limit: nothing was written; review it with 'idlink report --run %d', then re-run '%s --override %d'", out.Run.ID, out.Run.ID, "idlink "+name, out.Run.ID))
	case errors.Is(err, identity.ErrRetryLater):
		return withCode(ExitThrottled, err)
	case errors.Is(err, salesforce.ErrDailyLimit):
		return withCode(ExitAPILimit, err)
	case err != nil:
		return err
	}
	if dry && out.Held != nil {
		printHeld(e.stdout, out.Held, 0)
	}
	if detailed && out.Changes() > 0 {
		// withCode(ExitChanges, nil) would be nil, i.e. exit 0: the marker
		// error carries the code and exitCode prints nothing for it.
		return &exitError{code: ExitChanges, err: errPlanHasChanges}
	}
	return nil
}

// printSummary says what the run did: the situations as they stand after
// it (as 'idlink report' shows them), the plan naming the people it
// concerns, and what was applied.
func printSummary(w io.Writer, out job.Outcome, dry bool, r report.Report, haveReport bool) {
	if dry {
		fmt.Fprintf(w, "Dry run, recorded as run %d: nothing was written to Salesforce or to links.\n", out.Run.ID)
	} else {
		fmt.Fprintf(w, "Run %d (%s): %s\n", out.Run.ID, out.Run.Kind, out.Run.Status)
	}
	if out.Run.Note != "" {
		fmt.Fprintf(w, "note: %s\n", out.Run.Note)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "situations:")
	for _, s := range identity.Situations {
		fmt.Fprintf(tw, "\t%s %d", s, out.Run.SituationCount(s))
	}
	fmt.Fprintln(tw)
	tw.Flush()
	if haveReport {
		limit := 0
		if !dry {
			limit = 10
		} else if len(r.Actions) > 2000 {
			limit = 50
		}
		if err := r.WritePlan(w, limit); err != nil {
			fmt.Fprintf(w, "write the plan: %v\n", err)
		}
	}
	if !dry {
		fmt.Fprintf(w, "\napplied %d, failed %d\n", out.Apply.Applied, len(out.Apply.Failed))
		for _, f := range out.Apply.Failed {
			fmt.Fprintf(w, "  failed %s %s/%s: %s (stays pending for the next run)\n", f.Action.Kind, f.Action.Link.Provider, f.Action.Link.Subject, f.Error)
		}
	}
	fmt.Fprintf(w, "\nreport: idlink report --run %d (--format csv, json or html for every row)\n", out.Run.ID)
}

func printHeld(w io.Writer, h *reconcile.HeldError, runID int64) {
	if runID > 0 {
		fmt.Fprintf(w, "HELD by the safety limit: nothing was written.\n")
	} else {
		fmt.Fprintf(w, "This plan would be HELD by the safety limit:\n")
	}
	for _, r := range h.Reasons {
		fmt.Fprintf(w, "  - %s\n", r)
	}
	if h.Note != "" {
		fmt.Fprintf(w, "override not accepted: %s\n", h.Note)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for i, a := range h.Held {
		if i == 20 {
			fmt.Fprintf(tw, "  ... and %d more (idlink report --run %d lists them all)\n", len(h.Held)-20, runID)
			break
		}
		fmt.Fprintf(tw, "  %s\t%s/%s\t-> %s\t%s\n", a.Kind, a.Link.Provider, a.Link.Subject, a.Link.SalesforceUserID, a.Reason)
	}
	tw.Flush()
}

// terminalProgress rewrites one line on the terminal with what the run has
// read, matched and written, the write rate and the time left for writes.
func terminalProgress(w io.Writer) func(job.Progress) {
	var lastWritten int64
	var lastAt time.Duration
	var rate float64
	return func(p job.Progress) {
		fmt.Fprintf(w, "\r\033[K[%s] %s: Entra %d users, Salesforce %d users, %d account links",
			p.Elapsed.Round(time.Second), p.Stage, p.EntraUsers, p.SalesforceUsers, p.AccountLinks)
		if p.Identities > 0 {
			fmt.Fprintf(w, "; %d identities matched", p.Identities)
		}
		if p.ToWrite > 0 {
			if dt := (p.Elapsed - lastAt).Seconds(); dt > 0 && p.Written > lastWritten {
				rate = float64(p.Written-lastWritten) / dt
			}
			lastWritten, lastAt = p.Written, p.Elapsed
			fmt.Fprintf(w, "; written %d/%d", p.Written, p.ToWrite)
			if rate > 0 && p.Written < p.ToWrite {
				eta := time.Duration(float64(p.ToWrite-p.Written) / rate * float64(time.Second))
				fmt.Fprintf(w, " (%.0f/s, ETA %s)", rate, eta.Round(time.Second))
			}
		}
		if p.Stage == "done" {
			fmt.Fprintln(w)
		}
	}
}
