package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/sqlite"
)

// stored writes w into a new SQLite store through the store's own writes
// and returns the store and the world as the store keeps it (observations
// of one subject with two oids become a conflict, object ids canonical).
func stored(t *testing.T, w world) (store.Store, world) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "idlink.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	run, err := st.StartRun(ctx, identity.KindBackfill, "test")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Half the users are written before the keys are computed
	// (PrepareRelated), half after (the writes keep them).
	must(st.UpsertEntraUsers(ctx, run.ID, w.entra[:len(w.entra)/2], nil))
	must(st.UpsertSalesforceUsers(ctx, run.ID, w.sf[:len(w.sf)/2], nil))
	must(st.PrepareRelated(ctx))
	must(st.UpsertEntraUsers(ctx, run.ID, w.entra[len(w.entra)/2:], nil))
	must(st.UpsertSalesforceUsers(ctx, run.ID, w.sf[len(w.sf)/2:], nil))
	must(st.UpsertAccountLinks(ctx, run.ID, w.tpal))
	must(st.UpsertRemoteLinks(ctx, run.ID, w.remote))
	for _, l := range w.links {
		first := l
		if l.Status == identity.LinkRevoked { // a link is revoked after it was active
			first.Status = identity.LinkActive
		}
		action := map[identity.LinkStatus]identity.ActionKind{identity.LinkActive: identity.ActionCreateLink, identity.LinkProposed: identity.ActionProposeLink}[first.Status]
		must(st.ApplyLinkChanges(ctx, run.ID, []identity.LinkChange{{Action: action, Link: first, Actor: "test"}}))
		if l.Status == identity.LinkRevoked {
			must(st.ApplyLinkChanges(ctx, run.ID, []identity.LinkChange{{Action: identity.ActionRevokeLink, Link: l, Actor: "test"}}))
		}
	}
	for _, o := range w.obs {
		o.Source = identity.SourceBridge
		_, err := st.RecordObservation(ctx, o)
		must(err)
	}
	for _, c := range w.conflicts {
		_, err := st.RecordObservation(ctx, identity.Observation{Provider: c.Provider, Subject: c.Subject, ObjectID: c.OtherObject, Source: identity.SourceBridge})
		must(err)
	}
	for _, d := range w.decisions {
		d.Actor = "admin"
		must(st.RecordDecisions(ctx, d))
	}
	var back world
	must(st.ScanEntraUsers(ctx, func(u identity.EntraUser) error { back.entra = append(back.entra, u); return nil }))
	must(st.ScanSalesforceUsers(ctx, func(u identity.SalesforceUser) error { back.sf = append(back.sf, u); return nil }))
	must(st.ScanAccountLinks(ctx, func(l identity.ThirdPartyAccountLink) error { back.tpal = append(back.tpal, l); return nil }))
	must(st.ScanRemoteLinks(ctx, func(l identity.Link) error { back.remote = append(back.remote, l); return nil }))
	must(st.ScanLinks(ctx, func(l identity.Link) error { back.links = append(back.links, l); return nil }))
	must(st.ScanObservations(ctx, func(o identity.Observation) error { back.obs = append(back.obs, o); return nil }))
	back.conflicts, err = st.ListObservationConflicts(ctx)
	must(err)
	must(st.ScanDecisions(ctx, func(d identity.Decision) error { back.decisions = append(back.decisions, d); return nil }))
	return st, back
}

// records renders every record of w, sorted, for comparing record sets.
func (w world) records(cfg Config) []string {
	var out []string
	w.eachRecord(cfg, func(_ []Key, copyTo func(*world)) {
		var one world
		copyTo(&one)
		out = append(out, fmt.Sprintf("%+v", one))
	})
	slices.Sort(out)
	return out
}

// incrementalConfig is a random configuration without a pairwise provider,
// whose subjects no lookup traces back.
func incrementalConfig(rng *rand.Rand) Config {
	cfg := randomConfig(rng)
	cfg.Providers = slices.DeleteFunc(cfg.Providers, func(p ProviderConfig) bool { return p.Strategy == identity.StrategyPairwise })
	return cfg
}

// TestLoadAffectedIsTheClosure: the records LoadAffected finds in a real
// store by key lookups hold the closure of the seeds over the stored records
// and are themselves closed (no stored record outside shares a key with
// them), which is what TestIncrementalPlanEqualsFullPlan needs to plan them
// alone; for random worlds and seeds (IDLINK_CLOSURE_SEEDS worlds, default
// 20; 300 passed). It may find a little more than the
// seeds' closure: an object-id strategy's subject is looked up as an object
// id in every table, not only among Entra users.
func TestLoadAffectedIsTheClosure(t *testing.T) {
	n := 20 // each seed migrates a SQLite store: slow under -race
	if v, err := strconv.Atoi(os.Getenv("IDLINK_CLOSURE_SEEDS")); err == nil {
		n = v
	}
	for seed := range uint64(n) {
		rng := rand.New(rand.NewPCG(seed, 23))
		cfg := incrementalConfig(rng)
		st, w := stored(t, randomIslands(rng, 1+rng.IntN(3)))
		var all [][]Key
		w.eachRecord(cfg, func(keys []Key, _ func(*world)) { all = append(all, keys) })
		for range 3 {
			seeds := KeySet{}
			for range 1 + rng.IntN(3) {
				seeds.Add(all[rng.IntN(len(all))])
			}
			got, err := LoadAffected(context.Background(), st, cfg, seeds, 0)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			loaded := slices.Compact(snapshotRecords(t, got).records(cfg)) // repeated identical decisions are one
			if got.Records != len(loaded) {
				t.Fatalf("seed %d: Records = %d, loaded %d", seed, got.Records, len(loaded))
			}
			closed := slices.Compact(w.subset(cfg, w.closure(cfg, copyKeys(got.Keys))).records(cfg))
			if !slices.Equal(loaded, closed) {
				t.Fatalf("seed %d: what LoadAffected found is not closed: the closure of its keys over the store holds\n%s", seed, diff(closed, loaded))
			}
			for _, r := range slices.Compact(w.subset(cfg, w.closure(cfg, copyKeys(seeds))).records(cfg)) {
				if _, found := slices.BinarySearch(loaded, r); !found {
					t.Fatalf("seed %d: LoadAffected missed %s", seed, r)
				}
			}
		}
	}
}

// copyKeys copies a key set (closure grows its argument).
func copyKeys(ks KeySet) KeySet {
	out := KeySet{}
	for k := range ks {
		out[k] = struct{}{}
	}
	return out
}

// snapshotRecords is the records LoadAffected collected.
func snapshotRecords(t *testing.T, a *Affected) world {
	t.Helper()
	if a.Snapshot == nil {
		t.Fatal("no snapshot")
	}
	r := a.records
	return world{entra: r.Entra, sf: r.Salesforce, tpal: r.AccountLinks, remote: r.RemoteLinks, links: r.Links,
		obs: r.Observations, conflicts: r.Conflicts, decisions: r.Decisions}
}

func TestLoadAffectedRefuses(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	st, w := stored(t, randomIslands(rng, 2))
	cfg := randomConfig(rng) // with a pairwise provider
	if _, err := LoadAffected(context.Background(), st, cfg, KeySet{}, 0); !errors.Is(err, ErrFullPlanNeeded) {
		t.Fatalf("pairwise provider: err = %v, want ErrFullPlanNeeded", err)
	}
	cfg = incrementalConfig(rng)
	seeds := KeySet{}
	w.eachRecord(cfg, func(keys []Key, _ func(*world)) { seeds.Add(keys) })
	if _, err := LoadAffected(context.Background(), st, cfg, seeds, 3); !errors.Is(err, ErrFullPlanNeeded) {
		t.Fatalf("closure over the limit: err = %v, want ErrFullPlanNeeded", err)
	}
}

// TestChangeKeysCoverRecordKeys: the keys of a journaled version of each
// kind of record include that record's own keys, so a change seeds every
// identity the record relates.
func TestChangeKeysCoverRecordKeys(t *testing.T) {
	cfg := shipped(Config{Providers: []ProviderConfig{
		{Provider: identity.Provider{Name: pE, Strategy: identity.StrategyObserved}},
		{Provider: identity.Provider{Name: pB, Strategy: identity.StrategyObjectID}},
	}, UPNRewrites: []SuffixRewrite{{From: "@contoso.com", To: "@contoso.com.uat"}}})
	eu := identity.EntraUser{ObjectID: oid(1), UPN: "Ann@Contoso.com", Mail: "ann.x@contoso.com"}
	su := identity.SalesforceUser{ID: sfid(1), Username: "ann@contoso.com.uat", Email: "Ann@contoso.com", FederationIdentifier: "{" + oid(1) + "}"}
	tp := identity.ThirdPartyAccountLink{Provider: pE, RemoteIdentifier: "sub-1", UserID: sfid(2)}
	l := identity.Link{Provider: pE, Subject: "sub-2", SalesforceUserID: sfid(3), ObjectID: oid(4)}
	o := identity.Observation{Provider: pE, Subject: "sub-3", ObjectID: oid(5)}
	c := identity.ObservationConflict{Provider: pE, Subject: "sub-3", ObjectID: oid(5), OtherObject: oid(6)}
	d := identity.Decision{Provider: pE, Subject: "sub-4", SalesforceUserID: sfid(7), ObjectID: oid(8)}
	tests := []struct {
		name string
		ch   identity.Change
		want []Key
	}{
		{"Entra user", identity.Change{ObjectID: eu.ObjectID, UPN: eu.UPN, Mail: eu.Mail}, cfg.EntraUserKeys(eu)},
		{"Salesforce user", identity.Change{SalesforceID: su.ID, Username: su.Username, Email: su.Email, FederationIdentifier: su.FederationIdentifier}, SalesforceUserKeys(su)},
		{"ThirdPartyAccountLink", identity.Change{Provider: tp.Provider, Subject: tp.RemoteIdentifier, SalesforceID: tp.UserID}, AccountLinkKeys(tp)},
		{"link", identity.Change{Provider: l.Provider, Subject: l.Subject, SalesforceID: l.SalesforceUserID, ObjectID: l.ObjectID}, LinkKeys(l)},
		{"observation", identity.Change{Provider: o.Provider, Subject: o.Subject, ObjectID: o.ObjectID}, ObservationKeys(o)},
		{"conflict", identity.Change{Provider: c.Provider, Subject: c.Subject, ObjectID: c.ObjectID, OtherObject: c.OtherObject}, ConflictKeys(c)},
		{"decision", identity.Change{Provider: d.Provider, Subject: d.Subject, SalesforceID: d.SalesforceUserID, ObjectID: d.ObjectID}, DecisionKeys(d)},
	}
	for _, tc := range tests {
		got := KeySet{}
		got.Add(cfg.ChangeKeys(tc.ch))
		if len(tc.want) == 0 {
			t.Fatalf("%s: the record has no keys: the test checks nothing", tc.name)
		}
		for _, k := range tc.want {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: ChangeKeys lacks %+v", tc.name, k)
			}
		}
	}
}
