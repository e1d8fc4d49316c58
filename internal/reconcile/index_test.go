package reconcile

import (
	"slices"
	"strconv"
	"testing"
)

// The index finds every record under its key, repeats included, whether it
// was sized up front or grew record by record, at sizes around its growth
// points.
func TestIndexFindsEveryRecord(t *testing.T) {
	for _, c := range []struct {
		n, hint int
	}{{0, 0}, {1, 0}, {12, 0}, {13, 0}, {1000, 0}, {1000, 1000}, {5000, 10}, {5000, 100_000}} {
		t.Run(strconv.Itoa(c.n)+"/"+strconv.Itoa(c.hint), func(t *testing.T) {
			var keys []string
			x := newIndex(func(r int32) string { return keys[r] }, c.hint)
			for i := range c.n {
				keys = append(keys, "k"+strconv.Itoa(i%(c.n/3+1))) // about three records per key
				x.add(int32(i))
			}
			want := map[string][]int32{}
			for i, k := range keys {
				want[k] = append(want[k], int32(i))
			}
			check := func() {
				t.Helper()
				if x.n != c.n || x.n*4 > len(x.slots)*3 {
					t.Fatalf("%d entries in %d slots, want %d at a load of at most 3/4", x.n, len(x.slots), c.n)
				}
				for k, recs := range want {
					if got := x.all(k, nil); !slices.Equal(got, recs) {
						t.Fatalf("all(%q) = %v, want %v", k, got, recs)
					}
				}
				if r := x.first("absent"); r != -1 {
					t.Fatalf("first(absent) = %d", r)
				}
			}
			check()
			// Fitted, a table is at most a fifth larger than resize sizes it
			// for its records, and finds the same.
			x.fit()
			if fitted := max(16, c.n*4/3+1); len(x.slots) > fitted*5/4 {
				t.Fatalf("fitted: %d slots for %d records, want at most %d", len(x.slots), c.n, fitted*5/4)
			}
			check()
		})
	}
}
