package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
)

// TestSoakReport runs the same sequence of backfills and scheduled runs,
// with the same changes in Entra and the same imported observations before
// each, against two identical worlds: a clean one, and one where 5% of all
// Graph and Salesforce requests fail (429, 503, dropped connections), the
// Salesforce session expires now and then, and the idlink process is killed
// with SIGKILL at random points of its runs. After every cycle it checks that
// the soaked store and its org agree, that no Identity_Link__c is duplicated,
// that every link change has exactly one audit event, and that the soaked
// links equal the clean ones. It prints a report. Opt-in: IDLINK_SOAK=1
// (IDLINK_SOAK_CYCLES, IDLINK_SOAK_KILLS, IDLINK_SOAK_USERS,
// IDLINK_SOAK_BACKEND=postgres).
func TestSoakReport(t *testing.T) {
	if os.Getenv("IDLINK_SOAK") != "1" {
		t.Skip("set IDLINK_SOAK=1 to run the soak benchmark (a few minutes)")
	}
	num := func(k string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
			return v
		}
		return def
	}
	cycles, killsWanted, users := num("IDLINK_SOAK_CYCLES", 16), num("IDLINK_SOAK_KILLS", 20), num("IDLINK_SOAK_USERS", 2000)
	b := backendSQLite
	if os.Getenv("IDLINK_SOAK_BACKEND") == "postgres" {
		b = backendPostgres
	}
	sc := scenario.Config{Seed: 77, Users: users}
	clean := newHarness(t, b, harnessOptions{Scenario: sc})
	soak := newHarness(t, b, harnessOptions{Scenario: sc})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	clean.ctx, soak.ctx = ctx, ctx
	rng := rand.New(rand.NewPCG(77, 1))
	const rate = 0.05
	sfEPs := []string{sfsim.EndpointToken, sfsim.EndpointQuery, sfsim.EndpointQueryMore, sfsim.EndpointCollections}
	entraEPs := []string{entrasim.EPToken, entrasim.EPOpenID, entrasim.EPUsers, entrasim.EPDeleted, entrasim.EPDelta, entrasim.EPSP, entrasim.EPAssignments, entrasim.EPMembers}
	faultsOn := func() {
		f := fault.Faults{ThrottleRate: rate / 2, UnavailableRate: rate / 2, RetryAfter: 0}
		soak.w.Salesforce.Faults().SetAll(f, sfEPs...)
		soak.w.Entra.Faults.SetAll(f, entraEPs...)
		// Dropped connections come counted: one here and there.
		if rng.IntN(2) == 0 {
			ep := sfEPs[rng.IntN(len(sfEPs))]
			f.ResetNext = 1
			soak.w.Salesforce.Faults().Set(ep, f)
		}
	}
	faultsOff := func() {
		soak.w.Salesforce.Faults().SetAll(fault.Faults{}, sfEPs...)
		soak.w.Entra.Faults.SetAll(fault.Faults{}, entraEPs...)
	}

	var rep struct {
		runs, failedAttempts, kills, applyKills, killMisses, expiries int
		exits                                                         map[int]int
		violations                                                    []string
	}
	rep.exits = map[int]int{}
	start := time.Now()
	carry := 0
	for c := range cycles {
		kind := "run"
		if c%4 == 0 {
			kind = "backfill"
		}
		for _, h := range []*harness{clean, soak} {
			soakMutate(t, h, c)
		}
		clean.mustRun(0, kind)

		// Kills first, then runs until one succeeds; faults throughout.
		// Kills aim at the apply stage: the child dies while a Salesforce
		// write is in flight (or just answered). A child that finishes
		// without writing leaves nothing to kill this cycle; the rest of the
		// cycle's kills carry over to the next one.
		carry += killsWanted/cycles + map[bool]int{true: 1}[c < killsWanted%cycles]
		for carry > 0 {
			faultsOn()
			soak.w.Salesforce.Faults().Set(sfsim.EndpointCollections, fault.Faults{Latency: 80 * time.Millisecond, ThrottleRate: rate / 2, UnavailableRate: rate / 2})
			killed, inApply, err := soakKill(soak, kind, rng.Float64()*160*float64(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			rep.runs++
			soak.expireLease()
			if !killed {
				rep.killMisses++ // it finished first: a run like any other
				break
			}
			rep.kills++
			carry--
			if inApply {
				rep.applyKills++
			}
		}
		for attempt := 0; ; attempt++ {
			faultsOn()
			if rng.IntN(3) == 0 {
				soak.w.Salesforce.ExpireSessions()
				rep.expiries++
			}
			r := soak.run(kind)
			rep.runs++
			rep.exits[r.code]++
			if r.code == 0 {
				break
			}
			rep.failedAttempts++
			if r.code == ExitSkipped {
				soak.expireLease()
			}
			if attempt > 30 {
				t.Fatalf("cycle %d: %s failed 30 times under faults; last: %s", c, kind, r)
			}
		}
		faultsOff()
		rep.violations = append(rep.violations, soakCheck(t, c, clean, soak)...)
	}
	// Counters of the injected faults.
	var throttled, unavailable, resets, requests int64
	for _, in := range []*fault.Injector{soak.w.Salesforce.Faults(), soak.w.Entra.Faults} {
		for _, c := range in.Counters() {
			throttled, unavailable, resets, requests = throttled+c.Throttled, unavailable+c.Unavailable, resets+c.Resets, requests+c.Requests
		}
	}
	writes := soak.w.Salesforce.Faults().Counter(sfsim.EndpointCollections).Requests
	links := len(soak.links(soak.store()))
	fmt.Printf("\nidlink soak: %d users, %s, %d cycles (backfill every 4th, scheduled runs between), %s\n", users, b, cycles, time.Since(start).Round(time.Second))
	fmt.Printf("  faults injected: %d of %d requests (%.1f%%): %d throttled (429), %d unavailable (503), %d dropped connections; %d session expiries\n",
		throttled+unavailable+resets, requests, 100*float64(throttled+unavailable+resets)/float64(max(requests, 1)), throttled, unavailable, resets, rep.expiries)
	fmt.Printf("  idlink processes: %d, of them %d killed with SIGKILL (%d of those after a Salesforce write had started; %d finished before the kill), %d more failed under faults and were retried; exit codes of the others %v\n",
		rep.runs, rep.kills, rep.applyKills, rep.killMisses, rep.failedAttempts, rep.exits)
	fmt.Printf("  Salesforce collection calls: %d; links in the store at the end: %d\n", writes, links)
	fmt.Printf("  after every cycle: store and org agree, no duplicate Identity_Link__c, one audit event per change, links equal the clean run's: %d violation(s)\n", len(rep.violations))
	for _, v := range rep.violations {
		fmt.Printf("    %s\n", v)
	}
	if len(rep.violations) > 0 {
		t.Fail()
	}
}

// soakMutate makes cycle c's changes, the same in every world of the seed:
// a few users disabled, renamed or re-enabled in Entra, and the subjects of
// a slice of users imported as if the bridge had seen them sign in.
func soakMutate(t *testing.T, h *harness, c int) {
	t.Helper()
	sw := h.w.Scenario
	n := len(sw.Entra)
	var obs []identity.Observation
	client := h.w.Provider.ClientID
	for k := range 60 {
		i := (c*60 + k) % n
		u := sw.Entra[i]
		if !u.Active() || !u.InScope {
			continue
		}
		obs = append(obs, identity.Observation{Provider: h.w.Provider.Name, Subject: sw.Subject(client, u.ObjectID), ObjectID: u.ObjectID, TenantID: sw.TenantID, ClientID: client})
	}
	if len(obs) > 0 {
		h.importObservations(fmt.Sprintf("soak-%d.csv", c), obs)
	}
	// The scenario keeps the expected state; the simulator serves it (the
	// scenario's mutators do not reach the running simulator by themselves).
	es := h.w.Entra
	for k := range 3 {
		u := sw.Entra[(c*97+k*31)%n]
		var err error
		switch {
		case k == 0 && u.Active():
			if err = sw.Disable(u.ObjectID); err == nil {
				err = es.UpdateUser(u.ObjectID, func(e *identity.EntraUser) { e.AccountEnabled = false })
			}
		case k == 1 && !u.AccountEnabled && u.Deleted == identity.NotDeleted:
			if err = sw.Enable(u.ObjectID); err == nil {
				err = es.UpdateUser(u.ObjectID, func(e *identity.EntraUser) { e.AccountEnabled = true })
			}
		case k == 2 && u.Active():
			upn := fmt.Sprintf("renamed%d.%s", c, u.UPN)
			if err = sw.RenameUPN(u.ObjectID, upn); err == nil {
				err = es.UpdateUser(u.ObjectID, func(e *identity.EntraUser) { e.UPN = upn })
			}
		}
		if err != nil && !errors.Is(err, scenario.ErrConflict) {
			t.Fatalf("cycle %d: change %s: %v", c, u.ObjectID, err)
		}
	}
}

// soakKill starts kind in a child process and kills it with SIGKILL delay
// after its first Salesforce collection call starts. It reports whether the
// process was killed (false: it finished first, writing nothing), and
// whether a write had started by then.
func soakKill(h *harness, kind string, delay float64) (killed, inApply bool, err error) {
	coll := h.w.Salesforce.Faults()
	base := coll.Counter(sfsim.EndpointCollections).Requests
	cmd := h.child(kind)
	if err := cmd.Start(); err != nil {
		return false, false, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return false, false, nil
	case <-coll.Reached(sfsim.EndpointCollections, base+1):
	}
	select { // the kill lands at a random point of the apply
	case <-done:
		return false, false, nil
	case <-time.After(time.Duration(delay)):
	}
	inApply = coll.Counter(sfsim.EndpointCollections).Requests > base
	_ = cmd.Process.Kill()
	<-done
	ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool })
	return ok && ws.Signaled(), inApply, nil
}

// soakCheck returns what is wrong with the soaked world after cycle c.
func soakCheck(t *testing.T, c int, clean, soak *harness) []string {
	t.Helper()
	var bad []string
	st := soak.store()
	links := soak.links(st)
	org := soak.orgLinks() // reports duplicate Subject__c rows itself
	for k, l := range links {
		r, ok := org[k.Subject]
		switch {
		case l.Status == identity.LinkActive && (!ok || r.Status != "Active" || r.UserID != l.SalesforceUserID):
			bad = append(bad, fmt.Sprintf("cycle %d: %s active in the store, Identity_Link__c %+v", c, k, r))
		case l.Status == identity.LinkRevoked && ok && r.Status == "Active":
			bad = append(bad, fmt.Sprintf("cycle %d: %s revoked in the store, active in Salesforce", c, k))
		}
	}
	for sub, r := range org {
		if r.Status != "Active" {
			continue
		}
		found := false
		for k, l := range links {
			if k.Subject == sub && l.Status == identity.LinkActive {
				found = true
			}
		}
		if !found {
			bad = append(bad, fmt.Sprintf("cycle %d: Identity_Link__c %s active in Salesforce, not in the store", c, sub))
		}
	}
	history := 0
	for k := range links {
		hist, err := st.LinkHistory(soak.ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		history += len(hist)
	}
	events, err := st.ListAudit(soak.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	audits := 0
	for _, e := range events {
		if strings.HasPrefix(e.Kind, "link.") {
			audits++
		}
	}
	if audits != history {
		bad = append(bad, fmt.Sprintf("cycle %d: %d link history entries but %d link audit events", c, history, audits))
	}
	norm := func(m map[identity.LinkKey]identity.Link) []string {
		var out []string
		for k, l := range m {
			if l.Status == identity.LinkProposed {
				continue
			}
			out = append(out, fmt.Sprintf("%s %s %s %s", k, l.SalesforceUserID, l.ObjectID, l.Status))
		}
		slices.Sort(out)
		return out
	}
	want, got := norm(clean.links(clean.store())), norm(links)
	if !slices.Equal(want, got) {
		missing, extra := 0, 0
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing++
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) {
				extra++
			}
		}
		bad = append(bad, fmt.Sprintf("cycle %d: the soaked links differ from the clean run's: %d missing, %d extra (of %d)", c, missing, extra, len(want)))
	}
	if r := soak.latestRun(st); r.Status != identity.StatusSucceeded {
		bad = append(bad, fmt.Sprintf("cycle %d: the last run is %s", c, r.Status))
	}
	return bad
}
