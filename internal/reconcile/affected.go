package reconcile

import (
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// The plan of one identity depends only on records that share a key with
// it, directly or through other such records: an Entra user's match is
// found by its object id and UPN, its subject by the subject's links,
// observations and ThirdPartyAccountLink rows, a suspected JIT duplicate by
// email. So a plan of the records sharing keys with what changed, closed
// over those keys, decides those identities exactly as a plan of everything
// would, and leaves every other identity's assessment and actions as they
// were (TestIncrementalPlanEqualsFullPlan). The Keys functions below say
// which keys each record carries; they use the snapshot's normalisation, so
// that two records share a key exactly when the planner relates them.

// KeyKind says what a Key's value identifies.
type KeyKind uint8

const (
	KeyObjectID   KeyKind = iota + 1 // an Entra object id, canonical GUID
	KeySalesforce                    // a Salesforce user record id
	KeyUsername                      // a folded Salesforce Username, or a key a UPN matches
	KeyEmail                         // a folded email address
	KeySubject                       // a provider's subject
)

// Key is one value records are related by. Provider is set for subjects only.
type Key struct {
	Kind     KeyKind
	Provider string
	Value    string
}

// KeySet is a set of keys: what a change affects, grown to its closure.
type KeySet map[Key]struct{}

// Add adds keys and reports whether any was new.
func (ks KeySet) Add(keys []Key) bool {
	added := false
	for _, k := range keys {
		if _, ok := ks[k]; !ok {
			ks[k] = struct{}{}
			added = true
		}
	}
	return added
}

// Any reports whether ks holds one of keys.
func (ks KeySet) Any(keys []Key) bool {
	for _, k := range keys {
		if _, ok := ks[k]; ok {
			return true
		}
	}
	return false
}

// oidKey is the object id key of a GUID in any spelling; none when it is no GUID.
func oidKey(keys []Key, s string) []Key {
	if g, ok := identity.NormalizeGUID(s); ok {
		keys = append(keys, Key{Kind: KeyObjectID, Value: g})
	}
	return keys
}

func foldedKey(keys []Key, kind KeyKind, s string) []Key {
	if k := foldKey(s); k != "" {
		keys = append(keys, Key{Kind: kind, Value: k})
	}
	return keys
}

func nonEmpty(keys []Key, kind KeyKind, provider, s string) []Key {
	if s != "" {
		keys = append(keys, Key{Kind: kind, Provider: provider, Value: s})
	}
	return keys
}

// EntraUserKeys: the object id, the Username keys its UPN matches (after
// the configured suffix rewrites), its email, and the subject each provider
// with a computed strategy gives it.
func (c Config) EntraUserKeys(u identity.EntraUser) []Key {
	keys := oidKey(nil, u.ObjectID)
	for _, k := range upnKeys(strings.TrimSpace(u.UPN), c.UPNRewrites, nil) {
		keys = append(keys, Key{Kind: KeyUsername, Value: k})
	}
	keys = foldedKey(keys, KeyEmail, u.Mail)
	oid, ok := identity.NormalizeGUID(u.ObjectID)
	if !ok {
		return keys
	}
	for _, pc := range c.Providers {
		switch pc.Strategy {
		case identity.StrategyObjectID:
			keys = append(keys, Key{Kind: KeySubject, Provider: pc.Name, Value: oid})
		case identity.StrategyPairwise:
			keys = append(keys, Key{Kind: KeySubject, Provider: pc.Name, Value: pc.Pairwise.Subject(oid)})
		}
	}
	return keys
}

// SalesforceUserKeys: the record id, the FederationIdentifier when it is an
// object id, the Username and the email.
func SalesforceUserKeys(u identity.SalesforceUser) []Key {
	keys := nonEmpty(nil, KeySalesforce, "", u.ID)
	keys = oidKey(keys, u.FederationIdentifier)
	keys = foldedKey(keys, KeyUsername, u.Username)
	return foldedKey(keys, KeyEmail, u.Email)
}

// AccountLinkKeys: the subject and the Salesforce user it signs in as.
func AccountLinkKeys(l identity.ThirdPartyAccountLink) []Key {
	keys := nonEmpty(nil, KeySubject, l.Provider, l.RemoteIdentifier)
	return nonEmpty(keys, KeySalesforce, "", l.UserID)
}

// LinkKeys (idlink's links and Identity_Link__c rows): subject, Salesforce
// user and object id.
func LinkKeys(l identity.Link) []Key {
	keys := nonEmpty(nil, KeySubject, l.Provider, l.Subject)
	keys = nonEmpty(keys, KeySalesforce, "", l.SalesforceUserID)
	return oidKey(keys, l.ObjectID)
}

// ObservationKeys: the subject and the object id it was seen with.
func ObservationKeys(o identity.Observation) []Key {
	return oidKey(nonEmpty(nil, KeySubject, o.Provider, o.Subject), o.ObjectID)
}

// ConflictKeys: the subject and both object ids (the first only names who
// the subject was bound to in the dispute's detail).
func ConflictKeys(c identity.ObservationConflict) []Key {
	keys := oidKey(nonEmpty(nil, KeySubject, c.Provider, c.Subject), c.ObjectID)
	return oidKey(keys, c.OtherObject)
}

// DecisionKeys: the subject, the Salesforce user and the object id decided on.
func DecisionKeys(d identity.Decision) []Key {
	keys := nonEmpty(nil, KeySubject, d.Provider, d.Subject)
	keys = nonEmpty(keys, KeySalesforce, "", d.SalesforceUserID)
	return oidKey(keys, d.ObjectID)
}

// AssessmentIn reports whether a is about an identity in ks: its Entra
// user, or for a Salesforce user without one, that user.
func AssessmentIn(ks KeySet, a identity.Assessment) bool {
	if a.ObjectID != "" {
		return ks.Any(oidKey(nil, a.ObjectID))
	}
	return ks.Any(nonEmpty(nil, KeySalesforce, "", a.SalesforceUserID))
}

// Replaced names what an incremental plan of the closure ks replaces of its
// base's assessments and flags: the object ids, Salesforce user ids and
// subjects in ks (store.IdentitySet's Has and HasAction agree with
// AssessmentIn and ActionIn on them: TestReplacedAgreesWithTheClosure).
func (ks KeySet) Replaced() store.Replaced {
	var r store.Replaced
	for k := range ks {
		switch k.Kind {
		case KeyObjectID:
			r.ObjectIDs = append(r.ObjectIDs, k.Value)
		case KeySalesforce:
			r.SalesforceIDs = append(r.SalesforceIDs, k.Value)
		case KeySubject:
			r.Subjects = append(r.Subjects, identity.LinkKey{Provider: k.Provider, Subject: k.Value})
		}
	}
	return r
}

// ActionIn reports whether a concerns a record in ks: its subject, its
// Salesforce user or its Entra user.
func ActionIn(ks KeySet, a identity.Action) bool {
	return ks.Any(LinkKeys(a.Link))
}
