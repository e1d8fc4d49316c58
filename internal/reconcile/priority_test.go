package reconcile

import (
	"fmt"
	"testing"
	"time"
)

// Yield lets a saver through at once when no batch waits to be recorded,
// and otherwise only once every waiting recording is done.
func TestPriorityYieldWaitsForRecordings(t *testing.T) {
	var none *Priority
	none.recording()()
	none.Yield() // a nil Priority holds back no one

	for n := 1; n <= 3; n++ {
		t.Run(fmt.Sprintf("%d recordings", n), func(t *testing.T) {
			p := NewPriority()
			p.Yield() // nothing waiting: returns
			var done []func()
			for range n {
				done = append(done, p.recording())
			}
			blocked := make(chan struct{})
			p.blocked = func() { close(blocked) }
			passed := make(chan int, 1) // how many recordings waited as the saver went through
			go func() {
				p.Yield()
				p.mu.Lock()
				passed <- p.waiting
				p.mu.Unlock()
			}()
			select { // the saver waits (p.mu is released only inside its Wait)
			case <-blocked:
			case <-time.After(10 * time.Second): // a deadline, not a wait
				t.Fatal("Yield did not start to wait")
			}
			for _, d := range done {
				d()
			}
			if w := <-passed; w != 0 {
				t.Fatalf("Yield returned with %d recordings waiting", w)
			}
			p.blocked = nil
			p.Yield() // and lets the next saver through at once
		})
	}
}
