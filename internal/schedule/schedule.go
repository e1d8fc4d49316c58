// Package schedule runs reconciliations on a cron expression (robfig/cron/v3)
// and serves /healthz and Prometheus /metrics. It never starts a run while
// one is going in this process; across replicas the store's lease makes the
// second run end "skipped". On shutdown it lets the current run finish, up to
// a grace period, before cancelling it.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"
)

// Result is what one run reports to the scheduler.
type Result struct {
	Status     string           // succeeded, failed, held, throttled, skipped
	Situations map[string]int64 // situation -> identities
	Requests   map[string]int64 // upstream -> API requests
	Throttled  time.Duration    // time spent waiting on Retry-After
}

// RunFunc performs one reconciliation.
type RunFunc func(ctx context.Context) (Result, error)

// Options configure the daemon.
type Options struct {
	Cron   string // 5-field cron expression
	Listen string // address of /healthz and /metrics; "" serves nothing
	// Grace is how long a running reconciliation may go on after a stop
	// request before it is cancelled. Default 2 minutes.
	Grace time.Duration
	// RunAtStart runs once immediately instead of waiting for the first tick.
	RunAtStart bool
	Log        *slog.Logger
	Registry   *prometheus.Registry // default: a new registry
	// LastSuccess is when the last successful run before this daemon ended
	// (from the store), so that idlink_last_success_timestamp_seconds does
	// not drop to 0 at every restart and set off staleness alerts.
	LastSuccess time.Time
}

// Metrics are the daemon's Prometheus series.
type Metrics struct {
	runs        *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	lastRun     prometheus.Gauge
	duration    prometheus.Histogram
	situations  *prometheus.GaugeVec
	requests    *prometheus.CounterVec
	throttled   prometheus.Counter
	running     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idlink_runs_total", Help: "Reconciliation runs by result."}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "idlink_last_success_timestamp_seconds", Help: "Unix time of the last successful run."}),
		lastRun:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "idlink_last_run_timestamp_seconds", Help: "Unix time the last run ended."}),
		duration:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "idlink_run_duration_seconds", Help: "Wall time of runs.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		situations:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "idlink_identities", Help: "Identities by situation after the last run that planned."}, []string{"situation"}),
		requests:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idlink_api_requests_total", Help: "Requests to Entra/Graph and Salesforce."}, []string{"upstream"}),
		throttled:   prometheus.NewCounter(prometheus.CounterOpts{Name: "idlink_throttle_wait_seconds_total", Help: "Time spent waiting on upstream throttling (Retry-After)."}),
		running:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "idlink_run_in_progress", Help: "1 while a run is in progress."}),
	}
	reg.MustRegister(m.runs, m.lastSuccess, m.lastRun, m.duration, m.situations, m.requests, m.throttled, m.running)
	for _, r := range []string{"succeeded", "failed", "held", "throttled", "skipped"} {
		m.runs.WithLabelValues(r) // export zeros so alerts can use rate()
	}
	return m
}

func (m *Metrics) observe(res Result, took time.Duration, now time.Time) {
	m.runs.WithLabelValues(res.Status).Inc()
	m.lastRun.Set(float64(now.Unix()))
	m.duration.Observe(took.Seconds())
	if res.Status == "succeeded" {
		m.lastSuccess.Set(float64(now.Unix()))
	}
	if len(res.Situations) > 0 {
		m.situations.Reset()
		for s, n := range res.Situations {
			m.situations.WithLabelValues(s).Set(float64(n))
		}
	}
	for up, n := range res.Requests {
		m.requests.WithLabelValues(up).Add(float64(n))
	}
	m.throttled.Add(res.Throttled.Seconds())
}

// Daemon is a running scheduler.
type Daemon struct {
	opt     Options
	run     RunFunc
	metrics *Metrics
	sched   cron.Schedule

	mu       sync.Mutex
	busy     bool
	lastErr  error
	lastDone time.Time
	started  time.Time
}

// New validates the cron expression and prepares the daemon.
func New(opt Options, run RunFunc) (*Daemon, error) {
	sched, err := cron.ParseStandard(opt.Cron)
	if err != nil {
		return nil, fmt.Errorf("schedule.cron %q: %v; write 5 fields (minute hour day month weekday), e.g. \"*/30 * * * *\"", opt.Cron, err)
	}
	if opt.Grace <= 0 {
		opt.Grace = 2 * time.Minute
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Registry == nil {
		opt.Registry = prometheus.NewRegistry()
	}
	m := newMetrics(opt.Registry)
	if !opt.LastSuccess.IsZero() {
		m.lastSuccess.Set(float64(opt.LastSuccess.Unix()))
	}
	return &Daemon{opt: opt, run: run, metrics: m, sched: sched}, nil
}

// Next returns when the schedule fires next after t.
func (d *Daemon) Next(t time.Time) time.Time { return d.sched.Next(t) }

// Handler serves /healthz and /metrics.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.opt.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		busy, lastErr, lastDone := d.busy, d.lastErr, d.lastDone
		d.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// The daemon is healthy while it schedules; a failed run is reported
		// through metrics and logs, not by getting the pod restarted.
		fmt.Fprintf(w, "ok\nrunning: %v\n", busy)
		if !lastDone.IsZero() {
			fmt.Fprintf(w, "last run ended: %s\n", lastDone.UTC().Format(time.RFC3339))
		}
		if lastErr != nil {
			fmt.Fprintf(w, "last run error: %v\n", lastErr)
		}
	})
	return mux
}

// Serve runs until ctx is done. A run in progress then gets the grace period
// to finish before its context is cancelled.
func (d *Daemon) Serve(ctx context.Context) error {
	d.started = time.Now()
	var srv *http.Server
	srvErr := make(chan error, 1)
	if d.opt.Listen != "" {
		ln, err := net.Listen("tcp", d.opt.Listen)
		if err != nil {
			return fmt.Errorf("schedule.listen %s: %w", d.opt.Listen, err)
		}
		srv = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { srvErr <- srv.Serve(ln) }()
		d.opt.Log.Info("serving /healthz and /metrics", "addr", ln.Addr().String())
	}
	// runCtx outlives ctx by the grace period so a run can finish its work.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	var wg sync.WaitGroup
	trigger := func() { d.trigger(runCtx, &wg) }
	if d.opt.RunAtStart {
		trigger()
	}
	d.opt.Log.Info("scheduler started", "cron", d.opt.Cron, "next", d.sched.Next(time.Now()).Format(time.RFC3339))
	timer := time.NewTimer(time.Until(d.sched.Next(time.Now())))
	defer timer.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-srvErr:
			return fmt.Errorf("metrics server: %w", err)
		case <-timer.C:
			trigger()
			timer.Reset(time.Until(d.sched.Next(time.Now())))
		}
	}
	d.opt.Log.Info("stopping: letting the current run finish", "grace", d.opt.Grace)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d.opt.Grace):
		d.opt.Log.Warn("grace period over: cancelling the current run")
		cancelRuns()
		<-done
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// trigger starts a run unless one is in progress in this process; it reports
// whether it started one.
func (d *Daemon) trigger(ctx context.Context, wg *sync.WaitGroup) bool {
	d.mu.Lock()
	if d.busy {
		d.mu.Unlock()
		d.opt.Log.Warn("previous run still in progress; skipping this tick")
		d.metrics.runs.WithLabelValues("skipped").Inc()
		return false
	}
	d.busy = true
	d.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.once(ctx)
	}()
	return true
}

func (d *Daemon) once(ctx context.Context) {
	start := time.Now()
	d.metrics.running.Set(1)
	res, err := d.run(ctx)
	took := time.Since(start)
	if res.Status == "" {
		res.Status = "succeeded"
		if err != nil {
			res.Status = "failed"
		}
	}
	d.metrics.running.Set(0)
	d.metrics.observe(res, took, time.Now())
	d.mu.Lock()
	d.busy = false
	d.lastErr = err
	d.lastDone = time.Now()
	d.mu.Unlock()
	if err != nil {
		d.opt.Log.Error("scheduled run ended", "status", res.Status, "took", took.Round(time.Millisecond), "err", err)
		return
	}
	d.opt.Log.Info("scheduled run ended", "status", res.Status, "took", took.Round(time.Millisecond))
}
