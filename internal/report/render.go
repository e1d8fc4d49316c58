package report

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/idlinkhq/idlink/internal/csvsafe"
	"github.com/idlinkhq/idlink/internal/identity"
)

// TableOptions tunes the terminal table.
type TableOptions struct {
	// IncludeLinked lists linked identities too (they need no action).
	IncludeLinked bool
	// Limit caps each situation's list (0 = no cap); the rest is counted.
	Limit int
}

// attention is the order of the sections that need a person, most urgent
// first: a dispute can give someone the wrong account, a misrouted or
// deprovisioned one already does.
var attention = []identity.Situation{identity.Disputed, identity.Misrouted, identity.Deprovisioned, identity.Orphaned, identity.Unmatched}

// WriteTable renders the report for a terminal, at most TableWidth columns
// wide: what needs a person first, then counts, changes and the plan.
func (r Report) WriteTable(w io.Writer, opt TableOptions) error {
	ew := &errWriter{w: ClipLines(w, TableWidth)}
	ri := r.Run
	fmt.Fprintf(ew, "idlink report: run %d (%s) %s, started %s", ri.ID, ri.Kind, ri.Status, ri.StartedAt.Format("2006-01-02 15:04:05Z"))
	if ri.FinishedAt != nil {
		fmt.Fprintf(ew, ", took %s", ri.FinishedAt.Sub(ri.StartedAt).Round(1e6))
	}
	fmt.Fprintln(ew)
	if r.LaterFailed != nil {
		fmt.Fprintf(ew, "NOTE: a later run, %d (%s), %s: %s ('idlink runs' lists them)\n", r.LaterFailed.ID, r.LaterFailed.Kind, r.LaterFailed.Status, r.LaterFailed.Error)
	}
	if ri.Note != "" {
		fmt.Fprintf(ew, "note: %s\n", ri.Note)
	}
	if ri.Error != "" {
		fmt.Fprintf(ew, "error: %s\n", ri.Error)
	}

	fmt.Fprintln(ew, "\nCoverage (in-scope users whose next sign-in lands on their provisioned account)")
	if len(r.Coverage) == 0 {
		fmt.Fprintln(ew, "  no in-scope users")
	}
	for _, c := range r.Coverage {
		fmt.Fprintf(ew, "  %s: %.1f%% (%s of %s)\n", c.Provider, c.Percent, thousands(c.Linked), thousands(c.InScope))
	}
	fmt.Fprintln(ew, "\nSituations")
	tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
	for _, s := range append(slices.Clone(attention), identity.Unlinked, identity.Linked) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s, thousands(r.Counts[string(s)]), meaning[s])
	}
	tw.Flush()

	bySituation := map[string][]Item{}
	for _, it := range r.Items {
		bySituation[it.Situation] = append(bySituation[it.Situation], it)
	}
	for _, s := range attention {
		r.writeItems(ew, s, bySituation[string(s)], opt.Limit)
		if s == identity.Misrouted {
			r.writeDuplicates(ew, opt.Limit)
		}
		if s == identity.Deprovisioned {
			r.writeProposals(ew, opt.Limit)
		}
	}
	if opt.IncludeLinked {
		r.writeItems(ew, identity.Unlinked, bySituation[string(identity.Unlinked)], opt.Limit)
		r.writeItems(ew, identity.Linked, bySituation[string(identity.Linked)], opt.Limit)
	} else {
		fmt.Fprintf(ew, "\nUnlinked %s and linked %s are not listed: --all lists them, --format csv holds every identity\n",
			thousands(r.Counts[string(identity.Unlinked)]), thousands(r.Counts[string(identity.Linked)]))
	}

	if r.Previous != nil {
		fmt.Fprintf(ew, "\nChanges since run %d, the previous successful run: %s\n", r.Previous.ID, thousands(len(r.Changes)))
		tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
		for _, t := range r.Transitions {
			fmt.Fprintf(tw, "  %s -> %s\t%s\n", orNew(t.From, "new"), orNew(t.To, "gone"), thousands(t.Count))
		}
		tw.Flush()
		tw = tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
		for i, c := range r.Changes {
			if opt.Limit > 0 && i == opt.Limit {
				fmt.Fprintf(tw, "  ... and %s more (--format csv or json for all)\n", thousands(len(r.Changes)-opt.Limit))
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s -> %s\n", c.Provider, Shorten(c.Label, 48), orNew(c.From, "new"), orNew(c.To, "gone"))
		}
		tw.Flush()
	} else {
		fmt.Fprintln(ew, "\nChanges: none to compare with, this is the first successful run")
	}

	if len(r.Actions) > 0 {
		fmt.Fprintln(ew)
		if err := r.WritePlan(ew, opt.Limit); err != nil {
			return err
		}
		var notDone []ActionItem
		for _, a := range r.Actions {
			if a.State == "failed" || a.State == "held" {
				notDone = append(notDone, a)
			}
		}
		if len(notDone) > 0 && r.Run.Kind != "dry-run" {
			fmt.Fprintf(ew, "\nNot applied (%s): held by the safety limit or failed; they stay pending for the next run\n", thousands(len(notDone)))
			tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
			for i, a := range notDone {
				if opt.Limit > 0 && i == opt.Limit {
					fmt.Fprintf(tw, "  ... and %s more\n", thousands(len(notDone)-opt.Limit))
					break
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t-> %s\t%s\n", a.State, a.Kind, Shorten(dash(a.UPN), 34), Shorten(dash(a.SalesforceUsername), 34), cmp.Or(a.Error, a.Reason))
			}
			tw.Flush()
		}
	}
	return ew.err
}

func (r Report) writeItems(w io.Writer, s identity.Situation, items []Item, limit int) {
	if len(items) == 0 {
		return
	}
	heading(w, fmt.Sprintf("%s (%s)", strings.ToUpper(string(s)[:1])+string(s)[1:], thousands(len(items))), todo[s])
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PROVIDER\tENTRA UPN\tSALESFORCE USER\tSALESFORCE ID\tRULE\tDETAIL")
	for i, it := range items {
		if limit > 0 && i == limit {
			fmt.Fprintf(tw, "  ... and %s more (--format csv or html for all)\n", thousands(len(items)-limit))
			break
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", Shorten(dash(it.Provider), 12), Shorten(dash(it.UPN), 30), Shorten(dash(it.SalesforceUsername), 30), dash(it.SalesforceUserID), dash(it.Rule), it.Detail)
	}
	tw.Flush()
}

func (r Report) writeDuplicates(w io.Writer, limit int) {
	if len(r.Duplicates) == 0 {
		return
	}
	heading(w, fmt.Sprintf("Duplicates to retire (%s)", thousands(len(r.Duplicates))),
		"JIT-created accounts of people who have a provisioned one: move what they own, then deactivate them (--format duplicates-csv is a Data Loader file)")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DUPLICATE\tDUPLICATE ID\tPROVISIONED\tPROVISIONED ID\tENTRA UPN")
	for i, d := range r.Duplicates {
		if limit > 0 && i == limit {
			fmt.Fprintf(tw, "  ... and %s more (--format duplicates-csv for all)\n", thousands(len(r.Duplicates)-limit))
			break
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", Shorten(dash(d.SalesforceUsername), 28), d.SalesforceUserID, Shorten(dash(d.DuplicateOfUsername), 28), dash(d.DuplicateOfID), Shorten(dash(d.UPN), 28))
	}
	tw.Flush()
}

// writeProposals lists the links this run proposed, which wait for an
// admin's approval before anything is written.
func (r Report) writeProposals(w io.Writer, limit int) {
	var ps []ActionItem
	for _, a := range r.Actions {
		if a.Kind == string(identity.ActionProposeLink) {
			ps = append(ps, a)
		}
	}
	if len(ps) == 0 {
		return
	}
	heading(w, fmt.Sprintf("Proposals awaiting approval (%s)", thousands(len(ps))),
		"nothing is written until an admin decides: check each, then 'idlink links approve|reject', or in bulk 'idlink links list --format csv -o F', mark the decision column, 'idlink links approve --from F'")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PROVIDER\tENTRA UPN\tSALESFORCE USER\tSALESFORCE ID\tWHY")
	for i, a := range ps {
		if limit > 0 && i == limit {
			fmt.Fprintf(tw, "  ... and %s more ('idlink links list' shows all)\n", thousands(len(ps)-limit))
			break
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", Shorten(a.Provider, 12), Shorten(dash(a.UPN), 30), Shorten(dash(a.SalesforceUsername), 30), dash(a.SalesforceUserID), a.Reason)
	}
	tw.Flush()
}

var meaning = map[identity.Situation]string{
	identity.Linked:        "sign-in lands on the provisioned account",
	identity.Unlinked:      "matched; subject not known yet or link not written",
	identity.Unmatched:     "in scope in Entra, no Salesforce user",
	identity.Orphaned:      "Salesforce user without a live Entra identity",
	identity.Disputed:      "rules disagree or several candidates: admin decides",
	identity.Misrouted:     "Salesforce's own link names a JIT duplicate",
	identity.Deprovisioned: "Entra user disabled or deleted, link or account active",
}

var todo = map[identity.Situation]string{
	identity.Linked:        "nothing to do",
	identity.Unlinked:      "waits for the user's first sign-in through the bridge, or an admin's approval of a proposed link",
	identity.Unmatched:     "check Entra provisioning for these users",
	identity.Orphaned:      "deactivate or reassign these Salesforce users",
	identity.Disputed:      "resolve by hand: fix FederationIdentifier/Username, then approve or reject",
	identity.Misrouted:     "idlink's link routes sign-ins to the provisioned user (the package's confirmUser); retire the duplicate (see Duplicates to retire)",
	identity.Deprovisioned: "deactivate the Salesforce user; idlink revoked the link",
}

// heading writes a section title and its next step, wrapped to the table width.
func heading(w io.Writer, title, next string) {
	fmt.Fprintf(w, "\n%s\n", title)
	if next != "" {
		fmt.Fprintf(w, "%s\n", WrapIndent(next, "  ", TableWidth))
	}
}

// WrapIndent breaks s at spaces into lines of at most width runes, each
// starting with indent.
func WrapIndent(s, indent string, width int) string {
	var b strings.Builder
	line := 0
	for _, word := range strings.Fields(s) {
		n := len([]rune(word))
		switch {
		case line == 0:
			b.WriteString(indent)
			line = len(indent)
		case line+1+n > width:
			b.WriteString("\n" + indent)
			line = len(indent)
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += n
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNew(s, alt string) string {
	if s == "" {
		return "(" + alt + ")"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// DuplicatesCSVHeader is the header row of WriteDuplicatesCSV. Id and
// IsActive are the User fields Data Loader updates; the other columns say
// why.
var DuplicatesCSVHeader = []string{"Id", "IsActive", "Username", "DuplicateOfId", "DuplicateOfUsername", "EntraUPN", "EntraObjectId", "Provider"}

// WriteDuplicatesCSV writes the JIT duplicates to retire, one row each, as a
// file Data Loader can use to update User records once an admin has moved
// what the duplicates own (IsActive false deactivates them). idlink never
// loads it itself.
func (r Report) WriteDuplicatesCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(DuplicatesCSVHeader); err != nil {
		return err
	}
	for _, d := range r.Duplicates {
		row := []string{d.SalesforceUserID, "false", d.SalesforceUsername, d.DuplicateOfID, d.DuplicateOfUsername, d.UPN, d.ObjectID, d.Provider}
		for i := range row {
			row[i] = csvsafe.Cell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVHeader is the header row of WriteCSV.
var CSVHeader = []string{"run_id", "provider", "situation", "entra_upn", "entra_object_id", "salesforce_username", "salesforce_user_id", "subject", "rule", "detail"}

// WriteCSV writes one row per identity. Cells that a spreadsheet would run as
// a formula are neutralised (OWASP "CSV injection").
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	run := fmt.Sprint(r.Run.ID)
	for _, it := range r.Items {
		row := []string{run, it.Provider, it.Situation, it.UPN, it.ObjectID, it.SalesforceUsername, it.SalesforceUserID, it.Subject, it.Rule, it.Detail}
		for i := range row {
			row[i] = csvsafe.Cell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the report as one JSON document (schema in schema.md).
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
