package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/idlinkhq/idlink/internal/identity"
)

// TableOptions tunes the terminal table.
type TableOptions struct {
	// IncludeLinked lists linked identities too (they need no action).
	IncludeLinked bool
	// Limit caps each situation's list (0 = no cap); the rest is counted.
	Limit int
}

// WriteTable renders the report for a terminal.
func (r Report) WriteTable(w io.Writer, opt TableOptions) error {
	ew := &errWriter{w: w}
	ri := r.Run
	fmt.Fprintf(ew, "idlink report: run %d (%s) %s, started %s", ri.ID, ri.Kind, ri.Status, ri.StartedAt.Format("2006-01-02 15:04:05Z"))
	if ri.FinishedAt != nil {
		fmt.Fprintf(ew, ", took %s", ri.FinishedAt.Sub(ri.StartedAt).Round(1e6))
	}
	fmt.Fprintln(ew)
	if ri.Note != "" {
		fmt.Fprintf(ew, "note: %s\n", ri.Note)
	}
	if ri.Error != "" {
		fmt.Fprintf(ew, "error: %s\n", ri.Error)
	}

	fmt.Fprintln(ew, "\nSituations")
	tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
	for _, s := range identity.Situations {
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", s, r.Counts[string(s)], meaning[s])
	}
	tw.Flush()

	fmt.Fprintln(ew, "\nCoverage (in-scope users whose next sign-in lands on their provisioned account)")
	if len(r.Coverage) == 0 {
		fmt.Fprintln(ew, "  no in-scope users")
	}
	for _, c := range r.Coverage {
		fmt.Fprintf(ew, "  %s: %.1f%% (%d of %d)\n", c.Provider, c.Percent, c.Linked, c.InScope)
	}

	for _, s := range identity.Situations {
		if s == identity.Linked && !opt.IncludeLinked {
			continue
		}
		var items []Item
		for _, it := range r.Items {
			if it.Situation == string(s) {
				items = append(items, it)
			}
		}
		if len(items) == 0 {
			continue
		}
		fmt.Fprintf(ew, "\n%s (%d): %s\n", strings.ToUpper(string(s)[:1])+string(s)[1:], len(items), todo[s])
		tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PROVIDER\tENTRA UPN\tOBJECT ID\tSALESFORCE USER\tSALESFORCE ID\tRULE\tDETAIL")
		for i, it := range items {
			if opt.Limit > 0 && i == opt.Limit {
				fmt.Fprintf(tw, "  ... and %d more (use --format csv or json for all)\n", len(items)-opt.Limit)
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(it.Provider), dash(it.UPN), dash(it.ObjectID), dash(it.SalesforceUsername), dash(it.SalesforceUserID), dash(it.Rule), it.Detail)
		}
		tw.Flush()
	}

	if len(r.Duplicates) > 0 {
		fmt.Fprintf(ew, "\nDuplicates to retire (%d): JIT-created accounts of people who have a provisioned one; move what they own, then deactivate them (idlink report --format duplicates-csv is a Data Loader file)\n", len(r.Duplicates))
		tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  DUPLICATE\tDUPLICATE ID\tDUPLICATES\tPROVISIONED ID\tENTRA UPN")
		for i, d := range r.Duplicates {
			if opt.Limit > 0 && i == opt.Limit {
				fmt.Fprintf(tw, "  ... and %d more (use --format duplicates-csv for all)\n", len(r.Duplicates)-opt.Limit)
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", dash(d.SalesforceUsername), d.SalesforceUserID, dash(d.DuplicateOfUsername), dash(d.DuplicateOfID), dash(d.UPN))
		}
		tw.Flush()
	}

	if r.Previous != nil {
		fmt.Fprintf(ew, "\nChanges since run %d: %d\n", r.Previous.ID, len(r.Changes))
		tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
		for i, c := range r.Changes {
			if opt.Limit > 0 && i == opt.Limit {
				fmt.Fprintf(tw, "  ... and %d more\n", len(r.Changes)-opt.Limit)
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s -> %s\n", c.Provider, c.Label, orNew(c.From, "new"), orNew(c.To, "gone"))
		}
		tw.Flush()
	} else {
		fmt.Fprintln(ew, "\nChanges since previous run: this is the first run")
	}

	if len(r.Actions) > 0 {
		fmt.Fprintln(ew, "\nActions")
		tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
		for _, kind := range sortedKeys(r.ActionCounts) {
			states := r.ActionCounts[kind]
			var parts []string
			for _, st := range sortedKeys(states) {
				parts = append(parts, fmt.Sprintf("%s %d", st, states[st]))
			}
			fmt.Fprintf(tw, "  %s\t%s\n", kind, strings.Join(parts, ", "))
		}
		tw.Flush()
		var notDone []ActionItem
		for _, a := range r.Actions {
			if a.State == "failed" || a.State == "held" {
				notDone = append(notDone, a)
			}
		}
		if len(notDone) > 0 {
			fmt.Fprintf(ew, "\nNot applied (%d): held by the safety limit or failed; they stay pending for the next run\n", len(notDone))
			tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
			for i, a := range notDone {
				if opt.Limit > 0 && i == opt.Limit {
					fmt.Fprintf(tw, "  ... and %d more\n", len(notDone)-opt.Limit)
					break
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s/%s\t-> %s\t%s\n", a.State, a.Kind, a.Provider, a.Subject, dash(a.SalesforceUserID), firstNonEmpty(a.Error, a.Reason))
			}
			tw.Flush()
		}
	}
	return ew.err
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

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
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
			row[i] = SafeCell(row[i])
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
			row[i] = SafeCell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SafeCell prefixes a cell that starts like a spreadsheet formula with a
// single quote, so Excel and LibreOffice show it as text.
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '|', '%':
		return "'" + s
	}
	return s
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
