// Package salesforce simulates the parts of a Salesforce org that idlink talks
// to: the OAuth 2.0 token endpoint (client credentials and JWT bearer), SOQL
// queries with query locators, sObject Collections upsert of the
// Identity_Link__c custom object, API limits, and an OpenID Connect sign-in
// that runs the idlink registration handler's decision table and creates
// ThirdPartyAccountLink rows.
//
// The org is loaded from plain data (AddUser, AddAccountLink, ...) and served
// over TLS (internal/sim/simtls) by Start. Behaviour follows Salesforce's
// documentation; the doc page is cited where the behaviour is not obvious.
package sfsim

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Key prefixes of the objects the simulator holds (the first three characters
// of a record id name its object).
const (
	prefixUser         = "005"
	prefixAccountLink  = "0Jr"
	prefixIdentityLink = "a0L"
	prefixAuthProvider = "0SO"
)

// userRow is one User record. Times are kept as Unix milliseconds to keep a
// million users small.
type userRow struct {
	id, username, federationID, email, userType string
	isActive                                    bool
	created, modstamp                           int64
}

type accountLinkRow struct {
	id, providerName, remoteID, userID, handle string
}

type identityLinkRow struct {
	id, subject, userID, objectID, tenantID, provider, matchRule, status, revokeReason, storeID string
	lastReconciled                                                                              int64 // 0 = null
	created, modstamp                                                                           int64
	deleted                                                                                     bool // in the Recycle Bin (IsDeleted)
}

// IdentityLink is one Identity_Link__c record as the simulator stores it.
type IdentityLink struct {
	ID             string
	Subject        string // Subject__c, the external id (unique, case-sensitive)
	UserID         string // User__c
	ObjectID       string // Entra_Object_Id__c
	TenantID       string // Tenant_Id__c
	Provider       string // Provider__c
	MatchRule      string // Match_Rule__c: "oid" | "upn"
	Status         string // Status__c: "Active" | "Revoked"
	RevokeReason   string // Revoke_Reason__c
	LastReconciled time.Time
	StoreID        string // Store_Id__c: the idlink database that wrote it
}

// table is a slice of rows kept in insertion order plus whether the record
// ids happen to be ascending (then ORDER BY Id and Id > x need no sort).
type table[T any] struct {
	rows     []T
	idSorted bool
}

// Org is the data of one simulated org. Its methods are safe for concurrent use.
type Org struct {
	mu sync.RWMutex

	users        table[userRow]
	userByID     map[string]int32
	userByName   map[string]int32 // lower-case username
	accountLinks table[accountLinkRow]
	tpalByKey    map[string]int32 // provider + "\x00" + remote id
	// tpalRemoved are the row indexes of revoked ThirdPartyAccountLink
	// rows, in the order they were removed (each in the indexes left by the
	// ones before): open query cursors translate their rows through it.
	tpalRemoved []int32
	links       table[identityLinkRow]
	linkBySub   map[string]int32
	// linksRemoved logs the row indexes of Identity_Link__c rows removed
	// from the Recycle Bin (PurgeDeletedIdentityLinks), as tpalRemoved.
	linksRemoved []int32

	authProviders    map[string]authProviderRow // by developer name
	authProviderList []string                   // developer names in insertion order
	// ssoNameFriendly makes ThirdPartyAccountLink.SsoProviderName answer
	// with the Auth. Provider's friendly name (SetSsoProviderNameFriendly).
	ssoNameFriendly bool
	// authProviderDenied refuses queries of AuthProvider, as for an
	// integration user without Customize Application and Manage AuthProviders.
	authProviderDenied bool
	pkg                PackageSettings
	revokes            []RevokeCall

	seq     map[string]uint64 // per key prefix
	clock   func() time.Time
	lastMod int64
}

// NewOrg returns an empty org whose clock is time.Now.
func NewOrg() *Org {
	return &Org{
		users:         table[userRow]{idSorted: true},
		userByID:      map[string]int32{},
		userByName:    map[string]int32{},
		accountLinks:  table[accountLinkRow]{idSorted: true},
		tpalByKey:     map[string]int32{},
		links:         table[identityLinkRow]{idSorted: true},
		linkBySub:     map[string]int32{},
		authProviders: map[string]authProviderRow{},
		seq:           map[string]uint64{},
		clock:         time.Now,
	}
}

// SetClock replaces the org's clock (for deterministic tests).
func (o *Org) SetClock(now func() time.Time) {
	o.mu.Lock()
	o.clock = now
	o.mu.Unlock()
}

// Now is the org's clock.
func (o *Org) Now() time.Time {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.clock().UTC()
}

// nowMillis returns the clock in ms, never earlier than a stamp it gave
// before (a clock set back does not reorder writes). Writes in the same
// millisecond share it, as in Salesforce, which promises no order among
// them: readers by SystemModstamp compare with >= and an overlap. Strictly
// increasing stamps ran ahead of the clock by a millisecond a write (17
// minutes over a million-user org's set-up).
func (o *Org) nowMillis() int64 {
	t := max(o.clock().UnixMilli(), o.lastMod)
	o.lastMod = t
	return t
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID makes an 18-character record id: prefix, a fixed instance part, a
// base-62 counter (ASCII order = creation order) and the case-safe suffix.
func (o *Org) newID(prefix string) string {
	o.seq[prefix]++
	n := o.seq[prefix]
	var b [15]byte
	copy(b[:], prefix)
	copy(b[3:], "8d0")
	for i := 14; i >= 6; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return string(b[:]) + idSuffix(string(b[:]))
}

// idSuffix computes the three characters that turn a 15-character
// case-sensitive id into the 18-character case-insensitive one: for each
// 5-character chunk, a bit per upper-case letter, mapped into A-Z0-5.
func idSuffix(id15 string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var out [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		v := 0
		for i := 0; i < 5; i++ {
			c := id15[chunk*5+i]
			if c >= 'A' && c <= 'Z' {
				v |= 1 << i
			}
		}
		out[chunk] = alphabet[v]
	}
	return string(out[:])
}

// validID reports whether s is a well-formed 15- or 18-character id.
func validID(s string) bool {
	if len(s) != 15 && len(s) != 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return false
		}
	}
	return len(s) == 15 || idSuffix(s[:15]) == s[15:]
}

func appendRow[T any](t *table[T], row T, id string, prevID func(T) string) int32 {
	if n := len(t.rows); n > 0 && prevID(t.rows[n-1]) >= id {
		t.idSorted = false
	}
	t.rows = append(t.rows, row)
	return int32(len(t.rows) - 1)
}

// AddUser adds (or replaces, by Id) a User. An empty ID gets a new one; zero
// times get the org clock. It returns the user's id.
func (o *Org) AddUser(u identity.SalesforceUser) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if u.ID == "" {
		u.ID = o.newID(prefixUser)
	} else if !validID(u.ID) || !strings.HasPrefix(u.ID, prefixUser) {
		return "", fmt.Errorf("sim salesforce: user id %q is not an 18-character User id (prefix 005)", u.ID)
	}
	if u.Username == "" {
		return "", fmt.Errorf("sim salesforce: user %s has no Username", u.ID)
	}
	row := userRow{
		id: u.ID, username: u.Username, federationID: u.FederationIdentifier, email: u.Email,
		userType: u.UserType, isActive: u.IsActive, created: u.CreatedDate.UnixMilli(), modstamp: u.SystemModstamp.UnixMilli(),
	}
	if row.userType == "" {
		row.userType = "Standard"
	}
	if u.CreatedDate.IsZero() || u.SystemModstamp.IsZero() {
		now := o.nowMillis()
		if u.CreatedDate.IsZero() {
			row.created = now
		}
		if u.SystemModstamp.IsZero() {
			row.modstamp = now
		}
	}
	lname := strings.ToLower(u.Username)
	if i, ok := o.userByName[lname]; ok && o.users.rows[i].id != u.ID {
		// Usernames are unique across all Salesforce orgs.
		return "", fmt.Errorf("sim salesforce: duplicate username %q (already user %s)", u.Username, o.users.rows[i].id)
	}
	if i, ok := o.userByID[u.ID]; ok {
		delete(o.userByName, strings.ToLower(o.users.rows[i].username))
		o.users.rows[i] = row
		o.userByName[lname] = i
		return u.ID, nil
	}
	i := appendRow(&o.users, row, u.ID, func(r userRow) string { return r.id })
	o.userByID[u.ID] = i
	o.userByName[lname] = i
	return u.ID, nil
}

// UpdateUser changes a user through fn and bumps its SystemModstamp, as any
// edit in Salesforce does.
func (o *Org) UpdateUser(id string, fn func(*identity.SalesforceUser)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, ok := o.userByID[id]
	if !ok {
		return fmt.Errorf("sim salesforce: no user %s", id)
	}
	r := o.users.rows[i]
	u := r.toIdentity()
	fn(&u)
	if u.ID != id {
		return fmt.Errorf("sim salesforce: a user's Id cannot change")
	}
	delete(o.userByName, strings.ToLower(r.username))
	r.username, r.federationID, r.email, r.userType, r.isActive = u.Username, u.FederationIdentifier, u.Email, u.UserType, u.IsActive
	r.modstamp = o.nowMillis()
	o.users.rows[i] = r
	o.userByName[strings.ToLower(r.username)] = i
	return nil
}

func (r userRow) toIdentity() identity.SalesforceUser {
	return identity.SalesforceUser{
		ID: r.id, Username: r.username, FederationIdentifier: r.federationID, Email: r.email,
		IsActive: r.isActive, UserType: r.userType,
		CreatedDate: time.UnixMilli(r.created).UTC(), SystemModstamp: time.UnixMilli(r.modstamp).UTC(),
	}
}

// User returns a user by id.
func (o *Org) User(id string) (identity.SalesforceUser, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	i, ok := o.userByID[id]
	if !ok {
		return identity.SalesforceUser{}, false
	}
	return o.users.rows[i].toIdentity(), true
}

// Users returns every user, in insertion order.
func (o *Org) Users() []identity.SalesforceUser {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]identity.SalesforceUser, len(o.users.rows))
	for i, r := range o.users.rows {
		out[i] = r.toIdentity()
	}
	return out
}

// UserCount is the number of users.
func (o *Org) UserCount() int {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return len(o.users.rows)
}

// AddAccountLink adds a ThirdPartyAccountLink, as Salesforce does after an
// Auth. Provider sign-in. (provider, remote id) is unique; the user must exist.
func (o *Org) AddAccountLink(l identity.ThirdPartyAccountLink) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.addAccountLinkLocked(l)
}

func (o *Org) addAccountLinkLocked(l identity.ThirdPartyAccountLink) (string, error) {
	if l.Provider == "" || l.RemoteIdentifier == "" {
		return "", fmt.Errorf("sim salesforce: account link needs Provider and RemoteIdentifier")
	}
	if _, ok := o.userByID[l.UserID]; !ok {
		return "", fmt.Errorf("sim salesforce: account link %s/%s names unknown user %q", l.Provider, l.RemoteIdentifier, l.UserID)
	}
	key := l.Provider + "\x00" + l.RemoteIdentifier
	if i, ok := o.tpalByKey[key]; ok {
		return "", fmt.Errorf("sim salesforce: account link %s/%s exists already (%s)", l.Provider, l.RemoteIdentifier, o.accountLinks.rows[i].id)
	}
	if l.ID == "" {
		l.ID = o.newID(prefixAccountLink)
	} else if !validID(l.ID) {
		return "", fmt.Errorf("sim salesforce: account link id %q is not a record id", l.ID)
	}
	row := accountLinkRow{id: l.ID, providerName: l.Provider, remoteID: l.RemoteIdentifier, userID: l.UserID}
	o.tpalByKey[key] = appendRow(&o.accountLinks, row, l.ID, func(r accountLinkRow) string { return r.id })
	return l.ID, nil
}

// AccountLinks returns every ThirdPartyAccountLink.
func (o *Org) AccountLinks() []identity.ThirdPartyAccountLink {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]identity.ThirdPartyAccountLink, len(o.accountLinks.rows))
	for i, r := range o.accountLinks.rows {
		out[i] = identity.ThirdPartyAccountLink{ID: r.id, Provider: r.providerName, RemoteIdentifier: r.remoteID, UserID: r.userID}
	}
	return out
}

// AccountLink finds the ThirdPartyAccountLink for (provider, sub).
func (o *Org) AccountLink(provider, sub string) (identity.ThirdPartyAccountLink, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	i, ok := o.tpalByKey[provider+"\x00"+sub]
	if !ok {
		return identity.ThirdPartyAccountLink{}, false
	}
	r := o.accountLinks.rows[i]
	return identity.ThirdPartyAccountLink{ID: r.id, Provider: r.providerName, RemoteIdentifier: r.remoteID, UserID: r.userID}, true
}

// PutIdentityLink creates or updates an Identity_Link__c by Subject__c
// without the API's validation (for loading scenarios). It returns the id.
func (o *Org) PutIdentityLink(l IdentityLink) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if l.Subject == "" {
		return "", fmt.Errorf("sim salesforce: identity link needs Subject__c")
	}
	row := identityLinkRow{
		subject: l.Subject, userID: l.UserID, objectID: l.ObjectID, tenantID: l.TenantID, provider: l.Provider,
		matchRule: l.MatchRule, status: l.Status, revokeReason: l.RevokeReason, storeID: l.StoreID,
	}
	if !l.LastReconciled.IsZero() {
		row.lastReconciled = l.LastReconciled.UnixMilli()
	}
	if row.status == "" {
		row.status = "Active"
	}
	id, _ := o.putLinkLocked(row)
	return id, nil
}

// putLinkLocked upserts by subject and reports whether it created the record.
func (o *Org) putLinkLocked(row identityLinkRow) (string, bool) {
	now := o.nowMillis()
	row.modstamp = now
	if i, ok := o.linkBySub[row.subject]; ok {
		old := o.links.rows[i]
		row.id, row.created = old.id, old.created
		o.links.rows[i] = row
		return row.id, false
	}
	row.id = o.newID(prefixIdentityLink)
	row.created = now
	o.linkBySub[row.subject] = appendRow(&o.links, row, row.id, func(r identityLinkRow) string { return r.id })
	return row.id, true
}

func (r identityLinkRow) toIdentityLink() IdentityLink {
	l := IdentityLink{
		ID: r.id, Subject: r.subject, UserID: r.userID, ObjectID: r.objectID, TenantID: r.tenantID,
		Provider: r.provider, MatchRule: r.matchRule, Status: r.status, RevokeReason: r.revokeReason, StoreID: r.storeID,
	}
	if r.lastReconciled != 0 {
		l.LastReconciled = time.UnixMilli(r.lastReconciled).UTC()
	}
	return l
}

// DeleteIdentityLink deletes the Identity_Link__c with this Subject__c, as
// an admin can in Setup or with Data Loader. The record goes to the Recycle
// Bin: the query resource no longer returns it, queryAll does, with IsDeleted
// true, "QueryAll returns records that are soft deleted due to a merge or
// delete. After these records are permanently removed from the recycle bin,
// you can no longer query them"
// (https://developer.salesforce.com/docs/platform/api-rest/guide/resources-queryall.html).
// Its SystemModstamp becomes the time of the delete: a deleted record's
// deletedDate "is obtained using the SystemModstamp system field if
// available" (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getdeleted_getdeletedresult.htm).
// An upsert by Subject__c then creates a new record. It reports whether
// there was one.
func (o *Org) DeleteIdentityLink(subject string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, ok := o.linkBySub[subject]
	if !ok {
		return false
	}
	delete(o.linkBySub, subject)
	o.links.rows[i].deleted = true
	o.links.rows[i].modstamp = o.nowMillis()
	return true
}

// PurgeDeletedIdentityLinks empties the Recycle Bin of Identity_Link__c (an
// admin can; Salesforce does after 15 days; a Bulk API hard delete never
// puts records there): queryAll no longer returns them. It returns how many
// it removed.
func (o *Org) PurgeDeletedIdentityLinks() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for i := 0; i < len(o.links.rows); {
		if !o.links.rows[i].deleted {
			i++
			continue
		}
		o.linksRemoved = append(o.linksRemoved, int32(i))
		o.links.rows = append(o.links.rows[:i], o.links.rows[i+1:]...)
		n++
	}
	for j, r := range o.links.rows {
		if !r.deleted {
			o.linkBySub[r.subject] = int32(j)
		}
	}
	return n
}

// IdentityLinks returns every Identity_Link__c not deleted, ordered by Subject__c.
func (o *Org) IdentityLinks() []IdentityLink {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]IdentityLink, 0, len(o.linkBySub))
	for _, r := range o.links.rows {
		if !r.deleted {
			out = append(out, r.toIdentityLink())
		}
	}
	slices.SortFunc(out, func(a, b IdentityLink) int { return strings.Compare(a.Subject, b.Subject) })
	return out
}

// IdentityLinkBySubject finds an Identity_Link__c by its external id.
func (o *Org) IdentityLinkBySubject(sub string) (IdentityLink, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	i, ok := o.linkBySub[sub]
	if !ok {
		return IdentityLink{}, false
	}
	return o.links.rows[i].toIdentityLink(), true
}
