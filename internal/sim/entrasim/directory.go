package entrasim

import (
	"fmt"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// prop is one user property the simulator stores. The bit mask of the props a
// change touched is kept in the change log so that a delta round only reports
// users whose *selected* properties changed: Graph documents that $select
// decides which property changes are tracked
// (https://learn.microsoft.com/graph/delta-query-users).
type prop uint8

const (
	pID prop = iota
	pDisplayName
	pGivenName
	pSurname
	pUPN
	pMail
	pAccountEnabled
	pUserType
	pJobTitle
	numProps
)

var propNames = [numProps]string{
	pID:             "id",
	pDisplayName:    "displayName",
	pGivenName:      "givenName",
	pSurname:        "surname",
	pUPN:            "userPrincipalName",
	pMail:           "mail",
	pAccountEnabled: "accountEnabled",
	pUserType:       "userType",
	pJobTitle:       "jobTitle",
}

type propMask uint16

const allProps propMask = 1<<numProps - 1

// defaultProps is what GET /v1.0/users returns without $select (v1.0 returns a
// fixed default set; accountEnabled and userType only when selected:
// https://learn.microsoft.com/graph/api/user-list).
const defaultProps propMask = 1<<pID | 1<<pDisplayName | 1<<pGivenName | 1<<pSurname | 1<<pUPN | 1<<pMail | 1<<pJobTitle

func parseSelect(s string) (propMask, error) {
	if s == "" {
		return defaultProps, nil
	}
	m := propMask(1 << pID) // Graph always returns id
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		found := false
		for p, n := range propNames {
			if strings.EqualFold(n, f) {
				m |= 1 << p
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("Could not find a property named '%s' on type 'microsoft.graph.user'.", f)
		}
	}
	return m, nil
}

func (m propMask) String() string {
	var parts []string
	for p := prop(0); p < numProps; p++ {
		if m&(1<<p) != 0 {
			parts = append(parts, propNames[p])
		}
	}
	return strings.Join(parts, ",")
}

type userState uint8

const (
	stActive userState = iota
	stSoftDeleted
	stHardDeleted
)

// user is the compact in-memory form of one directory user: about 300 bytes
// with its strings, so a million fit well under the 1.5 GiB budget.
type user struct {
	id, upn, mail, displayName, givenName, surname, userType, jobTitle string
	enabled                                                            bool
	state                                                              userState
	last                                                               int32 // index of the user's newest change-log entry, -1 if none
}

func (u *user) get(p prop) string {
	switch p {
	case pID:
		return u.id
	case pDisplayName:
		return u.displayName
	case pGivenName:
		return u.givenName
	case pSurname:
		return u.surname
	case pUPN:
		return u.upn
	case pMail:
		return u.mail
	case pUserType:
		return u.userType
	case pJobTitle:
		return u.jobTitle
	}
	return ""
}

func (u *user) entra(tenant string) identity.EntraUser {
	d := identity.NotDeleted
	switch u.state {
	case stSoftDeleted:
		d = identity.SoftDeleted
	case stHardDeleted:
		d = identity.HardDeleted
	}
	return identity.EntraUser{
		ObjectID: u.id, TenantID: tenant, UPN: u.upn, Mail: u.mail, DisplayName: u.displayName,
		GivenName: u.givenName, Surname: u.surname, AccountEnabled: u.enabled, Deleted: d, UserType: u.userType,
	}
}

func fromEntra(e identity.EntraUser, id string) user {
	ut := e.UserType
	if ut == "" {
		ut = "Member"
	}
	return user{id: id, upn: e.UPN, mail: e.Mail, displayName: e.DisplayName, givenName: e.GivenName,
		surname: e.Surname, userType: ut, enabled: e.AccountEnabled, last: -1}
}

// diff returns the props that differ between a and b.
func diff(a, b *user) propMask {
	var m propMask
	for p := pDisplayName; p < numProps; p++ {
		if p == pAccountEnabled {
			if a.enabled != b.enabled {
				m |= 1 << p
			}
			continue
		}
		if a.get(p) != b.get(p) {
			m |= 1 << p
		}
	}
	return m
}

type changeKind uint8

const (
	chCreate changeKind = iota + 1
	chUpdate
	chSoftDelete
	chRestore
	chHardDelete
)

// change is one entry of the directory's change log. Delta tokens are
// positions in this log; prev/next chain the entries of one user so a delta
// page can report each user once per round with the union of its changes.
type change struct {
	user int32
	prev int32 // previous entry of the same user, -1
	next int32 // next entry of the same user, -1
	mask propMask
	kind changeKind
}

type group struct {
	id, displayName string
	members         []member
	memberSet       map[string]struct{}
}

type member struct {
	id      string
	isGroup bool
}

type assignment struct {
	id            string
	appRoleID     string
	principalID   string
	principalType string // "User" or "Group"
	principalName string
	created       string
}

type servicePrincipal struct {
	id          string
	app         *App
	assignments []assignment
}
