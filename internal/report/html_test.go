package report

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

func testEntraURL(oid string) string {
	return "https://entra.microsoft.com/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/" + oid
}

func testSalesforceURL(id string) string {
	return "https://contoso.lightning.force.com/lightning/setup/ManageUsers/page?address=%2F" + id + "%3Fnoredirect%3D1"
}

// htmlOptions are the options of the HTML golden file and the browser test:
// three earlier runs and both deep links.
func htmlOptions() HTMLOptions {
	point := func(id int64, hours int, cov float64, linked, unlinked, unmatched, orphaned, disputed, misrouted, deprovisioned int) RunPoint {
		return RunPoint{ID: id, Kind: "run", Status: "succeeded", StartedAt: t0.Add(time.Duration(-hours) * time.Hour), CoveragePercent: cov, Counts: map[string]int{
			"linked": linked, "unlinked": unlinked, "unmatched": unmatched, "orphaned": orphaned, "disputed": disputed, "misrouted": misrouted, "deprovisioned": deprovisioned,
		}}
	}
	return HTMLOptions{
		History: []RunPoint{
			point(4, 3, 0, 0, 3, 1, 0, 0, 0, 0),
			point(5, 2, 25, 1, 3, 0, 1, 0, 0, 0),
			point(6, 1, 25, 1, 2, 0, 0, 0, 0, 0),
		},
		EntraUserURL:      testEntraURL,
		SalesforceUserURL: testSalesforceURL,
		Generated:         t0.Add(5 * time.Minute),
	}
}

func renderHTML(t testing.TB, r Report, opt HTMLOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteHTML(&b, opt); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestHTMLGolden(t *testing.T) {
	golden(t, "report.html", []byte(renderHTML(t, Build(sample()), htmlOptions())))
}

var (
	cardRE = regexp.MustCompile(`data-situation="([a-z]+)" data-count="(\d+)">\s*<span class="card-n">([\d,]+)</span>`)
	refRE  = regexp.MustCompile(`(?i)\s(href|src|srcset|action|formaction|poster|data|xlink:href)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
)

// TestHTMLCountsAndCSP: the page carries the strict policy, no script, and
// one card per situation whose number is the report's count.
func TestHTMLCountsAndCSP(t *testing.T) {
	r := Build(sample())
	page := renderHTML(t, r, htmlOptions())
	for _, want := range []string{
		`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
		`<html lang="en">`, `<title>idlink report: run 7 (run, succeeded)</title>`,
		"deltaLink expired: full resync", // the run's note
		"33.3%",                          // coverage
		"unlinked → linked",              // a transition
		"Generated 2026-11-02 03:05:00 UTC by idlink.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, "<h1"); n != 1 {
		t.Errorf("%d h1 elements, want 1", n)
	}
	if n := strings.Count(page, "<style"); n != 1 {
		t.Errorf("%d style elements, want 1", n)
	}
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Error("page contains a script element")
	}
	if strings.Count(page, "<table") != strings.Count(page, "<caption>") || strings.Count(page, "<th ") != strings.Count(page, `<th scope="col"`) {
		t.Error("every table has a caption and every th a scope")
	}
	got := map[string]int{}
	for _, m := range cardRE.FindAllStringSubmatch(page, -1) {
		n, _ := strconv.Atoi(m[2])
		got[m[1]] = n
		if m[3] != thousands(n) {
			t.Errorf("card %s shows %s, data-count %d", m[1], m[3], n)
		}
	}
	if len(got) != len(identity.Situations) {
		t.Errorf("cards for %v, want every situation", got)
	}
	for s, n := range r.Counts {
		if got[s] != n {
			t.Errorf("card %s = %d, Report.Counts = %d", s, got[s], n)
		}
	}
}

// TestHTMLNoExternalReferences: nothing on the page loads from elsewhere;
// the only absolute URLs are the deep links the options build.
func TestHTMLNoExternalReferences(t *testing.T) {
	r := Build(sample())
	opt := htmlOptions()
	page := renderHTML(t, r, opt)
	allowed := map[string]bool{}
	for _, it := range r.Items {
		if it.ObjectID != "" {
			allowed[opt.EntraUserURL(it.ObjectID)] = true
		}
		if it.SalesforceUserID != "" {
			allowed[opt.SalesforceUserURL(it.SalesforceUserID)] = true
		}
	}
	for _, a := range r.Actions {
		allowed[opt.SalesforceUserURL(a.SalesforceUserID)] = true
		allowed[opt.EntraUserURL(a.ObjectID)] = true
	}
	for _, d := range r.Duplicates {
		allowed[opt.SalesforceUserURL(d.SalesforceUserID)] = true
		allowed[opt.SalesforceUserURL(d.DuplicateOfID)] = true
	}
	for _, c := range r.Changes {
		if oid, ok := strings.CutPrefix(c.Key, "entra:"); ok {
			allowed[opt.EntraUserURL(oid)] = true
		}
		if id, ok := strings.CutPrefix(c.Key, "salesforce:"); ok {
			allowed[opt.SalesforceUserURL(id)] = true
		}
	}
	links := 0
	for _, m := range refRE.FindAllStringSubmatch(page, -1) {
		attr, v := strings.ToLower(m[1]), html.UnescapeString(strings.Trim(m[2], `"'`))
		if attr != "href" {
			t.Errorf("%s=%q: the page loads nothing", attr, v)
			continue
		}
		switch {
		case strings.HasPrefix(v, "#"):
		case allowed[v]:
			links++
		default:
			t.Errorf("href %q is neither an anchor nor a deep link of the options", v)
		}
	}
	if links == 0 {
		t.Error("no deep links although the options build them")
	}
	for _, tag := range []string{"<link", "<img", "<iframe", "<object", "<embed", "<base", "<form", "<video", "<audio", "@import", "url("} {
		if strings.Contains(strings.ToLower(page), tag) {
			t.Errorf("page contains %s", tag)
		}
	}
	// Without the link functions there are no absolute URLs at all.
	page = renderHTML(t, r, HTMLOptions{})
	for _, m := range refRE.FindAllStringSubmatch(page, -1) {
		if v := strings.Trim(m[2], `"'`); !strings.HasPrefix(v, "#") {
			t.Errorf("%s=%q without deep-link functions", m[1], v)
		}
	}
}

// TestHTMLEscapes: every value from the data is text, never markup, in
// text, attributes and SVG alike.
func TestHTMLEscapes(t *testing.T) {
	const evil = `"><script>alert(1)</script>`
	const img = `<img src=x onerror=alert(2)>`
	in := sample()
	in.Run.Note, in.Run.Error, in.Run.Counts = evil, img, map[string]int64{evil: 1}
	for i := range in.Assessments {
		a := &in.Assessments[i]
		a.UPN, a.SalesforceUsername, a.Detail, a.Provider = evil+a.UPN, img+a.SalesforceUsername, evil+a.Detail, "P"+evil
		a.Rule = identity.Rule(evil)
	}
	for i := range in.PreviousAssessments {
		in.PreviousAssessments[i].Provider = "P" + evil
	}
	for i := range in.Actions {
		a := &in.Actions[i]
		a.Action.Link.Provider, a.Action.Reason, a.Error = "P"+evil, evil, img
	}
	in.Actions = append(in.Actions, identity.ActionRecord{Seq: 9, State: "planned" + evil, Action: identity.Action{Kind: identity.ActionProposeLink, Reason: evil,
		Link: identity.Link{Provider: "P" + evil, Subject: evil, SalesforceUserID: "005000000000003AAA", ObjectID: "11111111-0000-0000-0000-000000000003"}}})
	in.Usernames = map[string]string{"005000000000015AAA": evil}
	r := Build(in)
	hist := []RunPoint{{ID: 1, Kind: evil, Status: img, Counts: map[string]int{"linked": 1}}}
	evilURL := func(s string) string { return `javascript:alert(3)//` + s }
	page := renderHTML(t, r, HTMLOptions{History: hist, EntraUserURL: evilURL, SalesforceUserURL: func(string) string { return `https://x.example/"><script>` }})
	lower := strings.ToLower(page)
	for _, bad := range []string{"<script", "<img", "javascript:"} {
		if strings.Contains(lower, bad) {
			i := strings.Index(lower, bad)
			t.Errorf("page contains %q: …%s…", bad, page[max(0, i-80):min(len(page), i+80)])
		}
	}
	for _, want := range []string{"&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "#ZgotmplZ"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks the escaped form %q", want)
		}
	}
}

// TestHTMLFirstRunLimitsAndProposals: the first run says so, lists are
// capped with a pointer to the CSV, a single point draws no trend, and
// proposed links are listed with what approving them needs.
func TestHTMLFirstRunLimitsAndProposals(t *testing.T) {
	in := sample()
	in.Previous, in.PreviousAssessments = nil, nil
	in.Assessments = append(in.Assessments, identity.Assessment{Provider: "Entra_ID", Situation: identity.Linked, ObjectID: "11111111-0000-0000-0000-000000000010", UPN: "hal@contoso.com", SalesforceUserID: "005000000000010AAA", SalesforceUsername: "hal@contoso.com", Rule: "oid"})
	in.Actions = append(in.Actions, identity.ActionRecord{Seq: 5, State: "applied", Action: identity.Action{Kind: identity.ActionProposeLink, Reason: "UPN match only",
		Link: identity.Link{Provider: "Entra_ID", Subject: "sub-cy", SalesforceUserID: "005000000000003AAA", ObjectID: "11111111-0000-0000-0000-000000000003"}}})
	page := strings.ReplaceAll(renderHTML(t, Build(in), HTMLOptions{Limit: 1}), "<wbr>", "")
	for _, want := range []string{
		"This is the first run",
		"There are no earlier runs to compare with yet",
		"… and 2 more — the CSV (<code>idlink report --format csv</code>) holds all.",
		"Linked identities (first 1 of 3)",
		"Proposed links (all 1)", "sub-cy", "UPN match only", "cy@contoso.com",
		"<code>idlink links approve|reject --provider P --subject S --actor NAME</code>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<svg role=\"img\" aria-labelledby=\"chart-coverage") {
		t.Error("a trend chart with a single point")
	}
	if strings.Count(page, "hal@contoso.com")+strings.Count(page, "bob@contoso.com") != 0 {
		t.Error("linked identities beyond the limit are listed")
	}
}

// largeInput is a run of n identities over every situation, with a previous
// run, actions of every kind and thousands of changes.
func largeInput(n int) Input {
	sits := []identity.Situation{identity.Linked, identity.Unlinked, identity.Unmatched, identity.Orphaned, identity.Disputed, identity.Misrouted, identity.Deprovisioned}
	at := func(i int) identity.Situation {
		switch p := i % 100; {
		case p < 80:
			return identity.Linked
		case p < 90:
			return identity.Unlinked
		default:
			return sits[2+p%5]
		}
	}
	as := func(i int, s identity.Situation) identity.Assessment {
		a := identity.Assessment{Provider: "Entra_ID", Situation: s, ObjectID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), UPN: fmt.Sprintf("user%06d@contoso.com", i),
			SalesforceUserID: fmt.Sprintf("005%012dAAA", i), SalesforceUsername: fmt.Sprintf("user%06d@contoso.com", i), Rule: identity.RuleObjectID, Detail: "synthetic identity for the size test"}
		if s == identity.Orphaned {
			a.ObjectID, a.UPN = "", ""
		}
		return a
	}
	in := Input{
		Run:       identity.Run{ID: 42, Kind: identity.KindRun, Status: identity.StatusSucceeded, StartedAt: t0, FinishedAt: t0.Add(16 * time.Second)},
		Previous:  &identity.Run{ID: 41, Kind: identity.KindRun, Status: identity.StatusSucceeded, StartedAt: t0.Add(-time.Hour), FinishedAt: t0.Add(-time.Hour + 15*time.Second)},
		Usernames: map[string]string{},
	}
	for i := range n {
		s := at(i)
		in.Assessments = append(in.Assessments, as(i, s))
		prev := s
		if i%10 == 0 && s == identity.Linked {
			prev = identity.Unlinked
		}
		if i%50 != 1 {
			in.PreviousAssessments = append(in.PreviousAssessments, as(i, prev))
		}
		link := identity.Link{Provider: "Entra_ID", Subject: fmt.Sprintf("sub-%d", i), SalesforceUserID: fmt.Sprintf("005%012dAAA", i), ObjectID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)}
		seq := len(in.Actions) + 1
		switch {
		case s == identity.Misrouted:
			dup := fmt.Sprintf("005%012dDUP", i)
			in.Usernames[dup] = fmt.Sprintf("user%06d@contoso.com.jit", i)
			in.Actions = append(in.Actions, identity.ActionRecord{Seq: seq, State: "applied", Action: identity.Action{Kind: identity.ActionFlag, Flag: FlagDuplicate, Link: identity.Link{Provider: "Entra_ID", SalesforceUserID: dup, ObjectID: link.ObjectID}}})
		case prev != s:
			state := "applied"
			if i%20 == 0 {
				state = "failed"
			}
			in.Actions = append(in.Actions, identity.ActionRecord{Seq: seq, State: state, Error: map[bool]string{true: "UNABLE_TO_LOCK_ROW"}[state == "failed"], Action: identity.Action{Kind: identity.ActionCreateLink, Link: link}})
		case s == identity.Unlinked && i%3 == 0:
			in.Actions = append(in.Actions, identity.ActionRecord{Seq: seq, State: "applied", Action: identity.Action{Kind: identity.ActionProposeLink, Reason: "UPN match only", Link: link}})
		}
	}
	return in
}

// TestHTMLLargeRun: at 100,000 identities the page stays small (the lists
// are capped) and renders quickly; the size is asserted, the time printed.
func TestHTMLLargeRun(t *testing.T) {
	const n = 100_000
	in := largeInput(n)
	start := time.Now()
	r := Build(in)
	built := time.Since(start)
	if len(r.Items) != n {
		t.Fatalf("%d items", len(r.Items))
	}
	opt := htmlOptions()
	var b bytes.Buffer
	start = time.Now()
	if err := r.WriteHTML(&b, opt); err != nil {
		t.Fatal(err)
	}
	rendered := time.Since(start)
	t.Logf("%d identities, %d changes, %d actions: Build %v, WriteHTML %v, %d bytes (%.2f MB)", n, len(r.Changes), len(r.Actions), built.Round(time.Millisecond), rendered.Round(time.Millisecond), b.Len(), float64(b.Len())/(1<<20))
	if b.Len() >= 3<<20 {
		t.Errorf("page is %d bytes, want below 3 MB", b.Len())
	}
	page := b.String()
	for _, want := range []string{
		fmt.Sprintf("… and %s more — the CSV", thousands(r.Counts["linked"]-htmlDefaultLimit)),
		fmt.Sprintf(`data-situation="linked" data-count="%d"`, r.Counts["linked"]),
		"unlinked → linked",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if rows := strings.Count(page, "<tr>"); rows > 12*(htmlDefaultLimit+1)+64 {
		t.Errorf("%d table rows: the lists are not capped", rows)
	}
}

func TestHTMLNamePieces(t *testing.T) {
	for in, want := range map[string]string{
		"ada@contoso.com":            "ada|@contoso.|com",
		"first.last@contoso.com.uat": "first.|last|@contoso.|com.|uat",
		"a_b":                        "a_|b",
		"@x":                         "@x",
		"x.":                         "x.",
		"":                           "",
	} {
		if got := strings.Join(htmlCell{Text: in, Class: "name-long"}.Pieces(), "|"); got != want {
			t.Errorf("Pieces(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (htmlCell{Text: "a.b@c"}).Pieces(); len(got) != 1 {
		t.Errorf("a cell that is not a name is split: %q", got)
	}
}
