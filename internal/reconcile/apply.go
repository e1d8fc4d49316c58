package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// Store is the part of store.Store that Apply uses.
type Store interface {
	// ApplyLinkChanges writes links, their history and audit events in one transaction.
	ApplyLinkChanges(ctx context.Context, runID int64, changes []identity.LinkChange) error
	SaveActions(ctx context.Context, runID int64, actions []identity.ActionRecord) error
	GetRun(ctx context.Context, id int64) (identity.Run, error)
	ListActions(ctx context.Context, runID int64) ([]identity.ActionRecord, error)
}

// LinkWriter writes link records (Identity_Link__c) to Salesforce, upserting
// by subject. It returns one result per link, in order: partial success is
// normal. An error means the call as a whole failed (no record written).
type LinkWriter interface {
	UpsertLinks(ctx context.Context, links []identity.Link) ([]identity.WriteResult, error)
}

// AccountLinkRevoker removes Salesforce's own ThirdPartyAccountLink for
// (user, subject) through the idlink package's revocation resource. A link
// that is already gone is not an error. An error matching
// identity.ErrRevocationUnavailable concerns the org as a whole.
type AccountLinkRevoker interface {
	RevokeAccountLink(ctx context.Context, provider, userID, subject string) error
}

// Action record states.
const (
	StatePlanned = "planned" // flags, and writes not attempted
	StateApplied = "applied"
	StateFailed  = "failed"
	StateHeld    = "held"
)

// DefaultBatchSize is Salesforce's sObject Collections limit.
const DefaultBatchSize = 200

// ErrIncomplete is matched by the error Apply returns when some writes failed.
// Failed actions are not recorded as done, so the next run plans them again.
var ErrIncomplete = errors.New("some link writes failed; they stay pending for the next run")

// ApplyOptions configure one Apply.
type ApplyOptions struct {
	RunID     int64
	Actor     string // default "idlink run <RunID>"
	BatchSize int    // default 200 (Salesforce's collection size)
	// Concurrency is how many Salesforce write calls run at once (0 or 1:
	// one at a time); internal/config owns the setting's default.
	Concurrency int
	Limits      Limits // every field set (internal/config owns the defaults); -1 switches a limit off
	Override    Override
	// Revoker carries out revoke-account-link actions; nil fails them with
	// a message naming the setting.
	Revoker AccountLinkRevoker
	// Baseline is the coverage of the previous successful run, for the
	// coverage-drop limit; nil when there is none.
	Baseline *Coverage
	// Decided, if set, is called with action records once they are saved,
	// their outcome final: the link writes' as their batches are recorded,
	// so a caller can save what depends on them while the later batches
	// are on their way. One call at a time; a record may come twice (the
	// records of a failed Apply are saved again); an error stops Apply as
	// a store failure does.
	Decided func(recs []identity.ActionRecord) error
	// Priority, shared with what the caller saves beside Apply, gives the
	// recording of written batches the store first; nil: Apply's own.
	Priority *Priority
}

// Failure is an action that was not applied.
type Failure struct {
	Action identity.Action
	Error  string
}

// ApplyResult says what Apply did.
type ApplyResult struct {
	Held    bool
	Applied int // actions written to Salesforce (when they go there) and the store
	Failed  []Failure
	Records []identity.ActionRecord // as saved with SaveActions
}

// Apply executes a plan: it checks the safety limit, writes link records to
// Salesforce in batches, then records in the store (link, history and audit in
// one transaction per batch) only the records Salesforce accepted. Proposals
// are written to the store only (Salesforce must not honour them); flags are
// only recorded. Every action is saved with its outcome through SaveActions.
// Proposals are recorded, and they and the flags saved, while the writes are
// on their way; revocations of ThirdPartyAccountLinks follow the writes.
//
// A held plan returns an error matching ErrHeld (a *HeldError); failed writes
// return an error matching ErrIncomplete. Other errors are store or
// Salesforce failures; the result still says what was done.
func Apply(ctx context.Context, st Store, w LinkWriter, r *Result, opt ApplyOptions) (ApplyResult, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.Actor == "" {
		opt.Actor = "idlink run " + strconv.FormatInt(opt.RunID, 10)
	}
	if opt.Priority == nil {
		opt.Priority = NewPriority()
	}
	if err := opt.Limits.Validate(); err != nil {
		return ApplyResult{}, fmt.Errorf("apply: %w", err)
	}
	ap := &applier{st: st, r: r, opt: opt, states: make([]string, len(r.Actions)), errs: make([]string, len(r.Actions))}
	for i := range ap.states {
		ap.states[i] = StatePlanned
	}
	if held, err := ap.holdIfLimited(ctx); held || err != nil {
		return ap.res, err
	}
	writes, proposals, accountRevokes := ap.sortActions()
	// What only the store decides does not wait on Salesforce: proposals
	// are recorded, and they and the flags saved, while the writes are on
	// their way.
	byCalls := slices.Concat(writes, accountRevokes) // the actions a Salesforce call decides
	// The writes' records are saved beside the writes too, as their batches
	// are recorded: room for every batch, so that recording never waits.
	settled := make(chan []int, (len(writes)+opt.BatchSize-1)/opt.BatchSize)
	aside := make(chan error, 1)
	go func() { aside <- ap.recordAside(ctx, proposals, byCalls, settled) }()
	bw := &batchWriter{st: st, w: w, r: r, opt: opt, fail: ap.fail, applied: ap.applied,
		settled: func(idx []int) { settled <- idx }}
	runErr := bw.write(ctx, writes)
	close(settled)
	asideErr := <-aside
	runErr = errors.Join(runErr, asideErr)
	if runErr == nil {
		// After the writes: a sign-in whose wrong ThirdPartyAccountLink is
		// gone must find its link record.
		runErr = revokeAccountLinks(ctx, st, opt, r, accountRevokes, ap.states, ap.fail)
		for _, i := range accountRevokes {
			if ap.states[i] == StateApplied {
				ap.res.Applied++
			}
		}
	}
	ap.finish()
	decided := ap.res.Records
	if asideErr == nil {
		decided = make([]identity.ActionRecord, 0, len(accountRevokes))
		for _, i := range accountRevokes {
			decided = append(decided, ap.res.Records[i])
		}
	} // else what was saved aside may be incomplete: save every action
	if err := ap.save(ctx, decided); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if runErr != nil {
		return ap.res, runErr
	}
	if n := len(ap.res.Failed); n > 0 {
		return ap.res, fmt.Errorf("%d of %d link writes failed: %w", n, len(writes)+len(proposals)+len(accountRevokes), ErrIncomplete)
	}
	return ap.res, nil
}

// applier is one Apply's bookkeeping: each action's state and error, and
// the result.
type applier struct {
	st     Store
	r      *Result
	opt    ApplyOptions
	states []string // by action index; an index is only ever set by one goroutine
	errs   []string
	mu     sync.Mutex // guards res and failed while the writes and recordAside both run
	failed []int
	res    ApplyResult
}

func (ap *applier) fail(i int, msg string) {
	ap.states[i], ap.errs[i] = StateFailed, msg
	ap.mu.Lock()
	ap.failed = append(ap.failed, i)
	ap.mu.Unlock()
}

func (ap *applier) applied(i int) {
	ap.states[i] = StateApplied
	ap.mu.Lock()
	ap.res.Applied++
	ap.mu.Unlock()
}

// finish sets the result's failures, in plan order whichever part of Apply
// failed them, and its records: every action with its outcome.
func (ap *applier) finish() {
	slices.Sort(ap.failed)
	for _, i := range ap.failed {
		ap.res.Failed = append(ap.res.Failed, Failure{Action: ap.r.Actions[i], Error: ap.errs[i]})
	}
	ap.res.Records = make([]identity.ActionRecord, len(ap.r.Actions))
	for i := range ap.r.Actions {
		ap.res.Records[i] = ap.record(i)
	}
}

func (ap *applier) record(i int) identity.ActionRecord {
	return identity.ActionRecord{Seq: i + 1, Action: ap.r.Actions[i], State: ap.states[i], Error: ap.errs[i]}
}

// save saves action records (Seq says which action each is) and hands
// them to Decided.
func (ap *applier) save(ctx context.Context, recs []identity.ActionRecord) error {
	if err := ap.st.SaveActions(ctx, ap.opt.RunID, recs); err != nil {
		return fmt.Errorf("save the actions of run %d: %w", ap.opt.RunID, err)
	}
	if ap.opt.Decided != nil {
		if err := ap.opt.Decided(recs); err != nil {
			return fmt.Errorf("after saving the actions of run %d: %w", ap.opt.RunID, err)
		}
	}
	return nil
}

// saveIdx saves the records of the actions at idx, SaveChunk per
// transaction.
func (ap *applier) saveIdx(ctx context.Context, idx []int) error {
	return InChunks(idx, func(part []int) error {
		ap.opt.Priority.Yield()
		recs := make([]identity.ActionRecord, len(part))
		for k, i := range part {
			recs[k] = ap.record(i)
		}
		return ap.save(ctx, recs)
	})
}

// recordAside records the proposals, then saves every action that no
// Salesforce call decides (flags and proposals) with its outcome, then the
// link writes' as settled brings them (their batches recorded), in chunks:
// one transaction per chunk lets the writes' batches be recorded in between.
// The revocations of Salesforce's own links are saved once Salesforce
// decided them. After an error settled is still drained, so that the batch
// writer never waits on it.
func (ap *applier) recordAside(ctx context.Context, proposals, byCalls []int, settled <-chan []int) error {
	err := ap.recordProposals(ctx, proposals)
	if err == nil {
		bySalesforce := make([]bool, len(ap.r.Actions))
		for _, i := range byCalls {
			bySalesforce[i] = true
		}
		var aside []int
		for i := range ap.r.Actions {
			if !bySalesforce[i] {
				aside = append(aside, i)
			}
		}
		err = ap.saveIdx(ctx, aside)
	}
	var due []int
	for idx := range settled {
		if err != nil {
			continue
		}
		// Saved once nothing more is waiting, or a chunk is full.
		if due = append(due, idx...); len(due) >= SaveChunk || len(settled) == 0 {
			err = ap.saveIdx(ctx, due)
			due = due[:0]
		}
	}
	if err == nil {
		err = ap.saveIdx(ctx, due)
	}
	return err
}

// SaveChunk is how many rows (action records, proposals, and the job's
// assessments) one transaction saves while link writes are being recorded
// beside it: a batch's record waits for the store some 5 ms (assessments)
// to 50 ms (proposals) at most.
const SaveChunk = 1024

// InChunks calls save with idx, SaveChunk indexes at a time, in order, until
// one call fails.
func InChunks(idx []int, save func(part []int) error) error {
	for start := 0; start < len(idx); start += SaveChunk {
		if err := save(idx[start:min(start+SaveChunk, len(idx))]); err != nil {
			return err
		}
	}
	return nil
}

// holdIfLimited checks the safety limits: a plan that breaks them, and that
// no override covers, is held: its actions are saved as held, nothing is
// written, and the error is the *HeldError (joined with a failure to save).
func (ap *applier) holdIfLimited(ctx context.Context) (held bool, err error) {
	h := CheckLimits(ap.r, ap.opt.Limits, ap.opt.Baseline)
	if h == nil {
		return false, nil
	}
	note, err := overrideCovers(ctx, ap.st, ap.r, h.idx, ap.opt.Override)
	if err != nil {
		return false, err
	}
	if h.Foreign {
		note = "rows of another idlink database are adopted, not overridden"
	}
	if note == "" {
		return false, nil // the override covers the plan
	}
	h.Note = note
	ap.res.Held = true
	for _, j := range h.idx {
		ap.states[j] = StateHeld
	}
	ap.finish()
	if err := ap.save(ctx, ap.res.Records); err != nil {
		return true, errors.Join(h, err)
	}
	return true, h
}

// sortActions splits the plan by where each action goes: link writes to
// Salesforce and the store, proposals and adoptions to the store only (a
// proposal must not reach the login handler, an adopted link is in
// Salesforce already), revocations of Salesforce's own links.
//
// Within each kind, writes and proposals go in the order of their subjects
// (inSubjectOrder).
func (ap *applier) sortActions() (writes, proposals, accountRevokes []int) {
	for i, a := range ap.r.Actions {
		switch {
		case writesIdentityLink(a.Kind):
			writes = append(writes, i)
		case a.Kind == identity.ActionProposeLink || a.Kind == identity.ActionAdoptLink:
			proposals = append(proposals, i)
		case a.Kind == identity.ActionRevokeAccountLink:
			accountRevokes = append(accountRevokes, i)
		}
	}
	ap.inSubjectOrder(writes)
	ap.inSubjectOrder(proposals)
	return writes, proposals, accountRevokes
}

// inSubjectOrder sorts each run of actions of one kind in idx by subject.
// The store keeps links and their history by (provider, subject): a batch
// of subjects that follow one another touches a few neighbouring pages of
// those B-trees, where a batch in the plan's order touched about one page
// per change (at a million identities that made recording the link
// changes, their commits most of all, the bound of the writes' phase). The
// plan's order of kinds stays: revokes of wrong links go before the creates
// that a failed call would stop. The sort is stable, so the changes of one
// subject keep their plan order; changes of different subjects are
// independent records, in Salesforce (Subject__c is the upsert key) as in
// the store.
func (ap *applier) inSubjectOrder(idx []int) {
	bySubject := func(i, j int) int { return strings.Compare(ap.r.Actions[i].Link.Subject, ap.r.Actions[j].Link.Subject) }
	for start := 0; start < len(idx); {
		kind := ap.r.Actions[idx[start]].Kind
		end := start + 1
		for end < len(idx) && ap.r.Actions[idx[end]].Kind == kind {
			end++
		}
		slices.SortStableFunc(idx[start:end], bySubject)
		start = end
	}
}

// recordProposals records proposals and adoptions in the store, SaveChunk
// of them per transaction.
func (ap *applier) recordProposals(ctx context.Context, proposals []int) error {
	return InChunks(proposals, func(batch []int) error {
		ap.opt.Priority.Yield()
		changes := make([]identity.LinkChange, len(batch))
		for k, i := range batch {
			changes[k] = linkChange(ap.r.Actions[i], ap.opt.Actor)
		}
		if err := recordChanges(ctx, ap.st, ap.opt.RunID, changes); err != nil {
			for _, i := range batch {
				ap.fail(i, err.Error())
			}
			return err
		}
		for _, i := range batch {
			ap.applied(i)
		}
		return nil
	})
}

// revokeAccountLinks carries out the revoke-account-link actions at idx, one
// call each (the resource takes one link), each recorded in the link's
// history and the audit log once Salesforce confirmed it. A refusal that
// concerns the whole org (identity.ErrRevocationUnavailable) fails the
// remaining ones of the same provider with the same message instead of
// repeating the call: the resource serves one Auth. Provider and refuses the
// others (409 provider_mismatch), which must not stop the one it serves. It
// returns only store errors.
func revokeAccountLinks(ctx context.Context, st Store, opt ApplyOptions, r *Result, idx []int, states []string, fail func(int, string)) error {
	unavailable := map[string]string{} // provider -> the failure of its remaining revokes
	for _, i := range idx {
		a := r.Actions[i]
		if msg, ok := unavailable[a.Link.Provider]; ok {
			fail(i, msg)
			continue
		}
		var err error
		if opt.Revoker == nil {
			err = fmt.Errorf("%w: no revoker configured (set providers[].revoke_account_links and turn on the package's revocation resource)", identity.ErrRevocationUnavailable)
		} else {
			err = opt.Revoker.RevokeAccountLink(ctx, a.Link.Provider, a.Link.SalesforceUserID, a.Link.Subject)
		}
		if errors.Is(err, identity.ErrRevocationUnavailable) {
			unavailable[a.Link.Provider] = "not revoked: " + err.Error()
			fail(i, unavailable[a.Link.Provider])
			continue
		}
		if err != nil {
			fail(i, "not revoked: "+err.Error())
			continue
		}
		if err := recordChanges(ctx, st, opt.RunID, []identity.LinkChange{linkChange(a, opt.Actor)}); err != nil {
			fail(i, "revoked in Salesforce but not recorded: "+err.Error())
			return err
		}
		states[i] = StateApplied
	}
	return nil
}

func linkChange(a identity.Action, actor string) identity.LinkChange {
	return identity.LinkChange{Action: a.Kind, Link: a.Link, Actor: actor, Detail: a.Reason}
}

func recordChanges(ctx context.Context, st Store, runID int64, changes []identity.LinkChange) error {
	if len(changes) == 0 {
		return nil
	}
	if err := st.ApplyLinkChanges(ctx, runID, changes); err != nil {
		return fmt.Errorf("record %d link changes in the store: %w", len(changes), err)
	}
	return nil
}

// overrideCovers returns "" when the override releases the held plan r, else
// why not. The override must name a held run, and every action of r the
// limit holds (idx) must have been held by that run: an admin approves what
// was shown. A plan held only for a coverage drop holds no action: the
// override names the held run whose report the admin reviewed.
func overrideCovers(ctx context.Context, st Store, r *Result, idx []int, o Override) (string, error) {
	if o.RunID == 0 {
		return "no override given", nil
	}
	run, err := st.GetRun(ctx, o.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Sprintf("override names run %d, which does not exist", o.RunID), nil
	}
	if err != nil {
		return "", fmt.Errorf("read run %d named by the override: %w", o.RunID, err)
	}
	if run.Status != identity.StatusHeld {
		return fmt.Sprintf("override names run %d, which was %s, not held", o.RunID, run.Status), nil
	}
	recs, err := st.ListActions(ctx, o.RunID)
	if err != nil {
		return "", fmt.Errorf("read the held actions of run %d: %w", o.RunID, err)
	}
	held := map[actionKey]bool{}
	for _, rec := range recs {
		if rec.State == StateHeld {
			held[keyOf(rec.Action)] = true
		}
	}
	missing := 0
	for _, j := range idx {
		if !held[keyOf(r.Actions[j])] {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Sprintf("override names run %d, but %d of the %d changes now planned were not held by it: review this run's held actions and override it instead", o.RunID, missing, len(idx)), nil
	}
	return "", nil
}
