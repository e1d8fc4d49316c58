package reconcile

import (
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile/subject"
)

const (
	pE = "EntraID" // observed
	pB = "B2C"     // object-id
	pK = "KC"      // pairwise, Keycloak encoding
)

var kcRecipe = subject.Pairwise{SectorIdentifier: "org.my.salesforce.com", Salt: "s3cret", Encoding: subject.KeycloakUUID}

func observedCfg() Config {
	return shipped(Config{Providers: []ProviderConfig{{Provider: identity.Provider{Name: pE, Strategy: identity.StrategyObserved}}}})
}

func withCfg(mods ...func(*Config)) Config {
	c := observedCfg()
	for _, m := range mods {
		m(&c)
	}
	return shipped(c)
}

func TestPlanSituations(t *testing.T) {
	disabled := func(u *identity.EntraUser) { u.AccountEnabled = false }
	created := func(t time.Time) func(*identity.SalesforceUser) {
		return func(u *identity.SalesforceUser) { u.CreatedDate = t }
	}
	mail := func(m string) func(*identity.SalesforceUser) {
		return func(u *identity.SalesforceUser) { u.Email = m }
	}
	inactive := func(u *identity.SalesforceUser) { u.IsActive = false }
	b2c := func(c *Config) {
		c.Providers = []ProviderConfig{{Provider: identity.Provider{Name: pB, Strategy: identity.StrategyObjectID}}}
	}
	kc := func(c *Config) {
		c.Providers = []ProviderConfig{{Provider: identity.Provider{Name: pK, Strategy: identity.StrategyPairwise}, Pairwise: kcRecipe}}
	}
	kcSub1 := kcRecipe.Subject(oid(1))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name    string
		cfg     Config
		w       world
		assess  []string
		actions []string
	}{
		{
			name:   "oid match, subject not observed yet: unlinked, nothing to write",
			cfg:    observedCfg(),
			w:      world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))}},
			assess: []string{pE + "|" + oid(1) + "|unlinked"},
		},
		{
			name: "oid match with braces and upper case, bridge observed sub: create link",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:  []identity.SalesforceUser{su(1, "someone.else@contoso.com", "{"+strings.ToUpper(oid(1))+"}")},
				obs: []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link EntraID/sub1->" + sfid(1) + " active"},
		},
		{
			name: "sub from the matched user's ThirdPartyAccountLink: create link",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link EntraID/sub1->" + sfid(1) + " active"},
		},
		{
			name: "link in idlink and Salesforce: linked, no action",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				obs:    []identity.Observation{obs(pE, "sub1", 1)},
				links:  []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)},
				remote: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}},
			assess: []string{pE + "|" + oid(1) + "|linked"},
		},
		{
			name: "link missing in Salesforce: repair by update",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				links: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"update-link EntraID/sub1->" + sfid(1) + " active"},
		},
		{
			name: "UPN-only match: proposed, never automatic",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "U1@Contoso.com", "")},
				obs: []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"propose-link EntraID/sub1->" + sfid(1) + " proposed"},
		},
		{
			name: "UPN-only match already proposed: waits, no action",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", "")},
				obs:   []identity.Observation{obs(pE, "sub1", 1)},
				links: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkProposed)}},
			assess: []string{pE + "|" + oid(1) + "|unlinked"},
		},
		{
			name: "UPN-only match approved by an admin: create link",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", "")},
				obs:       []identity.Observation{obs(pE, "sub1", 1)},
				links:     []identity.Link{link(pE, "sub1", 1, 1, identity.LinkProposed)},
				decisions: []identity.Decision{{Provider: pE, Subject: "sub1", SalesforceUserID: sfid(1), ObjectID: oid(1), Approved: true, Actor: "admin alice", At: now}}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link EntraID/sub1->" + sfid(1) + " active"},
		},
		{
			name: "UPN-only match rejected (latest decision wins): never proposed again, proposal revoked",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", "")},
				obs:   []identity.Observation{obs(pE, "sub1", 1)},
				links: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkProposed)},
				decisions: []identity.Decision{
					{Provider: pE, Subject: "sub1", SalesforceUserID: sfid(1), ObjectID: oid(1), Approved: false, Actor: "admin bob", At: now.Add(time.Hour)},
					{Provider: pE, Subject: "sub1", SalesforceUserID: sfid(1), ObjectID: oid(1), Approved: true, Actor: "admin alice", At: now},
				}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"revoke-link EntraID/sub1->" + sfid(1) + " revoked"},
		},
		{
			name: "UPN auto-link widened in config: create link",
			cfg:  withCfg(func(c *Config) { c.AutoLink = []identity.Rule{identity.RuleObjectID, identity.RuleUPN} }),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", "")},
				obs: []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link EntraID/sub1->" + sfid(1) + " active"},
		},
		{
			name: "sandbox suffix rewrite: UPN-only match through the rewrite is proposed",
			cfg:  withCfg(func(c *Config) { c.UPNRewrites = []SuffixRewrite{{From: "@contoso.com", To: "@contoso.com.uat"}} }),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com.uat", "")},
				obs: []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"propose-link EntraID/sub1->" + sfid(1) + " proposed"},
		},
		{
			name: "without the rewrite the sandbox user is no match (and an orphan)",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com.uat", "")},
				obs: []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|unmatched", "|" + sfid(1) + "|orphaned"},
			actions: []string{"flag:orphan " + sfid(1)},
		},
		{
			name: "rules disagree (oid -> A, UPN -> B): disputed, no guess",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:  []identity.SalesforceUser{su(1, "other@contoso.com", oid(1)), su(2, "u1@contoso.com", "")},
				obs: []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|disputed"},
			actions: []string{"flag:dispute " + sfid(1)},
		},
		{
			name: "two Salesforce users with one FederationIdentifier: disputed, existing link kept",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:     []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u1.copy@contoso.com", strings.ToUpper(oid(1)))},
				obs:    []identity.Observation{obs(pE, "sub1", 1)},
				links:  []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)},
				remote: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|disputed"},
			actions: []string{"flag:dispute "},
		},
		{
			name: "one Salesforce user claimed by two Entra users: both disputed",
			cfg:  withCfg(func(c *Config) { c.UPNRewrites = []SuffixRewrite{{From: "@contoso.com", To: "@contoso.com.uat"}} }),
			w: world{entra: []identity.EntraUser{eu(1), eu(2, func(u *identity.EntraUser) { u.UPN = "u1@contoso.com.uat" })},
				sf: []identity.SalesforceUser{su(1, "u1@contoso.com.uat", "")}},
			assess:  []string{pE + "|" + oid(1) + "|disputed", pE + "|" + oid(2) + "|disputed"},
			actions: []string{"flag:dispute " + sfid(1), "flag:dispute " + sfid(1)},
		},
		{
			name: "UPN reused: the account with another oid as FederationIdentifier is not taken by UPN",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(2, func(u *identity.EntraUser) { u.UPN = "u1@contoso.com" })},
				sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))}},
			assess:  []string{pE + "|" + oid(2) + "|unmatched", "|" + sfid(1) + "|orphaned"},
			actions: []string{"flag:orphan " + sfid(1)},
		},
		{
			name: "email alone: unmatched, shown as a candidate, never linked",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:  []identity.SalesforceUser{su(1, "alias@contoso.com", "", func(u *identity.SalesforceUser) { u.Email = "U1@contoso.com" })},
				obs: []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|unmatched", "|" + sfid(1) + "|orphaned"},
			actions: []string{"flag:email-candidate " + sfid(1), "flag:orphan " + sfid(1)},
		},
		{
			name:   "in scope, no Salesforce user: unmatched",
			cfg:    observedCfg(),
			w:      world{entra: []identity.EntraUser{eu(1)}},
			assess: []string{pE + "|" + oid(1) + "|unmatched"},
		},
		{
			name: "out of scope, no Salesforce user: not assessed",
			cfg:  observedCfg(),
			w:    world{entra: []identity.EntraUser{eu(1, func(u *identity.EntraUser) { u.InScope = false })}},
		},
		{
			name: "out of scope but matched and observed: still linked (scope is provisioning's business)",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1, func(u *identity.EntraUser) { u.InScope = false })},
				sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))}, obs: []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link EntraID/sub1->" + sfid(1) + " active"},
		},
		{
			name: "Salesforce user with a FederationIdentifier nobody has: orphaned",
			cfg:  observedCfg(),
			w: world{sf: []identity.SalesforceUser{su(1, "x@contoso.com", oid(9)),
				su(2, "integration@contoso.com", "", func(u *identity.SalesforceUser) { u.UserType = "AutomatedProcess" }),
				su(3, "left@contoso.com", oid(8), inactive)}},
			assess:  []string{"|" + sfid(1) + "|orphaned"},
			actions: []string{"flag:orphan " + sfid(1)},
		},
		{
			name:    "orphan scope provisioned: a hand-made user without FederationIdentifier is not flagged",
			cfg:     withCfg(func(c *Config) { c.Orphans = OrphansProvisioned }),
			w:       world{sf: []identity.SalesforceUser{su(1, "x@contoso.com", oid(9)), su(2, "manual@contoso.com", "")}},
			assess:  []string{"|" + sfid(1) + "|orphaned"},
			actions: []string{"flag:orphan " + sfid(1)},
		},
		{
			name: "link of a permanently deleted Entra user: orphaned, revoked",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1, func(u *identity.EntraUser) { u.Deleted = identity.HardDeleted })},
				sf:     []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				links:  []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)},
				remote: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}},
			assess:  []string{"|" + sfid(1) + "|orphaned"},
			actions: []string{"revoke-link EntraID/sub1->" + sfid(1) + " revoked", "flag:orphan " + sfid(1)},
		},
		{
			name: "stale link of a vanished object to an account another user matches: the link is the orphan",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				links: []identity.Link{link(pE, "sub9", 1, 9, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked", pE + "|" + oid(9) + "|orphaned"},
			actions: []string{"revoke-link EntraID/sub9->" + sfid(1) + " revoked"},
		},
		{
			name: "Salesforce-only link row of an unknown object: revoked in Salesforce",
			cfg:  observedCfg(),
			w: world{sf: []identity.SalesforceUser{su(1, "u1@contoso.com", "", inactive)},
				remote: []identity.Link{link(pE, "sub1", 1, 7, identity.LinkActive)}},
			assess:  []string{"|" + sfid(1) + "|orphaned"},
			actions: []string{"revoke-link EntraID/sub1->" + sfid(1) + " revoked"},
		},
		{
			name: "disabled Entra user with an active link and account: deprovisioned, link revoked",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1, disabled)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				links:  []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)},
				remote: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|deprovisioned"},
			actions: []string{"revoke-link EntraID/sub1->" + sfid(1) + " revoked", "flag:account-still-active " + sfid(1)},
		},
		{
			name: "soft-deleted Entra user, account active, no link: deprovisioned, flagged",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1, func(u *identity.EntraUser) { u.Deleted = identity.SoftDeleted })},
				sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))}},
			assess:  []string{pE + "|" + oid(1) + "|deprovisioned"},
			actions: []string{"flag:account-still-active " + sfid(1)},
		},
		{
			name: "disabled Entra user, account inactive, no link: nothing to do",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1, disabled)},
				sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), inactive)}},
		},
		{
			name: "JIT duplicate: misrouted, correct link created, duplicate flagged",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:   []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u1@contoso.com.jit", "")},
				tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				obs:  []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|misrouted"},
			actions: []string{"create-link EntraID/sub1->" + sfid(1) + " active", "flag:duplicate " + sfid(2)},
		},
		{
			name: "JIT duplicate, correct link in Salesforce: confirmUser routes, duplicate flagged, wrong link kept by default",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:     []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u1@contoso.com.jit", "")},
				tpal:   []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				obs:    []identity.Observation{obs(pE, "sub1", 1)},
				links:  []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)},
				remote: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|misrouted"},
			actions: []string{"flag:duplicate " + sfid(2)},
		},
		{
			name: "JIT duplicate, correct link in Salesforce, revocation allowed: the wrong ThirdPartyAccountLink is revoked",
			cfg:  withCfg(func(c *Config) { c.Providers[0].RevokeAccountLinks = true }),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:     []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u1@contoso.com.jit", "")},
				tpal:   []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				obs:    []identity.Observation{obs(pE, "sub1", 1)},
				links:  []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)},
				remote: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|misrouted"},
			actions: []string{"revoke-account-link EntraID/sub1->" + sfid(2) + " revoked", "flag:duplicate " + sfid(2)},
		},
		{
			name: "JIT duplicate, revocation allowed but the link not yet in Salesforce: write the link first, revoke nothing",
			cfg:  withCfg(func(c *Config) { c.Providers[0].RevokeAccountLinks = true }),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:   []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u1@contoso.com.jit", "")},
				tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				obs:  []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|misrouted"},
			actions: []string{"create-link EntraID/sub1->" + sfid(1) + " active", "flag:duplicate " + sfid(2)},
		},
		{
			name: "suspected JIT duplicate (same email, created later, no FederationIdentifier): proposed, never linked by itself",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:   []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), created(now)), su(2, "u1@contoso.com.jit", "", mail("U1@contoso.com"), created(now.Add(time.Hour)))},
				tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)}},
			assess:  []string{pE + "|" + oid(1) + "|misrouted"},
			actions: []string{"propose-link EntraID/sub1->" + sfid(1) + " proposed", "flag:suspected-duplicate " + sfid(2)},
		},
		{
			name: "suspected JIT duplicate, proposal waiting: nothing new is written",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:    []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), created(now)), su(2, "u1@contoso.com.jit", "", mail("u1@contoso.com"), created(now.Add(time.Hour)))},
				tpal:  []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				links: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkProposed)}},
			assess:  []string{pE + "|" + oid(1) + "|misrouted"},
			actions: []string{"flag:suspected-duplicate " + sfid(2)},
		},
		{
			name: "suspected JIT duplicate, approved: the link is created",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:        []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), created(now)), su(2, "u1@contoso.com.jit", "", mail("u1@contoso.com"), created(now.Add(time.Hour)))},
				tpal:      []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				links:     []identity.Link{link(pE, "sub1", 1, 1, identity.LinkProposed)},
				decisions: []identity.Decision{{Provider: pE, Subject: "sub1", SalesforceUserID: sfid(1), ObjectID: oid(1), Approved: true, Actor: "alice"}}},
			assess:  []string{pE + "|" + oid(1) + "|misrouted"},
			actions: []string{"create-link EntraID/sub1->" + sfid(1) + " active", "flag:suspected-duplicate " + sfid(2)},
		},
		{
			name: "suspected JIT duplicate, rejected: the person stays unlinked and the account is an orphan",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:        []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), created(now)), su(2, "u1@contoso.com.jit", "", mail("u1@contoso.com"), created(now.Add(time.Hour)))},
				tpal:      []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				links:     []identity.Link{link(pE, "sub1", 1, 1, identity.LinkRevoked)},
				decisions: []identity.Decision{{Provider: pE, Subject: "sub1", SalesforceUserID: sfid(1), ObjectID: oid(1), Approved: false, Actor: "alice", Reason: "a colleague's test account"}}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked", "|" + sfid(2) + "|orphaned"},
			actions: []string{"flag:orphan " + sfid(2)},
		},
		{
			// The proposal names the subject of a suspected duplicate: once
			// rejected it is withdrawn, and the subject never links by itself.
			name: "suspected JIT duplicate rejected while its proposal waits: withdrawn with the reason, never linked",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:        []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), created(now)), su(2, "u1@contoso.com.jit", "", mail("u1@contoso.com"), created(now.Add(time.Hour)))},
				tpal:      []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				links:     []identity.Link{weakProposal(link(pE, "sub1", 1, 1, identity.LinkProposed))},
				decisions: []identity.Decision{{Provider: pE, Subject: "sub1", SalesforceUserID: sfid(1), ObjectID: oid(1), Approved: false, Actor: "alice", Reason: "a colleague's test account"}}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked", "|" + sfid(2) + "|orphaned"},
			actions: []string{"revoke-link EntraID/sub1->" + sfid(1) + " revoked", "flag:orphan " + sfid(2)},
		},
		{
			name: "rejected proposal recorded before proposals carried the email rule: still never linked",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:        []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), created(now)), su(2, "u1@contoso.com.jit", "", mail("u1@contoso.com"), created(now.Add(time.Hour)))},
				tpal:      []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				links:     []identity.Link{link(pE, "sub1", 1, 1, identity.LinkProposed)},
				decisions: []identity.Decision{{Provider: pE, Subject: "sub1", SalesforceUserID: sfid(1), ObjectID: oid(1), Approved: false, Actor: "alice"}}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked", "|" + sfid(2) + "|orphaned"},
			actions: []string{"revoke-link EntraID/sub1->" + sfid(1) + " revoked", "flag:orphan " + sfid(2)},
		},
		{
			name: "suspicion gone while the proposal waits (the duplicate was deactivated): withdrawn, not linked",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:    []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), created(now)), su(2, "u1@contoso.com.jit", "", mail("u1@contoso.com"), created(now.Add(time.Hour)), inactive)},
				tpal:  []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				links: []identity.Link{weakProposal(link(pE, "sub1", 1, 1, identity.LinkProposed))}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"revoke-link EntraID/sub1->" + sfid(1) + " revoked"},
		},
		{
			name: "account with the same email created before the provisioned one: not a JIT duplicate",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:   []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), created(now)), su(2, "u1.old@contoso.com", "", mail("u1@contoso.com"), created(now.Add(-time.Hour)))},
				tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked", "|" + sfid(2) + "|orphaned"},
			actions: []string{"flag:orphan " + sfid(2)},
		},
		{
			name: "suspected duplicate whose subject the bridge bound to someone else: not suspected",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(3)},
				sf:   []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), created(now)), su(2, "u1@contoso.com.jit", "", mail("u1@contoso.com"), created(now.Add(time.Hour))), su(3, "u3@contoso.com", oid(3))},
				tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				obs:  []identity.Observation{obs(pE, "sub1", 3)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked", pE + "|" + oid(3) + "|misrouted"},
			actions: []string{"create-link EntraID/sub1->" + sfid(3) + " active", "flag:duplicate " + sfid(2)},
		},
		{
			name: "recorded conflict (the bridge refused a second oid): both identities disputed, no link for the contested subject",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(2)},
				sf:        []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u2@contoso.com", oid(2))},
				obs:       []identity.Observation{obs(pE, "subX", 1)},
				conflicts: []identity.ObservationConflict{{Provider: pE, Subject: "subX", ObjectID: oid(1), OtherObject: oid(2), Source: identity.SourceBridge, SeenAt: now}}},
			assess:  []string{pE + "|" + oid(1) + "|disputed", pE + "|" + oid(2) + "|disputed"},
			actions: []string{"flag:dispute " + sfid(1), "flag:dispute " + sfid(2)},
		},
		{
			name: "recorded conflict on a linked subject: the link is kept but flagged, never treated as clean",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(2)},
				sf:        []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u2@contoso.com", oid(2))},
				obs:       []identity.Observation{obs(pE, "subX", 1)},
				links:     []identity.Link{link(pE, "subX", 1, 1, identity.LinkActive)},
				remote:    []identity.Link{link(pE, "subX", 1, 1, identity.LinkActive)},
				conflicts: []identity.ObservationConflict{{Provider: pE, Subject: "subX", ObjectID: oid(1), OtherObject: oid(2), Source: identity.SourceImport, SeenAt: now}}},
			assess:  []string{pE + "|" + oid(1) + "|disputed", pE + "|" + oid(2) + "|disputed"},
			actions: []string{"flag:dispute " + sfid(1), "flag:dispute " + sfid(2)},
		},
		{
			name: "recorded conflict with an object id that is no Entra user: the bound user is still disputed",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:        []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				obs:       []identity.Observation{obs(pE, "subX", 1)},
				conflicts: []identity.ObservationConflict{{Provider: pE, Subject: "subX", ObjectID: oid(1), OtherObject: oid(77), Source: identity.SourceBridge, SeenAt: now}}},
			assess:  []string{pE + "|" + oid(1) + "|disputed"},
			actions: []string{"flag:dispute " + sfid(1)},
		},
		{
			name: "sign-in lands on another Entra user's account: disputed",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(2)},
				sf:   []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u2@contoso.com", oid(2))},
				tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)},
				obs:  []identity.Observation{obs(pE, "sub1", 1)}},
			assess: []string{pE + "|" + oid(1) + "|disputed", pE + "|" + oid(2) + "|disputed"},
			// oid 2 learns sub1 from its ThirdPartyAccountLink, which the bridge bound to oid 1.
			actions: []string{"flag:dispute " + sfid(1), "flag:dispute " + sfid(2)},
		},
		{
			name: "one sub observed with two oids: disputed for both, never overwritten",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(2)},
				sf:  []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u2@contoso.com", oid(2))},
				obs: []identity.Observation{obs(pE, "subX", 1), obs(pE, "subX", 2)}},
			assess:  []string{pE + "|" + oid(1) + "|disputed", pE + "|" + oid(2) + "|disputed"},
			actions: []string{"flag:dispute " + sfid(1), "flag:dispute " + sfid(2)},
		},
		{
			name: "one oid with two subs for one provider: disputed",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				obs: []identity.Observation{obs(pE, "subA", 1), obs(pE, "subB", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|disputed"},
			actions: []string{"flag:dispute " + sfid(1)},
		},
		{
			name: "a link binds the observed sub to another active Entra user: disputed",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(5)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				obs:   []identity.Observation{obs(pE, "sub1", 1)},
				links: []identity.Link{link(pE, "sub1", 1, 5, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|disputed", pE + "|" + oid(5) + "|disputed"},
			actions: []string{"flag:dispute " + sfid(1), "flag:dispute "},
		},
		{
			name: "a link binds the observed sub to a vanished object: taken over, re-pointed in one step",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				obs:   []identity.Observation{obs(pE, "sub1", 1)},
				links: []identity.Link{link(pE, "sub1", 1, 5, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"update-link EntraID/sub1->" + sfid(1) + " active"},
		},
		{
			name: "a link binds the sub to a disabled user: taken over, not revoked",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(5, disabled)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				obs:    []identity.Observation{obs(pE, "sub1", 1)},
				links:  []identity.Link{link(pE, "sub1", 1, 5, identity.LinkActive)},
				remote: []identity.Link{link(pE, "sub1", 1, 5, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"update-link EntraID/sub1->" + sfid(1) + " active"},
		},
		{
			name: "link to the wrong user (same oid): re-pointed",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:    []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u1.jit@contoso.com", "", inactive)},
				obs:   []identity.Observation{obs(pE, "sub1", 1)},
				links: []identity.Link{link(pE, "sub1", 2, 1, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"update-link EntraID/sub1->" + sfid(1) + " active"},
		},
		{
			name: "matched account inactive: no link created, flagged",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), inactive)},
				obs: []identity.Observation{obs(pE, "sub1", 1)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"flag:inactive-account " + sfid(1)},
		},
		{
			name: "matched account deactivated while linked: link revoked",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1), inactive)},
				obs:    []identity.Observation{obs(pE, "sub1", 1)},
				links:  []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)},
				remote: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked"},
			actions: []string{"revoke-link EntraID/sub1->" + sfid(1) + " revoked", "flag:inactive-account " + sfid(1)},
		},
		{
			name: "guest matched by oid: linked like a member, flagged for review",
			cfg:  withCfg(b2c),
			w: world{entra: []identity.EntraUser{eu(1, func(u *identity.EntraUser) { u.UserType = "Guest"; u.UPN = "ext_fabrikam.com#EXT#@contoso.com" })},
				sf: []identity.SalesforceUser{su(1, "ext@fabrikam.com", oid(1))}},
			assess:  []string{pB + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link B2C/" + oid(1) + "->" + sfid(1) + " active", "flag:guest "},
		},
		{
			name: "user without UPN: flagged, oid still matches",
			cfg:  withCfg(b2c),
			w: world{entra: []identity.EntraUser{eu(1, func(u *identity.EntraUser) { u.UPN = "" })},
				sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))}},
			assess:  []string{pB + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link B2C/" + oid(1) + "->" + sfid(1) + " active", "flag:no-upn "},
		},
		{
			name:    "object-id strategy: sub is the oid, no observation needed",
			cfg:     withCfg(b2c),
			w:       world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))}},
			assess:  []string{pB + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link B2C/" + oid(1) + "->" + sfid(1) + " active"},
		},
		{
			name:    "pairwise strategy: sub computed ahead of the first sign-in",
			cfg:     withCfg(kc),
			w:       world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))}},
			assess:  []string{pK + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link KC/" + kcSub1 + "->" + sfid(1) + " active"},
		},
		{
			name: "pairwise strategy contradicted by an observation: disputed",
			cfg:  withCfg(kc),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				obs: []identity.Observation{obs(pK, "not-the-computed-sub", 1)}},
			assess:  []string{pK + "|" + oid(1) + "|disputed"},
			actions: []string{"flag:dispute " + sfid(1)},
		},
		{
			name: "pairwise strategy: link under an old subject superseded",
			cfg:  withCfg(kc),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				links: []identity.Link{link(pK, "old-sub", 1, 1, identity.LinkActive)}, remote: []identity.Link{link(pK, "old-sub", 1, 1, identity.LinkActive)}},
			assess:  []string{pK + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link KC/" + kcSub1 + "->" + sfid(1) + " active", "revoke-link KC/old-sub->" + sfid(1) + " revoked"},
		},
		{
			name: "no match any more but an active link: disputed, link kept",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "renamed@contoso.com", "")},
				links: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}, remote: []identity.Link{link(pE, "sub1", 1, 1, identity.LinkActive)}},
			assess:  []string{pE + "|" + oid(1) + "|disputed"},
			actions: []string{"flag:dispute "},
		},
		{
			name: "rows of providers that are not configured are ignored",
			cfg:  observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))},
				tpal: []identity.ThirdPartyAccountLink{tpal("Google", "g1", 1)}, obs: []identity.Observation{obs("Google", "g1", 1)}},
			assess: []string{pE + "|" + oid(1) + "|unlinked"},
		},
		{
			name: "two providers: one assessment each",
			cfg: withCfg(func(c *Config) {
				c.Providers = append(c.Providers, ProviderConfig{Provider: identity.Provider{Name: pB, Strategy: identity.StrategyObjectID}})
			}),
			w:       world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))}},
			assess:  []string{pE + "|" + oid(1) + "|unlinked", pB + "|" + oid(1) + "|unlinked"},
			actions: []string{"create-link B2C/" + oid(1) + "->" + sfid(1) + " active"},
		},
		{
			name:    "upn first in precedence: a UPN-only match is still only proposed",
			cfg:     withCfg(func(c *Config) { c.Rules = []identity.Rule{identity.RuleUPN, identity.RuleObjectID} }, b2c),
			w:       world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", "")}},
			assess:  []string{pB + "|" + oid(1) + "|unlinked"},
			actions: []string{"propose-link B2C/" + oid(1) + "->" + sfid(1) + " proposed"},
		},
		{
			name: "active link elsewhere, new match by UPN only: old link revoked (Salesforce too), new one proposed",
			cfg:  withCfg(b2c),
			w: world{entra: []identity.EntraUser{eu(1)},
				sf:     []identity.SalesforceUser{su(1, "u1@contoso.com", ""), su(2, "old@contoso.com", "")},
				links:  []identity.Link{link(pB, oid(1), 2, 1, identity.LinkActive)},
				remote: []identity.Link{link(pB, oid(1), 2, 1, identity.LinkActive)}},
			assess:  []string{pB + "|" + oid(1) + "|unlinked", "|" + sfid(2) + "|orphaned"},
			actions: []string{"revoke-link B2C/" + oid(1) + "->" + sfid(2) + " revoked", "propose-link B2C/" + oid(1) + "->" + sfid(1) + " proposed", "flag:orphan " + sfid(2)},
		},
		{
			name:    "oid rule switched off: FederationIdentifier is ignored, UPN matches are proposed",
			cfg:     withCfg(func(c *Config) { c.Rules = []identity.Rule{identity.RuleUPN}; c.AutoLink = []identity.Rule{} }, b2c),
			w:       world{entra: []identity.EntraUser{eu(1)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(2))}},
			assess:  []string{pB + "|" + oid(1) + "|unlinked"},
			actions: []string{"propose-link B2C/" + oid(1) + "->" + sfid(1) + " proposed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Plan(tt.cfg, tt.w.snapshot(t))
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(tt.assess, assessmentStrings(&r.Assessments)); d != "" {
				t.Errorf("assessments differ:%s\n  details: %v", d, details(r))
			}
			if d := diff(tt.actions, actionStrings(r.Actions)); d != "" {
				t.Errorf("actions differ:%s\n  details: %v", d, details(r))
			}
			for _, a := range r.Assessments.All() {
				if a.Detail == "" {
					t.Errorf("assessment %+v has no detail for the admin", a)
				}
			}
		})
	}
}

func details(r *Result) []string {
	var out []string
	for _, a := range r.Assessments.All() {
		out = append(out, string(a.Situation)+": "+a.Detail)
	}
	return out
}
