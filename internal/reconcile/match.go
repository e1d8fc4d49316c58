package reconcile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Rule bits for matchRes.rules.
const (
	bitOID uint8 = 1 << iota
	bitUPN
)

func ruleBit(r identity.Rule) uint8 {
	switch r {
	case identity.RuleObjectID:
		return bitOID
	case identity.RuleUPN:
		return bitUPN
	}
	return 0
}

// Why a match is disputed.
const (
	disputeNone         uint8 = iota
	disputeSeveralOID         // several Salesforce users carry the user's oid as FederationIdentifier
	disputeSeveralUPN         // the UPN (or its rewrites) names several Salesforce users
	disputeRules              // oid points at one user, UPN at another
	disputeSharedTarget       // another Entra user matches the same Salesforce user
)

// matchRes is the outcome of matching one Entra user: 8 bytes, one per user.
type matchRes struct {
	sf      int32 // chosen Salesforce user index, -1 when none
	rules   uint8 // bits of the rules that found sf
	dispute uint8
}

const (
	noClaim       int32 = -1
	severalClaims int32 = -2
)

// matchAll matches every Entra user, then disputes Salesforce users claimed by
// more than one Entra user. Matching looks at all Entra users (also disabled,
// deleted and out-of-scope ones): their claims matter for deprovisioning and
// for detecting shared targets.
func (p *planner) matchAll() {
	s := p.s
	p.match = make([]matchRes, len(s.entra))
	p.claimant = make([]int32, len(s.sf))
	for i := range p.claimant {
		p.claimant[i] = noClaim
	}
	var buf []int32
	var keys []string
	var e entraRec
	for i := range s.entra {
		e = s.entraAt(int32(i))
		m := p.matchOne(&e, &buf, &keys)
		p.match[i] = m
		if m.dispute == disputeNone && m.sf >= 0 {
			switch p.claimant[m.sf] {
			case noClaim:
				p.claimant[m.sf] = int32(i)
			default:
				p.claimant[m.sf] = severalClaims
			}
		}
	}
	for i := range p.match {
		m := &p.match[i]
		if m.dispute == disputeNone && m.sf >= 0 && p.claimant[m.sf] == severalClaims {
			m.dispute = disputeSharedTarget
			if p.sharedBy == nil {
				p.sharedBy = map[int32][]string{}
			}
			p.sharedBy[m.sf] = append(p.sharedBy[m.sf], s.strs.get(s.entra[i].oid))
		}
	}
}

// ruleCandidates returns the Salesforce users rule r finds for e, sorted.
func (p *planner) ruleCandidates(e *entraRec, r identity.Rule, buf []int32, keys *[]string) []int32 {
	buf = buf[:0]
	switch r {
	case identity.RuleObjectID:
		buf = p.s.sfByFed.all(e.oid, buf)
	case identity.RuleUPN:
		*keys = upnKeys(e.upn, p.cfg.UPNRewrites, *keys)
		for _, k := range *keys {
			p.s.sfByKey.each(k, func(c int32) bool { buf = p.addUPNCandidate(buf, c); return true })
		}
	}
	if len(buf) > 1 {
		slices.SortFunc(buf, func(a, b int32) int { return strings.Compare(p.s.sfID(a), p.s.sfID(b)) })
	}
	return buf
}

// addUPNCandidate adds c unless it is already there or, when the oid rule is
// on, c carries an object id as FederationIdentifier: that account is claimed
// by the oid rule alone, so a reused or renamed UPN never takes it.
func (p *planner) addUPNCandidate(buf []int32, c int32) []int32 {
	if p.oidRule && p.s.sf[c].fed != 0 {
		return buf
	}
	if !slices.Contains(buf, c) {
		buf = append(buf, c)
	}
	return buf
}

func (p *planner) matchOne(e *entraRec, buf *[]int32, keys *[]string) matchRes {
	m := matchRes{sf: -1}
	for _, r := range p.cfg.Rules {
		*buf = p.ruleCandidates(e, r, *buf, keys)
		c := *buf
		switch {
		case len(c) == 0:
			continue
		case len(c) > 1:
			if r == identity.RuleObjectID {
				m.dispute = disputeSeveralOID
			} else {
				m.dispute = disputeSeveralUPN
			}
			return m
		}
		switch m.sf {
		case -1:
			m.sf = c[0]
			m.rules |= ruleBit(r)
		case c[0]:
			m.rules |= ruleBit(r)
		default:
			m.dispute = disputeRules
			return m
		}
	}
	return m
}

// candidatesOf lists every Salesforce user any rule finds for e (for disputes).
func (p *planner) candidatesOf(e *entraRec) []int32 {
	var all, buf []int32
	var keys []string
	for _, r := range p.cfg.Rules {
		buf = p.ruleCandidates(e, r, buf, &keys)
		for _, c := range buf {
			if !slices.Contains(all, c) {
				all = append(all, c)
			}
		}
	}
	slices.SortFunc(all, func(a, b int32) int { return strings.Compare(p.s.sfID(a), p.s.sfID(b)) })
	return all
}

func (p *planner) sfLabel(i int32) string {
	u := &p.s.sf[i]
	return fmt.Sprintf("%s (%s)", p.s.strs.get(u.id), p.s.strs.get(u.username))
}

func (p *planner) sfLabels(ids []int32) string {
	parts := make([]string, len(ids))
	for i, c := range ids {
		parts[i] = p.sfLabel(c)
	}
	return strings.Join(parts, ", ")
}

// disputeDetail explains a match dispute to an admin.
func (p *planner) disputeDetail(e *entraRec, m matchRes) string {
	c := p.candidatesOf(e)
	switch m.dispute {
	case disputeSeveralOID:
		return fmt.Sprintf("several Salesforce users carry this object id as FederationIdentifier: %s; clear it on the duplicates", p.sfLabels(c))
	case disputeSeveralUPN:
		return fmt.Sprintf("the userPrincipalName %q names several Salesforce users: %s; check the UPN suffix rewrites", e.upn, p.sfLabels(c))
	case disputeRules:
		return fmt.Sprintf("match rules disagree: the object id and the userPrincipalName point at different Salesforce users: %s; fix the FederationIdentifier or the Username", p.sfLabels(c))
	case disputeSharedTarget:
		var others []string
		for _, o := range p.sharedBy[m.sf] {
			if o != e.oid {
				others = append(others, o)
			}
		}
		slices.Sort(others)
		return fmt.Sprintf("Salesforce user %s is matched by several Entra users (also %s); fix the Username or FederationIdentifier", p.sfLabel(m.sf), strings.Join(others, ", "))
	}
	return "disputed"
}
