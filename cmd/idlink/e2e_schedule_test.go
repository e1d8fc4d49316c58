package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestScheduleRunsServesMetricsAndStops: `idlink schedule --now` runs a
// reconciliation at once, reports it on /metrics and /healthz, and stops
// cleanly when its context is cancelled (what SIGTERM does in main).
func TestScheduleRunsServesMetricsAndStops(t *testing.T) {
	h := newHarness(t, backendSQLite, harnessOptions{Scenario: scenario.Config{Seed: 7, Users: 300}, Edit: func(y string) string {
		// Info level: the test waits for the log line of the run's end.
		y = strings.Replace(y, "level: warn", "level: info", 1)
		// Port 0: the scheduler logs the address it listens on.
		return y + "schedule:\n  cron: \"0 3 1 1 *\"\n  listen: \"127.0.0.1:0\"\n"
	}})
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	var out bytes.Buffer
	errb := newLogWatch("scheduled run ended")
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"schedule", "--now", "--config", h.cfgPath}, &out, errb, h.getenv)
	}()
	// The scheduler logs the end of a run after it has updated the metrics.
	select {
	case <-errb.seen:
	case code := <-done:
		t.Fatalf("schedule ended early with %d:\n%s\n%s", code, out.String(), errb.String())
	case <-time.After(60 * time.Second): // a deadline: the run never ended
		t.Fatalf("no scheduled run ended:\n%s", errb.String())
	}
	m := regexp.MustCompile(`"msg":"serving /healthz and /metrics","addr":"([^"]+)"`).FindStringSubmatch(errb.String())
	if m == nil {
		t.Fatalf("the scheduler logged no listen address:\n%s", errb.String())
	}
	addr := m[1]
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(b)
	for _, want := range []string{`idlink_runs_total{result="succeeded"} 1`, `idlink_identities{situation="linked"}`, "idlink_last_success_timestamp_seconds "} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q:\n%s\nstderr:\n%s", want, metrics, errb.String())
		}
	}
	resp, err = http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("schedule exited %d after the stop:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("schedule did not stop after its context was cancelled")
	}
	checkNoSecrets(t, "schedule", out.String()+errb.String(), h.outCheck...)
	st := h.store()
	if r := h.latestRun(st); r.Status != "succeeded" {
		t.Fatalf("the scheduled run is recorded as %s", r.Status)
	}
}

// logWatch collects a command's log output and closes seen when a line
// containing want has been written. Safe for the command's goroutines.
type logWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newLogWatch(want string) *logWatch { return &logWatch{want: want, seen: make(chan struct{})} }

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte(w.want)) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
