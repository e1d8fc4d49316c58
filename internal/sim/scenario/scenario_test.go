package scenario

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

func generate(t testing.TB, cfg Config) *World {
	t.Helper()
	w, err := Generate(cfg)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", cfg, err)
	}
	return w
}

// digest hashes everything a simulator or a test can see of a world.
func digest(w *World) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%+v|%+v\n", w.TenantID, w.Domain, w.Providers, w.App)
	for i, u := range w.Entra {
		fmt.Fprintf(h, "%+v|%v\n", u, w.EntraMess(i))
	}
	for _, g := range w.Groups {
		fmt.Fprintf(h, "%+v\n", g)
	}
	for _, a := range w.Assignments {
		fmt.Fprintf(h, "%+v\n", a)
	}
	for i, u := range w.Salesforce {
		r, o := w.SalesforceRole(i)
		fmt.Fprintf(h, "%+v|%v|%d\n", u, r, o)
	}
	for _, l := range w.AccountLinks {
		fmt.Fprintf(h, "%+v\n", l)
	}
	for _, l := range w.IdentityLinks {
		fmt.Fprintf(h, "%+v\n", l)
	}
	for _, o := range w.Observations {
		fmt.Fprintf(h, "%+v\n", o)
	}
	for _, e := range w.Expected() {
		fmt.Fprintf(h, "%+v\n", e)
	}
	for _, c := range w.Changes() {
		fmt.Fprintf(h, "%+v\n", c)
	}
	fmt.Fprintf(h, "%s\n", w.Subject("client", w.Entra[0].ObjectID))
	return hex.EncodeToString(h.Sum(nil))
}

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, Users: 2000}
	a, b := digest(generate(t, cfg)), digest(generate(t, cfg))
	if a != b {
		t.Fatalf("same seed gave different worlds: %s vs %s", a, b)
	}
	if c := digest(generate(t, Config{Seed: 43, Users: 2000})); c == a {
		t.Fatal("seeds 42 and 43 gave the same world")
	}
	// Mutations draw from the world's generator and clock: a scripted
	// sequence is reproducible too.
	script := func() string {
		w := generate(t, cfg)
		w.Advance(time.Hour)
		if _, err := w.AddUser(NewUser{Assign: true, Provision: true}); err != nil {
			t.Fatal(err)
		}
		if err := w.Disable(w.Entra[0].ObjectID); err != nil && w.Entra[0].Deleted == identity.NotDeleted {
			t.Fatal(err)
		}
		return digest(w)
	}
	if script() != script() {
		t.Fatal("the same mutations on the same world gave different results")
	}
}

func TestGenerateRejectsBadConfig(t *testing.T) {
	over := DefaultRates()
	over.Linked = 0.9
	neg := Rates{Guest: -0.1}
	nan := Rates{Disabled: math.NaN()}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no users", Config{Seed: 1}, "Config.Users = 0"},
		{"too many users", Config{Users: MaxUsers + 1}, "want 1 to"},
		{"bad tenant", Config{Users: 10, TenantID: "contoso"}, `TenantID "contoso" is not a GUID`},
		{"bad domain", Config{Users: 10, Domain: "contoso"}, `Domain "contoso" is not a DNS domain`},
		{"bad sandbox", Config{Users: 10, SandboxName: "my-sandbox"}, "sandbox names are 1-10 letters or digits"},
		{"rates over 1", Config{Users: 10, Rates: &over}, "add up to"},
		{"negative rate", Config{Users: 10, Rates: &neg}, "Rates.Guest = -0.1"},
		{"NaN rate", Config{Users: 10, Rates: &nan}, "Rates.Disabled = NaN"},
		{"negative integration users", Config{Users: 10, IntegrationUsers: -1}, "IntegrationUsers = -1"},
		{"short period", Config{Users: 10, Epoch: defaultNow.Add(-time.Hour)}, "at least 30 days"},
		{"provider without client", Config{Users: 10, Providers: []identity.Provider{{Name: "A"}}}, "needs a Name"},
		{"provider names twice", Config{Users: 10, Providers: []identity.Provider{{Name: "A", ClientID: "1"}, {Name: "A", ClientID: "2"}}}, `name "A" is used twice`},
		{"pairwise recipe", Config{Users: 10, Providers: []identity.Provider{{Name: "K", ClientID: "k", Strategy: identity.StrategyPairwise}}}, `strategy "pairwise" is not simulated`},
		{"client twice", Config{Users: 10, Providers: []identity.Provider{{Name: "A", ClientID: "1"}, {Name: "B", ClientID: "1"}}}, `client id "1" is used twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Generate error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestGenerateKeepsCallerConfig(t *testing.T) {
	providers := []identity.Provider{{Name: "A", ClientID: "client-a"}}
	r := Rates{SignedIn: 0.5}
	w := generate(t, Config{Seed: 1, Users: 100, Providers: providers, Rates: &r, TenantID: "{B0CE25A0-6F73-421C-A85A-6836F02D5DBC}"})
	if providers[0].Issuer != "" || providers[0].Strategy != "" {
		t.Errorf("Generate changed the caller's providers: %+v", providers)
	}
	if w.TenantID != "b0ce25a0-6f73-421c-a85a-6836f02d5dbc" {
		t.Errorf("TenantID = %q, want the canonical form", w.TenantID)
	}
	p := w.Providers[0]
	if p.Issuer != "https://login.microsoftonline.com/"+w.TenantID+"/v2.0" || p.Strategy != identity.StrategyObserved {
		t.Errorf("provider defaults not filled: %+v", p)
	}
	if w.Config().Users != 100 || *w.Config().Rates != r {
		t.Errorf("Config() = %+v, want the given values", w.Config())
	}
}

// TestMessProportions checks that each mess gets exactly round(rate × Users)
// users and that the guest share is within a binomial tolerance.
func TestMessProportions(t *testing.T) {
	custom := Rates{SignedIn: 0.2, Linked: 0.1, JITDuplicate: 0.07, RenamedUPN: 0.05, UPNOnly: 0.04, Disabled: 0.06,
		SoftDeleted: 0.03, HardDeleted: 0.035, DuplicateFederationID: 0.015, Unprovisioned: 0.05, OutOfScope: 0.1,
		NestedOnly: 0.02, Guest: 0.2, ManualOrphan: 0.02, LeftoverOrphan: 0.005}
	for _, tt := range []struct {
		name  string
		users int
		rates Rates
	}{
		{"default", 4000, DefaultRates()},
		{"custom", 7001, custom},
		{"pristine", 500, Rates{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rates
			w := generate(t, Config{Seed: 7, Users: tt.users, Rates: &r})
			counts := w.MessCounts()
			rates := r.entraRates()
			entra := 0
			for m := MessSignedIn; m < numEntraMess; m++ {
				if want := count(rates[m], tt.users); counts[m] != want {
					t.Errorf("%v: %d users, want round(%v × %d) = %d", m, counts[m], rates[m], tt.users, want)
				}
				entra += counts[m]
			}
			if counts[MessClean] != tt.users-entra {
				t.Errorf("clean: %d, want the remaining %d", counts[MessClean], tt.users-entra)
			}
			if want := count(r.ManualOrphan, tt.users); counts[MessManualOrphan] != want {
				t.Errorf("manual orphans: %d, want %d", counts[MessManualOrphan], want)
			}
			if want := count(r.LeftoverOrphan, tt.users); counts[MessLeftoverOrphan] != want {
				t.Errorf("leftover orphans: %d, want %d", counts[MessLeftoverOrphan], want)
			}
			if counts[MessIntegration] != 1 {
				t.Errorf("integration users: %d, want the default 1", counts[MessIntegration])
			}
			eligible, guests := 0, 0
			for i, u := range w.Entra {
				if w.EntraMess(i).guestAllowed() {
					eligible++
				}
				if u.Guest() {
					guests++
					if !w.EntraMess(i).guestAllowed() {
						t.Errorf("user %d is a guest with mess %v", i, w.EntraMess(i))
					}
				}
			}
			mean := r.Guest * float64(eligible)
			sd := math.Sqrt(float64(eligible) * r.Guest * (1 - r.Guest))
			if math.Abs(float64(guests)-mean) > 4*sd+1 {
				t.Errorf("guests: %d of %d eligible, want about %.0f (±%.0f)", guests, eligible, mean, 4*sd)
			}
		})
	}
}

// TestMessesAreBuiltAsDescribed checks the world facts behind each mess,
// independently of Expected.
func TestMessesAreBuiltAsDescribed(t *testing.T) {
	w := generate(t, Config{Seed: 3, Users: 3000})
	sfOf := map[int][]int{}
	for k := range w.Salesforce {
		if _, owner := w.SalesforceRole(k); owner >= 0 {
			sfOf[owner] = append(sfOf[owner], k)
		}
	}
	linkOf := map[string]identity.ThirdPartyAccountLink{}
	for _, l := range w.AccountLinks {
		linkOf[l.RemoteIdentifier] = l
	}
	observed := map[string]identity.Observation{}
	for _, o := range w.Observations {
		observed[o.ObjectID] = o
	}
	idLinked := map[string]IdentityLinkRecord{}
	for _, r := range w.IdentityLinks {
		idLinked[r.ObjectID] = r
	}
	subOf := func(oid string) (identity.ThirdPartyAccountLink, bool) {
		for _, p := range w.Providers {
			if l, ok := linkOf[w.Subject(p.ClientID, oid)]; ok {
				return l, true
			}
		}
		return identity.ThirdPartyAccountLink{}, false
	}
	for i, u := range w.Entra {
		m := w.EntraMess(i)
		sfs := sfOf[i]
		roles := map[Role]int{}
		for _, k := range sfs {
			r, _ := w.SalesforceRole(k)
			roles[r]++
			if !w.Salesforce[k].IsActive {
				t.Errorf("%v user %d: Salesforce user %s inactive", m, i, w.Salesforce[k].ID)
			}
		}
		wantRoles := map[Mess]map[Role]int{
			MessClean: {RoleProvisioned: 1}, MessSignedIn: {RoleProvisioned: 1}, MessLinked: {RoleProvisioned: 1},
			MessJITDuplicate: {RoleProvisioned: 1, RoleJITDuplicate: 1}, MessRenamedUPN: {RoleProvisioned: 1},
			MessUPNOnly: {RoleUPNOnly: 1}, MessDisabled: {RoleProvisioned: 1}, MessSoftDeleted: {RoleProvisioned: 1},
			MessHardDeleted: {RoleProvisioned: 1}, MessDuplicateFederationID: {RoleProvisioned: 1, RoleSecondClaim: 1},
			MessUnprovisioned: {}, MessOutOfScope: {}, MessNestedOnly: {},
		}[m]
		if fmt.Sprint(roles) != fmt.Sprint(wantRoles) {
			t.Errorf("%v user %d: Salesforce roles %v, want %v", m, i, roles, wantRoles)
		}
		l, hasLink := subOf(u.ObjectID)
		_, hasObs := observed[u.ObjectID]
		_, hasIDLink := idLinked[u.ObjectID]
		if want := m == MessSignedIn || m == MessLinked || m == MessJITDuplicate; hasLink != want {
			t.Errorf("%v user %d: ThirdPartyAccountLink %v, want %v", m, i, hasLink, want)
		}
		if hasObs != (m == MessJITDuplicate) || hasIDLink != (m == MessLinked) {
			t.Errorf("%v user %d: observation %v, Identity_Link__c %v", m, i, hasObs, hasIDLink)
		}
		for _, k := range sfs {
			sf := w.Salesforce[k]
			switch r, _ := w.SalesforceRole(k); r {
			case RoleProvisioned:
				if sf.FederationIdentifier != u.ObjectID {
					t.Errorf("user %d: provisioned FederationIdentifier %q, want oid %q", i, sf.FederationIdentifier, u.ObjectID)
				}
				wantName := u.UPN
				if u.Guest() {
					wantName = u.Mail
				}
				if renamed := strings.EqualFold(sf.Username, wantName); renamed == (m == MessRenamedUPN) {
					t.Errorf("%v user %d: Username %q vs UPN %q", m, i, sf.Username, u.UPN)
				}
				if hasLink && m != MessJITDuplicate && l.UserID != sf.ID {
					t.Errorf("%v user %d: ThirdPartyAccountLink → %s, want the provisioned %s", m, i, l.UserID, sf.ID)
				}
			case RoleJITDuplicate:
				if sf.FederationIdentifier != "" || l.UserID != sf.ID || !sf.CreatedDate.After(w.Salesforce[sfs[0]].CreatedDate) {
					t.Errorf("user %d: JIT duplicate %+v should have no FederationIdentifier, be the link target (%s) and come later", i, sf, l.UserID)
				}
			case RoleSecondClaim:
				if sf.FederationIdentifier != u.ObjectID {
					t.Errorf("user %d: second claim FederationIdentifier %q", i, sf.FederationIdentifier)
				}
			case RoleUPNOnly:
				if sf.FederationIdentifier != "" || sf.Username != u.UPN {
					t.Errorf("user %d: UPN-only user %+v", i, sf)
				}
			}
		}
		switch m {
		case MessDisabled:
			if u.AccountEnabled || u.Deleted != identity.NotDeleted {
				t.Errorf("disabled user %d: %+v", i, u)
			}
		case MessSoftDeleted, MessHardDeleted:
			want := identity.SoftDeleted
			if m == MessHardDeleted {
				want = identity.HardDeleted
			}
			if u.Deleted != want || !u.AccountEnabled {
				t.Errorf("%v user %d: Deleted %q", m, i, u.Deleted)
			}
		default:
			if !u.Active() {
				t.Errorf("%v user %d is not active", m, i)
			}
		}
		if want := m.inScope() && m != MessHardDeleted; u.InScope != want {
			t.Errorf("%v user %d: InScope %v, want %v", m, i, u.InScope, want)
		}
	}
}

func TestInvariants(t *testing.T) {
	for _, cfg := range []Config{
		{Seed: 11, Users: 5000},
		{Seed: 12, Users: 3000, SandboxName: "UAT", IntegrationUsers: 3},
		{Seed: 13, Users: 2000, Providers: []identity.Provider{{Name: "Entra_A", ClientID: "a"}, {Name: "B2C", ClientID: "b", Strategy: identity.StrategyObjectID}}},
	} {
		t.Run(fmt.Sprint(cfg.Seed), func(t *testing.T) {
			w := generate(t, cfg)
			oids := map[string]bool{}
			upns := map[string]bool{}
			for i, u := range w.Entra {
				if norm, ok := identity.NormalizeGUID(u.ObjectID); !ok || norm != u.ObjectID || u.ObjectID[14] != '4' {
					t.Errorf("oid %q is not a canonical v4 GUID", u.ObjectID)
				}
				if oids[u.ObjectID] {
					t.Errorf("oid %s used twice", u.ObjectID)
				}
				oids[u.ObjectID] = true
				if upns[strings.ToLower(u.UPN)] || u.UPN == "" {
					t.Errorf("UPN %q empty or used twice", u.UPN)
				}
				upns[strings.ToLower(u.UPN)] = true
				if u.TenantID != w.TenantID {
					t.Errorf("user %d tenant %q", i, u.TenantID)
				}
				if u.Guest() != (u.UserType == "Guest") || u.Guest() != strings.Contains(u.UPN, "#EXT#") {
					t.Errorf("guest markers disagree: %+v", u)
				}
				if j, ok := w.EntraIndex(strings.ToUpper(u.ObjectID)); !ok || j != i {
					t.Errorf("EntraIndex(%s) = %d, %v; want %d", u.ObjectID, j, ok, i)
				}
				if u.InScope != w.scopeOf(i) {
					t.Errorf("user %d: InScope %v but assignments say %v", i, u.InScope, w.scopeOf(i))
				}
			}
			ids := map[string]bool{}
			usernames := map[string]bool{}
			fed := map[string][]int{}
			suffix := w.SandboxSuffix()
			for k, u := range w.Salesforce {
				if len(u.ID) != 18 || !strings.HasPrefix(u.ID, "005") || string(sfSuffix([]byte(u.ID[:15]))) != u.ID[15:] {
					t.Errorf("Salesforce id %q is not an 18-character User id", u.ID)
				}
				if k > 0 && w.Salesforce[k-1].ID >= u.ID {
					t.Errorf("Salesforce ids out of order at %d", k)
				}
				if k > 0 && w.Salesforce[k-1].CreatedDate.After(u.CreatedDate) {
					t.Errorf("CreatedDate decreases at %d", k)
				}
				if u.SystemModstamp.Before(u.CreatedDate) || u.SystemModstamp.After(w.Now()) {
					t.Errorf("SystemModstamp %v outside [CreatedDate, Now]", u.SystemModstamp)
				}
				if ids[u.ID] {
					t.Errorf("Salesforce id %s used twice", u.ID)
				}
				ids[u.ID] = true
				if j, ok := w.SalesforceIndex(u.ID[:15]); !ok || j != k {
					t.Errorf("SalesforceIndex(%s) = %d, %v", u.ID[:15], j, ok)
				}
				lower := strings.ToLower(u.Username)
				if usernames[lower] {
					t.Errorf("Username %q used twice: Salesforce usernames are globally unique", u.Username)
				}
				usernames[lower] = true
				if !strings.HasSuffix(u.Username, suffix) || strings.Count(u.Username, "@") != 1 {
					t.Errorf("Username %q: want one @ and the sandbox suffix %q", u.Username, suffix)
				}
				if u.FederationIdentifier != "" {
					fed[u.FederationIdentifier] = append(fed[u.FederationIdentifier], k)
				}
			}
			for oid, ks := range fed {
				if len(ks) == 1 {
					continue
				}
				_, owner := w.SalesforceRole(ks[0])
				if len(ks) != 2 || owner < 0 || w.EntraMess(owner) != MessDuplicateFederationID || w.Entra[owner].ObjectID != oid {
					t.Errorf("FederationIdentifier %s claimed by %v outside the duplicate-federation-id mess", oid, ks)
				}
			}
			for _, l := range w.AccountLinks {
				p, _ := w.Provider(l.Provider)
				wantLen := 43
				if p.Strategy == identity.StrategyObjectID {
					wantLen = 36
				}
				if _, ok := w.SalesforceIndex(l.UserID); !ok || len(l.RemoteIdentifier) != wantLen {
					t.Errorf("ThirdPartyAccountLink %+v: unknown user or sub not 43 characters", l)
				}
				if _, ok := w.Provider(l.Provider); !ok {
					t.Errorf("ThirdPartyAccountLink %+v: unknown provider", l)
				}
			}
			if _, ok := w.EntraIndex("00000000-0000-4000-8000-000000000000"); ok {
				t.Error("EntraIndex found an oid that does not exist")
			}
			if _, ok := w.SalesforceIndex("005000000000000AAA"); ok {
				t.Error("SalesforceIndex found an id that does not exist")
			}
		})
	}
}

func TestSubjectIsPairwiseAndOpaque(t *testing.T) {
	w := generate(t, Config{Seed: 5, Users: 10})
	w2 := generate(t, Config{Seed: 6, Users: 10})
	oid := w.Entra[0].ObjectID
	s := w.Subject("client-a", oid)
	if len(s) != 43 || strings.ContainsAny(s, "+/=") {
		t.Fatalf("Subject = %q, want 43 base64url characters", s)
	}
	if s != w.Subject("client-a", strings.ToUpper(oid)) || s != w.Subject("client-a", "{"+oid+"}") {
		t.Error("Subject depends on the spelling of the oid")
	}
	if s == w.Subject("client-b", oid) {
		t.Error("Subject is the same for two clients: not pairwise")
	}
	if s == w.Subject("client-a", w.Entra[1].ObjectID) {
		t.Error("two users share a Subject")
	}
	if s == w2.Subject("client-a", oid) {
		t.Error("two worlds share the Subject secret")
	}
	b2c := generate(t, Config{Seed: 5, Users: 10, Providers: []identity.Provider{{Name: "B2C", ClientID: "b2c", Strategy: identity.StrategyObjectID}}})
	if got := b2c.Subject("b2c", strings.ToUpper(oid)); got != oid {
		t.Errorf("object-id provider: Subject = %q, want the oid %q", got, oid)
	}
	if strings.Contains(s, strings.ReplaceAll(oid, "-", "")[:8]) {
		t.Error("Subject shows the oid")
	}
}

func TestScopeFollowsRealEntraAssignment(t *testing.T) {
	w := generate(t, Config{Seed: 9, Users: 3000})
	nestedSeen := false
	for g := range w.Groups {
		if len(w.Groups[g].Groups) > 0 {
			nestedSeen = true
		}
	}
	if !nestedSeen {
		t.Fatal("no nested groups generated")
	}
	// Every nested-only user is a transitive member of an assigned group,
	// yet out of scope.
	transitive := map[int32]bool{}
	for _, a := range w.Assignments {
		if a.PrincipalType == "Group" {
			for _, u := range w.TransitiveMembers(int(a.Principal)) {
				transitive[u] = true
			}
		}
	}
	n := 0
	for i, u := range w.Entra {
		if w.EntraMess(i) == MessNestedOnly {
			n++
			if u.InScope || !transitive[int32(i)] {
				t.Errorf("nested-only user %d: InScope %v, transitive member %v", i, u.InScope, transitive[int32(i)])
			}
		}
	}
	if n == 0 {
		t.Fatal("no nested-only users")
	}
}

// TestSalesforceIDSuffix checks the case-safe suffix against ids whose
// 18-character form Salesforce tools publish.
func TestSalesforceIDSuffix(t *testing.T) {
	for id15, want := range map[string]string{
		"003G000001SUbc4": "IAD",
		"70130000001tcyI": "AAQ",
		"00558000001N0Ke": "AAK",
		"a0BA0000000L2ZC": "MA0",
		"ABCDEFGHIJKLMNO": "555",
		"AAaAAbbBBBCcCCC": "123",
	} {
		if got := string(sfSuffix([]byte(id15))); got != want {
			t.Errorf("suffix of %s = %s, want %s", id15, got, want)
		}
	}
}
