package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idlinkhq/idlink/internal/csvsafe"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/report"
	"github.com/idlinkhq/idlink/internal/store"
)

// reviewHeader is the header of 'idlink links list --format csv', the file
// an admin marks and gives back to 'idlink links approve|reject --from'.
// The first two columns are the admin's; the others say what is proposed.
var reviewHeader = []string{"decision", "decision_reason", "provider", "subject", "entra_upn", "entra_object_id",
	"salesforce_username", "salesforce_user_id", "status", "rule", "why"}

// namedLink is a link with the people it joins.
type namedLink struct {
	identity.Link
	UPN, Username string
}

// namedLinks returns the links with status (all when "all"), each with the
// Entra UPN and Salesforce username from the store's snapshot, proposals
// first, then by UPN.
func namedLinks(ctx context.Context, st store.Store, status string) ([]namedLink, error) {
	var out []namedLink
	err := st.ScanLinks(ctx, func(l identity.Link) error {
		if status == "all" || string(l.Status) == status {
			out = append(out, namedLink{Link: l})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	oids := make([]string, 0, len(out))
	sfIDs := map[string]string{}
	for _, l := range out {
		oids = append(oids, l.ObjectID)
		sfIDs[l.SalesforceUserID] = ""
	}
	users, err := st.LookupEntraUsers(ctx, oids)
	if err != nil {
		return nil, fmt.Errorf("the Entra users of the links: %w", err)
	}
	if len(sfIDs) > 0 {
		err = st.ScanSalesforceUsers(ctx, func(u identity.SalesforceUser) error {
			if _, ok := sfIDs[u.ID]; ok {
				sfIDs[u.ID] = u.Username
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("the Salesforce users of the links: %w", err)
		}
	}
	for i := range out {
		out[i].UPN, out[i].Username = users[out[i].ObjectID].UPN, sfIDs[out[i].SalesforceUserID]
	}
	rank := map[identity.LinkStatus]int{identity.LinkProposed: 0, identity.LinkActive: 1, identity.LinkRevoked: 2}
	slices.SortStableFunc(out, func(a, b namedLink) int {
		if d := rank[a.Status] - rank[b.Status]; d != 0 {
			return d
		}
		return strings.Compare(a.UPN+"\x00"+a.Provider+"\x00"+a.Subject, b.UPN+"\x00"+b.Provider+"\x00"+b.Subject)
	})
	return out, nil
}

func linksList(ctx context.Context, e env, args []string) error {
	fs := newFlags("links list", e)
	cfgPath := configFlag(fs, e)
	status := fs.String("status", "proposed", "proposed, active, revoked or all")
	format := fs.String("format", "table", "table, or csv: the review file to mark and give back to 'idlink links approve|reject --from'")
	outFile := fs.String("o", "", "write to this file instead of standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch *status {
	case "proposed", "active", "revoked", "all":
	default:
		return withCode(ExitUsage, fmt.Errorf("--status %q: use proposed, active, revoked or all", *status))
	}
	if *format != "table" && *format != "csv" {
		return withCode(ExitUsage, fmt.Errorf("--format %q: use table or csv", *format))
	}
	_, st, err := configAndExistingStore(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	links, err := namedLinks(ctx, st, *status)
	if err != nil {
		return err
	}
	w := e.stdout
	if *outFile != "" {
		f, err := os.Create(*outFile)
		if err != nil {
			return fmt.Errorf("links list: %w", err)
		}
		defer f.Close()
		w = f
	}
	if *format == "csv" {
		if err := writeReviewCSV(w, links); err != nil {
			return fmt.Errorf("links list: %w", err)
		}
		if *outFile != "" {
			fmt.Fprintf(e.stdout, "wrote %d link(s) to %s: put approve or reject in the decision column (and a reason), then 'idlink links approve --from %s --actor NAME'\n", len(links), *outFile, *outFile)
		}
		return nil
	}
	tw := tabwriter.NewWriter(report.ClipLines(w, report.TableWidth), 2, 4, 2, ' ', 0)
	// The subject stays whole (the single-link commands need it); names are
	// shortened to keep the table within 120 columns; the CSV has them all.
	fmt.Fprintln(tw, "STATUS\tPROVIDER\tSUBJECT\tENTRA UPN\tSALESFORCE USER\tWHY")
	for _, l := range links {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.Status, l.Provider, l.Subject, report.Shorten(orDash(l.UPN), 24), report.Shorten(orDash(l.Username), 24), l.Reason)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d link(s)", len(links))
	if *status == "proposed" && len(links) > 0 {
		fmt.Fprint(w, "; decide one with 'idlink links approve|reject --provider P --subject S --actor NAME', or all at once: 'idlink links list --format csv -o review.csv', mark the decision column, 'idlink links approve --from review.csv --actor NAME'")
	}
	fmt.Fprintln(w)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeReviewCSV(w io.Writer, links []namedLink) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reviewHeader); err != nil {
		return err
	}
	for _, l := range links {
		row := []string{"", "", l.Provider, l.Subject, l.UPN, l.ObjectID, l.Username, l.SalesforceUserID, string(l.Status), string(l.Rule), l.Reason}
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

// reviewRow is one marked row of a review file.
type reviewRow struct {
	line                            int
	decision, reason, provider, sub string
	objectID, salesforceID          string
}

// readReview reads a review file whole. Rows without a decision are
// skipped; a decision other than approve or reject, a row that lost its
// columns, or a file without the header is an error naming the line.
func readReview(path string) (rows []reviewRow, undecided int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("no header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"decision", "provider", "subject", "entra_object_id", "salesforce_user_id"} {
		if _, ok := col[need]; !ok {
			return nil, 0, fmt.Errorf("the header has no %q column: give back the file 'idlink links list --format csv' wrote", need)
		}
	}
	var bad []string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		get := func(name string) string {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(csvsafe.Value(rec[i]))
		}
		r := reviewRow{line: line, decision: strings.ToLower(get("decision")), reason: get("decision_reason"),
			provider: get("provider"), sub: get("subject"), objectID: get("entra_object_id"), salesforceID: get("salesforce_user_id")}
		switch r.decision {
		case "":
			undecided++
			continue
		case "approve", "reject":
		default:
			bad = append(bad, fmt.Sprintf("line %d: decision %q: write approve, reject, or leave it empty", line, r.decision))
			continue
		}
		if r.provider == "" || r.sub == "" {
			bad = append(bad, fmt.Sprintf("line %d: the provider or subject column is empty", line))
			continue
		}
		rows = append(rows, r)
	}
	if len(bad) > 0 {
		return nil, 0, fmt.Errorf("%d bad line(s), nothing was recorded:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	return rows, undecided, nil
}

// decideFromFile records the decisions of a review file marked with verb
// (approve or reject); rows marked the other way are left for the other
// command. Every marked row is checked against the current proposal first:
// the link must still be proposed for the same Salesforce user and Entra
// user as when the file was written. Then all are recorded in one
// transaction, or none.
func decideFromFile(ctx context.Context, e env, st store.Store, path string, approve bool, actor, defaultReason string) error {
	verb := map[bool]string{true: "approve", false: "reject"}[approve]
	rows, undecided, err := readReview(path)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("%s: %w", path, err))
	}
	current := map[identity.LinkKey]identity.Link{}
	err = st.ScanLinks(ctx, func(l identity.Link) error {
		current[l.Key()] = l
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the links: %w", err)
	}
	// The latest decision on each proposal: giving the same file back is
	// harmless, its rows are already decided.
	type proposal struct{ provider, sub, sf, oid string }
	latest := map[proposal]bool{}
	err = st.ScanDecisions(ctx, func(d identity.Decision) error {
		latest[proposal{d.Provider, d.Subject, d.SalesforceUserID, d.ObjectID}] = d.Approved
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the decisions: %w", err)
	}
	var ds []identity.Decision
	var bad []string
	other, already, seen := 0, 0, map[identity.LinkKey]int{}
	now := time.Now().UTC()
	for _, r := range rows {
		if r.decision != verb {
			other++
			continue
		}
		key := identity.LinkKey{Provider: r.provider, Subject: r.sub}
		if first, dup := seen[key]; dup {
			bad = append(bad, fmt.Sprintf("line %d: %s/%s is marked on line %d too", r.line, r.provider, r.sub, first))
			continue
		}
		seen[key] = r.line
		l, ok := current[key]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("line %d: no link %s/%s in this database", r.line, r.provider, r.sub))
			continue
		case l.Status != identity.LinkProposed:
			bad = append(bad, fmt.Sprintf("line %d: %s/%s is %s now, not proposed: it no longer waits for a decision", r.line, r.provider, r.sub, l.Status))
			continue
		case l.SalesforceUserID != r.salesforceID || l.ObjectID != r.objectID:
			bad = append(bad, fmt.Sprintf("line %d: the proposal for %s/%s changed since the file was written (now Salesforce user %s, Entra %s): write a new file with 'idlink links list --format csv'", r.line, r.provider, r.sub, l.SalesforceUserID, l.ObjectID))
			continue
		}
		if was, ok := latest[proposal{l.Provider, l.Subject, l.SalesforceUserID, l.ObjectID}]; ok && was == approve {
			already++
			continue
		}
		reason := r.reason
		if reason == "" {
			reason = defaultReason
		}
		ds = append(ds, identity.Decision{Provider: l.Provider, Subject: l.Subject, SalesforceUserID: l.SalesforceUserID, ObjectID: l.ObjectID,
			Approved: approve, Actor: actor, Reason: reason, At: now})
	}
	if len(bad) > 0 {
		return withCode(ExitUsage, fmt.Errorf("%s: %d row(s) cannot be %sd, nothing was recorded:\n  %s", path, len(bad), verb, strings.Join(bad, "\n  ")))
	}
	if len(ds) == 0 && already > 0 {
		fmt.Fprintf(e.stdout, "nothing new in %s: its %d row(s) marked %s are %sd already\n", path, already, verb, verb)
		return nil
	}
	if len(ds) == 0 {
		return withCode(ExitUsage, fmt.Errorf("%s: no row is marked %s (%d marked otherwise, %d undecided)", path, verb, other, undecided))
	}
	if err := st.RecordDecisions(ctx, ds...); err != nil {
		return fmt.Errorf("record the decisions: %w", err)
	}
	next := "the next 'idlink run' writes them"
	if !approve {
		next = "they will not be proposed again for these users"
	}
	fmt.Fprintf(e.stdout, "%sd %d link(s) from %s; %s", verb, len(ds), path, next)
	if already > 0 {
		fmt.Fprintf(e.stdout, "; %d were %sd already", already, verb)
	}
	if other > 0 {
		fmt.Fprintf(e.stdout, "; %d row(s) marked %s are left for 'idlink links %s --from %s'", other, map[bool]string{true: "reject", false: "approve"}[approve],
			map[bool]string{true: "reject", false: "approve"}[approve], path)
	}
	fmt.Fprintln(e.stdout)
	return nil
}
