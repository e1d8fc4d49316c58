package main

import (
	"context"
	"errors"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/wire"

	"github.com/idlinkhq/idlink/internal/job"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/schedule"
)

func cmdSchedule(ctx context.Context, e env, args []string) error {
	fs := newFlags("schedule", e)
	cfgPath := configFlag(fs, e)
	grace := fs.Duration("grace", 0, "how long a running reconciliation may finish after SIGTERM (default 2m)")
	now := fs.Bool("now", false, "run once at start instead of waiting for the first cron tick")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, log, st, err := startService(ctx, e, *cfgPath, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	j, err := wire.NewJob(cfg, st, log, wire.Instruments{})
	if err != nil {
		return err
	}
	rc := wire.ReconcileConfig(cfg)
	last, _, err := job.LastSuccessful(ctx, st)
	if err != nil {
		return err
	}
	d, err := schedule.New(schedule.Options{Cron: cfg.Schedule.Cron, Listen: cfg.Schedule.Listen, Grace: *grace, RunAtStart: *now, Log: log, LastSuccess: last.FinishedAt},
		func(ctx context.Context) (schedule.Result, error) {
			out, err := j.Run(ctx, job.Options{Kind: identity.KindRun, Holder: wire.Holder(), Reconcile: rc})
			return scheduleResult(out, err), err
		})
	if err != nil {
		return withCode(ExitUsage, err)
	}
	return d.Serve(ctx)
}

func scheduleResult(out job.Outcome, err error) schedule.Result {
	r := schedule.Result{Status: string(out.Run.Status), Situations: map[string]int64{}, Requests: map[string]int64{}}
	if errors.Is(err, job.ErrSkipped) {
		r.Status = string(identity.StatusSkipped)
	}
	if errors.Is(err, reconcile.ErrHeld) {
		r.Status = string(identity.StatusHeld)
	}
	for k, v := range out.Run.Counts {
		if s, ok := identity.SituationOfKey(k); ok {
			r.Situations[string(s)] = v
		}
	}
	r.Requests["salesforce"] = out.Run.Counts["salesforce.api_requests"]
	// Graph pages of users (the assignment reads are not counted here).
	r.Requests["graph"] = out.Run.Counts["entra.pages"]
	r.Throttled = time.Duration(out.Run.Counts["entra.throttle_wait_ms"]) * time.Millisecond
	return r
}
