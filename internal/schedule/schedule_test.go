package schedule

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestBadCronNamesTheFix(t *testing.T) {
	_, err := New(Options{Cron: "every 5 minutes"}, nil)
	if err == nil || !strings.Contains(err.Error(), "schedule.cron") || !strings.Contains(err.Error(), "5 fields") {
		t.Fatalf("err = %v", err)
	}
	d, err := New(Options{Cron: "*/30 * * * *"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 10, 7, 0, 0, time.UTC)
	if got := d.Next(base); !got.Equal(time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)) {
		t.Fatalf("next = %v", got)
	}
}

func TestStopLetsTheRunFinishAndMetricsShowIt(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var ctxErr atomic.Pointer[error]
	d, err := New(Options{Cron: "0 0 1 1 *", RunAtStart: true, Log: quiet(), Grace: 5 * time.Second}, func(ctx context.Context) (Result, error) {
		close(started)
		<-release
		err := ctx.Err()
		ctxErr.Store(&err)
		return Result{Status: "succeeded", Situations: map[string]int64{"linked": 7}, Requests: map[string]int64{"graph": 3}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Serve(ctx) }()
	waitStarted(t, started)
	stop() // SIGTERM while the run works
	select {
	case <-done:
		t.Fatal("Serve returned before the run finished")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if e := ctxErr.Load(); e == nil || *e != nil {
		t.Fatalf("run context was cancelled within the grace period: %v", e)
	}
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`idlink_runs_total{result="succeeded"} 1`, `idlink_identities{situation="linked"} 7`, `idlink_api_requests_total{upstream="graph"} 3`, "idlink_last_success_timestamp_seconds"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	rec = httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "ok") {
		t.Fatalf("healthz %d %q", rec.Code, rec.Body.String())
	}
}

func TestGraceOverCancelsTheRun(t *testing.T) {
	cancelled := make(chan struct{})
	started := make(chan struct{})
	d, _ := New(Options{Cron: "0 0 1 1 *", RunAtStart: true, Log: quiet(), Grace: 50 * time.Millisecond}, func(ctx context.Context) (Result, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return Result{}, ctx.Err()
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Serve(ctx) }()
	waitStarted(t, started)
	stop()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("run not cancelled after the grace period")
	}
	<-done
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `idlink_runs_total{result="failed"} 1`) {
		t.Fatal("cancelled run not counted as failed")
	}
}

func TestOverlappingTickIsSkipped(t *testing.T) {
	release := make(chan struct{})
	var runs atomic.Int32
	d, _ := New(Options{Cron: "0 0 1 1 *", Log: quiet()}, func(ctx context.Context) (Result, error) {
		runs.Add(1)
		<-release
		return Result{Status: "succeeded"}, nil
	})
	var wg sync.WaitGroup
	if !d.trigger(context.Background(), &wg) {
		t.Fatal("first tick did not start a run")
	}
	if d.trigger(context.Background(), &wg) {
		t.Fatal("second tick started a run while the first was in progress")
	}
	close(release)
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("runs = %d, want 1", runs.Load())
	}
	if !d.trigger(context.Background(), &wg) {
		t.Fatal("tick after the run ended did not start a run")
	}
	wg.Wait()
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `idlink_runs_total{result="skipped"} 1`) {
		t.Fatal("skipped tick not counted")
	}
}

// TestLastSuccessSurvivesRestart: the daemon starts with the last success
// the store knows, so a restart does not reset the gauge to 0 and set off
// staleness alerts.
func TestLastSuccessSurvivesRestart(t *testing.T) {
	reg := prometheus.NewRegistry()
	last := time.Date(2026, 11, 30, 8, 15, 0, 0, time.UTC)
	if _, err := New(Options{Cron: "*/30 * * * *", Registry: reg, LastSuccess: last}, func(context.Context) (Result, error) { return Result{}, nil }); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "idlink_last_success_timestamp_seconds" {
			if got := mf.GetMetric()[0].GetGauge().GetValue(); got != float64(last.Unix()) {
				t.Fatalf("last success %v, want %d", got, last.Unix())
			}
			return
		}
	}
	t.Fatal("no idlink_last_success_timestamp_seconds")
}

// waitStarted waits for the run to start, with a deadline.
func waitStarted(t *testing.T, started <-chan struct{}) {
	t.Helper()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the run never started")
	}
}
