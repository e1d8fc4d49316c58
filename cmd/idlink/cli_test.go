package main

import (
	"bytes"
	"context"
	"os"
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

// TestReadOnlyCommandsCreateNoDatabase: a report or a list run where there
// is no database says so instead of making an empty one; wrong values and
// an override of a run that was not held are refused with the accepted ones.
func TestReadOnlyCommandsCreateNoDatabase(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/idlink.yaml"
	db := dir + "/missing.db"
	if err := os.WriteFile(cfg, []byte("store:\n  driver: sqlite\n  path: "+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append(args, "--config", cfg), &out, &errb, func(string) string { return "" })
		return code, out.String() + errb.String()
	}
	for _, args := range [][]string{{"report"}, {"links", "list"}, {"observations", "list"}, {"links", "export-decisions"}} {
		code, out := run(args...)
		if code != ExitUsage || !strings.Contains(out, "no idlink database at "+db) {
			t.Errorf("idlink %s without a database: exit %d %q", strings.Join(args, " "), code, out)
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("idlink %s created %s", strings.Join(args, " "), db)
		}
	}
	code, out := run("links", "list", "--status", "bogus")
	if code != ExitUsage || !strings.Contains(out, "proposed, active, revoked or all") {
		t.Errorf("--status bogus: exit %d %q", code, out)
	}
}

// TestEveryCommandHasHelp: -h on every command and subcommand exits 0 and
// describes it, its flags, its exit codes and an example.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		if c.name == "links" || c.name == "observations" {
			continue // groups: their subcommands are topics of their own
		}
		if _, ok := helpTopics[c.name]; !ok {
			t.Errorf("command %q has no help topic", c.name)
		}
	}
	for name, topic := range helpTopics {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append(strings.Fields(name), "-h"), &out, &errb, func(string) string { return "" })
		text := out.String() + errb.String()
		if code != ExitOK {
			t.Errorf("idlink %s -h: exit %d", name, code)
		}
		for _, want := range []string{"Usage: " + topic.usage, "Exit codes:", "Examples:", topic.examples[0]} {
			if !strings.Contains(text, want) {
				t.Errorf("idlink %s -h lacks %q:\n%s", name, want, text)
			}
		}
		for _, c := range topic.exits {
			if exitMeaning[c] == "" {
				t.Errorf("%s: exit code %d has no meaning", name, c)
			}
		}
	}
}
