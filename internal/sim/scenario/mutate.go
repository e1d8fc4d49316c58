package scenario

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// ChangeKind is what a mutation did to an Entra user.
type ChangeKind uint8

const (
	ChangeCreated     ChangeKind = iota + 1 // AddUser
	ChangeUpdated                           // RenameUPN, Disable, Enable
	ChangeSoftDeleted                       // SoftDelete: delta "@removed": {"reason": "changed"}
	ChangeHardDeleted                       // HardDelete: delta "@removed": {"reason": "deleted"}
	ChangeRestored                          // Restore from the recycle bin
	ChangeScope                             // Reassign: app-role assignment added or removed
)

var changeKindNames = [...]string{"", "created", "updated", "soft-deleted", "hard-deleted", "restored", "scope"}

func (k ChangeKind) String() string {
	if int(k) < len(changeKindNames) && k > 0 {
		return changeKindNames[k]
	}
	return fmt.Sprintf("change(%d)", uint8(k))
}

// Prop is a set of Graph user properties a change touched. Graph delta
// tracks only the properties in $select, so the simulator can drop changes
// none of whose properties were selected.
type Prop uint16

const (
	PropUserPrincipalName Prop = 1 << iota
	PropMail
	PropAccountEnabled
	PropDisplayName
	PropGivenName
	PropSurname
	PropUserType
	// PropAppRoleAssignments is no user property: scope changes show in the
	// service principal's appRoleAssignedTo, not in users/delta.
	PropAppRoleAssignments
)

// propNames are the Graph property names, in bit order.
var propNames = []string{"userPrincipalName", "mail", "accountEnabled", "displayName", "givenName", "surname", "userType", "appRoleAssignments"}

// Names returns the Graph property names in the set.
func (p Prop) Names() []string {
	var out []string
	for i, n := range propNames {
		if p&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// allUserProps is what a created or restored user carries.
const allUserProps = PropUserPrincipalName | PropMail | PropAccountEnabled | PropDisplayName | PropGivenName | PropSurname | PropUserType

// Change is one entry of the world's change log.
type Change struct {
	Version  uint64 // strictly increasing, starting at 2 (the generated world is version 1)
	Kind     ChangeKind
	Entra    int32 // index into World.Entra
	ObjectID string
	Props    Prop
	At       time.Time
}

// Tombstone is a permanently deleted Entra user.
type Tombstone struct {
	Entra    int32
	ObjectID string
	// Version of the HardDelete; 0 for users deleted before the world was
	// generated (a first delta round never reports those).
	Version uint64
	At      time.Time
}

// Version is the world's current change version: 1 after Generate, +1 per
// mutation. A delta simulator hands it out in its deltaLink.
func (w *World) Version() uint64 { return w.version }

// Now is the world's clock: Config.Now at generation, moved by Advance.
func (w *World) Now() time.Time { return w.now }

// Advance moves the world's clock; mutations are stamped with it.
func (w *World) Advance(d time.Duration) {
	if d > 0 {
		w.now = w.now.Add(d)
	}
}

// Changes returns the whole change log, oldest first. Callers must not
// modify it.
func (w *World) Changes() []Change { return w.changes }

// Tombstones returns the permanently deleted users, oldest first.
func (w *World) Tombstones() []Tombstone { return w.tombs }

// ChangesSince returns, for every Entra user changed after version v, one
// change that sums up what happened since: the latest Version, Kind and At,
// the union of Props, and Kind ChangeCreated when the user did not exist at
// v (unless it was deleted again since). Users come in the order of their
// latest change, as Graph delta reports the latest state of each object once.
// Serve the user's current state from World.Entra (Deleted tells "@removed").
func (w *World) ChangesSince(v uint64) []Change {
	start := sort.Search(len(w.changes), func(k int) bool { return w.changes[k].Version > v })
	window := w.changes[start:]
	pos := map[int32]int{}
	var out []Change
	for _, c := range window {
		if k, ok := pos[c.Entra]; ok {
			prev := out[k]
			merged := c
			merged.Props |= prev.Props
			if prev.Kind == ChangeCreated && c.Kind != ChangeHardDeleted && c.Kind != ChangeSoftDeleted {
				merged.Kind = ChangeCreated
			}
			out[k].Entra = -1 // superseded: dropped below
			out = append(out, merged)
			pos[c.Entra] = len(out) - 1
			continue
		}
		out = append(out, c)
		pos[c.Entra] = len(out) - 1
	}
	kept := out[:0]
	for _, c := range out {
		if c.Entra >= 0 {
			kept = append(kept, c)
		}
	}
	return kept
}

func (w *World) record(i int, kind ChangeKind, props Prop) {
	w.version++
	w.changes = append(w.changes, Change{
		Version:  w.version,
		Kind:     kind,
		Entra:    int32(i),
		ObjectID: w.Entra[i].ObjectID,
		Props:    props,
		At:       w.now,
	})
}

// ErrNoSuchUser is returned by mutations given an unknown or permanently
// deleted object id.
var ErrNoSuchUser = errors.New("scenario: no such Entra user")

// ErrConflict is returned when a mutation is not possible in the user's
// current state (as Graph would refuse it).
var ErrConflict = errors.New("scenario: not possible in the user's current state")

// live finds a user that still exists (possibly soft-deleted).
func (w *World) live(oid string) (int, error) {
	i, ok := w.EntraIndex(oid)
	if !ok || w.Entra[i].Deleted == identity.HardDeleted {
		return -1, fmt.Errorf("%w: %q", ErrNoSuchUser, oid)
	}
	return i, nil
}

// RenameUPN changes a user's UPN (and mail, for members whose mail equals
// the UPN), as an admin does after a name change. Salesforce is left as it
// is: the Username goes stale. The new UPN must be in the tenant's domain
// and unused.
func (w *World) RenameUPN(oid, newUPN string) error {
	i, err := w.live(oid)
	if err != nil {
		return err
	}
	u := &w.Entra[i]
	if u.Deleted != identity.NotDeleted {
		return fmt.Errorf("%w: %s is deleted; restore it before renaming", ErrConflict, oid)
	}
	newUPN = strings.ToLower(strings.TrimSpace(newUPN))
	local, domain, ok := strings.Cut(newUPN, "@")
	if !ok || local == "" || (domain != w.Domain && domain != w.initialDomain()) {
		return fmt.Errorf("scenario: new UPN %q must be local@%s (a verified domain of the tenant)", newUPN, w.Domain)
	}
	if w.upnInUse(newUPN) {
		return fmt.Errorf("%w: UPN %q is already used by another user", ErrConflict, newUPN)
	}
	props := PropUserPrincipalName
	if u.Mail == u.UPN && !u.Guest() {
		u.Mail = newUPN
		props |= PropMail
	}
	u.UPN = newUPN
	w.record(i, ChangeUpdated, props)
	return nil
}

func (w *World) upnInUse(upn string) bool {
	for _, u := range w.Entra {
		if strings.EqualFold(u.UPN, upn) && u.Deleted != identity.HardDeleted {
			return true
		}
	}
	return false
}

// Disable sets accountEnabled to false. Salesforce keeps the user active
// until provisioning catches up, which the simulation never does by itself.
func (w *World) Disable(oid string) error { return w.setEnabled(oid, false) }

// Enable sets accountEnabled back to true.
func (w *World) Enable(oid string) error { return w.setEnabled(oid, true) }

func (w *World) setEnabled(oid string, enabled bool) error {
	i, err := w.live(oid)
	if err != nil {
		return err
	}
	if w.Entra[i].Deleted != identity.NotDeleted {
		return fmt.Errorf("%w: %s is deleted", ErrConflict, oid)
	}
	if w.Entra[i].AccountEnabled == enabled {
		return nil // Graph accepts the PATCH; nothing changes, nothing to report
	}
	w.Entra[i].AccountEnabled = enabled
	w.record(i, ChangeUpdated, PropAccountEnabled)
	return nil
}

// SoftDelete moves a user to the recycle bin (restorable for 30 days).
func (w *World) SoftDelete(oid string) error {
	i, err := w.live(oid)
	if err != nil {
		return err
	}
	if w.Entra[i].Deleted != identity.NotDeleted {
		return fmt.Errorf("%w: %s is already deleted", ErrConflict, oid)
	}
	w.Entra[i].Deleted = identity.SoftDeleted
	w.record(i, ChangeSoftDeleted, 0)
	return nil
}

// HardDelete permanently deletes a soft-deleted user, as deleting it from
// /directory/deletedItems does (a user must be soft-deleted first). Its
// app-role assignments and group memberships go with it.
// https://learn.microsoft.com/graph/api/directory-deleteditems-delete
func (w *World) HardDelete(oid string) error {
	i, err := w.live(oid)
	if err != nil {
		return err
	}
	if w.Entra[i].Deleted != identity.SoftDeleted {
		return fmt.Errorf("%w: %s is not in the recycle bin; SoftDelete it first", ErrConflict, oid)
	}
	w.Entra[i].Deleted = identity.HardDeleted
	w.dropAssignments(i)
	w.dropMemberships(i)
	w.Entra[i].InScope = false
	w.record(i, ChangeHardDeleted, 0)
	w.tombs = append(w.tombs, Tombstone{Entra: int32(i), ObjectID: w.Entra[i].ObjectID, Version: w.version, At: w.now})
	return nil
}

// Restore brings a soft-deleted user back with its UPN, assignments and
// memberships.
func (w *World) Restore(oid string) error {
	i, err := w.live(oid)
	if err != nil {
		return err
	}
	if w.Entra[i].Deleted != identity.SoftDeleted {
		return fmt.Errorf("%w: %s is not in the recycle bin", ErrConflict, oid)
	}
	w.Entra[i].Deleted = identity.NotDeleted
	w.record(i, ChangeRestored, allUserProps)
	return nil
}

// NewUser describes a user for AddUser.
type NewUser struct {
	Guest bool
	// Assign assigns the user to the app directly (in scope).
	Assign bool
	// Provision also creates the Salesforce user Entra provisioning would
	// (FederationIdentifier = oid, Username = UPN + sandbox suffix).
	Provision bool
}

// AddUser creates an Entra user with a seeded name and returns its index.
func (w *World) AddUser(spec NewUser) (int, error) {
	u := w.newEntraUser(w.rng, nil, spec.Guest)
	w.Entra = append(w.Entra, u)
	w.entra = append(w.entra, entraMeta{mess: MessClean})
	i := len(w.Entra) - 1
	w.insertOID(i)
	w.record(i, ChangeCreated, allUserProps)
	if spec.Assign {
		if err := w.Reassign(u.ObjectID, true); err != nil {
			return i, err
		}
	}
	if spec.Provision {
		w.provision(i)
	}
	return i, nil
}

// provision creates the Salesforce user Entra provisioning would create now.
func (w *World) provision(i int) {
	u := w.Entra[i]
	upn := u.UPN
	if u.Guest() {
		upn = u.Mail
	}
	id, _ := w.NewRecordID(prefixUser)
	sf := identity.SalesforceUser{
		ID:                   id,
		Username:             w.usernameFor(upn),
		FederationIdentifier: u.ObjectID,
		Email:                u.Mail,
		IsActive:             true,
		UserType:             "Standard",
		CreatedDate:          w.now,
		SystemModstamp:       w.now,
	}
	w.Salesforce = append(w.Salesforce, sf)
	w.sfRole = append(w.sfRole, RoleProvisioned)
	w.sfOwner = append(w.sfOwner, int32(i))
}

// Reassign puts a user in or out of the app's scope. In: a direct app-role
// assignment (nothing changes when already in scope). Out: its direct
// assignment is removed and it leaves every assigned group it is a direct
// member of, as an admin does to take access away.
func (w *World) Reassign(oid string, inScope bool) error {
	i, err := w.live(oid)
	if err != nil {
		return err
	}
	if w.Entra[i].InScope == inScope {
		return nil
	}
	if inScope {
		w.Assignments = append(w.Assignments, AppRoleAssignment{
			ID:              randomToken(w.rng, 32),
			PrincipalType:   "User",
			Principal:       int32(i),
			PrincipalID:     w.Entra[i].ObjectID,
			AppRoleID:       w.App.AppRoleID,
			CreatedDateTime: w.now,
		})
	} else {
		w.dropAssignments(i)
		for _, a := range w.Assignments {
			if a.PrincipalType == "Group" {
				w.Groups[a.Principal].Members = without(w.Groups[a.Principal].Members, int32(i))
			}
		}
	}
	w.Entra[i].InScope = w.scopeOf(i)
	w.record(i, ChangeScope, PropAppRoleAssignments)
	return nil
}

func (w *World) dropAssignments(i int) {
	kept := w.Assignments[:0]
	for _, a := range w.Assignments {
		if !(a.PrincipalType == "User" && int(a.Principal) == i) {
			kept = append(kept, a)
		}
	}
	w.Assignments = kept
}

func (w *World) dropMemberships(i int) {
	for g := range w.Groups {
		w.Groups[g].Members = without(w.Groups[g].Members, int32(i))
	}
}

func without(s []int32, v int32) []int32 {
	kept := s[:0]
	for _, x := range s {
		if x != v {
			kept = append(kept, x)
		}
	}
	return kept
}
