package scenario

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// World is one simulated Entra tenant and the Salesforce org that Entra
// provisions. The HTTP simulators serve it; tests compare idlink's verdicts
// with Expected.
//
// The exported slices are the data the simulators load. Indices are stable:
// users are never removed from Entra, so that delta can report them; a
// permanently deleted user stays in Entra with Deleted == HardDeleted and
// must be left out of every listing (see Listed). Slices may grow through
// the mutation methods. A World is not safe for concurrent use: a simulator
// that mutates it while serving must hold its own lock.
type World struct {
	// TenantID is the Entra tenant (tid) of every user.
	TenantID string
	// Domain is the verified domain of member UPNs.
	Domain string
	// Providers are the OIDC clients users sign in with (Auth. Providers).
	Providers []identity.Provider
	// App is the Salesforce enterprise application in Entra.
	App Application

	// Entra holds every Entra user, including soft-deleted ones (Deleted ==
	// SoftDeleted: served by /directory/deletedItems and as "@removed"
	// reason "changed" in delta) and permanently deleted ones (HardDeleted:
	// never listed; only delta reports them, as "@removed" reason "deleted").
	// InScope is derived from Assignments and Groups (see recomputeScope).
	Entra []identity.EntraUser
	// Groups are security groups; their members are Entra users and other
	// groups (nesting).
	Groups []Group
	// Assignments are the app-role assignments of App: to users directly or
	// to groups. Only direct members of an assigned group are in scope:
	// Entra does not cascade assignment to nested groups.
	Assignments []AppRoleAssignment

	// Salesforce holds the org's users in record-id order (ids increase with
	// creation, as Salesforce's do), as Entra provisioning, JIT sign-ins and
	// admins created them.
	Salesforce []identity.SalesforceUser
	// AccountLinks are ThirdPartyAccountLink rows left by earlier sign-ins.
	AccountLinks []identity.ThirdPartyAccountLink
	// IdentityLinks are Identity_Link__c rows from an earlier idlink run
	// (MessLinked). Empty when Rates.Linked is 0: a first run.
	IdentityLinks []IdentityLinkRecord
	// Observations are (sub, oid) pairs idlink's bridge recorded before the
	// run: every user with a JIT duplicate signed in through the bridge
	// after the duplicate existed (Salesforce found the duplicate by its
	// ThirdPartyAccountLink, the bridge still saw the oid).
	Observations []identity.Observation

	cfg      Config
	secret   [32]byte
	rng      *rand.Rand
	strs     *arena
	entra    []entraMeta // parallel to Entra
	sfRole   []Role      // parallel to Salesforce
	sfOwner  []int32     // parallel to Salesforce: Entra index it was made for, -1 none
	byOID    []int32     // Entra indices sorted by ObjectID
	nextSF   uint64      // next Salesforce User record number
	nextLink uint64      // next ThirdPartyAccountLink record number
	// nextOther holds the next record number of other key prefixes.
	nextOther map[string]uint64
	now       time.Time
	version   uint64
	changes   []Change
	tombs     []Tombstone
	counters  nameCounters
}

// entraMeta is what the generator knows about an Entra user beyond Graph's
// view of it.
type entraMeta struct {
	mess Mess
}

// Group is an Entra security group.
type Group struct {
	ID          string
	DisplayName string
	// Members are direct user members: indices into World.Entra.
	Members []int32
	// Groups are direct group members (nested groups): indices into World.Groups.
	Groups []int32
}

// AppRoleAssignment is one appRoleAssignment of the Salesforce enterprise
// application's service principal (Graph: servicePrincipal appRoleAssignedTo).
type AppRoleAssignment struct {
	ID            string // Graph's opaque assignment id
	PrincipalType string // "User" or "Group"
	// Principal is an index into World.Entra (User) or World.Groups (Group).
	Principal       int32
	PrincipalID     string
	AppRoleID       string
	CreatedDateTime time.Time
}

// Application is the Salesforce gallery application in Entra.
type Application struct {
	DisplayName        string
	AppID              string // application (client) id of the provisioning app
	ServicePrincipalID string // object id of its service principal (resourceId of assignments)
	AppRoleID          string // the app role assigned to users and groups
}

// IdentityLinkRecord is one Identity_Link__c row in Salesforce.
type IdentityLinkRecord struct {
	ID string // Salesforce record id
	identity.Link
}

// Config returns the configuration the world was generated from, with every
// default filled in.
func (w *World) Config() Config { return w.cfg }

// Subject is the pairwise sub Entra puts in tokens for oid when it signs in to
// clientID. Like Entra's, it is 43 characters of base64url that cannot be
// derived from the oid without a secret that only the simulated Entra holds
// (here HMAC-SHA256 keyed by a value drawn from the seed, over
// "clientID|oid" with the oid in canonical form).
//
// For a provider whose Strategy is object-id (Azure AD B2C, Entra External
// ID) the sub is the oid itself.
func (w *World) Subject(clientID, oid string) string {
	if norm, ok := identity.NormalizeGUID(oid); ok {
		oid = norm
	}
	for _, p := range w.Providers {
		if p.ClientID == clientID && p.Strategy == identity.StrategyObjectID {
			return oid
		}
	}
	m := hmac.New(sha256.New, w.secret[:])
	m.Write([]byte(clientID))
	m.Write([]byte{'|'})
	m.Write([]byte(oid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Provider returns the provider with the given name.
func (w *World) Provider(name string) (identity.Provider, bool) {
	for _, p := range w.Providers {
		if p.Name == name {
			return p, true
		}
	}
	return identity.Provider{}, false
}

// EntraIndex finds an Entra user by object id (any case, braces allowed),
// including deleted ones.
func (w *World) EntraIndex(oid string) (int, bool) {
	norm, ok := identity.NormalizeGUID(oid)
	if !ok {
		return -1, false
	}
	k := sort.Search(len(w.byOID), func(k int) bool { return w.Entra[w.byOID[k]].ObjectID >= norm })
	if k < len(w.byOID) && w.Entra[w.byOID[k]].ObjectID == norm {
		return int(w.byOID[k]), true
	}
	return -1, false
}

// SalesforceIndex finds a Salesforce user by its 18-character id (or the
// 15-character form).
func (w *World) SalesforceIndex(id string) (int, bool) {
	if len(id) != 15 && len(id) != 18 {
		return -1, false
	}
	id15 := id[:15]
	k := sort.Search(len(w.Salesforce), func(k int) bool { return w.Salesforce[k].ID[:15] >= id15 })
	if k < len(w.Salesforce) && w.Salesforce[k].ID[:15] == id15 {
		return k, true
	}
	return -1, false
}

// Listed reports whether Entra user i appears in GET /users: it exists and
// is not deleted.
func (w *World) Listed(i int) bool { return w.Entra[i].Deleted == identity.NotDeleted }

// EntraMess returns the mess Entra user i was generated with (MessClean for
// users added later).
func (w *World) EntraMess(i int) Mess { return w.entra[i].mess }

// SalesforceRole returns why Salesforce user i exists and the index of the
// Entra user it was created for (-1 for orphans and integration users).
func (w *World) SalesforceRole(i int) (Role, int) { return w.sfRole[i], int(w.sfOwner[i]) }

// Integration reports whether Salesforce user i is an API-only integration user.
func (w *World) Integration(i int) bool { return w.sfRole[i] == RoleIntegration }

// TransitiveMembers returns the users in group g and, recursively, in its
// nested groups (Graph's /groups/{id}/transitiveMembers), without repeats.
func (w *World) TransitiveMembers(g int) []int32 {
	seenGroup := map[int32]bool{int32(g): true}
	seenUser := map[int32]bool{}
	var out []int32
	stack := []int32{int32(g)}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, u := range w.Groups[cur].Members {
			if !seenUser[u] {
				seenUser[u] = true
				out = append(out, u)
			}
		}
		for _, sub := range w.Groups[cur].Groups {
			if !seenGroup[sub] {
				seenGroup[sub] = true
				stack = append(stack, sub)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

// recomputeScope sets every Entra user's InScope from the assignments, the
// way Entra provisioning scopes "assigned users and groups": a user is in
// scope when assigned directly or a direct member of an assigned group.
// Members of groups nested in an assigned group are not: Entra does not
// support nested groups for application assignment or provisioning scope.
// https://learn.microsoft.com/entra/identity/enterprise-apps/assign-user-or-group-access-portal
// https://learn.microsoft.com/entra/identity/app-provisioning/how-provisioning-works (scoping)
// Permanently deleted users are never in scope.
func (w *World) recomputeScope() {
	for i := range w.Entra {
		w.Entra[i].InScope = false
	}
	for _, a := range w.Assignments {
		switch a.PrincipalType {
		case "User":
			w.Entra[a.Principal].InScope = true
		case "Group":
			for _, u := range w.Groups[a.Principal].Members {
				w.Entra[u].InScope = true
			}
		}
	}
	for i := range w.Entra {
		if w.Entra[i].Deleted == identity.HardDeleted {
			w.Entra[i].InScope = false
		}
	}
}

// scopeOf recomputes one user's scope from the assignments.
func (w *World) scopeOf(i int) bool {
	if w.Entra[i].Deleted == identity.HardDeleted {
		return false
	}
	for _, a := range w.Assignments {
		switch a.PrincipalType {
		case "User":
			if int(a.Principal) == i {
				return true
			}
		case "Group":
			for _, u := range w.Groups[a.Principal].Members {
				if int(u) == i {
					return true
				}
			}
		}
	}
	return false
}

// indexOIDs rebuilds the sorted object-id index.
func (w *World) indexOIDs() {
	w.byOID = make([]int32, len(w.Entra))
	for i := range w.byOID {
		w.byOID[i] = int32(i)
	}
	sort.Slice(w.byOID, func(a, b int) bool { return w.Entra[w.byOID[a]].ObjectID < w.Entra[w.byOID[b]].ObjectID })
}

// insertOID adds Entra user i (the last one) to the sorted index.
func (w *World) insertOID(i int) {
	oid := w.Entra[i].ObjectID
	k := sort.Search(len(w.byOID), func(k int) bool { return w.Entra[w.byOID[k]].ObjectID >= oid })
	w.byOID = append(w.byOID, 0)
	copy(w.byOID[k+1:], w.byOID[k:])
	w.byOID[k] = int32(i)
}

// usernameFor is the Salesforce Username Entra provisioning writes for a UPN
// (or a guest's mail): the value, plus the sandbox suffix in a sandbox.
func (w *World) usernameFor(upn string) string {
	if w.cfg.SandboxName == "" {
		return upn
	}
	return w.strs.add(upn, ".", strings.ToLower(w.cfg.SandboxName))
}

// SandboxSuffix is what a sandbox appends to production usernames ("" in
// production): "." plus the lower-cased sandbox name.
func (w *World) SandboxSuffix() string {
	if w.cfg.SandboxName == "" {
		return ""
	}
	return "." + strings.ToLower(w.cfg.SandboxName)
}
