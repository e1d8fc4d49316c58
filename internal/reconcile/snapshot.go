package reconcile

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Snapshot is the input of Plan, filled one record at a time so that it can
// be streamed from the store without holding SDK objects or whole rows:
//
//	snap := reconcile.NewSnapshot()
//	err := st.ScanEntraUsers(ctx, snap.AddEntraUser)
//	err = st.ScanSalesforceUsers(ctx, snap.AddSalesforceUser)
//	... ScanAccountLinks/AddAccountLink, ScanLinks/AddLink,
//	    ScanRemoteLinks/AddRemoteLink, ScanObservations/AddObservation,
//	    ScanDecisions/AddDecision
//
// It keeps only the fields the decisions need, in compact records indexed by
// normalized keys (oid, lower-case username). Rows of providers that are not
// configured are kept but ignored by Plan. A Snapshot is not safe for
// concurrent Add calls.
type Snapshot struct {
	strs    *arena // every string a record holds
	entra   []entraRow
	entraBy *index // oid
	// deleted are permanently deleted Entra users: their identity is gone,
	// so they are not matched; kept to explain orphans.
	deleted map[string]struct{}
	sf      []sfRow
	sfByID  *index // record id
	sfByFed *index // normalized FederationIdentifier (GUIDs only)
	sfByKey *index // lower-case Username

	provs     map[string]*provState
	decisions map[decisionKey]identity.Decision
	intern    map[string]str // tenant ids, rules, store ids: a handful of repeated strings

	activeLinks int // idlink's active links, the safety limit's denominator

	pace gcPace // PaceGC
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	s := &Snapshot{
		strs:      newArena(),
		deleted:   map[string]struct{}{},
		provs:     map[string]*provState{},
		decisions: map[decisionKey]identity.Decision{},
		intern:    map[string]str{},
	}
	s.entraBy = newIndex(func(r int32) string { return s.strs.get(s.entra[r].oid) }, 0)
	s.sfByID = newIndex(func(r int32) string { return s.strs.get(s.sf[r].id) }, 0)
	s.sfByFed = newIndex(func(r int32) string { return s.strs.get(s.sf[r].fed) }, 0)
	s.sfByKey = newIndex(func(r int32) string { return s.strs.get(s.sf[r].userKey) }, 0)
	return s
}

func (s *Snapshot) entraIdx(oid string) (int32, bool) {
	i := s.entraBy.first(oid)
	return i, i >= 0
}

func (s *Snapshot) sfIdx(id string) (int32, bool) {
	i := s.sfByID.first(id)
	return i, i >= 0
}

// The same* functions return the str of a value the snapshot already holds,
// or store it: the many records naming one object id, Salesforce user or
// subject share one copy of it.

func (s *Snapshot) sameOID(oid string) str {
	if i, ok := s.entraIdx(oid); ok {
		return s.entra[i].oid
	}
	if r := s.sfByFed.first(oid); r >= 0 {
		return s.sf[r].fed
	}
	return s.strs.put(oid)
}

func (s *Snapshot) sameSF(id string) str {
	if i, ok := s.sfIdx(id); ok {
		return s.sf[i].id
	}
	return s.strs.put(id)
}

func (ps *provState) sameSub(sub string) str {
	if r := ps.tpalBySub.first(sub); r >= 0 {
		return ps.tpal[r].sub
	}
	if r := ps.remoteBySub.first(sub); r >= 0 {
		return ps.remote[r].sub
	}
	if r := ps.linksBySub.first(sub); r >= 0 {
		return ps.links[r].sub
	}
	if r := ps.obsBySub.first(sub); r >= 0 {
		return ps.obs[r].sub
	}
	return ps.strs.put(sub)
}

// sameUPN shares the Username of the Salesforce user the UPN names
// (Salesforce's side is loaded first, and provisioning copies the UPN).
func (s *Snapshot) sameUPN(upn string) str {
	found := str(0)
	s.sfByKey.each(foldKey(upn), func(r int32) bool {
		if s.strs.get(s.sf[r].username) == upn {
			found = s.sf[r].username
			return false
		}
		return true
	})
	if found != 0 || upn == "" {
		return found
	}
	return s.strs.put(upn)
}

// sameFold returns the str of foldKey(v): other when that is its value.
func (s *Snapshot) sameFold(v string, other str) str {
	k := foldKey(v)
	if k == s.strs.get(other) {
		return other
	}
	return s.strs.put(k)
}

const (
	eEnabled uint8 = 1 << iota
	eInScope
	eGuest
	eSoftDeleted
)

// Records come in two forms: rows, as the snapshot stores them (strs), and
// recs, as the planner reads them (strings, substrings of the arena).

type entraRow struct {
	oid, tid, upn, mailKey str
	flags                  uint8
}

type entraRec struct {
	oid, tid, upn, mailKey string
	flags                  uint8
	row                    int32 // in Snapshot.entra
}

func (s *Snapshot) entraAt(i int32) entraRec {
	r := &s.entra[i]
	return entraRec{oid: s.strs.get(r.oid), tid: s.strs.get(r.tid), upn: s.strs.get(r.upn), mailKey: s.strs.get(r.mailKey), flags: r.flags, row: i}
}

// activeFlags: enabled and not in the recycle bin.
func activeFlags(f uint8) bool { return f&eEnabled != 0 && f&eSoftDeleted == 0 }

func (e *entraRow) active() bool { return activeFlags(e.flags) }
func (e *entraRec) active() bool { return activeFlags(e.flags) }

type sfRow struct {
	created                             int64 // CreatedDate, Unix seconds; 0 when unknown
	id, username, userKey, fed, mailKey str
	hasFed                              bool // any FederationIdentifier, GUID or not
	active                              bool
	standard                            bool // UserType Standard or empty: not an integration/portal user
}

type sfRec struct {
	id, username, userKey, fed, mailKey string
	created                             int64
	hasFed, active, standard            bool
	row                                 int32 // in Snapshot.sf
}

func (s *Snapshot) sfAt(i int32) sfRec {
	r := &s.sf[i]
	return sfRec{id: s.strs.get(r.id), username: s.strs.get(r.username), userKey: s.strs.get(r.userKey), fed: s.strs.get(r.fed),
		mailKey: s.strs.get(r.mailKey), created: r.created, hasFed: r.hasFed, active: r.active, standard: r.standard, row: i}
}

// sfID is the record id of Salesforce user i (for sorting).
func (s *Snapshot) sfID(i int32) string { return s.strs.get(s.sf[i].id) }

// linkRow is a Link without its provider.
type linkRow struct {
	sub, sf, oid, tid str
	store             str // Identity_Link__c rows: the writing database (interned)
	rule              str // interned
	status            status
}

type linkRec struct {
	sub, sf, oid, tid string
	store             string
	rule              identity.Rule
	status            status
}

func (a *arena) linkRec(r *linkRow) linkRec {
	return linkRec{sub: a.get(r.sub), sf: a.get(r.sf), oid: a.get(r.oid), tid: a.get(r.tid), store: a.get(r.store),
		rule: identity.Rule(a.get(r.rule)), status: r.status}
}

// status is a LinkStatus in one byte.
type status uint8

const (
	stActive status = iota + 1
	stProposed
	stRevoked
)

var statusNames = [...]identity.LinkStatus{stActive: identity.LinkActive, stProposed: identity.LinkProposed, stRevoked: identity.LinkRevoked}

func statusOf(s identity.LinkStatus) (status, bool) {
	for c, n := range statusNames {
		if n == s && c != 0 {
			return status(c), true
		}
	}
	return 0, false
}

func (l linkRec) link(provider string) identity.Link {
	return identity.Link{Provider: provider, Subject: l.sub, SalesforceUserID: l.sf, ObjectID: l.oid,
		TenantID: l.tid, Rule: l.rule, Status: statusNames[l.status]}
}

type tpalRow struct{ sub, user str }
type obsRow struct{ sub, oid str }

// provState holds one provider's rows, each table with its indexes.
type provState struct {
	strs                     *arena // the snapshot's
	tpal                     []tpalRow
	tpalBySub, tpalByUser    *index
	obs                      []obsRow
	obsBySub, obsByOID       *index
	links                    []linkRow // idlink's link records
	linksBySub, linksByOID   *index
	remote                   []linkRow // Identity_Link__c rows
	remoteBySub, remoteByOID *index
	// conflicts: per subject, what the recorded observation conflicts say
	// (for the admin; the oids themselves are in obs).
	conflicts map[string][]string
}

func newProvState(strs *arena) *provState {
	ps := &provState{strs: strs}
	get := strs.get
	ps.tpalBySub = newIndex(func(r int32) string { return get(ps.tpal[r].sub) }, 0)
	ps.tpalByUser = newIndex(func(r int32) string { return get(ps.tpal[r].user) }, 0)
	ps.obsBySub = newIndex(func(r int32) string { return get(ps.obs[r].sub) }, 0)
	ps.obsByOID = newIndex(func(r int32) string { return get(ps.obs[r].oid) }, 0)
	ps.linksBySub = newIndex(func(r int32) string { return get(ps.links[r].sub) }, 0)
	ps.linksByOID = newIndex(func(r int32) string { return get(ps.links[r].oid) }, 0)
	ps.remoteBySub = newIndex(func(r int32) string { return get(ps.remote[r].sub) }, 0)
	ps.remoteByOID = newIndex(func(r int32) string { return get(ps.remote[r].oid) }, 0)
	return ps
}

func (ps *provState) rows() int { return len(ps.tpal) + len(ps.obs) + len(ps.links) + len(ps.remote) }

// tpalUser is the Salesforce user Salesforce signs sub in as.
func (ps *provState) tpalUser(sub string) (string, bool) {
	if r := ps.tpalBySub.first(sub); r >= 0 {
		return ps.strs.get(ps.tpal[r].user), true
	}
	return "", false
}

// tpalSubs appends to buf[:0] the subs that sign in as user, sorted.
func (ps *provState) tpalSubs(user string, buf []string) []string {
	buf = buf[:0]
	ps.tpalByUser.each(user, func(r int32) bool { buf = append(buf, ps.strs.get(ps.tpal[r].sub)); return true })
	slices.Sort(buf)
	return buf
}

func (ps *provState) hasTPAL(user string) bool { return ps.tpalByUser.first(user) >= 0 }

// obsOIDs appends to buf[:0] the oids observed with sub, sorted.
func (ps *provState) obsOIDs(sub string, buf []string) []string {
	buf = buf[:0]
	ps.obsBySub.each(sub, func(r int32) bool { buf = append(buf, ps.strs.get(ps.obs[r].oid)); return true })
	slices.Sort(buf)
	return buf
}

// obsSubs appends to buf[:0] the subs observed with oid, sorted.
func (ps *provState) obsSubs(oid string, buf []string) []string {
	buf = buf[:0]
	ps.obsByOID.each(oid, func(r int32) bool { buf = append(buf, ps.strs.get(ps.obs[r].sub)); return true })
	slices.Sort(buf)
	return buf
}

func (ps *provState) link(sub string) (linkRec, bool) {
	if r := ps.linksBySub.first(sub); r >= 0 {
		return ps.strs.linkRec(&ps.links[r]), true
	}
	return linkRec{}, false
}

func (ps *provState) remoteLink(sub string) (linkRec, bool) {
	if r := ps.remoteBySub.first(sub); r >= 0 {
		return ps.strs.linkRec(&ps.remote[r]), true
	}
	return linkRec{}, false
}

// linkSubs appends to buf[:0] the subjects of links and Identity_Link__c
// rows that name oid, sorted, without repeats.
func (ps *provState) linkSubs(oid string, buf []string) []string {
	buf = buf[:0]
	ps.linksByOID.each(oid, func(r int32) bool { buf = append(buf, ps.strs.get(ps.links[r].sub)); return true })
	ps.remoteByOID.each(oid, func(r int32) bool { buf = append(buf, ps.strs.get(ps.remote[r].sub)); return true })
	slices.Sort(buf)
	return slices.Compact(buf)
}

type decisionKey struct{ provider, sub, sf, oid string }

func (s *Snapshot) prov(name string) *provState {
	p := s.provs[name]
	if p == nil {
		p = newProvState(s.strs)
		s.provs[name] = p
	}
	return p
}

func (s *Snapshot) internStr(v string) str {
	if x, ok := s.intern[v]; ok {
		return x
	}
	x := s.strs.put(v)
	if len(s.intern) < 1024 {
		s.intern[v] = x
	}
	return x
}

// AddEntraUser adds one Entra user. Its signature fits Store.ScanEntraUsers.
func (s *Snapshot) AddEntraUser(u identity.EntraUser) error {
	oid, ok := identity.NormalizeGUID(u.ObjectID)
	if !ok {
		return fmt.Errorf("entra user %q: object id %q is not a GUID: the snapshot is damaged, run a backfill", u.UPN, u.ObjectID)
	}
	if _, dup := s.entraIdx(oid); dup {
		return fmt.Errorf("entra user %s appears twice in the snapshot", oid)
	}
	if _, dup := s.deleted[oid]; dup {
		return fmt.Errorf("entra user %s appears twice in the snapshot", oid)
	}
	if u.Deleted == identity.HardDeleted {
		// Gone for good (not restorable): what it left in Salesforce is
		// judged as orphaned, as if it never existed.
		s.deleted[oid] = struct{}{}
		return nil
	}
	r := entraRow{oid: s.sameOID(oid), tid: s.internStr(strings.ToLower(u.TenantID)), upn: s.sameUPN(strings.TrimSpace(u.UPN))}
	r.mailKey = s.sameFold(u.Mail, r.upn)
	if u.AccountEnabled {
		r.flags |= eEnabled
	}
	if u.InScope {
		r.flags |= eInScope
	}
	if u.Guest() {
		r.flags |= eGuest
	}
	switch u.Deleted {
	case identity.NotDeleted:
	case identity.SoftDeleted:
		r.flags |= eSoftDeleted
	default:
		return fmt.Errorf("entra user %s: unknown deletion state %q", oid, u.Deleted)
	}
	s.entra = appendRow(s.entra, r)
	s.entraBy.add(int32(len(s.entra) - 1))
	s.paceIfLarge()
	return s.strs.err
}

// AddSalesforceUser adds one Salesforce user. Its signature fits Store.ScanSalesforceUsers.
func (s *Snapshot) AddSalesforceUser(u identity.SalesforceUser) error {
	if u.ID == "" {
		return fmt.Errorf("salesforce user %q has no record id: the snapshot is damaged, run a backfill", u.Username)
	}
	if _, dup := s.sfIdx(u.ID); dup {
		return fmt.Errorf("salesforce user %s appears twice in the snapshot", u.ID)
	}
	fedRaw := strings.TrimSpace(u.FederationIdentifier)
	fed, _ := identity.NormalizeGUID(fedRaw)
	ut := u.UserType
	r := sfRow{id: s.strs.put(u.ID), username: s.strs.put(u.Username), hasFed: fedRaw != "", active: u.IsActive, standard: ut == "" || strings.EqualFold(ut, "Standard")}
	if fed != "" {
		r.fed = s.sameOID(fed)
	}
	r.userKey = s.sameFold(u.Username, r.username)
	r.mailKey = s.sameFold(u.Email, r.userKey)
	if !u.CreatedDate.IsZero() {
		r.created = u.CreatedDate.Unix()
	}
	s.sf = appendRow(s.sf, r)
	i := int32(len(s.sf) - 1)
	s.sfByID.add(i)
	if fed != "" {
		s.sfByFed.add(i)
	}
	if r.userKey != 0 {
		s.sfByKey.add(i)
	}
	s.paceIfLarge()
	return s.strs.err
}

// AddAccountLink adds one ThirdPartyAccountLink row. Its signature fits Store.ScanAccountLinks.
func (s *Snapshot) AddAccountLink(l identity.ThirdPartyAccountLink) error {
	if l.Provider == "" || l.RemoteIdentifier == "" || l.UserID == "" {
		return fmt.Errorf("ThirdPartyAccountLink %s: provider, remote identifier and user id are all required", l.ID)
	}
	p := s.prov(l.Provider)
	if user, dup := p.tpalUser(l.RemoteIdentifier); dup {
		if user == l.UserID {
			return nil
		}
		return fmt.Errorf("ThirdPartyAccountLink %s/%s appears twice, for users %s and %s", l.Provider, l.RemoteIdentifier, user, l.UserID)
	}
	p.tpal = appendRow(p.tpal, tpalRow{sub: p.sameSub(l.RemoteIdentifier), user: s.sameSF(l.UserID)})
	r := int32(len(p.tpal) - 1)
	p.tpalBySub.add(r)
	p.tpalByUser.add(r)
	return s.strs.err
}

func (s *Snapshot) linkRecord(l identity.Link, what string) (linkRow, error) {
	if l.Provider == "" || l.Subject == "" || l.SalesforceUserID == "" {
		return linkRow{}, fmt.Errorf("%s %s: provider, subject and Salesforce user id are all required", what, l.Key())
	}
	oid, ok := identity.NormalizeGUID(l.ObjectID)
	if !ok {
		return linkRow{}, fmt.Errorf("%s %s: object id %q is not a GUID", what, l.Key(), l.ObjectID)
	}
	st, ok := statusOf(l.Status)
	if !ok {
		return linkRow{}, fmt.Errorf("%s %s: unknown status %q (want active, proposed or revoked)", what, l.Key(), l.Status)
	}
	return linkRow{sub: s.prov(l.Provider).sameSub(l.Subject), sf: s.sameSF(l.SalesforceUserID), oid: s.sameOID(oid), tid: s.internStr(strings.ToLower(l.TenantID)),
		rule: s.internStr(string(l.Rule)), status: st}, nil
}

// AddLink adds one of idlink's current link records. Its signature fits Store.ScanLinks.
func (s *Snapshot) AddLink(l identity.Link) error {
	r, err := s.linkRecord(l, "link")
	if err != nil {
		return err
	}
	p := s.prov(l.Provider)
	if p.linksBySub.first(l.Subject) >= 0 {
		return fmt.Errorf("link %s appears twice in the snapshot", l.Key())
	}
	p.links = appendRow(p.links, r)
	p.linksBySub.add(int32(len(p.links) - 1))
	p.linksByOID.add(int32(len(p.links) - 1))
	if r.status == stActive {
		s.activeLinks++
	}
	return s.strs.err
}

// AddRemoteLink adds one Identity_Link__c row read from Salesforce. Its
// signature fits Store.ScanRemoteLinks.
func (s *Snapshot) AddRemoteLink(l identity.Link) error {
	r, err := s.linkRecord(l, "Identity_Link__c")
	if err != nil {
		return err
	}
	r.store = s.internStr(l.StoreID)
	p := s.prov(l.Provider)
	if p.remoteBySub.first(l.Subject) >= 0 {
		return fmt.Errorf("Identity_Link__c %s appears twice in the snapshot", l.Key())
	}
	p.remote = appendRow(p.remote, r)
	p.remoteBySub.add(int32(len(p.remote) - 1))
	p.remoteByOID.add(int32(len(p.remote) - 1))
	return s.strs.err
}

// AddObservation adds one (sub, oid) observation. Its signature fits Store.ScanObservations.
func (s *Snapshot) AddObservation(o identity.Observation) error {
	oid, ok := identity.NormalizeGUID(o.ObjectID)
	if !ok {
		return fmt.Errorf("observation %s/%s from %s: object id %q is not a GUID", o.Provider, o.Subject, o.Source, o.ObjectID)
	}
	if o.Provider == "" || o.Subject == "" {
		return fmt.Errorf("observation from %s: provider and subject are required", o.Source)
	}
	p := s.prov(o.Provider)
	dup := false
	p.obsBySub.each(o.Subject, func(r int32) bool { dup = s.strs.get(p.obs[r].oid) == oid; return !dup })
	if dup { // the same pair from another source
		return nil
	}
	p.obs = appendRow(p.obs, obsRow{sub: p.sameSub(o.Subject), oid: s.sameOID(oid)})
	p.obsBySub.add(int32(len(p.obs) - 1))
	p.obsByOID.add(int32(len(p.obs) - 1))
	return s.strs.err
}

// AddObservationConflict adds a recorded conflict: sub was seen with
// OtherObject after it had been bound to ObjectID. The other oid counts as an
// observation too, so that every identity involved is disputed and no link
// is made for the contested subject until an admin removes the wrong one.
// Its signature fits the elements of Store.ListObservationConflicts.
func (s *Snapshot) AddObservationConflict(c identity.ObservationConflict) error {
	if err := s.AddObservation(identity.Observation{Provider: c.Provider, Subject: c.Subject, ObjectID: c.OtherObject, Source: c.Source}); err != nil {
		return fmt.Errorf("observation conflict: %w", err)
	}
	p := s.prov(c.Provider)
	if p.conflicts == nil {
		p.conflicts = map[string][]string{}
	}
	p.conflicts[c.Subject] = append(p.conflicts[c.Subject], fmt.Sprintf("recorded conflict: bound to Entra user %s, then seen with %s (source %s, %s)",
		c.ObjectID, c.OtherObject, c.Source, c.SeenAt.UTC().Format("2006-01-02 15:04Z")))
	return nil
}

// AddDecision adds an admin decision on a proposed link. The latest decision
// for the same (provider, subject, Salesforce user, oid) wins; on equal times
// a rejection wins, so that the outcome does not depend on input order.
func (s *Snapshot) AddDecision(d identity.Decision) error {
	oid, ok := identity.NormalizeGUID(d.ObjectID)
	if !ok {
		return fmt.Errorf("decision on %s/%s: object id %q is not a GUID", d.Provider, d.Subject, d.ObjectID)
	}
	d.ObjectID = oid
	k := decisionKey{d.Provider, d.Subject, d.SalesforceUserID, oid}
	if cur, ok := s.decisions[k]; ok {
		if cur.At.After(d.At) || (cur.At.Equal(d.At) && !cur.Approved) {
			return nil
		}
	}
	s.decisions[k] = d
	return nil
}

// fit lets go of the spare room the rows and indexes grew into while the
// snapshot was loaded. Both double as they grow, so up to half of each is
// empty, and a plan holds the whole snapshot until its result is built: at
// a million identities the spare room was 75 MiB of the 503 MiB a plan held
// at its end (BenchmarkPlan's live-MiB). Called once,
// after the last Add; Adds after it still work (they grow again).
func (s *Snapshot) fit() {
	s.entra, s.sf = fitRows(s.entra), fitRows(s.sf)
	xs := []*index{s.entraBy, s.sfByID, s.sfByFed, s.sfByKey}
	for _, ps := range s.provs {
		ps.tpal, ps.obs, ps.links, ps.remote = fitRows(ps.tpal), fitRows(ps.obs), fitRows(ps.links), fitRows(ps.remote)
		xs = append(xs, ps.tpalBySub, ps.tpalByUser, ps.obsBySub, ps.obsByOID, ps.linksBySub, ps.linksByOID, ps.remoteBySub, ps.remoteByOID)
	}
	// Placing a million records again takes ~20 ms per index, nearly all
	// of it cache misses; the indexes are independent, and nothing else
	// runs between a load and its plan.
	next := make(chan *index, len(xs))
	for _, x := range xs {
		next <- x
	}
	close(next)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(xs)) {
		wg.Go(func() {
			for x := range next {
				x.fit()
			}
		})
	}
	wg.Wait()
}

// fitRows returns rows in a backing array of their length when more than
// an eighth of rows' capacity is spare, else rows.
func fitRows[T any](rows []T) []T {
	if cap(rows)-len(rows) <= cap(rows)/8 {
		return rows
	}
	fitted := make([]T, len(rows))
	adviseHugePages(fitted)
	copy(fitted, rows)
	return fitted
}

// appendRow appends r to rows like append, and advises a new backing array
// to use huge pages (adviseHugePages): records are looked up at random.
func appendRow[T any](rows []T, r T) []T {
	if len(rows) < cap(rows) {
		return append(rows, r)
	}
	grown := make([]T, len(rows), max(2*cap(rows), 16))
	adviseHugePages(grown)
	copy(grown, rows)
	return append(grown, r)
}
