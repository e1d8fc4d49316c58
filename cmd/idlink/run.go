package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/idlinkhq/idlink/internal/config"
)

// Exit codes (DESIGN §6). Scripts and schedulers rely on them: keep them stable.
const (
	ExitOK        = 0
	ExitFailure   = 1
	ExitUsage     = 2  // usage or configuration error
	ExitSkipped   = 3  // another run holds the lease; nothing done
	ExitHeld      = 4  // the safety limit held the plan; nothing written
	ExitThrottled = 5  // upstream throttled past the budget; safe to retry later
	ExitAPILimit  = 6  // Salesforce daily API limit reached; retry after the limit resets
	ExitChanges   = 10 // with --detailed-exitcode: the plan has changes
)

// env is how commands read the environment (tests pass their own).
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	name, summary string
	run           func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"demo", "the whole story against a simulated tenant and org, on SQLite (no configuration needed)", cmdDemo},
		{"bridge", "serve the userinfo bridge for the Salesforce Auth. Provider", cmdBridge},
		{"backfill", "full re-read of both sides; every link re-derived", cmdBackfill},
		{"sim", "serve the simulated Entra tenant and Salesforce org on loopback, for rehearsal", cmdSim},
		{"schedule", "daemon: run on the configured cron schedule, serve /healthz and /metrics", cmdSchedule},
		{"run", "one reconciliation (incremental where cursors exist); --dry-run prints the plan", cmdRun},
		{"links", "list proposed links, approve or reject them, show a link's history", cmdLinks},
		{"migrate", "apply database migrations (up) or show them (status)", cmdMigrate},
		{"observations", "import observed (sub, oid, tid, client) pairs from CSV or JSON lines", cmdObservations},
		{"report", "show a run's situations, coverage, changes and plan (table, csv, json, html)", cmdReport},
		{"explain", "one identity end to end: both sides, scope, rules, where its sub comes from, situation, plan, history", cmdExplain},
		{"runs", "the run history: kind, status, time, coverage, what needs a person, why a run failed or was held", cmdRuns},
		{"version", "print the version", cmdVersion},
	}
}

// Run executes one idlink command line and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := env{stdout: stdout, stderr: stderr, getenv: getenv}
	args = globalFlagsAfterCommand(args)
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintln(stdout, versionLine())
		return ExitOK
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(stderr, c.run(ctx, e, args[1:]))
		}
	}
	fmt.Fprintf(stderr, "idlink: unknown command %q; run 'idlink help' for the list\n", args[0])
	return ExitUsage
}

// globalFlagsAfterCommand moves a leading --config FILE (or --config=FILE)
// behind the command, so that 'idlink --config f run' works like
// 'idlink run --config f'.
func globalFlagsAfterCommand(args []string) []string {
	var global []string
	for len(args) > 0 {
		a := args[0]
		switch {
		case (a == "--config" || a == "-config") && len(args) > 1:
			global, args = append(global, a, args[1]), args[2:]
			continue
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			global, args = append(global, a), args[1:]
			continue
		}
		break
	}
	if len(global) == 0 || len(args) == 0 {
		return append(global, args...)
	}
	// Behind the subcommand of the commands that have them.
	n := 1
	if (args[0] == "links" || args[0] == "observations" || args[0] == "migrate") && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		n = 2
	}
	out := append([]string{}, args[:n]...)
	out = append(out, global...)
	return append(out, args[n:]...)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "idlink links Microsoft Entra ID identities to the Salesforce accounts Entra provisioned.")
	fmt.Fprintln(w, "\nUsage: idlink <command> [flags]\n\nCommands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'idlink <command> -h' for a command's flags.")
}

// exitError carries a specific exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if errors.Is(err, errPlanHasChanges) {
		return ExitChanges // not an error: nothing to print
	}
	code := ExitFailure
	var ee *exitError
	var ce *config.Error
	var ces config.Errors
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.As(err, &ce), errors.As(err, &ces):
		code = ExitUsage
	}
	msg := err.Error()
	if code == ExitUsage && (errors.As(err, &ce) || errors.As(err, &ces)) {
		msg = "configuration error:\n  " + strings.ReplaceAll(msg, "\n", "\n  ")
	}
	fmt.Fprintf(stderr, "idlink: %s\n", msg)
	return code
}

// newFlags makes a flag set that reports usage errors with the usage exit code.
func newFlags(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet("idlink "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	setUsage(fs, name, e.stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return withCode(ExitUsage, err)
	}
	if fs.NArg() > 0 {
		return withCode(ExitUsage, fmt.Errorf("unexpected argument %q; see '%s -h'", fs.Arg(0), fs.Name()))
	}
	return nil
}

// parseFileFlags parses flags around one file argument, which may come
// before, between or after them; "" when there is none.
func parseFileFlags(fs *flag.FlagSet, args []string) (string, error) {
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", withCode(ExitUsage, err)
	}
	rest := fs.Args()
	if file == "" && len(rest) > 0 {
		file, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return "", withCode(ExitUsage, fmt.Errorf("unexpected argument %q; see '%s -h'", rest[0], fs.Name()))
	}
	return file, nil
}

// configFlag registers --config, defaulting to IDLINK_CONFIG.
func configFlag(fs *flag.FlagSet, e env) *string {
	return fs.String("config", e.getenv("IDLINK_CONFIG"), "config file (YAML); env IDLINK_CONFIG")
}

func loadConfig(path string, e env) (config.Config, error) {
	return config.Load(path, e.getenv)
}

// newLogger logs JSON unless the output is a terminal (DESIGN §6).
func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Format
	if format == "auto" || format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
