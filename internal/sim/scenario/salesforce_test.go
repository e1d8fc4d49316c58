package scenario

import (
	"errors"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// TestJITSignInThroughTheHelpers plays what the Salesforce simulator does
// when a JIT-enabled handler meets a provisioned user without a link, and
// checks that Expected follows: an unobserved duplicate is an orphan; once
// the bridge has observed the sub, the user is misrouted.
func TestJITSignInThroughTheHelpers(t *testing.T) {
	w := generate(t, Config{Seed: 41, Users: 300})
	i, oid := firstWith(t, w, MessClean)
	u := w.Entra[i]
	p := w.Providers[0]
	sub := w.Subject(p.ClientID, oid)

	k, err := w.AddSalesforceUser(identity.SalesforceUser{Username: u.Mail + ".sso", Email: u.Mail, IsActive: true}, RoleJITDuplicate, oid)
	must(t, err)
	dup := w.Salesforce[k]
	if j, ok := w.SalesforceIndex(dup.ID); !ok || j != k || !dup.CreatedDate.Equal(w.Now()) || dup.UserType != "Standard" {
		t.Fatalf("added user %+v at %d (index %d, %v)", dup, k, j, ok)
	}
	link, err := w.AddAccountLink(identity.ThirdPartyAccountLink{Provider: p.Name, RemoteIdentifier: sub, UserID: dup.ID})
	must(t, err)
	if !strings.HasPrefix(link.ID, prefixAccountLink) || link.ID <= w.AccountLinks[len(w.AccountLinks)-2].ID {
		t.Fatalf("link id %q not fresh", link.ID)
	}
	if got := situationOf(w, KeyEntra+oid); len(got) != 1 || got[0] != identity.Unlinked {
		t.Fatalf("before the bridge saw the sub: user is %v, want unlinked", got)
	}
	if got := situationOf(w, KeySalesforce+dup.ID); len(got) != 1 || got[0] != identity.Orphaned {
		t.Fatalf("before the bridge saw the sub: duplicate is %v, want orphaned", got)
	}
	w.Observations = append(w.Observations, identity.Observation{Provider: p.Name, Subject: sub, ObjectID: oid, TenantID: w.TenantID, ClientID: p.ClientID, Source: identity.SourceBridge})
	if got := situationOf(w, KeyEntra+oid); len(got) != 1 || got[0] != identity.Misrouted {
		t.Fatalf("after the bridge saw the sub: user is %v, want misrouted", got)
	}
	if got := situationOf(w, KeySalesforce+dup.ID); len(got) != 0 {
		t.Fatalf("after the bridge saw the sub: duplicate has its own %v", got)
	}

	if _, err := w.AddSalesforceUser(identity.SalesforceUser{Username: strings.ToUpper(dup.Username)}, RoleJITDuplicate, ""); !errors.Is(err, ErrDuplicateUsername) {
		t.Errorf("same Username again: %v, want DUPLICATE_USERNAME", err)
	}
	if _, err := w.AddSalesforceUser(identity.SalesforceUser{Username: "no-at-sign"}, RoleManualOrphan, ""); err == nil {
		t.Error("Username without @ accepted")
	}
	if _, err := w.AddSalesforceUser(identity.SalesforceUser{Username: "x@y.com", ID: w.Salesforce[0].ID}, RoleManualOrphan, ""); err == nil {
		t.Error("an old id accepted")
	}
	if _, err := w.AddSalesforceUser(identity.SalesforceUser{Username: "x@y.com"}, RoleManualOrphan, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("unknown owner: %v", err)
	}
	if _, err := w.AddAccountLink(identity.ThirdPartyAccountLink{Provider: p.Name, RemoteIdentifier: sub, UserID: dup.ID}); err == nil {
		t.Error("a second link for the same sub accepted")
	}
	if _, err := w.AddAccountLink(identity.ThirdPartyAccountLink{Provider: "Nope", RemoteIdentifier: "s", UserID: dup.ID}); err == nil {
		t.Error("unknown provider accepted")
	}
	if _, err := w.NewRecordID("0J"); err == nil {
		t.Error("short key prefix accepted")
	}
	a, _ := w.NewRecordID("a0X")
	b, _ := w.NewRecordID("a0X")
	if len(a) != 18 || a >= b {
		t.Errorf("NewRecordID gave %q then %q", a, b)
	}
}
