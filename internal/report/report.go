// Package report turns one run's assessments and actions into what an
// identity admin reads: counts by situation, coverage, the identities to act
// on, and what changed since the previous run. It renders a terminal table,
// CSV (safe to open in a spreadsheet) and JSON (schema in schema.md).
package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// SchemaVersion is bumped whenever the JSON shape changes incompatibly.
const SchemaVersion = 1

// Input is everything a report is built from.
type Input struct {
	Run                 identity.Run
	Previous            *identity.Run // nil for the first run
	Assessments         []identity.Assessment
	PreviousAssessments []identity.Assessment
	Actions             []identity.ActionRecord
	// LaterFailed is a run after this one that did not succeed (the report
	// shows the latest completed run and says so).
	LaterFailed *identity.Run
	// Usernames of Salesforce users the actions name that no assessment
	// names (JIT duplicates); missing ones are shown by id only.
	Usernames map[string]string
}

// Report is one run's report.
type Report struct {
	SchemaVersion int                       `json:"schema_version"`
	Run           RunInfo                   `json:"run"`
	Previous      *RunInfo                  `json:"previous_run,omitempty"`
	Counts        map[string]int            `json:"counts"` // by situation, every situation present
	Coverage      []Coverage                `json:"coverage"`
	Identities    []identity.Assessment     `json:"-"`
	Items         []Item                    `json:"identities"`
	Changes       []Change                  `json:"changes_since_previous"`
	Transitions   []Transition              `json:"transitions_since_previous"`
	LaterFailed   *RunInfo                  `json:"later_unsuccessful_run,omitempty"`
	Actions       []ActionItem              `json:"actions"`
	Duplicates    []Duplicate               `json:"duplicates"`
	ActionCounts  map[string]map[string]int `json:"action_counts"` // kind -> state -> n
}

// RunInfo is the run a report is about.
type RunInfo struct {
	ID         int64            `json:"id"`
	Kind       string           `json:"kind"`
	Status     string           `json:"status"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	Note       string           `json:"note,omitempty"`
	Error      string           `json:"error,omitempty"`
	Counts     map[string]int64 `json:"counts,omitempty"`
}

// Coverage is the share of in-scope Entra users of one provider whose next
// sign-in lands on their provisioned account (situation linked). The
// denominator holds the Entra identities that should be able to sign in:
// linked, unlinked, unmatched, disputed and misrouted. Orphaned Salesforce
// users and deprovisioned Entra users are not counted.
type Coverage struct {
	Provider string  `json:"provider"`
	Linked   int     `json:"linked"`
	InScope  int     `json:"in_scope"`
	Percent  float64 `json:"percent"`
}

// Item is one identity of the report.
type Item struct {
	Provider           string `json:"provider"`
	Situation          string `json:"situation"`
	ObjectID           string `json:"object_id,omitempty"`
	UPN                string `json:"upn,omitempty"`
	SalesforceUserID   string `json:"salesforce_user_id,omitempty"`
	SalesforceUsername string `json:"salesforce_username,omitempty"`
	Subject            string `json:"subject,omitempty"`
	Rule               string `json:"rule,omitempty"`
	Detail             string `json:"detail,omitempty"`
}

// Change is an identity whose situation differs from the previous run.
type Change struct {
	Provider string `json:"provider"`
	Key      string `json:"key"` // entra:<oid> or salesforce:<id>
	Label    string `json:"label"`
	From     string `json:"from"` // "" when new
	To       string `json:"to"`   // "" when gone
}

// Transition counts the identities that moved from one situation to
// another since the previous run ("" From: new, "" To: gone).
type Transition struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Count int    `json:"count"`
}

// ActionItem is one planned action and what became of it.
type ActionItem struct {
	Seq              int    `json:"seq"`
	Kind             string `json:"kind"`
	State            string `json:"state"`
	Provider         string `json:"provider,omitempty"`
	Subject          string `json:"subject,omitempty"`
	SalesforceUserID string `json:"salesforce_user_id,omitempty"`
	ObjectID         string `json:"object_id,omitempty"`
	// UPN and SalesforceUsername name the people the action concerns.
	UPN                string `json:"upn,omitempty"`
	SalesforceUsername string `json:"salesforce_username,omitempty"`
	Flag               string `json:"flag,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Error              string `json:"error,omitempty"`
}

// Duplicate is a Salesforce user that a JIT sign-in created for a person who
// already had a provisioned account (a misrouted identity). With the
// package's confirmUser its sign-ins go to the provisioned account; an admin
// moves what it owns there and deactivates it. idlink never deactivates
// users itself.
type Duplicate struct {
	Provider            string `json:"provider"`
	SalesforceUserID    string `json:"salesforce_user_id"`
	SalesforceUsername  string `json:"salesforce_username,omitempty"`
	DuplicateOfID       string `json:"duplicate_of_id"`
	DuplicateOfUsername string `json:"duplicate_of_username,omitempty"`
	UPN                 string `json:"entra_upn,omitempty"`
	ObjectID            string `json:"entra_object_id"`
}

func runInfo(r identity.Run) RunInfo {
	ri := RunInfo{ID: r.ID, Kind: string(r.Kind), Status: string(r.Status), StartedAt: r.StartedAt.UTC(), Note: r.Note, Error: r.Error, Counts: r.Counts}
	if !r.FinishedAt.IsZero() {
		t := r.FinishedAt.UTC()
		ri.FinishedAt = &t
	}
	return ri
}

// key identifies an identity across runs.
func key(a identity.Assessment) string {
	if a.ObjectID != "" {
		return "entra:" + a.ObjectID
	}
	return "salesforce:" + a.SalesforceUserID
}

func label(a identity.Assessment) string {
	switch {
	case a.UPN != "":
		return a.UPN
	case a.SalesforceUsername != "":
		return a.SalesforceUsername
	case a.ObjectID != "":
		return a.ObjectID
	}
	return a.SalesforceUserID
}

var situationOrder = func() map[identity.Situation]int {
	m := map[identity.Situation]int{}
	for i, s := range identity.Situations {
		m[s] = i
	}
	return m
}()

func countsTowardCoverage(s identity.Situation) bool {
	switch s {
	case identity.Linked, identity.Unlinked, identity.Unmatched, identity.Disputed, identity.Misrouted:
		return true
	}
	return false
}

// Build computes the report. The output is deterministic for the same input.
func Build(in Input) Report {
	r := Report{
		SchemaVersion: SchemaVersion,
		Run:           runInfo(in.Run),
		Counts:        map[string]int{},
		ActionCounts:  map[string]map[string]int{},
		Changes:       []Change{},
		Transitions:   []Transition{},
		Actions:       []ActionItem{},
		Items:         []Item{},
		Coverage:      []Coverage{},
	}
	if in.Previous != nil {
		p := runInfo(*in.Previous)
		r.Previous = &p
	}
	for _, s := range identity.Situations {
		r.Counts[string(s)] = 0
	}
	as := slices.Clone(in.Assessments)
	slices.SortFunc(as, func(a, b identity.Assessment) int {
		return cmp.Or(
			cmp.Compare(situationOrder[a.Situation], situationOrder[b.Situation]),
			cmp.Compare(a.Provider, b.Provider),
			cmp.Compare(label(a), label(b)),
			cmp.Compare(key(a), key(b)),
		)
	})
	cov := map[string]*Coverage{}
	for _, a := range as {
		r.Counts[string(a.Situation)]++
		r.Items = append(r.Items, Item{
			Provider: a.Provider, Situation: string(a.Situation), ObjectID: a.ObjectID, UPN: a.UPN,
			SalesforceUserID: a.SalesforceUserID, SalesforceUsername: a.SalesforceUsername,
			Subject: a.Subject, Rule: string(a.Rule), Detail: a.Detail,
		})
		if countsTowardCoverage(a.Situation) {
			c := cov[a.Provider]
			if c == nil {
				c = &Coverage{Provider: a.Provider}
				cov[a.Provider] = c
			}
			c.InScope++
			if a.Situation == identity.Linked {
				c.Linked++
			}
		}
	}
	r.Identities = as
	for _, c := range cov {
		if c.InScope > 0 {
			c.Percent = float64(c.Linked) * 100 / float64(c.InScope)
		}
		r.Coverage = append(r.Coverage, *c)
	}
	slices.SortFunc(r.Coverage, func(a, b Coverage) int { return cmp.Compare(a.Provider, b.Provider) })

	if in.Previous != nil {
		r.Changes = diff(in.PreviousAssessments, as)
		r.Transitions = transitions(r.Changes)
	}
	if in.LaterFailed != nil {
		l := runInfo(*in.LaterFailed)
		r.LaterFailed = &l
	}
	upns, usernames := names(as, in.Usernames)
	for _, ar := range in.Actions {
		a := ar.Action
		r.Actions = append(r.Actions, ActionItem{
			Seq: ar.Seq, Kind: string(a.Kind), State: ar.State, Provider: a.Link.Provider, Subject: a.Link.Subject,
			SalesforceUserID: a.Link.SalesforceUserID, ObjectID: a.Link.ObjectID, Flag: a.Flag, Reason: a.Reason, Error: ar.Error,
			UPN: upns[a.Link.ObjectID], SalesforceUsername: usernames[a.Link.SalesforceUserID],
		})
		if it := &r.Actions[len(r.Actions)-1]; it.UPN == "" && a.Link.Subject != "" {
			// An action may name the identity by its link only.
			it.UPN = upns[a.Link.Provider+"\x00"+a.Link.Subject]
		}
		m := r.ActionCounts[string(a.Kind)]
		if m == nil {
			m = map[string]int{}
			r.ActionCounts[string(a.Kind)] = m
		}
		m[ar.State]++
	}
	slices.SortFunc(r.Actions, func(a, b ActionItem) int { return cmp.Compare(a.Seq, b.Seq) })
	r.Duplicates = duplicates(in, as, usernames)
	return r
}

// names maps object ids (and provider + subject) to UPNs and Salesforce ids
// to usernames, from the assessments and then the extra usernames.
func names(as []identity.Assessment, extra map[string]string) (upns, usernames map[string]string) {
	upns, usernames = map[string]string{}, map[string]string{}
	for _, a := range as {
		if a.ObjectID != "" && a.UPN != "" {
			upns[a.ObjectID] = a.UPN
		}
		if a.Subject != "" && a.UPN != "" {
			upns[a.Provider+"\x00"+a.Subject] = a.UPN
		}
		if a.SalesforceUserID != "" && a.SalesforceUsername != "" {
			usernames[a.SalesforceUserID] = a.SalesforceUsername
		}
	}
	for id, u := range extra {
		if usernames[id] == "" && u != "" {
			usernames[id] = u
		}
	}
	return upns, usernames
}

// duplicates lists the JIT duplicates the run flagged, each with the
// account it duplicates (the misrouted identity's matched user).
func duplicates(in Input, as []identity.Assessment, usernames map[string]string) []Duplicate {
	type k struct{ provider, oid string }
	owner := map[k]identity.Assessment{}
	for _, a := range as {
		if a.Situation == identity.Misrouted {
			owner[k{a.Provider, a.ObjectID}] = a
		}
	}
	out := []Duplicate{}
	seen := map[string]bool{}
	for _, ar := range in.Actions {
		a := ar.Action
		if a.Kind != identity.ActionFlag || a.Flag != FlagDuplicate || seen[a.Link.SalesforceUserID] {
			continue
		}
		seen[a.Link.SalesforceUserID] = true
		d := Duplicate{Provider: a.Link.Provider, SalesforceUserID: a.Link.SalesforceUserID, SalesforceUsername: usernames[a.Link.SalesforceUserID], ObjectID: a.Link.ObjectID}
		if o, ok := owner[k{a.Link.Provider, a.Link.ObjectID}]; ok {
			d.DuplicateOfID, d.DuplicateOfUsername, d.UPN = o.SalesforceUserID, o.SalesforceUsername, o.UPN
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Duplicate) int { return cmp.Compare(a.SalesforceUserID, b.SalesforceUserID) })
	return out
}

// FlagDuplicate is the plan's flag name for a JIT duplicate (reconcile.FlagDuplicate).
const FlagDuplicate = "duplicate"

// transitions summarises changes by (from, to), largest first.
func transitions(cs []Change) []Transition {
	n := map[[2]string]int{}
	for _, c := range cs {
		n[[2]string{c.From, c.To}]++
	}
	out := make([]Transition, 0, len(n))
	for k, c := range n {
		out = append(out, Transition{From: k[0], To: k[1], Count: c})
	}
	slices.SortFunc(out, func(a, b Transition) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out
}

func diff(prev, cur []identity.Assessment) []Change {
	type k struct{ provider, key string }
	before := make(map[k]identity.Assessment, len(prev))
	for _, a := range prev {
		before[k{a.Provider, key(a)}] = a
	}
	var out []Change
	seen := make(map[k]bool, len(cur))
	for _, a := range cur {
		id := k{a.Provider, key(a)}
		seen[id] = true
		b, ok := before[id]
		switch {
		case !ok:
			out = append(out, Change{Provider: a.Provider, Key: id.key, Label: label(a), To: string(a.Situation)})
		case b.Situation != a.Situation:
			out = append(out, Change{Provider: a.Provider, Key: id.key, Label: label(a), From: string(b.Situation), To: string(a.Situation)})
		}
	}
	for _, b := range prev {
		id := k{b.Provider, key(b)}
		if !seen[id] {
			out = append(out, Change{Provider: b.Provider, Key: id.key, Label: label(b), From: string(b.Situation)})
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Label, b.Label), cmp.Compare(a.Key, b.Key))
	})
	if out == nil {
		out = []Change{}
	}
	return out
}
