package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/idlinkhq/idlink/internal/wire"

	"github.com/idlinkhq/idlink/internal/bridge"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/job"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/report"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
	"github.com/idlinkhq/idlink/internal/sim/world"
)

func cmdDemo(ctx context.Context, e env, args []string) error {
	fs := newFlags("demo", e)
	users := fs.Int("users", 3000, "Entra users in the simulated tenant")
	seed := fs.Int64("seed", 1, "scenario seed (same seed, same story)")
	dir := fs.String("dir", "", "directory for the database, logs and reports (default: ./idlink-demo-<time>)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *users < 10 || *users > 200000 {
		return withCode(ExitUsage, fmt.Errorf("--users %d: use 10 to 200000", *users))
	}
	if *dir == "" {
		*dir = "idlink-demo-" + time.Now().Format("20060102-150405")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	abs, _ := filepath.Abs(*dir)
	logFile, err := os.Create(filepath.Join(abs, "idlink.log"))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, nil))
	out := e.stdout
	sc := scenario.Config{Seed: *seed, Users: *users}
	start := time.Now()

	fmt.Fprintf(out, "idlink demo: a simulated Entra tenant with %d users and the Salesforce org Entra provisioned from it (seed %d).\n\n", *users, *seed)

	// 1. Before idlink: the org as it is today, with Entra's own userinfo and
	// a registration handler that creates users (JIT) and has no
	// confirmUser. Then idlink's handler alone, before any job ran. Both are
	// emulated on twins of the world so that the real one stays untouched.
	signers := []string(nil)
	var before, alone tally
	for i, h := range []world.Handler{{JIT: true, Legacy: true}, {}} {
		twin, err := world.Start(world.Options{Scenario: sc})
		if err != nil {
			return fmt.Errorf("demo: start the simulated world: %w", err)
		}
		signers = signInUsers(twin.Scenario)
		t := signInAll(ctx, twin, signers, twin.EntraUserinfoURL(), h)
		twin.Close()
		if i == 0 {
			before = t
		} else {
			alone = t
		}
	}
	fmt.Fprintf(out, "Before idlink (Entra's userinfo, a JIT registration handler), %d people sign in:\n", len(signers))
	before.print(out)

	// 2. The real world, idlink's store and configuration.
	w, err := world.Start(world.Options{Scenario: sc})
	if err != nil {
		return fmt.Errorf("demo: start the simulated world: %w", err)
	}
	defer w.Close()
	caFile := filepath.Join(abs, "sim-ca.pem")
	if err := w.WriteCA(caFile); err != nil {
		return err
	}
	dbPath := filepath.Join(abs, "idlink.db")
	cfg := w.Config(dbPath, caFile)
	cfg.Log.Format = "json"
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	j, err := wire.NewJob(cfg, st, log, wire.Instruments{})
	if err != nil {
		return err
	}
	rc := wire.ReconcileConfig(cfg)

	// 3. Backfill: both sides read in full, every link derived.
	bf, err := j.Run(ctx, job.Options{Kind: identity.KindBackfill, Holder: wire.Holder(), Reconcile: rc})
	var held *reconcile.HeldError
	if errors.As(err, &held) {
		fmt.Fprintf(out, "\nThe backfill was HELD by the safety limit (%s): nothing was written.\n", strings.Join(held.Reasons, "; "))
		fmt.Fprintf(out, "An admin reviews 'idlink report --run %d' and re-runs with --override %d; the demo does so now.\n", bf.Run.ID, bf.Run.ID)
		bf, err = j.Run(ctx, job.Options{Kind: identity.KindBackfill, Holder: wire.Holder(), Reconcile: rc, Override: bf.Run.ID})
	}
	if err != nil {
		return fmt.Errorf("demo: backfill: %w", err)
	}
	fmt.Fprintf(out, "\nidlink backfill (run %d, %s): read %d Entra and %d Salesforce users, wrote %d link records.\n",
		bf.Run.ID, bf.Run.FinishedAt.Sub(bf.Run.StartedAt).Round(time.Millisecond), bf.Run.Counts["entra.users"], bf.Run.Counts["salesforce.users"], bf.Apply.Applied)
	printSituations(out, bf.Run.Counts)
	if bf.Result != nil {
		if n := bf.Result.Counts["flag."+reconcile.FlagSuspectedDuplicate]; n > 0 {
			fmt.Fprintf(out, "  %d suspected JIT duplicates (same email, created later, no FederationIdentifier): links proposed, waiting for an admin's approval.\n", n)
		}
	}

	// 4. The bridge goes live as the Auth. Provider's user info endpoint and the
	// idlink registration handler replaces JIT. Everyone signs in once.
	bc, err := wire.BridgeConfig(cfg)
	if err != nil {
		return err
	}
	br, err := bridge.New(bc, st, log)
	if err != nil {
		return fmt.Errorf("demo: bridge: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bctx, cancelBridge := context.WithCancel(ctx)
	bridgeDone := make(chan error, 1)
	go func() { bridgeDone <- br.Serve(bctx, ln) }()
	// stopBridge cancels the bridge and waits until it has flushed its
	// observations; safe to call twice.
	var stopOnce sync.Once
	stopBridge := func() { stopOnce.Do(func() { cancelBridge(); <-bridgeDone }) }
	defer stopBridge()
	userinfo := "http://" + ln.Addr().String() + "/userinfo"
	// /healthz is on the bridge's operations port, apart from /userinfo.
	ops := httptest.NewServer(br.OpsHandler())
	defer ops.Close()
	waitReady(ctx, ops.URL+"/healthz")
	first := signInAll(ctx, w, signers, userinfo, world.Handler{})
	fmt.Fprintf(out, "\nWith idlink (the bridge as user info endpoint, idlink's registration handler), the first sign-ins:\n")
	first.print(out)

	// 5. A scheduled-style run turns the bridge's observations into links.
	stopBridge()
	run, err := j.Run(ctx, job.Options{Kind: identity.KindRun, Holder: wire.Holder(), Reconcile: rc})
	if errors.As(err, &held) {
		run, err = j.Run(ctx, job.Options{Kind: identity.KindRun, Holder: wire.Holder(), Reconcile: rc, Override: run.Run.ID})
	}
	if err != nil && !errors.Is(err, reconcile.ErrIncomplete) {
		return fmt.Errorf("demo: run: %w", err)
	}
	fmt.Fprintf(out, "\nidlink run (run %d, incremental, %s): wrote %d link records from the bridge's observations.\n",
		run.Run.ID, run.Run.FinishedAt.Sub(run.Run.StartedAt).Round(time.Millisecond), run.Apply.Applied)
	printSituations(out, run.Run.Counts)

	// 6. After: everyone signs in again (the bridge keeps running in production;
	// the registration handler now finds Identity_Link__c by sub).
	after := signInAll(ctx, w, signers, w.EntraUserinfoURL(), world.Handler{})
	fmt.Fprintf(out, "\nAfter idlink, the same %d people sign in again:\n", len(signers))
	after.print(out)

	// 7. Reports.
	r, err := buildReport(ctx, st, run.Run.ID)
	if err != nil {
		return err
	}
	history, err := runHistory(ctx, st, r.Run.ID)
	if err != nil {
		return err
	}
	demoCfg := w.Config(dbPath, caFile)
	for name, write := range map[string]func(io.Writer) error{
		"report.txt":     func(w io.Writer) error { return r.WriteTable(w, report.TableOptions{Limit: 20}) },
		"report.csv":     r.WriteCSV,
		"report.json":    r.WriteJSON,
		"duplicates.csv": r.WriteDuplicatesCSV,
		"report.html": func(w io.Writer) error {
			return r.WriteHTML(w, report.HTMLOptions{History: history, EntraUserURL: demoCfg.EntraUserURL, SalesforceUserURL: salesforceLinker(demoCfg), Generated: time.Now().UTC()})
		},
	} {
		if err := writeFileAtomic(filepath.Join(abs, name), write); err != nil {
			return fmt.Errorf("demo: %s: %w", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(abs, "idlink.yaml"), []byte(w.ConfigYAML(dbPath, caFile)), 0o600); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nThe story, %d people signing in:\n\n", len(signers))
	printStory(out, []string{"before idlink", "handler alone", "bridge, 1st", "after idlink"}, []tally{before, alone, first, after})
	fmt.Fprintf(out, "\n  before idlink: Entra's userinfo and a JIT registration handler without confirmUser (what orgs run today)\n")
	fmt.Fprintf(out, "  handler alone: idlink's registration handler with confirmUser, Entra's userinfo, no job run yet\n")
	fmt.Fprintf(out, "  bridge, 1st:   after the backfill, the bridge as user info endpoint (it adds oid and tid)\n")
	fmt.Fprintf(out, "  after idlink:  after the scheduled run turned the bridge's observations into links; Entra's userinfo again\n")
	fmt.Fprintf(out, "\n%d sign-ins changed because of idlink's records: Salesforce's own ThirdPartyAccountLink names a JIT duplicate,\nand confirmUser sent them to the account their Identity_Link__c names.\n", after.routedByLink)
	if n := after.out[world.LandedDuplicate]; n > 0 {
		fmt.Fprintf(out, "%d still land on a duplicate account: see the report's misrouted section.\n", n)
	}
	if n := len(r.Duplicates); n > 0 {
		fmt.Fprintf(out, "%d JIT duplicate accounts no longer receive sign-ins: %s/duplicates.csv lists them for an admin to retire\n(move what they own to the provisioned account, then load the file with Data Loader to deactivate them).\n", n, abs)
	}
	if n := after.refused[sfsim.OutcomeFailPending] + after.refused[sfsim.OutcomeFailAmbiguous]; n > 0 {
		fmt.Fprintf(out, "%d are refused with a message to try again or call the admin: disputed identities, proposals waiting for approval, users without an account.\n", n)
	}
	fmt.Fprintf(out, "\nReports:  %s/report.html (open it in a browser), report.txt, report.csv, report.json, duplicates.csv\nDatabase: %s   Log: %s/idlink.log\nMore:     idlink report --config %s/idlink.yaml   (the simulator is gone: reports work, runs do not)\nTook %s.\n",
		abs, dbPath, abs, abs, time.Since(start).Round(time.Millisecond))
	return nil
}

// signInUsers are the people who can sign in: in scope, enabled, not deleted.
func signInUsers(w *scenario.World) []string {
	var oids []string
	for _, u := range w.Entra {
		if u.InScope && u.Active() {
			oids = append(oids, u.ObjectID)
		}
	}
	return oids
}

// tally counts where a set of sign-ins landed.
type tally struct {
	out map[world.SignInOutcome]int
	// refused counts failed sign-ins by the handler's outcome.
	refused map[sfsim.Outcome]int
	// routedByLink counts sign-ins that confirmUser sent, by an
	// Identity_Link__c, to another user than Salesforce's own link names.
	routedByLink int
}

func signInAll(ctx context.Context, w *world.World, oids []string, userinfoURL string, h world.Handler) tally {
	t := tally{out: map[world.SignInOutcome]int{}, refused: map[sfsim.Outcome]int{}}
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	client := w.HTTPClient()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for oid := range work {
				r, err := w.SignInVia(ctx, oid, userinfoURL, client, h)
				o := w.Classify(oid, r, err)
				mu.Lock()
				t.out[o]++
				if o == world.Failed && err == nil {
					t.refused[r.Outcome]++
				}
				if r.Routed && r.Outcome == sfsim.OutcomeLinkUser {
					t.routedByLink++
				}
				mu.Unlock()
			}
		}()
	}
	for _, oid := range oids {
		work <- oid
	}
	close(work)
	wg.Wait()
	return t
}

// storyRows are the lines of the demo's table: where sign-ins landed, and why
// the refused ones were refused.
var storyRows = []struct {
	label string
	count func(tally) int
}{
	{"landed on the provisioned account", func(t tally) int { return t.out[world.LandedProvisioned] }},
	{"landed on a duplicate account", func(t tally) int { return t.out[world.LandedDuplicate] }},
	{"created a duplicate account", func(t tally) int { return t.out[world.CreatedDuplicate] }},
	{"refused: no account linked yet", func(t tally) int { return t.refused[sfsim.OutcomeFailPending] }},
	{"refused: several accounts claim it", func(t tally) int { return t.refused[sfsim.OutcomeFailAmbiguous] }},
	{"refused: account deactivated", func(t tally) int { return t.refused[sfsim.OutcomeFailInactive] }},
	{"refused by Entra (disabled, deleted)", func(t tally) int { return t.out[world.Refused] }},
}

func (t tally) print(w io.Writer) {
	for _, r := range storyRows {
		if n := r.count(t); n > 0 {
			fmt.Fprintf(w, "  %6d %s\n", n, r.label)
		}
	}
}

func printStory(w io.Writer, cols []string, ts []tally) {
	fmt.Fprintf(w, "  %-38s", "")
	for _, c := range cols {
		fmt.Fprintf(w, " %14s", c)
	}
	fmt.Fprintln(w)
	for _, r := range storyRows {
		total := 0
		for _, t := range ts {
			total += r.count(t)
		}
		if total == 0 {
			continue
		}
		fmt.Fprintf(w, "  %-38s", r.label)
		for _, t := range ts {
			fmt.Fprintf(w, " %14d", r.count(t))
		}
		fmt.Fprintln(w)
	}
}

func printSituations(w io.Writer, counts map[string]int64) {
	fmt.Fprint(w, "  situations:")
	for _, s := range identity.Situations {
		fmt.Fprintf(w, " %s %d,", s, counts[identity.SituationKey(s)])
	}
	fmt.Fprintln(w)
}

func waitReady(ctx context.Context, url string) {
	client := &http.Client{Timeout: time.Second}
	for range 50 {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
