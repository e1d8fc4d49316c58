package sfsim

import (
	"testing"

	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

func TestLoadScenario(t *testing.T) {
	w, err := scenario.Generate(scenario.Config{Seed: 7, Users: 2000})
	if err != nil {
		t.Fatal(err)
	}
	org := NewOrg()
	if err := org.LoadScenario(w); err != nil {
		t.Fatal(err)
	}
	if got := org.UserCount(); got != len(w.Salesforce) {
		t.Errorf("%d users, want %d", got, len(w.Salesforce))
	}
	if got := len(org.AccountLinks()); got != len(w.AccountLinks) {
		t.Errorf("%d account links, want %d", got, len(w.AccountLinks))
	}
	if len(w.AccountLinks) == 0 {
		t.Error("scenario has no account links: the test proves little")
	}
	for _, u := range w.Salesforce[:10] {
		got, ok := org.User(u.ID)
		if !ok || got.Username != u.Username || got.FederationIdentifier != u.FederationIdentifier || !got.SystemModstamp.Equal(u.SystemModstamp) {
			t.Errorf("user %s: %+v ok=%v, want %+v", u.ID, got, ok, u)
		}
	}
	if !org.users.idSorted {
		t.Error("scenario users are in id order; the org should know")
	}
}
