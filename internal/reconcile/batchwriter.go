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
// the store one batch at a time, in plan order. While batch j is recorded,
// the calls of the next batches are on their way, so neither the store's
// transactions nor one slow call lengthen the chain of collection calls
// (DESIGN §10). At most Concurrency+1 batches are written but not yet
// recorded: if the store fails, those are reported "written to Salesforce
// but not recorded" and the next run plans them again (upserts by subject
// are idempotent). A failed call stops new calls; the ones already on their
// way finish and are recorded.
type batchWriter struct {
	st      Store
	w       LinkWriter
	r       *Result
	opt     ApplyOptions
	fail    func(i int, msg string)
	applied func(i int)
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
	size := b.opt.BatchSize
	var batches []*sfBatch
	for start := 0; start < len(writes); start += size {
		batches = append(batches, &sfBatch{idx: writes[start:min(start+size, len(writes))], decided: make(chan struct{}), done: make(chan struct{})})
	}
	k := max(1, b.opt.Concurrency)
	calls := make(chan struct{}, k)    // calls in flight
	window := make(chan struct{}, k+1) // batches sent and not yet recorded
	stop := make(chan struct{})        // closed when no further batch may be sent
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }) }
	halted := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	sent := make(chan struct{})
	go func() { // the sender: batches in plan order, as the limits allow
		defer close(sent)
		for _, bt := range batches {
			select {
			case window <- struct{}{}:
			case <-stop:
			}
			if !halted() {
				calls <- struct{}{}
			}
			if halted() { // checked again: the call before may just have failed
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
					halt() // before the next call may start
				}
				<-calls
			}(bt)
		}
	}()

	var runErr, callErr, storeErr error
	for j, bt := range batches {
		<-bt.done
		if j+1 < len(batches) {
			// The next batch goes out before this one is recorded, so the
			// store's transaction overlaps a call instead of preceding it.
			<-batches[j+1].decided
		}
		switch {
		case bt.skipped && storeErr != nil:
			continue // never sent: left planned for the next run
		case bt.skipped:
			for _, i := range bt.idx {
				b.fail(i, "not written: "+firstErr(callErr).Error())
			}
			continue
		case bt.err != nil:
			err := fmt.Errorf("write %d link records to Salesforce: %w", len(bt.idx), bt.err)
			runErr = errors.Join(runErr, err)
			if callErr == nil {
				callErr = err
			}
			for _, i := range bt.idx {
				b.fail(i, "not written: "+err.Error())
			}
			<-window
			continue
		}
		var changes []identity.LinkChange
		var accepted []int
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
		if storeErr == nil {
			if err := recordChanges(ctx, b.st, b.opt.RunID, changes); err != nil {
				storeErr = err
				runErr = errors.Join(runErr, err)
				halt()
			}
		}
		for _, i := range accepted {
			if storeErr != nil {
				b.fail(i, "written to Salesforce but not recorded: "+storeErr.Error())
			} else {
				b.applied(i)
			}
		}
		<-window // recorded (or given up): the sender may go one further
	}
	halt()
	<-sent
	return runErr
}

func (b *batchWriter) links(idx []int) []identity.Link {
	links := make([]identity.Link, len(idx))
	for k, i := range idx {
		links[k] = b.r.Actions[i].Link
	}
	return links
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return errors.New("an earlier batch failed")
}
