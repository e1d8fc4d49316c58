package main

// The end-to-end harness: every test starts its own simulated world
// (internal/sim/world), writes an idlink configuration file for it and drives
// the CLI through Run, exactly as an admin would, with the world's secrets
// given through the environment. Each scenario runs on SQLite and, when
// IDLINK_TEST_POSTGRES_DSN is set, on PostgreSQL in a schema of its own.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/store/pgtest"

	"github.com/jackc/pgx/v5"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/report"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/world"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/backend"
)

const (
	backendSQLite   = "sqlite"
	backendPostgres = "postgres"
)

// forEachBackend runs fn on SQLite and, when configured, on PostgreSQL.
// Under CI=true a missing PostgreSQL fails instead of skipping.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range []string{backendSQLite, backendPostgres} {
		t.Run(b, func(t *testing.T) {
			if b == backendPostgres {
				postgresDSN(t)
			}
			fn(t, b)
		})
	}
}

func postgresDSN(t testing.TB) string { return pgtest.DSN(t) }

// pgSchema gives one test its own schema, dropped at cleanup: a DSN for the
// store's pool and the same without pool settings (for a plain connection).
func pgSchema(t testing.TB) (poolDSN, connDSN string) {
	connDSN = pgtest.Schema(t, "idlink_e2e_")
	return pgtest.WithParams(connDSN, map[string]string{"pool_max_conns": "4"}), connDSN
}

// harness is one world, one database and one configuration file.
type harness struct {
	t        *testing.T
	w        *world.World
	backend  string
	dir      string
	cfgPath  string
	dbPath   string // SQLite file
	dsn      string // PostgreSQL DSN (with search_path)
	connDSN  string // the same without pool settings
	env      map[string]string
	ctx      context.Context
	outCheck []string // secrets that must never be printed
}

type harnessOptions struct {
	Scenario scenario.Config
	// Edit changes the rendered YAML (e.g. to add a safety section).
	Edit func(yaml string) string
}

// defaultSafety keeps the safety limit out of the way of tests that are not
// about it; TestSafetyLimitAndOverride sets its own.
const defaultSafety = "safety:\n  max_changes: 100000\n  max_change_percent: 100\n"

func newHarness(t *testing.T, backendName string, opt harnessOptions) *harness {
	t.Helper()
	w, err := world.Start(world.Options{Scenario: opt.Scenario})
	if err != nil {
		t.Fatalf("start the simulated world: %v", err)
	}
	t.Cleanup(w.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	h := &harness{t: t, w: w, backend: backendName, dir: t.TempDir(), env: map[string]string{}, ctx: ctx}
	caFile := filepath.Join(h.dir, "sim-ca.pem")
	if err := w.WriteCA(caFile); err != nil {
		t.Fatal(err)
	}
	h.dbPath = filepath.Join(h.dir, "idlink.db")
	yaml := w.ConfigYAML(h.dbPath, caFile)
	if backendName == backendPostgres {
		h.dsn, h.connDSN = pgSchema(t)
		sqliteStore := fmt.Sprintf("store:\n  driver: sqlite\n  path: %q\n", h.dbPath)
		if !strings.Contains(yaml, sqliteStore) {
			t.Fatalf("world.ConfigYAML changed its store section; update the harness:\n%s", yaml)
		}
		yaml = strings.Replace(yaml, sqliteStore, "store:\n  driver: postgres\n", 1)
		h.env["IDLINK_STORE_DSN"] = h.dsn
	}
	yaml += defaultSafety + "log:\n  format: json\n  level: warn\n"
	if opt.Edit != nil {
		yaml = opt.Edit(yaml)
	}
	h.cfgPath = filepath.Join(h.dir, "idlink.yaml")
	if err := os.WriteFile(h.cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range w.Env() {
		k, v, _ := strings.Cut(kv, "=")
		h.env[k] = v
	}
	h.outCheck = []string{w.JobSecret, w.SFSecret}
	return h
}

func (h *harness) getenv(k string) string { return h.env[k] }

// result is what one CLI invocation printed.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	if len(s) > 6000 {
		return s[:3000] + "\n[...]\n" + s[len(s)-3000:]
	}
	return s
}

// run runs one idlink command line against the harness's configuration and
// fails the test if a secret shows up in what it printed.
func (h *harness) run(args ...string) result {
	h.t.Helper()
	return h.runEnv(h.getenv, args...)
}

func (h *harness) runEnv(getenv func(string) string, args ...string) result {
	h.t.Helper()
	args = withConfig(args, h.cfgPath)
	var out, errb bytes.Buffer
	code := Run(h.ctx, args, &out, &errb, getenv)
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	checkNoSecrets(h.t, strings.Join(args, " "), r.stdout+r.stderr, h.outCheck...)
	return r
}

// withConfig inserts --config after the (sub)command words.
func withConfig(args []string, cfg string) []string {
	n := 1
	if len(args) > 1 && (args[0] == "links" || args[0] == "observations" || (args[0] == "migrate" && (args[1] == "up" || args[1] == "status"))) {
		n = 2
	}
	out := append([]string{}, args[:n]...)
	out = append(out, "--config", cfg)
	return append(out, args[n:]...)
}

func checkNoSecrets(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a secret was printed by 'idlink %s'", what)
		}
	}
}

// mustRun runs a command that must exit with want.
func (h *harness) mustRun(want int, args ...string) result {
	h.t.Helper()
	r := h.run(args...)
	if r.code != want {
		h.t.Fatalf("idlink %s: want exit %d, got %s", strings.Join(args, " "), want, r)
	}
	return r
}

// store opens the harness's database (the test reads what the CLI wrote).
func (h *harness) store() store.Store {
	h.t.Helper()
	driver, dsn := backend.SQLite, h.dbPath
	if h.backend == backendPostgres {
		driver, dsn = backend.Postgres, h.dsn
	}
	st, err := backend.Open(h.ctx, driver, dsn)
	if err != nil {
		h.t.Fatalf("open the store: %v", err)
	}
	h.t.Cleanup(func() { st.Close() })
	return st
}

// latestRun is the newest run of the database.
func (h *harness) latestRun(st store.Store) identity.Run {
	h.t.Helper()
	r, err := st.LatestRun(h.ctx)
	if err != nil {
		h.t.Fatalf("latest run: %v", err)
	}
	return r
}

func (h *harness) assessments(st store.Store, runID int64) []identity.Assessment {
	h.t.Helper()
	as, err := scanAssessments(h.ctx, st, runID)
	if err != nil {
		h.t.Fatal(err)
	}
	return as
}

func (h *harness) actions(st store.Store, runID int64) []identity.ActionRecord {
	h.t.Helper()
	recs, err := st.ListActions(h.ctx, runID)
	if err != nil {
		h.t.Fatal(err)
	}
	return recs
}

// reportJSON runs `idlink report --format json` and decodes it.
func (h *harness) reportJSON(args ...string) report.Report {
	h.t.Helper()
	r := h.mustRun(0, append([]string{"report", "--format", "json"}, args...)...)
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		h.t.Fatalf("report JSON: %v\n%s", err, clip(r.stdout))
	}
	return rep
}

// importObservations writes obs as the CSV an admin would import and imports it.
func (h *harness) importObservations(name string, obs []identity.Observation) result {
	h.t.Helper()
	var b strings.Builder
	b.WriteString("sub,oid,tid,client\n")
	for _, o := range obs {
		client := o.ClientID
		if client == "" {
			p, ok := h.w.Scenario.Provider(o.Provider)
			if !ok {
				h.t.Fatalf("observation for unknown provider %q", o.Provider)
			}
			client = p.ClientID
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", o.Subject, o.ObjectID, o.TenantID, client)
	}
	path := filepath.Join(h.dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		h.t.Fatal(err)
	}
	r := h.mustRun(0, "observations", "import", path)
	if !strings.Contains(r.stdout, fmt.Sprintf("imported %d observation(s)", len(obs))) {
		h.t.Fatalf("observations import: %s", r)
	}
	return r
}

// linksBy returns idlink's links keyed by (provider, subject).
func (h *harness) links(st store.Store) map[identity.LinkKey]identity.Link {
	h.t.Helper()
	out := map[identity.LinkKey]identity.Link{}
	if err := st.ScanLinks(h.ctx, func(l identity.Link) error { out[l.Key()] = l; return nil }); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// orgLinks returns the org's Identity_Link__c rows by Subject__c, failing on
// a duplicate subject (the external id must stay unique).
func (h *harness) orgLinks() map[string]orgLink {
	h.t.Helper()
	out := map[string]orgLink{}
	for _, r := range h.w.Org.IdentityLinks() {
		if prev, dup := out[r.Subject]; dup {
			h.t.Errorf("two Identity_Link__c rows with Subject__c %s: %s and %s", r.Subject, prev.ID, r.ID)
		}
		out[r.Subject] = orgLink{ID: r.ID, UserID: r.UserID, ObjectID: r.ObjectID, Status: r.Status, RevokeReason: r.RevokeReason}
	}
	return out
}

type orgLink struct{ ID, UserID, ObjectID, Status, RevokeReason string }

// expireLease emulates the run lease of a killed process running out (its
// TTL is ten minutes): the row is removed directly in the database.
func (h *harness) expireLease() {
	h.t.Helper()
	switch h.backend {
	case backendPostgres:
		conn, err := pgx.Connect(h.ctx, h.connDSN)
		if err != nil {
			h.t.Fatal(err)
		}
		defer conn.Close(h.ctx)
		if _, err := conn.Exec(h.ctx, "DELETE FROM lease"); err != nil {
			h.t.Fatal(err)
		}
	default:
		db, err := sql.Open("sqlite", h.dbPath)
		if err != nil {
			h.t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(h.ctx, "PRAGMA busy_timeout = 5000"); err != nil {
			h.t.Fatal(err)
		}
		if _, err := db.ExecContext(h.ctx, "DELETE FROM lease"); err != nil {
			h.t.Fatal(err)
		}
	}
}

// expectationKeys keys the generator's expectations as provider|key.
func expectationKeys(exps []scenario.Expectation) map[string]scenario.Expectation {
	out := make(map[string]scenario.Expectation, len(exps))
	for _, e := range exps {
		out[e.Provider+"|"+e.Key] = e
	}
	return out
}

// assessmentKeys keys a run's assessments like the generator's: an Entra
// identity by oid, a Salesforce user no Entra user accounts for by its id
// (for every provider: an orphan belongs to none).
// planned are a plan's assessments as a slice.
func planned(as *reconcile.Assessments) []identity.Assessment {
	out := make([]identity.Assessment, 0, as.Len())
	for _, a := range as.All() {
		out = append(out, a)
	}
	return out
}

func assessmentKeys(t testing.TB, w *scenario.World, as []identity.Assessment) map[string]identity.Assessment {
	t.Helper()
	out := map[string]identity.Assessment{}
	for _, a := range as {
		var keys []string
		if a.ObjectID != "" && a.Situation != identity.Orphaned {
			keys = []string{a.Provider + "|" + scenario.KeyEntra + a.ObjectID}
		} else {
			for _, p := range w.Providers {
				keys = append(keys, p.Name+"|"+scenario.KeySalesforce+a.SalesforceUserID)
			}
		}
		for _, k := range keys {
			if prev, dup := out[k]; dup {
				t.Fatalf("two assessments for %s: %+v and %+v", k, prev, a)
			}
			out[k] = a
		}
	}
	return out
}
