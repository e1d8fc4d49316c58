package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// TestScopeWalkSeesLaterWrites: SetEntraScope reads the users outside its
// write transaction; users written between that read and its write (here
// one new assigned user, stored with InScope false, and one whose scope the
// walk already judged) still end with exactly the scope given.
func TestScopeWalkSeesLaterWrites(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	oid := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	user := func(i int, in bool) identity.EntraUser {
		return identity.EntraUser{ObjectID: oid(i), TenantID: "t", UPN: fmt.Sprintf("u%d@contoso.com", i), AccountEnabled: true, InScope: in, UserType: "Member"}
	}
	run, err := s.StartRun(ctx, identity.KindRun, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertEntraUsers(ctx, run.ID, []identity.EntraUser{user(1, true), user(2, true), user(3, false)}, nil); err != nil {
		t.Fatal(err)
	}
	scope := identity.ObjectIDSetOf(oid(1), oid(3), oid(4))
	testHookScopeWalked = func() {
		testHookScopeWalked = nil
		if err := s.UpsertEntraUsers(ctx, run.ID, []identity.EntraUser{user(4, false), user(3, false), user(2, true)}, nil); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { testHookScopeWalked = nil })
	if err := s.SetEntraScope(ctx, scope); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	if err := s.ScanEntraUsers(ctx, func(u identity.EntraUser) error { got[u.ObjectID] = u.InScope; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{oid(1): true, oid(2): false, oid(3): true, oid(4): true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("in scope after SetEntraScope = %v, want %v", got, want)
	}
}
