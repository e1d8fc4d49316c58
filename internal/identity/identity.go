// Package identity holds the domain words of idlink (DESIGN §3): Entra users,
// Salesforce users, subjects, observations, links and situations. It uses the
// standard library only so that every other package can depend on it.
package identity

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Deletion tells how an Entra user left the directory.
type Deletion string

const (
	// NotDeleted is a user present in the directory.
	NotDeleted Deletion = ""
	// SoftDeleted is a user in the recycle bin: Graph delta reports it as
	// "@removed": {"reason": "changed"}; it can still be restored for 30 days.
	SoftDeleted Deletion = "soft"
	// HardDeleted is a user removed for good ("@removed": {"reason": "deleted"}),
	// or absent from a full listing.
	HardDeleted Deletion = "hard"
)

// EntraUser is the job's view of one Microsoft Entra ID user.
type EntraUser struct {
	ObjectID       string // oid: immutable GUID, lower case without braces
	TenantID       string // tid
	UPN            string // userPrincipalName; may be empty
	Mail           string
	DisplayName    string
	GivenName      string
	Surname        string
	AccountEnabled bool
	Deleted        Deletion
	// InScope is true when the user is assigned to the Salesforce enterprise
	// application (directly or through groups) or when scope is "all users".
	InScope bool
	// UserType is Graph's userType ("Member" or "Guest").
	UserType string
}

// Guest reports whether the user is a B2B guest: userType Guest or an #EXT# UPN.
func (u EntraUser) Guest() bool {
	return strings.EqualFold(u.UserType, "Guest") || strings.Contains(strings.ToUpper(u.UPN), "#EXT#")
}

// Active reports whether the Entra user can sign in.
func (u EntraUser) Active() bool { return u.AccountEnabled && u.Deleted == NotDeleted }

// SalesforceUser is the job's view of one Salesforce User record.
type SalesforceUser struct {
	ID                   string // 18-character record id
	Username             string
	FederationIdentifier string
	Email                string
	IsActive             bool
	UserType             string
	CreatedDate          time.Time
	SystemModstamp       time.Time
}

// ThirdPartyAccountLink is Salesforce's own record that a remote identity (the
// OIDC sub) signs in as a user. Salesforce creates it at the first sign-in.
type ThirdPartyAccountLink struct {
	ID               string
	Provider         string // SsoProviderName: the Auth. Provider's developer name
	RemoteIdentifier string // the sub
	UserID           string
}

// Strategy is how the subject of an Entra user is known for a provider.
type Strategy string

const (
	// StrategyObjectID: sub = oid (Azure AD B2C, Entra External ID).
	StrategyObjectID Strategy = "object-id"
	// StrategyPairwise: sub computed by the published OIDC Core §8.1 recipe.
	StrategyPairwise Strategy = "pairwise"
	// StrategyObserved: sub learned from observations (Entra ID's pairwise sub is secret).
	StrategyObserved Strategy = "observed"
)

// Provider is one OIDC client that signs users in to Salesforce: the Auth.
// Provider in Salesforce and the app registration at the issuer.
type Provider struct {
	Name     string // Auth. Provider developer name in Salesforce (ThirdPartyAccountLink.SsoProviderName)
	Issuer   string
	ClientID string
	Strategy Strategy
}

// ObservationSource says where an observation came from.
type ObservationSource string

const (
	SourceBridge     ObservationSource = "bridge"
	SourceAccountLnk ObservationSource = "third-party-account-link"
	SourceDerived    ObservationSource = "derived"
	SourceImport     ObservationSource = "import"
)

// Observation is the fact that a subject belongs to an Entra object id.
type Observation struct {
	Provider  string // provider name
	Subject   string // sub
	ObjectID  string // oid
	TenantID  string // tid
	ClientID  string
	Source    ObservationSource
	FirstSeen time.Time
	LastSeen  time.Time
	Count     int64
}

// Rule names how an Entra user was paired with a Salesforce user.
type Rule string

const (
	RuleObjectID Rule = "oid"   // oid = FederationIdentifier (strong)
	RuleUPN      Rule = "upn"   // userPrincipalName = Username (medium)
	RuleEmail    Rule = "email" // candidate only; never links
)

// LinkStatus is the life cycle state of a link record.
type LinkStatus string

const (
	LinkActive   LinkStatus = "active"
	LinkProposed LinkStatus = "proposed" // waits for an admin's approval
	LinkRevoked  LinkStatus = "revoked"
)

// Link is idlink's record that a subject belongs to a Salesforce user because of
// an Entra identity. Its history is append-only in the store.
type Link struct {
	Provider         string
	Subject          string
	SalesforceUserID string
	ObjectID         string
	TenantID         string
	Rule             Rule
	Status           LinkStatus
	Reason           string // why revoked or proposed
	UpdatedAt        time.Time
	// StoreID is the idlink database that wrote an Identity_Link__c row
	// (Store_Id__c); set on rows read from Salesforce only. Empty for rows
	// written before the field existed or by hand.
	StoreID string
}

// Key identifies a link: one subject per provider.
func (l Link) Key() LinkKey { return LinkKey{Provider: l.Provider, Subject: l.Subject} }

// LinkKey is the identity of a link record.
type LinkKey struct {
	Provider string
	Subject  string
}

func (k LinkKey) String() string { return k.Provider + "/" + k.Subject }

// Situation is the state of one identity in one run (midPoint's vocabulary).
type Situation string

const (
	Linked        Situation = "linked"        // correct link exists
	Unlinked      Situation = "unlinked"      // matched, subject not known yet or link not written
	Unmatched     Situation = "unmatched"     // Entra user in scope, no Salesforce user
	Orphaned      Situation = "orphaned"      // Salesforce user whose Entra identity is gone or never existed
	Disputed      Situation = "disputed"      // rules disagree, several candidates, conflicting observations
	Misrouted     Situation = "misrouted"     // the sub's ThirdPartyAccountLink points at another user (JIT duplicate)
	Deprovisioned Situation = "deprovisioned" // Entra user disabled or deleted while link or account is active
)

// Situations lists every situation in report order.
var Situations = []Situation{Linked, Unlinked, Unmatched, Orphaned, Disputed, Misrouted, Deprovisioned}

// ParseSituation turns a name into a Situation.
func ParseSituation(s string) (Situation, error) {
	for _, v := range Situations {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown situation %q (want one of linked, unlinked, unmatched, orphaned, disputed, misrouted, deprovisioned)", s)
}

// NormalizeGUID returns an object id in canonical form: lower case, no braces,
// no surrounding space. ok is false when s is not a GUID in the 8-4-4-4-12 form
// (with or without braces, any case). An id already canonical, as Graph
// gives them, is returned as it is, without an allocation: planning and
// merging a million identities call this for every record.
func NormalizeGUID(s string) (norm string, ok bool) {
	if canonical(s) {
		return s, true
	}
	return normalizeGUID(s)
}

// normalizeGUID is NormalizeGUID without the fast path (FuzzNormalizeGUID
// holds the two to one answer).
func normalizeGUID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	if len(s) != 36 {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
			continue
		}
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	return string(b), true
}

// canonical reports whether s is a GUID in canonical form (digits checked
// as ParseCanonicalObjectID does).
func canonical(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	var bad byte
	for _, i := range canonicalDigits {
		bad |= hexValue[s[i]] | hexValue[s[i+1]]
	}
	return bad < 16
}

// Assessment is the situation of one identity for one provider in one run,
// with what an admin needs to act on it. Reports are built from these.
type Assessment struct {
	Provider           string
	Situation          Situation
	ObjectID           string // Entra oid, empty for orphaned Salesforce users with no Entra side
	UPN                string
	SalesforceUserID   string
	SalesforceUsername string
	Subject            string
	Rule               Rule
	// Detail says why this situation was decided and what to do about it.
	Detail string
}

// ActionKind is what one planned action does.
type ActionKind string

const (
	ActionCreateLink  ActionKind = "create-link"  // new active link
	ActionUpdateLink  ActionKind = "update-link"  // re-point or refresh an existing link
	ActionRevokeLink  ActionKind = "revoke-link"  // mark revoked with a reason; history stays
	ActionProposeLink ActionKind = "propose-link" // weaker match: waits for an admin
	// ActionAdoptLink records in idlink's store an Identity_Link__c row that
	// already says what the plan wants (a new database, or rows of an
	// adopted one); nothing is written to Salesforce.
	ActionAdoptLink ActionKind = "adopt-link"
	ActionFlag      ActionKind = "flag" // shown to an admin, nothing written
	// ActionRevokeAccountLink removes Salesforce's own ThirdPartyAccountLink
	// of a misrouted subject (Link.SalesforceUserID is the duplicate it
	// pointed at) through the package's revocation resource. idlink's link
	// record is not changed; the change goes to its history and the audit log.
	ActionRevokeAccountLink ActionKind = "revoke-account-link"
)

// ErrRetryLater is matched by the error of a run that stopped because an
// upstream (Graph or Salesforce) kept throttling or failing past its
// retries: nothing is wrong with the configuration and running again later
// is safe. The CLI exits with its own code for it.
var ErrRetryLater = errors.New("upstream throttled or unavailable past the retries; safe to retry later")

// ErrRevocationUnavailable is matched by an account-link revocation error
// that concerns the org as a whole (revocation turned off, the package or
// its Auth. Provider setting missing): every further call would fail the
// same way, so the caller stops trying.
var ErrRevocationUnavailable = errors.New("ThirdPartyAccountLink revocation is unavailable in the org")

// Action is one step of a plan. For link actions Link is the state after the
// action; Flag names the kind of admin flag ("duplicate", "orphan", "dispute", ...).
type Action struct {
	Kind   ActionKind
	Link   Link
	Flag   string
	Reason string
}
