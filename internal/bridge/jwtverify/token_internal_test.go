package jwtverify

import (
	"encoding/json"
	"testing"
)

// FuzzJSONString: the fast path of jsonString agrees with encoding/json on
// every raw value encoding/json accepts as a string.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"esc\"aped"`, `"\u00e9t\u00e9"`, `"été"`, "\"\xff\xfe\"", `""`, `"a\\b"`, `12`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var want string
		werr := json.Unmarshal([]byte(raw), &want)
		if werr != nil || !json.Valid([]byte(raw)) {
			return // jsonString is only ever given values json.Unmarshal produced
		}
		got, ok := jsonString(json.RawMessage(raw))
		if !ok || got != want {
			t.Fatalf("jsonString(%q) = %q, %v; encoding/json says %q", raw, got, ok, want)
		}
	})
}
