package scenario

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// nameCounters make mail local parts unique by construction: the n-th user
// with the same base gets the suffix n (from 2 on), as admins do by hand.
// Different kinds of local part have different shapes (given.surname,
// initial+surname, ...) so they cannot collide with each other.
type nameCounters map[string]uint32

func (c nameCounters) next(base string) string { return c.nextIn(base, "") }

// nextIn is next for local parts in another domain: the counter is kept per
// domain, the domain is not part of the result.
func (c nameCounters) nextIn(base, domain string) string {
	key := base
	if domain != "" {
		key = base + "@" + domain
	}
	n := c[key]
	c[key] = n + 1
	if n == 0 {
		return base
	}
	return base + strconv.FormatUint(uint64(n+1), 10)
}

// pcgStream is the second PCG word; any constant works, it only has to stay.
const pcgStream = 0x69646c696e6b0003

// Generate builds a world from cfg. The same Config always gives the same
// World, byte for byte; Config errors name the field and the fix.
func Generate(cfg Config) (*World, error) {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), pcgStream))
	cfg, err := cfg.withDefaults(func() string { return guid(rng, nil) })
	if err != nil {
		return nil, err
	}
	w := &World{
		TenantID:  cfg.TenantID,
		Domain:    cfg.Domain,
		Providers: cfg.Providers,
		cfg:       cfg,
		rng:       rng,
		strs:      &arena{},
		nextSF:    1_000_000,
		nextLink:  1_000_000,
		now:       cfg.Now,
		version:   1,
		counters:  nameCounters{},
	}
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint64(w.secret[i*8:], rng.Uint64())
	}
	w.App = Application{
		DisplayName:        "Salesforce",
		AppID:              guid(rng, nil),
		ServicePrincipalID: guid(rng, nil),
		AppRoleID:          guid(rng, nil),
	}
	g := &generator{w: w, rng: rng, a: w.strs, rates: *cfg.Rates}
	g.messes()
	g.entraUsers()
	g.scope()
	g.salesforce()
	g.signIns()
	w.indexOIDs()
	w.recomputeScope()
	return w, nil
}

type generator struct {
	w     *World
	rng   *rand.Rand
	a     *arena
	rates Rates

	messOf  []Mess
	created []time.Time // when each Entra user was created
	oldUPN  map[int32]string
	oldMail map[int32]string
	// provisioned and extra are the Salesforce indices made for each Entra
	// user (-1 none): the provisioned user and a JIT duplicate, second claim
	// or UPN-only user.
	provisioned, extra []int32
}

// count turns a rate into an exact count.
func count(rate float64, n int) int { return int(math.Round(rate * float64(n))) }

// messes deals out exactly round(rate × Users) users per Entra mess, the
// rest clean, in a seeded random order.
func (g *generator) messes() {
	n := g.w.cfg.Users
	rates := g.rates.entraRates()
	var counts [numEntraMess]int
	total := 0
	for m := MessSignedIn; m < numEntraMess; m++ {
		counts[m] = count(rates[m], n)
		total += counts[m]
	}
	// Rounding up many rates can overshoot by a few: take them back from the
	// largest mess.
	for total > n {
		big := MessSignedIn
		for m := MessSignedIn; m < numEntraMess; m++ {
			if counts[m] > counts[big] {
				big = m
			}
		}
		counts[big]--
		total--
	}
	g.messOf = make([]Mess, n)
	k := 0
	for m := MessSignedIn; m < numEntraMess; m++ {
		for j := 0; j < counts[m]; j++ {
			g.messOf[k] = m
			k++
		}
	}
	g.rng.Shuffle(n, func(i, j int) { g.messOf[i], g.messOf[j] = g.messOf[j], g.messOf[i] })
}

func (g *generator) between(from, to time.Time) time.Time {
	secs := int64(to.Sub(from) / time.Second)
	if secs <= 0 {
		return from
	}
	return from.Add(time.Duration(g.rng.Int64N(secs)) * time.Second)
}

// initialDomain is the tenant's contoso.onmicrosoft.com domain, where guest
// UPNs live.
func (w *World) initialDomain() string {
	label, _, _ := strings.Cut(w.Domain, ".")
	return label + ".onmicrosoft.com"
}

// displayNames interns "Given Surname" so that a million users share a few
// ten thousand strings.
type displayNames map[int]string

func (d displayNames) get(gi, si int) string {
	k := gi*len(surnames) + si
	s, ok := d[k]
	if !ok {
		s = givenNames[gi].display + " " + surnames[si].display
		d[k] = s
	}
	return s
}

// newEntraUser draws one user. Guests get an #EXT# UPN in the initial
// domain and their home address as mail, as B2B invitation creates them.
func (w *World) newEntraUser(rng *rand.Rand, names displayNames, guest bool) identity.EntraUser {
	gi, si := rng.IntN(len(givenNames)), rng.IntN(len(surnames))
	u := identity.EntraUser{
		ObjectID:       guid(rng, w.strs),
		TenantID:       w.TenantID,
		GivenName:      givenNames[gi].display,
		Surname:        surnames[si].display,
		AccountEnabled: true,
		UserType:       "Member",
	}
	if names != nil {
		u.DisplayName = names.get(gi, si)
	} else {
		u.DisplayName = givenNames[gi].display + " " + surnames[si].display
	}
	base := givenNames[gi].ascii + "." + surnames[si].ascii
	if !guest {
		u.UPN = w.strs.add(w.counters.next(base), "@", w.Domain)
		u.Mail = u.UPN
		return u
	}
	home := guestDomains[rng.IntN(len(guestDomains))]
	local := w.counters.nextIn(base, home)
	u.UserType = "Guest"
	u.Mail = w.strs.add(local, "@", home)
	u.UPN = w.strs.add(local, "_", home, "#EXT#@", w.initialDomain())
	return u
}

func (g *generator) entraUsers() {
	w, cfg := g.w, g.w.cfg
	n := cfg.Users
	w.Entra = make([]identity.EntraUser, n)
	w.entra = make([]entraMeta, n)
	g.created = make([]time.Time, n)
	g.oldUPN, g.oldMail = map[int32]string{}, map[int32]string{}
	names := displayNames{}
	// Users are created over the first 80% of the period, so that later
	// events (provisioning, sign-ins, renames) fit before Now.
	lastCreate := cfg.Epoch.Add(cfg.Now.Sub(cfg.Epoch) * 8 / 10)
	for i := 0; i < n; i++ {
		m := g.messOf[i]
		guest := m.guestAllowed() && g.rates.Guest > 0 && g.rng.Float64() < g.rates.Guest
		u := w.newEntraUser(g.rng, names, guest)
		switch m {
		case MessRenamedUPN:
			// The name the user had when provisioned: another surname, so
			// another UPN and mail. Both changed in Entra afterwards.
			si := g.rng.IntN(len(surnames))
			gi := indexOfGiven(u.GivenName)
			old := w.strs.add(w.counters.next(givenNames[gi].ascii+"."+surnames[si].ascii), "@", w.Domain)
			g.oldUPN[int32(i)], g.oldMail[int32(i)] = old, old
		case MessDisabled:
			u.AccountEnabled = false
		case MessSoftDeleted:
			u.Deleted = identity.SoftDeleted
		case MessHardDeleted:
			u.Deleted = identity.HardDeleted
		}
		w.Entra[i] = u
		w.entra[i] = entraMeta{mess: m}
		g.created[i] = g.between(cfg.Epoch, lastCreate)
		if m == MessHardDeleted {
			w.tombs = append(w.tombs, Tombstone{Entra: int32(i), ObjectID: u.ObjectID, Version: 0})
		}
	}
}

func indexOfGiven(display string) int {
	for i, n := range givenNames {
		if n.display == display {
			return i
		}
	}
	return 0
}

// scope builds groups and app-role assignments so that exactly the users
// whose mess is in scope are assigned: about one in ten directly, the others
// as direct members of an assigned group. NestedOnly users sit in a group
// nested inside an assigned group, which Entra does not cascade.
func (g *generator) scope() {
	w := g.w
	n := w.cfg.Users
	nAssigned := clamp(n/2500, 2, 400)
	nOther := clamp(n/5000, 1, 200)
	created := w.cfg.Epoch
	newGroup := func(name string) int32 {
		w.Groups = append(w.Groups, Group{ID: guid(g.rng, w.strs), DisplayName: name})
		return int32(len(w.Groups) - 1)
	}
	assign := func(kind string, principal int32, id string) {
		w.Assignments = append(w.Assignments, AppRoleAssignment{
			ID:              w.strs.add(randomToken(g.rng, 32)),
			PrincipalType:   kind,
			Principal:       principal,
			PrincipalID:     id,
			AppRoleID:       w.App.AppRoleID,
			CreatedDateTime: g.between(created, created.Add(30*24*time.Hour)),
		})
	}
	assigned := make([]int32, nAssigned)
	var nested []int32
	for k := range assigned {
		assigned[k] = newGroup(fmt.Sprintf("SG-Salesforce-Users-%03d", k+1))
		assign("Group", assigned[k], w.Groups[assigned[k]].ID)
		child := newGroup(fmt.Sprintf("SG-Salesforce-Users-%03d-Contractors", k+1))
		w.Groups[assigned[k]].Groups = append(w.Groups[assigned[k]].Groups, child)
		nested = append(nested, child)
		if k%2 == 1 {
			grandchild := newGroup(fmt.Sprintf("SG-Salesforce-Users-%03d-Contractors-Temp", k+1))
			w.Groups[child].Groups = append(w.Groups[child].Groups, grandchild)
			nested = append(nested, grandchild)
		}
	}
	other := make([]int32, nOther)
	for k := range other {
		other[k] = newGroup(fmt.Sprintf("SG-All-Staff-%03d", k+1))
	}
	for i := 0; i < n; i++ {
		m := g.messOf[i]
		switch {
		case m == MessHardDeleted:
			// Gone: no memberships, no assignments.
			continue
		case m == MessNestedOnly:
			grp := nested[g.rng.IntN(len(nested))]
			w.Groups[grp].Members = append(w.Groups[grp].Members, int32(i))
		case m.inScope():
			if g.rng.IntN(10) == 0 {
				assign("User", int32(i), w.Entra[i].ObjectID)
			} else {
				grp := assigned[g.rng.IntN(len(assigned))]
				w.Groups[grp].Members = append(w.Groups[grp].Members, int32(i))
			}
			if g.rng.IntN(5) == 0 {
				grp := other[g.rng.IntN(len(other))]
				w.Groups[grp].Members = append(w.Groups[grp].Members, int32(i))
			}
		default: // out of scope
			if g.rng.IntN(2) == 0 {
				grp := other[g.rng.IntN(len(other))]
				w.Groups[grp].Members = append(w.Groups[grp].Members, int32(i))
			}
		}
	}
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// sfPlan is a Salesforce user before it gets its id: ids follow creation
// time, so every user is planned first and numbered after sorting.
type sfPlan struct {
	created time.Time
	owner   int32
	role    Role
	user    identity.SalesforceUser
}

func (g *generator) salesforce() {
	w, cfg := g.w, g.w.cfg
	n := cfg.Users
	day := 24 * time.Hour
	plans := make([]sfPlan, 0, n+n/10+cfg.IntegrationUsers)
	add := func(created time.Time, owner int32, role Role, username, fed, email string) {
		plans = append(plans, sfPlan{created: created, owner: owner, role: role, user: identity.SalesforceUser{
			Username:             username,
			FederationIdentifier: fed,
			Email:                email,
			IsActive:             true,
			UserType:             "Standard",
		}})
	}
	latest := cfg.Now.Add(-day)
	for i := 0; i < cfg.IntegrationUsers; i++ {
		local := "idlink.integration"
		if i > 0 {
			local = "integration" + strconv.Itoa(i+1)
		}
		add(cfg.Epoch.Add(time.Duration(i)*time.Hour), -1, RoleIntegration, w.usernameFor(w.strs.add(local, "@", w.Domain)), "", w.strs.add("salesforce-admins@", w.Domain))
	}
	for i := 0; i < n; i++ {
		m, u, idx := g.messOf[i], w.Entra[i], int32(i)
		provAt := g.between(g.created[i], g.created[i].Add(3*day))
		switch {
		case m == MessUPNOnly:
			// Created by hand before provisioning was switched on; Entra's
			// matching never linked it, so it has no FederationIdentifier.
			add(provAt, idx, RoleUPNOnly, w.usernameFor(u.UPN), "", u.Mail)
			continue
		case !m.provisioned():
			continue
		}
		upn, mail := u.UPN, u.Mail
		if u.Guest() {
			upn = u.Mail // guests: the Username must be an address they own
		}
		if m == MessRenamedUPN {
			upn, mail = g.oldUPN[idx], g.oldMail[idx]
		}
		add(provAt, idx, RoleProvisioned, w.usernameFor(upn), u.ObjectID, mail)
		switch m {
		case MessJITDuplicate:
			// An OIDC sign-in before idlink: no ThirdPartyAccountLink, so the
			// registration handler JIT-created a user from the userinfo
			// (which carries no oid): new Username, no FederationIdentifier.
			jitAt := g.between(provAt.Add(day), minTime(provAt.Add(90*day), latest))
			add(jitAt, idx, RoleJITDuplicate, w.usernameFor(w.strs.add(u.Mail, ".jit")), "", u.Mail)
		case MessDuplicateFederationID:
			copyAt := g.between(provAt.Add(30*day), minTime(provAt.Add(300*day), latest))
			local, domain, _ := strings.Cut(upn, "@")
			add(copyAt, idx, RoleSecondClaim, w.usernameFor(w.strs.add(local, ".copy@", domain)), u.ObjectID, u.Mail)
		}
	}
	for i, k := 0, count(g.rates.ManualOrphan, n); i < k; i++ {
		gi, si := g.rng.IntN(len(givenNames)), g.rng.IntN(len(surnames))
		local := w.counters.next(givenNames[gi].ascii[:1] + surnames[si].ascii)
		addr := w.strs.add(local, "@", w.Domain)
		add(g.between(cfg.Epoch, latest), -1, RoleManualOrphan, w.usernameFor(addr), "", addr)
	}
	for i, k := 0, count(g.rates.LeftoverOrphan, n); i < k; i++ {
		gi, si := g.rng.IntN(len(givenNames)), g.rng.IntN(len(surnames))
		local := w.counters.nextIn(givenNames[gi].ascii+"."+surnames[si].ascii, leftoverDomain)
		addr := w.strs.add(local, "@", leftoverDomain)
		add(g.between(cfg.Epoch, latest), -1, RoleLeftoverOrphan, w.usernameFor(addr), guid(g.rng, w.strs), addr)
	}
	// Number users in creation order; ties keep plan order so the result
	// does not depend on the sort algorithm. Sorting indices, not the
	// 170-byte plans, keeps this cheap at a million users.
	order := make([]int32, len(plans))
	for k := range order {
		order[k] = int32(k)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := plans[a].created.Compare(plans[b].created); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})

	w.Salesforce = make([]identity.SalesforceUser, len(plans))
	w.sfRole = make([]Role, len(plans))
	w.sfOwner = make([]int32, len(plans))
	g.provisioned, g.extra = make([]int32, n), make([]int32, n)
	for i := range g.provisioned {
		g.provisioned[i], g.extra[i] = -1, -1
	}
	for k, pk := range order {
		p := &plans[pk]
		u := p.user
		u.ID = g.newID(prefixUser)
		u.CreatedDate = p.created
		u.SystemModstamp = g.between(p.created, cfg.Now)
		w.Salesforce[k] = u
		w.sfRole[k], w.sfOwner[k] = p.role, p.owner
		switch p.role {
		case RoleProvisioned:
			g.provisioned[p.owner] = int32(k)
		case RoleJITDuplicate, RoleSecondClaim, RoleUPNOnly:
			g.extra[p.owner] = int32(k)
		}
	}
}

func (g *generator) newID(prefix string) string {
	id, err := g.w.NewRecordID(prefix)
	if err != nil {
		panic(err) // the prefixes are constants
	}
	return id
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// signIns writes what earlier sign-ins left: ThirdPartyAccountLink rows,
// Identity_Link__c rows of an earlier idlink run, and bridge observations.
// Each signing-in user used one provider, drawn from the seed.
func (g *generator) signIns() {
	w, cfg := g.w, g.w.cfg
	day := 24 * time.Hour
	for i := range w.Entra {
		m := g.messOf[i]
		if m != MessSignedIn && m != MessLinked && m != MessJITDuplicate {
			continue
		}
		p := w.Providers[g.rng.IntN(len(w.Providers))]
		u := w.Entra[i]
		sub := w.strs.add(w.Subject(p.ClientID, u.ObjectID))
		target := g.provisioned[i]
		if m == MessJITDuplicate {
			target = g.extra[i]
		}
		sf := w.Salesforce[target]
		w.AccountLinks = append(w.AccountLinks, identity.ThirdPartyAccountLink{
			ID:               g.newID(prefixAccountLink),
			Provider:         p.Name,
			RemoteIdentifier: sub,
			UserID:           sf.ID,
		})
		switch m {
		case MessLinked:
			w.IdentityLinks = append(w.IdentityLinks, IdentityLinkRecord{
				ID: g.newID(prefixIdentityLink),
				Link: identity.Link{
					Provider:         p.Name,
					Subject:          sub,
					SalesforceUserID: sf.ID,
					ObjectID:         u.ObjectID,
					TenantID:         w.TenantID,
					Rule:             identity.RuleObjectID,
					Status:           identity.LinkActive,
					UpdatedAt:        g.between(sf.CreatedDate, cfg.Now),
				},
			})
		case MessJITDuplicate:
			first := g.between(sf.CreatedDate.Add(day), maxTime(sf.CreatedDate.Add(day), cfg.Now.Add(-day)))
			w.Observations = append(w.Observations, identity.Observation{
				Provider:  p.Name,
				Subject:   sub,
				ObjectID:  u.ObjectID,
				TenantID:  w.TenantID,
				ClientID:  p.ClientID,
				Source:    identity.SourceBridge,
				FirstSeen: first,
				LastSeen:  g.between(first, cfg.Now),
				Count:     1 + g.rng.Int64N(20),
			})
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
