// Package fault injects latency and failures into the simulated services and
// counts what they serve. Each simulator wraps its endpoints with an Injector;
// tests and benchmarks set Faults per endpoint name and read Counters back.
package fault

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Faults is what one endpoint suffers. Counted faults (ThrottleNext,
// UnavailableNext, ResetNext) fire on the next requests and then stop, which
// makes tests deterministic; the rates apply to every request with the
// injector's seeded random source.
type Faults struct {
	Latency time.Duration // fixed delay before every response
	Jitter  time.Duration // plus a uniform random delay in [0, Jitter)
	// WorkInLatency runs the handler as the request arrives and holds its
	// answer until the latency has passed since then: the latency is the
	// service's whole response time, its own work included, as a benchmark
	// whose floor counts each request at the latency assumes (the
	// simulator's work is this machine's CPU, a real service's is not).
	// Without it the handler runs after the delay, so that a test can
	// change the world while a request waits and see the change answered.
	WorkInLatency bool

	ThrottleNext int           // answer the next N requests with 429
	ThrottleRate float64       // and this fraction of all requests
	RetryAfter   time.Duration // Retry-After sent with 429 (rounded up to seconds; 0 sends none)

	UnavailableNext int     // answer the next N requests with 503
	UnavailableRate float64 // and this fraction of all requests

	ResetNext int // drop the connection without a response on the next N requests
}

// ErrorWriter writes a service's own error shape for a fault status (429 or
// 503): Graph and Salesforce word their errors differently.
type ErrorWriter func(w http.ResponseWriter, status int, retryAfter time.Duration)

// Counter is what one endpoint served.
type Counter struct {
	Requests    int64
	Bytes       int64 // response body bytes written
	Throttled   int64 // 429s injected
	Unavailable int64 // 503s injected
	Resets      int64 // connections dropped
}

type endpoint struct {
	mu     sync.Mutex
	faults Faults
	// waiters are closed once requests reaches their count (Reached).
	waiters []waiter

	requests, bytes, throttled, unavailable, resets atomic.Int64
}

// Injector holds the faults and counters of one simulated service.
type Injector struct {
	mu        sync.Mutex
	endpoints map[string]*endpoint
	rng       *rand.Rand
	rngMu     sync.Mutex
	sleep     func(time.Duration)
}

// New returns an injector whose random faults follow seed.
func New(seed uint64) *Injector {
	return &Injector{
		endpoints: map[string]*endpoint{},
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		sleep:     time.Sleep,
	}
}

func (in *Injector) ep(name string) *endpoint {
	in.mu.Lock()
	defer in.mu.Unlock()
	e, ok := in.endpoints[name]
	if !ok {
		e = &endpoint{}
		in.endpoints[name] = e
	}
	return e
}

// Set replaces the faults of the named endpoint.
func (in *Injector) Set(name string, f Faults) {
	e := in.ep(name)
	e.mu.Lock()
	e.faults = f
	e.mu.Unlock()
}

// SetAll applies f to every endpoint name given.
func (in *Injector) SetAll(f Faults, names ...string) {
	for _, n := range names {
		in.Set(n, f)
	}
}

func (in *Injector) float() float64 {
	in.rngMu.Lock()
	defer in.rngMu.Unlock()
	return in.rng.Float64()
}

// decide consumes the counted faults and returns what this request suffers.
func (in *Injector) decide(e *endpoint) (delay time.Duration, status int, retryAfter time.Duration, reset, work bool) {
	e.mu.Lock()
	f := e.faults
	switch {
	case e.faults.ResetNext > 0:
		e.faults.ResetNext--
		reset = true
	case e.faults.ThrottleNext > 0:
		e.faults.ThrottleNext--
		status = http.StatusTooManyRequests
	case e.faults.UnavailableNext > 0:
		e.faults.UnavailableNext--
		status = http.StatusServiceUnavailable
	}
	e.mu.Unlock()
	delay = f.Latency
	if f.Jitter > 0 {
		delay += time.Duration(in.float() * float64(f.Jitter))
	}
	if !reset && status == 0 {
		if f.ThrottleRate > 0 && in.float() < f.ThrottleRate {
			status = http.StatusTooManyRequests
		} else if f.UnavailableRate > 0 && in.float() < f.UnavailableRate {
			status = http.StatusServiceUnavailable
		}
	}
	return delay, status, f.RetryAfter, reset, f.WorkInLatency && !reset && status == 0
}

type waiter struct {
	n  int64
	ch chan struct{}
}

// Reached returns a channel that is closed once the named endpoint has
// received n requests (counting from the injector's start), so a test can
// wait for a request to arrive instead of sleeping.
func (in *Injector) Reached(name string, n int64) <-chan struct{} {
	e := in.ep(name)
	ch := make(chan struct{})
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.requests.Load() >= n {
		close(ch)
		return ch
	}
	e.waiters = append(e.waiters, waiter{n: n, ch: ch})
	return ch
}

// arrived counts a request and wakes the waiters it satisfies.
func (e *endpoint) arrived() {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.requests.Add(1)
	kept := e.waiters[:0]
	for _, w := range e.waiters {
		if n >= w.n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	e.waiters = kept
}

// Wrap counts and disturbs the requests of the named endpoint. errw writes the
// service's error body for injected 429/503 answers.
func (in *Injector) Wrap(name string, errw ErrorWriter, h http.Handler) http.Handler {
	e := in.ep(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived := time.Now()
		e.arrived()
		delay, status, retryAfter, reset, work := in.decide(e)
		if work && delay > 0 {
			serveInLatency(&countingWriter{ResponseWriter: w, n: &e.bytes}, r, h, arrived.Add(delay))
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if reset {
			e.resets.Add(1)
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			// HTTP/2 cannot be hijacked: abort the stream instead.
			panic(http.ErrAbortHandler)
		}
		cw := &countingWriter{ResponseWriter: w, n: &e.bytes}
		switch status {
		case http.StatusTooManyRequests:
			e.throttled.Add(1)
			if retryAfter > 0 {
				secs := int((retryAfter + time.Second - 1) / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			}
			errw(cw, status, retryAfter)
			return
		case http.StatusServiceUnavailable:
			e.unavailable.Add(1)
			errw(cw, status, retryAfter)
			return
		}
		h.ServeHTTP(cw, r)
	})
}

// Counters returns a copy of every endpoint's counters.
func (in *Injector) Counters() map[string]Counter {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]Counter, len(in.endpoints))
	for name, e := range in.endpoints {
		out[name] = Counter{
			Requests:    e.requests.Load(),
			Bytes:       e.bytes.Load(),
			Throttled:   e.throttled.Load(),
			Unavailable: e.unavailable.Load(),
			Resets:      e.resets.Load(),
		}
	}
	return out
}

// Counter returns one endpoint's counters.
func (in *Injector) Counter(name string) Counter { return in.Counters()[name] }

// Names lists the endpoints seen so far, sorted.
func (in *Injector) Names() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	names := make([]string, 0, len(in.endpoints))
	for n := range in.endpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Reset zeroes every counter (faults stay).
func (in *Injector) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range in.endpoints {
		e.requests.Store(0)
		e.bytes.Store(0)
		e.throttled.Store(0)
		e.unavailable.Store(0)
		e.resets.Store(0)
	}
}

// serveInLatency runs h at once into a buffer and answers w with what it
// wrote once due has passed (at once if h took longer). A request its client
// gave up on meanwhile gets nothing; what h changed stays changed, as a
// service that did the work before the client left.
func serveInLatency(w http.ResponseWriter, r *http.Request, h http.Handler, due time.Time) {
	b := &bufferedResponse{header: http.Header{}}
	h.ServeHTTP(b, r)
	if wait := time.Until(due); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status != 0 {
		w.WriteHeader(b.status)
	}
	w.Write(b.body.Bytes())
}

// bufferedResponse is a response written to memory, to be sent later.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Flush lets streaming handlers flush through the counter.
func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
