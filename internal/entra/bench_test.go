package entra

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"

	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/sim/fault"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The benchmark runs the simulator in a child process (this test binary
// re-executed), so that the parent's heap and CPU are the client's alone:
// decode, SDK pipeline, TLS and the SQLite store.

const childEnv = "IDLINK_ENTRA_BENCH_SIM_USERS"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		n, _ := strconv.Atoi(v)
		if err := simChild(n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type childInfo struct{ Login, Graph, CA, SP string }

// simChild serves a tenant of n users plus 1,000 users in an assigned group
// and 10 directly assigned users; it answers "counters" and "reset" lines on
// stdin and exits at EOF.
func simChild(n int) error {
	dir, err := os.MkdirTemp("", "entra-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := entrasim.New(entrasim.Options{TenantID: tenantID, Apps: []entrasim.App{
		{ClientID: jobID, Secret: secret, GraphPermissions: []string{entrasim.PermUserReadAll, entrasim.PermApplicationReadAll, entrasim.PermGroupMemberReadAll}},
		{ClientID: sfAppID, DisplayName: "Salesforce"},
	}})
	if err != nil {
		return err
	}
	defer s.Close()
	us := make([]identity.EntraUser, 0, n)
	for i := 0; i < n; i++ {
		us = append(us, identity.EntraUser{ObjectID: oidOf(i), UPN: fmt.Sprintf("u%d@contoso.com", i), Mail: fmt.Sprintf("u%d@contoso.com", i),
			DisplayName: fmt.Sprintf("User %d", i), GivenName: "User", Surname: fmt.Sprint(i), AccountEnabled: true})
	}
	if err := s.AddUser(us...); err != nil {
		return err
	}
	g := "40000000-0000-4000-8000-000000000001"
	err = s.AddGroup(g, "Salesforce users")
	for i := 0; i < 1000 && err == nil; i++ {
		err = s.AddMember(g, oidOf(i))
	}
	if err == nil {
		err = s.AssignAppRole(sfAppID, g, "")
	}
	for i := 1000; i < 1010 && err == nil; i++ {
		err = s.AssignAppRole(sfAppID, oidOf(i), "")
	}
	if err != nil {
		return err
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := s.TLS().WriteCA(ca); err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	out.Encode(childInfo{Login: s.LoginURL(), Graph: s.GraphURL(), CA: ca})
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "counters":
			out.Encode(s.Faults.Counters())
		case "reset":
			s.Faults.Reset()
			out.Encode("ok")
		}
	}
	return nil
}

type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
	info childInfo
}

func startChild(b *testing.B, n int) *child {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", childEnv, n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: json.NewDecoder(outp)}
	b.Cleanup(func() { in.Close(); cmd.Wait() })
	if err := c.out.Decode(&c.info); err != nil {
		b.Fatalf("simulator child: %v", err)
	}
	return c
}

func (c *child) call(b *testing.B, cmd string, v any) {
	b.Helper()
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		b.Fatal(err)
	}
	if err := c.out.Decode(v); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFullListing runs a full listing (app-assignment scope, real SQLite
// store) of N users and prints requests against the floor ceil(N/999), the
// client's peak heap above its baseline (live, and in use including garbage
// at the default GOGC) and the client's CPU per 999-user page (decode + SDK
// pipeline + TLS + store). The simulator runs in a child process.
func BenchmarkFullListing(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchFull(b, n) })
	}
}

type peakSampler struct {
	stop       chan struct{}
	done       chan struct{}
	live, objs atomic.Uint64
}

func readHeap() (live, objs uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func startPeak() *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			l, o := readHeap()
			if l > p.live.Load() {
				p.live.Store(l)
			}
			if o > p.objs.Load() {
				p.objs.Store(o)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func benchFull(b *testing.B, n int) {
	c := startChild(b, n)
	cfg := Config{
		TenantID: tenantID, ClientID: jobID, Credential: CredClientSecret, ClientSecret: secret,
		AuthorityHost: c.info.Login, GraphBaseURL: c.info.Graph, DisableInstanceDiscovery: true,
		CABundleFile: c.info.CA, Scope: ScopeAppAssignments, SalesforceAppID: sfAppID,
		GraphScope: c.info.Graph + "/.default", ThrottleBudget: time.Minute,
	}
	st := openStore(b)
	src, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var liveMiB, objsMiB float64
	var cpu time.Duration
	var res Result
	for b.Loop() {
		var ok string
		c.call(b, "reset", &ok)
		runID := startRun(b, st)
		runtime.GC()
		baseLive, baseObjs := readHeap()
		p := startPeak()
		c0 := cpuTime()
		res, err = src.Sync(ctx, st, runID, ModeFull)
		cpu = cpuTime() - c0
		close(p.stop)
		<-p.done
		if err != nil {
			b.Fatal(err)
		}
		liveMiB = float64(p.live.Load()-min(baseLive, p.live.Load())) / (1 << 20)
		objsMiB = float64(p.objs.Load()-min(baseObjs, p.objs.Load())) / (1 << 20)
	}
	var cs map[string]fault.Counter
	c.call(b, "counters", &cs)
	floor := math.Ceil(float64(n) / 999)
	var total int64
	for _, c := range cs {
		total += c.Requests
	}
	pages := cs[entrasim.EPUsers].Requests
	cpuPage := float64(cpu.Microseconds()) / 1000 / float64(res.Pages)
	b.ReportMetric(float64(pages), "user-requests")
	b.ReportMetric(floor, "floor")
	b.ReportMetric(float64(pages)/floor, "ratio")
	b.ReportMetric(float64(total), "all-requests")
	b.ReportMetric(liveMiB, "peak-live-MiB")
	b.ReportMetric(objsMiB, "peak-inuse-MiB")
	b.ReportMetric(cpuPage, "cpu-ms/page")
	b.Logf("N=%d: users pages %d (floor %.0f, ratio %.3f), all requests %d:%s; in scope %d; client peak heap above baseline: live %.1f MiB, in use %.1f MiB; client cpu %s = %.2f ms per page",
		n, pages, floor, float64(pages)/floor, total, requestsByEndpoint(cs), res.InScope, liveMiB, objsMiB, cpu.Round(time.Millisecond), cpuPage)
}

func requestsByEndpoint(cs map[string]fault.Counter) string {
	out := ""
	for _, name := range []string{entrasim.EPToken, entrasim.EPOpenID, entrasim.EPDelta, entrasim.EPDeleted, entrasim.EPUsers, entrasim.EPSP, entrasim.EPAssignments, entrasim.EPMembers} {
		out += fmt.Sprintf(" %s=%d", name, cs[name].Requests)
	}
	return out
}
