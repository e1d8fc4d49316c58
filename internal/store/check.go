package store

// Input checks shared by every backend, so that they accept and refuse the
// same input (the storetest conformance suite checks that they do). They are
// exported for the backends, not for callers of a Store.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idlinkhq/idlink/internal/identity"
)

// CheckEntraUser refuses an Entra user a backend must not store (item i of a batch).
func CheckEntraUser(i int, u identity.EntraUser) error {
	if u.ObjectID == "" {
		return fmt.Errorf("entra user %d (upn %q): empty object id: every Entra user needs its oid", i, u.UPN)
	}
	if !utf8.ValidString(u.ObjectID) {
		return fmt.Errorf("entra user %d (upn %q): object id %q is not valid UTF-8", i, u.UPN, u.ObjectID)
	}
	switch u.Deleted {
	case identity.NotDeleted, identity.SoftDeleted, identity.HardDeleted:
	default:
		return fmt.Errorf("entra user %s: unknown deletion %q (want \"\", \"soft\" or \"hard\")", u.ObjectID, u.Deleted)
	}
	return nil
}

// CheckSalesforceUser refuses a Salesforce user a backend must not store.
func CheckSalesforceUser(i int, u identity.SalesforceUser) error {
	if u.ID == "" {
		return fmt.Errorf("salesforce user %d (username %q): empty Id", i, u.Username)
	}
	return nil
}

// CheckAccountLink refuses a ThirdPartyAccountLink row a backend must not store.
func CheckAccountLink(i int, l identity.ThirdPartyAccountLink) error {
	if l.ID == "" {
		return fmt.Errorf("ThirdPartyAccountLink %d (provider %q, sub %q): empty Id", i, l.Provider, l.RemoteIdentifier)
	}
	return nil
}

// CheckRemoteLink refuses an Identity_Link__c row a backend must not store.
func CheckRemoteLink(i int, l identity.Link) error {
	if l.Provider == "" || l.Subject == "" {
		return fmt.Errorf("Identity_Link__c %d: provider and subject are required (got %q, %q)", i, l.Provider, l.Subject)
	}
	return nil
}

// CheckCursor refuses a sync cursor without a name.
func CheckCursor(c *identity.Cursor) error {
	if c != nil && c.Name == "" {
		return errors.New("cursor with an empty name: give the cursor a name such as \"graph.users.delta\"")
	}
	return nil
}

// CheckObservation refuses an observation without provider, subject or object id.
func CheckObservation(o identity.Observation) error {
	if o.Provider == "" || o.Subject == "" || o.ObjectID == "" {
		return fmt.Errorf("observation needs provider, subject and object id (got %q, %q, %q)", o.Provider, o.Subject, o.ObjectID)
	}
	return nil
}

// ObservationTimes fills in the seen times an observation left empty.
func ObservationTimes(o identity.Observation, now time.Time) identity.Observation {
	if o.LastSeen.IsZero() {
		o.LastSeen = now
	}
	if o.FirstSeen.IsZero() || o.FirstSeen.After(o.LastSeen) {
		o.FirstSeen = o.LastSeen
	}
	if o.Count <= 0 {
		o.Count = 1
	}
	o.FirstSeen = o.FirstSeen.UTC().Truncate(time.Microsecond)
	o.LastSeen = o.LastSeen.UTC().Truncate(time.Microsecond)
	return o
}

// ValidStatus reports whether s is a link status a store may hold.
func ValidStatus(s identity.LinkStatus) bool {
	return s == identity.LinkActive || s == identity.LinkProposed || s == identity.LinkRevoked
}

// CheckLinkChange refuses a change that cannot be written as a link record.
// Existence checks (update and revoke need an existing link) happen inside the
// transaction.
func CheckLinkChange(i int, c identity.LinkChange) error {
	l := c.Link
	where := fmt.Sprintf("link change %d (%s %s/%s)", i, c.Action, l.Provider, l.Subject)
	if l.Provider == "" || l.Subject == "" {
		return fmt.Errorf("%s: provider and subject are required", where)
	}
	if c.Actor == "" {
		return fmt.Errorf("%s: empty actor: say who makes the change, e.g. \"idlink run 42\"", where)
	}
	if !ValidStatus(l.Status) {
		return fmt.Errorf("%s: unknown link status %q (want active, proposed or revoked)", where, l.Status)
	}
	switch c.Action {
	case identity.ActionCreateLink, identity.ActionUpdateLink, identity.ActionAdoptLink:
		if l.Status == identity.LinkRevoked {
			return fmt.Errorf("%s: status revoked needs action %s", where, identity.ActionRevokeLink)
		}
		if l.SalesforceUserID == "" {
			return fmt.Errorf("%s: empty Salesforce user id", where)
		}
	case identity.ActionProposeLink:
		if l.Status != identity.LinkProposed {
			return fmt.Errorf("%s: a proposed link needs status proposed, not %q", where, l.Status)
		}
		if l.SalesforceUserID == "" {
			return fmt.Errorf("%s: empty Salesforce user id", where)
		}
	case identity.ActionRevokeLink:
		if l.Status != identity.LinkRevoked {
			return fmt.Errorf("%s: a revoked link needs status revoked, not %q", where, l.Status)
		}
	case identity.ActionRevokeAccountLink:
		if l.Status != identity.LinkRevoked || l.SalesforceUserID == "" {
			return fmt.Errorf("%s: a revoked ThirdPartyAccountLink needs status revoked and the Salesforce user it pointed at", where)
		}
	default:
		return fmt.Errorf("%s: action %q does not write a link (want create-link, update-link, adopt-link, propose-link, revoke-link or revoke-account-link)", where, c.Action)
	}
	return nil
}

// WritesLinkRow reports whether a change of this kind replaces the link's
// current state. A revoked ThirdPartyAccountLink leaves idlink's own link
// as it is and is only appended to the link's history and the audit log.
func WritesLinkRow(a identity.ActionKind) bool { return a != identity.ActionRevokeAccountLink }

// NewStoreID makes a database id: random, so that two databases never share one.
func NewStoreID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "idl-" + hex.EncodeToString(b)
}

// CheckStoreAdoption refuses an adoption without its id, actor or reason.
func CheckStoreAdoption(a identity.StoreAdoption) error {
	if a.StoreID == "" || a.Actor == "" || a.Reason == "" {
		return fmt.Errorf("adopting the links of another idlink database needs its id, an actor and a reason (got %q, %q, %q)", a.StoreID, a.Actor, a.Reason)
	}
	return nil
}

// StoreAdoptionAudit is the audit event of an adoption.
func StoreAdoptionAudit(a identity.StoreAdoption) identity.AuditEvent {
	return identity.AuditEvent{At: a.At, Actor: a.Actor, Kind: "store.adopt", Target: a.StoreID,
		Detail: "Identity_Link__c rows written by idlink database " + a.StoreID + " are adopted: " + a.Reason}
}

// CheckObservationDeletion refuses a deletion without its keys, actor or reason.
func CheckObservationDeletion(d identity.ObservationDeletion) error {
	if d.Provider == "" || d.Subject == "" || d.ObjectID == "" {
		return fmt.Errorf("deleting an observation needs provider, subject and object id (got %q, %q, %q)", d.Provider, d.Subject, d.ObjectID)
	}
	if d.Actor == "" || d.Reason == "" {
		return fmt.Errorf("deleting observation %s/%s: say who deletes it and why (actor and reason are kept in the audit log)", d.Provider, d.Subject)
	}
	return nil
}

// ObservationDeletionAudit is the audit event of a deletion that removed n rows.
func ObservationDeletionAudit(d identity.ObservationDeletion, n int64) identity.AuditEvent {
	return identity.AuditEvent{At: d.At, Actor: d.Actor, Kind: "observation.delete",
		Target: identity.LinkKey{Provider: d.Provider, Subject: d.Subject}.String(),
		Detail: fmt.Sprintf("removed %d record(s) binding the subject to Entra object %s: %s", n, d.ObjectID, d.Reason)}
}

// CheckDecision refuses an admin decision without its keys or actor.
func CheckDecision(d identity.Decision) error {
	if d.Provider == "" || d.Subject == "" {
		return fmt.Errorf("decision needs provider and subject (got %q, %q)", d.Provider, d.Subject)
	}
	if d.Actor == "" {
		return fmt.Errorf("decision on %s/%s: empty actor: say which admin decided", d.Provider, d.Subject)
	}
	return nil
}

// DecisionKind is the audit event kind of a decision.
func DecisionKind(d identity.Decision) string {
	if d.Approved {
		return "decision.approve"
	}
	return "decision.reject"
}

// DecisionDetail is the audit event detail of a decision.
func DecisionDetail(d identity.Decision) string {
	s := fmt.Sprintf("salesforce user %s, object id %s", d.SalesforceUserID, d.ObjectID)
	if d.Reason != "" {
		s += ": " + d.Reason
	}
	return s
}

// CheckRun refuses a run start without a valid kind or holder.
func CheckRun(kind identity.RunKind, holder string) error {
	switch kind {
	case identity.KindRun, identity.KindBackfill, identity.KindDryRun:
	default:
		return fmt.Errorf("unknown run kind %q (want run, backfill or dry-run)", kind)
	}
	if holder == "" {
		return errors.New("empty run holder: pass host/pid")
	}
	return nil
}

// CheckFinish refuses a run record with an unknown status.
func CheckFinish(r identity.Run) error {
	switch r.Status {
	case identity.StatusSucceeded, identity.StatusFailed, identity.StatusHeld, identity.StatusThrottled, identity.StatusSkipped, identity.StatusRunning:
		return nil
	}
	return fmt.Errorf("run %d: unknown status %q", r.ID, r.Status)
}

// CheckLease refuses a lease request without name, holder or a positive ttl.
func CheckLease(name, holder string, ttl time.Duration) error {
	if name == "" || holder == "" {
		return fmt.Errorf("lease needs a name and a holder (got %q, %q)", name, holder)
	}
	if ttl <= 0 {
		return fmt.Errorf("lease %q: ttl must be positive, got %s", name, ttl)
	}
	return nil
}

// LinkAuditKind is the audit event kind of a link action.
func LinkAuditKind(a identity.ActionKind) string { return "link." + string(a) }

// ObserveAgain is the rule for an observation of a (provider, sub) the
// store already holds (old): the same object id merges into it (first seen
// earliest, last seen latest, counts added, tenant and client filled in);
// another object id is a conflict, recorded beside it and never overwriting
// it (a sub belongs to one user). Every backend applies this one rule.
func ObserveAgain(old, o identity.Observation) identity.ObservationResult {
	if !strings.EqualFold(old.ObjectID, o.ObjectID) {
		return identity.ObservationResult{Outcome: identity.ObservationConflicting, Existing: old}
	}
	upd := old
	if o.FirstSeen.Before(upd.FirstSeen) {
		upd.FirstSeen = o.FirstSeen
	}
	if o.LastSeen.After(upd.LastSeen) {
		upd.LastSeen = o.LastSeen
	}
	upd.Count += o.Count
	if upd.TenantID == "" {
		upd.TenantID = o.TenantID
	}
	if upd.ClientID == "" {
		upd.ClientID = o.ClientID
	}
	return identity.ObservationResult{Outcome: identity.ObservationKnown, Existing: upd}
}

// CanonicalOID is s as a canonical object id when it is one, else s as
// given. Stores keep the object ids of links, observations and decisions
// canonical, so that a plan's key lookups (Related) find every spelling.
func CanonicalOID(s string) string {
	if g, ok := identity.NormalizeGUID(s); ok {
		return g
	}
	return s
}

// EntraUserKeys are the keys a store indexes an Entra user by for Related:
// the folded UPN and mail.
func EntraUserKeys(u identity.EntraUser) (upn, mail string) {
	return identity.FoldKey(u.UPN), identity.FoldKey(u.Mail)
}

// SalesforceUserKeys are the keys a store indexes a Salesforce user by for
// Related: the folded Username and Email, and the FederationIdentifier as a
// canonical object id ("" when it is none).
func SalesforceUserKeys(u identity.SalesforceUser) (username, email, fed string) {
	fed, _ = identity.NormalizeGUID(u.FederationIdentifier)
	return identity.FoldKey(u.Username), identity.FoldKey(u.Email), fed
}
