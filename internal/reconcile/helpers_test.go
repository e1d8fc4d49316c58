package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/config"
	"github.com/idlinkhq/idlink/internal/identity"
)

const testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

func oid(n int) string  { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
func sfid(n int) string { return fmt.Sprintf("005%015d", n) }

// world is the raw input of a test, added to a Snapshot in slice order.
type world struct {
	entra     []identity.EntraUser
	sf        []identity.SalesforceUser
	tpal      []identity.ThirdPartyAccountLink
	links     []identity.Link
	remote    []identity.Link
	obs       []identity.Observation
	conflicts []identity.ObservationConflict
	decisions []identity.Decision
}

func (w world) snapshot(t testing.TB) *Snapshot {
	t.Helper()
	s := NewSnapshot()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range w.entra {
		must(s.AddEntraUser(u))
	}
	for _, u := range w.sf {
		must(s.AddSalesforceUser(u))
	}
	for _, l := range w.tpal {
		must(s.AddAccountLink(l))
	}
	for _, l := range w.links {
		must(s.AddLink(l))
	}
	for _, l := range w.remote {
		must(s.AddRemoteLink(l))
	}
	for _, o := range w.obs {
		must(s.AddObservation(o))
	}
	for _, c := range w.conflicts {
		must(s.AddObservationConflict(c))
	}
	for _, d := range w.decisions {
		must(s.AddDecision(d))
	}
	return s
}

// eu is an active, in-scope member with UPN u<n>@contoso.com.
func eu(n int, mods ...func(*identity.EntraUser)) identity.EntraUser {
	u := identity.EntraUser{ObjectID: oid(n), TenantID: testTenant, UPN: fmt.Sprintf("u%d@contoso.com", n),
		Mail: fmt.Sprintf("u%d@contoso.com", n), AccountEnabled: true, InScope: true, UserType: "Member"}
	for _, m := range mods {
		m(&u)
	}
	return u
}

// su is an active Standard Salesforce user.
func su(n int, username, fed string, mods ...func(*identity.SalesforceUser)) identity.SalesforceUser {
	u := identity.SalesforceUser{ID: sfid(n), Username: username, FederationIdentifier: fed, Email: username, IsActive: true, UserType: "Standard"}
	for _, m := range mods {
		m(&u)
	}
	return u
}

func link(provider, sub string, sf, o int, status identity.LinkStatus) identity.Link {
	return identity.Link{Provider: provider, Subject: sub, SalesforceUserID: sfid(sf), ObjectID: oid(o), TenantID: testTenant,
		Rule: identity.RuleObjectID, Status: status}
}

// weakProposal marks l as the planner proposes a suspected duplicate's
// subject: by rule email, the only evidence of the subject.
func weakProposal(l identity.Link) identity.Link {
	l.Rule = identity.RuleEmail
	return l
}

func obs(provider, sub string, o int) identity.Observation {
	return identity.Observation{Provider: provider, Subject: sub, ObjectID: oid(o), TenantID: testTenant, Source: identity.SourceBridge}
}

func tpal(provider, sub string, sf int) identity.ThirdPartyAccountLink {
	return identity.ThirdPartyAccountLink{ID: "0Jr" + sub, Provider: provider, RemoteIdentifier: sub, UserID: sfid(sf)}
}

// assessmentStrings renders assessments as "provider|who|situation", who being
// the oid, or the Salesforce id when there is no oid.
func assessmentStrings(as *Assessments) []string {
	out := make([]string, as.Len())
	for i, a := range as.All() {
		who := a.ObjectID
		if who == "" {
			who = a.SalesforceUserID
		}
		out[i] = a.Provider + "|" + who + "|" + string(a.Situation)
	}
	return out
}

// actionStrings renders actions as "kind provider/sub->sf status" or
// "flag:<name> sf".
func actionStrings(as []identity.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		if a.Kind == identity.ActionFlag {
			out[i] = "flag:" + a.Flag + " " + a.Link.SalesforceUserID
			continue
		}
		out[i] = fmt.Sprintf("%s %s/%s->%s %s", a.Kind, a.Link.Provider, a.Link.Subject, a.Link.SalesforceUserID, a.Link.Status)
	}
	return out
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func diff(want, got []string) string {
	if slices.Equal(sortedCopy(want), sortedCopy(got)) {
		return ""
	}
	return "\n  want: " + strings.Join(sortedCopy(want), "\n        ") + "\n  got:  " + strings.Join(sortedCopy(got), "\n        ")
}

// shipped returns c with every setting it leaves empty taken from the
// shipped defaults (internal/config owns them; the core keeps none), so that
// a test states only what it is about.
func shipped(c Config) Config {
	d := config.Defaults()
	if len(c.Rules) == 0 {
		for _, r := range d.Match.Rules {
			c.Rules = append(c.Rules, identity.Rule(r))
		}
	}
	if c.AutoLink == nil {
		for _, r := range d.Match.AutoLink {
			c.AutoLink = append(c.AutoLink, identity.Rule(r))
		}
	}
	if c.Orphans == "" {
		c.Orphans = OrphanScope(d.Match.Orphans)
	}
	if c.Limits == (Limits{}) {
		c.Limits = shippedLimits()
	}
	return c
}

func shippedLimits() Limits {
	s := config.Defaults().Safety
	return Limits{MaxChanges: s.MaxChanges, MaxPercent: s.MaxChangePercent, MaxCreates: s.MaxCreates,
		MaxCreatePercent: s.MaxCreatePercent, MaxCoverageDrop: s.MaxCoverageDrop}
}

// noLimits switches every safety limit off.
var noLimits = Limits{MaxChanges: -1, MaxPercent: -1, MaxCreates: -1, MaxCreatePercent: -1, MaxCoverageDrop: -1}

// assessmentsOf holds as as a plan's assessments.
func assessmentsOf(as ...identity.Assessment) Assessments {
	var out Assessments
	for _, a := range as {
		out.Append(a)
	}
	return out
}

// load loads a whole snapshot from st, both halves in turn.
func load(ctx context.Context, st interface {
	Mirror
	State
}) (*Snapshot, error) {
	s := NewSnapshot()
	if err := LoadSalesforce(ctx, st, s); err != nil {
		return nil, err
	}
	if err := LoadRest(ctx, st, st, s); err != nil {
		return nil, err
	}
	return s, nil
}
