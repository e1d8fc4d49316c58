package scenario

import (
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// FuzzGenerate feeds arbitrary sizes and rates: Generate must either refuse
// the config with an error or build a world whose expectations follow the
// mess table.
func FuzzGenerate(f *testing.F) {
	f.Add(int64(1), 50, 0.15, 0.05, 0.03, 0.02, 0.1, 0.5, 0.01)
	f.Add(int64(2), 1, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0)
	f.Add(int64(3), 7, 0.3, 0.3, 0.3, 0.3, 0.3, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, seed int64, users int, jit, linked, disabled, hard, dup, guest, orphan float64) {
		if users > 300 {
			users %= 300
		}
		r := Rates{JITDuplicate: jit, Linked: linked, Disabled: disabled, HardDeleted: hard,
			DuplicateFederationID: dup, Guest: guest, ManualOrphan: orphan, LeftoverOrphan: orphan}
		w, err := Generate(Config{Seed: seed, Users: users, Rates: &r})
		if err != nil {
			return
		}
		signedInWith := signInProviders(w)
		for _, e := range w.Expected() {
			m := messOfKey(t, w, e.Key)
			want := messSituation[m]
			if (m == MessLinked || m == MessJITDuplicate) && signedInWith[e.Key[len(KeyEntra):]] != e.Provider {
				want = identity.Unlinked
			}
			if e.Situation != want {
				t.Fatalf("%s (%v): %s, want %s", e.Key, m, e.Situation, want)
			}
		}
	})
}
