package entra

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/store"
)

// scopeCounter counts how often the whole scope is recorded, and how often
// only its changes.
type scopeCounter struct {
	store.Store
	calls, changes, fixes int
}

func (c *scopeCounter) FixEntraScope(ctx context.Context, inScope identity.ObjectIDSet, users []identity.ObjectID) error {
	c.fixes++
	return c.Store.FixEntraScope(ctx, inScope, users)
}

func (c *scopeCounter) SetEntraScope(ctx context.Context, inScope identity.ObjectIDSet) error {
	c.calls++
	return c.Store.SetEntraScope(ctx, inScope)
}

func (c *scopeCounter) ChangeEntraScope(ctx context.Context, from string, inScope identity.ObjectIDSet, users []identity.ObjectID) (bool, error) {
	ok, err := c.Store.ChangeEntraScope(ctx, from, inScope, users)
	if ok {
		c.changes++
	}
	return ok, err
}

// TestDeltaRunKeepsRecordedScope: a delta run whose app-assignment scope is
// the one recorded before does not record it again for every user; it sets
// the scope of the users it wrote itself (changed, new). A changed scope
// sets the users that came in or went out, and those it wrote. The first
// full listing, which wrote every stored user, fixes only those it wrote
// before the scope was read; a later full listing, or a run after one that
// stopped before its scope was recorded, records the whole scope.
func TestDeltaRunKeepsRecordedScope(t *testing.T) {
	w := newWorld(t, 20)
	s := w.sim
	must(t, s.AssignAppRole(sfAppID, oidOf(1), ""))
	must(t, s.AssignAppRole(sfAppID, oidOf(2), ""))
	cfg := w.config()
	cfg.Scope, cfg.SalesforceAppID = ScopeAppAssignments, sfAppID
	st := &scopeCounter{Store: openStore(t)}
	check := func(step string, wantCalls, wantChanges int, want ...int) {
		t.Helper()
		if st.calls != wantCalls || st.changes != wantChanges {
			t.Errorf("%s: the whole scope was recorded %d times and its changes %d times, want %d and %d", step, st.calls, st.changes, wantCalls, wantChanges)
		}
		got := stored(t, st.Store)
		for _, n := range []int{0, 1, 2, 3, 4, 30} {
			if in := got[oidOf(n)].InScope; in != slices.Contains(want, n) {
				t.Errorf("%s: user %d in scope %v, want %v", step, n, in, !in)
			}
		}
	}
	src := w.source(t, cfg)
	runSync(t, src, st, ModeAuto) // first run: a full listing
	check("full listing", 0, 0, 1, 2)
	if st.fixes != 1 {
		t.Errorf("the first full listing fixed the scope of the users it wrote before the scope %d times, want 1", st.fixes)
	}

	must(t, s.UpdateUser(oidOf(1), func(u *identity.EntraUser) { u.DisplayName = "One" }))
	must(t, s.UpdateUser(oidOf(3), func(u *identity.EntraUser) { u.DisplayName = "Three" }))
	addUsers(t, s, 30, 31)
	if res := runSync(t, src, st, ModeAuto); res.Kind != "delta" || res.Changed != 3 {
		t.Fatalf("delta run: %+v", res)
	}
	check("delta, same scope", 0, 0, 1, 2)

	must(t, s.AssignAppRole(sfAppID, oidOf(4), ""))
	runSync(t, src, st, ModeAuto)
	check("delta, scope grew", 0, 1, 1, 2, 4)

	// Two users changed and one went out.
	if _, err := s.UnassignAppRole(sfAppID, oidOf(2)); err != nil {
		t.Fatal(err)
	}
	must(t, s.UpdateUser(oidOf(3), func(u *identity.EntraUser) { u.DisplayName = "Three again" }))
	must(t, s.UpdateUser(oidOf(4), func(u *identity.EntraUser) { u.DisplayName = "Four" }))
	runSync(t, src, st, ModeAuto)
	check("delta, scope shrank", 0, 2, 1, 4)

	runSync(t, src, st, ModeFull)
	check("backfill", 1, 2, 1, 4)

	// A run that stops after writing users but before their scope is set
	// leaves the digest pending: the next run records the whole scope.
	must(t, s.UpdateUser(oidOf(0), func(u *identity.EntraUser) { u.DisplayName = "Zero" }))
	broken := &failDigest{scopeCounter: st, name: src.scopeCursorName()}
	id := startRun(t, st)
	if _, err := src.Sync(context.Background(), broken, id, ModeAuto); err == nil {
		t.Fatal("the sync whose digest could not be stored succeeded")
	}
	if got := stored(t, st.Store)[oidOf(0)]; !got.InScope {
		t.Fatal("the test needs user 0 written with its scope unknown")
	}
	must(t, s.AssignAppRole(sfAppID, oidOf(2), ""))
	runSync(t, src, st, ModeAuto)
	check("after a stopped run, scope changed", 2, 2, 1, 2, 4)
}

// failDigest fails to store the scope's digest, as a run killed just then.
type failDigest struct {
	*scopeCounter
	name string
}

func (f *failDigest) UpsertEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser, cur *identity.Cursor) error {
	if cur != nil && cur.Name == f.name && cur.Value != scopePending {
		return errors.New("killed")
	}
	return f.scopeCounter.UpsertEntraUsers(ctx, runID, users, cur)
}

// pendingMarkOutlived marks the scope pending only once the sync's context
// is done, and then fails as a transaction rolled back under it does
// (database/sql: "transaction has already been committed or rolled back").
type pendingMarkOutlived struct{ Sink }

func (s pendingMarkOutlived) UpsertEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser, cur *identity.Cursor) error {
	if cur != nil && cur.Value == scopePending {
		select {
		case <-ctx.Done():
			return errors.New("transaction rolled back")
		case <-time.After(time.Minute):
			return errors.New("the failed scope read did not cancel the sync")
		}
	}
	return s.Sink.UpsertEntraUsers(ctx, runID, users, cur)
}

// A scope read that fails while the pending mark is being written is the
// cause the sync reports, whatever the cancelled write says.
func TestScopeFailureIsTheCauseWhileMarkingPending(t *testing.T) {
	w := newWorld(t, 5)
	st := openStore(t)
	must(t, w.sim.SetGraphPermissions(jobID, entrasim.PermUserReadAll))
	cfg := w.config()
	cfg.Scope, cfg.SalesforceAppID = ScopeAppAssignments, sfAppID
	_, err := w.source(t, cfg).Sync(context.Background(), pendingMarkOutlived{st}, startRun(t, st), ModeFull)
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Permission != "Application.Read.All" {
		t.Fatalf("error %v, want missing Application.Read.All", err)
	}
}
