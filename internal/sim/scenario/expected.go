package scenario

import (
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Expectation is the situation idlink must find for one identity and one
// provider.
type Expectation struct {
	// Key is "entra:<oid>" for an Entra user (and the Salesforce users that
	// belong to it), "salesforce:<Id>" for a Salesforce user no Entra user
	// accounts for.
	Key       string
	Provider  string
	Situation identity.Situation
	// Why names the rule that decided, in words for a test failure message.
	Why string
}

// Entra-side keys and Salesforce-side keys.
const (
	KeyEntra      = "entra:"
	KeySalesforce = "salesforce:"
)

// Reasons, one per rule of Expected, in the order the rules are tried.
const (
	WhyDeprovisioned = "Entra user disabled or soft-deleted while a Salesforce user it matches (or an idlink link) is still active"
	WhyDisputedOID   = "several Salesforce users have FederationIdentifier = oid"
	WhyDisputedRules = "oid and UPN rules match different Salesforce users"
	WhyMisrouted     = "the user's sub is known (observed by the bridge, or = oid) and its ThirdPartyAccountLink points at a Salesforce user other than the matched one (JIT duplicate)"
	WhyLinked        = "active Identity_Link__c for the user's sub points at the matched Salesforce user"
	WhyUnlinkedOID   = "matched by oid = FederationIdentifier; no idlink link yet"
	WhyUnlinkedUPN   = "matched by UPN = Username only (no FederationIdentifier): a proposed link for an admin, never automatic"
	WhyUnmatched     = "Entra user in scope, active, and no Salesforce user matches"
	WhyOrphanDeleted = "FederationIdentifier is the oid of a permanently deleted Entra user"
	WhyOrphanForeign = "FederationIdentifier is no oid in this tenant"
	WhyOrphanNoID    = "no FederationIdentifier and no Entra UPN equals the Username"
	WhyOrphanAPIOnly = "API-only integration user: it never had an Entra identity"
	// Unlinked by oid, with what else is worth knowing (constants, so that a
	// million expectations share them).
	whyUnlinkedRenamed  = WhyUnlinkedOID + " (UPN renamed after provisioning: Username is stale, oid still matches)"
	whyUnlinkedSignedIn = WhyUnlinkedOID + " (the ThirdPartyAccountLink to the matched user makes the sub known)"
	whyUnlinkedGuest    = WhyUnlinkedOID + " (guest)"
	whyUnlinkedInactive = WhyUnlinkedOID + " (the matched Salesforce user is inactive)"
	whyUnlinkedOutside  = WhyUnlinkedOID + " (not assigned to the app any more)"
)

// Expected returns the situation of every identity for every provider,
// ordered by provider, then Entra users in World.Entra order, then
// Salesforce users in World.Salesforce order. It reads the world as it is
// now, so it stays right after mutations. See the package comment for the
// rules; they are applied to the data a run reads (Entra users including
// soft-deleted ones, Salesforce users, ThirdPartyAccountLink rows,
// Identity_Link__c rows as idlink's links, bridge observations), never to
// the generator's mess labels.
func (w *World) Expected() []Expectation {
	x := w.newMatcher()
	out := make([]Expectation, 0, len(w.Providers)*(len(w.Entra)+len(w.Salesforce)/20))
	covered := make([]bool, len(w.Salesforce))
	for _, p := range w.Providers {
		for i := range w.Entra {
			e, ok := x.entra(p, i, covered)
			if ok {
				out = append(out, e)
			}
		}
	}
	for _, p := range w.Providers {
		for k := range w.Salesforce {
			if covered[k] {
				continue
			}
			out = append(out, Expectation{
				Key:       KeySalesforce + w.Salesforce[k].ID,
				Provider:  p.Name,
				Situation: identity.Orphaned,
				Why:       x.orphanWhy(k),
			})
		}
	}
	return out
}

// matcher holds the indexes Expected needs, keyed the way a run can look
// things up: the bridge's observations and idlink's links by (provider, oid),
// ThirdPartyAccountLink rows by (provider, sub) and by (provider, user).
type matcher struct {
	w          *World
	byFed      map[string][]int32 // normalized FederationIdentifier → Salesforce users
	byUsername map[string]int32   // lower-cased Username of users without FederationIdentifier
	byLink     map[provKey]int32  // (provider, sub) → Salesforce user of its ThirdPartyAccountLink
	linkSub    map[provKey]string // (provider, Salesforce id) → a sub linked to that user
	observed   map[provKey]string // (provider, oid) → sub the bridge saw
	idLink     map[provKey]identity.Link
	suffix     string
}

// provKey is a provider name and one identifier.
type provKey struct{ provider, id string }

func (w *World) newMatcher() *matcher {
	x := &matcher{
		w:          w,
		byFed:      make(map[string][]int32, len(w.Salesforce)),
		byUsername: map[string]int32{},
		byLink:     make(map[provKey]int32, len(w.AccountLinks)),
		linkSub:    make(map[provKey]string, len(w.AccountLinks)),
		observed:   make(map[provKey]string, len(w.Observations)),
		idLink:     make(map[provKey]identity.Link, len(w.IdentityLinks)),
		suffix:     w.SandboxSuffix(),
	}
	for k, u := range w.Salesforce {
		if u.FederationIdentifier == "" {
			x.byUsername[strings.ToLower(u.Username)] = int32(k)
			continue
		}
		fed := u.FederationIdentifier
		if norm, ok := identity.NormalizeGUID(fed); ok {
			fed = norm
		}
		x.byFed[fed] = append(x.byFed[fed], int32(k))
	}
	for _, l := range w.AccountLinks {
		if k, ok := w.SalesforceIndex(l.UserID); ok {
			x.byLink[provKey{l.Provider, l.RemoteIdentifier}] = int32(k)
			x.linkSub[provKey{l.Provider, w.Salesforce[k].ID}] = l.RemoteIdentifier
		}
	}
	for _, o := range w.Observations {
		oid := o.ObjectID
		if norm, ok := identity.NormalizeGUID(oid); ok {
			oid = norm
		}
		x.observed[provKey{o.Provider, oid}] = o.Subject
	}
	for _, r := range w.IdentityLinks {
		if r.Status == identity.LinkActive {
			x.idLink[provKey{r.Provider, r.ObjectID}] = r.Link
		}
	}
	return x
}

// entra decides the situation of Entra user i for provider p, marking the
// Salesforce users it accounts for. ok is false when the user is none of
// idlink's business: permanently deleted (its Salesforce users are judged
// on their own), or with nothing active on either side to act on.
func (x *matcher) entra(p identity.Provider, i int, covered []bool) (Expectation, bool) {
	w := x.w
	u := w.Entra[i]
	if u.Deleted == identity.HardDeleted {
		return Expectation{}, false
	}
	e := Expectation{Key: KeyEntra + u.ObjectID, Provider: p.Name}
	byOID := x.byFed[u.ObjectID]
	upnCand := int32(-1)
	if u.UPN != "" {
		if k, ok := x.byUsername[strings.ToLower(u.UPN)+x.suffix]; ok {
			upnCand = k
		}
	}
	// The sub is known when the provider's sub is the oid (derived), or
	// when the bridge observed it; the world's secret confirms an
	// observation is the true sub (a wrong one is not generated, and is no
	// evidence).
	sub, observed := u.ObjectID, true
	if p.Strategy != identity.StrategyObjectID {
		sub, observed = x.observed[provKey{p.Name, u.ObjectID}]
		observed = observed && sub == w.Subject(p.ClientID, u.ObjectID)
	}
	linkTarget, hasLinkRow := int32(-1), false
	if observed {
		linkTarget, hasLinkRow = x.byLink[provKey{p.Name, sub}]
	}
	idl, hasIDLink := x.idLink[provKey{p.Name, u.ObjectID}]
	hasIDLink = hasIDLink && idl.Subject == w.Subject(p.ClientID, u.ObjectID)

	for _, k := range byOID {
		covered[k] = true
	}
	if upnCand >= 0 {
		covered[upnCand] = true
	}
	if hasLinkRow {
		covered[linkTarget] = true
	}

	// 1. Deprovisioned: not active in Entra while something is still active.
	if !u.Active() {
		active := hasIDLink
		for _, k := range byOID {
			active = active || w.Salesforce[k].IsActive
		}
		if upnCand >= 0 {
			active = active || w.Salesforce[upnCand].IsActive
		}
		if hasLinkRow {
			active = active || w.Salesforce[linkTarget].IsActive
		}
		if !active {
			return Expectation{}, false
		}
		e.Situation, e.Why = identity.Deprovisioned, WhyDeprovisioned
		return e, true
	}
	// 2. Disputed: several candidates, or the rules disagree.
	if len(byOID) > 1 {
		e.Situation, e.Why = identity.Disputed, WhyDisputedOID
		return e, true
	}
	if len(byOID) == 1 && upnCand >= 0 && upnCand != byOID[0] {
		e.Situation, e.Why = identity.Disputed, WhyDisputedRules
		return e, true
	}
	matched, rule := int32(-1), identity.RuleObjectID
	switch {
	case len(byOID) == 1:
		matched = byOID[0]
	case upnCand >= 0:
		matched, rule = upnCand, identity.RuleUPN
	}
	// 3. Unmatched: in scope, no Salesforce user.
	if matched < 0 {
		if !u.InScope {
			return Expectation{}, false
		}
		e.Situation, e.Why = identity.Unmatched, WhyUnmatched
		return e, true
	}
	// 4. Misrouted: the observed sub signs in as another user.
	if hasLinkRow && linkTarget != matched {
		e.Situation, e.Why = identity.Misrouted, WhyMisrouted
		return e, true
	}
	// 5. Linked: idlink's active link for the sub points at the match.
	if hasIDLink && idl.SalesforceUserID == w.Salesforce[matched].ID {
		e.Situation, e.Why = identity.Linked, WhyLinked
		return e, true
	}
	// 6. Unlinked: matched, no link (yet).
	e.Situation, e.Why = identity.Unlinked, WhyUnlinkedOID
	switch {
	case rule == identity.RuleUPN:
		e.Why = WhyUnlinkedUPN
	case w.entra[i].mess == MessRenamedUPN:
		e.Why = whyUnlinkedRenamed
	case x.signedIn(p, u.ObjectID, matched):
		e.Why = whyUnlinkedSignedIn
	case u.Guest():
		e.Why = whyUnlinkedGuest
	case !w.Salesforce[matched].IsActive:
		e.Why = whyUnlinkedInactive
	case !u.InScope:
		e.Why = whyUnlinkedOutside
	}
	return e, true
}

// signedIn reports whether the matched user has a ThirdPartyAccountLink for
// the user's own sub: a run learns the sub from it (it only changes the
// reason: the situation is unlinked either way).
func (x *matcher) signedIn(p identity.Provider, oid string, matched int32) bool {
	sub, ok := x.linkSub[provKey{p.Name, x.w.Salesforce[matched].ID}]
	return ok && sub == x.w.Subject(p.ClientID, oid)
}

func (x *matcher) orphanWhy(k int) string {
	u := x.w.Salesforce[k]
	switch {
	case x.w.sfRole[k] == RoleIntegration:
		return WhyOrphanAPIOnly
	case u.FederationIdentifier == "":
		return WhyOrphanNoID
	}
	if owner := x.w.sfOwner[k]; owner >= 0 && x.w.Entra[owner].Deleted == identity.HardDeleted {
		return WhyOrphanDeleted
	}
	return WhyOrphanForeign
}

// CountSituations counts expectations per situation, with every situation
// present (zero when none).
func CountSituations(exps []Expectation) map[identity.Situation]int {
	out := make(map[identity.Situation]int, len(identity.Situations))
	for _, s := range identity.Situations {
		out[s] = 0
	}
	for _, e := range exps {
		out[e.Situation]++
	}
	return out
}

// MessCounts counts Entra users per generated mess and Salesforce-only users
// per orphan kind; every mess is present (zero when none).
func (w *World) MessCounts() map[Mess]int {
	out := make(map[Mess]int, numMess)
	for _, m := range Messes() {
		out[m] = 0
	}
	for _, e := range w.entra {
		out[e.mess]++
	}
	for _, r := range w.sfRole {
		switch r {
		case RoleManualOrphan:
			out[MessManualOrphan]++
		case RoleLeftoverOrphan:
			out[MessLeftoverOrphan]++
		case RoleIntegration:
			out[MessIntegration]++
		}
	}
	return out
}
