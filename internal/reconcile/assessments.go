package reconcile

import (
	"iter"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Assessments are a plan's assessments in order. They are held compactly: a
// million identities get a million assessments, and as identity.Assessment
// values (nine strings, 144 bytes) they were the largest part of a plan.
// An assessment's object id and UPN are read back from the snapshot's Entra
// row they came from, its Salesforce id and username from the Salesforce
// row; provider, situation and rule are small numbers. Only the subject and
// the detail are kept as strings (most are the snapshot's or constants, so
// they cost no allocation). At returns exactly what was added: a value
// that does not come from the rows it names is kept whole (rare: the link
// of an identity that vanished from the tenant, or one added by Append).
//
// The zero value is empty and ready for Append.
type Assessments struct {
	rows  []assessRow
	whole map[int32]identity.Assessment // the rows marked whole, by position
	src   rowSource
	names numbered // providers, situations and rules
}

// rowSource is what the rows name: the snapshot's Entra and Salesforce rows
// and its strings. Rows are only appended to a snapshot, and the strings it
// hands out never change, so the assessments may outlive the plan.
type rowSource struct {
	entra []entraRow
	sf    []sfRow
	strs  *arena
}

type assessRow struct {
	entra, sf       int32 // the rows ObjectID and UPN, and SalesforceUserID and SalesforceUsername, are read from; -1: empty
	prov, sit, rule uint8 // numbers in names
	whole           bool  // the assessment is in Assessments.whole
	sub, detail     string
}

// none is the row number of an assessment without that side.
const none int32 = -1

func newAssessments(s *Snapshot, capacity int) Assessments {
	return Assessments{rows: make([]assessRow, 0, capacity), src: rowSource{entra: s.entra, sf: s.sf, strs: s.strs}}
}

// Len is the number of assessments.
func (as *Assessments) Len() int { return len(as.rows) }

// At returns assessment i.
func (as *Assessments) At(i int) identity.Assessment {
	r := &as.rows[i]
	if r.whole {
		return as.whole[int32(i)]
	}
	n := as.names.names
	a := identity.Assessment{Provider: n[r.prov], Situation: identity.Situation(n[r.sit]),
		Rule: identity.Rule(n[r.rule]), Subject: r.sub, Detail: r.detail}
	if r.entra != none {
		e := &as.src.entra[r.entra]
		a.ObjectID, a.UPN = as.src.strs.get(e.oid), as.src.strs.get(e.upn)
	}
	if r.sf != none {
		u := &as.src.sf[r.sf]
		a.SalesforceUserID, a.SalesforceUsername = as.src.strs.get(u.id), as.src.strs.get(u.username)
	}
	return a
}

// Situation returns assessment i's situation, without reading the rest.
func (as *Assessments) Situation(i int) identity.Situation {
	r := &as.rows[i]
	if r.whole {
		return as.whole[int32(i)].Situation
	}
	return identity.Situation(as.names.names[r.sit])
}

// All visits the assessments in order.
func (as *Assessments) All() iter.Seq2[int, identity.Assessment] {
	return func(yield func(int, identity.Assessment) bool) {
		for i := range as.rows {
			if !yield(i, as.At(i)) {
				return
			}
		}
	}
}

// Append adds a at the end.
func (as *Assessments) Append(a identity.Assessment) { as.add(a, none, none) }

// Set replaces assessment i by a (a run that applied a link changes where
// its identity stands).
func (as *Assessments) Set(i int, a identity.Assessment) {
	r := &as.rows[i]
	if r.whole {
		delete(as.whole, int32(i))
	}
	*r = as.encode(int32(i), a, r.entra, r.sf)
}

// add appends a, whose object id and UPN are Entra row e's and whose
// Salesforce id and username are Salesforce row u's (none: empty).
func (as *Assessments) add(a identity.Assessment, e, u int32) {
	as.rows = append(as.rows, as.encode(int32(len(as.rows)), a, e, u))
}

// encode makes a row for a as assessment i, read back from rows e and u
// where a says what they hold, else kept whole.
func (as *Assessments) encode(i int32, a identity.Assessment, e, u int32) assessRow {
	r := assessRow{entra: e, sf: u, sub: a.Subject, detail: a.Detail}
	ok := as.names.number(a.Provider, &r.prov) && as.names.number(string(a.Situation), &r.sit) && as.names.number(string(a.Rule), &r.rule)
	if e != none && e < int32(len(as.src.entra)) {
		row := &as.src.entra[e]
		ok = ok && a.ObjectID == as.src.strs.get(row.oid) && a.UPN == as.src.strs.get(row.upn)
	} else {
		r.entra = none
		ok = ok && a.ObjectID == "" && a.UPN == ""
	}
	if u != none && u < int32(len(as.src.sf)) {
		row := &as.src.sf[u]
		ok = ok && a.SalesforceUserID == as.src.strs.get(row.id) && a.SalesforceUsername == as.src.strs.get(row.username)
	} else {
		r.sf = none
		ok = ok && a.SalesforceUserID == "" && a.SalesforceUsername == ""
	}
	if ok {
		return r
	}
	if as.whole == nil {
		as.whole = map[int32]identity.Assessment{}
	}
	as.whole[i] = a
	// The rows stay named: a later Set may agree with them again.
	return assessRow{entra: r.entra, sf: r.sf, whole: true}
}

// numbered gives each of a handful of repeated strings (providers,
// situations, rules, kinds) a small number.
type numbered struct {
	names []string
	num   map[string]uint8
}

// number sets *n to name's number, adding it when new; false when there is
// no room (a plan has a handful of each).
func (m *numbered) number(name string, n *uint8) bool {
	if k, ok := m.num[name]; ok {
		*n = k
		return true
	}
	if len(m.names) > 255 {
		return false
	}
	if m.num == nil {
		m.num = map[string]uint8{}
	}
	*n = uint8(len(m.names))
	m.names = append(m.names, name)
	m.num[name] = *n
	return true
}

// CountSituations sets counts' situation counters ("situation.<name>") to
// the assessments', each there even when 0.
func (as *Assessments) CountSituations(counts map[string]int64) {
	for _, s := range identity.Situations {
		counts[identity.SituationKey(s)] = 0
	}
	bySit := make([]int64, len(as.names.names))
	for i := range as.rows {
		if r := &as.rows[i]; r.whole {
			counts[identity.SituationKey(as.whole[int32(i)].Situation)]++
		} else {
			bySit[r.sit]++
		}
	}
	for n, c := range bySit {
		if c > 0 {
			counts[identity.SituationKey(identity.Situation(as.names.names[n]))] += c
		}
	}
}
