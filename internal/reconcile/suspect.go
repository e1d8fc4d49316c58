package reconcile

import (
	"slices"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// suspect is a Salesforce user that looks like a JIT duplicate of an Entra
// user's provisioned account, found before anyone's sign-in told whose
// subject its ThirdPartyAccountLink holds.
type suspect struct {
	dup int32  // the duplicate Salesforce user
	sub string // the subject its ThirdPartyAccountLink holds
}

// ambiguousSuspect marks an Entra user with several suspected duplicates:
// none is proposed.
const ambiguousSuspect int32 = -1

// findSuspects looks, per observed-strategy provider, for Salesforce users
// that an earlier JIT sign-in created for a person who already had an
// account: active, no FederationIdentifier, matched by no Entra user,
// holding one ThirdPartyAccountLink of the provider whose subject no
// observation or live link explains, and sharing their email address with
// exactly one active matched user created before them. Email is evidence
// for an admin, never a rule: assessActive proposes the link and waits for
// an approval (see weak subjects there).
func (p *planner) findSuspects() {
	p.suspects = make([]map[string]suspect, len(p.provs))
	cands, byMail := p.suspectCandidates()
	for _, c := range cands {
		owner := p.olderOwner(c.dup, byMail[p.s.strs.get(p.s.sf[c.dup].mailKey)])
		if owner < 0 {
			continue
		}
		e := &p.s.entra[p.claimant[owner]]
		if !e.active() || p.match[p.claimant[owner]].dispute != disputeNone {
			continue
		}
		p.addSuspect(c.pi, p.s.strs.get(e.oid), suspect{dup: c.dup, sub: c.sub})
	}
}

// suspectCandidate is a Salesforce user that may be a JIT duplicate for
// provider pi: it holds exactly one unexplained subject, sub.
type suspectCandidate struct {
	dup int32
	pi  int
	sub string
}

// suspectCandidates returns the unmatched active users without a
// FederationIdentifier that hold one unexplained subject of an
// observed-strategy provider, and every Salesforce user sharing an email
// address with one of them, by email key.
func (p *planner) suspectCandidates() ([]suspectCandidate, map[string][]int32) {
	var cands []suspectCandidate
	wanted := map[string]bool{}
	var subs []string
	for i := range p.s.sf {
		u := &p.s.sf[i]
		if !u.active || u.hasFed || u.mailKey == 0 || u.created == 0 || p.claimant[i] != noClaim {
			continue
		}
		for pi, ps := range p.provs {
			if p.cfg.Providers[pi].Strategy != identity.StrategyObserved {
				continue
			}
			subs = ps.tpalSubs(p.s.strs.get(u.id), subs)
			if len(subs) != 1 || p.subjectExplained(ps, subs[0]) {
				continue
			}
			cands = append(cands, suspectCandidate{int32(i), pi, subs[0]})
			wanted[p.s.strs.get(u.mailKey)] = true
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	byMail := map[string][]int32{}
	for i := range p.s.sf {
		if k := p.s.strs.get(p.s.sf[i].mailKey); wanted[k] {
			byMail[k] = append(byMail[k], int32(i))
		}
	}
	return cands, byMail
}

// olderOwner returns the one active, matched Salesforce user among sameMail
// created before dup, or -1 when there is none or more than one.
func (p *planner) olderOwner(dup int32, sameMail []int32) int32 {
	d := &p.s.sf[dup]
	owner, n := int32(-1), 0
	for _, j := range sameMail {
		o := &p.s.sf[j]
		if j == dup || p.claimant[j] < 0 || !o.active || o.created == 0 || o.created >= d.created {
			continue
		}
		owner, n = j, n+1
	}
	if n != 1 {
		return -1
	}
	return owner
}

// addSuspect records sus for the Entra user oid; a second, different
// duplicate makes the user ambiguous, and then none is proposed.
func (p *planner) addSuspect(pi int, oid string, sus suspect) {
	m := p.suspects[pi]
	if m == nil {
		m = map[string]suspect{}
		p.suspects[pi] = m
	}
	if prev, ok := m[oid]; ok && prev.dup != sus.dup {
		m[oid] = suspect{dup: ambiguousSuspect}
		return
	}
	m[oid] = sus
}

// subjectExplained reports whether something other than a proposal says
// whose sub is: an observation, or an active link in idlink or Salesforce.
func (p *planner) subjectExplained(ps *provState, sub string) bool {
	if len(ps.obsOIDs(sub, p.strs)) > 0 {
		return true
	}
	ls := p.state(ps, sub)
	return ls.curActive() || ls.remActive()
}

// suspectedSubject returns the subject of e's suspected JIT duplicate for
// provider pi when it is the only subject known for e and nothing but an
// idlink proposal backs it (subs are the observed subjects).
func (p *planner) suspectedSubject(pi int, e *entraRec, A *sfRec, subs []string) (suspect, bool) {
	sus, ok := p.suspects[pi][e.oid]
	if !ok || sus.dup == ambiguousSuspect {
		return suspect{}, false
	}
	if len(subs) > 1 || len(subs) == 1 && subs[0] != sus.sub {
		return suspect{}, false
	}
	if d, ok := p.s.decisions[decisionKey{p.cfg.Providers[pi].Name, sus.sub, A.id, e.oid}]; ok && !d.Approved {
		// An admin said the duplicate is not this person's.
		return suspect{}, false
	}
	ps := p.provs[pi]
	if slices.Contains(ps.obsSubs(e.oid, p.strs), sus.sub) || slices.Contains(ps.tpalSubs(A.id, p.strs), sus.sub) || p.subjectExplained(ps, sus.sub) {
		return suspect{}, false
	}
	return sus, true
}

// suspectEvidence says why the duplicate is suspected, for the admin.
func (p *planner) suspectEvidence(sus suspect, A *sfRec) string {
	d := &p.s.sf[sus.dup]
	day := func(t int64) string { return time.Unix(t, 0).UTC().Format("2006-01-02") }
	var b strings.Builder
	b.WriteString("suspected JIT duplicate: Salesforce user " + p.sfLabel(sus.dup) + " (created " + day(d.created) + ", no FederationIdentifier, matched by no Entra user) ")
	b.WriteString("has the same email address as " + A.id + " (" + A.username + ", created " + day(A.created) + ") ")
	b.WriteString("and signs in with subject " + sus.sub + "; email is evidence, not proof: approve the proposed link if it is this person, so that confirmUser routes the sign-in to " + A.id)
	return b.String()
}
