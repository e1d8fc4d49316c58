package reconcile

import (
	"runtime/debug"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// gcPercent reads the collector's pace (debug has no getter).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// A snapshot asked to pace the collector does so from its pace.from-th user
// (pacedFromUsers), Salesforce's and Entra's counted together, until EndGCPace.
func TestSnapshotPacesTheCollector(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tests := []struct {
		name   string
		asked  bool
		gogc   string // the operator's; "" = not set
		before int
		large  int // the pace once the snapshot is large
	}{
		{"default pace", true, "", 100, planGCPercent},
		{"a slower pace", true, "", 400, planGCPercent},
		{"not asked", false, "", 100, 100},
		{"a faster pace kept", true, "", 10, 10},
		{"collection off kept", true, "", -1, -1},
		{"operator's GOGC kept", true, "200", 200, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gogc != "" {
				t.Setenv("GOGC", tt.gogc)
			}
			debug.SetGCPercent(tt.before)
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			const from = 100 // pacedFromUsers, smaller
			s := NewSnapshot()
			if tt.asked {
				s.PaceGC()
				s.pace.from = from
			}
			for i := range from / 2 {
				must(s.AddSalesforceUser(identity.SalesforceUser{ID: benchGUID("005", i), Username: "u"}))
			}
			for i := range from - from/2 - 1 {
				must(s.AddEntraUser(identity.EntraUser{ObjectID: benchGUID("00000000-0000-4000-8000-", i), UPN: "u"}))
			}
			if got := gcPercent(); got != tt.before {
				t.Fatalf("one user short of pacing GOGC %d, want %d", got, tt.before)
			}
			must(s.AddEntraUser(identity.EntraUser{ObjectID: benchGUID("00000000-0000-4000-9000-", 0), UPN: "u"}))
			if got := gcPercent(); got != tt.large {
				t.Errorf("large snapshot: GOGC %d, want %d", got, tt.large)
			}
			s.EndGCPace()
			if got := gcPercent(); got != tt.before {
				t.Errorf("after EndGCPace GOGC %d, want %d restored", got, tt.before)
			}
			must(s.AddEntraUser(identity.EntraUser{ObjectID: benchGUID("00000000-0000-4000-9000-", 1), UPN: "u"}))
			s.EndGCPace()
			if got := gcPercent(); got != tt.before {
				t.Errorf("after a second EndGCPace GOGC %d, want %d", got, tt.before)
			}
		})
	}
}
