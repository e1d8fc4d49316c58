package e2ebench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
	"github.com/idlinkhq/idlink/internal/sim/world"
)

// The simulated world runs in a child process: this test binary re-executed
// with childEnv set. It writes the CA and an idlink.yaml into the directory
// it is given (as `idlink sim` does), prints one JSON line (ready), then
// answers "counters" lines on stdin with one JSON line each, and stops at EOF.

const (
	childEnv   = "IDLINK_E2EBENCH_CHILD" // "users,seed,latency" e.g. "100000,1,50ms"
	childDirEv = "IDLINK_E2EBENCH_DIR"
)

type ready struct {
	Config string   `json:"config"`
	Env    []string `json:"env"` // the secrets, as NAME=value
	// Scope floor: direct assignments and the direct member counts of the
	// assigned groups, as the simulator serves them.
	Assignments  int   `json:"assignments"`
	GroupMembers []int `json:"group_members"`
	// The world as generated, for the report.
	EntraUsers, SalesforceUsers, AccountLinks, IdentityLinks int
	SoftDeleted                                              int // in the recycle bin
	StartSeconds                                             float64
	Err                                                      string `json:"err,omitempty"`
}

type counters struct {
	Entra      map[string]fault.Counter `json:"entra"`
	Salesforce map[string]fault.Counter `json:"salesforce"`
}

// entraEndpoints and sfEndpoints are every endpoint the simulators wrap; all
// get the same latency.
var (
	entraEndpoints = []string{entrasim.EPToken, entrasim.EPOpenID, entrasim.EPKeys, entrasim.EPUsers, entrasim.EPDeleted,
		entrasim.EPDelta, entrasim.EPSP, entrasim.EPAssignments, entrasim.EPMembers, entrasim.EPUserinfo}
	sfEndpoints = []string{sfsim.EndpointToken, sfsim.EndpointQuery, sfsim.EndpointQueryMore, sfsim.EndpointCollections,
		sfsim.EndpointLimits, sfsim.EndpointBulk, sfsim.EndpointRevoke}
)

// withoutLatency is an error naming the endpoints that served requests but
// are in neither list (so got no latency), nil when there are none.
func (c counters) withoutLatency() error {
	var missing []string
	for _, side := range []struct {
		name   string
		served map[string]fault.Counter
		listed []string
	}{{"entra", c.Entra, entraEndpoints}, {"salesforce", c.Salesforce, sfEndpoints}} {
		for ep, n := range side.served {
			if n.Requests > 0 && !slices.Contains(side.listed, ep) {
				missing = append(missing, side.name+"/"+ep)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("the simulator served %s without the benchmark's latency: add them to entraEndpoints or sfEndpoints", strings.Join(missing, ", "))
	}
	return nil
}

func simChild(spec, dir string) error {
	var users int
	var seed int64
	var lat string
	if _, err := fmt.Sscanf(spec, "%d,%d,%s", &users, &seed, &lat); err != nil {
		return fmt.Errorf("child spec %q: %w", spec, err)
	}
	latency, err := time.ParseDuration(lat)
	if err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	start := time.Now()
	w, err := world.Start(world.Options{Scenario: scenario.Config{Seed: seed, Users: users}})
	if err != nil {
		_ = out.Encode(ready{Err: err.Error()})
		return err
	}
	defer w.Close()
	if path := os.Getenv("IDLINK_BENCH_SIM_CPUPROFILE"); path != "" {
		stop, err := profileCPU(func() (*os.File, error) { return os.Create(path) })
		if err != nil {
			return err
		}
		defer stop()
	}
	// The floor counts each request at the latency: the simulator's work is
	// done within it (fault.Faults.WorkInLatency), as a real service's is
	// within its response time and not on this machine's cores.
	f := fault.Faults{Latency: latency, WorkInLatency: true}
	w.Entra.Faults.SetAll(f, entraEndpoints...)
	w.Salesforce.Faults().SetAll(f, sfEndpoints...)
	ca := filepath.Join(dir, "sim-ca.pem")
	if err := w.WriteCA(ca); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "idlink.yaml")
	if err := os.WriteFile(cfg, []byte(w.ConfigYAML(filepath.Join(dir, "idlink.db"), ca)), 0o600); err != nil {
		return err
	}
	sw := w.Scenario
	r := ready{Config: cfg, Env: w.Env(), EntraUsers: len(sw.Entra), SalesforceUsers: len(sw.Salesforce),
		AccountLinks: len(sw.AccountLinks), IdentityLinks: len(sw.IdentityLinks), StartSeconds: time.Since(start).Seconds()}
	for _, u := range sw.Entra {
		if u.Deleted == identity.SoftDeleted {
			r.SoftDeleted++
		}
	}
	// What the simulator serves (world.loadEntra leaves hard-deleted users out).
	gone := func(i int32) bool { return sw.Entra[i].Deleted == identity.HardDeleted }
	seen := map[int32]bool{} // a group assigned twice (two app roles) is read once
	for _, a := range sw.Assignments {
		switch {
		case a.PrincipalType == "User" && gone(a.Principal):
		case a.PrincipalType == "Group":
			r.Assignments++
			if seen[a.Principal] {
				continue
			}
			seen[a.Principal] = true
			g := sw.Groups[a.Principal]
			n := len(g.Groups)
			for _, m := range g.Members {
				// Graph lists only active users as members: not those in
				// the recycle bin either.
				if sw.Entra[m].Deleted == identity.NotDeleted {
					n++
				}
			}
			r.GroupMembers = append(r.GroupMembers, n)
		default:
			r.Assignments++
		}
	}
	if err := out.Encode(r); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "counters":
			if err := out.Encode(counters{Entra: w.Entra.Faults.Counters(), Salesforce: w.Salesforce.Faults().Counters()}); err != nil {
				return err
			}
		case "change": // change N: what a quarter hour of a large tenant brings
			n, err := strconv.Atoi(arg)
			if err != nil {
				return fmt.Errorf("child: change %q: %w", arg, err)
			}
			// The quarter hour passes on the org's clock, which stamps
			// SystemModstamp and answers Date: runs on a schedule are that
			// far apart, not back to back as the benchmark starts them.
			orgAhead += scheduleInterval
			ahead := orgAhead
			w.Salesforce.Org.SetClock(func() time.Time { return time.Now().Add(ahead) })
			done, err := changeUsers(w, n)
			if err := out.Encode(changed{Changed: done, Err: errString(err)}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("child: unknown command %q", in.Text())
		}
	}
	return in.Err()
}

// scheduleInterval is the time between two scheduled runs the benchmark
// models; orgAhead is how far the simulated org's clock is ahead of the
// host's after the intervals passed so far.
const scheduleInterval = 15 * time.Minute

var orgAhead time.Duration

type changed struct {
	Changed map[string]int `json:"changed"` // by kind
	Err     string         `json:"err,omitempty"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// changeUsers makes n changes to the served tenant and org, spread over
// them: for every ten, four users disabled, two renamed, two new users
// assigned to the app and provisioned, one soft deleted in Entra and one
// Salesforce user deactivated. Entra's delta query and Salesforce's
// SystemModstamp show them to the next run.
func changeUsers(w *world.World, n int) (map[string]int, error) {
	changeRounds++ // new users of each round get names of their own
	sw := w.Scenario
	done := map[string]int{}
	var provisioned map[string]string // active Salesforce user by FederationIdentifier, read once
	kinds := []string{"disabled", "disabled", "disabled", "disabled", "renamed", "renamed", "added", "added", "soft-deleted", "salesforce-deactivated"}
	step := max(1, len(sw.Entra)/(2*max(1, n)))
	for k, i := 0, 0; k < n && i < len(sw.Entra); i += step {
		u, ok := w.Entra.User(sw.Entra[i].ObjectID)
		if !ok || !u.Active() {
			continue
		}
		kind := kinds[k%len(kinds)]
		var err error
		switch kind {
		case "disabled":
			err = w.Entra.UpdateUser(u.ObjectID, func(e *identity.EntraUser) { e.AccountEnabled = false })
		case "renamed":
			local, domain, _ := strings.Cut(u.UPN, "@")
			err = w.Entra.UpdateUser(u.ObjectID, func(e *identity.EntraUser) { e.UPN = local + ".r@" + domain })
		case "added":
			err = addProvisionedUser(w, fmt.Sprintf("added%d.%d@%s", changeRounds, k, sw.Domain))
		case "soft-deleted":
			err = w.Entra.SoftDelete(u.ObjectID)
		case "salesforce-deactivated":
			if provisioned == nil {
				provisioned = map[string]string{}
				for _, su := range w.Org.Users() {
					if su.IsActive {
						provisioned[strings.ToLower(su.FederationIdentifier)] = su.ID
					}
				}
			}
			id, ok := provisioned[strings.ToLower(u.ObjectID)]
			if !ok {
				continue
			}
			err = w.Org.UpdateUser(id, func(su *identity.SalesforceUser) { su.IsActive = false })
		}
		if err != nil {
			return done, fmt.Errorf("%s %s: %w", kind, u.ObjectID, err)
		}
		done[kind]++
		k++
	}
	return done, nil
}

// changeRounds counts the calls of changeUsers.
var changeRounds int

// addProvisionedUser creates an Entra user assigned to the app and the
// Salesforce user Entra provisioning creates for it.
func addProvisionedUser(w *world.World, upn string) error {
	oid := uuid.NewString()
	if err := w.Entra.AddUser(identity.EntraUser{ObjectID: oid, TenantID: w.Scenario.TenantID, UPN: upn, Mail: upn,
		DisplayName: upn, AccountEnabled: true, UserType: "Member"}); err != nil {
		return err
	}
	if err := w.Entra.AssignAppRole(w.Scenario.App.AppID, oid, w.Scenario.App.AppRoleID); err != nil {
		return err
	}
	_, err := w.Org.AddUser(identity.SalesforceUser{Username: upn, FederationIdentifier: oid, Email: upn, IsActive: true, UserType: "Standard"})
	return err
}

func childSpec(users int, seed int64, latency time.Duration) string {
	return strconv.Itoa(users) + "," + strconv.FormatInt(seed, 10) + "," + latency.String()
}

func TestWithoutLatency(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    counters
		want string // "" for no error, else a part of it
	}{
		{"every endpoint listed", counters{
			Entra:      map[string]fault.Counter{entrasim.EPUsers: {Requests: 3}, entrasim.EPDeleted: {Requests: 1}},
			Salesforce: map[string]fault.Counter{sfsim.EndpointRevoke: {Requests: 2}},
		}, ""},
		{"an unlisted endpoint that served nothing", counters{Entra: map[string]fault.Counter{"new": {}}}, ""},
		{"unlisted endpoints that served requests", counters{
			Entra:      map[string]fault.Counter{"new": {Requests: 1}},
			Salesforce: map[string]fault.Counter{"other": {Requests: 4}},
		}, "entra/new, salesforce/other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.withoutLatency()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("withoutLatency: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("withoutLatency: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
