package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/idlinkhq/idlink/internal/identity"
)

// planGroup is one kind of planned change, in the order an admin reads a
// plan: what is written first, then what waits for a person, then notices.
type planGroup struct {
	kind identity.ActionKind
	sign string // terraform-style: + create, ~ change, - remove
	verb string // the summary line's words
	says string // what happens to the people in it
}

var planGroups = []planGroup{
	{identity.ActionCreateLink, "+", "to link", "their sign-ins will land on the Salesforce user named"},
	{identity.ActionUpdateLink, "~", "to re-point", "their link changes to the Salesforce user named"},
	{identity.ActionRevokeLink, "-", "to revoke", "their link is revoked (kept in the history); sign-ins are refused until a new one is written"},
	{identity.ActionRevokeAccountLink, "-", "Salesforce links to revoke", "Salesforce's own link to a JIT duplicate is revoked; the next sign-in finds idlink's link"},
	{identity.ActionAdoptLink, "=", "to adopt", "already in Salesforce as idlink would write it: recorded, not written again"},
	{identity.ActionProposeLink, "?", "proposals for an admin", "not written until an admin approves: idlink links list, then idlink links approve or reject"},
	{identity.ActionFlag, "!", "notices", "nothing is written; shown for an admin to act on"},
}

// planSummary is the one line that says what the plan does.
func (r Report) planSummary() string {
	n := map[string]int{}
	for _, a := range r.Actions {
		n[a.Kind]++
	}
	var parts []string
	for _, g := range planGroups {
		if c := n[string(g.kind)]; c > 0 || g.kind == identity.ActionCreateLink || g.kind == identity.ActionUpdateLink || g.kind == identity.ActionRevokeLink {
			parts = append(parts, fmt.Sprintf("%s %s", thousands(c), g.verb))
		}
	}
	return "Plan: " + strings.Join(parts, ", ") + "."
}

// WritePlan renders the run's actions terraform-style: a summary line, then
// each kind of change with the people it concerns (Entra UPN and Salesforce
// username, ids after them), at most limit rows per kind (0 = all).
func (r Report) WritePlan(w io.Writer, limit int) error {
	ew := &errWriter{w: ClipLines(w, TableWidth)}
	fmt.Fprintln(ew, r.planSummary())
	byKind := map[string][]ActionItem{}
	for _, a := range r.Actions {
		byKind[a.Kind] = append(byKind[a.Kind], a)
	}
	for _, g := range planGroups {
		items := byKind[string(g.kind)]
		if len(items) == 0 {
			continue
		}
		heading(ew, fmt.Sprintf("%s %s (%s)", g.sign, g.verb, thousands(len(items))), g.says)
		if g.kind == identity.ActionFlag {
			writeFlagCounts(ew, items)
		}
		slices.SortStableFunc(items, func(a, b ActionItem) int {
			return cmp.Or(cmp.Compare(a.Flag, b.Flag), cmp.Compare(a.UPN, b.UPN), cmp.Compare(a.SalesforceUsername, b.SalesforceUsername))
		})
		tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
		for i, a := range items {
			if limit > 0 && i == limit {
				fmt.Fprintf(tw, "  ... and %s more (idlink report --run %d --format csv or html lists all)\n", thousands(len(items)-limit), r.Run.ID)
				break
			}
			state := ""
			if a.State != "planned" && a.State != "applied" {
				state = " [" + a.State + "]"
			}
			what := a.Flag
			if g.kind != identity.ActionFlag {
				what = a.Provider
			}
			fmt.Fprintf(tw, "  %s %s\t%s\t%s\t%s\t%s\t%s\n", g.sign, Shorten(dash(a.UPN), 32), arrow(g.kind), Shorten(dash(a.SalesforceUsername), 32), dash(a.SalesforceUserID), what+state, cmp.Or(a.Error, a.Reason))
		}
		tw.Flush()
	}
	return ew.err
}

func arrow(k identity.ActionKind) string {
	switch k {
	case identity.ActionRevokeLink, identity.ActionRevokeAccountLink:
		return "-x->"
	case identity.ActionFlag:
		return "/"
	}
	return "->"
}

func writeFlagCounts(w io.Writer, items []ActionItem) {
	n := map[string]int{}
	for _, a := range items {
		n[a.Flag]++
	}
	flags := sortedKeys(n)
	slices.SortStableFunc(flags, func(a, b string) int { return cmp.Compare(n[b], n[a]) })
	var parts []string
	for _, f := range flags {
		parts = append(parts, fmt.Sprintf("%s %s", f, thousands(n[f])))
	}
	fmt.Fprintf(w, "  by kind: %s\n", strings.Join(parts, ", "))
}

// TableWidth is the widest line of the terminal renderings; longer values
// are shortened there and kept whole in CSV, JSON and HTML.
const TableWidth = 120

// Shorten cuts s to at most n runes, marking the cut.
func Shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ClipLines cuts every line written through it to width runes.
func ClipLines(w io.Writer, width int) io.Writer { return &clipWriter{w: w, width: width} }

type clipWriter struct {
	w       io.Writer
	width   int
	col     int    // runes written on the current line
	pending string // the line's last allowed rune, written once the line ends there
	cut     bool   // the current line was cut
}

func (c *clipWriter) Write(p []byte) (int, error) {
	var out []byte
	for _, r := range string(p) {
		switch {
		case r == '\n':
			out = append(out, c.pending...)
			out = append(out, '\n')
			c.col, c.cut, c.pending = 0, false, ""
		case c.cut:
		case c.pending != "":
			out = append(out, "…"...)
			c.cut, c.pending = true, ""
		case c.col == c.width-1:
			c.pending = string(r)
		default:
			out = append(out, string(r)...)
			c.col++
		}
	}
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// thousands writes n with comma separators (1,650).
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
