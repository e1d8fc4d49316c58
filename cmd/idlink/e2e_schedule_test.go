package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// TestScheduleRunsServesMetricsAndStops: `idlink schedule --now` runs a
// reconciliation at once, reports it on /metrics and /healthz, and stops
// cleanly when its context is cancelled (what SIGTERM does in main).
func TestScheduleRunsServesMetricsAndStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := newHarness(t, backendSQLite, harnessOptions{Scenario: scenario.Config{Seed: 7, Users: 300}, Edit: func(y string) string {
		return y + "schedule:\n  cron: \"0 3 1 1 *\"\n  listen: \"" + addr + "\"\n"
	}})
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"schedule", "--now", "--config", h.cfgPath}, &out, &errb, h.getenv)
	}()
	metrics := ""
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			metrics = string(b)
			if strings.Contains(metrics, `idlink_runs_total{result="succeeded"} 1`) {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("schedule ended early with %d:\n%s\n%s", code, out.String(), errb.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, want := range []string{`idlink_runs_total{result="succeeded"} 1`, `idlink_identities{situation="linked"}`, "idlink_last_success_timestamp_seconds "} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q:\n%s\nstderr:\n%s", want, metrics, errb.String())
		}
	}
	resp, err := http.Get("http://" + addr + "/healthz")
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
