package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/store"
)

// A scheduled run plans only what changed since the last successful run
// (its base): the store journals the keys of every record that changes, the
// run loads the records those keys reach (reconcile.LoadAffected) and plans
// them, and keeps the base's assessments and flags for every identity
// outside that closure, which a full plan would decide as before
// (TestIncrementalPlanEqualsFullPlan). Anything that could make that untrue
// plans everything instead, and says why in the run's note.

// configCursor keeps the digest of the matching configuration the last
// successful plan used: a change of rules, rewrites, providers or adopted
// databases can change any identity's plan.
const configCursor = "plan/config-sha256"

// Bounds of an incremental plan: beyond them planning everything costs
// about as much and holds less in memory at once.
const (
	maxJournalChanges = 200_000
	minAffectedBound  = 20_000 // records; else a fifth of the base's assessments
	journalPage       = 10_000
)

// plan is one plan of a run: the result and where it stands in the journal.
type plan struct {
	res  *reconcile.Result
	seq  int64  // identity.Run.PlanSeq
	base int64  // identity.Run.PlanBase
	note string // why a full plan, or what the incremental plan covered
}

// preload is Salesforce's side of a full plan's snapshot, loaded while the
// Entra side is still being read.
type preload struct {
	done chan struct{} // closed once snap and err are set; nil until start
	snap *reconcile.Snapshot
	err  error
}

// start loads Salesforce's side from st in the background.
func (p *preload) start(ctx context.Context, st reconcile.Mirror) {
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		p.snap, p.err = loadSalesforce(ctx, st)
	}()
}

// wait waits for a started load to end (nil or not started: at once).
func (p *preload) wait() {
	if p != nil && p.done != nil {
		<-p.done
	}
}

// close waits for a started load to end and ends the collector's pace of
// a snapshot no plan took.
func (p *preload) close() {
	p.wait()
	if p != nil && p.snap != nil {
		p.snap.EndGCPace()
		p.snap = nil
	}
}

// loadSalesforce is a snapshot of Salesforce's side from mirror, asked to
// pace the collector once it is large (ended by planRest, or here when the
// load fails).
func loadSalesforce(ctx context.Context, mirror reconcile.Mirror) (*reconcile.Snapshot, error) {
	snap := reconcile.NewSnapshot()
	snap.PaceGC()
	if err := reconcile.LoadSalesforce(ctx, mirror, snap); err != nil {
		snap.EndGCPace()
		return nil, err
	}
	return snap, nil
}

// salesforceSide is a snapshot holding Salesforce's side: the preload's
// when it was started, loaded now otherwise.
func (j *Job) salesforceSide(ctx context.Context, pre *preload) (*reconcile.Snapshot, error) {
	if pre == nil || pre.done == nil {
		return loadSalesforce(ctx, j.Store)
	}
	pre.wait()
	if pre.err != nil {
		return nil, pre.err
	}
	// The plan owns the snapshot now: the preload outlives it (Job.run
	// waits for it on every return) and must not keep it alive.
	snap := pre.snap
	pre.snap = nil
	return snap, nil
}

// makePlan plans incrementally over the last successful run when it can, and
// in full otherwise (with Salesforce's side from pre when it was preloaded).
func (j *Job) makePlan(ctx context.Context, log *slog.Logger, opt Options, runID int64, counts map[string]int64, pre *preload) (plan, error) {
	digest := configDigest(opt.Reconcile)
	base, why, err := j.incrementalBase(ctx, opt, digest)
	if err != nil {
		return plan{}, err
	}
	if why == "" {
		p, err := j.planIncremental(ctx, opt.Reconcile, base, runID, counts)
		if err == nil {
			log.Info("planned what changed", "base_run", base.ID, "changes", counts["plan.changes"], "affected_records", counts["plan.affected-records"])
			return p, nil
		}
		if !errors.Is(err, reconcile.ErrFullPlanNeeded) {
			return plan{}, err
		}
		why = strings.TrimPrefix(err.Error(), reconcile.ErrFullPlanNeeded.Error()+": ")
	}
	log.Info("planning every identity", "why", why)
	// A backfill's plan takes no position in the journal: the journal
	// starts after its writes (Job.run), which reach everyone anyway, so the
	// next run plans in full.
	var seq int64
	if opt.Kind != identity.KindBackfill {
		if seq, err = j.Store.StartJournal(ctx); err != nil {
			return plan{}, err
		}
	}
	snap, err := j.salesforceSide(ctx, pre)
	if err != nil {
		return plan{}, err
	}
	res, err := planRest(ctx, opt.Reconcile, j.Store, j.Store, snap)
	if err != nil {
		return plan{}, err
	}
	return plan{res: res, seq: seq, note: "full plan: " + why}, nil
}

// planRest loads the rest of snap, which holds Salesforce's side, and plans
// every identity; then the collector's pace is Go's again.
func planRest(ctx context.Context, cfg reconcile.Config, mirror reconcile.Mirror, state reconcile.State, snap *reconcile.Snapshot) (*reconcile.Result, error) {
	defer snap.EndGCPace()
	if err := reconcile.LoadRest(ctx, mirror, state, snap); err != nil {
		return nil, err
	}
	res, err := reconcile.Plan(cfg, snap)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return res, nil
}

// incrementalBase is the run an incremental plan builds on, or why there is
// none ("" when there is).
func (j *Job) incrementalBase(ctx context.Context, opt Options, digest string) (identity.Run, string, error) {
	switch {
	case opt.Kind == identity.KindBackfill:
		return identity.Run{}, "a backfill plans every identity", nil
	case opt.Override != 0:
		return identity.Run{}, fmt.Sprintf("the override of held run %d is checked against a plan of every identity", opt.Override), nil
	case j.FullPlanEvery <= 0:
		return identity.Run{}, "match.full_plan_every is 0", nil
	}
	if err := opt.Reconcile.Incremental(); err != nil {
		return identity.Run{}, err.Error(), nil
	}
	validFrom, on, err := j.Store.JournalState(ctx)
	if err != nil {
		return identity.Run{}, "", err
	}
	if !on {
		return identity.Run{}, "the plan journal starts with this plan", nil
	}
	runs, err := j.Store.ListRuns(ctx, 200)
	if err != nil {
		return identity.Run{}, "", fmt.Errorf("read the previous runs: %w", err)
	}
	var base, full *identity.Run
	for i, r := range runs {
		if r.Status != identity.StatusSucceeded || (r.Kind != identity.KindRun && r.Kind != identity.KindBackfill) {
			continue
		}
		if base == nil {
			base = &runs[i]
		}
		if r.PlanSeq > 0 && r.PlanBase == 0 {
			full = &runs[i]
			break
		}
	}
	switch {
	case base == nil:
		return identity.Run{}, "no earlier successful run to build on", nil
	case base.Kind == identity.KindBackfill:
		return identity.Run{}, fmt.Sprintf("the last successful run (%d) was a backfill, whose writes reach every identity", base.ID), nil
	case base.PlanSeq == 0 || base.PlanSeq < validFrom:
		return identity.Run{}, fmt.Sprintf("the plan journal does not reach back to run %d, the last successful one", base.ID), nil
	case base.DetailsPruned:
		return identity.Run{}, fmt.Sprintf("the assessments of run %d, the last successful one, are no longer kept", base.ID), nil
	case full == nil:
		return identity.Run{}, "no full plan among the last 200 runs", nil
	case time.Since(full.StartedAt) >= j.FullPlanEvery:
		return identity.Run{}, fmt.Sprintf("the last full plan (run %d) is older than match.full_plan_every (%s)", full.ID, j.FullPlanEvery), nil
	}
	last, ok, err := j.Store.GetCursor(ctx, configCursor)
	if err != nil {
		return identity.Run{}, "", err
	}
	if !ok || last != digest {
		return identity.Run{}, "the matching configuration changed since the last successful plan", nil
	}
	return *base, "", nil
}

// planIncremental plans the records the journaled changes since base reach
// and keeps base's assessments and flags for everything else (the store
// keeps them in base, and run runID refers to them: store.Store.Replace).
func (j *Job) planIncremental(ctx context.Context, cfg reconcile.Config, base identity.Run, runID int64, counts map[string]int64) (plan, error) {
	seeds := reconcile.KeySet{}
	seq, n := base.PlanSeq, 0
	for {
		page, err := j.Store.ReadJournal(ctx, seq, journalPage)
		if err != nil {
			return plan{}, err
		}
		for _, c := range page {
			seeds.Add(cfg.ChangeKeys(c))
			seq = c.Seq
		}
		n += len(page)
		if n > maxJournalChanges {
			return plan{}, fmt.Errorf("%w: more than %d changes since run %d", reconcile.ErrFullPlanNeeded, maxJournalChanges, base.ID)
		}
		if len(page) < journalPage {
			break
		}
	}
	bound := max(minAffectedBound, int(base.Counts["plan.assessments"]/5))
	if err := j.Store.PrepareRelated(ctx); err != nil {
		return plan{}, err
	}
	aff, err := reconcile.LoadAffected(ctx, j.Store, cfg, seeds, bound)
	if err != nil {
		return plan{}, err
	}
	res, err := reconcile.Plan(cfg, aff.Snapshot)
	if err != nil {
		return plan{}, fmt.Errorf("plan: %w", err)
	}
	active, err := j.Store.CountLinks(ctx, identity.LinkActive)
	if err != nil {
		return plan{}, err
	}
	replaced := aff.Keys.Replaced()
	kept, err := j.kept(ctx, base, replaced.ObjectIDs, replaced.SalesforceIDs)
	if err != nil {
		return plan{}, err
	}
	if kept.Flags, err = j.keptFlags(ctx, base, aff.Keys, replaced); err != nil {
		return plan{}, err
	}
	if err := j.Store.Replace(ctx, runID, base.ID, replaced); err != nil {
		return plan{}, err
	}
	res.Keep(kept, int(active))
	counts["plan.changes"] = int64(n)
	counts["plan.affected-records"] = int64(aff.Records)
	return plan{res: res, seq: seq, base: base.ID,
		note: fmt.Sprintf("planned what changed since run %d: %d changes reached %d records", base.ID, n, aff.Records)}, nil
}

// kept tallies base's assessments of every identity but the ones named:
// base's totals less its assessments of those.
func (j *Job) kept(ctx context.Context, base identity.Run, oids, sfs []string) (reconcile.Kept, error) {
	k := reconcile.Kept{Situations: map[identity.Situation]int64{}}
	matched, ok := base.Counts["plan.matched"]
	if !ok {
		return k, fmt.Errorf("%w: run %d did not count its matched identities", reconcile.ErrFullPlanNeeded, base.ID)
	}
	k.Matched = int(matched)
	for _, s := range identity.Situations {
		k.Situations[s] = base.Counts[identity.SituationKey(s)]
	}
	err := j.Store.AssessmentsAbout(ctx, base.ID, oids, sfs, func(a identity.Assessment) error {
		k.Situations[a.Situation]--
		if reconcile.Matched(a) {
			k.Matched--
		}
		return nil
	})
	if err != nil {
		return k, fmt.Errorf("read the assessments of run %d: %w", base.ID, err)
	}
	for s, n := range k.Situations {
		if n < 0 || k.Matched < 0 {
			return k, fmt.Errorf("%w: run %d counts fewer %s identities than it has assessments", reconcile.ErrFullPlanNeeded, base.ID, s)
		}
	}
	return k, nil
}

// keptFlags counts base's flags of the identities outside the closure
// (replaced names its identities: closure.Replaced()), by
// flag name: base's totals less its flags inside, which the run replaces
// (the store keeps the others by reference, store.MergeActions). Every
// other action of a successful run was written, so the store journaled it
// and its identity is inside: base's actions inside must hold all of
// them (plan.writes), or the store and the run disagree, and a full plan
// settles it.
func (j *Job) keptFlags(ctx context.Context, base identity.Run, closure reconcile.KeySet, replaced store.Replaced) (map[string]int64, error) {
	writes, ok := base.Counts["plan.writes"]
	if _, flagged := base.Counts["plan.flags"]; !ok || !flagged {
		return nil, fmt.Errorf("%w: run %d did not count its flags and writes", reconcile.ErrFullPlanNeeded, base.ID)
	}
	kept := map[string]int64{}
	for k, n := range base.Counts {
		if f, ok := strings.CutPrefix(k, "flag."); ok {
			kept[f] = n
		}
	}
	err := j.Store.ActionsAbout(ctx, base.ID, replaced, func(r identity.ActionRecord) error {
		if !reconcile.ActionIn(closure, r.Action) {
			return fmt.Errorf("%w: the store's actions of run %d about the closure include %s of %s, which is not in it", reconcile.ErrFullPlanNeeded, base.ID, r.Action.Kind, r.Action.Link.Key())
		}
		if r.Action.Kind == identity.ActionFlag {
			kept[r.Action.Flag]--
		} else {
			writes--
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the actions of run %d: %w", base.ID, err)
	}
	if writes != 0 {
		return nil, fmt.Errorf("%w: %d of run %d's writes are not in the store's journal", reconcile.ErrFullPlanNeeded, writes, base.ID)
	}
	for f, n := range kept {
		if n < 0 {
			return nil, fmt.Errorf("%w: run %d counts fewer %q flags than it has", reconcile.ErrFullPlanNeeded, base.ID, f)
		}
	}
	return kept, nil
}

// configDigest identifies the matching configuration a plan depends on.
func configDigest(c reconcile.Config) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%+v", c))
	return hex.EncodeToString(sum[:])
}

// recordPlan keeps, after a successful run, what the next run's plan builds
// on: the configuration's digest, and the journal only after this plan.
// It runs once the run's success is recorded: trimming earlier would lose
// changes the next run needs should this run not count as its base.
func (j *Job) recordPlan(ctx context.Context, log *slog.Logger, cfg reconcile.Config, seq int64) {
	if err := j.Store.SetCursor(ctx, identity.Cursor{Name: configCursor, Value: configDigest(cfg)}); err != nil {
		log.Warn("record the plan's configuration; the next run plans in full", "err", err)
		return
	}
	if err := j.Store.TrimJournal(ctx, seq); err != nil {
		log.Warn("trim the plan journal; the next run trims it", "err", err)
	}
}
