// Package storetest is the one conformance suite every store.Store backend
// runs. It talks to the backend only through the store.Store interface, so the
// same expectations hold for SQLite and PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// Opener returns a fresh, empty, migrated store for one test; it registers the
// clean-up (Close, dropping the schema) with t.Cleanup.
type Opener func(t *testing.T) store.Store

// Run runs every conformance test against stores made by open. Tests run in
// parallel, each on its own database.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SchemaVersion", testSchemaVersion},
		{"Runs", testRuns},
		{"RunValidation", testRunValidation},
		{"LeaseExclusive", testLeaseExclusive},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseRace", testLeaseRace},
		{"EntraUpsertInPlace", testEntraUpsert},
		{"EntraListing", testEntraListing},
		{"EntraScope", testEntraScope},
		{"EntraLookup", testEntraLookup},
		{"EntraLargeBatch", testEntraLargeBatch},
		{"EntraDuplicateInBatch", testEntraDuplicateInBatch},
		{"CursorWithUpsert", testCursorWithUpsert},
		{"FailedUpsertKeepsCursor", testFailedUpsertKeepsCursor},
		{"Cursors", testCursors},
		{"SalesforceUsers", testSalesforceUsers},
		{"AccountLinks", testAccountLinks},
		{"RemoteLinks", testRemoteLinks},
		{"Observations", testObservations},
		{"ObservationConflict", testObservationConflict},
		{"ObservationDelete", testObservationDelete},
		{"StoreOwner", testStoreOwner},
		{"ObservationsConcurrent", testObservationsConcurrent},
		{"ObservationValidation", testObservationValidation},
		{"LinkLifecycle", testLinkLifecycle},
		{"LinkBatchAtomic", testLinkBatchAtomic},
		{"LinkBatchInOrder", testLinkBatchInOrder},
		{"LinkValidation", testLinkValidation},
		{"RevokeAccountLink", testRevokeAccountLink},
		{"Decisions", testDecisions},
		{"Assessments", testAssessments},
		{"Actions", testActions},
		{"RunDetailsRetention", testRunDetailsRetention},
		{"Audit", testAudit},
		{"ScanStopsOnError", testScanStopsOnError},
		{"WriteDuringScan", testWriteDuringScan},
		{"Journal", testJournal},
		{"Related", testRelated},
		{"RunPlan", testRunPlan},
		{"ReplaceAssessments", testReplaceAssessments},
		{"ReplaceActions", testReplaceActions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func startRun(t *testing.T, s store.Store, kind identity.RunKind) identity.Run {
	t.Helper()
	r, err := s.StartRun(ctxT(t), kind, "test-host/1")
	must(t, err)
	return r
}

// ts is a fixed timestamp at microsecond precision (what every backend keeps).
func ts(sec int) time.Time { return time.Date(2026, 3, 1, 12, 0, sec, 123456000, time.UTC) }

func oid(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func entraUser(i int) identity.EntraUser {
	return identity.EntraUser{
		ObjectID: oid(i), TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
		UPN: fmt.Sprintf("user%d@contoso.com", i), Mail: fmt.Sprintf("u%d@contoso.com", i),
		DisplayName: fmt.Sprintf("User %d", i), GivenName: "User", Surname: fmt.Sprint(i),
		AccountEnabled: i%3 != 0, UserType: "Member",
	}
}

func entraUsers(from, to int) []identity.EntraUser {
	var us []identity.EntraUser
	for i := from; i < to; i++ {
		us = append(us, entraUser(i))
	}
	return us
}

func scanEntra(t *testing.T, s store.Store) []identity.EntraUser {
	t.Helper()
	var out []identity.EntraUser
	must(t, s.ScanEntraUsers(ctxT(t), func(u identity.EntraUser) error { out = append(out, u); return nil }))
	return out
}

func scanLinks(t *testing.T, s store.Store) []identity.Link {
	t.Helper()
	var out []identity.Link
	must(t, s.ScanLinks(ctxT(t), func(l identity.Link) error { out = append(out, l); return nil }))
	return out
}

func listAudit(t *testing.T, s store.Store) []identity.AuditEvent {
	t.Helper()
	evs, err := s.ListAudit(ctxT(t), 0, 0)
	must(t, err)
	return evs
}

func testSchemaVersion(t *testing.T, s store.Store) {
	applied, latest, err := s.SchemaVersion(ctxT(t))
	must(t, err)
	if applied < 1 || applied != latest {
		t.Fatalf("SchemaVersion = %d, %d; want applied = latest >= 1 on a freshly opened store", applied, latest)
	}
}

func testRuns(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.LatestRun(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestRun on empty store: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetRun(ctx, 424242); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRun(424242): err = %v, want ErrNotFound", err)
	}
	before := time.Now().Add(-time.Second)
	r1 := startRun(t, s, identity.KindBackfill)
	r2 := startRun(t, s, identity.KindRun)
	r3 := startRun(t, s, identity.KindDryRun)
	if r1.ID <= 0 || r2.ID <= r1.ID || r3.ID <= r2.ID {
		t.Fatalf("run ids not increasing: %d %d %d", r1.ID, r2.ID, r3.ID)
	}
	if r1.Status != identity.StatusRunning || r1.StartedAt.Before(before) || r1.StartedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("StartRun = %+v, want running, started now", r1)
	}
	got, err := s.GetRun(ctx, r2.ID)
	must(t, err)
	if got.Kind != identity.KindRun || got.Status != identity.StatusRunning || got.Holder != "test-host/1" ||
		!got.StartedAt.Equal(r2.StartedAt) || !got.FinishedAt.IsZero() || got.StartedAt.Location() != time.UTC {
		t.Fatalf("GetRun = %+v, want %+v in UTC", got, r2)
	}

	r2.Status = identity.StatusSucceeded
	r2.Counts = map[string]int64{"linked": 10, "unlinked": 3}
	r2.Note = "deltaLink expired: full resync"
	r2.FinishedAt = ts(30)
	must(t, s.FinishRun(ctx, r2))
	r1.Status, r1.Error = identity.StatusFailed, "graph: 503"
	must(t, s.FinishRun(ctx, r1))
	got, err = s.GetRun(ctx, r2.ID)
	must(t, err)
	if got.Status != identity.StatusSucceeded || got.Counts["linked"] != 10 || got.Counts["unlinked"] != 3 || len(got.Counts) != 2 ||
		got.Note != r2.Note || !got.FinishedAt.Equal(ts(30)) {
		t.Fatalf("after FinishRun: %+v", got)
	}
	got, err = s.GetRun(ctx, r1.ID)
	must(t, err)
	if got.Status != identity.StatusFailed || got.Error != "graph: 503" || got.FinishedAt.IsZero() || got.Counts == nil {
		t.Fatalf("FinishRun without finish time: %+v, want finished now, empty counts map", got)
	}

	latest, err := s.LatestRun(ctx)
	must(t, err)
	if latest.ID != r3.ID {
		t.Fatalf("LatestRun() = %d, want %d", latest.ID, r3.ID)
	}
	latest, err = s.LatestRun(ctx, identity.KindRun, identity.KindBackfill)
	must(t, err)
	if latest.ID != r2.ID {
		t.Fatalf("LatestRun(run, backfill) = %d, want %d", latest.ID, r2.ID)
	}
	latest, err = s.LatestRun(ctx, identity.KindBackfill)
	must(t, err)
	if latest.ID != r1.ID {
		t.Fatalf("LatestRun(backfill) = %d, want %d", latest.ID, r1.ID)
	}

	runs, err := s.ListRuns(ctx, 2)
	must(t, err)
	if len(runs) != 2 || runs[0].ID != r3.ID || runs[1].ID != r2.ID {
		t.Fatalf("ListRuns(2) = %+v, want newest first [%d %d]", runs, r3.ID, r2.ID)
	}
	runs, err = s.ListRuns(ctx, 0)
	must(t, err)
	if len(runs) != 3 {
		t.Fatalf("ListRuns(0) = %d runs, want all 3", len(runs))
	}
	if err := s.FinishRun(ctx, identity.Run{ID: 999999, Status: identity.StatusSucceeded}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FinishRun(unknown id): err = %v, want ErrNotFound", err)
	}
}

func testRunValidation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.StartRun(ctx, "nonsense", "h"); err == nil {
		t.Fatal("StartRun with an unknown kind succeeded")
	}
	r := startRun(t, s, identity.KindRun)
	r.Status = "exploded"
	if err := s.FinishRun(ctx, r); err == nil {
		t.Fatal("FinishRun with an unknown status succeeded")
	}
}

func testLeaseExclusive(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a, err := s.AcquireLease(ctx, "run", "host-a/1", time.Minute)
	must(t, err)
	// A held lease must be refused at once: a short deadline turns blocking into a failure.
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.AcquireLease(quick, "run", "host-b/2", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("second AcquireLease: err = %v, want ErrLeaseHeld", err)
	}
	// Another lease name is independent.
	other, err := s.AcquireLease(ctx, "bridge", "host-b/2", time.Minute)
	must(t, err)
	must(t, a.Renew(ctx))
	must(t, a.Release(ctx))
	must(t, a.Release(ctx)) // releasing twice is harmless
	b, err := s.AcquireLease(ctx, "run", "host-b/2", time.Minute)
	if err != nil {
		t.Fatalf("AcquireLease after Release: %v", err)
	}
	// The old holder must not be able to renew or release the new holder's lease.
	if err := a.Renew(ctx); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("Renew of a released lease: err = %v, want ErrLeaseHeld", err)
	}
	must(t, a.Release(ctx))
	if _, err := s.AcquireLease(ctx, "run", "host-c/3", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("old holder's Release freed the new holder's lease: err = %v", err)
	}
	must(t, b.Release(ctx))
	must(t, other.Release(ctx))
	if _, err := s.AcquireLease(ctx, "run", "h", 0); err == nil || errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("AcquireLease with ttl 0: err = %v, want a validation error", err)
	}
}

func testLeaseExpiry(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const ttl = 300 * time.Millisecond
	a, err := s.AcquireLease(ctx, "run", "host-a/1", ttl)
	must(t, err)
	if _, err := s.AcquireLease(ctx, "run", "host-b/2", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("AcquireLease before expiry: err = %v, want ErrLeaseHeld", err)
	}
	time.Sleep(ttl + 200*time.Millisecond)
	b, err := s.AcquireLease(ctx, "run", "host-b/2", time.Minute)
	if err != nil {
		t.Fatalf("AcquireLease after the holder's lease expired: %v", err)
	}
	if err := a.Renew(ctx); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("Renew of a lost lease: err = %v, want ErrLeaseHeld", err)
	}
	must(t, b.Renew(ctx))
	must(t, b.Release(ctx))
}

func testLeaseRace(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		won    int
		others []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AcquireLease(ctx, "run", fmt.Sprintf("host/%d", i), time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else if !errors.Is(err, store.ErrLeaseHeld) {
				others = append(others, err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || len(others) != 0 {
		t.Fatalf("%d concurrent AcquireLease: %d won, unexpected errors %v; want exactly 1 winner, the rest ErrLeaseHeld", n, won, others)
	}
}

func testEntraUpsert(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r1 := startRun(t, s, identity.KindBackfill)
	in := entraUsers(0, 5)
	in[1].Deleted = identity.SoftDeleted
	in[2].InScope = true
	in[3].UserType = "Guest"
	// Insert in reverse to check that scans come back in oid order.
	rev := append([]identity.EntraUser(nil), in...)
	sort.Slice(rev, func(i, j int) bool { return rev[i].ObjectID > rev[j].ObjectID })
	must(t, s.UpsertEntraUsers(ctx, r1.ID, rev, nil))
	got := scanEntra(t, s)
	if fmt.Sprint(got) != fmt.Sprint(in) {
		t.Fatalf("ScanEntraUsers =\n%v\nwant\n%v", got, in)
	}
	r2 := startRun(t, s, identity.KindRun)
	changed := in[4]
	changed.UPN, changed.AccountEnabled, changed.Deleted = "renamed@contoso.com", false, identity.HardDeleted
	must(t, s.UpsertEntraUsers(ctx, r2.ID, []identity.EntraUser{changed}, nil))
	got = scanEntra(t, s)
	if len(got) != 5 || got[4] != changed || got[0] != in[0] {
		t.Fatalf("after update in place: %v", got)
	}
	must(t, s.UpsertEntraUsers(ctx, r2.ID, nil, nil)) // an empty page is fine
	if err := s.UpsertEntraUsers(ctx, r2.ID, []identity.EntraUser{{ObjectID: oid(9), Deleted: "gone"}}, nil); err == nil {
		t.Fatal("UpsertEntraUsers accepted an unknown deletion kind")
	}
}

func testEntraListing(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const name = "graph.users.delta"
	// A nil page holds the rest of the listing.
	listing := func(r identity.Run, cursor string, pages ...[]identity.EntraUser) (marked int64, whole bool) {
		t.Helper()
		must(t, s.BeginEntraListing(ctx, r.ID))
		for _, p := range pages {
			if p == nil {
				must(t, s.HoldEntraListing(ctx, r.ID))
				continue
			}
			must(t, s.StageEntraUsers(ctx, r.ID, p))
		}
		n, whole, err := s.FinishEntraListing(ctx, r.ID, &identity.Cursor{Name: name, Value: cursor})
		must(t, err)
		return n, whole
	}
	cursorIs := func(when, want string) {
		t.Helper()
		if v, _, err := s.GetCursor(ctx, name); err != nil || v != want {
			t.Fatalf("%s: cursor = %q, %v; want %q", when, v, err, want)
		}
	}
	stored := func(when string, want map[string]identity.EntraUser) {
		t.Helper()
		got := scanEntra(t, s)
		if len(got) != len(want) {
			t.Fatalf("%s: %d users stored, want %d", when, len(got), len(want))
		}
		for _, u := range got {
			if u != want[u.ObjectID] {
				t.Fatalf("%s: stored %+v\nwant %+v", when, u, want[u.ObjectID])
			}
		}
	}

	// A first listing into an empty store, in pages of descending object
	// ids, each larger than one statement, held after the first.
	const n = 3000
	all := entraUsers(0, n)
	want := map[string]identity.EntraUser{}
	for _, u := range all {
		want[u.ObjectID] = u
	}
	slices.Reverse(all)
	r1 := startRun(t, s, identity.KindBackfill)
	if m, whole := listing(r1, "delta-1", all[:999], nil, all[999:1998], all[1998:]); m != 0 || !whole {
		t.Fatalf("first listing: marked %d users, wrote every stored user %v; want 0, true", m, whole)
	}
	stored("after the first listing", want)
	cursorIs("after the first listing", "delta-1")

	// The next, held from the start: user 0 first in the recycle bin, then
	// listed (the later version wins); user 1 only in the recycle bin; user
	// 5 renamed; a new user; users 2000 on gone.
	bin := entraUsers(0, 2)
	for i := range bin {
		bin[i].Deleted = identity.SoftDeleted
	}
	live := append(entraUsers(0, 1), entraUsers(2, 2000)...)
	live[4].UPN = "renamed@contoso.com"
	live = append(live, entraUser(n+1))
	r2 := startRun(t, s, identity.KindBackfill)
	if m, whole := listing(r2, "delta-2", nil, bin, live); m != n-2000 || whole {
		t.Fatalf("second listing: marked %d users, wrote every stored user %v; want %d, false", m, whole, n-2000)
	}
	want[bin[1].ObjectID] = bin[1]
	want[live[4].ObjectID] = live[4]
	want[oid(n+1)] = entraUser(n + 1)
	for i := 2000; i < n; i++ {
		u := want[oid(i)]
		u.Deleted = identity.HardDeleted
		want[oid(i)] = u
	}
	stored("after the second listing", want)
	cursorIs("after the second listing", "delta-2")
	// Finishing again (its commit's answer lost) changes nothing.
	if m, whole, err := s.FinishEntraListing(ctx, r2.ID, &identity.Cursor{Name: name, Value: "delta-2"}); err != nil || m != 0 || whole {
		t.Fatalf("finishing the second listing again = %d, %v, %v; want 0, false", m, whole, err)
	}
	stored("after finishing again", want)

	// A listing cut short stores neither its cursor nor its marking, and
	// the next listing starts over: what it staged counts for nothing.
	r3 := startRun(t, s, identity.KindBackfill)
	must(t, s.BeginEntraListing(ctx, r3.ID))
	cut := entraUser(3)
	cut.UPN = "cut-short@contoso.com"
	must(t, s.StageEntraUsers(ctx, r3.ID, []identity.EntraUser{cut, entraUser(n + 2)}))
	cursorIs("after a listing cut short", "delta-2")
	if u := scanEntra(t, s); len(u) != len(want) && len(u) != len(want)+1 {
		t.Fatalf("after a listing cut short: %d users stored, want %d or %d", len(u), len(want), len(want)+1)
	}
	r4 := startRun(t, s, identity.KindBackfill)
	if _, whole := listing(r4, "delta-4", entraUsers(0, 10)); whole {
		t.Fatal("a listing that left other users stored says it wrote every stored user")
	}
	cursorIs("after the listing that followed", "delta-4")
	for _, u := range scanEntra(t, s) {
		i := slices.IndexFunc(entraUsers(0, 10), func(w identity.EntraUser) bool { return w.ObjectID == u.ObjectID })
		switch {
		case i >= 0 && u != entraUser(i):
			t.Fatalf("after the listing that followed: %+v, want %+v", u, entraUser(i))
		case i < 0 && u.Deleted != identity.HardDeleted:
			t.Fatalf("after the listing that followed: %s is %q, want hard deleted (not in the listing)", u.ObjectID, u.Deleted)
		}
	}

	// A bad user is refused, held or not.
	r6 := startRun(t, s, identity.KindBackfill)
	must(t, s.BeginEntraListing(ctx, r6.ID))
	bad := []identity.EntraUser{{ObjectID: oid(9), Deleted: "gone"}}
	if err := s.StageEntraUsers(ctx, r6.ID, bad); err == nil {
		t.Fatal("StageEntraUsers accepted an unknown deletion kind")
	}
	must(t, s.HoldEntraListing(ctx, r6.ID))
	if err := s.StageEntraUsers(ctx, r6.ID, bad); err == nil {
		t.Fatal("StageEntraUsers accepted an unknown deletion kind in a held listing")
	}

	// With the lookup keys kept, a listing keeps them too, held or not.
	must(t, s.PrepareRelated(ctx))
	r5 := startRun(t, s, identity.KindBackfill)
	renamed := entraUser(7)
	renamed.UPN = "Renamed-Seven@Contoso.com"
	listing(r5, "delta-5", []identity.EntraUser{entraUser(6)}, nil, []identity.EntraUser{renamed})
	upn, _ := store.EntraUserKeys(renamed)
	old, _ := store.EntraUserKeys(entraUser(7))
	for _, q := range []struct {
		upn  string
		want int
	}{{upn, 1}, {old, 0}} {
		rs, err := s.Related(ctx, identity.KeyQuery{UPNs: []string{q.upn}})
		must(t, err)
		if len(rs.Entra) != q.want {
			t.Fatalf("Related(UPN %q) after a listing = %d Entra users, want %d", q.upn, len(rs.Entra), q.want)
		}
	}
}

func testEntraScope(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	us := entraUsers(0, 10)
	for i := range us {
		us[i].InScope = i%2 == 0
	}
	must(t, s.UpsertEntraUsers(ctx, r.ID, us, nil))
	// In any order, with a repeat and ids of users not stored (before the
	// first and after the last); first bytes 0x00 and 0xff included.
	first := identity.ObjectIDSetOf(oid(7), oid(99), "00000000-0000-0000-0000-000000000000", "ffffffff-0000-4000-8000-000000000000",
		oid(2), strings.ToUpper(oid(1)), oid(2))
	must(t, s.SetEntraScope(ctx, first))
	inScope := func(step string, want func(i int) bool) {
		t.Helper()
		for i, u := range scanEntra(t, s) {
			if u.InScope != want(i) {
				t.Fatalf("%s: user %d: InScope = %v, want %v", step, i, u.InScope, want(i))
			}
		}
	}
	inScope("set", func(i int) bool { return i == 1 || i == 2 || i == 7 })

	// Against another recorded scope: nothing changes.
	next := identity.ObjectIDSetOf(oid(1), oid(2), oid(3), oid(5))
	if ok, err := s.ChangeEntraScope(ctx, next.Digest(), next, nil); err != nil || ok {
		t.Fatalf("ChangeEntraScope from a scope not recorded = %v, %v; want false", ok, err)
	}
	inScope("refused change", func(i int) bool { return i == 1 || i == 2 || i == 7 })

	// The users in one of the two scopes change (3 and 5 in, 7 out), and the
	// users named (8, not in the scope; 42, not stored); user 9, neither,
	// keeps the flag the test gives it although the scope says otherwise.
	us[9].InScope = true
	must(t, s.UpsertEntraUsers(ctx, r.ID, us[9:], nil))
	us[8].InScope = true
	must(t, s.UpsertEntraUsers(ctx, r.ID, us[8:9], nil))
	named := slices.Collect(identity.ObjectIDSetOf(oid(8), oid(42)).All())
	if ok, err := s.ChangeEntraScope(ctx, first.Digest(), next, named); err != nil || !ok {
		t.Fatalf("ChangeEntraScope from the recorded scope = %v, %v; want true", ok, err)
	}
	inScope("changed", func(i int) bool { return i == 1 || i == 2 || i == 3 || i == 5 || i == 9 })
	// Recorded: a change from it is accepted, from the one before refused.
	if ok, err := s.ChangeEntraScope(ctx, first.Digest(), next, nil); err != nil || ok {
		t.Fatalf("ChangeEntraScope from the scope before = %v, %v; want false", ok, err)
	}
	empty := identity.ObjectIDSet{}
	if ok, err := s.ChangeEntraScope(ctx, next.Digest(), empty, nil); err != nil || !ok {
		t.Fatalf("ChangeEntraScope to none = %v, %v; want true", ok, err)
	}
	inScope("emptied", func(i int) bool { return i == 9 })

	must(t, s.SetEntraScope(ctx, identity.ObjectIDSet{}))
	inScope("set to none", func(int) bool { return false })
	if ok, err := s.ChangeEntraScope(ctx, empty.Digest(), first, nil); err != nil || !ok {
		t.Fatalf("ChangeEntraScope after SetEntraScope(none) = %v, %v; want true", ok, err)
	}
	inScope("changed from none", func(i int) bool { return i == 1 || i == 2 || i == 7 })

	// Fixing: only the users named take the scope's flags (3 in, 7 out, 42
	// not stored); user 9, not named, keeps the flag the test gives it
	// although the scope says otherwise. The scope is recorded.
	us[9].InScope = true
	must(t, s.UpsertEntraUsers(ctx, r.ID, us[9:], nil))
	must(t, s.FixEntraScope(ctx, next, slices.Collect(identity.ObjectIDSetOf(oid(3), oid(7), oid(42)).All())))
	inScope("fixed", func(i int) bool { return i == 1 || i == 2 || i == 3 || i == 9 })
	if ok, err := s.ChangeEntraScope(ctx, next.Digest(), next, nil); err != nil || !ok {
		t.Fatalf("ChangeEntraScope from the scope FixEntraScope recorded = %v, %v; want true", ok, err)
	}
}

func testEntraLookup(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	us := entraUsers(0, 2000)
	must(t, s.UpsertEntraUsers(ctx, r.ID, us, nil))
	var ask []string
	for i := 0; i < 3000; i += 2 {
		ask = append(ask, oid(i))
	}
	got, err := s.LookupEntraUsers(ctx, ask)
	must(t, err)
	if len(got) != 1000 {
		t.Fatalf("LookupEntraUsers: %d users, want 1000", len(got))
	}
	for i := 0; i < 2000; i += 2 {
		if got[oid(i)] != us[i] {
			t.Fatalf("LookupEntraUsers[%s] = %+v, want %+v", oid(i), got[oid(i)], us[i])
		}
	}
	got, err = s.LookupEntraUsers(ctx, nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("LookupEntraUsers(nil) = %v, %v", got, err)
	}
}

func testEntraLargeBatch(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindBackfill)
	const n = 6000 // several statements per batch on every backend
	must(t, s.UpsertEntraUsers(ctx, r.ID, entraUsers(0, n), &identity.Cursor{Name: "graph.users", Value: "page-1"}))
	count := 0
	prev := ""
	must(t, s.ScanEntraUsers(ctx, func(u identity.EntraUser) error {
		if u.ObjectID <= prev {
			return fmt.Errorf("scan out of order: %s after %s", u.ObjectID, prev)
		}
		prev = u.ObjectID
		count++
		return nil
	}))
	if count != n {
		t.Fatalf("after one %d-user batch: %d users stored", n, count)
	}
	// A second large batch: half of it updates stored users, half is new, and
	// one oid appears twice (the later row wins).
	r2 := startRun(t, s, identity.KindBackfill)
	batch := entraUsers(n/2, n+n/2)
	for i := range batch {
		batch[i].UPN = "second-" + batch[i].UPN
	}
	dup := batch[0]
	dup.Mail = "last-wins@contoso.com"
	batch = append(batch, dup)
	must(t, s.UpsertEntraUsers(ctx, r2.ID, batch, nil))
	count = 0
	must(t, s.ScanEntraUsers(ctx, func(u identity.EntraUser) error {
		i := count
		count++
		want := entraUser(i)
		if i >= n/2 {
			want.UPN = "second-" + want.UPN
		}
		if i == n/2 {
			want.Mail = "last-wins@contoso.com"
		}
		if u != want {
			return fmt.Errorf("user %d after the second batch = %+v, want %+v", i, u, want)
		}
		return nil
	}))
	if count != n+n/2 {
		t.Fatalf("after the second batch: %d users, want %d", count, n+n/2)
	}
}

func testEntraDuplicateInBatch(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	a, b := entraUser(1), entraUser(1)
	b.UPN = "later@contoso.com"
	must(t, s.UpsertEntraUsers(ctx, r.ID, []identity.EntraUser{a, entraUser(2), b}, nil))
	got := scanEntra(t, s)
	if len(got) != 2 || got[0] != b {
		t.Fatalf("a batch with the same oid twice: got %v, want the later version to win", got)
	}
}

func testCursorWithUpsert(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	must(t, s.UpsertEntraUsers(ctx, r.ID, entraUsers(0, 3), &identity.Cursor{Name: "graph.users.delta", Value: "https://graph/delta?token=1"}))
	v, ok, err := s.GetCursor(ctx, "graph.users.delta")
	if err != nil || !ok || v != "https://graph/delta?token=1" {
		t.Fatalf("GetCursor = %q, %v, %v", v, ok, err)
	}
	must(t, s.UpsertSalesforceUsers(ctx, r.ID, []identity.SalesforceUser{{ID: "005000000000001AAA"}}, &identity.Cursor{Name: "sf.users", Value: "2026-03-01T00:00:00Z"}))
	v, ok, err = s.GetCursor(ctx, "sf.users")
	if err != nil || !ok || v != "2026-03-01T00:00:00Z" {
		t.Fatalf("GetCursor(sf.users) = %q, %v, %v", v, ok, err)
	}
	// A cursor may move with an empty page (delta with no changes).
	must(t, s.UpsertEntraUsers(ctx, r.ID, nil, &identity.Cursor{Name: "graph.users.delta", Value: "token=2"}))
	if v, _, _ := s.GetCursor(ctx, "graph.users.delta"); v != "token=2" {
		t.Fatalf("cursor after empty page = %q, want token=2", v)
	}
}

// A batch that fails part-way (here: a bad row after several thousand good
// ones, so earlier statements of the batch have already run) must leave
// neither its rows nor its cursor behind.
func testFailedUpsertKeepsCursor(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	must(t, s.UpsertEntraUsers(ctx, r.ID, entraUsers(0, 10), &identity.Cursor{Name: "graph.users.delta", Value: "old"}))
	bad := entraUsers(10, 5010)
	bad[0].UPN = "changed-before-failure@contoso.com"
	bad = append(bad, entraUsers(0, 1)...)
	bad[len(bad)-1].UPN = "changed@contoso.com"
	// The bad row has the highest oid: backends that write in key order reach it last.
	bad = append(bad, identity.EntraUser{ObjectID: "ffffffff-ffff-4fff-8fff-ffffffffffff", Deleted: "purged"})
	if err := s.UpsertEntraUsers(ctx, r.ID, bad, &identity.Cursor{Name: "graph.users.delta", Value: "new"}); err == nil {
		t.Fatal("UpsertEntraUsers accepted a user with an unknown deletion kind")
	}
	if err := s.UpsertEntraUsers(ctx, r.ID, []identity.EntraUser{entraUser(20), {UPN: "no-oid@contoso.com"}}, &identity.Cursor{Name: "graph.users.delta", Value: "new"}); err == nil {
		t.Fatal("UpsertEntraUsers accepted a user without an object id")
	}
	if v, _, _ := s.GetCursor(ctx, "graph.users.delta"); v != "old" {
		t.Fatalf("cursor after a failed upsert = %q, want old", v)
	}
	got := scanEntra(t, s)
	if len(got) != 10 || got[0] != entraUser(0) {
		t.Fatalf("after a failed upsert: %d users (first %+v), want the 10 from before, unchanged", len(got), got[0])
	}
	// The same for Salesforce users.
	must(t, s.UpsertSalesforceUsers(ctx, r.ID, []identity.SalesforceUser{{ID: "005A"}}, &identity.Cursor{Name: "sf", Value: "old"}))
	if err := s.UpsertSalesforceUsers(ctx, r.ID, []identity.SalesforceUser{{ID: "005B"}, {Username: "no-id"}}, &identity.Cursor{Name: "sf", Value: "new"}); err == nil {
		t.Fatal("UpsertSalesforceUsers accepted a user without an Id")
	}
	if v, _, _ := s.GetCursor(ctx, "sf"); v != "old" {
		t.Fatalf("salesforce cursor after a failed upsert = %q, want old", v)
	}
}

func testCursors(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, ok, err := s.GetCursor(ctx, "missing"); ok || err != nil {
		t.Fatalf("GetCursor(missing) = %v, %v", ok, err)
	}
	must(t, s.SetCursor(ctx, identity.Cursor{Name: "c", Value: "1"}))
	must(t, s.SetCursor(ctx, identity.Cursor{Name: "c", Value: "2"}))
	if v, ok, err := s.GetCursor(ctx, "c"); v != "2" || !ok || err != nil {
		t.Fatalf("GetCursor(c) = %q, %v, %v", v, ok, err)
	}
	must(t, s.DeleteCursor(ctx, "c"))
	must(t, s.DeleteCursor(ctx, "c"))
	if _, ok, _ := s.GetCursor(ctx, "c"); ok {
		t.Fatal("cursor still there after DeleteCursor")
	}
	if err := s.SetCursor(ctx, identity.Cursor{Value: "x"}); err == nil {
		t.Fatal("SetCursor accepted an empty name")
	}
}

func testSalesforceUsers(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	in := []identity.SalesforceUser{
		{ID: "005B", Username: "b@contoso.com.sandbox", FederationIdentifier: oid(2), Email: "b@contoso.com", IsActive: true,
			UserType: "Standard", CreatedDate: ts(1), SystemModstamp: ts(2)},
		{ID: "005A", Username: "a@contoso.com", UserType: "Standard"},
	}
	must(t, s.UpsertSalesforceUsers(ctx, r.ID, in, nil))
	in[1].IsActive, in[1].SystemModstamp = true, time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("CET", 3600))
	must(t, s.UpsertSalesforceUsers(ctx, r.ID, in[1:], nil))
	var got []identity.SalesforceUser
	must(t, s.ScanSalesforceUsers(ctx, func(u identity.SalesforceUser) error { got = append(got, u); return nil }))
	if len(got) != 2 || got[0].ID != "005A" || got[1].ID != "005B" {
		t.Fatalf("ScanSalesforceUsers = %v, want 005A, 005B", got)
	}
	if !got[0].IsActive || !got[0].CreatedDate.IsZero() || !got[0].SystemModstamp.Equal(time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC)) ||
		got[0].SystemModstamp.Location() != time.UTC {
		t.Fatalf("updated user = %+v, want active, zero CreatedDate, modstamp in UTC at microsecond precision", got[0])
	}
	w := in[0]
	if g := got[1]; g.Username != w.Username || g.FederationIdentifier != w.FederationIdentifier || g.Email != w.Email ||
		!g.IsActive || g.UserType != "Standard" || !g.CreatedDate.Equal(ts(1)) || !g.SystemModstamp.Equal(ts(2)) {
		t.Fatalf("user = %+v, want %+v", g, w)
	}
}

func testAccountLinks(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r1 := startRun(t, s, identity.KindRun)
	must(t, s.UpsertAccountLinks(ctx, r1.ID, []identity.ThirdPartyAccountLink{
		{ID: "0JL3", Provider: "EntraOIDC", RemoteIdentifier: "sub-3", UserID: "005C"},
		{ID: "0JL1", Provider: "EntraOIDC", RemoteIdentifier: "sub-1", UserID: "005A"},
		{ID: "0JL2", Provider: "EntraOIDC", RemoteIdentifier: "sub-2", UserID: "005B"},
	}))
	r2 := startRun(t, s, identity.KindRun)
	must(t, s.UpsertAccountLinks(ctx, r2.ID, []identity.ThirdPartyAccountLink{
		{ID: "0JL1", Provider: "EntraOIDC", RemoteIdentifier: "sub-1", UserID: "005Z"},
		{ID: "0JL3", Provider: "EntraOIDC", RemoteIdentifier: "sub-3", UserID: "005C"},
	}))
	// What a complete read saw, unsorted and with an Id the store never had.
	n, err := s.DropAccountLinksExcept(ctx, []string{"0JL3", "0JL0", "0JL1"})
	must(t, err)
	if n != 1 {
		t.Fatalf("DropAccountLinksExcept = %d, want 1", n)
	}
	var got []identity.ThirdPartyAccountLink
	must(t, s.ScanAccountLinks(ctx, func(l identity.ThirdPartyAccountLink) error { got = append(got, l); return nil }))
	want := []identity.ThirdPartyAccountLink{
		{ID: "0JL1", Provider: "EntraOIDC", RemoteIdentifier: "sub-1", UserID: "005Z"},
		{ID: "0JL3", Provider: "EntraOIDC", RemoteIdentifier: "sub-3", UserID: "005C"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ScanAccountLinks = %v, want %v", got, want)
	}
	// A read that saw nothing leaves nothing; again, nothing more to drop.
	if n, err := s.DropAccountLinksExcept(ctx, nil); err != nil || n != 2 {
		t.Fatalf("DropAccountLinksExcept(none) = %d, %v; want 2", n, err)
	}
	if n, err := s.DropAccountLinksExcept(ctx, nil); err != nil || n != 0 {
		t.Fatalf("DropAccountLinksExcept(none) again = %d, %v; want 0", n, err)
	}
	if err := s.UpsertAccountLinks(ctx, r2.ID, []identity.ThirdPartyAccountLink{{Provider: "x"}}); err == nil {
		t.Fatal("UpsertAccountLinks accepted a row without Id")
	}
	// The digests of the pages a read stored describe the rows stored: any
	// write of the links deletes them, a refused one does not.
	pages := identity.Cursor{Name: identity.AccountLinkPagesCursor, Value: "d1,d2"}
	for _, write := range []struct {
		name string
		fn   func() error
	}{
		{"UpsertAccountLinks", func() error {
			return s.UpsertAccountLinks(ctx, r2.ID, []identity.ThirdPartyAccountLink{{ID: "0JL7", Provider: "EntraOIDC", RemoteIdentifier: "sub-7", UserID: "005G"}})
		}},
		{"DropAccountLinksExcept", func() error { _, err := s.DropAccountLinksExcept(ctx, []string{"0JL7"}); return err }},
		{"DropAccountLinksExcept, nothing to drop", func() error { _, err := s.DropAccountLinksExcept(ctx, []string{"0JL7"}); return err }},
	} {
		must(t, s.SetCursor(ctx, pages))
		must(t, write.fn())
		if v, ok, err := s.GetCursor(ctx, pages.Name); err != nil || ok {
			t.Fatalf("after %s the pages' digests are still %q (%v)", write.name, v, err)
		}
	}
	must(t, s.SetCursor(ctx, pages))
	if err := s.UpsertAccountLinks(ctx, r2.ID, []identity.ThirdPartyAccountLink{{Provider: "x"}}); err == nil {
		t.Fatal("UpsertAccountLinks accepted a row without Id")
	}
	if v, ok, err := s.GetCursor(ctx, pages.Name); err != nil || v != pages.Value || !ok {
		t.Fatalf("after a refused write the pages' digests are %q, %v (%v); want them kept", v, ok, err)
	}
}

func testRemoteLinks(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	in := []identity.Link{
		{Provider: "EntraOIDC", Subject: "sub-b", SalesforceUserID: "005B", ObjectID: oid(2), TenantID: "tid", Rule: identity.RuleObjectID, Status: identity.LinkActive, UpdatedAt: ts(5)},
		{Provider: "EntraOIDC", Subject: "Sub-A", SalesforceUserID: "005A", ObjectID: oid(1), Rule: identity.RuleUPN, Status: identity.LinkProposed, Reason: "upn match only"},
	}
	must(t, s.UpsertRemoteLinks(ctx, r.ID, in))
	in[0].Status, in[0].Reason = identity.LinkRevoked, "user deleted"
	must(t, s.UpsertRemoteLinks(ctx, r.ID, in[:1]))
	var got []identity.Link
	must(t, s.ScanRemoteLinks(ctx, func(l identity.Link) error { got = append(got, l); return nil }))
	// Byte order: "Sub-A" sorts before "sub-b" on every backend.
	if len(got) != 2 || got[0] != in[1] || !got[1].UpdatedAt.Equal(ts(5)) {
		t.Fatalf("ScanRemoteLinks = %+v", got)
	}
	got[1].UpdatedAt = in[0].UpdatedAt
	if got[1] != in[0] {
		t.Fatalf("remote link = %+v, want %+v", got[1], in[0])
	}
	if err := s.UpsertRemoteLinks(ctx, r.ID, []identity.Link{{Provider: "EntraOIDC"}}); err == nil {
		t.Fatal("UpsertRemoteLinks accepted a link without subject")
	}
	// A later complete read that no longer returns Sub-A (deleted in
	// Salesforce) drops it; sub-b, read again unchanged, stays.
	r2 := startRun(t, s, identity.KindRun)
	must(t, s.UpsertRemoteLinks(ctx, r2.ID, in[:1]))
	n, err := s.MarkRemoteLinksNotSeen(ctx, r2.ID)
	must(t, err)
	got = got[:0]
	must(t, s.ScanRemoteLinks(ctx, func(l identity.Link) error { got = append(got, l); return nil }))
	if n != 1 || len(got) != 1 || got[0].Subject != "sub-b" {
		t.Fatalf("MarkRemoteLinksNotSeen = %d, left %+v; want 1 dropped and sub-b left", n, got)
	}
	// An incremental read names the records it found deleted; a key of
	// another provider, or one not stored, drops nothing.
	must(t, s.UpsertRemoteLinks(ctx, r2.ID, in[1:]))
	n, err = s.DeleteRemoteLinks(ctx, []identity.LinkKey{{Provider: "EntraOIDC", Subject: "sub-b"}, {Provider: "Other", Subject: "Sub-A"},
		{Provider: "EntraOIDC", Subject: "sub-z"}})
	must(t, err)
	got = got[:0]
	must(t, s.ScanRemoteLinks(ctx, func(l identity.Link) error { got = append(got, l); return nil }))
	if n != 1 || len(got) != 1 || got[0].Subject != "Sub-A" {
		t.Fatalf("DeleteRemoteLinks = %d, left %+v; want 1 dropped and Sub-A left", n, got)
	}
	if n, err := s.DeleteRemoteLinks(ctx, nil); err != nil || n != 0 {
		t.Fatalf("DeleteRemoteLinks(nothing) = %d, %v", n, err)
	}
}

func obs(sub, o string, at time.Time) identity.Observation {
	return identity.Observation{Provider: "EntraOIDC", Subject: sub, ObjectID: o, TenantID: "tid", ClientID: "client-1",
		Source: identity.SourceBridge, FirstSeen: at, LastSeen: at}
}

func testObservations(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	res, err := s.RecordObservation(ctx, obs("sub-1", oid(1), ts(10)))
	must(t, err)
	if res.Outcome != identity.ObservationNew {
		t.Fatalf("first observation: outcome %q, want new", res.Outcome)
	}
	res, err = s.RecordObservation(ctx, obs("sub-1", oid(1), ts(20)))
	must(t, err)
	if res.Outcome != identity.ObservationKnown || res.Existing.ObjectID != oid(1) {
		t.Fatalf("same pair again: %+v, want known", res)
	}
	// An older sighting (an import of old sign-ins) moves first seen back, not last seen.
	_, err = s.RecordObservation(ctx, obs("sub-1", oid(1), ts(5)))
	must(t, err)
	_, err = s.RecordObservation(ctx, obs("sub-1", oid(1), ts(15)))
	must(t, err)
	// The object id compares case-insensitively (GUIDs arrive in either case).
	_, err = s.RecordObservation(ctx, obs("sub-c", oid(0xab), ts(15)))
	must(t, err)
	res, err = s.RecordObservation(ctx, obs("sub-c", strings.ToUpper(oid(0xab)), ts(16)))
	must(t, err)
	if res.Outcome != identity.ObservationKnown {
		t.Fatalf("same oid in upper case: outcome %q, want known", res.Outcome)
	}
	res, err = s.RecordObservation(ctx, identity.Observation{Provider: "EntraOIDC", Subject: "sub-0", ObjectID: oid(0)})
	must(t, err)
	if res.Outcome != identity.ObservationNew {
		t.Fatalf("observation without times: %q, want new", res.Outcome)
	}
	var got []identity.Observation
	must(t, s.ScanObservations(ctx, func(o identity.Observation) error { got = append(got, o); return nil }))
	if len(got) != 3 || got[0].Subject != "sub-0" || got[1].Subject != "sub-1" || got[2].Subject != "sub-c" {
		t.Fatalf("ScanObservations = %+v", got)
	}
	if got[0].Count != 1 || got[0].FirstSeen.IsZero() || !got[0].FirstSeen.Equal(got[0].LastSeen) {
		t.Fatalf("observation without times = %+v, want count 1, first = last = now", got[0])
	}
	o := got[1]
	if o.ObjectID != oid(1) || o.TenantID != "tid" || o.ClientID != "client-1" || o.Source != identity.SourceBridge ||
		o.Count != 4 || !o.FirstSeen.Equal(ts(5)) || !o.LastSeen.Equal(ts(20)) {
		t.Fatalf("observation = %+v, want count 4, first %v, last %v", o, ts(5), ts(20))
	}
}

func testObservationConflict(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, err := s.RecordObservation(ctx, obs("sub-1", oid(1), ts(10)))
	must(t, err)
	other := obs("sub-1", oid(2), ts(20))
	other.Source = identity.SourceAccountLnk
	res, err := s.RecordObservation(ctx, other)
	must(t, err)
	if res.Outcome != identity.ObservationConflicting || res.Existing.ObjectID != oid(1) {
		t.Fatalf("conflicting observation: %+v, want conflict with existing oid %s", res, oid(1))
	}
	// Seen again: still one conflict entry, with the latest time.
	other.LastSeen = ts(30)
	if _, err = s.RecordObservation(ctx, other); err != nil {
		t.Fatal(err)
	}
	var got []identity.Observation
	must(t, s.ScanObservations(ctx, func(o identity.Observation) error { got = append(got, o); return nil }))
	if len(got) != 1 || got[0].ObjectID != oid(1) || got[0].Count != 1 || !got[0].LastSeen.Equal(ts(10)) {
		t.Fatalf("a conflict changed the stored observation: %+v", got)
	}
	cs, err := s.ListObservationConflicts(ctx)
	must(t, err)
	want := identity.ObservationConflict{Provider: "EntraOIDC", Subject: "sub-1", ObjectID: oid(1), OtherObject: oid(2),
		Source: identity.SourceAccountLnk, SeenAt: ts(30)}
	if len(cs) != 1 || cs[0] != want {
		t.Fatalf("ListObservationConflicts = %+v, want [%+v]", cs, want)
	}
}

// Concurrent sightings of one subject (many bridge replicas) must all count
// and never fail on a race to insert the first one.
func testObservationsConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RecordObservation(ctx, obs("sub-x", oid(1), ts(i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	var got []identity.Observation
	must(t, s.ScanObservations(ctx, func(o identity.Observation) error { got = append(got, o); return nil }))
	if len(got) != 1 || got[0].Count != n || !got[0].FirstSeen.Equal(ts(0)) || !got[0].LastSeen.Equal(ts(n-1)) {
		t.Fatalf("after %d concurrent observations: %+v", n, got)
	}
}

func testObservationValidation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, o := range []identity.Observation{obs("", oid(1), ts(1)), obs("sub", "", ts(1)), {Subject: "s", ObjectID: oid(1)}} {
		if _, err := s.RecordObservation(ctx, o); err == nil {
			t.Fatalf("RecordObservation(%+v) accepted an incomplete observation", o)
		}
	}
}

func link(sub, user string, status identity.LinkStatus) identity.Link {
	return identity.Link{Provider: "EntraOIDC", Subject: sub, SalesforceUserID: user, ObjectID: oid(1), TenantID: "tid",
		Rule: identity.RuleObjectID, Status: status}
}

func testLinkLifecycle(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	a, b := link("sub-a", "005A", identity.LinkActive), link("Sub-B", "005B", identity.LinkActive)
	a.UpdatedAt = ts(1)
	must(t, s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{
		{Action: identity.ActionCreateLink, Link: a, Actor: "idlink run 1", Detail: "oid match"},
		{Action: identity.ActionCreateLink, Link: b, Actor: "idlink run 1"},
	}))
	links := scanLinks(t, s)
	if len(links) != 2 || links[0].Subject != "Sub-B" || links[1] != a || links[0].UpdatedAt.IsZero() {
		t.Fatalf("ScanLinks = %+v", links)
	}
	a2 := a
	a2.SalesforceUserID, a2.UpdatedAt = "005Z", ts(2)
	a3 := a2
	a3.Status, a3.Reason, a3.UpdatedAt = identity.LinkRevoked, "Entra user deleted", ts(3)
	must(t, s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{{Action: identity.ActionUpdateLink, Link: a2, Actor: "idlink run 1", Detail: "re-pointed"}}))
	must(t, s.ApplyLinkChanges(ctx, 0, []identity.LinkChange{{Action: identity.ActionRevokeLink, Link: a3, Actor: "admin alice", Detail: "deleted"}}))
	links = scanLinks(t, s)
	if links[1] != a3 {
		t.Fatalf("link after revoke = %+v, want %+v", links[1], a3)
	}
	hist, err := s.LinkHistory(ctx, a.Key())
	must(t, err)
	if len(hist) != 3 {
		t.Fatalf("LinkHistory = %d versions, want 3: %+v", len(hist), hist)
	}
	wantActs := []identity.ActionKind{identity.ActionCreateLink, identity.ActionUpdateLink, identity.ActionRevokeLink}
	wantLinks := []identity.Link{a, a2, a3}
	wantRuns := []int64{r.ID, r.ID, 0}
	for i, v := range hist {
		if v.Action != wantActs[i] || v.Link != wantLinks[i] || v.RunID != wantRuns[i] || (i > 0 && v.Seq <= hist[i-1].Seq) {
			t.Fatalf("history[%d] = %+v, want action %s, link %+v, run %d", i, v, wantActs[i], wantLinks[i], wantRuns[i])
		}
	}
	if hist[2].Actor != "admin alice" || hist[1].Detail != "re-pointed" {
		t.Fatalf("history actor/detail lost: %+v", hist)
	}
	if h, err := s.LinkHistory(ctx, identity.LinkKey{Provider: "EntraOIDC", Subject: "nobody"}); err != nil || len(h) != 0 {
		t.Fatalf("LinkHistory(unknown) = %v, %v; want empty", h, err)
	}
	evs := listAudit(t, s)
	if len(evs) != 4 {
		t.Fatalf("audit events = %d, want 4 (one per change): %+v", len(evs), evs)
	}
	wantKinds := []string{"link.create-link", "link.create-link", "link.update-link", "link.revoke-link"}
	wantTargets := []string{"EntraOIDC/sub-a", "EntraOIDC/Sub-B", "EntraOIDC/sub-a", "EntraOIDC/sub-a"}
	for i, e := range evs {
		if e.Kind != wantKinds[i] || e.Target != wantTargets[i] || e.At.IsZero() {
			t.Fatalf("audit[%d] = %+v, want kind %s target %s", i, e, wantKinds[i], wantTargets[i])
		}
	}
	if evs[0].RunID != r.ID || evs[3].RunID != 0 || evs[3].Actor != "admin alice" || evs[0].Detail != "oid match" {
		t.Fatalf("audit run/actor/detail wrong: %+v", evs)
	}
}

// One change in a batch cannot be written, so none is: no link, no history, no audit.
func testLinkBatchAtomic(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	must(t, s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{{Action: identity.ActionCreateLink, Link: link("sub-a", "005A", identity.LinkActive), Actor: "run"}}))
	before := scanLinks(t, s)
	batch := []identity.LinkChange{
		{Action: identity.ActionCreateLink, Link: link("sub-b", "005B", identity.LinkActive), Actor: "run"},
		{Action: identity.ActionUpdateLink, Link: link("sub-a", "005Z", identity.LinkActive), Actor: "run"},
		// Revoking a link that does not exist: only found out inside the transaction.
		{Action: identity.ActionRevokeLink, Link: link("sub-missing", "005M", identity.LinkRevoked), Actor: "run"},
	}
	err := s.ApplyLinkChanges(ctx, r.ID, batch)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ApplyLinkChanges with a revoke of an unknown link: err = %v, want ErrNotFound", err)
	}
	if after := scanLinks(t, s); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("failed batch changed links:\nbefore %+v\nafter  %+v", before, after)
	}
	if h, _ := s.LinkHistory(ctx, identity.LinkKey{Provider: "EntraOIDC", Subject: "sub-b"}); len(h) != 0 {
		t.Fatalf("failed batch wrote history: %+v", h)
	}
	if h, _ := s.LinkHistory(ctx, identity.LinkKey{Provider: "EntraOIDC", Subject: "sub-a"}); len(h) != 1 {
		t.Fatalf("failed batch wrote history: %+v", h)
	}
	if evs := listAudit(t, s); len(evs) != 1 {
		t.Fatalf("failed batch wrote audit events: %+v", evs)
	}
}

// The changes of a batch apply in order: one may update or revoke a link an
// earlier one of the same batch created, and the last change of a key wins.
func testLinkBatchInOrder(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	batch := []identity.LinkChange{
		{Action: identity.ActionCreateLink, Link: link("sub-a", "005A", identity.LinkActive), Actor: "run", Detail: "1"},
		{Action: identity.ActionCreateLink, Link: link("sub-b", "005B", identity.LinkActive), Actor: "run", Detail: "2"},
		{Action: identity.ActionUpdateLink, Link: link("sub-a", "005Z", identity.LinkActive), Actor: "run", Detail: "3"},
		{Action: identity.ActionRevokeLink, Link: link("sub-b", "005B", identity.LinkRevoked), Actor: "run", Detail: "4"},
	}
	must(t, s.ApplyLinkChanges(ctx, r.ID, batch))
	got := map[string]string{}
	for _, l := range scanLinks(t, s) {
		got[l.Subject] = l.SalesforceUserID + " " + string(l.Status)
	}
	if want := map[string]string{"sub-a": "005Z active", "sub-b": "005B revoked"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("links after a batch that changes its own links: %v, want %v", got, want)
	}
	h, err := s.LinkHistory(ctx, identity.LinkKey{Provider: "EntraOIDC", Subject: "sub-a"})
	must(t, err)
	if len(h) != 2 {
		t.Fatalf("history of sub-a: %d entries, want 2: %+v", len(h), h)
	}
	var details []string
	for _, e := range listAudit(t, s) {
		details = append(details, e.Detail)
	}
	if fmt.Sprint(details) != "[1 2 3 4]" {
		t.Fatalf("audit events in the order %v, want the batch's [1 2 3 4]", details)
	}
}

func testLinkValidation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	ok := identity.LinkChange{Action: identity.ActionCreateLink, Link: link("sub-ok", "005A", identity.LinkActive), Actor: "run"}
	bad := []identity.LinkChange{
		{Action: identity.ActionFlag, Link: link("s", "005A", identity.LinkActive), Actor: "run"},
		{Action: identity.ActionCreateLink, Link: link("", "005A", identity.LinkActive), Actor: "run"},
		{Action: identity.ActionCreateLink, Link: link("s", "", identity.LinkActive), Actor: "run"},
		{Action: identity.ActionCreateLink, Link: link("s", "005A", "weird"), Actor: "run"},
		{Action: identity.ActionCreateLink, Link: link("s", "005A", identity.LinkActive)},
		{Action: identity.ActionRevokeLink, Link: link("s", "005A", identity.LinkActive), Actor: "run"},
		{Action: identity.ActionProposeLink, Link: link("s", "005A", identity.LinkActive), Actor: "run"},
	}
	for i, c := range bad {
		if err := s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{ok, c}); err == nil {
			t.Fatalf("bad change %d (%+v) accepted", i, c)
		}
	}
	if got := scanLinks(t, s); len(got) != 0 {
		t.Fatalf("rejected batches wrote links: %+v", got)
	}
	if evs := listAudit(t, s); len(evs) != 0 {
		t.Fatalf("rejected batches wrote audit events: %+v", evs)
	}
	// A proposal is a valid change.
	must(t, s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{{Action: identity.ActionProposeLink, Link: link("s", "005A", identity.LinkProposed), Actor: "run"}}))
}

// A revoked ThirdPartyAccountLink (Salesforce's own link of a misrouted
// subject to a JIT duplicate) is appended to the link's history and the audit
// log, and leaves idlink's current link as it is. One without the duplicate's
// user id, or not marked revoked, is refused and writes nothing.
func testRevokeAccountLink(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	active := link("sub-m", "005CORRECT", identity.LinkActive)
	active.Reason, active.UpdatedAt = "matched by oid", ts(1)
	must(t, s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{{Action: identity.ActionCreateLink, Link: active, Actor: "idlink run 1", Detail: "oid match"}}))

	revoked := active
	revoked.SalesforceUserID, revoked.Status = "005DUPLICATE", identity.LinkRevoked
	revoked.Reason, revoked.UpdatedAt = "misrouted to JIT duplicate 005DUPLICATE; the correct link points at 005CORRECT", ts(2)
	must(t, s.ApplyLinkChanges(ctx, r.ID, []identity.LinkChange{{Action: identity.ActionRevokeAccountLink, Link: revoked,
		Actor: "idlink run 1", Detail: "revoked the ThirdPartyAccountLink"}}))

	if got := scanLinks(t, s); len(got) != 1 || got[0] != active {
		t.Fatalf("ScanLinks after revoke-account-link = %+v, want only the unchanged %+v", got, active)
	}
	hist, err := s.LinkHistory(ctx, active.Key())
	must(t, err)
	if len(hist) != 2 || hist[0].Action != identity.ActionCreateLink || hist[0].Link != active {
		t.Fatalf("LinkHistory = %+v, want the create then the revoke-account-link", hist)
	}
	if v := hist[1]; v.Action != identity.ActionRevokeAccountLink || v.Link != revoked || v.RunID != r.ID ||
		v.Actor != "idlink run 1" || v.Detail != "revoked the ThirdPartyAccountLink" || v.Seq <= hist[0].Seq {
		t.Fatalf("history[1] = %+v, want action %s, link %+v (the duplicate's user, status revoked), run %d",
			v, identity.ActionRevokeAccountLink, revoked, r.ID)
	}
	evs := listAudit(t, s)
	if len(evs) != 2 {
		t.Fatalf("audit events = %d, want 2: %+v", len(evs), evs)
	}
	if e := evs[1]; e.Kind != "link.revoke-account-link" || e.Target != "EntraOIDC/sub-m" || e.RunID != r.ID ||
		e.Actor != "idlink run 1" || e.Detail != "revoked the ThirdPartyAccountLink" || e.At.IsZero() {
		t.Fatalf("audit[1] = %+v, want kind link.revoke-account-link on EntraOIDC/sub-m by run %d", e, r.ID)
	}

	// Refused, alone or next to a good change: nothing of the batch is written.
	good := identity.LinkChange{Action: identity.ActionCreateLink, Link: link("sub-other", "005B", identity.LinkActive), Actor: "run"}
	noUser, activeStatus, proposed := revoked, revoked, revoked
	noUser.SalesforceUserID = ""
	activeStatus.Status = identity.LinkActive
	proposed.Status = identity.LinkProposed
	for _, tc := range []struct {
		name string
		link identity.Link
	}{
		{"no Salesforce user id", noUser},
		{"status active", activeStatus},
		{"status proposed", proposed},
	} {
		bad := identity.LinkChange{Action: identity.ActionRevokeAccountLink, Link: tc.link, Actor: "run"}
		if err := store.CheckLinkChange(0, bad); err == nil {
			t.Errorf("%s: CheckLinkChange accepted %+v", tc.name, bad)
		}
		for _, batch := range [][]identity.LinkChange{{bad}, {good, bad}} {
			if err := s.ApplyLinkChanges(ctx, r.ID, batch); err == nil {
				t.Errorf("%s: ApplyLinkChanges accepted a batch with %+v", tc.name, bad)
			}
		}
	}
	if got := scanLinks(t, s); len(got) != 1 || got[0] != active {
		t.Fatalf("refused batches changed links: %+v", got)
	}
	if h, err := s.LinkHistory(ctx, active.Key()); err != nil || len(h) != 2 {
		t.Fatalf("refused batches wrote history: %+v, %v", h, err)
	}
	if evs := listAudit(t, s); len(evs) != 2 {
		t.Fatalf("refused batches wrote audit events: %+v", evs)
	}
}

func testDecisions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ds := []identity.Decision{
		{Provider: "EntraOIDC", Subject: "sub-z", SalesforceUserID: "005A", ObjectID: oid(1), Approved: true, Actor: "admin alice", Reason: "checked with HR", At: ts(1)},
		{Provider: "EntraOIDC", Subject: "sub-a", SalesforceUserID: "005B", ObjectID: oid(2), Approved: false, Actor: "admin bob", At: ts(2)},
	}
	must(t, s.RecordDecisions(ctx, ds...))
	var got []identity.Decision
	must(t, s.ScanDecisions(ctx, func(d identity.Decision) error { got = append(got, d); return nil }))
	if fmt.Sprint(got) != fmt.Sprint(ds) {
		t.Fatalf("ScanDecisions = %+v, want %+v (in the order made)", got, ds)
	}
	evs := listAudit(t, s)
	if len(evs) != 2 || evs[0].Kind != "decision.approve" || evs[1].Kind != "decision.reject" ||
		evs[0].Target != "EntraOIDC/sub-z" || evs[0].Actor != "admin alice" || evs[0].RunID != 0 {
		t.Fatalf("decision audit events = %+v", evs)
	}
	if err := s.RecordDecisions(ctx, identity.Decision{Provider: "EntraOIDC", Subject: "s"}); err == nil {
		t.Fatal("RecordDecisions accepted a decision without actor")
	}
	// A batch with one bad decision stores none of them.
	good := identity.Decision{Provider: "EntraOIDC", Subject: "sub-c", SalesforceUserID: "005C", ObjectID: oid(3), Approved: true, Actor: "admin carol", At: ts(3)}
	if err := s.RecordDecisions(ctx, good, identity.Decision{Provider: "EntraOIDC", Subject: "s"}); err == nil {
		t.Fatal("RecordDecisions accepted a batch with a decision without actor")
	}
	n := 0
	must(t, s.ScanDecisions(ctx, func(identity.Decision) error { n++; return nil }))
	if n != len(ds) || len(listAudit(t, s)) != 2 {
		t.Fatalf("a refused batch stored part of itself: %d decisions", n)
	}
}

func testAssessments(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r1, r2 := startRun(t, s, identity.KindRun), startRun(t, s, identity.KindDryRun)
	a := []identity.Assessment{
		{Provider: "EntraOIDC", Situation: identity.Unlinked, ObjectID: oid(1), UPN: "u1@contoso.com", SalesforceUserID: "005A",
			SalesforceUsername: "u1@contoso.com", Rule: identity.RuleObjectID, Detail: "matched by oid; sub not observed yet"},
		{Provider: "EntraOIDC", Situation: identity.Orphaned, SalesforceUserID: "005B", Detail: "no Entra user"},
	}
	must(t, s.SaveAssessments(ctx, r1.ID, a))
	more := []identity.Assessment{{Provider: "EntraOIDC", Situation: identity.Linked, Subject: "sub-3", ObjectID: oid(3)}}
	must(t, s.SaveAssessments(ctx, r1.ID, more))
	must(t, s.SaveAssessments(ctx, r2.ID, a[:1]))
	var got []identity.Assessment
	must(t, s.ScanAssessments(ctx, r1.ID, func(x identity.Assessment) error { got = append(got, x); return nil }))
	want := append(append([]identity.Assessment(nil), a...), more...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ScanAssessments(run 1) = %+v, want %+v", got, want)
	}
	n := 0
	must(t, s.ScanAssessments(ctx, r2.ID, func(identity.Assessment) error { n++; return nil }))
	if n != 1 {
		t.Fatalf("ScanAssessments(run 2) = %d, want 1", n)
	}
	if err := s.SaveAssessments(ctx, 987654, a); err == nil {
		t.Fatal("SaveAssessments for a run that does not exist succeeded (foreign keys off?)")
	}
}

func testActions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	acts := []identity.ActionRecord{
		{Seq: 1, Action: identity.Action{Kind: identity.ActionCreateLink, Link: link("sub-a", "005A", identity.LinkActive), Reason: "oid match"}, State: "planned"},
		{Seq: 2, Action: identity.Action{Kind: identity.ActionFlag, Flag: "duplicate", Reason: "two Salesforce users"}, State: "planned"},
	}
	must(t, s.SaveActions(ctx, r.ID, acts))
	acts[0].State = "applied"
	acts[0].Action.Link.UpdatedAt = ts(7)
	must(t, s.SaveActions(ctx, r.ID, acts[:1]))
	extra := identity.ActionRecord{Action: identity.Action{Kind: identity.ActionRevokeLink, Link: link("sub-b", "005B", identity.LinkRevoked)}, State: "failed", Error: "INVALID_CROSS_REFERENCE_KEY"}
	must(t, s.SaveActions(ctx, r.ID, []identity.ActionRecord{extra}))
	if extra.Seq != 0 {
		t.Fatal("SaveActions changed the caller's record")
	}
	got, err := s.ListActions(ctx, r.ID)
	must(t, err)
	extra.Seq = 3
	want := append(acts, extra)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListActions =\n%+v\nwant\n%+v", got, want)
	}
	if !got[0].Action.Link.UpdatedAt.Equal(ts(7)) {
		t.Fatalf("action link time = %v", got[0].Action.Link.UpdatedAt)
	}
	// One call naming a Seq twice keeps the later record, as two calls
	// would; a record without a Seq takes the next free one.
	planned := identity.ActionRecord{Seq: 4, Action: identity.Action{Kind: identity.ActionFlag, Flag: "orphan"}, State: "planned"}
	done := planned
	done.State = "applied"
	next := identity.ActionRecord{Action: identity.Action{Kind: identity.ActionFlag, Flag: "guest"}, State: "planned"}
	must(t, s.SaveActions(ctx, r.ID, []identity.ActionRecord{planned, next, done}))
	got, err = s.ListActions(ctx, r.ID)
	must(t, err)
	next.Seq = 5
	if want := append(want, done, next); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListActions after a Seq saved twice in one call =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := s.ListActions(ctx, r.ID+1000); !errors.Is(err, store.ErrNotFound) || len(got) != 0 {
		t.Fatalf("ListActions(no such run) = %v, %v; want store.ErrNotFound", got, err)
	}
}

// testRunDetailsRetention: PruneRunDetails deletes the assessments and
// actions of the runs store.RunsToPrune names and marks them, keeps their
// records and counts, and leaves every other run's details alone.
func testRunDetailsRetention(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	var ids []int64
	for i, st := range []identity.RunStatus{identity.StatusSucceeded, identity.StatusSucceeded, identity.StatusFailed, identity.StatusSucceeded, identity.StatusSucceeded} {
		r := startRun(t, s, identity.KindRun)
		must(t, s.SaveAssessments(ctx, r.ID, []identity.Assessment{{Provider: "P", Situation: identity.Linked, ObjectID: oid(i), Subject: "s"}}))
		must(t, s.SaveActions(ctx, r.ID, []identity.ActionRecord{{Seq: 1, Action: identity.Action{Kind: identity.ActionFlag, Flag: "orphan"}, State: "planned"}}))
		r.Status, r.Counts = st, map[string]int64{"situation.linked": int64(i + 1)}
		must(t, s.FinishRun(ctx, r))
		ids = append(ids, r.ID)
	}
	details := func(id int64) (int, int) {
		n := 0
		must(t, s.ScanAssessments(ctx, id, func(identity.Assessment) error { n++; return nil }))
		acts, err := s.ListActions(ctx, id)
		must(t, err)
		return n, len(acts)
	}
	pruned, err := s.PruneRunDetails(ctx, 2)
	must(t, err)
	if want := []int64{ids[0], ids[1], ids[2]}; fmt.Sprint(pruned) != fmt.Sprint(want) {
		t.Fatalf("pruned %v, want %v (keep 2: the two newest, which are also the two newest successes)", pruned, want)
	}
	for i, id := range ids {
		r, err := s.GetRun(ctx, id)
		must(t, err)
		as, acts := details(id)
		gone := i < 3
		if r.DetailsPruned != gone || (as == 0) != gone || (acts == 0) != gone {
			t.Errorf("run %d: pruned mark %v, %d assessments, %d actions; want pruned %v", id, r.DetailsPruned, as, acts, gone)
		}
		if r.Counts["situation.linked"] != int64(i+1) {
			t.Errorf("run %d lost its counts: %v", id, r.Counts)
		}
	}
	if again, err := s.PruneRunDetails(ctx, 2); err != nil || len(again) != 0 {
		t.Fatalf("pruning again: %v, %v", again, err)
	}
	if none, err := s.PruneRunDetails(ctx, 0); err != nil || len(none) != 0 {
		t.Fatalf("keep 0 pruned %v, %v", none, err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	var changes []identity.LinkChange
	for i := range 5 {
		changes = append(changes, identity.LinkChange{Action: identity.ActionCreateLink, Link: link(fmt.Sprintf("sub-%d", i), "005A", identity.LinkActive), Actor: "run"})
	}
	must(t, s.ApplyLinkChanges(ctx, r.ID, changes))
	all := listAudit(t, s)
	if len(all) != 5 {
		t.Fatalf("ListAudit = %d events, want 5", len(all))
	}
	page, err := s.ListAudit(ctx, all[1].Seq, 2)
	must(t, err)
	if len(page) != 2 || page[0].Seq != all[2].Seq || page[1].Seq != all[3].Seq {
		t.Fatalf("ListAudit(since %d, 2) = %+v", all[1].Seq, page)
	}
	page, err = s.ListAudit(ctx, all[4].Seq, 10)
	if err != nil || len(page) != 0 {
		t.Fatalf("ListAudit past the end = %v, %v", page, err)
	}
}

func testScanStopsOnError(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	must(t, s.UpsertEntraUsers(ctx, r.ID, entraUsers(0, 100), nil))
	stop := errors.New("stop here")
	n := 0
	err := s.ScanEntraUsers(ctx, func(identity.EntraUser) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("ScanEntraUsers with a failing callback: err = %v after %d rows, want the callback's error after 3", err, n)
	}
}

// A caller may write while it scans (e.g. record results as it goes); that
// must not deadlock.
func testWriteDuringScan(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := startRun(t, s, identity.KindRun)
	must(t, s.UpsertEntraUsers(ctx, r.ID, entraUsers(0, 50), nil))
	n := 0
	must(t, s.ScanEntraUsers(ctx, func(u identity.EntraUser) error {
		n++
		if n%10 == 0 {
			return s.SetCursor(ctx, identity.Cursor{Name: "progress", Value: u.ObjectID})
		}
		return nil
	}))
	if v, _, _ := s.GetCursor(ctx, "progress"); v != oid(49) || n != 50 {
		t.Fatalf("after scan with writes: cursor %q, %d rows", v, n)
	}
}

// LeaseAcrossHandles checks the lease between two independent handles on the
// same database (two replicas, or two processes on one SQLite file): the
// second is refused at once while the first holds it, and gets it after.
func LeaseAcrossHandles(t *testing.T, a, b store.Store) {
	ctx := ctxT(t)
	la, err := a.AcquireLease(ctx, "run", "replica-a/1", time.Minute)
	must(t, err)
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.AcquireLease(quick, "run", "replica-b/1", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("second replica's AcquireLease: err = %v, want ErrLeaseHeld", err)
	}
	must(t, la.Release(ctx))
	lb, err := b.AcquireLease(ctx, "run", "replica-b/1", time.Minute)
	must(t, err)
	if _, err := a.AcquireLease(quick, "run", "replica-a/1", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("first replica's AcquireLease after the second took it: err = %v, want ErrLeaseHeld", err)
	}
	must(t, lb.Release(ctx))
}

// testObservationDelete: an admin removes a wrong binding; the audit log
// says who and why; the other oid's conflict row stays as its evidence.
func testObservationDelete(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, err := s.RecordObservation(ctx, obs("sub-1", oid(1), ts(10)))
	must(t, err)
	_, err = s.RecordObservation(ctx, obs("sub-1", oid(2), ts(20)))
	must(t, err)
	_, err = s.RecordObservation(ctx, obs("sub-2", oid(3), ts(20)))
	must(t, err)
	del := identity.ObservationDeletion{Provider: "EntraOIDC", Subject: "sub-1", ObjectID: oid(1), Actor: "admin alice", Reason: "imported from the wrong tenant"}
	for _, bad := range []identity.ObservationDeletion{
		{Provider: "EntraOIDC", Subject: "sub-1", ObjectID: oid(1), Actor: "admin alice"},
		{Provider: "EntraOIDC", Subject: "sub-1", ObjectID: oid(1), Reason: "x"},
		{Provider: "EntraOIDC", ObjectID: oid(1), Actor: "a", Reason: "x"},
	} {
		if _, err := s.DeleteObservation(ctx, bad); err == nil {
			t.Errorf("DeleteObservation(%+v) accepted", bad)
		}
	}
	if _, err := s.DeleteObservation(ctx, identity.ObservationDeletion{Provider: "EntraOIDC", Subject: "sub-1", ObjectID: oid(9), Actor: "a", Reason: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a binding that does not exist: %v, want ErrNotFound", err)
	}
	n, err := s.DeleteObservation(ctx, del)
	must(t, err)
	if n != 1 {
		t.Fatalf("deleted %d rows, want 1 (the observation of oid 1)", n)
	}
	var got []identity.Observation
	must(t, s.ScanObservations(ctx, func(o identity.Observation) error { got = append(got, o); return nil }))
	if len(got) != 1 || got[0].Subject != "sub-2" {
		t.Fatalf("observations after the delete: %+v, want only sub-2", got)
	}
	cs, err := s.ListObservationConflicts(ctx)
	must(t, err)
	if len(cs) != 1 || cs[0].OtherObject != oid(2) {
		t.Fatalf("conflicts after deleting oid 1's binding: %+v, want the one naming oid 2", cs)
	}
	// Deleting the other oid removes its conflict row too, case-insensitively.
	n, err = s.DeleteObservation(ctx, identity.ObservationDeletion{Provider: "EntraOIDC", Subject: "sub-1", ObjectID: strings.ToUpper(oid(2)), Actor: "admin alice", Reason: "test account"})
	must(t, err)
	if n != 1 {
		t.Fatalf("deleted %d conflict rows, want 1", n)
	}
	if cs, _ := s.ListObservationConflicts(ctx); len(cs) != 0 {
		t.Fatalf("conflicts left: %+v", cs)
	}
	events, err := s.ListAudit(ctx, 0, 0)
	must(t, err)
	var dels []identity.AuditEvent
	for _, e := range events {
		if e.Kind == "observation.delete" {
			dels = append(dels, e)
		}
	}
	if len(dels) != 2 || dels[0].Actor != "admin alice" || !strings.Contains(dels[0].Detail, "imported from the wrong tenant") || !strings.Contains(dels[0].Detail, oid(1)) || dels[0].Target != "EntraOIDC/sub-1" {
		t.Fatalf("audit of the deletions: %+v", dels)
	}
}

// testStoreOwner: a database has one id for good; the Identity_Link__c rows
// keep the id of the database that wrote them; adoptions are listed and
// audited.
func testStoreOwner(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	id, err := s.StoreID(ctx)
	must(t, err)
	again, err := s.StoreID(ctx)
	must(t, err)
	if id == "" || id != again || !strings.HasPrefix(id, "idl-") {
		t.Fatalf("store id %q then %q: want one stable idl-... id", id, again)
	}
	rows := []identity.Link{
		{Provider: "EntraOIDC", Subject: "s1", SalesforceUserID: "005A", ObjectID: oid(1), Status: identity.LinkActive, StoreID: "idl-other"},
		{Provider: "EntraOIDC", Subject: "s2", SalesforceUserID: "005B", ObjectID: oid(2), Status: identity.LinkActive},
	}
	must(t, s.UpsertRemoteLinks(ctx, 1, rows))
	var got []identity.Link
	must(t, s.ScanRemoteLinks(ctx, func(l identity.Link) error { got = append(got, l); return nil }))
	if len(got) != 2 || got[0].StoreID != "idl-other" || got[1].StoreID != "" {
		t.Fatalf("remote links keep their writer: %+v", got)
	}
	if err := s.AdoptStore(ctx, identity.StoreAdoption{StoreID: "idl-other", Actor: "alice"}); err == nil {
		t.Fatal("adoption without a reason accepted")
	}
	must(t, s.AdoptStore(ctx, identity.StoreAdoption{StoreID: "idl-other", Actor: "alice", Reason: "moved from SQLite to PostgreSQL"}))
	ad, err := s.ListAdoptedStores(ctx)
	must(t, err)
	if len(ad) != 1 || ad[0].StoreID != "idl-other" || ad[0].Actor != "alice" || ad[0].At.IsZero() {
		t.Fatalf("adopted stores: %+v", ad)
	}
	found := false
	for _, e := range listAudit(t, s) {
		found = found || e.Kind == "store.adopt" && e.Target == "idl-other" && e.Actor == "alice" && strings.Contains(e.Detail, "PostgreSQL")
	}
	if !found {
		t.Fatal("the adoption is not in the audit log")
	}
}
