package scenario

import (
	"errors"
	"fmt"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Salesforce-side changes a simulator makes while serving (a JIT sign-in
// creating a user, Salesforce creating a ThirdPartyAccountLink after a
// sign-in). Going through these keeps the world's parallel bookkeeping, id
// counters and Expected right; appending to the slices directly does not.

// ErrDuplicateUsername is Salesforce's DUPLICATE_USERNAME: usernames are
// unique across all Salesforce orgs.
var ErrDuplicateUsername = errors.New("scenario: DUPLICATE_USERNAME: this Username is already taken")

// NewRecordID returns a fresh 18-character Salesforce id with the given
// 3-character key prefix ("005" User, "0Jr" ThirdPartyAccountLink, "a0L"
// Identity_Link__c, or any other), never one the world has handed out
// before. Ids of one prefix increase, so they sort in creation order.
func (w *World) NewRecordID(prefix string) (string, error) {
	if len(prefix) != 3 || strings.Trim(prefix, base62) != "" {
		return "", fmt.Errorf("scenario: key prefix %q must be 3 letters or digits, such as 005", prefix)
	}
	var n *uint64
	switch prefix {
	case prefixUser:
		n = &w.nextSF
	case prefixAccountLink:
		n = &w.nextLink
	default:
		if w.nextOther == nil {
			w.nextOther = map[string]uint64{}
		}
		if _, ok := w.nextOther[prefix]; !ok {
			w.nextOther[prefix] = 1_000_000
		}
		v := w.nextOther[prefix]
		w.nextOther[prefix] = v + 1
		return sfID(w.strs, prefix, v), nil
	}
	id := sfID(w.strs, prefix, *n)
	*n++
	return id, nil
}

// AddSalesforceUser appends a Salesforce user as a JIT sign-in or an admin
// would create it and returns its index. An empty ID gets a fresh one; zero
// dates get the world's clock. ownerOID names the Entra user it was made for
// ("" for none); role says why it exists (RoleJITDuplicate for a JIT
// sign-in).
func (w *World) AddSalesforceUser(u identity.SalesforceUser, role Role, ownerOID string) (int, error) {
	if u.Username == "" || strings.Count(u.Username, "@") != 1 {
		return -1, fmt.Errorf("scenario: Username %q must have the form of an email address", u.Username)
	}
	for _, other := range w.Salesforce {
		if strings.EqualFold(other.Username, u.Username) {
			return -1, fmt.Errorf("%w: %s", ErrDuplicateUsername, u.Username)
		}
	}
	owner := int32(-1)
	if ownerOID != "" {
		i, ok := w.EntraIndex(ownerOID)
		if !ok {
			return -1, fmt.Errorf("%w: owner %q", ErrNoSuchUser, ownerOID)
		}
		owner = int32(i)
	}
	if u.ID == "" {
		u.ID, _ = w.NewRecordID(prefixUser)
	} else if len(u.ID) != 18 || !strings.HasPrefix(u.ID, prefixUser) {
		return -1, fmt.Errorf("scenario: user id %q: want an 18-character id starting 005, or empty for a fresh one", u.ID)
	} else if n := len(w.Salesforce); n > 0 && u.ID <= w.Salesforce[n-1].ID {
		return -1, fmt.Errorf("scenario: user id %q is not after the last id %s; leave ID empty to get a fresh one", u.ID, w.Salesforce[n-1].ID)
	}
	if u.UserType == "" {
		u.UserType = "Standard"
	}
	if u.CreatedDate.IsZero() {
		u.CreatedDate = w.now
	}
	if u.SystemModstamp.IsZero() {
		u.SystemModstamp = u.CreatedDate
	}
	w.Salesforce = append(w.Salesforce, u)
	w.sfRole = append(w.sfRole, role)
	w.sfOwner = append(w.sfOwner, owner)
	return len(w.Salesforce) - 1, nil
}

// AddAccountLink appends a ThirdPartyAccountLink (Salesforce creates one
// after a successful sign-in) and returns it with its id. The user must
// exist and the provider must be one of the world's.
func (w *World) AddAccountLink(l identity.ThirdPartyAccountLink) (identity.ThirdPartyAccountLink, error) {
	if _, ok := w.Provider(l.Provider); !ok {
		return l, fmt.Errorf("scenario: ThirdPartyAccountLink provider %q is not an Auth. Provider of this world", l.Provider)
	}
	if _, ok := w.SalesforceIndex(l.UserID); !ok {
		return l, fmt.Errorf("scenario: ThirdPartyAccountLink user %q does not exist", l.UserID)
	}
	if l.RemoteIdentifier == "" {
		return l, errors.New("scenario: ThirdPartyAccountLink needs the sub as RemoteIdentifier")
	}
	for _, other := range w.AccountLinks {
		if other.Provider == l.Provider && other.RemoteIdentifier == l.RemoteIdentifier {
			return l, fmt.Errorf("scenario: provider %s already links sub %s to user %s", l.Provider, l.RemoteIdentifier, other.UserID)
		}
	}
	l.ID, _ = w.NewRecordID(prefixAccountLink)
	w.AccountLinks = append(w.AccountLinks, l)
	return l, nil
}
