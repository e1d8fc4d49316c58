// Package job runs one reconciliation end to end (DESIGN §4): take the lease,
// read Entra and Salesforce concurrently into the store, plan, hold the plan
// at the safety limit or apply it, and record the run with its assessments
// and actions for the report. The sources and the Salesforce link writer are
// small interfaces, satisfied by internal/entra and internal/salesforce.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/store"
)

// LeaseName is the lease every reconciliation takes, across replicas.
const LeaseName = "reconcile"

// ErrSkipped is matched by the error Run returns when another run held the lease.
var ErrSkipped = errors.New("skipped: another idlink run is working on this database")

// SyncResult is what a source read.
type SyncResult struct {
	Counts map[string]int64
	// Note is something the admin should know, e.g. "deltaLink expired: full resync".
	Note string
}

// Source reads one side into the store. full asks for a complete re-read
// (backfill); otherwise the source continues from its stored cursors.
type Source interface {
	Sync(ctx context.Context, st store.Store, runID int64, full bool) (SyncResult, error)
}

// Options configure one run.
type Options struct {
	Kind     identity.RunKind // run or backfill
	DryRun   bool             // plan only: nothing is written to Salesforce or to links
	Override int64            // id of a held run whose actions the admin reviewed
	Holder   string           // host/pid, for the lease and the run record
	// LeaseTTL is how long the lease outlives a run that stops renewing it
	// (killed): the next run is skipped until then. Renewed every TTL/3
	// while the run works. Default 2 minutes.
	LeaseTTL  time.Duration
	Reconcile reconcile.Config
	BatchSize int // link writes per Salesforce call; default 200
}

// Job holds the parts a run talks to.
type Job struct {
	Store      store.Store
	Entra      Source
	Salesforce Source
	Writer     reconcile.LinkWriter
	// WriteConcurrency is how many link-write calls run at once
	// (salesforce.write_concurrency).
	WriteConcurrency int
	// KeepRunDetails (store.keep_run_details): after each run, the
	// assessments and actions of older runs go (store.RunsToPrune); 0 keeps
	// them all.
	KeepRunDetails int
	// FullPlanEvery (match.full_plan_every): a run plans only what changed
	// since the last successful run (plan.go), and every identity when the
	// last full plan is this old; 0 plans every identity in every run.
	FullPlanEvery time.Duration
	// BulkThreshold (salesforce.bulk_threshold): a run with at least this
	// many link writes hands them to the Writer in batches of this size,
	// which the Salesforce client sends as one Bulk API 2.0 job each
	// (WriteConcurrency jobs at once); 0 never does.
	BulkThreshold int
	// Revoker revokes misrouted ThirdPartyAccountLink rows; nil when the
	// configuration does not allow it.
	Revoker reconcile.AccountLinkRevoker
	Log     *slog.Logger
	// Scratch opens an empty throw-away store for dry runs, which read both
	// sides into it so that nothing is written to the real store.
	Scratch func(ctx context.Context) (st store.Store, cleanup func(), err error)
	// Throttled tells whether an error means "upstream throttled, safe to
	// retry"; the run is then recorded as throttled rather than failed.
	Throttled func(error) bool

	meter *meter // set while a run reports progress
	// Progress, when set, is told every ProgressEvery what the run is doing
	// (pages read, identities matched, writes), for a terminal.
	Progress      func(Progress)
	ProgressEvery time.Duration // default 500ms
}

// Outcome is what a run did.
type Outcome struct {
	Run    identity.Run
	Result *reconcile.Result
	Apply  reconcile.ApplyResult
	Held   *reconcile.HeldError

	planConfig reconcile.Config // what the run planned with, for the next run's plan
}

// Changes is the number of actions that write something.
func (o Outcome) Changes() int {
	if o.Result == nil {
		return 0
	}
	return o.Result.WriteActions()
}

// Run executes one reconciliation. The returned error matches ErrSkipped,
// reconcile.ErrHeld, reconcile.ErrIncomplete or a source's sentinel errors
// (throttling, daily limit), so the CLI can choose the exit code.
func (j *Job) Run(ctx context.Context, opt Options) (Outcome, error) {
	var out Outcome
	if opt.DryRun && j.Scratch == nil {
		return out, errors.New("dry run: no scratch store configured")
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = 2 * time.Minute
	}
	lease, err := j.Store.AcquireLease(ctx, LeaseName, opt.Holder, opt.LeaseTTL)
	if errors.Is(err, store.ErrLeaseHeld) {
		j.Log.Warn("another run holds the lease; skipping", "holder", opt.Holder)
		return out, fmt.Errorf("%w", ErrSkipped)
	}
	if err != nil {
		return out, fmt.Errorf("take the run lease: %w", err)
	}
	runCtx, release := j.holdLease(ctx, lease, opt.LeaseTTL)
	defer release()

	j.closeInterrupted(runCtx)
	kind := opt.Kind
	if opt.DryRun {
		kind = identity.KindDryRun
	}
	run, err := j.Store.StartRun(runCtx, kind, opt.Holder)
	if err != nil {
		return out, fmt.Errorf("record the run start: %w", err)
	}
	out.Run = run
	log := j.Log.With("run", run.ID, "kind", kind)
	log.Info("run started")
	counts := map[string]int64{}

	stopProgress := j.startProgress(runCtx)
	var runErr error
	if opt.DryRun {
		runErr = j.dryRun(runCtx, log, opt, &out, counts)
	} else {
		runErr = j.run(runCtx, log, opt, &out, counts)
	}
	stopProgress()
	if cause := context.Cause(runCtx); runErr != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		runErr = fmt.Errorf("%w (%v)", runErr, cause)
	}

	out.Run, runErr = j.finish(ctx, log, out.Run, counts, runErr)
	if runErr == nil && out.Run.Status == identity.StatusSucceeded && out.Run.PlanSeq > 0 {
		j.recordPlan(ctx, log, out.planConfig, out.Run.PlanSeq)
	}
	return out, runErr
}

// holdLease renews the lease in the background while the run works; losing
// it cancels the returned context with the cause. release stops renewing
// and gives the lease back.
func (j *Job) holdLease(ctx context.Context, lease store.Lease, ttl time.Duration) (context.Context, func()) {
	runCtx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if err := lease.Renew(runCtx); err != nil {
					cancel(fmt.Errorf("lost the run lease: %w", err))
					return
				}
			}
		}
	})
	return runCtx, func() {
		cancel(nil)
		wg.Wait()
		// Release with a fresh context: the run's may be cancelled by a signal.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer rcancel()
		if err := lease.Release(rctx); err != nil {
			j.Log.Warn("release the run lease", "err", err)
		}
	}
}

// finish records the run's end (even when it was interrupted), lets go of
// older runs' details and logs the outcome.
func (j *Job) finish(ctx context.Context, log *slog.Logger, run identity.Run, counts map[string]int64, runErr error) (identity.Run, error) {
	run.Counts = counts
	run.FinishedAt = time.Now().UTC()
	run.Status = j.statusOf(runErr)
	if runErr != nil {
		run.Error = runErr.Error()
	}
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer fcancel()
	if err := j.Store.FinishRun(fctx, run); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("record the run end: %w", err))
	}
	j.pruneRunDetails(ctx, log)
	took := run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond)
	if runErr != nil {
		// The cause goes into the structured log too, not only to stderr.
		log.Error("run finished", "status", run.Status, "took", took, "error", runErr.Error())
	} else {
		log.Info("run finished", "status", run.Status, "took", took)
	}
	return run, runErr
}

// pruneRunDetails lets go of older runs' assessments and actions (a row per
// identity and run would otherwise grow the database without end on a
// schedule). It runs under the lease, after the run's end is recorded; a
// failure is only logged: the next run tries again.
func (j *Job) pruneRunDetails(ctx context.Context, log *slog.Logger) {
	if j.KeepRunDetails <= 0 || ctx.Err() != nil {
		return
	}
	pruned, err := j.Store.PruneRunDetails(ctx, j.KeepRunDetails)
	if err != nil {
		log.Warn("delete the details of older runs; the next run tries again", "err", err)
	}
	if len(pruned) > 0 {
		log.Info("deleted the assessments and actions of older runs", "runs", len(pruned), "keep_run_details", j.KeepRunDetails)
	}
}

func (j *Job) statusOf(err error) identity.RunStatus {
	switch {
	case err == nil:
		return identity.StatusSucceeded
	case errors.Is(err, reconcile.ErrHeld):
		return identity.StatusHeld
	case j.Throttled != nil && j.Throttled(err):
		return identity.StatusThrottled
	}
	return identity.StatusFailed
}

// closeInterrupted records runs that are still "running" as failed. Holding
// the lease proves no other run is working, so such a run was killed or
// crashed before it could record its end.
func (j *Job) closeInterrupted(ctx context.Context) {
	runs, err := j.Store.ListRuns(ctx, 50)
	if err != nil {
		j.Log.Warn("list earlier runs", "err", err)
		return
	}
	for _, r := range runs {
		if r.Status != identity.StatusRunning {
			continue
		}
		r.Status = identity.StatusFailed
		r.FinishedAt = time.Now().UTC()
		r.Error = "interrupted: the process stopped before the run finished (killed or crashed); the next run converges"
		if err := j.Store.FinishRun(ctx, r); err != nil {
			j.Log.Warn("record an interrupted run", "run", r.ID, "err", err)
			continue
		}
		j.Log.Warn("an earlier run was interrupted", "run", r.ID, "holder", r.Holder)
	}
}

// counted wraps the store so that progress sees the pages written.
func (j *Job) counted(st store.Store) store.Store {
	if j.meter == nil {
		return st
	}
	return countingStore{Store: st, m: j.meter}
}

// startProgress reports progress until the returned stop is called.
func (j *Job) startProgress(ctx context.Context) (stop func()) {
	if j.Progress == nil {
		return func() {}
	}
	every := j.ProgressEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	j.meter = newMeter()
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); j.meter.report(pctx, j.Progress, every) }()
	return func() {
		j.meter.stage.Store("done")
		cancel()
		<-done
		j.meter = nil
	}
}

// read syncs both sides concurrently into mirror (DESIGN §4: the wall time
// is the longer chain, not the sum) and returns the notes the sources raised.
// sfDone, if not nil, is called as soon as the Salesforce side is stored.
func (j *Job) read(ctx context.Context, log *slog.Logger, mirror store.Store, runID int64, full bool, counts map[string]int64, sfDone func()) ([]string, error) {
	var (
		wg              sync.WaitGroup
		entraRes, sfRes SyncResult
		entraErr, sfErr error
	)
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	wg.Add(2)
	go func() {
		defer wg.Done()
		entraRes, entraErr = j.Entra.Sync(readCtx, j.counted(mirror), runID, full)
		if entraErr != nil {
			cancelRead() // no point finishing the other chain
		}
	}()
	go func() {
		defer wg.Done()
		sfRes, sfErr = j.Salesforce.Sync(readCtx, j.counted(mirror), runID, full)
		if sfErr != nil {
			cancelRead()
		} else if sfDone != nil {
			sfDone()
		}
	}()
	wg.Wait()
	if entraErr != nil || sfErr != nil {
		// Report the root cause, not the other side's cancellation.
		if entraErr != nil && (sfErr == nil || errors.Is(sfErr, context.Canceled)) {
			return nil, fmt.Errorf("read Entra: %w", entraErr)
		}
		if sfErr != nil && (entraErr == nil || errors.Is(entraErr, context.Canceled)) {
			return nil, fmt.Errorf("read Salesforce: %w", sfErr)
		}
		return nil, errors.Join(fmt.Errorf("read Entra: %w", entraErr), fmt.Errorf("read Salesforce: %w", sfErr))
	}
	maps.Copy(counts, prefixed("entra.", entraRes.Counts))
	maps.Copy(counts, prefixed("salesforce.", sfRes.Counts))
	var notes []string
	for _, n := range []string{entraRes.Note, sfRes.Note} {
		if n != "" {
			notes = append(notes, n)
			log.Warn(n)
		}
	}
	return notes, nil
}

func (j *Job) run(ctx context.Context, log *slog.Logger, opt Options, out *Outcome, counts map[string]int64) error {
	if opt.Kind == identity.KindBackfill {
		// A backfill rewrites every record and plans them all: journaling
		// each write, its own link writes included, would be work no plan
		// reads. The journal starts again once they are done.
		if err := j.Store.StopJournal(ctx); err != nil {
			return err
		}
		defer func() {
			if _, err := j.Store.StartJournal(ctx); err != nil {
				log.Warn("start the plan journal after the backfill; the next run starts it", "err", err)
			}
		}()
	}
	var pre *preload
	var sfDone func()
	if opt.Kind == identity.KindBackfill {
		// A backfill plans every identity: Salesforce's side of the
		// snapshot is loaded while Entra's, the longer chain, is still
		// being read.
		pre = &preload{}
		sfDone = func() { pre.start(ctx, j.Store) }
		defer pre.close()
	}
	notes, err := j.read(ctx, log, j.Store, out.Run.ID, opt.Kind == identity.KindBackfill, counts, sfDone)
	if err != nil {
		return err
	}
	out.Run.Note = strings.Join(notes, "; ")

	if j.meter != nil {
		j.meter.stage.Store("matching")
	}
	if opt.Reconcile, err = withOwner(ctx, j.Store, opt.Reconcile); err != nil {
		return err
	}
	p, err := j.makePlan(ctx, log, opt, out.Run.ID, counts, pre)
	if err != nil {
		return err
	}
	res := p.res
	out.Result, out.planConfig = res, opt.Reconcile
	out.Run.PlanSeq, out.Run.PlanBase = p.seq, p.base
	out.Run.Note = strings.Join(append(notes, p.note), "; ")
	counts["plan.assessments"] = int64(res.Identities())
	log.Info("planned", "assessments", res.Identities(), "actions", len(res.Actions), "writes", res.WriteActions())

	// Apply behind the safety limit.
	w := j.Writer
	if j.meter != nil {
		j.meter.ids.Store(int64(res.Identities()))
		j.meter.toWrite.Store(int64(res.WriteActions()))
		j.meter.stage.Store("writing")
		w = countingWriter{LinkWriter: w, m: j.meter}
	}
	base, err := baseline(ctx, j.Store)
	if err != nil {
		return err
	}
	// The assessments apply cannot change are saved while it waits on
	// Salesforce; the others as it decides where those identities stand.
	// Which are which is worked out beside Apply's start: before the first
	// write it took 0.36 s at a million identities.
	var ps *pendingSaver
	var pending []int
	var matched int
	split := make(chan struct{})
	saved := make(chan error, 1)
	prio := reconcile.NewPriority() // Apply's recording of written batches goes first
	go func() {
		var settled []int
		settled, pending = splitByApply(res)
		ps = newPendingSaver(res, pending, func(as []identity.Assessment) error {
			prio.Yield()
			return j.Store.SaveAssessments(ctx, out.Run.ID, as)
		})
		close(split)
		// Counted beside the writes: afterApply moves identities from
		// unlinked and misrouted to linked, which Matched counts alike.
		matched = res.Matched()
		saved <- j.saveAssessments(ctx, out.Run.ID, &res.Assessments, settled, prio)
	}()
	decided := func(recs []identity.ActionRecord) error { <-split; return ps.decided(recs) }
	ar, err := reconcile.Apply(ctx, j.Store, w, res, reconcile.ApplyOptions{
		RunID: out.Run.ID, BatchSize: j.batchSize(opt, res), Concurrency: j.WriteConcurrency, Limits: opt.Reconcile.Limits,
		Override: reconcile.Override{RunID: opt.Override}, Revoker: j.Revoker, Baseline: base, Decided: decided, Priority: prio,
	})
	serr := <-saved // after split: ps, pending and matched are set
	out.Apply = ar
	counts["applied"] = int64(ar.Applied)
	counts["failed"] = int64(len(ar.Failed))
	var held *reconcile.HeldError
	if errors.As(err, &held) {
		out.Held = held
		counts["held"] = int64(len(held.Held))
	}
	// The run's assessments say where identities stand after it: an unlinked
	// identity whose link this run wrote is linked now. They are saved even
	// when apply failed or was held, so the report shows the run either way.
	afterApply(&res.Assessments, ar.Records, pending)
	res.CountSituations(counts)
	counts["plan.matched"] = int64(matched)
	countFlags(counts, res)
	if serr == nil {
		serr = j.saveAssessments(ctx, out.Run.ID, &res.Assessments, ps.unsaved(), nil)
	}
	if serr != nil {
		return errors.Join(err, fmt.Errorf("save assessments: %w", serr))
	}
	return err
}

// saveAssessments saves the assessments at idx, in order, reconcile.SaveChunk
// per transaction; beside Apply's writes, each chunk after prio.Yield.
func (j *Job) saveAssessments(ctx context.Context, runID int64, as *reconcile.Assessments, idx []int, prio *reconcile.Priority) error {
	chunk := make([]identity.Assessment, 0, min(len(idx), reconcile.SaveChunk))
	return reconcile.InChunks(idx, func(part []int) error {
		prio.Yield()
		chunk = chunk[:0]
		for _, i := range part {
			chunk = append(chunk, as.At(i))
		}
		return j.Store.SaveAssessments(ctx, runID, chunk)
	})
}

// splitByApply splits the assessments' indexes into those afterApply cannot
// change and those it may: the identities whose link record the plan writes
// active, or whose ThirdPartyAccountLink it revokes.
func splitByApply(res *reconcile.Result) (settled, pending []int) {
	touched := map[identity.LinkKey]bool{}
	for _, a := range res.Actions {
		if movesSituation(a) {
			touched[a.Link.Key()] = true
		}
	}
	for i, a := range res.Assessments.All() {
		if a.Subject != "" && touched[identity.LinkKey{Provider: a.Provider, Subject: a.Subject}] {
			pending = append(pending, i)
		} else {
			settled = append(settled, i)
		}
	}
	return settled, pending
}

// movesSituation reports whether applying a can change where its identity
// stands (afterApply).
func movesSituation(a identity.Action) bool {
	switch a.Kind {
	case identity.ActionCreateLink, identity.ActionUpdateLink, identity.ActionAdoptLink:
		return a.Link.Status == identity.LinkActive
	case identity.ActionRevokeAccountLink:
		return true
	}
	return false
}

// countFlags records the plan's flags by name ("flag.<name>") and in all
// ("plan.flags"), and how many of its own actions are not flags
// ("plan.writes"), each there even when 0: the next incremental run keeps
// the flags of identities it does not plan again from these totals, and
// checks that its changes reach every write (keptFlags).
func countFlags(counts map[string]int64, res *reconcile.Result) {
	counts["plan.flags"] = 0
	for k, n := range res.Counts {
		if strings.HasPrefix(k, "flag.") {
			counts[k] = n
			counts["plan.flags"] += n
		}
	}
	counts["plan.writes"] = 0
	for _, a := range res.Actions {
		if a.Kind != identity.ActionFlag {
			counts["plan.writes"]++
		}
	}
}

// batchSize is how many link writes go to the Writer in one call: the Bulk
// API threshold when this run reaches it (the client sends a call that large
// as one ingest job; a smaller last batch goes through sObject Collections),
// else the option (0: the collection size).
func (j *Job) batchSize(opt Options, res *reconcile.Result) int {
	if j.BulkThreshold > 0 && res.SalesforceWrites() >= j.BulkThreshold {
		return j.BulkThreshold
	}
	return opt.BatchSize
}

// withOwner fills in this database's id and the databases it adopted, which
// decide whose Identity_Link__c rows are this one's.
func withOwner(ctx context.Context, st store.Store, rc reconcile.Config) (reconcile.Config, error) {
	id, err := st.StoreID(ctx)
	if err != nil {
		return rc, err
	}
	ad, err := st.ListAdoptedStores(ctx)
	if err != nil {
		return rc, fmt.Errorf("read adopted databases: %w", err)
	}
	rc.StoreID, rc.AdoptedStores = id, nil
	for _, a := range ad {
		rc.AdoptedStores = append(rc.AdoptedStores, a.StoreID)
	}
	return rc, nil
}

// LastSuccessful is the newest run or backfill that succeeded (dry runs
// are not runs); ok is false when there is none among the last 200 runs.
func LastSuccessful(ctx context.Context, st store.Store) (run identity.Run, ok bool, err error) {
	runs, err := st.ListRuns(ctx, 200)
	if err != nil {
		return identity.Run{}, false, fmt.Errorf("read the previous runs: %w", err)
	}
	for _, r := range runs {
		if r.Status == identity.StatusSucceeded && (r.Kind == identity.KindRun || r.Kind == identity.KindBackfill) {
			return r, true, nil
		}
	}
	return identity.Run{}, false, nil
}

// baseline is the coverage of the last successful run, the reference of the
// coverage-drop limit; nil when there is none yet.
func baseline(ctx context.Context, st store.Store) (*reconcile.Coverage, error) {
	r, ok, err := LastSuccessful(ctx, st)
	if !ok || err != nil {
		return nil, err
	}
	c := reconcile.CoverageOf(r.Counts)
	return &c, nil
}

// afterApply updates the assessments at idx to where identities stand after
// the applied records (outcome.after); a run passes splitByApply's pending
// ones, the only ones it can change (visiting all of them took ~28 ms at
// 100,000 identities, between the last write and the run's end). In place:
// at a million identities a copy is 150 MB.
func afterApply(as *reconcile.Assessments, recs []identity.ActionRecord, idx []int) {
	outcomes := map[identity.LinkKey]*outcome{}
	for _, r := range recs {
		if r.State != reconcile.StateApplied || !movesSituation(r.Action) {
			continue
		}
		o := outcomes[r.Action.Link.Key()]
		if o == nil {
			o = &outcome{}
			outcomes[r.Action.Link.Key()] = o
		}
		o.add(r)
	}
	if len(outcomes) == 0 {
		return
	}
	for _, i := range idx {
		a := as.At(i)
		if a.Subject == "" {
			continue
		}
		if o := outcomes[identity.LinkKey{Provider: a.Provider, Subject: a.Subject}]; o != nil {
			if b, changed := o.after(a); changed {
				as.Set(i, b)
			}
		}
	}
}

// outcome is what this run's applied records did to one link key: the
// Salesforce user its last applied active link names, and whether it
// revoked Salesforce's own link to a JIT duplicate.
type outcome struct {
	written bool
	sf      string
	revoked bool
}

// add takes an applied record that moves its identity (movesSituation).
func (o *outcome) add(r identity.ActionRecord) {
	if r.Action.Kind == identity.ActionRevokeAccountLink {
		o.revoked = true
	} else {
		o.written, o.sf = true, r.Action.Link.SalesforceUserID
	}
}

// after returns a as it stands after o, and whether that changed it: an
// unlinked identity whose create or update this run applied is linked, and
// so is a misrouted one whose wrong ThirdPartyAccountLink this run revoked
// (its next sign-in finds the correct link). Other misrouted identities
// stay misrouted: Salesforce's own link still names the duplicate, even
// where the package's confirmUser routes the sign-in.
func (o *outcome) after(a identity.Assessment) (identity.Assessment, bool) {
	written := o.written && o.sf == a.SalesforceUserID
	before := a.Detail
	switch a.Situation {
	case identity.Unlinked:
		if written {
			a.Situation = identity.Linked
			a.Detail = "linked by this run: " + a.Detail
		}
	case identity.Misrouted:
		if o.revoked {
			a.Situation = identity.Linked
			a.Detail = "linked; this run revoked the ThirdPartyAccountLink to the JIT duplicate: " + a.Detail
		} else if written {
			a.Detail = "this run wrote the link that the package's confirmUser uses to route sign-ins to " + a.SalesforceUserID + "; retire the duplicate. Before: " + a.Detail
		}
	}
	return a, a.Detail != before // every change above rewrites the detail
}

// pendingSaver saves the assessments apply can change (splitByApply's
// pending) while Apply runs: once the records of every action that can move
// an identity's link key are decided, its assessment is final and saved,
// SaveChunk at a time. At a million identities these were a fifth of the
// assessments, saved one after another once the last write was recorded.
// Decided calls come one at a time (reconcile.ApplyOptions), beside the
// job's saving of the settled assessments: both only read the assessments,
// which afterApply changes once Apply has returned.
type pendingSaver struct {
	as    *reconcile.Assessments
	byKey map[identity.LinkKey][]int // pending assessments by link key
	open  map[identity.LinkKey]int   // actions of the key that can move it, not yet decided
	recs  map[identity.LinkKey][]identity.ActionRecord
	seen  []bool // by action: its record was counted
	saved []bool // by assessment
	ready []identity.Assessment
	at    []int // the assessments in ready
	chunk int   // how many are saved together (reconcile.SaveChunk)
	save  func([]identity.Assessment) error
}

func newPendingSaver(res *reconcile.Result, pending []int, save func([]identity.Assessment) error) *pendingSaver {
	p := &pendingSaver{as: &res.Assessments, byKey: map[identity.LinkKey][]int{}, open: map[identity.LinkKey]int{},
		recs: map[identity.LinkKey][]identity.ActionRecord{}, seen: make([]bool, len(res.Actions)),
		saved: make([]bool, res.Assessments.Len()), chunk: reconcile.SaveChunk, save: save}
	for _, i := range pending {
		a := res.Assessments.At(i)
		k := identity.LinkKey{Provider: a.Provider, Subject: a.Subject}
		p.byKey[k] = append(p.byKey[k], i)
	}
	for _, a := range res.Actions {
		if movesSituation(a) {
			p.open[a.Link.Key()]++
		}
	}
	return p
}

// decided takes saved action records (reconcile.ApplyOptions.Decided).
func (p *pendingSaver) decided(recs []identity.ActionRecord) error {
	for _, r := range recs {
		i := r.Seq - 1
		if i < 0 || i >= len(p.seen) || p.seen[i] || !movesSituation(r.Action) {
			continue
		}
		p.seen[i] = true
		k := r.Action.Link.Key()
		p.recs[k] = append(p.recs[k], r)
		if p.open[k]--; p.open[k] > 0 {
			continue
		}
		// In plan order, as afterApply reads them: the last applied link wins.
		slices.SortFunc(p.recs[k], func(a, b identity.ActionRecord) int { return a.Seq - b.Seq })
		var o outcome
		for _, r := range p.recs[k] {
			if r.State == reconcile.StateApplied {
				o.add(r)
			}
		}
		delete(p.recs, k)
		for _, j := range p.byKey[k] {
			a, _ := o.after(p.as.At(j))
			p.ready, p.at = append(p.ready, a), append(p.at, j)
		}
		if len(p.ready) >= p.chunk {
			if err := p.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *pendingSaver) flush() error {
	if err := p.save(p.ready); err != nil {
		return fmt.Errorf("save %d assessments: %w", len(p.ready), err)
	}
	for _, j := range p.at {
		p.saved[j] = true
	}
	p.ready, p.at = p.ready[:0], p.at[:0]
	return nil
}

// unsaved returns the pending assessments decided has not saved, those it
// gathered for its next chunk included: once Apply has returned, afterApply
// gives them the values decided would have saved.
func (p *pendingSaver) unsaved() []int {
	var out []int
	for _, idx := range p.byKey {
		for _, j := range idx {
			if !p.saved[j] {
				out = append(out, j)
			}
		}
	}
	slices.Sort(out)
	return out
}

// dryRun reads both sides in full into a scratch store and plans against the
// real store's links, observations and decisions. It is recorded as a run of
// kind dry-run with its assessments and its actions (planned, or held where
// the safety limit would hold them), so that 'idlink report --run N' shows
// the plan; nothing else is written to the real store or to Salesforce, and
// cursors do not move. Like a real run it holds the lease (as a plan locks
// the state it plans against), so its plan is not racing a run's writes.
func (j *Job) dryRun(ctx context.Context, log *slog.Logger, opt Options, out *Outcome, counts map[string]int64) error {
	scratch, cleanup, err := j.Scratch(ctx)
	if err != nil {
		return fmt.Errorf("dry run: open a scratch store: %w", err)
	}
	defer cleanup()
	mirrorRun, err := scratch.StartRun(ctx, identity.KindDryRun, opt.Holder)
	if err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	notes, err := j.read(ctx, log, scratch, mirrorRun.ID, true, counts, nil)
	if err != nil {
		return err
	}
	out.Run.Note = strings.Join(append([]string{"dry run: nothing was written to Salesforce or to links"}, notes...), "; ")
	if opt.Reconcile, err = withOwner(ctx, j.Store, opt.Reconcile); err != nil {
		return err
	}
	snap, err := loadSalesforce(ctx, scratch)
	if err != nil {
		return err
	}
	res, err := planRest(ctx, opt.Reconcile, scratch, j.Store, snap)
	if err != nil {
		return err
	}
	out.Result = res
	maps.Copy(counts, res.Counts)
	base, err := baseline(ctx, j.Store)
	if err != nil {
		return err
	}
	if held := reconcile.CheckLimits(res, opt.Reconcile.Limits, base); held != nil {
		out.Held = held
		counts["held"] = int64(len(held.Held))
	}
	res.CountSituations(counts)
	if err := j.Store.SaveActions(ctx, out.Run.ID, reconcile.PlanRecords(res, out.Held)); err != nil {
		return fmt.Errorf("save the planned actions: %w", err)
	}
	all := make([]int, res.Assessments.Len())
	for i := range all {
		all[i] = i
	}
	if err := j.saveAssessments(ctx, out.Run.ID, &res.Assessments, all, nil); err != nil {
		return fmt.Errorf("save assessments: %w", err)
	}
	return nil
}

func prefixed(p string, m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[p+k] = v
	}
	return out
}
