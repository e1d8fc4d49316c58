package reconcile

import (
	"fmt"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// activeCase is one active, in-scope Entra user under one provider, as its
// assessment moves through the stages of assessActive. A stage that settles
// the assessment (a dispute, no subject yet) records it and returns false.
type activeCase struct {
	pi   int
	pc   *ProviderConfig
	ps   *provState
	e    *entraRec
	m    matchRes
	A    *sfRec // the matched Salesforce user (nil when none): &aRec
	aRec sfRec
	a    identity.Assessment
	ctx  identity.Link // what flags about this identity name

	live []linkState // this user's live links under the provider
	sub  string      // the resolved subject
	weak bool        // sub is known only from a suspected JIT duplicate
	sus  suspect
	ls   linkState // the state of sub's link records

	misrouted bool   // Salesforce's ThirdPartyAccountLink signs sub in as dupID
	dupID     string // the JIT duplicate
	dupRouted bool   // idlink's link is in place: sign-ins reach A, not dupID
}

// assessActive decides the situation of an active, in-scope Entra user for
// one provider, in stages: the match, the subject, the evidence that
// contradicts it, the evidence that binds it to someone else, and then what
// the link should be.
func (p *planner) assessActive(e *entraRec, m matchRes, pi int, disputeDetail string) {
	x := p.newCase(e, m, pi)
	if m.dispute != disputeNone {
		p.dispute(x, disputeDetail+"; existing links are left as they are")
		return
	}
	for _, stage := range []func(*activeCase) bool{p.matched, p.resolveSubject, p.contradictions, p.bindings, p.routing} {
		if !stage(x) {
			return
		}
	}
	p.decideLink(x)
	p.supersede(x)
	p.finishMisrouted(x)
	p.assessCase(x)
}

// newCase starts the case of e under provider pi in the planner's one case
// buffer: assessActive runs once per identity and provider, and a fresh
// allocation each time would be most of a million-user plan's garbage.
func (p *planner) newCase(e *entraRec, m matchRes, pi int) *activeCase {
	pc := &p.cfg.Providers[pi]
	x := &p.caseBuf
	*x = activeCase{pi: pi, pc: pc, ps: p.provs[pi], e: e, m: m,
		a:   identity.Assessment{Provider: pc.Name, ObjectID: e.oid, UPN: e.upn},
		ctx: identity.Link{Provider: pc.Name, ObjectID: e.oid, TenantID: e.tid}}
	if m.sf >= 0 {
		x.aRec = p.s.sfAt(m.sf)
		x.A = &x.aRec
		x.a.SalesforceUserID, x.a.SalesforceUsername = x.A.id, x.A.username
		x.ctx.SalesforceUserID = x.A.id
	}
	return x
}

// assessCase records x's assessment: its object id and UPN are its Entra
// user's, its Salesforce user the matched one.
func (p *planner) assessCase(x *activeCase) {
	u := none
	if x.A != nil {
		u = x.A.row
	}
	p.assess(x.a, x.e.row, u)
}

// dispute settles x as disputed: an admin decides.
func (p *planner) dispute(x *activeCase, detail string) {
	x.a.Situation, x.a.Detail = identity.Disputed, detail
	p.flag(FlagDispute, x.ctx, detail)
	p.assessCase(x)
}

// matched: without a matched Salesforce user the identity is unmatched
// (email candidates shown, never linked), or disputed when a link still
// points somewhere.
func (p *planner) matched(x *activeCase) bool {
	p.caseLive = p.liveLinks(x.ps, x.e.oid, p.caseLive)
	x.live = p.caseLive
	if x.A != nil {
		x.a.Rule = p.ruleLabel(x.m.rules)
		return true
	}
	if len(x.live) > 0 {
		ids := make([]string, len(x.live))
		for i, ls := range x.live {
			ids[i] = ls.base().sf
			if j, ok := p.s.sfIdx(ids[i]); ok {
				p.accounted[j] = true
			}
		}
		x.a.Subject = x.live[0].sub
		p.dispute(x, fmt.Sprintf("no match rule finds a Salesforce user any more, but a link points at %s; the link is kept until an admin decides", strings.Join(ids, ", ")))
		return false
	}
	x.a.Situation = identity.Unmatched
	x.a.Detail = "in scope, but no Salesforce user matches by the configured rules: provisioning has not created the account"
	if x.e.mailKey != "" {
		if c := p.emailCandidates(x.e.mailKey); len(c) > 0 {
			note := fmt.Sprintf("Salesforce user %s has the same email address: a candidate only (email never links); set its FederationIdentifier to the object id if it is this person", p.sfLabels(c))
			x.a.Detail += "; " + note
			x.ctx.SalesforceUserID = p.s.sfID(c[0])
			p.flag(FlagEmailCandidate, x.ctx, note)
		}
	}
	p.assessCase(x)
	return false
}

// resolveSubject finds the subject: computed for object-id and pairwise
// providers; for observed ones, the one subject the evidence gives (none:
// unlinked until the first sign-in; several: disputed). weak: the subject
// is known only from a suspected JIT duplicate (email and creation date), so
// it never links without an admin's approval, whatever rule matched.
func (p *planner) resolveSubject(x *activeCase) bool {
	switch x.pc.Strategy {
	case identity.StrategyObjectID:
		x.sub = x.e.oid
	case identity.StrategyPairwise:
		x.sub = x.pc.Pairwise.Subject(x.e.oid)
	case identity.StrategyObserved:
		subs := p.observedSubjects(x.pc.Name, x.ps, x.e, x.A, x.live)
		if x.sus, x.weak = p.suspectedSubject(x.pi, x.e, x.A, subs); x.weak {
			subs = []string{x.sus.sub}
		}
		switch len(subs) {
		case 0:
			p.withdrawProposals(x.pi, x.e, x.live, "")
			x.a.Situation = identity.Unlinked
			x.a.Detail = "matched; subject not known yet: it is learned at the user's first sign-in through the bridge (or from an import)"
			p.assessCase(x)
			return false
		case 1:
			x.sub = subs[0]
		default:
			p.dispute(x, fmt.Sprintf("several subjects are recorded for this user and provider (%s): one user has one subject per client; check the observations", strings.Join(subs, ", ")))
			return false
		}
	}
	x.a.Subject, x.ctx.Subject = x.sub, x.sub
	return true
}

// contradictions: a computed subject that an observation or a sign-in
// contradicts means a wrong recipe (strategy, sector identifier, salt).
func (p *planner) contradictions(x *activeCase) bool {
	if x.pc.Strategy == identity.StrategyObserved {
		return true // its subject is the evidence
	}
	p.strs = x.ps.obsSubs(x.e.oid, p.strs)
	for _, o := range p.strs {
		if o != x.sub {
			p.dispute(x, fmt.Sprintf("computed subject %s, but subject %s was observed for this user: check the provider's strategy, sector identifier and salt", x.sub, o))
			return false
		}
	}
	p.strs = x.ps.tpalSubs(x.A.id, p.strs)
	for _, o := range p.strs {
		if o != x.sub {
			p.dispute(x, fmt.Sprintf("computed subject %s, but Salesforce user %s signs in with subject %s: check the provider's strategy, sector identifier and salt", x.sub, x.A.id, o))
			return false
		}
	}
	return true
}

// bindings: evidence that binds the subject to another Entra user is never
// overwritten. With the observed strategy, a link that binds the subject to
// another active Entra user is such evidence; a link bound to an object that
// is gone, disabled or deleted (whose links this plan revokes anyway), or a
// computed subject (which belongs to this oid by construction), is taken
// over: re-pointed to this user in one step instead of revoked now and
// created next run.
func (p *planner) bindings(x *activeCase) bool {
	sub, e := x.sub, x.e
	p.strs = x.ps.obsOIDs(sub, p.strs)
	for _, o := range p.strs {
		if o != e.oid {
			detail := fmt.Sprintf("subject %s was also observed for Entra user %s: a subject belongs to one user; never overwritten, resolve the conflicting observation", sub, o)
			if ev := x.ps.conflicts[sub]; len(ev) > 0 {
				detail += " (" + strings.Join(ev, "; ") + "; 'idlink observations delete' removes the wrong one)"
			}
			p.dispute(x, detail)
			return false
		}
	}
	ls := p.state(x.ps, sub)
	x.ls = ls
	observed := x.pc.Strategy == identity.StrategyObserved
	if observed && p.keepsContested(ls) {
		p.dispute(x, fmt.Sprintf("idlink's link and Salesforce's Identity_Link__c name different Entra users (%s, %s) for subject %s: fix the wrong one", ls.cur.oid, ls.rem.oid, sub))
		return false
	}
	if observed && (ls.curLive() && ls.cur.oid != e.oid && p.activeEntra(ls.cur.oid) ||
		ls.remActive() && ls.rem.oid != e.oid && p.activeEntra(ls.rem.oid)) {
		p.dispute(x, fmt.Sprintf("a link binds subject %s to another Entra user (%s): never overwritten; revoke it if it is wrong", sub, ls.base().oid))
		return false
	}
	if ls.hasCur && ls.cur.oid != e.oid || ls.hasRem && ls.rem.oid != e.oid {
		p.takenOver[x.pi][sub] = true
	}
	return true
}

// routing: Salesforce's own ThirdPartyAccountLink may sign the subject in as
// another user: a JIT duplicate (misrouted), or an account another Entra
// user matches (disputed).
func (p *planner) routing(x *activeCase) bool {
	uid, ok := x.ps.tpalUser(x.sub)
	if !ok || uid == x.A.id {
		return true
	}
	j, known := p.s.sfIdx(uid)
	if known && p.claimant[j] != noClaim {
		p.dispute(x, fmt.Sprintf("Salesforce signs subject %s in as %s, which another Entra user matches: resolve which account is this person's", x.sub, p.sfLabel(j)))
		return false
	}
	x.misrouted, x.dupID = true, uid
	if known {
		p.accounted[j] = true
	}
	return true
}

// linkGoal is what decideLink works out for x.
type linkGoal struct {
	desired        identity.Link
	auto           bool // the match links without an approval
	dec            identity.Decision
	approved       bool
	rejected       bool
	curOK, remOK   bool // idlink's record / Salesforce's row is already the desired link
	want           bool // the link should be active
	sameAsProposed bool // idlink's record is this very proposal, waiting
}

func (p *planner) goal(x *activeCase) linkGoal {
	A, e, ls := x.A, x.e, x.ls
	g := linkGoal{auto: x.m.rules&p.autoMask != 0 && !x.weak}
	var hasDec bool
	if !g.auto {
		g.dec, hasDec = p.s.decisions[decisionKey{x.pc.Name, x.sub, A.id, e.oid}]
	}
	g.approved, g.rejected = hasDec && g.dec.Approved, hasDec && !g.dec.Approved
	g.desired = identity.Link{Provider: x.pc.Name, Subject: x.sub, SalesforceUserID: A.id, ObjectID: e.oid, TenantID: e.tid,
		Rule: x.a.Rule, Status: identity.LinkActive}
	same := func(r linkRec, st status) bool {
		return r.status == st && r.sf == A.id && r.oid == e.oid && r.tid == e.tid
	}
	// The rule a link was made by is history, not state: a link to the same
	// user for the same object is correct whatever rule found it, and it
	// survives a narrowed auto-link policy.
	g.curOK = ls.hasCur && same(ls.cur, stActive)
	g.remOK = ls.hasRem && same(ls.rem, stActive)
	g.sameAsProposed = ls.hasCur && same(ls.cur, stProposed)
	g.want = g.auto || g.approved || g.curOK && !g.rejected
	return g
}

// decideLink plans what the link should be: kept, written, repaired,
// adopted, revoked after a rejection, or proposed to an admin.
func (p *planner) decideLink(x *activeCase) {
	g := p.goal(x)
	x.a.Situation = identity.Unlinked
	switch {
	case !x.A.active:
		x.a.Detail = "Salesforce user " + x.A.id + " is inactive: idlink never links to an inactive account"
		for _, l := range x.live {
			p.revoke(x.pc.Name, l, "Salesforce user "+l.base().sf+" is inactive")
		}
		p.flag(FlagInactive, x.ctx, "Entra user is active and in scope, but Salesforce user "+x.A.id+" is inactive")
	case g.want:
		p.keepLink(x, &g)
	case g.rejected:
		x.a.Detail = fmt.Sprintf("matched by %s only; an admin (%s) rejected the link: %s", x.a.Rule, g.dec.Actor, g.dec.Reason)
		if x.ls.curLive() || x.ls.remActive() {
			p.revoke(x.pc.Name, x.ls, decidedBy("rejected", g.dec))
		}
	default:
		p.proposeLink(x, &g)
	}
	// With the correct link in place in Salesforce, confirmUser routes the
	// misrouted sign-ins (finishMisrouted).
	x.dupRouted = g.curOK && g.remOK && g.want && x.A.active
}

// keepLink makes the desired link active: nothing to do when both records
// hold it, else an update, an adoption of Salesforce's row, or a create.
func (p *planner) keepLink(x *activeCase, g *linkGoal) {
	ls, A, e := x.ls, x.A, x.e
	desired := &g.desired
	switch {
	case g.auto:
		desired.Reason = p.text("matched by ", string(x.a.Rule), "")
	case g.approved:
		desired.Reason = decidedBy("approved", g.dec)
	default:
		desired.Reason = "kept: linked by an earlier run"
		desired.Rule = ls.cur.rule
	}
	switch {
	case g.curOK && g.remOK:
		x.a.Situation = identity.Linked
		x.a.Detail = "linked"
	case g.curOK:
		x.a.Detail = "link recorded by idlink but missing or different in Salesforce (Identity_Link__c): rewriting it"
		p.act(identity.Action{Kind: identity.ActionUpdateLink, Link: *desired, Reason: "repair Identity_Link__c in Salesforce"}, false)
	case ls.curActive():
		repoint := ls.cur.sf != A.id || ls.cur.oid != e.oid
		reason := "refresh the tenant of the link"
		switch {
		case ls.cur.oid != e.oid:
			reason = "take over the link of Entra user " + ls.cur.oid + " (gone, disabled, or not the owner of this computed subject)"
		case repoint:
			reason = "re-point from Salesforce user " + ls.cur.sf + " to " + A.id
		}
		x.a.Detail = "link updated: " + reason
		p.act(identity.Action{Kind: identity.ActionUpdateLink, Link: *desired, Reason: reason}, repoint)
	case !ls.hasCur && g.remOK:
		// Salesforce already holds exactly this link (a new database, or
		// rows of an adopted one): record it, write nothing.
		x.a.Situation = identity.Linked
		x.a.Detail = "linked: the existing Identity_Link__c is adopted into idlink's records"
		desired.Rule = ls.rem.rule
		desired.Reason = "adopted: " + desired.Reason
		p.act(identity.Action{Kind: identity.ActionAdoptLink, Link: *desired, Reason: desired.Reason}, false)
	default:
		x.a.Detail = p.text("link to be created: ", desired.Reason, "")
		// Over an active Identity_Link__c that names someone else this
		// re-points a live link: a disruptive change.
		overwrite := ls.remActive() && !g.remOK
		if overwrite {
			x.a.Detail = "link to be written over the Identity_Link__c that points at " + ls.rem.sf + ": " + desired.Reason
		}
		p.act(identity.Action{Kind: identity.ActionCreateLink, Link: *desired, Reason: desired.Reason}, overwrite)
		// A computed subject idlink never linked for this person before
		// (not a re-activation of their revoked link) counts toward the
		// create limit: a changed recipe makes many such at once.
		if x.pc.Strategy != identity.StrategyObserved && !(ls.hasCur && ls.cur.oid == e.oid) {
			p.buckets[kindIndex(identity.ActionCreateLink)].last().computed = true
		}
	}
}

// proposeLink asks an admin: the match (or the subject) is too weak to link
// by itself.
func (p *planner) proposeLink(x *activeCase, g *linkGoal) {
	ls, desired := x.ls, &g.desired
	rule := string(x.a.Rule)
	if !ls.hasCur && g.remOK {
		// A database without decisions (a move, a second deployment) meets
		// an active Identity_Link__c for exactly this match: keep it, and
		// propose it so that an admin can confirm it here.
		x.a.Detail = p.text("matched by ", rule, " only; an active Identity_Link__c already links it, but this database has no approval for it: import the decisions of the old database ('idlink links import-decisions') or approve it")
		desired.Status = identity.LinkProposed
		desired.Reason = p.text("matched by ", rule, " only; found active in Salesforce: approve to keep")
		p.act(identity.Action{Kind: identity.ActionProposeLink, Link: *desired, Reason: desired.Reason}, false)
		return
	}
	if ls.curActive() || ls.remActive() {
		// The link points elsewhere and the new match needs approval: the
		// old link is revoked (Salesforce too), the new one proposed. The
		// subject is this user's (a contested observed subject was disputed
		// before), so a contested link is revoked too.
		p.forceRevoke(x.pc.Name, ls, "replaced by a proposal: "+rule+" now matches Salesforce user "+x.A.id)
	} else if g.sameAsProposed {
		x.a.Detail = p.text("matched by ", rule, " only: proposed, waiting for an admin's approval")
		return
	}
	desired.Status = identity.LinkProposed
	desired.Reason = p.text("matched by ", rule, " only: approve to link")
	x.a.Detail = p.text("matched by ", rule, " only: link proposed to an admin (only oid matches link automatically)")
	if x.weak {
		desired.Rule = identity.RuleEmail // the evidence of the subject; an approval makes it a link by a.Rule
		desired.Reason = "suspected JIT duplicate " + p.s.sfID(x.sus.dup) + " holds this subject: approve to route it to " + x.A.id
		x.a.Detail = "link proposed to an admin: " + desired.Reason
	}
	p.act(identity.Action{Kind: identity.ActionProposeLink, Link: *desired, Reason: desired.Reason}, false)
}

// supersede revokes this user's links under other subjects (computed
// strategies; for observed ones several subjects were a dispute before).
func (p *planner) supersede(x *activeCase) {
	for _, l := range x.live {
		if l.sub != x.sub && x.A.active {
			p.revoke(x.pc.Name, l, "superseded: the subject for this provider is now "+x.sub)
		}
	}
}

// finishMisrouted marks an identity whose sub Salesforce signs in as a JIT
// duplicate: suspected (by email and date) or known (by a sign-in).
func (p *planner) finishMisrouted(x *activeCase) {
	switch {
	case x.misrouted && x.weak:
		x.a.Situation = identity.Misrouted
		note := p.suspectEvidence(x.sus, x.A)
		x.a.Detail = note + "; " + x.a.Detail
		dup := x.ctx
		dup.SalesforceUserID = x.dupID
		p.flag(FlagSuspectedDuplicate, dup, note)
	case x.misrouted:
		p.misrouted(&x.a, x.ctx, x.dupID, x.A, x.dupRouted, x.pc.RevokeAccountLinks)
	}
}
