package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/idlinkhq/idlink/internal/identity"
)

// batchWriter writes the plan's link writes to Salesforce in batches, up to
// Concurrency calls at once, and records the records Salesforce accepted in
// the store in write order (Apply's: each kind's subjects in order), a batch
// at a time or, when several are back, up to Concurrency batches in one
// transaction. While batch j is recorded, the calls of the next batches are
// on their way, so neither the store's transactions nor one slow call
// lengthen the chain of collection calls (DESIGN §10). At most
// Concurrency+1 batches are written but not yet recorded: if the store
// fails, those are reported "written to Salesforce but not recorded" and the
// next run plans them again (upserts by subject are idempotent). A failed
// call stops new calls; the ones already on their way finish and are
// recorded. Each group settled is handed to settled, its outcome final.
type batchWriter struct {
	st      Store
	w       LinkWriter
	r       *Result
	opt     ApplyOptions
	fail    func(i int, msg string)
	applied func(i int)
	settled func(idx []int) // the actions of batches whose outcome is final

	calls, window chan struct{} // the limits of send
	stop          chan struct{} // closed by halt: no further batch is sent
	once          sync.Once

	runErr, callErr, storeErr error // settle's, in write order
}

// sfBatch is one Salesforce call: the action indexes it carries and, once
// done is closed, Salesforce's answer.
type sfBatch struct {
	idx     []int
	results []identity.WriteResult
	err     error
	skipped bool          // not sent: an earlier batch failed
	decided chan struct{} // closed once the sender sent or skipped it
	done    chan struct{}
}

func (b *batchWriter) write(ctx context.Context, writes []int) error {
	var batches []*sfBatch
	for start := 0; start < len(writes); start += b.opt.BatchSize {
		batches = append(batches, &sfBatch{idx: writes[start:min(start+b.opt.BatchSize, len(writes))], decided: make(chan struct{}), done: make(chan struct{})})
	}
	k := max(1, b.opt.Concurrency)
	b.calls = make(chan struct{}, k)    // calls in flight
	b.window = make(chan struct{}, k+1) // batches sent and not yet recorded
	b.stop = make(chan struct{})        // closed when no further batch may be sent
	sent := make(chan struct{})
	go func() { defer close(sent); b.send(ctx, batches) }()
	for j := 0; j < len(batches); {
		<-batches[j].done
		recorded := b.opt.Priority.recording() // back: its recording goes before what is saved beside it
		// The batches that are back by now are recorded with it, in one
		// transaction: at a million identities a commit per batch cost
		// more than the batch's rows (each commit writes the index pages
		// its random keys touched). At most k of them, so that the window
		// keeps a place for the batch after them.
		n := j + 1
		for n < len(batches) && n-j < k && closed(batches[n].done) {
			n++
		}
		if n < len(batches) {
			// The next batch goes out before these are recorded, so the
			// store's transaction overlaps a call instead of preceding it.
			<-batches[n].decided
		}
		b.settle(ctx, batches[j:n])
		recorded()
		j = n
	}
	b.halt()
	<-sent
	return b.runErr
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (b *batchWriter) halt() { b.once.Do(func() { close(b.stop) }) }

func (b *batchWriter) halted() bool { return closed(b.stop) }

// send sends the batches in write order, as the limits allow: at most
// Concurrency calls at once and Concurrency+1 batches not yet recorded.
// After a failure (halt) the rest are skipped.
func (b *batchWriter) send(ctx context.Context, batches []*sfBatch) {
	for _, bt := range batches {
		select {
		case b.window <- struct{}{}:
		case <-b.stop:
		}
		if !b.halted() {
			b.calls <- struct{}{}
		}
		if b.halted() { // checked again: the call before may just have failed
			bt.skipped = true
			close(bt.decided)
			close(bt.done)
			continue
		}
		close(bt.decided)
		go func(bt *sfBatch) {
			defer close(bt.done)
			bt.results, bt.err = b.w.UpsertLinks(ctx, b.links(bt.idx))
			if bt.err == nil && len(bt.results) != len(bt.idx) {
				bt.err = fmt.Errorf("salesforce returned %d results for %d records", len(bt.results), len(bt.idx))
			}
			if bt.err != nil {
				b.halt() // before the next call may start
			}
			<-b.calls
		}(bt)
	}
}

// settle takes the answers of consecutive batches in write order: failed
// records fail, the accepted ones are recorded in the store in one
// transaction (unless it failed before), and the window moves on by as many
// batches.
func (b *batchWriter) settle(ctx context.Context, group []*sfBatch) {
	var changes []identity.LinkChange
	var accepted []int
	taken := 0 // batches that hold a place in the window until recorded
	for _, bt := range group {
		switch {
		case bt.skipped && b.storeErr != nil:
			continue // never sent: left planned for the next run
		case bt.skipped:
			// Skipped after a failed call: settle saw that call first.
			for _, i := range bt.idx {
				b.fail(i, "not written: "+b.callErr.Error())
			}
			continue
		case bt.err != nil:
			err := fmt.Errorf("write %d link records to Salesforce: %w", len(bt.idx), bt.err)
			b.runErr = errors.Join(b.runErr, err)
			if b.callErr == nil {
				b.callErr = err
			}
			for _, i := range bt.idx {
				b.fail(i, "not written: "+err.Error())
			}
			<-b.window
			continue
		}
		taken++
		for k, i := range bt.idx {
			switch {
			case !bt.results[k].OK:
				b.fail(i, "salesforce: "+bt.results[k].Error)
			case b.r.remoteOnly(i):
				// Only the Salesforce row was live; idlink has no record to change.
				b.applied(i)
			default:
				accepted = append(accepted, i)
				changes = append(changes, linkChange(b.r.Actions[i], b.opt.Actor))
			}
		}
	}
	if b.storeErr == nil {
		if err := recordChanges(ctx, b.st, b.opt.RunID, changes); err != nil {
			b.storeErr = err
			b.runErr = errors.Join(b.runErr, err)
			b.halt()
		}
	}
	for _, i := range accepted {
		if b.storeErr != nil {
			b.fail(i, "written to Salesforce but not recorded: "+b.storeErr.Error())
		} else {
			b.applied(i)
		}
	}
	for range taken {
		<-b.window // recorded (or given up): the sender may go one further
	}
	if b.settled != nil {
		for _, bt := range group {
			b.settled(bt.idx)
		}
	}
}

func (b *batchWriter) links(idx []int) []identity.Link {
	links := make([]identity.Link, len(idx))
	for k, i := range idx {
		links[k] = b.r.Actions[i].Link
	}
	return links
}
