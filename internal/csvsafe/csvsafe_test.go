package csvsafe

import "testing"

func TestCellAndValue(t *testing.T) {
	for in, guarded := range map[string]string{
		"":                         "",
		"alice@contoso.com":        "alice@contoso.com",
		"-1U4Y_base64url":          "'-1U4Y_base64url",
		"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")",
		"+1":                       "'+1",
		"@sum":                     "'@sum",
		"'quoted":                  "'quoted", // a quote not before a trigger is data
	} {
		if got := Cell(in); got != guarded {
			t.Errorf("Cell(%q) = %q, want %q", in, got, guarded)
		}
		if got := Value(Cell(in)); got != in {
			t.Errorf("Value(Cell(%q)) = %q: the round trip lost the value", in, got)
		}
	}
}

// FuzzRoundTrip: whatever the value, guarding then unguarding returns it,
// and a guarded cell never starts with a formula trigger.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "-x", "=1", "'=1", "''-", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Cell(s)
		if c != "" && trigger(c[0]) {
			t.Fatalf("Cell(%q) = %q starts with a trigger", s, c)
		}
		if Value(c) != s {
			t.Fatalf("Value(Cell(%q)) = %q", s, Value(c))
		}
	})
}
