package reconcile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Result is the outcome of planning: one assessment per identity and
// provider, and the plan.
type Result struct {
	// Assessments: active Entra users in object id order (providers in
	// configured order), then disabled or soft-deleted ones in object id
	// order, then links of vanished Entra identities in
	// (provider, subject) order, then orphaned Salesforce users in record id
	// order. Orphaned Salesforce users belong to no provider: Provider "".
	Assessments Assessments
	// Actions in a deterministic order: revokes, updates, creates, proposals,
	// flags; within a kind in the order of Assessments.
	Actions []identity.Action
	// Disruptive are the indexes in Actions of the changes the safety limit
	// counts: revoking a link that is active (also to replace it by a
	// proposal), or re-pointing an active link.
	Disruptive []int
	// ActiveLinks is the number of idlink's active links before the plan.
	ActiveLinks int
	// Counts: "situation.<name>", "action.<kind>", "flag.<name>",
	// "entra.quiet" (disabled, deleted or out-of-scope users with nothing
	// active in Salesforce, not assessed), "entra.guest", "entra.no-upn",
	// "ignored.<what>" (rows of providers that are not configured).
	Counts map[string]int64
	// SalesforceOnly are the indexes in Actions of revokes of Identity_Link__c
	// rows idlink has no record of: Apply revokes them in Salesforce only.
	SalesforceOnly []int
	// StoreID is this database's id (Config.StoreID), for messages.
	StoreID string
	// Foreign counts, per database id, the active Identity_Link__c rows
	// another idlink database wrote (not adopted): they hold the run.
	Foreign map[string]int
	// ComputedCreates are the indexes in Actions of links created with a
	// computed subject (object-id, pairwise) that idlink never linked for
	// the person before: no sign-in or import proved them, so a mass of them
	// is held (Limits.MaxCreates).
	ComputedCreates []int
	// Kept tallies the assessments an incremental plan kept from an earlier
	// run for the identities no change reached (Keep); they are not in
	// Assessments but count for the coverage and the limits.
	Kept Kept
}

func (r *Result) remoteOnly(i int) bool {
	_, found := slices.BinarySearch(r.SalesforceOnly, i)
	return found
}

// WriteActions returns how many actions write something (all but flags).
func (r *Result) WriteActions() int {
	n := 0
	for _, a := range r.Actions {
		if a.Kind != identity.ActionFlag {
			n++
		}
	}
	return n
}

// SalesforceWrites is the number of actions that write an Identity_Link__c
// record: what Apply hands to the LinkWriter.
func (r *Result) SalesforceWrites() int {
	n := 0
	for _, a := range r.Actions {
		if writesIdentityLink(a.Kind) {
			n++
		}
	}
	return n
}

// writesIdentityLink: creates, updates and revokes are written to
// Salesforce's Identity_Link__c; proposals and adoptions only to the store.
func writesIdentityLink(k identity.ActionKind) bool {
	return k == identity.ActionCreateLink || k == identity.ActionUpdateLink || k == identity.ActionRevokeLink
}

// Admin flag names used in ActionFlag actions.
const (
	FlagDispute   = "dispute"
	FlagDuplicate = "duplicate" // misrouted: a JIT duplicate to retire
	// FlagSuspectedDuplicate: a JIT duplicate found by email and creation
	// date before anyone's sign-in; its link waits for an admin's approval.
	FlagSuspectedDuplicate = "suspected-duplicate"
	FlagOrphan             = "orphan"          // active Salesforce user with no Entra identity
	FlagEmailCandidate     = "email-candidate" // unmatched user with a same-email Salesforce user
	FlagAccountActive      = "account-still-active"
	FlagInactive           = "inactive-account" // matched Salesforce user is inactive
	FlagGuest              = "guest"
	FlagNoUPN              = "no-upn"
)

var kindOrder = []identity.ActionKind{identity.ActionRevokeLink, identity.ActionUpdateLink,
	identity.ActionCreateLink, identity.ActionAdoptLink, identity.ActionRevokeAccountLink, identity.ActionProposeLink, identity.ActionFlag}

func kindIndex(k identity.ActionKind) int { return slices.Index(kindOrder, k) }

type planner struct {
	cfg      Config
	s        *Snapshot
	oidRule  bool
	autoMask uint8
	provs    []*provState // per configured provider, never nil

	match    []matchRes
	claimant []int32 // per Salesforce user: the Entra user claiming it
	sharedBy map[int32][]string
	// accounted marks Salesforce users an Entra-side assessment speaks for;
	// the rest are candidates for orphaned.
	accounted []bool
	// leftover lists, per unaccounted Salesforce user, the links of vanished
	// identities revoked in this plan.
	leftover map[int32][]string
	// takenOver are subjects (per provider) of vanished identities whose
	// link an Entra user's plan rewrites.
	takenOver []map[string]bool

	assessments Assessments
	buckets     [7]chunks
	actions     plannedActions // what buckets' items need to be actions again
	situations  [7]int64
	flags       map[string]int64
	counts      map[string]int64

	strs   []string // scratch
	texts  map[[3]string]string
	byMail map[string][]int32
	// suspects are suspected JIT duplicates per provider, by the Entra
	// object id of the person whose account they duplicate.
	suspects []map[string]suspect
	foreign  map[string]int
	caseBuf  activeCase // reused by assessActive
	// Reused link lists: one per Entra user would be a million-user plan's
	// largest garbage. caseLive backs the current case's live links;
	// goneLive the other callers', which never run during a case.
	caseLive, goneLive []linkState
}

// Plan decides the situations and the plan. It is pure: the same snapshot and
// config give the same result, whatever the order records were added in.
func Plan(cfg Config, s *Snapshot) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("reconcile config: %w", err)
	}
	p := newPlanner(cfg, s)
	p.prepare()
	p.entraPass()
	p.vanishedLinks()
	p.orphanUsers()
	return p.result(), nil
}

// newPlanner sets up a planner for cfg (already valid) over s.
func newPlanner(cfg Config, s *Snapshot) *planner {
	p := &planner{cfg: cfg, s: s, flags: map[string]int64{}, counts: map[string]int64{}}
	for _, r := range cfg.Rules {
		if r == identity.RuleObjectID {
			p.oidRule = true
		}
	}
	for _, r := range cfg.AutoLink {
		p.autoMask |= ruleBit(r)
	}
	known := map[string]bool{}
	for _, pc := range cfg.Providers {
		known[pc.Name] = true
		ps := s.provs[pc.Name]
		if ps == nil {
			ps = newProvState(s.strs) // no rows: empty tables
		}
		p.provs = append(p.provs, ps)
		p.takenOver = append(p.takenOver, map[string]bool{})
	}
	for name, ps := range s.provs {
		if !known[name] {
			p.counts["ignored.provider-rows"] += int64(ps.rows())
		}
	}
	p.accounted = make([]bool, len(s.sf))
	// Most Entra users get one assessment per provider: size it once rather
	// than doubling a slice of large structs on the way up.
	p.assessments = newAssessments(s, len(s.entra)*len(cfg.Providers)+len(s.sf)/64+16)
	return p
}

// prepare works out what every assessment consults: foreign rows, each Entra
// user's match, the suspected JIT duplicates and the email index.
func (p *planner) prepare() {
	p.countForeign()
	p.matchAll()
	p.findSuspects()
	p.indexEmails()
}

// text joins a, b and c once per plan: a million identities share a few
// rule-derived reasons and details, and a string each is heap a plan keeps.
// For parts from small sets only (rules, constants, those reasons).
func (p *planner) text(a, b, c string) string {
	k := [3]string{a, b, c}
	if t, ok := p.texts[k]; ok {
		return t
	}
	if p.texts == nil {
		p.texts = map[[3]string]string{}
	}
	t := a + b + c
	p.texts[k] = t
	return t
}

// assess records a, whose object id and UPN are those of Entra row e and
// whose Salesforce user is row u (none: it names none).
func (p *planner) assess(a identity.Assessment, e, u int32) {
	p.situations[slices.Index(identity.Situations, a.Situation)]++
	p.assessments.add(a, e, u)
}

// planned is an action as the planner holds it until the result is
// assembled: the repeated strings (kind, provider, rule, status, flag,
// tenant) as numbers, 96 bytes instead of an identity.Action's 216. A
// million-identity plan holds ~400,000 of them while it holds everything
// else. An action they cannot say (a link with a time or a database id;
// more than 256 names) is kept whole in plannedActions.whole.
type planned struct {
	sub, sf, oid, linkReason, reason       string
	whole                                  int32 // index in plannedActions.whole + 1; 0: not whole
	kind, prov, rule, status, flag, tenant uint8
	disruptive                             bool
	remoteOnly                             bool // a revoke of a link only Salesforce has (no idlink record)
	computed                               bool // a create whose subject is computed, not observed
}

// plannedActions turns actions into planned ones and back.
type plannedActions struct {
	names numbered
	whole []identity.Action
}

func (c *plannedActions) encode(a identity.Action, disruptive bool) planned {
	l := &a.Link
	x := planned{sub: l.Subject, sf: l.SalesforceUserID, oid: l.ObjectID, linkReason: l.Reason, reason: a.Reason, disruptive: disruptive}
	ok := l.UpdatedAt.IsZero() && l.StoreID == "" &&
		c.names.number(string(a.Kind), &x.kind) && c.names.number(l.Provider, &x.prov) && c.names.number(string(l.Rule), &x.rule) &&
		c.names.number(string(l.Status), &x.status) && c.names.number(a.Flag, &x.flag) && c.names.number(l.TenantID, &x.tenant)
	if !ok {
		c.whole = append(c.whole, a)
		return planned{whole: int32(len(c.whole)), disruptive: disruptive}
	}
	return x
}

func (c *plannedActions) decode(x *planned) identity.Action {
	if x.whole > 0 {
		return c.whole[x.whole-1]
	}
	n := c.names.names
	return identity.Action{Kind: identity.ActionKind(n[x.kind]), Flag: n[x.flag], Reason: x.reason,
		Link: identity.Link{Provider: n[x.prov], Subject: x.sub, SalesforceUserID: x.sf, ObjectID: x.oid, TenantID: n[x.tenant],
			Rule: identity.Rule(n[x.rule]), Status: identity.LinkStatus(n[x.status]), Reason: x.linkReason}}
}

func (c *plannedActions) key(x *planned) identity.LinkKey {
	if x.whole > 0 {
		return c.whole[x.whole-1].Link.Key()
	}
	return identity.LinkKey{Provider: c.names.names[x.prov], Subject: x.sub}
}

func (p *planner) act(a identity.Action, disruptive bool) {
	k := kindIndex(a.Kind)
	p.buckets[k].add(p.actions.encode(a, disruptive))
	if a.Kind == identity.ActionFlag {
		p.flags[a.Flag]++
	}
}

func (p *planner) flag(name string, l identity.Link, reason string) {
	p.act(identity.Action{Kind: identity.ActionFlag, Flag: name, Link: l, Reason: reason}, false)
}

// entraPass assesses every Entra user that needs a situation, in object id order.
func (p *planner) entraPass() {
	s := p.s
	order := make([]int32, len(s.entra))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(s.strs.get(s.entra[a].oid), s.strs.get(s.entra[b].oid)) })
	var deferred []int32
	var e entraRec // one for the whole pass: the cases point at it
	defer func() {
		for _, i := range deferred {
			e = s.entraAt(i)
			p.gone(&e, p.match[i])
		}
	}()
	for _, i := range order {
		e = s.entraAt(i)
		m := p.match[i]
		if m.sf >= 0 {
			p.accounted[m.sf] = true
		}
		if m.dispute != disputeNone {
			for _, c := range p.candidatesOf(&e) {
				p.accounted[c] = true
			}
		}
		if !e.active() {
			// Decided after every active user, so that a link an active user
			// takes over is re-pointed rather than revoked.
			deferred = append(deferred, i)
			continue
		}
		if e.flags&eInScope == 0 {
			p.counts["entra.out-of-scope"]++
			if m.sf < 0 && m.dispute == disputeNone && !p.anyLiveLinks(e.oid) {
				// Not assigned and nothing in Salesforce: not idlink's business.
				p.counts["entra.quiet"]++
				continue
			}
		}
		if e.flags&eGuest != 0 {
			p.counts["entra.guest"]++
			p.flag(FlagGuest, identity.Link{ObjectID: e.oid, TenantID: e.tid}, "guest (B2B) user in scope of the Salesforce application: check that it should sign in")
		}
		if e.upn == "" {
			p.counts["entra.no-upn"]++
			p.flag(FlagNoUPN, identity.Link{ObjectID: e.oid, TenantID: e.tid}, "Entra user has no userPrincipalName: only the oid rule can match it")
		}
		var detail string
		if m.dispute != disputeNone {
			detail = p.disputeDetail(&e, m)
		}
		for pi := range p.cfg.Providers {
			p.assessActive(&e, m, pi, detail)
		}
	}
}

// linkState is what the snapshot knows about one (provider, subject).
type linkState struct {
	sub      string
	cur, rem linkRec
	hasCur   bool
	hasRem   bool
}

// liveLinks lists the subjects of provider ps that bind oid and are live: an
// active or proposed idlink link, or an active Identity_Link__c row. Sorted.
func (p *planner) liveLinks(ps *provState, oid string, out []linkState) []linkState {
	out = out[:0]
	p.strs = ps.linkSubs(oid, p.strs)
	for _, sub := range p.strs {
		ls := p.state(ps, sub)
		if ls.liveFor(oid) {
			out = append(out, ls)
		}
	}
	return out
}

func (p *planner) state(ps *provState, sub string) linkState {
	ls := linkState{sub: sub}
	ls.cur, ls.hasCur = ps.link(sub)
	ls.rem, ls.hasRem = ps.remoteLink(sub)
	return ls
}

func (ls linkState) curActive() bool { return ls.hasCur && ls.cur.status == stActive }
func (ls linkState) remActive() bool { return ls.hasRem && ls.rem.status == stActive }
func (ls linkState) curLive() bool {
	return ls.hasCur && (ls.cur.status == stActive || ls.cur.status == stProposed)
}
func (ls linkState) live() bool { return ls.curLive() || ls.remActive() }

// liveFor reports whether the live part of the link binds oid.
func (ls linkState) liveFor(oid string) bool {
	return ls.curLive() && ls.cur.oid == oid || ls.remActive() && ls.rem.oid == oid
}

// base is the link record to revoke: its live part, idlink's own record
// first.
func (ls linkState) base() linkRec {
	if ls.hasCur && (ls.curLive() || !ls.remActive()) {
		return ls.cur
	}
	return ls.rem
}

// contested reports whether idlink's record and the Salesforce row are both
// live but name different owners. Nobody revokes such a link: the users
// involved are disputed until an admin fixes one side.
func (ls linkState) contested() bool {
	return ls.curLive() && ls.remActive() && ls.cur.oid != ls.rem.oid
}

// keepsContested reports whether ls is a contested link that is left alone.
func (p *planner) keepsContested(ls linkState) bool {
	return ls.contested() && (p.known(ls.cur.oid) || p.known(ls.rem.oid))
}

// revoke plans marking a live link revoked (in idlink and in Salesforce).
// A contested link with a known owner is left alone (see contested).
// rejected reports whether an admin rejected the proposal ls for oid.
func (p *planner) rejected(provider string, ls linkState, oid string) bool {
	d, ok := p.s.decisions[decisionKey{provider, ls.sub, ls.cur.sf, oid}]
	return ok && !d.Approved
}

// decidedBy is the history text of an admin's decision: who, and why.
func decidedBy(verb string, d identity.Decision) string {
	if d.Reason == "" {
		return verb + " by " + d.Actor
	}
	return verb + " by " + d.Actor + ": " + d.Reason
}

// withdrawProposals revokes e's proposed links of provider pi whose subject
// is not keep (the one the evidence gives; "" when none): a suspected
// duplicate an admin rejected, or one no longer suspected. A proposal was
// never written to Salesforce, so withdrawing it disrupts nobody.
func (p *planner) withdrawProposals(pi int, e *entraRec, live []linkState, keep string) {
	name := p.cfg.Providers[pi].Name
	for _, ls := range live {
		if ls.sub == keep || !ls.hasCur || ls.cur.status != stProposed || ls.remActive() {
			continue
		}
		reason := "proposal withdrawn: nothing supports this subject any more"
		if d, ok := p.s.decisions[decisionKey{name, ls.sub, ls.cur.sf, e.oid}]; ok && !d.Approved {
			reason = decidedBy("rejected", d)
		}
		p.revoke(name, ls, reason)
	}
}

func (p *planner) revoke(provider string, ls linkState, reason string) {
	if p.keepsContested(ls) {
		return
	}
	p.forceRevoke(provider, ls, reason)
}

func (p *planner) forceRevoke(provider string, ls linkState, reason string) {
	l := ls.base().link(provider)
	l.Status = identity.LinkRevoked
	l.Reason = reason
	p.act(identity.Action{Kind: identity.ActionRevokeLink, Link: l, Reason: reason}, ls.curActive() || ls.remActive())
	if !ls.hasCur {
		p.buckets[kindIndex(identity.ActionRevokeLink)].last().remoteOnly = true
	}
}

// gone handles an Entra user that is disabled or soft-deleted (restorable):
// its live links are revoked. Permanently deleted users never get here: their
// identity is gone, so what they left is orphaned.
func (p *planner) gone(e *entraRec, m matchRes) {
	why := "Entra user disabled"
	if e.flags&eSoftDeleted != 0 {
		why = "Entra user deleted (in the recycle bin, restorable for 30 days)"
	}
	accounts, active := p.goneAccounts(e, m)
	quiet := true
	for pi := range p.cfg.Providers {
		if p.deprovision(pi, e, accounts, active, why) {
			quiet = false
		}
	}
	if quiet {
		p.counts["entra.quiet"]++
	}
}

// goneAccounts are the Salesforce users that speak for a gone identity (its
// match candidates and the targets of its observed subjects'
// ThirdPartyAccountLink rows), and the active ones among them by id.
func (p *planner) goneAccounts(e *entraRec, m matchRes) (accounts, active []int32) {
	if m.dispute == disputeNone {
		if m.sf >= 0 {
			accounts = append(accounts, m.sf)
		}
	} else {
		accounts = p.candidatesOf(e)
	}
	for pi := range p.cfg.Providers {
		ps := p.provs[pi]
		p.strs = ps.obsSubs(e.oid, p.strs)
		for _, sub := range p.strs {
			if uid, ok := ps.tpalUser(sub); ok {
				if j, ok := p.s.sfIdx(uid); ok && !slices.Contains(accounts, j) {
					accounts = append(accounts, j)
				}
			}
		}
	}
	for _, j := range accounts {
		p.accounted[j] = true
		if p.s.sf[j].active {
			active = append(active, j)
		}
	}
	slices.SortFunc(active, func(a, b int32) int { return strings.Compare(p.s.sfID(a), p.s.sfID(b)) })
	return accounts, active
}

// deprovision assesses a gone identity under provider pi: its live links
// are revoked (unless an active user took them over), and Salesforce users
// still active are flagged. It reports whether there was anything to say.
func (p *planner) deprovision(pi int, e *entraRec, accounts, active []int32, why string) bool {
	pc, ps := &p.cfg.Providers[pi], p.provs[pi]
	p.goneLive = p.liveLinks(ps, e.oid, p.goneLive)
	live := slices.DeleteFunc(p.goneLive, func(ls linkState) bool { return p.takenOver[pi][ls.sub] })
	if len(live) == 0 && len(active) == 0 {
		return false
	}
	a := identity.Assessment{Provider: pc.Name, Situation: identity.Deprovisioned, ObjectID: e.oid, UPN: e.upn}
	u := none
	if len(accounts) > 0 {
		u = accounts[0]
		rec := p.s.sfAt(u)
		a.SalesforceUserID, a.SalesforceUsername = rec.id, rec.username
	}
	for _, ls := range live {
		p.revoke(pc.Name, ls, why)
		a.Subject = ls.sub
	}
	switch {
	case len(live) > 0 && len(active) > 0:
		a.Detail = why + ": link revoked; Salesforce user " + p.sfLabels(active) + " is still active (Entra provisioning should deactivate it)"
	case len(live) > 0:
		a.Detail = why + ": link revoked"
	default:
		a.Detail = why + ": no link; Salesforce user " + p.sfLabels(active) + " is still active (Entra provisioning should deactivate it)"
	}
	for _, j := range active {
		id := p.s.sfID(j)
		p.flag(FlagAccountActive, identity.Link{Provider: pc.Name, SalesforceUserID: id, ObjectID: e.oid, TenantID: e.tid},
			why+" but Salesforce user "+id+" is active")
	}
	p.assess(a, e.row, u)
	return true
}

func (p *planner) known(oid string) bool {
	_, ok := p.s.entraIdx(oid)
	return ok
}

// activeEntra reports whether oid is an enabled, not deleted Entra user.
func (p *planner) activeEntra(oid string) bool {
	i, ok := p.s.entraIdx(oid)
	return ok && p.s.entra[i].active()
}

func (p *planner) anyLiveLinks(oid string) bool {
	for _, ps := range p.provs {
		if p.goneLive = p.liveLinks(ps, oid, p.goneLive); len(p.goneLive) > 0 {
			return true
		}
	}
	return false
}

// misrouted finishes the assessment of a subject whose ThirdPartyAccountLink
// signs the person in as dupID instead of their matched user A (a JIT
// duplicate). With the correct link in place in Salesforce (routed), the
// package's confirmUser sends every sign-in to A; the duplicate is left for
// an admin to retire, and Salesforce's wrong link is revoked when the admin
// allowed it (ProviderConfig.RevokeAccountLinks).
func (p *planner) misrouted(a *identity.Assessment, ctx identity.Link, dupID string, A *sfRec, routed, revoke bool) {
	a.Situation = identity.Misrouted
	dup := ctx
	dup.SalesforceUserID = dupID
	dupLabel := dupID
	if j, ok := p.s.sfIdx(dupID); ok {
		dupLabel = p.sfLabel(j)
	}
	var note string
	switch {
	case routed && revoke:
		note = "Salesforce's ThirdPartyAccountLink signs subject " + a.Subject + " in as " + dupLabel + " (a JIT duplicate); idlink's link routes sign-ins to " + A.id + " and this run revokes the wrong ThirdPartyAccountLink"
		revoked := dup
		revoked.Status, revoked.Reason = identity.LinkRevoked, "misrouted to JIT duplicate "+dupID+"; the correct link points at "+A.id
		p.act(identity.Action{Kind: identity.ActionRevokeAccountLink, Link: revoked, Reason: revoked.Reason}, true)
	case routed:
		note = "Salesforce's ThirdPartyAccountLink signs subject " + a.Subject + " in as " + dupLabel + " (a JIT duplicate); idlink's link routes sign-ins to " + A.id + " (the package's confirmUser)"
	default:
		note = "Salesforce signs subject " + a.Subject + " in as " + dupLabel + " instead of " + A.id + " (a JIT duplicate); once idlink's link is in Salesforce, the package's confirmUser routes sign-ins to " + A.id
	}
	a.Detail = note + "; " + a.Detail
	p.flag(FlagDuplicate, dup, "Salesforce user "+dupLabel+" duplicates "+A.id+" ("+A.username+"): move what it owns to "+A.id+", then deactivate it")
}

// observedSubjects gathers the subjects known for e under provider ps:
// observations of its oid, ThirdPartyAccountLink rows of its matched
// Salesforce user (a sign-in that already landed there), and its live links.
func (p *planner) observedSubjects(provider string, ps *provState, e *entraRec, A *sfRec, live []linkState) []string {
	var subs []string
	add := func(s string) {
		if !slices.Contains(subs, s) {
			subs = append(subs, s)
		}
	}
	p.strs = ps.obsSubs(e.oid, p.strs)
	for _, s := range p.strs {
		add(s)
	}
	p.strs = ps.tpalSubs(A.id, p.strs)
	for _, s := range p.strs {
		add(s)
	}
	// A proposal from a suspected duplicate (rule email: the subject is
	// known only from an email address and a creation date) is a question
	// to an admin, not evidence: once rejected, or no longer suspected, its
	// sub must not come back as this person's subject and link by itself.
	// A proposal an admin rejected is no evidence either, whatever its rule
	// (proposals recorded before the email rule marked them).
	for _, l := range live {
		if l.curActive() || l.remActive() || l.cur.rule != identity.RuleEmail && !p.rejected(provider, l, e.oid) {
			add(l.sub)
		}
	}
	slices.Sort(subs)
	return subs
}

// emailCandidates lists the Salesforce users whose email is mailKey, sorted.
func (p *planner) emailCandidates(mailKey string) []int32 {
	c := slices.Clone(p.byMail[mailKey])
	slices.SortFunc(c, func(x, y int32) int { return strings.Compare(p.s.sfID(x), p.s.sfID(y)) })
	return c
}

// indexEmails indexes by email only the Salesforce users whose address an
// unmatched user has: candidates are for the few unmatched users, and a
// tenant-wide email map would cost memory for a list admins read by hand.
func (p *planner) indexEmails() {
	p.byMail = map[string][]int32{}
	wanted := map[string]bool{}
	for i := range p.s.entra {
		e, m := &p.s.entra[i], p.match[i]
		if m.sf < 0 && m.dispute == disputeNone && e.active() && e.flags&eInScope != 0 && e.mailKey != 0 {
			wanted[p.s.strs.get(e.mailKey)] = true
		}
	}
	if len(wanted) == 0 {
		return
	}
	for i := range p.s.sf {
		if k := p.s.strs.get(p.s.sf[i].mailKey); wanted[k] {
			p.byMail[k] = append(p.byMail[k], int32(i))
		}
	}
}

func (p *planner) ruleLabel(bits uint8) identity.Rule {
	for _, r := range p.cfg.Rules {
		if bits&ruleBit(r) != 0 {
			return r
		}
	}
	return ""
}

// vanishedLinks revokes live links whose Entra object is not in the snapshot
// at all (purged, or never existed): orphaned identities.
func (p *planner) vanishedLinks() {
	p.leftover = map[int32][]string{}
	for pi, pc := range p.cfg.Providers {
		ps := p.provs[pi]
		var subs []string
		for _, rows := range [][]linkRow{ps.links, ps.remote} {
			for _, l := range rows {
				if !p.known(ps.strs.get(l.oid)) {
					subs = append(subs, ps.strs.get(l.sub))
				}
			}
		}
		slices.Sort(subs)
		subs = slices.Compact(subs)
		for _, sub := range subs {
			ls := p.state(ps, sub)
			if !ls.live() || p.takenOver[pi][sub] {
				continue
			}
			if ls.curLive() && p.known(ls.cur.oid) || ls.remActive() && p.known(ls.rem.oid) {
				// idlink and Salesforce disagree on the owner, and the other
				// owner exists: that user's assessment speaks for this link.
				continue
			}
			b := ls.base()
			gone := "does not exist in the tenant"
			if _, ok := p.s.deleted[b.oid]; ok {
				gone = "was permanently deleted"
			}
			p.revoke(pc.Name, ls, "Entra user "+b.oid+" "+gone)
			if j, ok := p.s.sfIdx(b.sf); ok && !p.accounted[j] {
				// The Salesforce user is the orphaned identity; orphanUsers
				// assesses it once, with its revoked links.
				p.leftover[j] = append(p.leftover[j], pc.Name+"/"+sub+" (Entra user "+b.oid+" "+gone+")")
				continue
			}
			a := identity.Assessment{Provider: pc.Name, Situation: identity.Orphaned, ObjectID: b.oid,
				SalesforceUserID: b.sf, Subject: sub, Rule: b.rule}
			if j, ok := p.s.sfIdx(b.sf); ok {
				a.SalesforceUsername = p.s.strs.get(p.s.sf[j].username)
			}
			a.Detail = "the Entra user " + b.oid + " of this link " + gone + ": link revoked"
			// Its object id is no Entra row's: kept whole.
			p.assess(a, none, none)
		}
	}
}

// orphanUsers reports Salesforce users no Entra identity speaks for.
// Decision (Config.Orphans, default provisioned): only users that look
// provisioned by Entra - a FederationIdentifier, or a link or
// ThirdPartyAccountLink of a configured provider - are orphan candidates, so
// that local admins and integration users are not flagged.
func (p *planner) orphanUsers() {
	s := p.s
	var order []int32
	for i := range s.sf {
		u := &s.sf[i]
		if p.accounted[i] {
			continue
		}
		if _, held := p.leftover[int32(i)]; !held {
			// Users holding a link of a vanished identity are always
			// assessed; others only when active and in the orphan scope.
			if !u.active {
				continue
			}
			if p.cfg.Orphans == OrphansAll && !u.standard {
				continue
			}
			if p.cfg.Orphans == OrphansProvisioned && !u.hasFed && !p.hasAccountLink(s.strs.get(u.id)) {
				continue
			}
		}
		order = append(order, int32(i))
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(s.sfID(a), s.sfID(b)) })
	for _, i := range order {
		u := s.sfAt(i)
		a := identity.Assessment{Situation: identity.Orphaned, SalesforceUserID: u.id, SalesforceUsername: u.username}
		_, deleted := s.deleted[u.fed]
		switch {
		case deleted:
			a.Detail = "active Salesforce user of the permanently deleted Entra user " + u.fed
		case u.fed != "":
			a.Detail = "active Salesforce user whose FederationIdentifier " + u.fed + " is no Entra user of this tenant"
		case u.hasFed:
			a.Detail = "active Salesforce user whose FederationIdentifier is not an Entra object id, and no Entra user matches it"
		default:
			a.Detail = "active Salesforce user that no Entra user matches"
		}
		if !u.active {
			a.Detail = "inactive Salesforce user that no Entra user matches"
		}
		if links := p.leftover[i]; len(links) > 0 {
			a.Detail += "; links revoked: " + strings.Join(links, ", ")
		}
		if u.active {
			a.Detail += ": deactivate it or fix its FederationIdentifier/Username"
			p.flag(FlagOrphan, identity.Link{SalesforceUserID: u.id}, a.Detail)
		}
		p.assess(a, none, i)
	}
}

func (p *planner) hasAccountLink(id string) bool {
	for _, ps := range p.provs {
		if ps.hasTPAL(id) {
			return true
		}
	}
	return false
}

// chunks is an append-only list in fixed-size blocks: at a million users a
// doubling slice of planned actions would copy itself and briefly hold
// twice its size.
type chunks struct {
	blocks [][]planned
	n      int
}

func (c *chunks) add(x planned) {
	if len(c.blocks) == 0 || len(c.blocks[len(c.blocks)-1]) == cap(c.blocks[len(c.blocks)-1]) {
		size := 16 // blocks double up to 4096: small plans stay small
		if len(c.blocks) > 0 {
			size = min(2*cap(c.blocks[len(c.blocks)-1]), 4096)
		}
		c.blocks = append(c.blocks, make([]planned, 0, size))
	}
	b := &c.blocks[len(c.blocks)-1]
	*b = append(*b, x)
	c.n++
}

func (c *chunks) last() *planned {
	b := c.blocks[len(c.blocks)-1]
	return &b[len(b)-1]
}

// drain visits every item like each and lets go of each block once visited:
// a plan's actions are then held once while they are copied, not twice.
func (c *chunks) drain(fn func(*planned)) {
	for i, b := range c.blocks {
		for j := range b {
			fn(&b[j])
		}
		c.blocks[i] = nil
	}
	*c = chunks{}
}

func (c *chunks) each(fn func(*planned)) {
	for _, b := range c.blocks {
		for i := range b {
			fn(&b[i])
		}
	}
}

// countForeign counts the active Identity_Link__c rows that another idlink
// database wrote and no admin adopted.
func (p *planner) countForeign() {
	own := map[string]bool{"": true, p.cfg.StoreID: true}
	for _, id := range p.cfg.AdoptedStores {
		own[id] = true
	}
	for _, ps := range p.provs {
		for _, l := range ps.remote {
			if store := ps.strs.get(l.store); l.status == stActive && !own[store] {
				if p.foreign == nil {
					p.foreign = map[string]int{}
				}
				p.foreign[store]++
			}
		}
	}
}

func (p *planner) result() *Result {
	r := &Result{Assessments: p.assessments, ActiveLinks: p.s.activeLinks, Counts: p.counts, Foreign: p.foreign, StoreID: p.cfg.StoreID}
	buckets, situations, flags, actions := p.buckets, p.situations, p.flags, p.actions
	// From here the planner's tables and the snapshot's lookup tables are
	// garbage (unless the caller holds the snapshot): the copy of the
	// actions below need not be held beside them. The assessments keep
	// only the snapshot's rows and strings.
	*p = planner{}
	// A key written by a create or update is not also revoked: the write
	// re-points it (a user taking over a link another identity held). A
	// proposal does not replace a revoke: it is not written to Salesforce,
	// where the old row must still be revoked.
	revoked := map[identity.LinkKey]bool{}
	buckets[kindIndex(identity.ActionRevokeLink)].each(func(pa *planned) { revoked[actions.key(pa)] = false })
	if len(revoked) > 0 {
		for _, kind := range []identity.ActionKind{identity.ActionCreateLink, identity.ActionUpdateLink} {
			buckets[kindIndex(kind)].each(func(pa *planned) {
				if _, ok := revoked[actions.key(pa)]; ok {
					revoked[actions.key(pa)] = true
				}
			})
		}
	}
	n := 0
	for _, b := range buckets {
		n += b.n
	}
	r.Actions = make([]identity.Action, 0, n)
	for k := range buckets {
		count := 0
		buckets[k].drain(func(pa *planned) {
			if kindOrder[k] == identity.ActionRevokeLink {
				// Skip revokes of keys a write re-points, and repeats: two
				// identities may both let go of one link.
				if done, ok := revoked[actions.key(pa)]; !ok || done {
					return
				}
				revoked[actions.key(pa)] = true
			}
			count++
			if pa.disruptive {
				r.Disruptive = append(r.Disruptive, len(r.Actions))
			}
			if pa.remoteOnly {
				r.SalesforceOnly = append(r.SalesforceOnly, len(r.Actions))
			}
			if pa.computed {
				r.ComputedCreates = append(r.ComputedCreates, len(r.Actions))
			}
			r.Actions = append(r.Actions, actions.decode(pa))
		})
		if count > 0 {
			r.Counts["action."+string(kindOrder[k])] = int64(count)
		}
	}
	for i, c := range situations {
		r.Counts[identity.SituationKey(identity.Situations[i])] = c
	}
	for f, c := range flags {
		r.Counts["flag."+f] = c
	}
	return r
}
