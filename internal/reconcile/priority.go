package reconcile

import "sync"

// Priority gives the recording of the link writes' batches the store before
// what is saved beside them. A written batch that waits for the store holds
// back the calls after it (at most Concurrency+1 batches are written and not
// recorded); the proposals, action records and assessments saved beside the
// writes hold back nobody. Their savers Yield before each chunk while a
// batch waits to be recorded, so that a recording waits for one chunk at
// most instead of a queue of them. A nil *Priority holds back no one.
type Priority struct {
	mu      sync.Mutex
	cond    *sync.Cond
	waiting int // batches back from Salesforce and not yet recorded

	blocked func() // a test's: called as a Yield starts to wait
}

// NewPriority returns a Priority no recording is waiting on.
func NewPriority() *Priority {
	p := &Priority{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// recording marks a recording that wants the store until done is called.
func (p *Priority) recording() (done func()) {
	if p == nil {
		return func() {}
	}
	p.mu.Lock()
	p.waiting++
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		if p.waiting--; p.waiting == 0 {
			p.cond.Broadcast()
		}
		p.mu.Unlock()
	}
}

// Yield returns once no recording wants the store.
func (p *Priority) Yield() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.waiting > 0 && p.blocked != nil {
		p.blocked()
	}
	for p.waiting > 0 {
		p.cond.Wait()
	}
	p.mu.Unlock()
}
