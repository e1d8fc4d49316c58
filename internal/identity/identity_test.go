package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeGUID(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"6F9619FF-8B86-D011-B42D-00C04FC964FF", "6f9619ff-8b86-d011-b42d-00c04fc964ff", true},
		{"{6f9619ff-8b86-d011-b42d-00c04fc964ff}", "6f9619ff-8b86-d011-b42d-00c04fc964ff", true},
		{"  6f9619ff-8b86-d011-b42d-00c04fc964ff\n", "6f9619ff-8b86-d011-b42d-00c04fc964ff", true},
		{"6f9619ff8b86d011b42d00c04fc964ff", "", false},
		{"{6f9619ff-8b86-d011-b42d-00c04fc964ff", "", false},
		{"6f9619ff-8b86-d011-b42d-00c04fc964fg", "", false},
		{"6f9619ff_8b86-d011-b42d-00c04fc964ff", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		got, ok := NormalizeGUID(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizeGUID(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestGuestAndActive(t *testing.T) {
	if !(EntraUser{UPN: "a_b.com#EXT#@t.onmicrosoft.com"}).Guest() || !(EntraUser{UserType: "guest"}).Guest() || (EntraUser{UPN: "a@b.com", UserType: "Member"}).Guest() {
		t.Fatal("Guest misjudged")
	}
	if (EntraUser{AccountEnabled: true, Deleted: SoftDeleted}).Active() || !(EntraUser{AccountEnabled: true}).Active() {
		t.Fatal("Active misjudged")
	}
	for _, s := range Situations {
		if got, err := ParseSituation(string(s)); err != nil || got != s {
			t.Fatalf("ParseSituation(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseSituation("fine"); err == nil || !strings.Contains(err.Error(), "linked") {
		t.Fatalf("ParseSituation(fine) error = %v", err)
	}
}

// NormalizeGUID's fast path only saves an allocation: it answers as the
// full normalisation does, and a canonical id is one any spelling of it
// maps to.
func FuzzNormalizeGUID(f *testing.F) {
	for _, s := range []string{"6f9619ff-8b86-d011-b42d-00c04fc964ff", "{6F9619FF-8B86-D011-B42D-00C04FC964FF}", " 6f9619ff-8b86-d011-b42d-00c04fc964ff ",
		"not-a-guid", "", "0000000-00000-4000-8000-000000000001", "{00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-00000000000g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeGUID(s)
		want, wok := normalizeGUID(s)
		if got != want || ok != wok {
			t.Fatalf("NormalizeGUID(%q) = %q, %v; the full normalisation gives %q, %v", s, got, ok, want, wok)
		}
		if !ok {
			return
		}
		if !canonical(got) {
			t.Fatalf("NormalizeGUID(%q) = %q, which is not canonical", s, got)
		}
		for _, spelling := range []string{got, strings.ToUpper(got), "{" + strings.ToUpper(got) + "}", "\t" + got + " "} {
			if again, ok := NormalizeGUID(spelling); !ok || again != got {
				t.Fatalf("NormalizeGUID(%q) = %q, %v; want %q", spelling, again, ok, got)
			}
		}
	})
}

// A packed object id spells back as NormalizeGUID does, and packed ids sort
// as their canonical strings: stores walk a scope beside their users in
// object id order.
func FuzzObjectID(f *testing.F) {
	f.Add("6F9619FF-8B86-D011-B42D-00C04FC964FF", "{00000000-0000-4000-8000-00000000000a}")
	f.Add("6f9619ff-8b86-d011-b42d-00c04fc964ff", "6f9619ff-8b86-d011-b42d-00c04fc964fe")
	f.Add("not a guid", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		ca, oka := NormalizeGUID(a)
		pa, pok := ParseObjectID(a)
		if oka != pok || oka && pa.String() != ca {
			t.Fatalf("ParseObjectID(%q) = %v, %v; NormalizeGUID = %q, %v", a, pa, pok, ca, oka)
		}
		// The canonical parser takes exactly the canonical spellings.
		if pc, ok := ParseCanonicalObjectID([]byte(a)); ok != (oka && a == ca) || ok && pc != pa {
			t.Fatalf("ParseCanonicalObjectID(%q) = %v, %v; canonical %q, %v", a, pc, ok, ca, oka)
		}
		cb, okb := NormalizeGUID(b)
		pb, _ := ParseObjectID(b)
		if !oka || !okb {
			return
		}
		if got, want := pa.Compare(pb), strings.Compare(ca, cb); got != want {
			t.Fatalf("Compare(%s, %s) = %d, strings say %d", ca, cb, got, want)
		}
		set := ObjectIDSetOf(b, a, "not a guid", strings.ToUpper(a))
		if !set.Has(a) || !set.Has(strings.ToUpper(b)) || set.Len() != len(map[string]bool{ca: true, cb: true}) {
			t.Fatalf("set of %q and %q: Len %d, Has %v %v", a, b, set.Len(), set.Has(a), set.Has(b))
		}
		got := slices.Collect(set.Strings())
		if !slices.IsSorted(got) || !slices.Contains(got, ca) || !slices.Contains(got, cb) {
			t.Fatalf("Strings = %v", got)
		}
	})
}

// A set's ids round-trip through their bytes, which refuse anything but a
// set's; the chunks by first byte make up the set; ChangedIDs is the
// symmetric difference, in order; Digest hashes the canonical lines.
func TestObjectIDSetChunksAndChanges(t *testing.T) {
	id := func(i int) string { return fmt.Sprintf("%02x000000-0000-4000-8000-%012x", i%7*40, i) }
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		var as, bs []string
		inA, inB := map[string]bool{}, map[string]bool{}
		for range rng.IntN(20) {
			s := id(rng.IntN(30))
			as, inA[s] = append(as, s), true
		}
		for range rng.IntN(20) {
			s := id(rng.IntN(30))
			bs, inB[s] = append(bs, s), true
		}
		a, b := ObjectIDSetOf(as...), ObjectIDSetOf(bs...)
		all := slices.Collect(a.All())
		back, err := ParseObjectIDs(AppendObjectIDs(nil, all))
		if err != nil || !slices.Equal(back, all) {
			t.Fatalf("round trip of %v: %v, %v", all, back, err)
		}
		var chunks []ObjectID
		for c := range 256 {
			chunks = append(chunks, a.Chunk(byte(c))...)
		}
		if !slices.Equal(chunks, all) {
			t.Fatalf("chunks %v, set %v", chunks, all)
		}
		var want []string
		for s := range inA {
			if !inB[s] {
				want = append(want, s)
			}
		}
		for s := range inB {
			if !inA[s] {
				want = append(want, s)
			}
		}
		slices.Sort(want)
		var got []string
		for c := range ChangedIDs(all, slices.Collect(b.All())) {
			got = append(got, c.String())
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ChangedIDs(%v, %v) = %v, want %v", slices.Collect(a.Strings()), slices.Collect(b.Strings()), got, want)
		}
		var lines strings.Builder
		for s := range a.Strings() {
			lines.WriteString(s + "\n")
		}
		if sum := sha256.Sum256([]byte(lines.String())); a.Digest() != hex.EncodeToString(sum[:]) {
			t.Fatalf("Digest of %v is not the SHA-256 of its lines", slices.Collect(a.Strings()))
		}
	}
	two := AppendObjectIDs(nil, slices.Collect(ObjectIDSetOf(id(1), id(2)).All()))
	for name, b := range map[string][]byte{
		"a partial id": two[:20],
		"out of order": append(append([]byte{}, two[16:]...), two[:16]...),
		"repeated":     append(append([]byte{}, two[:16]...), two[:16]...),
	} {
		if _, err := ParseObjectIDs(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
