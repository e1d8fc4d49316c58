package identity

import (
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

func FuzzNormalizeGUID(f *testing.F) {
	f.Add("6F9619FF-8B86-D011-B42D-00C04FC964FF")
	f.Add("{6f9619ff-8b86-d011-b42d-00c04fc964ff}")
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := NormalizeGUID(s)
		if !ok {
			return
		}
		if len(n) != 36 || n != strings.ToLower(n) {
			t.Fatalf("NormalizeGUID(%q) = %q", s, n)
		}
		if again, ok := NormalizeGUID(n); !ok || again != n {
			t.Fatalf("not idempotent: %q -> %q", n, again)
		}
		if up, ok := NormalizeGUID("{" + strings.ToUpper(n) + "}"); !ok || up != n {
			t.Fatalf("braces/case changed the result: %q", up)
		}
	})
}
