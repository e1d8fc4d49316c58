package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestCLIConventions: help on every command group exits 0, --version works
// at the top, and --config may come before the command.
func TestCLIConventions(t *testing.T) {
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), args, &out, &errb, func(string) string { return "" })
		return code, out.String() + errb.String()
	}
	for _, args := range [][]string{{"--help"}, {"links", "--help"}, {"observations", "--help"}, {"links", "-h"}, {"run", "-h"}, {"report", "--help"}} {
		if code, out := run(args...); code != ExitOK || out == "" {
			t.Errorf("idlink %s: exit %d, output %q; want 0 and a description", strings.Join(args, " "), code, out)
		}
	}
	if code, out := run("--version"); code != ExitOK || !strings.HasPrefix(out, "idlink ") {
		t.Errorf("idlink --version: exit %d %q", code, out)
	}
	// --config before the command reaches the command: a missing file is
	// named, not "unknown command".
	code, out := run("--config", "/nonexistent/idlink.yaml", "report")
	if code != ExitUsage || !strings.Contains(out, "/nonexistent/idlink.yaml") || strings.Contains(out, "unknown command") {
		t.Errorf("idlink --config f report: exit %d %q", code, out)
	}
	code, out = run("--config=/nonexistent/idlink.yaml", "links", "list")
	if code != ExitUsage || !strings.Contains(out, "/nonexistent/idlink.yaml") {
		t.Errorf("idlink --config=f links list: exit %d %q", code, out)
	}
}
