package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run with -update if the change is intended.\n--- got\n%s", name, got)
	}
}

var t0 = time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)

func sample() Input {
	prev := identity.Run{ID: 6, Kind: identity.KindRun, Status: identity.StatusSucceeded, StartedAt: t0.Add(-time.Hour), FinishedAt: t0.Add(-time.Hour + time.Minute)}
	a := func(s identity.Situation, oid, upn, sfid, sfname, rule, detail string) identity.Assessment {
		return identity.Assessment{Provider: "Entra_ID", Situation: s, ObjectID: oid, UPN: upn, SalesforceUserID: sfid, SalesforceUsername: sfname, Rule: identity.Rule(rule), Detail: detail, Subject: map[bool]string{true: "sub-" + upn}[s == identity.Linked]}
	}
	cur := []identity.Assessment{
		a(identity.Linked, "11111111-0000-0000-0000-000000000001", "ada@contoso.com", "005000000000001AAA", "ada@contoso.com", "oid", "link active"),
		a(identity.Linked, "11111111-0000-0000-0000-000000000002", "bob@contoso.com", "005000000000002AAA", "bob@contoso.com", "oid", "link active"),
		a(identity.Unlinked, "11111111-0000-0000-0000-000000000003", "cy@contoso.com", "005000000000003AAA", "cy@contoso.com", "oid", "subject not observed yet"),
		a(identity.Unmatched, "11111111-0000-0000-0000-000000000004", "=HYPERLINK(\"http://x\")@contoso.com", "", "", "", "no Salesforce user with this FederationIdentifier or Username"),
		a(identity.Orphaned, "", "", "005000000000009AAA", "old@contoso.com", "", "no Entra user has this FederationIdentifier"),
		a(identity.Misrouted, "11111111-0000-0000-0000-000000000005", "dee@contoso.com", "005000000000005AAA", "dee@contoso.com", "oid", "sub's ThirdPartyAccountLink points at 005000000000015AAA (JIT duplicate)"),
		a(identity.Deprovisioned, "11111111-0000-0000-0000-000000000006", "eve@contoso.com", "005000000000006AAA", "eve@contoso.com", "oid", "Entra account disabled; Salesforce user active"),
		a(identity.Disputed, "11111111-0000-0000-0000-000000000007", "fay@contoso.com", "", "", "", "two Salesforce users carry this FederationIdentifier: 005000000000007AAA, 005000000000017AAA"),
	}
	prevAs := []identity.Assessment{
		a(identity.Linked, "11111111-0000-0000-0000-000000000001", "ada@contoso.com", "005000000000001AAA", "ada@contoso.com", "oid", ""),
		a(identity.Unlinked, "11111111-0000-0000-0000-000000000002", "bob@contoso.com", "005000000000002AAA", "bob@contoso.com", "oid", ""),
		a(identity.Linked, "11111111-0000-0000-0000-000000000006", "eve@contoso.com", "005000000000006AAA", "eve@contoso.com", "oid", ""),
		a(identity.Unlinked, "11111111-0000-0000-0000-000000000008", "gus@contoso.com", "005000000000008AAA", "gus@contoso.com", "oid", ""),
	}
	link := func(sub, sf string) identity.Link {
		// Real actions carry the object id; the report names the person from it.
		oid := map[string]string{"005000000000002AAA": "11111111-0000-0000-0000-000000000002", "005000000000005AAA": "11111111-0000-0000-0000-000000000005",
			"005000000000006AAA": "11111111-0000-0000-0000-000000000006"}[sf]
		return identity.Link{Provider: "Entra_ID", Subject: sub, SalesforceUserID: sf, ObjectID: oid}
	}
	return Input{
		Run:                 identity.Run{ID: 7, Kind: identity.KindRun, Status: identity.StatusSucceeded, StartedAt: t0, FinishedAt: t0.Add(92 * time.Second), Note: "deltaLink expired: full resync"},
		Previous:            &prev,
		Assessments:         cur,
		PreviousAssessments: prevAs,
		Actions: []identity.ActionRecord{
			{Seq: 1, Action: identity.Action{Kind: identity.ActionCreateLink, Link: link("sub-bob", "005000000000002AAA")}, State: "applied"},
			{Seq: 2, Action: identity.Action{Kind: identity.ActionUpdateLink, Link: link("sub-dee", "005000000000005AAA"), Reason: "misrouted"}, State: "failed", Error: "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record"},
			{Seq: 3, Action: identity.Action{Kind: identity.ActionRevokeLink, Link: link("sub-eve", "005000000000006AAA"), Reason: "Entra account disabled"}, State: "applied"},
			{Seq: 4, Action: identity.Action{Kind: identity.ActionFlag, Flag: "duplicate", Reason: "merge 005000000000015AAA into 005000000000005AAA",
				Link: identity.Link{Provider: "Entra_ID", SalesforceUserID: "005000000000015AAA", ObjectID: "11111111-0000-0000-0000-000000000005"}}, State: "applied"},
		},
		Usernames: map[string]string{"005000000000015AAA": "dee@contoso.com.jit"},
	}
}

// TestDuplicatesCSV: the duplicates to retire name the duplicate and the
// account it duplicates, in a file Data Loader can update User records from.
func TestDuplicatesCSV(t *testing.T) {
	r := Build(sample())
	var b bytes.Buffer
	if err := r.WriteDuplicatesCSV(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{DuplicatesCSVHeader, {"005000000000015AAA", "false", "dee@contoso.com.jit", "005000000000005AAA", "dee@contoso.com", "dee@contoso.com", "11111111-0000-0000-0000-000000000005", "Entra_ID"}}
	if len(rows) != len(want) || strings.Join(rows[0], ",") != strings.Join(want[0], ",") || strings.Join(rows[1], ",") != strings.Join(want[1], ",") {
		t.Errorf("duplicates CSV:\n%v\nwant\n%v", rows, want)
	}
}

func TestGoldenOutputs(t *testing.T) {
	r := Build(sample())
	var tbl, cs, js bytes.Buffer
	if err := r.WriteTable(&tbl, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteCSV(&cs); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", tbl.Bytes())
	golden(t, "report.csv", cs.Bytes())
	golden(t, "report.json", js.Bytes())
}

func TestCountsCoverageAndChanges(t *testing.T) {
	r := Build(sample())
	want := map[string]int{"linked": 2, "unlinked": 1, "unmatched": 1, "orphaned": 1, "disputed": 1, "misrouted": 1, "deprovisioned": 1}
	for k, v := range want {
		if r.Counts[k] != v {
			t.Errorf("count %s = %d, want %d", k, r.Counts[k], v)
		}
	}
	// Coverage: linked 2 of (2 linked + unlinked + unmatched + disputed + misrouted) = 2/6.
	if len(r.Coverage) != 1 || r.Coverage[0].Linked != 2 || r.Coverage[0].InScope != 6 {
		t.Fatalf("coverage = %+v", r.Coverage)
	}
	changes := map[string]string{}
	for _, c := range r.Changes {
		changes[c.Label] = c.From + ">" + c.To
	}
	for label, want := range map[string]string{
		"bob@contoso.com": "unlinked>linked",
		"eve@contoso.com": "linked>deprovisioned",
		"gus@contoso.com": "unlinked>",
		"cy@contoso.com":  ">unlinked",
	} {
		if changes[label] != want {
			t.Errorf("change of %s = %q, want %q", label, changes[label], want)
		}
	}
	if _, ok := changes["ada@contoso.com"]; ok {
		t.Error("unchanged identity listed as a change")
	}
}

func TestCSVNeutralisesFormulas(t *testing.T) {
	r := Build(sample())
	var buf bytes.Buffer
	if err := r.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("cell %q would run as a formula", cell)
			}
		}
	}
}

func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := Build(sample()).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "run", "previous_run", "counts", "coverage", "identities", "changes_since_previous", "actions", "action_counts"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q (documented in schema.md)", k)
		}
	}
}

func TestFirstRunHasNoChanges(t *testing.T) {
	in := sample()
	in.Previous, in.PreviousAssessments = nil, nil
	r := Build(in)
	if len(r.Changes) != 0 || r.Previous != nil {
		t.Fatalf("first run: %+v", r.Changes)
	}
	var buf bytes.Buffer
	r.WriteTable(&buf, TableOptions{Limit: 1})
	if !strings.Contains(buf.String(), "this is the first successful run") {
		t.Fatal("table does not say it is the first run")
	}
}

// TestTableFitsTheTerminal: no line of the table is wider than TableWidth,
// however long the values; the full values stay in CSV and JSON.
func TestTableFitsTheTerminal(t *testing.T) {
	in := sample()
	long := strings.Repeat("very-long-name.", 12) + "@contoso.com"
	in.Assessments = append(in.Assessments, identity.Assessment{Provider: "Entra_ID", Situation: identity.Disputed, ObjectID: "11111111-0000-0000-0000-000000000099",
		UPN: long, Detail: strings.Repeat("a detail that goes on ", 20)})
	r := Build(in)
	var buf bytes.Buffer
	if err := r.WriteTable(&buf, TableOptions{IncludeLinked: true}); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(buf.String(), "\n") {
		if n := len([]rune(line)); n > TableWidth {
			t.Errorf("line %d is %d wide: %q", i+1, n, line)
		}
	}
	if !strings.Contains(buf.String(), "very-long-name.very-long") || strings.Contains(buf.String(), long) {
		t.Error("a long UPN is neither shown shortened nor cut")
	}
	var csvBuf bytes.Buffer
	if err := r.WriteCSV(&csvBuf); err != nil || !strings.Contains(csvBuf.String(), long) {
		t.Errorf("the CSV lost the full UPN: %v", err)
	}
}

func TestClipAndThousands(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		width    int
	}{
		{"abc\n", "abc\n", 3},
		{"abcd\n", "ab…\n", 3},
		{"ab\nabcdef\nx\n", "ab\nab…\nx\n", 3},
		{"äöüß\n", "äö…\n", 3},
	} {
		var b bytes.Buffer
		w := ClipLines(&b, tc.width)
		for _, r := range tc.in { // byte by byte across writes
			io.WriteString(w, string(r))
		}
		if b.String() != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.width, b.String(), tc.want)
		}
	}
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1650: "1,650", 100000: "100,000", 1234567: "1,234,567", -1500: "-1,500", -1650: "-1,650"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
