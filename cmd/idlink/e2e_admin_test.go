package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
)

// variant writes a changed copy of the harness's configuration.
func (h *harness) variant(name string, edit func(string) string) string {
	h.t.Helper()
	b, err := os.ReadFile(h.cfgPath)
	if err != nil {
		h.t.Fatal(err)
	}
	y := edit(string(b))
	if y == string(b) {
		h.t.Fatalf("variant %s: the edit changed nothing", name)
	}
	p := filepath.Join(h.dir, name+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// runCfg runs with another configuration file and environment.
func (h *harness) runCfg(cfgPath string, getenv func(string) string, args ...string) result {
	h.t.Helper()
	saved := h.cfgPath
	h.cfgPath = cfgPath
	defer func() { h.cfgPath = saved }()
	return h.runEnv(getenv, args...)
}

func mustContain(t *testing.T, r result, what string, parts ...string) {
	t.Helper()
	all := r.stdout + r.stderr
	for _, p := range parts {
		if !strings.Contains(all, p) {
			t.Errorf("%s: the output does not say %q:\n%s", what, p, r)
		}
	}
}

// TestBadConfigAndEndpoints: configuration mistakes and unreachable or
// refusing endpoints end with the documented exit code and a message naming
// what to fix, and never print a secret.
func TestBadConfigAndEndpoints(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 17, Users: 200}})

		t.Run("unknown key", func(t *testing.T) {
			p := h.variant("unknown-key", func(y string) string {
				return strings.Replace(y, "entra:\n", "entra:\n  client_secrett: x\n", 1)
			})
			b, _ := os.ReadFile(p)
			line := 1 + strings.Count(string(b[:bytes.Index(b, []byte("client_secrett"))]), "\n")
			r := h.runCfg(p, h.getenv, "run")
			if r.code != ExitUsage {
				t.Fatalf("want exit %d: %s", ExitUsage, r)
			}
			mustContain(t, r, "unknown key", "client_secrett", fmt.Sprintf("%s:%d", p, line), "fix:")
		})

		t.Run("wrong Entra secret", func(t *testing.T) {
			wrong := "wrong-entra-secret-" + h.w.JobSecret[:6] + "x"
			h.outCheck = append(h.outCheck, wrong)
			defer func() { h.outCheck = h.outCheck[:2] }()
			r := h.runEnv(func(k string) string {
				if k == "IDLINK_ENTRA_CLIENT_SECRET" {
					return wrong
				}
				return h.getenv(k)
			}, "run")
			if r.code == 0 {
				t.Fatalf("a wrong secret succeeded: %s", r)
			}
			mustContain(t, r, "wrong Entra secret", "AADSTS7000215", "Certificates & secrets")
		})

		t.Run("wrong Salesforce secret", func(t *testing.T) {
			wrong := "wrong-sf-secret-0123456789"
			h.outCheck = append(h.outCheck, wrong)
			defer func() { h.outCheck = h.outCheck[:2] }()
			r := h.runEnv(func(k string) string {
				if k == "IDLINK_SALESFORCE_CLIENT_SECRET" {
					return wrong
				}
				return h.getenv(k)
			}, "run")
			if r.code != ExitFailure && r.code != ExitUsage {
				t.Fatalf("want exit 1 or 2: %s", r)
			}
			mustContain(t, r, "wrong Salesforce secret", "invalid_client", "Consumer Secret")
			// The cause is in the structured log as well; the Entra side,
			// stopped because Salesforce failed, is not blamed.
			var logged bool
			for _, line := range strings.Split(r.stderr, "\n") {
				if strings.Contains(line, `"msg":"run finished"`) && strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "invalid_client") {
					logged = true
				}
				if strings.Contains(line, "entra sync failed") && strings.Contains(line, "context canceled") {
					t.Errorf("the Entra side is logged as failed for Salesforce's error: %s", line)
				}
			}
			if !logged {
				t.Errorf("the cause of the failed run is not in the JSON log:\n%s", r.stderr)
			}
		})

		t.Run("unreachable Salesforce", func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closed := ln.Addr().String()
			ln.Close()
			p := h.variant("closed-port", func(y string) string {
				return strings.Replace(y, h.w.Salesforce.URL(), "https://"+closed, 1)
			})
			r := h.runCfg(p, h.getenv, "run")
			if r.code != ExitFailure {
				t.Fatalf("want exit %d: %s", ExitFailure, r)
			}
			mustContain(t, r, "unreachable Salesforce", "salesforce.login_url", closed)
		})

		t.Run("Graph throttling past the budget", func(t *testing.T) {
			p := h.variant("throttle", func(y string) string {
				return strings.Replace(y, "entra:\n", "entra:\n  throttle_budget: 2s\n", 1)
			})
			eps := []string{entrasim.EPUsers, entrasim.EPDelta, entrasim.EPSP, entrasim.EPAssignments, entrasim.EPMembers}
			h.w.Entra.Faults.SetAll(fault.Faults{ThrottleRate: 1, RetryAfter: time.Second}, eps...)
			defer h.w.Entra.Faults.SetAll(fault.Faults{}, eps...)
			start := time.Now()
			r := h.runCfg(p, h.getenv, "backfill")
			if r.code != ExitThrottled {
				t.Fatalf("want exit %d: %s", ExitThrottled, r)
			}
			if took := time.Since(start); took > 45*time.Second {
				t.Errorf("gave up after %s with a 2s budget", took)
			}
			st := h.store()
			if run := h.latestRun(st); run.Status != identity.StatusThrottled {
				t.Errorf("run recorded as %s; want throttled", run.Status)
			}
		})

		t.Run("Salesforce certificate from an unknown CA", func(t *testing.T) {
			p := h.variant("noca", func(y string) string {
				i := strings.Index(y, "salesforce:\n")
				j := strings.Index(y[i:], "  ca_bundle_file: ")
				k := strings.Index(y[i+j:], "\n")
				return y[:i+j] + y[i+j+k+1:]
			})
			r := h.runCfg(p, h.getenv, "run")
			if r.code != ExitFailure {
				t.Fatalf("want exit %d: %s", ExitFailure, r)
			}
			mustContain(t, r, "unknown CA", "x509", "salesforce.ca_bundle_file")
		})

		t.Run("Salesforce unavailable past the retries", func(t *testing.T) {
			p := h.variant("sf503", func(y string) string {
				return strings.Replace(y, "salesforce:\n", "salesforce:\n  max_retries: 1\n", 1)
			})
			eps := []string{sfsim.EndpointQuery, sfsim.EndpointQueryMore}
			h.w.Salesforce.Faults().SetAll(fault.Faults{UnavailableRate: 1}, eps...)
			defer h.w.Salesforce.Faults().SetAll(fault.Faults{}, eps...)
			r := h.runCfg(p, h.getenv, "backfill")
			if r.code != ExitThrottled {
				t.Fatalf("want exit %d (safe to retry later): %s", ExitThrottled, r)
			}
			mustContain(t, r, "Salesforce 503", "SERVER_UNAVAILABLE", "retry later")
			st := h.store()
			if run := h.latestRun(st); run.Status != identity.StatusThrottled {
				t.Errorf("run recorded as %s; want throttled", run.Status)
			}
		})

		t.Run("Salesforce daily limit", func(t *testing.T) {
			used, limit := h.w.Salesforce.APIUsage()
			h.w.Salesforce.SetDailyLimit(used + 1)
			defer h.w.Salesforce.SetDailyLimit(limit)
			r := h.run("backfill")
			if r.code != ExitAPILimit {
				t.Fatalf("want exit %d: %s", ExitAPILimit, r)
			}
			mustContain(t, r, "daily limit", "api-usage=", "daily")
		})

		// After all that, a normal run works.
		h.mustRun(0, "backfill")
	})
}

// TestProposalsApproveReject: a UPN-only match with a known sub is proposed,
// never linked; approved, the next run links it (an Identity_Link__c row
// appears); rejected, it is not proposed again.
func TestProposalsApproveReject(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 18, Users: 500}})
		sw := h.w.Scenario
		var upnOnly []scenario.Expectation
		for _, e := range sw.Expected() {
			if e.Situation == identity.Unlinked && e.Why == scenario.WhyUnlinkedUPN {
				upnOnly = append(upnOnly, e)
			}
		}
		if len(upnOnly) < 2 {
			t.Fatalf("only %d UPN-only users in the scenario", len(upnOnly))
		}
		type person struct{ oid, sub, provider string }
		var ps []person
		var obs []identity.Observation
		for _, e := range upnOnly[:2] {
			oid := strings.TrimPrefix(e.Key, scenario.KeyEntra)
			client := providerClient(t, sw, e.Provider)
			sub := sw.Subject(client, oid)
			ps = append(ps, person{oid, sub, e.Provider})
			obs = append(obs, identity.Observation{Provider: e.Provider, Subject: sub, ObjectID: oid, TenantID: sw.TenantID, ClientID: client})
		}
		approve, reject := ps[0], ps[1]
		h.importObservations("upn-only.csv", obs)
		// Importing again is harmless.
		r := h.importObservations("upn-only.csv", obs)
		mustContain(t, r, "re-import", "0 new, 2 already known")

		h.mustRun(0, "backfill")
		st := h.store()
		links := h.links(st)
		for _, p := range ps {
			l := links[identity.LinkKey{Provider: p.provider, Subject: p.sub}]
			if l.Status != identity.LinkProposed || l.Rule != identity.RuleUPN {
				t.Fatalf("UPN-only %s: link %+v; want proposed by upn", p.oid, l)
			}
			if _, ok := h.orgLinks()[p.sub]; ok {
				t.Fatalf("a proposed link reached Salesforce: %s", p.sub)
			}
		}
		list := h.mustRun(0, "links", "list")
		for _, p := range ps {
			mustContain(t, list, "links list", p.sub)
		}

		h.mustRun(0, "links", "approve", "--provider", approve.provider, "--subject", approve.sub, "--actor", "alice", "--reason", "checked with HR")
		h.mustRun(0, "links", "reject", "--provider", reject.provider, "--subject", reject.sub, "--actor", "alice", "--reason", "not the same person")
		// A decided link is no longer waiting.
		if r := h.run("links", "approve", "--provider", approve.provider, "--subject", "no-such-sub", "--actor", "alice"); r.code != ExitUsage {
			t.Errorf("approving an unknown link: %s", r)
		}

		h.mustRun(0, "run")
		org := h.orgLinks()
		if r, ok := org[approve.sub]; !ok || r.Status != "Active" || r.ObjectID != approve.oid {
			t.Fatalf("approved link: Identity_Link__c %+v; want active for %s", r, approve.oid)
		}
		if r, ok := org[reject.sub]; ok && r.Status == "Active" {
			t.Fatalf("rejected link is active in Salesforce: %+v", r)
		} else if ok {
			t.Logf("the rejected proposal is recorded in Salesforce as %s (%s)", r.Status, r.RevokeReason)
		}
		run := h.latestRun(st)
		for _, a := range h.assessments(st, run.ID) {
			if a.ObjectID == approve.oid && a.Situation != identity.Linked {
				t.Errorf("approved %s: %s (%s); want linked", a.ObjectID, a.Situation, a.Detail)
			}
		}
		// Two more runs: the rejected one is never proposed again.
		for range 2 {
			h.mustRun(0, "run")
			run := h.latestRun(st)
			for _, rec := range h.actions(st, run.ID) {
				if rec.Action.Link.Subject == reject.sub && rec.Action.Kind != identity.ActionFlag {
					t.Errorf("run %d: %s for the rejected link", run.ID, rec.Action.Kind)
				}
			}
		}
		if l := h.links(st)[identity.LinkKey{Provider: reject.provider, Subject: reject.sub}]; l.Status == identity.LinkProposed || l.Status == identity.LinkActive {
			t.Errorf("rejected link is %s", l.Status)
		}
		hist := h.mustRun(0, "links", "history", "--provider", approve.provider, "--subject", approve.sub)
		mustContain(t, hist, "history", "propose-link", "create-link")
	})
}

// TestSecretsNeverPrinted runs every command that prints, in every format,
// and looks for the world's secrets in all of it (every other test checks
// each command's output too, through harness.run).
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 19, Users: 200}, Edit: func(y string) string {
			return strings.Replace(y, "level: warn", "level: debug", 1)
		}})
		var all strings.Builder
		for _, args := range [][]string{
			{"backfill", "--dry-run"},
			{"backfill"},
			{"run"},
			{"report"},
			{"report", "--all", "--limit", "0"},
			{"report", "--format", "csv"},
			{"report", "--format", "json"},
			{"links", "list", "--status", "all"},
			{"migrate", "status"},
		} {
			r := h.run(args...)
			if r.code != 0 {
				t.Fatalf("idlink %s: %s", strings.Join(args, " "), r)
			}
			all.WriteString(r.stdout + r.stderr)
		}
		out := filepath.Join(h.dir, "report.json")
		h.mustRun(0, "report", "--format", "json", "-o", out)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
		if all.Len() < 1000 {
			t.Fatalf("suspiciously little output (%d bytes)", all.Len())
		}
		for _, s := range []string{h.w.JobSecret, h.w.SFSecret} {
			if strings.Contains(all.String(), s) {
				t.Fatal("a secret appears in idlink's output")
			}
		}
	})
}
