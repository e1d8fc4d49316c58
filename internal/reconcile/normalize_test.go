package reconcile

import "testing"

func TestExportedMatchersAgreeWithTheRules(t *testing.T) {
	rw := []SuffixRewrite{{From: "@contoso.com", To: "@contoso.com.uat"}}
	for _, tc := range []struct {
		upn, username string
		want          bool
	}{
		{"Alice@Contoso.com", "alice@contoso.com", true},
		{"alice@contoso.com", "alice@contoso.com.uat", true},
		{"alice@contoso.com", "alice@fabrikam.com", false},
		{"", "", false},
	} {
		if got := MatchesByUPN(tc.upn, tc.username, rw); got != tc.want {
			t.Errorf("MatchesByUPN(%q, %q) = %v", tc.upn, tc.username, got)
		}
	}
	oid := "3f2a0000-0000-4000-8000-000000000001"
	for fed, want := range map[string]bool{oid: true, "{3F2A0000-0000-4000-8000-000000000001}": true, " " + oid + " ": true, "3f2a": false, "": false} {
		if got := MatchesByObjectID(fed, oid); got != want {
			t.Errorf("MatchesByObjectID(%q) = %v", fed, got)
		}
	}
}
