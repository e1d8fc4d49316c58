package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/wire"
)

// cmdExplain shows one identity end to end, the way Entra's "provision on
// demand" shows one user: what each side holds, scope, which rule matches
// and why the others do not, where each provider's sub comes from, the
// situation and plan of the latest run, and the history of its links with
// who decided what. It reads the database only (the mirror of both sides
// as of the latest run), so it can run at any time and changes nothing.
func cmdExplain(ctx context.Context, e env, args []string) error {
	fs := newFlags("explain", e)
	cfgPath := configFlag(fs, e)
	upn := fs.String("upn", "", "the Entra userPrincipalName")
	oid := fs.String("oid", "", "the Entra object id")
	sfID := fs.String("salesforce-id", "", "the Salesforce user id (15 or 18 characters)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	given := 0
	for _, v := range []string{*upn, *oid, *sfID} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return withCode(ExitUsage, errors.New("explain needs exactly one of --upn, --oid or --salesforce-id"))
	}
	if *oid != "" {
		g, ok := identity.NormalizeGUID(*oid)
		if !ok {
			return withCode(ExitUsage, fmt.Errorf("--oid %q is not a GUID (the Entra object id, e.g. 3f2a8c1e-...)", *oid))
		}
		*oid = g
	}
	cfg, st, err := configAndExistingStore(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	x := &explainer{st: st, rc: wire.ReconcileConfig(cfg), w: e.stdout}
	if err := x.load(ctx, *upn, *oid, *sfID); err != nil {
		return err
	}
	return x.write(ctx)
}

// explainer gathers what the database holds about one identity.
type explainer struct {
	st store.Store
	rc reconcile.Config
	w  io.Writer

	entra    *identity.EntraUser
	sf       []identity.SalesforceUser // the candidates, or the one asked for
	asked    *identity.SalesforceUser  // --salesforce-id
	tpal     []identity.ThirdPartyAccountLink
	remote   []identity.Link
	links    []identity.Link
	obs      []identity.Observation
	dec      []identity.Decision
	run      *identity.Run
	assessed []identity.Assessment
	actions  []identity.ActionRecord
}

func (x *explainer) load(ctx context.Context, upn, oid, sfID string) error {
	for _, step := range []func(context.Context, string, string, string) error{x.loadPeople, x.loadRecords, x.loadRun} {
		if err := step(ctx, upn, oid, sfID); err != nil {
			return err
		}
	}
	return nil
}

// loadPeople finds the Entra user and the Salesforce users of the identity.
func (x *explainer) loadPeople(ctx context.Context, upn, oid, sfID string) error {
	var all []identity.SalesforceUser
	err := x.st.ScanSalesforceUsers(ctx, func(u identity.SalesforceUser) error {
		all = append(all, u)
		if sfID != "" && (u.ID == sfID || len(sfID) == 15 && strings.HasPrefix(u.ID, sfID)) {
			c := u
			x.asked = &c
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read Salesforce users: %w", err)
	}
	if sfID != "" && x.asked == nil {
		return withCode(ExitUsage, fmt.Errorf("no Salesforce user %s in this database's snapshot (as of the latest run)", sfID))
	}
	if err := x.findEntra(ctx, upn, oid); err != nil {
		return err
	}
	return x.candidates(all)
}

// findEntra finds the Entra user by UPN or object id, or the ones the asked
// Salesforce user's FederationIdentifier or Username names.
func (x *explainer) findEntra(ctx context.Context, upn, oid string) error {
	var candidates []identity.EntraUser
	err := x.st.ScanEntraUsers(ctx, func(u identity.EntraUser) error {
		switch {
		case oid != "" && u.ObjectID == oid,
			upn != "" && strings.EqualFold(u.UPN, upn),
			x.asked != nil && (reconcile.MatchesByObjectID(x.asked.FederationIdentifier, u.ObjectID) || u.UPN != "" && reconcile.MatchesByUPN(u.UPN, x.asked.Username, x.rc.UPNRewrites)):
			candidates = append(candidates, u)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read Entra users: %w", err)
	}
	switch {
	case len(candidates) == 1:
		x.entra = &candidates[0]
	case len(candidates) > 1:
		var names []string
		for _, c := range candidates {
			names = append(names, c.ObjectID+" ("+c.UPN+")")
		}
		fmt.Fprintf(x.w, "Several Entra users match Salesforce user %s: %s; explain each with --oid.\n\n", x.asked.ID, strings.Join(names, ", "))
	case x.asked == nil:
		who := upn
		if oid != "" {
			who = oid
		}
		return withCode(ExitUsage, fmt.Errorf("no Entra user %s in this database's snapshot (as of the latest run): check the spelling, or whether the user exists in the tenant", who))
	}
	return nil
}

// keys are the Salesforce ids and Entra object ids of the identity.
func (x *explainer) keys() (ids, oids map[string]bool) {
	ids, oids = map[string]bool{}, map[string]bool{}
	for _, u := range x.sf {
		ids[u.ID] = true
	}
	if x.entra != nil {
		oids[x.entra.ObjectID] = true
	}
	return ids, oids
}

// candidates keeps the Salesforce users that could be this person: by each
// rule, and by email (a candidate an admin may confirm, never a link).
func (x *explainer) candidates(all []identity.SalesforceUser) error {
	for _, u := range all {
		if x.asked != nil && u.ID == x.asked.ID || x.entra != nil && x.related(u) {
			x.sf = append(x.sf, u)
		}
	}
	return nil
}

// loadRecords gathers what links the people: Salesforce's and idlink's link
// records, observations of their subjects and the admins' decisions.
func (x *explainer) loadRecords(ctx context.Context, _, _, _ string) error {
	ids, oids := x.keys()
	err := x.st.ScanAccountLinks(ctx, func(l identity.ThirdPartyAccountLink) error {
		if ids[l.UserID] {
			x.tpal = append(x.tpal, l)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read ThirdPartyAccountLink rows: %w", err)
	}
	keep := func(l identity.Link) bool { return oids[l.ObjectID] || ids[l.SalesforceUserID] }
	if err := x.st.ScanRemoteLinks(ctx, func(l identity.Link) error {
		if keep(l) {
			x.remote = append(x.remote, l)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("read Identity_Link__c rows: %w", err)
	}
	if err := x.st.ScanLinks(ctx, func(l identity.Link) error {
		if keep(l) {
			x.links = append(x.links, l)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("read links: %w", err)
	}
	subs := map[string]bool{}
	for _, l := range x.tpal {
		subs[l.RemoteIdentifier] = true
	}
	for _, l := range append(slices.Clone(x.links), x.remote...) {
		subs[l.Subject] = true
	}
	if err := x.st.ScanObservations(ctx, func(o identity.Observation) error {
		if oids[o.ObjectID] || subs[o.Subject] {
			x.obs = append(x.obs, o)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("read observations: %w", err)
	}
	if err := x.st.ScanDecisions(ctx, func(d identity.Decision) error {
		if oids[d.ObjectID] || ids[d.SalesforceUserID] {
			x.dec = append(x.dec, d)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("read decisions: %w", err)
	}

	return nil
}

// loadRun reads the latest completed run's assessments and actions of the
// identity.
func (x *explainer) loadRun(ctx context.Context, _, _, _ string) error {
	ids, oids := x.keys()
	runs, err := x.st.ListRuns(ctx, 200)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	for i, r := range runs {
		if r.Kind != identity.KindDryRun && (r.Status == identity.StatusSucceeded || r.Status == identity.StatusHeld) {
			x.run = &runs[i]
			break
		}
	}
	if x.run == nil {
		return nil
	}
	if err := x.st.ScanAssessments(ctx, x.run.ID, func(a identity.Assessment) error {
		if oids[a.ObjectID] || ids[a.SalesforceUserID] {
			x.assessed = append(x.assessed, a)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("assessments of run %d: %w", x.run.ID, err)
	}
	acts, err := x.st.ListActions(ctx, x.run.ID)
	if err != nil {
		return fmt.Errorf("actions of run %d: %w", x.run.ID, err)
	}
	for _, a := range acts {
		if oids[a.Action.Link.ObjectID] || ids[a.Action.Link.SalesforceUserID] {
			x.actions = append(x.actions, a)
		}
	}
	return nil
}

// related reports whether u could be the Entra user's account: by a rule,
// or by email (a candidate an admin may confirm, never a link).
func (x *explainer) related(u identity.SalesforceUser) bool {
	e := x.entra
	return reconcile.MatchesByObjectID(u.FederationIdentifier, e.ObjectID) ||
		e.UPN != "" && reconcile.MatchesByUPN(e.UPN, u.Username, x.rc.UPNRewrites) ||
		e.Mail != "" && strings.EqualFold(strings.TrimSpace(u.Email), strings.TrimSpace(e.Mail))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func (x *explainer) write(ctx context.Context) error {
	w := x.w
	e := x.entra
	switch {
	case e != nil:
		fmt.Fprintf(w, "idlink explain: %s (Entra object id %s)\n", orDash(e.UPN), e.ObjectID)
	default:
		fmt.Fprintf(w, "idlink explain: Salesforce user %s (%s)\n", x.asked.ID, x.asked.Username)
	}
	if x.run != nil {
		fmt.Fprintf(w, "From the database's snapshot as of run %d (%s, %s, %s); the next run reads both sides again.\n", x.run.ID, x.run.Kind, x.run.Status, day(x.run.StartedAt))
	} else {
		fmt.Fprintln(w, "No completed run yet: situations and plan appear after 'idlink backfill'.")
	}

	x.writeEntra(w)
	x.writeSalesforce(w)
	x.writeSubjects(w)
	x.writeRun(w)
	return x.writeHistory(ctx, w)
}

// writeEntra is step 1: the Entra user and its scope.
func (x *explainer) writeEntra(w io.Writer) {
	e := x.entra
	fmt.Fprintln(w, "\n1. Entra ID")
	if e == nil {
		fmt.Fprintln(w, "   No Entra user has this account's FederationIdentifier as object id or its Username as UPN.")
	} else {
		fmt.Fprintf(w, "   %s, mail %s, user type %s, tenant %s\n", orDash(e.DisplayName), orDash(e.Mail), orDash(e.UserType), orDash(e.TenantID))
		fmt.Fprintf(w, "   account enabled: %s; deleted: %s; guest: %s\n", yesNo(e.AccountEnabled), map[bool]string{true: "no", false: string(e.Deleted)}[e.Deleted == identity.NotDeleted], yesNo(e.Guest()))
		scope := "yes: assigned to the Salesforce application (or scope is all users)"
		if !e.InScope {
			scope = "no: not assigned to the Salesforce application, so Entra does not provision it and idlink does not link it"
		}
		fmt.Fprintf(w, "   in scope: %s\n", scope)
	}

}

// writeSalesforce is step 2: what each rule finds.
func (x *explainer) writeSalesforce(w io.Writer) {
	e := x.entra
	fmt.Fprintln(w, "\n2. Salesforce users, by rule")
	if e != nil {
		rules := map[identity.Rule]bool{}
		for _, r := range x.rc.Rules {
			rules[r] = true
		}
		var byOID, byUPN, byMail []string
		for _, u := range x.sf {
			label := fmt.Sprintf("%s %s (%s, FederationIdentifier %s, created %s)", u.ID, u.Username, map[bool]string{true: "active", false: "inactive"}[u.IsActive], orDash(u.FederationIdentifier), day(u.CreatedDate))
			switch {
			case reconcile.MatchesByObjectID(u.FederationIdentifier, e.ObjectID):
				byOID = append(byOID, label)
			case e.UPN != "" && reconcile.MatchesByUPN(e.UPN, u.Username, x.rc.UPNRewrites):
				byUPN = append(byUPN, label)
			default:
				byMail = append(byMail, label)
			}
		}
		line := func(name, what string, on bool, found []string) {
			switch {
			case !on:
				fmt.Fprintf(w, "   %s (%s): not a configured rule (match.rules)\n", name, what)
			case len(found) == 0:
				fmt.Fprintf(w, "   %s (%s): no Salesforce user\n", name, what)
			default:
				fmt.Fprintf(w, "   %s (%s): %s\n", name, what, strings.Join(found, "; "))
			}
		}
		line("oid", "FederationIdentifier = object id, links automatically", rules[identity.RuleObjectID], byOID)
		line("upn", "Username = UPN or a rewrite of it, an admin approves", rules[identity.RuleUPN], byUPN)
		if len(byMail) > 0 {
			fmt.Fprintf(w, "   email (a candidate only, never links): %s\n", strings.Join(byMail, "; "))
		}
	} else {
		u := x.asked
		fmt.Fprintf(w, "   %s %s (%s, FederationIdentifier %s, type %s, created %s)\n", u.ID, u.Username, map[bool]string{true: "active", false: "inactive"}[u.IsActive], orDash(u.FederationIdentifier), orDash(u.UserType), day(u.CreatedDate))
	}

}

// writeSubjects is step 3: every source of each provider's sub.
func (x *explainer) writeSubjects(w io.Writer) {
	e := x.entra
	fmt.Fprintln(w, "\n3. Subject (sub) per provider, and where it comes from")
	for _, p := range x.rc.Providers {
		fmt.Fprintf(w, "   %s (strategy %s):\n", p.Name, p.Strategy)
		n := 0
		say := func(format string, a ...any) { fmt.Fprintf(w, "     "+format+"\n", a...); n++ }
		if e != nil {
			switch p.Strategy {
			case identity.StrategyObjectID:
				say("derived: sub = the object id %s", e.ObjectID)
			case identity.StrategyPairwise:
				say("derived: sub = %s (OIDC pairwise recipe, sector %s)", p.Pairwise.Subject(e.ObjectID), p.Pairwise.SectorIdentifier)
			}
		}
		for _, o := range x.obs {
			if o.Provider == p.Name {
				say("observed by %s: sub %s belongs to %s (first %s, last %s, %d times)", o.Source, o.Subject, o.ObjectID, day(o.FirstSeen), day(o.LastSeen), o.Count)
			}
		}
		for _, l := range x.links {
			if l.Provider == p.Name {
				say("idlink's link: sub %s -> %s, %s (rule %s: %s)", l.Subject, l.SalesforceUserID, l.Status, orDash(string(l.Rule)), orDash(l.Reason))
			}
		}
		for _, l := range x.remote {
			if l.Provider == p.Name {
				say("Identity_Link__c in Salesforce: sub %s -> %s, %s", l.Subject, l.SalesforceUserID, l.Status)
			}
		}
		for _, l := range x.tpal {
			if l.Provider == p.Name {
				say("ThirdPartyAccountLink (Salesforce's own, from a sign-in): sub %s -> %s", l.RemoteIdentifier, l.UserID)
			}
		}
		if n == 0 {
			say("not known yet: it is learned at the first sign-in through the bridge, or from an import")
		}
	}

}

// writeRun is steps 4 and 5: the latest run's situation and plan.
func (x *explainer) writeRun(w io.Writer) {
	if x.run != nil {
		fmt.Fprintf(w, "\n4. Situation in run %d\n", x.run.ID)
		if len(x.assessed) == 0 {
			fmt.Fprintln(w, "   not assessed: out of scope, or an account no orphan scope lists")
		}
		for _, a := range x.assessed {
			fmt.Fprintf(w, "   %s: %s (rule %s) - %s\n", orDash(a.Provider), a.Situation, orDash(string(a.Rule)), a.Detail)
		}
		fmt.Fprintf(w, "\n5. Plan of run %d for this identity\n", x.run.ID)
		if len(x.actions) == 0 {
			fmt.Fprintln(w, "   nothing: no link to write, nothing to flag")
		}
		for _, a := range x.actions {
			l := a.Action.Link
			fmt.Fprintf(w, "   %s %s/%s -> %s [%s] %s\n", a.Action.Kind, orDash(l.Provider), orDash(l.Subject), orDash(l.SalesforceUserID), a.State, cmp.Or(a.Error, a.Action.Reason))
		}
	}

}

// writeHistory is step 6: the links' history and the decisions.
func (x *explainer) writeHistory(ctx context.Context, w io.Writer) error {
	fmt.Fprintln(w, "\n6. History of its links, and who decided what")
	if len(x.links) == 0 && len(x.dec) == 0 {
		fmt.Fprintln(w, "   no link recorded yet")
	}
	for _, l := range x.links {
		hist, err := x.st.LinkHistory(ctx, l.Key())
		if err != nil {
			return fmt.Errorf("history of %s: %w", l.Key(), err)
		}
		fmt.Fprintf(w, "   %s:\n", l.Key())
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, v := range hist {
			fmt.Fprintf(tw, "     %s\trun %d\t%s\t%s\t%s\t%s\t%s\n", day(v.At), v.RunID, v.Action, v.Link.Status, v.Link.SalesforceUserID, v.Actor, v.Detail)
		}
		tw.Flush()
	}
	for _, d := range x.dec {
		verb := map[bool]string{true: "approved", false: "rejected"}[d.Approved]
		fmt.Fprintf(w, "   decision: %s %s %s/%s -> %s on %s: %s\n", d.Actor, verb, d.Provider, d.Subject, d.SalesforceUserID, day(d.At), orDash(d.Reason))
	}
	return nil
}
