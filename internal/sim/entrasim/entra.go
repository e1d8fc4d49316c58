// Package entra simulates the parts of Microsoft Entra ID and Microsoft Graph
// that idlink talks to: the v2.0 token endpoint (client credentials with a
// secret or a certificate assertion), OpenID metadata and JWKS, sign-in tokens
// with a pairwise sub, the userinfo endpoint, and Graph v1.0 users, users
// delta, service principals, app-role assignments and transitive group
// members. It serves HTTPS on loopback (MSAL refuses plain http authorities)
// with two listeners, one for the login host and one for the Graph host, as in
// the real cloud.
//
// The simulator is loaded from plain data (AddUser, AddGroup, AddMember,
// AssignAppRole ...) and changed the same way during a test (UpdateUser,
// SoftDelete, HardDelete, Restore); changes are recorded in a change log that
// Graph delta reads.
package entrasim

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/sim/simtls"
)

// Application permissions (app roles of Microsoft Graph) the simulator checks.
const (
	PermUserReadAll        = "User.Read.All"
	PermApplicationReadAll = "Application.Read.All"
	PermGroupMemberReadAll = "GroupMember.Read.All"
	PermDirectoryReadAll   = "Directory.Read.All"
)

// GraphAppID is the well-known application id of Microsoft Graph, the
// audience of tokens issued for Graph scopes.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// DefaultAccessRoleID is the "Default Access" app role id Entra uses for
// assignments to an application that defines no roles.
const DefaultAccessRoleID = "00000000-0000-0000-0000-000000000000"

// Endpoint names for fault injection and counters.
const (
	EPToken       = "token"
	EPOpenID      = "openid"
	EPKeys        = "keys"
	EPUsers       = "users"
	EPDeleted     = "deleted" // directory/deletedItems (the recycle bin)
	EPDelta       = "delta"
	EPSP          = "sp"
	EPAssignments = "assignments"
	EPMembers     = "members"
	EPUserinfo    = "userinfo"
)

// App is an app registration in the simulated tenant, with its service
// principal (enterprise application).
type App struct {
	ClientID    string // appId
	DisplayName string
	// Secret is the client secret value; empty when the app has none.
	Secret string
	// Certificate is a registered certificate credential for client assertions.
	Certificate *x509.Certificate
	// Federated are workload identity federation credentials: a JWT from
	// Issuer with Subject and Audience, signed by Key, is accepted as the
	// client assertion (Kubernetes service account tokens).
	Federated []FederatedCredential
	// GraphPermissions are the Microsoft Graph application permissions granted
	// with admin consent (they become the "roles" claim of app-only tokens).
	GraphPermissions []string
	// ServicePrincipalID is the object id of the enterprise application; a
	// deterministic one is derived from the client id when empty.
	ServicePrincipalID string
}

// FederatedCredential is a federated identity credential on an app
// registration (https://learn.microsoft.com/entra/workload-id/workload-identity-federation).
type FederatedCredential struct {
	Issuer, Subject string
	Audience        string // default api://AzureADTokenExchange
	Key             crypto.PublicKey
}

// Options configure a simulator.
type Options struct {
	TenantID     string // GUID
	TenantDomain string // optional alias such as contoso.onmicrosoft.com
	Apps         []App
	// DeltaPageSize is the server-chosen page size of /users/delta (Graph
	// ignores $top there). Default 200.
	DeltaPageSize int
	// DeltaLinkLifetime defaults to 7 days, the documented lifetime for
	// identity resources (https://devblogs.microsoft.com/microsoft365dev/duration-of-change-tracking-tokens-for-identity-and-education-resources/).
	DeltaLinkLifetime time.Duration
	// TokenLifetime of issued access and ID tokens; default 1 hour.
	TokenLifetime time.Duration
	// Subject computes the pairwise sub for (client id, oid). The default is an
	// HMAC with a random secret only the simulator knows, like Entra's.
	Subject func(clientID, oid string) string
	// FaultSeed seeds random faults.
	FaultSeed uint64
	// TLS is the certificate authority to serve with (share one between the
	// simulated Entra and Salesforce); a new one is made when nil.
	TLS *simtls.Authority
	// LoginAddr and GraphAddr are the listen addresses; default 127.0.0.1:0.
	LoginAddr, GraphAddr string
}

// Sim is a running simulated tenant.
type Sim struct {
	opts   Options
	Faults *fault.Injector
	tls    *simtls.Authority

	loginLn, graphLn net.Listener
	loginSrv         *http.Server
	graphSrv         *http.Server
	loginURL         string
	graphURL         string

	clockOffset atomic.Int64 // nanoseconds added to time.Now

	keys      *keySet
	tokenMAC  []byte // authenticates paging and delta tokens
	tokenSeq  atomic.Uint64
	tokCache  sync.Map // access token string -> *tokenInfo
	deltaEpoc atomic.Uint32
	expiredSt atomic.Int32 // HTTP status for expired delta tokens (400 or 410)

	mu       sync.RWMutex
	apps     map[string]*App // by client id
	users    []user
	byID     map[string]int32
	log      []change
	groups   map[string]*group
	sps      map[string]*servicePrincipal // by object id
	spByApp  map[string]*servicePrincipal
	assignID uint64
}

// New builds a simulator and starts its two HTTPS listeners on 127.0.0.1.
// Close stops them.
func New(opts Options) (*Sim, error) {
	tid, ok := identity.NormalizeGUID(opts.TenantID)
	if !ok {
		return nil, fmt.Errorf("entra sim: tenant id %q is not a GUID", opts.TenantID)
	}
	opts.TenantID = tid
	if opts.DeltaPageSize <= 0 {
		opts.DeltaPageSize = 200
	}
	if opts.DeltaLinkLifetime <= 0 {
		opts.DeltaLinkLifetime = 7 * 24 * time.Hour
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	s := &Sim{
		opts:    opts,
		Faults:  fault.New(opts.FaultSeed),
		apps:    map[string]*App{},
		byID:    map[string]int32{},
		groups:  map[string]*group{},
		sps:     map[string]*servicePrincipal{},
		spByApp: map[string]*servicePrincipal{},
	}
	s.expiredSt.Store(http.StatusBadRequest)
	s.tokenMAC = make([]byte, 32)
	if _, err := rand.Read(s.tokenMAC); err != nil {
		return nil, err
	}
	if s.opts.Subject == nil {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		s.opts.Subject = func(clientID, oid string) string { return pairwise(secret, clientID, oid) }
	}
	ks, err := newKeySet()
	if err != nil {
		return nil, err
	}
	s.keys = ks
	for _, a := range opts.Apps {
		if err := s.AddApp(a); err != nil {
			return nil, err
		}
	}
	if s.tls = opts.TLS; s.tls == nil {
		if s.tls, err = simtls.New(); err != nil {
			return nil, err
		}
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func pairwise(secret []byte, clientID, oid string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strings.ToLower(clientID)))
	m.Write([]byte{0})
	m.Write([]byte(strings.ToLower(oid)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Sim) start() error {
	var err error
	addr := func(a string) string {
		if a == "" {
			return "127.0.0.1:0"
		}
		return a
	}
	if s.loginLn, err = net.Listen("tcp", addr(s.opts.LoginAddr)); err != nil {
		return fmt.Errorf("entra sim: listen: %w", err)
	}
	if s.graphLn, err = net.Listen("tcp", addr(s.opts.GraphAddr)); err != nil {
		s.loginLn.Close()
		return fmt.Errorf("entra sim: listen: %w", err)
	}
	s.loginURL = "https://" + s.loginLn.Addr().String()
	s.graphURL = "https://" + s.graphLn.Addr().String()
	s.loginSrv = &http.Server{Handler: s.loginHandler(), TLSConfig: s.tls.ServerTLS(), ReadHeaderTimeout: 10 * time.Second}
	s.graphSrv = &http.Server{Handler: s.graphHandler(), TLSConfig: s.tls.ServerTLS(), ReadHeaderTimeout: 10 * time.Second}
	go s.loginSrv.ServeTLS(s.loginLn, "", "")
	go s.graphSrv.ServeTLS(s.graphLn, "", "")
	return nil
}

// Close stops the listeners.
func (s *Sim) Close() error {
	return errors.Join(s.loginSrv.Close(), s.graphSrv.Close())
}

// LoginURL is the authority host, e.g. https://127.0.0.1:41234 (the
// counterpart of https://login.microsoftonline.com).
func (s *Sim) LoginURL() string { return s.loginURL }

// GraphURL is the Graph host without version, e.g. https://127.0.0.1:41235.
func (s *Sim) GraphURL() string { return s.graphURL }

// TenantID is the simulated tenant's id.
func (s *Sim) TenantID() string { return s.opts.TenantID }

// Issuer is the v2.0 issuer of tokens for the tenant.
func (s *Sim) Issuer() string { return s.loginURL + "/" + s.opts.TenantID + "/v2.0" }

// JWKSURL is where the signing keys are published.
func (s *Sim) JWKSURL() string { return s.loginURL + "/" + s.opts.TenantID + "/discovery/v2.0/keys" }

// TLS is the certificate authority the simulator's listeners use.
func (s *Sim) TLS() *simtls.Authority { return s.tls }

// HTTPClient trusts the simulator's certificate.
func (s *Sim) HTTPClient() *http.Client { return s.tls.Client() }

// Now is the simulated clock.
func (s *Sim) Now() time.Time { return time.Now().Add(time.Duration(s.clockOffset.Load())) }

// SetNow moves the simulated clock to t (it keeps running from there).
func (s *Sim) SetNow(t time.Time) { s.clockOffset.Store(int64(time.Until(t))) }

// Advance moves the simulated clock forward by d.
func (s *Sim) Advance(d time.Duration) { s.clockOffset.Add(int64(d)) }

// InvalidateDeltaTokens makes every deltaLink and delta nextLink issued so far
// fail with syncStateNotFound, as after a service-side reset.
func (s *Sim) InvalidateDeltaTokens() { s.deltaEpoc.Add(1) }

// SetExpiredDeltaStatus chooses how an expired or unknown delta token is
// answered: 400 syncStateNotFound (the documented answer for directory
// resources) or 410 Gone (documented for other delta resources and handled by
// clients as "resync required").
func (s *Sim) SetExpiredDeltaStatus(status int) { s.expiredSt.Store(int32(status)) }

// AddApp registers an application and its service principal.
func (s *Sim) AddApp(a App) error {
	id, ok := identity.NormalizeGUID(a.ClientID)
	if !ok {
		return fmt.Errorf("entra sim: app client id %q is not a GUID", a.ClientID)
	}
	a.ClientID = id
	if a.ServicePrincipalID == "" {
		a.ServicePrincipalID = derivedGUID("sp:" + id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app := a
	s.apps[id] = &app
	sp := &servicePrincipal{id: a.ServicePrincipalID, app: &app}
	s.sps[sp.id] = sp
	s.spByApp[id] = sp
	return nil
}

// SetGraphPermissions replaces the application permissions granted to an app
// (e.g. to simulate missing admin consent). Tokens issued before keep their roles.
func (s *Sim) SetGraphPermissions(clientID string, perms ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[strings.ToLower(clientID)]
	if !ok {
		return fmt.Errorf("entra sim: no app %s", clientID)
	}
	a.GraphPermissions = append([]string(nil), perms...)
	return nil
}

// ServicePrincipalID returns the enterprise application's object id for an app.
func (s *Sim) ServicePrincipalID(clientID string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sp, ok := s.spByApp[strings.ToLower(clientID)]; ok {
		return sp.id
	}
	return ""
}

func derivedGUID(seed string) string {
	h := sha256.Sum256([]byte(seed))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// appendChange records a change of user idx; the caller holds mu.
func (s *Sim) appendChange(idx int32, kind changeKind, mask propMask) {
	u := &s.users[idx]
	e := int32(len(s.log))
	s.log = append(s.log, change{user: idx, prev: u.last, next: -1, mask: mask, kind: kind})
	if u.last >= 0 {
		s.log[u.last].next = e
	}
	u.last = e
}

// AddUser creates a user. u.ObjectID must be a GUID; u.Deleted puts the user
// straight into the recycle bin (soft) or records a hard deletion.
func (s *Sim) AddUser(users ...identity.EntraUser) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range users {
		id, ok := identity.NormalizeGUID(e.ObjectID)
		if !ok {
			return fmt.Errorf("entra sim: user object id %q is not a GUID", e.ObjectID)
		}
		if _, dup := s.byID[id]; dup {
			return fmt.Errorf("entra sim: user %s already exists", id)
		}
		if _, dup := s.groups[id]; dup {
			return fmt.Errorf("entra sim: object %s already exists as a group", id)
		}
		idx := int32(len(s.users))
		s.users = append(s.users, fromEntra(e, id))
		s.byID[id] = idx
		s.appendChange(idx, chCreate, allProps)
		switch e.Deleted {
		case identity.SoftDeleted:
			s.users[idx].state = stSoftDeleted
			s.appendChange(idx, chSoftDelete, 0)
		case identity.HardDeleted:
			s.users[idx].state = stHardDeleted
			s.appendChange(idx, chHardDelete, 0)
		}
	}
	return nil
}

func (s *Sim) lookup(oid string) (int32, error) {
	id, ok := identity.NormalizeGUID(oid)
	if !ok {
		return 0, fmt.Errorf("entra sim: %q is not a GUID", oid)
	}
	idx, ok := s.byID[id]
	if !ok {
		return 0, fmt.Errorf("entra sim: no user %s", id)
	}
	return idx, nil
}

// UpdateUser changes a live user's properties through fn (ObjectID, TenantID,
// Deleted and InScope are ignored). Only the properties that really change are
// recorded for delta.
func (s *Sim) UpdateUser(oid string, fn func(*identity.EntraUser)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, err := s.lookup(oid)
	if err != nil {
		return err
	}
	old := &s.users[idx]
	if old.state != stActive {
		return fmt.Errorf("entra sim: user %s is deleted; restore it first", old.id)
	}
	e := old.entra(s.opts.TenantID)
	fn(&e)
	nu := fromEntra(e, old.id)
	nu.last, nu.state = old.last, old.state
	if nu.userType == "" {
		nu.userType = old.userType
	}
	nu.jobTitle = old.jobTitle
	mask := diff(old, &nu)
	if mask == 0 {
		return nil
	}
	*old = nu
	s.appendChange(idx, chUpdate, mask)
	return nil
}

// SetJobTitle changes a property idlink does not select, to check that delta
// with $select ignores it.
func (s *Sim) SetJobTitle(oid, title string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, err := s.lookup(oid)
	if err != nil {
		return err
	}
	if s.users[idx].jobTitle == title {
		return nil
	}
	s.users[idx].jobTitle = title
	s.appendChange(idx, chUpdate, 1<<pJobTitle)
	return nil
}

// SoftDelete moves a user to the recycle bin (restorable for 30 days).
func (s *Sim) SoftDelete(oid string) error { return s.setState(oid, stSoftDeleted) }

// HardDelete removes a user permanently.
func (s *Sim) HardDelete(oid string) error { return s.setState(oid, stHardDeleted) }

// Restore brings a soft-deleted user back.
func (s *Sim) Restore(oid string) error { return s.setState(oid, stActive) }

func (s *Sim) setState(oid string, st userState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, err := s.lookup(oid)
	if err != nil {
		return err
	}
	u := &s.users[idx]
	switch {
	case u.state == stHardDeleted:
		return fmt.Errorf("entra sim: user %s is permanently deleted", u.id)
	case st == stActive && u.state != stSoftDeleted:
		return fmt.Errorf("entra sim: user %s is not in the recycle bin", u.id)
	case st == u.state:
		return nil
	}
	u.state = st
	kind := map[userState]changeKind{stActive: chRestore, stSoftDeleted: chSoftDelete, stHardDeleted: chHardDelete}[st]
	s.appendChange(idx, kind, 0)
	return nil
}

// User returns the simulator's current view of a user.
func (s *Sim) User(oid string) (identity.EntraUser, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	idx, err := s.lookup(oid)
	if err != nil {
		return identity.EntraUser{}, false
	}
	return s.users[idx].entra(s.opts.TenantID), true
}

// UserCount is the number of users in the directory (including deleted ones).
func (s *Sim) UserCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users)
}

// AddGroup creates a security group.
func (s *Sim) AddGroup(id, displayName string) error {
	gid, ok := identity.NormalizeGUID(id)
	if !ok {
		return fmt.Errorf("entra sim: group id %q is not a GUID", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.groups[gid]; dup {
		return fmt.Errorf("entra sim: group %s already exists", gid)
	}
	if _, dup := s.byID[gid]; dup {
		return fmt.Errorf("entra sim: object %s already exists as a user", gid)
	}
	s.groups[gid] = &group{id: gid, displayName: displayName, memberSet: map[string]struct{}{}}
	return nil
}

// AddMember adds a user or a group (nesting) to a group.
func (s *Sim) AddMember(groupID, memberID string) error {
	gid, _ := identity.NormalizeGUID(groupID)
	mid, ok := identity.NormalizeGUID(memberID)
	if !ok {
		return fmt.Errorf("entra sim: member id %q is not a GUID", memberID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[gid]
	if !ok {
		return fmt.Errorf("entra sim: no group %s", groupID)
	}
	if _, dup := g.memberSet[mid]; dup {
		return nil
	}
	_, isGroup := s.groups[mid]
	if _, isUser := s.byID[mid]; !isUser && !isGroup {
		return fmt.Errorf("entra sim: no user or group %s", mid)
	}
	g.members = append(g.members, member{id: mid, isGroup: isGroup})
	g.memberSet[mid] = struct{}{}
	return nil
}

// AssignAppRole assigns a user or group to the enterprise application of
// resourceClientID with appRoleID (DefaultAccessRoleID when empty).
func (s *Sim) AssignAppRole(resourceClientID, principalID, appRoleID string) error {
	pid, ok := identity.NormalizeGUID(principalID)
	if !ok {
		return fmt.Errorf("entra sim: principal id %q is not a GUID", principalID)
	}
	if appRoleID == "" {
		appRoleID = DefaultAccessRoleID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, ok := s.spByApp[strings.ToLower(resourceClientID)]
	if !ok {
		return fmt.Errorf("entra sim: no app %s", resourceClientID)
	}
	a := assignment{appRoleID: appRoleID, principalID: pid, created: s.Now().UTC().Format(time.RFC3339)}
	if g, isGroup := s.groups[pid]; isGroup {
		a.principalType, a.principalName = "Group", g.displayName
	} else if idx, isUser := s.byID[pid]; isUser {
		a.principalType, a.principalName = "User", s.users[idx].displayName
	} else {
		return fmt.Errorf("entra sim: no user or group %s", pid)
	}
	s.assignID++
	// Real assignment ids are opaque base64 strings; any unique string will do.
	a.id = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s:%d", sp.id, s.assignID)))
	sp.assignments = append(sp.assignments, a)
	return nil
}

// RemoveMember takes a user or group out of a group.
func (s *Sim) RemoveMember(groupID, memberID string) error {
	gid, _ := identity.NormalizeGUID(groupID)
	mid, _ := identity.NormalizeGUID(memberID)
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[gid]
	if !ok {
		return fmt.Errorf("entra sim: no group %s", groupID)
	}
	if _, ok := g.memberSet[mid]; !ok {
		return fmt.Errorf("entra sim: %s is not a member of group %s", memberID, gid)
	}
	delete(g.memberSet, mid)
	for i, m := range g.members {
		if m.id == mid {
			g.members = append(g.members[:i], g.members[i+1:]...)
			break
		}
	}
	return nil
}

// UnassignAppRole removes every assignment of principalID to the enterprise
// application of resourceClientID; it returns how many were removed.
func (s *Sim) UnassignAppRole(resourceClientID, principalID string) (int, error) {
	pid, _ := identity.NormalizeGUID(principalID)
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, ok := s.spByApp[strings.ToLower(resourceClientID)]
	if !ok {
		return 0, fmt.Errorf("entra sim: no app %s", resourceClientID)
	}
	kept := sp.assignments[:0]
	for _, a := range sp.assignments {
		if a.principalID != pid {
			kept = append(kept, a)
		}
	}
	n := len(sp.assignments) - len(kept)
	sp.assignments = kept
	return n, nil
}
