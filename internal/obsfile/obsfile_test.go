package obsfile

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const oid = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
const tid = "{72f988bf-86f1-41af-91ab-2d7cd011db47}"

func TestParseFormats(t *testing.T) {
	cases := []struct {
		name, body string
		format     Format
		want       int
		errIn      []string
	}{
		{"csv", "sub,oid,tid,client\nabc," + oid + "," + tid + ",app1\n\n", CSV, 1, nil},
		{"csv columns any order", "client,tid,sub,oid\napp1," + tid + ",abc," + oid + "\n", CSV, 1, nil},
		{"jsonl", `{"sub":"abc","oid":"` + oid + `","tid":"` + tid + `","client":"app1"}` + "\n\n" + `{"sub":"d","oid":"` + oid + `","tid":"` + tid + `","client":"app1"}`, JSONLines, 2, nil},
		{"csv missing column", "sub,oid,client\nabc," + oid + ",app1\n", CSV, 0, []string{`no "tid" column`}},
		{"bad oid", "sub,oid,tid,client\nabc,not-a-guid," + tid + ",app1\nok," + oid + "," + tid + ",app1\n", CSV, 0, []string{"line 2", "oid", "not a GUID", "nothing was imported"}},
		{"empty sub", "sub,oid,tid,client\n ," + oid + "," + tid + ",app1\n", CSV, 0, []string{"sub is empty"}},
		{"jsonl unknown field", `{"sub":"a","oid":"` + oid + `","tid":"` + tid + `","client":"x","email":"a@b"}`, JSONLines, 0, []string{"line 1", "unknown field"}},
		{"jsonl missing field", `{"sub":"a","oid":"` + oid + `"}`, JSONLines, 0, []string{"needs all of"}},
		{"empty file", "", CSV, 0, []string{"no observations"}},
		{"non-ascii sub", "sub,oid,tid,client\nä," + oid + "," + tid + ",app1\n", CSV, 0, []string{"printable ASCII"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := Parse("f", strings.NewReader(tc.body), tc.format)
			if tc.errIn != nil {
				if err == nil {
					t.Fatalf("no error, %d records", len(recs))
				}
				for _, w := range tc.errIn {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.want {
				t.Fatalf("got %d records, want %d", len(recs), tc.want)
			}
			if recs[0].OID != strings.ToLower(oid) || recs[0].TID != "72f988bf-86f1-41af-91ab-2d7cd011db47" {
				t.Fatalf("identifiers not normalised: %+v", recs[0])
			}
		})
	}
}

func TestDetect(t *testing.T) {
	if Detect([]byte("\ufeff  {\"sub\"")) != JSONLines || Detect([]byte("sub,oid")) != CSV {
		t.Fatal("detection wrong")
	}
}

func TestObservationsRequireConfiguredClient(t *testing.T) {
	recs, err := Parse("f", strings.NewReader("sub,oid,tid,client\na,"+oid+","+tid+",app1\nb,"+oid+","+tid+",other\n"), CSV)
	if err != nil {
		t.Fatal(err)
	}
	providers := func(c string) (string, bool) {
		if c == "app1" {
			return "Entra_ID", true
		}
		return "", false
	}
	_, err = Observations("f", recs, providers, time.Now())
	var le *Errors
	if !errors.As(err, &le) || le.Lines[0].Line != 3 || !strings.Contains(err.Error(), "not the client_id of any configured provider") {
		t.Fatalf("err = %v", err)
	}
	obs, err := Observations("f", recs[:1], providers, time.Now())
	if err != nil || len(obs) != 1 || obs[0].Provider != "Entra_ID" || obs[0].Source != "import" {
		t.Fatalf("obs = %+v, %v", obs, err)
	}
}

func TestManyBadLinesAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("sub,oid,tid,client\n")
	for range 50 {
		b.WriteString("x,bad," + tid + ",c\n")
	}
	_, err := Parse("f", strings.NewReader(b.String()), CSV)
	var le *Errors
	if !errors.As(err, &le) || len(le.Lines) != MaxLineErrors || le.More != 30 {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("sub,oid,tid,client\nabc,"+oid+","+tid+",app1\n", false)
	f.Add(`{"sub":"abc","oid":"`+oid+`","tid":"`+tid+`","client":"app1"}`, true)
	f.Add("sub,oid,tid,client\n\"unterminated", false)
	f.Fuzz(func(t *testing.T, body string, jsonl bool) {
		format := CSV
		if jsonl {
			format = JSONLines
		}
		recs, err := Parse("fuzz", strings.NewReader(body), format)
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.Sub == "" || r.Client == "" || len(r.OID) != 36 || len(r.TID) != 36 {
				t.Fatalf("accepted an invalid record %+v", r)
			}
		}
	})
}

// TestFormulaGuardIsNotPartOfTheValue: a sub that starts with "-" (legal in
// base64url) comes back from 'idlink observations list --format csv' with
// the spreadsheet formula guard; importing that file keeps the sub as it was.
func TestFormulaGuardIsNotPartOfTheValue(t *testing.T) {
	recs, err := Parse("f", strings.NewReader("sub,oid,tid,client\n'-Zx9_sub,"+oid+","+tid+",app1\n"), CSV)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Sub != "-Zx9_sub" {
		t.Fatalf("records %+v, want sub -Zx9_sub", recs)
	}
}
