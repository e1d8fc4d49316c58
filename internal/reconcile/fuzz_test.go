package reconcile

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// upnKeys: the first key is the folded UPN, every other key is a rewrite of
// a suffix that applied, and no key repeats.
func FuzzUPNKeys(f *testing.F) {
	f.Add("Alice@Contoso.com", "@contoso.com", "@contoso.com.uat")
	f.Add("bob@fabrikam.com", "@contoso.com", "@contoso.com.uat")
	f.Add("@contoso.com", "@contoso.com", "@x")
	f.Add("", "@a", "@b")
	f.Fuzz(func(t *testing.T, upn, from, to string) {
		rw := []SuffixRewrite{{From: from, To: to}}
		keys := upnKeys(upn, rw, nil)
		k := foldKey(upn)
		if k == "" {
			if len(keys) != 0 {
				t.Fatalf("keys for an empty UPN: %q", keys)
			}
			return
		}
		if keys[0] != k {
			t.Fatalf("first key %q, want %q", keys[0], k)
		}
		if len(keys) > 2 {
			t.Fatalf("one rewrite gave %d keys: %q", len(keys), keys)
		}
		if len(keys) == 2 {
			lf := strings.ToLower(from)
			if !strings.HasSuffix(k, lf) || len(k) <= len(lf) {
				t.Fatalf("rewrite applied to %q without suffix %q", k, from)
			}
			if keys[1] != k[:len(k)-len(lf)]+strings.ToLower(to) || keys[1] == keys[0] {
				t.Fatalf("bad rewrite %q of %q", keys[1], k)
			}
		}
	})
}

// FuzzPlanInvariants drives the matcher and planner with worlds drawn from
// the fuzzer's seed: whatever the mess, no link from email alone, none to an
// inactive or orphaned account, a stable order, and idempotence.
func FuzzPlanInvariants(f *testing.F) {
	for s := range uint64(8) {
		f.Add(s, s*31+1)
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		rng := rand.New(rand.NewPCG(a, b))
		w := randomWorld(rng)
		cfg := randomConfig(rng)
		r, err := Plan(cfg, w.snapshot(t))
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, cfg, w, r)
		w2 := applyPerfectly(w, r)
		r2, err := Plan(cfg, w2.snapshot(t))
		if err != nil {
			t.Fatal(err)
		}
		if n := r2.WriteActions(); n != 0 {
			t.Fatalf("not idempotent: %d writes after apply: %v", n, actionStrings(r2.Actions))
		}
	})
}
