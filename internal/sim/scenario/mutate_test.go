package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// situationOf returns the expectations for one key (any provider).
func situationOf(w *World, key string) []identity.Situation {
	var out []identity.Situation
	for _, e := range w.Expected() {
		if e.Key == key {
			out = append(out, e.Situation)
		}
	}
	return out
}

func firstWith(t *testing.T, w *World, m Mess) (int, string) {
	t.Helper()
	for i := range w.Entra {
		if w.EntraMess(i) == m && !w.Entra[i].Guest() {
			return i, w.Entra[i].ObjectID
		}
	}
	t.Fatalf("no user with mess %v", m)
	return -1, ""
}

func provisionedOf(w *World, i int) int {
	for k := range w.Salesforce {
		if r, owner := w.SalesforceRole(k); owner == i && r == RoleProvisioned {
			return k
		}
	}
	return -1
}

func TestMutationsMoveSituations(t *testing.T) {
	w := generate(t, Config{Seed: 31, Users: 1000})
	_, oid := firstWith(t, w, MessClean)
	key := KeyEntra + oid
	step := func(name string, err error, key string, want ...identity.Situation) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := situationOf(w, key); len(got) != len(want) || (len(want) == 1 && got[0] != want[0]) {
			t.Fatalf("after %s: %s is %v, want %v", name, key, got, want)
		}
	}
	step("nothing", nil, key, identity.Unlinked)
	w.Advance(time.Hour)
	step("Disable", w.Disable(oid), key, identity.Deprovisioned)
	step("Enable", w.Enable(oid), key, identity.Unlinked)
	step("SoftDelete", w.SoftDelete(oid), key, identity.Deprovisioned)
	step("Restore", w.Restore(oid), key, identity.Unlinked)

	old := w.Entra[mustIndex(t, w, oid)].UPN
	newUPN := "renamed." + old
	step("RenameUPN", w.RenameUPN(oid, strings.ToUpper(newUPN)), key, identity.Unlinked)
	if u := w.Entra[mustIndex(t, w, oid)]; u.UPN != newUPN || u.Mail != newUPN {
		t.Fatalf("after RenameUPN: UPN %q mail %q, want %q", u.UPN, u.Mail, newUPN)
	}
	if sf := w.Salesforce[provisionedOf(w, mustIndex(t, w, oid))]; sf.Username != old {
		t.Fatalf("RenameUPN changed Salesforce: Username %q, want the stale %q", sf.Username, old)
	}

	step("SoftDelete", w.SoftDelete(oid), key, identity.Deprovisioned)
	sfKey := KeySalesforce + w.Salesforce[provisionedOf(w, mustIndex(t, w, oid))].ID
	step("HardDelete", w.HardDelete(oid), key)
	step("HardDelete (Salesforce side)", nil, sfKey, identity.Orphaned)
	if u := w.Entra[mustIndex(t, w, oid)]; u.InScope || u.Deleted != identity.HardDeleted {
		t.Fatalf("hard-deleted user %+v", u)
	}

	i, err := w.AddUser(NewUser{Assign: true})
	added := KeyEntra + w.Entra[i].ObjectID
	step("AddUser assigned", err, added, identity.Unmatched)
	j, err := w.AddUser(NewUser{Assign: true, Provision: true, Guest: true})
	step("AddUser provisioned guest", err, KeyEntra+w.Entra[j].ObjectID, identity.Unlinked)
	if !w.Entra[j].Guest() || w.Salesforce[len(w.Salesforce)-1].Username != w.Entra[j].Mail {
		t.Fatalf("added guest %+v / %+v", w.Entra[j], w.Salesforce[len(w.Salesforce)-1])
	}
	k, err := w.AddUser(NewUser{})
	step("AddUser unassigned", err, KeyEntra+w.Entra[k].ObjectID)

	step("Reassign out", w.Reassign(w.Entra[i].ObjectID, false), added)
	step("Reassign in", w.Reassign(w.Entra[i].ObjectID, true), added, identity.Unmatched)
	_, unprov := firstWith(t, w, MessUnprovisioned)
	step("Reassign group member out", w.Reassign(unprov, false), KeyEntra+unprov)
	if w.Entra[mustIndex(t, w, unprov)].InScope || w.scopeOf(mustIndex(t, w, unprov)) {
		t.Fatal("Reassign(false) left the user in scope")
	}
	_, outside := firstWith(t, w, MessNestedOnly)
	step("Reassign nested-only in", w.Reassign(outside, true), KeyEntra+outside, identity.Unmatched)
}

func mustIndex(t *testing.T, w *World, oid string) int {
	t.Helper()
	i, ok := w.EntraIndex(oid)
	if !ok {
		t.Fatalf("no user %s", oid)
	}
	return i
}

func TestMutationsRefuseWhatGraphRefuses(t *testing.T) {
	w := generate(t, Config{Seed: 32, Users: 500})
	_, clean := firstWith(t, w, MessClean)
	_, other := firstWith(t, w, MessSignedIn)
	_, soft := firstWith(t, w, MessSoftDeleted)
	_, hard := firstWith(t, w, MessHardDeleted)
	otherUPN := w.Entra[mustIndex(t, w, other)].UPN
	tests := []struct {
		name string
		err  error
		want error
		text string
	}{
		{"hard delete a live user", w.HardDelete(clean), ErrConflict, "SoftDelete it first"},
		{"restore a live user", w.Restore(clean), ErrConflict, "not in the recycle bin"},
		{"restore a hard-deleted user", w.Restore(hard), ErrNoSuchUser, hard},
		{"disable a soft-deleted user", w.Disable(soft), ErrConflict, "deleted"},
		{"soft delete twice", w.SoftDelete(soft), ErrConflict, "already deleted"},
		{"rename to a used UPN", w.RenameUPN(clean, otherUPN), ErrConflict, "already used"},
		{"rename a soft-deleted user", w.RenameUPN(soft, "x.y@"+w.Domain), ErrConflict, "restore it"},
		{"unknown oid", w.Disable("00000000-0000-4000-8000-000000000000"), ErrNoSuchUser, "00000000"},
		{"not a GUID", w.SoftDelete("alice"), ErrNoSuchUser, "alice"},
		{"rename to another domain", w.RenameUPN(clean, "x@fabrikam.com"), nil, "verified domain"},
	}
	for _, tt := range tests {
		if tt.err == nil || (tt.want != nil && !errors.Is(tt.err, tt.want)) || !strings.Contains(tt.err.Error(), tt.text) {
			t.Errorf("%s: error %v, want %v mentioning %q", tt.name, tt.err, tt.want, tt.text)
		}
	}
	if w.Version() != 1 || len(w.Changes()) != 0 {
		t.Errorf("refused mutations changed the log: version %d, %d changes", w.Version(), len(w.Changes()))
	}
}

func TestChangesSinceSumsUpPerUser(t *testing.T) {
	w := generate(t, Config{Seed: 33, Users: 500})
	_, a := firstWith(t, w, MessClean)
	_, b := firstWith(t, w, MessSignedIn)
	_, soft := firstWith(t, w, MessSoftDeleted)
	v0 := w.Version()
	if v0 != 1 {
		t.Fatalf("fresh world at version %d, want 1", v0)
	}
	w.Advance(time.Minute)
	must(t, w.Disable(a))
	must(t, w.RenameUPN(b, "b.renamed@"+w.Domain))
	v1 := w.Version()
	w.Advance(time.Minute)
	must(t, w.Enable(a))
	c, err := w.AddUser(NewUser{Assign: true})
	must(t, err)
	must(t, w.RenameUPN(w.Entra[c].ObjectID, "c.renamed@"+w.Domain))
	must(t, w.HardDelete(soft))
	must(t, w.Disable(a)) // a again: it must come once, after c and soft

	all := w.ChangesSince(v0)
	got := make([]string, len(all))
	for k, ch := range all {
		got[k] = ch.ObjectID + " " + ch.Kind.String() + " " + strings.Join(ch.Props.Names(), ",")
	}
	cOID := w.Entra[c].ObjectID
	want := []string{
		b + " updated userPrincipalName,mail",
		cOID + " created userPrincipalName,mail,accountEnabled,displayName,givenName,surname,userType,appRoleAssignments",
		soft + " hard-deleted ",
		a + " updated accountEnabled",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ChangesSince(%d):\n%s\nwant\n%s", v0, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for k := 1; k < len(all); k++ {
		if all[k].Version <= all[k-1].Version {
			t.Fatalf("changes not in version order: %+v", all)
		}
	}
	if since := w.ChangesSince(v1); len(since) != 3 || since[0].ObjectID != cOID {
		t.Fatalf("ChangesSince(v1) = %+v, want c, soft, a", since)
	}
	if len(w.ChangesSince(w.Version())) != 0 {
		t.Fatal("changes after the current version")
	}
	tombs := w.Tombstones()
	last := tombs[len(tombs)-1]
	if last.ObjectID != soft || last.Version == 0 || !last.At.Equal(w.Now()) {
		t.Fatalf("last tombstone %+v", last)
	}
	for _, tb := range tombs[:len(tombs)-1] {
		if tb.Version != 0 || w.EntraMess(int(tb.Entra)) != MessHardDeleted {
			t.Fatalf("generated tombstone %+v", tb)
		}
	}
	if w.Changes()[0].At != w.Config().Now.Add(time.Minute) {
		t.Fatalf("first change at %v, want the world clock", w.Changes()[0].At)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
