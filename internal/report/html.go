package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idlinkhq/idlink/internal/identity"
)

// HTMLOptions tunes the HTML page.
type HTMLOptions struct {
	// History holds earlier runs, oldest first, for the trend charts (may be
	// empty). A point with this run's id is ignored: the page adds this run
	// itself. At most the last 29 earlier runs are drawn.
	History []RunPoint
	// EntraUserURL is the deep link to the Entra admin center user page of
	// an object id; nil = no link.
	EntraUserURL func(objectID string) string
	// SalesforceUserURL is the deep link to the Salesforce user record of a
	// user id; nil = no link.
	SalesforceUserURL func(userID string) string
	// Limit is the number of rows per list before "and N more (the CSV holds
	// all)"; 0 (or less) means 200.
	Limit int
	// Generated is shown in the footer; zero = omit.
	Generated time.Time
}

// RunPoint is one earlier run on the trend charts.
type RunPoint struct {
	ID              int64
	Kind, Status    string
	StartedAt       time.Time
	Counts          map[string]int // by situation
	CoveragePercent float64
}

// htmlDefaultLimit is the list cap of WriteHTML when HTMLOptions.Limit is 0.
const htmlDefaultLimit = 200

// htmlTrendRuns is the number of runs (this one included) the trend charts
// draw.
const htmlTrendRuns = 30

// WriteHTML renders the report as one self-contained HTML page for an
// identity admin: no script, no external resource (a Content-Security-Policy
// forbids both), charts as inline SVG with their numbers as text, the lists
// ordered by what needs a person and capped at opt.Limit rows each, so the
// page stays small for any number of identities. Every value from the report
// is escaped by html/template.
func (r Report) WriteHTML(w io.Writer, opt HTMLOptions) error {
	if opt.Limit <= 0 {
		opt.Limit = htmlDefaultLimit
	}
	return htmlTemplate.Execute(w, buildHTMLPage(r, opt))
}

// htmlOrder is the page's order of situations: what needs a person first.
var htmlOrder = []identity.Situation{identity.Disputed, identity.Misrouted, identity.Deprovisioned, identity.Orphaned, identity.Unmatched, identity.Unlinked, identity.Linked}

// htmlAccent holds the accent colours of the situations, each at least 3:1
// against white and always next to the situation's name, never the only
// sign of it.
var htmlAccent = map[identity.Situation]string{
	identity.Disputed:      "#b3261e",
	identity.Misrouted:     "#b34700",
	identity.Deprovisioned: "#7a4d00",
	identity.Orphaned:      "#6b3fa0",
	identity.Unmatched:     "#8a5a00",
	identity.Unlinked:      "#1f5fa8",
	identity.Linked:        "#1e7a3c",
}

const htmlNeutralFill = "#4b5563"

// htmlActionMeaning says in an admin's words what each kind of action does.
var htmlActionMeaning = map[string]string{
	string(identity.ActionCreateLink):        "new link: the next sign-in lands on the provisioned account",
	string(identity.ActionUpdateLink):        "link re-pointed or refreshed",
	string(identity.ActionRevokeLink):        "link revoked with a reason; its history stays",
	string(identity.ActionRevokeAccountLink): "Salesforce's own account link to a JIT duplicate removed",
	string(identity.ActionProposeLink):       "weaker match kept as a proposal until an admin approves it",
	string(identity.ActionAdoptLink):         "existing Identity_Link__c record recorded in idlink's store",
	string(identity.ActionFlag):              "shown to an admin; nothing written",
}

// htmlStateOrder orders the state columns of the actions summary.
var htmlStateOrder = []string{"applied", "planned", "held", "failed"}

type htmlPage struct {
	Title, Heading, Subtitle string
	Lead                     string
	Facts                    []htmlFact
	Alerts                   []htmlAlert
	Coverage                 []htmlCoverage
	CoverageNone             string
	Cards                    []htmlCard
	SituationChart           htmlBarChart
	RunCounters              *htmlTable
	Trend                    htmlTrend
	Sections                 []htmlSection
	Changes                  htmlChanges
	Actions                  htmlActions
	Footer                   htmlText
	Generated                string
}

type htmlFact struct{ Label, Value, Class string }

type htmlAlert struct {
	Class, Label string
	Text         htmlText
}

// htmlText is text with code spans, rendered without template.HTML.
type htmlText []htmlSpan

type htmlSpan struct {
	Text string
	Code bool
}

func htmlPlain(s string) htmlText { return htmlText{{Text: s}} }

func htmlCode(parts ...string) htmlText {
	var t htmlText
	for i, p := range parts {
		if p != "" {
			t = append(t, htmlSpan{Text: p, Code: i%2 == 1})
		}
	}
	return t
}

type htmlCoverage struct {
	Provider, Percent, Of string
	BarW                  int
}

type htmlCard struct {
	Situation, Label, Count, Meaning, Tag, TagClass, Anchor string
	N                                                       int
}

type htmlBarChart struct {
	ID, Title, Desc string
	Width, Height   int
	LabelX, BarX    int
	Bars            []htmlBar
}

type htmlBar struct {
	Label, Value, Fill     string
	Y, TextY, W, H, ValueX int
}

type htmlTrend struct {
	Sentence string // when there are fewer than 2 points
	Coverage htmlLineChart
	Sparks   htmlSparks
	Table    *htmlTable
}

type htmlLineChart struct {
	ID, Title, Desc string
	Width, Height   int
	X0, X1          int
	Points          string
	YTicks          []htmlTick
	XTicks          []htmlTick
	Dots            []htmlDot
}

type htmlTick struct {
	X, Y  int
	Label string
}

type htmlDot struct {
	X, Y, LabelY int
	Label, Title string
}

type htmlSparks struct {
	ID, Title, Desc string
	Width, Height   int
	Rows            []htmlSparkRow
}

type htmlSparkRow struct {
	Label, Value, Delta, Fill string
	Y, TextY, ValueX, BaseY   int
	BaseX0, BaseX1            int
	Bars                      []htmlSparkBar
}

type htmlSparkBar struct {
	X, Y, W, H int
	Title      string
}

type htmlSection struct {
	ID, Title, Count, Accent, Tag, TagClass string
	Meaning                                 string
	Next                                    htmlText
	Empty                                   string
	Table                                   *htmlTable
	Collapse                                string // summary of the <details> the list is in; "" = shown
}

type htmlTable struct {
	Caption string
	Cols    []htmlCol
	Rows    [][]htmlCell
	More    htmlText
}

type htmlCol struct {
	Name string
	Num  bool
}

// htmlCell is one table cell; Class is "num" (right-aligned number),
// "mono" (an id, kept on one line), "sub" (a long id that may wrap), "name"
// (a UPN or username, kept on one line), "name-long" (one that may wrap) or
// "wide" (prose).
type htmlCell struct {
	Text, Href, Class string
}

// htmlNameWrap is the length from which a name may wrap.
const htmlNameWrap = 32

// htmlName is the cell of a UPN or username: on one line unless it is long.
func htmlName(s string) htmlCell {
	if utf8.RuneCountInString(s) > htmlNameWrap {
		return htmlCell{Text: s, Class: "name-long"}
	}
	return htmlCell{Text: s, Class: "name"}
}

// Pieces splits a long name at the places a line may break (before "@",
// after "." and "_"), for <wbr> between them: it wraps as
// "first.<wbr>last<wbr>@contoso.<wbr>com", never in the middle of a word.
// Other cells are one piece.
func (c htmlCell) Pieces() []string {
	if c.Class != "name-long" {
		return []string{c.Text}
	}
	var out []string
	start := 0
	for i, r := range c.Text {
		switch {
		case r == '@' && i > start:
			out = append(out, c.Text[start:i])
			start = i
		case (r == '.' || r == '_') && i+1 < len(c.Text):
			out = append(out, c.Text[start:i+1])
			start = i + 1
		}
	}
	return append(out, c.Text[start:])
}

type htmlChanges struct {
	Intro string
	Chart *htmlBarChart
	Table *htmlTable
}

type htmlActions struct {
	None            string
	Summary         *htmlTable
	NotAppliedIntro string
	NotApplied      *htmlTable
}

// htmlBuilder holds what the parts of the page share.
type htmlBuilder struct {
	r     Report
	opt   HTMLOptions
	items map[identity.Situation][]Item // capped at opt.Limit
	byOID map[[2]string]Item            // provider, object id
}

func buildHTMLPage(r Report, opt HTMLOptions) htmlPage {
	b := &htmlBuilder{r: r, opt: opt, items: map[identity.Situation][]Item{}, byOID: map[[2]string]Item{}}
	for _, it := range r.Items {
		s := identity.Situation(it.Situation)
		if len(b.items[s]) < opt.Limit {
			b.items[s] = append(b.items[s], it)
		}
		if it.ObjectID != "" {
			if _, ok := b.byOID[[2]string{it.Provider, it.ObjectID}]; !ok {
				b.byOID[[2]string{it.Provider, it.ObjectID}] = it
			}
		}
	}
	ri := r.Run
	p := htmlPage{
		Title:    fmt.Sprintf("idlink report: run %d (%s, %s)", ri.ID, ri.Kind, ri.Status),
		Heading:  fmt.Sprintf("Identity link report: run %d", ri.ID),
		Subtitle: "Entra ID identities linked to Salesforce users: what needs a person, what changed, what idlink did.",
	}
	p.Lead = b.lead()
	p.Facts = b.facts()
	p.Alerts = b.alerts()
	p.Coverage, p.CoverageNone = b.coverage()
	p.Cards = b.cards()
	p.SituationChart = b.situationChart()
	p.RunCounters = b.runCounters()
	p.Trend = b.trend()
	p.Sections = b.sections()
	p.Changes = b.changes()
	p.Actions = b.actions()
	p.Footer = htmlCode(fmt.Sprintf("Each list shows at most %s rows. Every identity is in ", thousands(opt.Limit)), "idlink report --format csv", ", the whole report in ", "idlink report --format json", ".")
	if !opt.Generated.IsZero() {
		p.Generated = "Generated " + htmlStamp(opt.Generated) + " by idlink."
	}
	return p
}

// lead sums up in one sentence what needs a person.
func (b *htmlBuilder) lead() string {
	need, parts := 0, []string(nil)
	for _, s := range htmlOrder {
		if s == identity.Unlinked || s == identity.Linked {
			continue // no person needed
		}
		if n := b.r.Counts[string(s)]; n > 0 {
			need += n
			parts = append(parts, thousands(n)+" "+string(s))
		}
	}
	proposals := 0
	for _, a := range b.r.Actions {
		if a.Kind == string(identity.ActionProposeLink) {
			proposals++
		}
	}
	var out []string
	if need > 0 {
		out = append(out, fmt.Sprintf("%s a person (%s)", htmlPlural(need, "identity needs", "identities need"), strings.Join(parts, ", ")))
	}
	if d := len(b.r.Duplicates); d > 0 {
		out = append(out, htmlPlural(d, "duplicate account is", "duplicate accounts are")+" to retire")
	}
	if proposals > 0 {
		out = append(out, htmlPlural(proposals, "proposed link awaits", "proposed links await")+" approval")
	}
	if len(out) == 0 {
		return "Nothing needs a person in this run."
	}
	return htmlTitleCase(strings.Join(out, "; ")) + "."
}

func (b *htmlBuilder) facts() []htmlFact {
	ri := b.r.Run
	took := "still running"
	if ri.FinishedAt != nil {
		took = ri.FinishedAt.Sub(ri.StartedAt).Round(time.Second).String()
	}
	prev := "nothing: this is the first run"
	if pr := b.r.Previous; pr != nil {
		prev = fmt.Sprintf("run %d (%s, started %s)", pr.ID, pr.Kind, htmlStamp(pr.StartedAt))
	}
	return []htmlFact{
		{Label: "Run", Value: strconv.FormatInt(ri.ID, 10)},
		{Label: "Kind", Value: ri.Kind},
		{Label: "Status", Value: ri.Status, Class: "status status-" + htmlStatusClass(ri.Status)},
		{Label: "Started", Value: htmlStamp(ri.StartedAt)},
		{Label: "Took", Value: took},
		{Label: "Compared with", Value: prev},
	}
}

func htmlStatusClass(s string) string {
	switch s {
	case "succeeded":
		return "good"
	case "failed":
		return "bad"
	case "held", "throttled", "skipped", "running":
		return "warn"
	}
	return "other"
}

func (b *htmlBuilder) alerts() []htmlAlert {
	ri := b.r.Run
	var out []htmlAlert
	if ri.Error != "" {
		out = append(out, htmlAlert{Class: "error", Label: "The run reported an error:", Text: htmlPlain(ri.Error)})
	}
	switch ri.Status {
	case "failed":
		if ri.Error == "" {
			out = append(out, htmlAlert{Class: "error", Label: "The run failed.", Text: htmlPlain("Its log says why; actions not applied stay pending for the next run.")})
		}
	case "held":
		out = append(out, htmlAlert{Class: "warn", Label: "Held by the safety limit:", Text: htmlCode("nothing was written. Review the actions below, then re-run with ", fmt.Sprintf("idlink run --override %d", ri.ID), ".")})
	case "throttled":
		out = append(out, htmlAlert{Class: "warn", Label: "Stopped early:", Text: htmlPlain("Graph or Salesforce kept throttling past the retries. Nothing is wrong with the configuration; running again later is safe.")})
	case "skipped":
		out = append(out, htmlAlert{Class: "warn", Label: "Skipped:", Text: htmlPlain("another run held the lease, so this one did nothing.")})
	case "running":
		out = append(out, htmlAlert{Class: "warn", Label: "Still running:", Text: htmlPlain("the numbers may still change.")})
	}
	if ri.Kind == "dry-run" {
		out = append(out, htmlAlert{Class: "note", Label: "Dry run:", Text: htmlPlain("the plan was computed and nothing was written.")})
	}
	if l := b.r.LaterFailed; l != nil {
		out = append(out, htmlAlert{Class: "error", Label: fmt.Sprintf("A later run, %d (%s), %s:", l.ID, l.Kind, l.Status),
			Text: htmlCode(cmp.Or(l.Error, "see its log")+". This page shows the latest completed run; ", "idlink runs", " lists them all.")})
	}
	if ri.Note != "" {
		out = append(out, htmlAlert{Class: "note", Label: "Note:", Text: htmlPlain(ri.Note)})
	}
	return out
}

func (b *htmlBuilder) coverage() ([]htmlCoverage, string) {
	var out []htmlCoverage
	for _, c := range b.r.Coverage {
		out = append(out, htmlCoverage{
			Provider: c.Provider,
			Percent:  htmlPct(c.Percent),
			Of:       fmt.Sprintf("%s of %s in-scope users", thousands(c.Linked), thousands(c.InScope)),
			BarW:     int(math.Round(htmlClamp(c.Percent, 0, 100) * 2)),
		})
	}
	if len(out) == 0 {
		return nil, "No in-scope users in this run."
	}
	return out, ""
}

func (b *htmlBuilder) cards() []htmlCard {
	var out []htmlCard
	for _, s := range htmlOrder {
		n := b.r.Counts[string(s)]
		tag, cls := htmlNeedTag(s, n)
		out = append(out, htmlCard{
			Situation: string(s), Label: htmlTitleCase(string(s)), N: n, Count: thousands(n),
			Meaning: meaning[s], Tag: tag, TagClass: cls, Anchor: "#sit-" + string(s),
		})
	}
	return out
}

func htmlNeedTag(s identity.Situation, n int) (string, string) {
	switch {
	case s == identity.Linked:
		return "no action", "tag-ok"
	case n == 0:
		return "none", "tag-ok"
	case s == identity.Unlinked:
		return "waiting", "tag-wait"
	}
	return "needs a person", "tag-act"
}

func (b *htmlBuilder) situationChart() htmlBarChart {
	var rows []htmlBarRow
	for _, s := range htmlOrder {
		rows = append(rows, htmlBarRow{Label: string(s), N: b.r.Counts[string(s)], Fill: htmlAccent[s]})
	}
	return htmlBarsOf("chart-situations", fmt.Sprintf("Identities by situation in run %d", b.r.Run.ID), rows)
}

func (b *htmlBuilder) runCounters() *htmlTable {
	if len(b.r.Run.Counts) == 0 {
		return nil
	}
	t := &htmlTable{Caption: "Counters of the run", Cols: []htmlCol{{Name: "Counter"}, {Name: "Value", Num: true}}}
	for _, k := range sortedKeys(b.r.Run.Counts) {
		t.Rows = append(t.Rows, []htmlCell{{Text: k, Class: "mono"}, {Text: thousands(int(b.r.Run.Counts[k])), Class: "num"}})
	}
	return t
}

type htmlBarRow struct {
	Label string
	N     int
	Fill  string
}

// htmlBarsOf lays out a horizontal bar chart; the label and the number of each
// bar are text.
func htmlBarsOf(id, title string, rows []htmlBarRow) htmlBarChart {
	const width, rowH, barH, valueW = 720, 28, 18, 90
	labelW := 0
	var desc []string
	hi := 0
	for _, r := range rows {
		labelW = max(labelW, utf8.RuneCountInString(r.Label))
		hi = max(hi, r.N)
		desc = append(desc, r.Label+" "+thousands(r.N))
	}
	labelPx := min(labelW*8+16, 300)
	barMax := width - labelPx - valueW
	c := htmlBarChart{ID: id, Title: title, Desc: strings.Join(desc, ", "), Width: width, Height: len(rows)*rowH + 4, LabelX: labelPx - 8, BarX: labelPx}
	for i, r := range rows {
		w := 0
		if hi > 0 && r.N > 0 {
			w = max(2, int(math.Round(float64(r.N)*float64(barMax)/float64(hi))))
		}
		y := i*rowH + 2
		c.Bars = append(c.Bars, htmlBar{Label: r.Label, Value: thousands(r.N), Fill: r.Fill, Y: y + (rowH-barH)/2, H: barH, W: w, TextY: y + rowH/2 + 5, ValueX: labelPx + w + 6})
	}
	return c
}

func (b *htmlBuilder) trend() htmlTrend {
	var pts []RunPoint
	for _, p := range b.opt.History {
		if p.ID != b.r.Run.ID {
			pts = append(pts, p)
		}
	}
	pts = append(pts, b.currentPoint())
	if len(pts) > htmlTrendRuns {
		pts = pts[len(pts)-htmlTrendRuns:]
	}
	if len(pts) < 2 {
		return htmlTrend{Sentence: "There are no earlier runs to compare with yet: the trend charts appear from the second run on."}
	}
	return htmlTrend{Coverage: htmlCoverageChart(pts), Sparks: htmlSparksOf(pts), Table: htmlTrendTable(pts)}
}

func (b *htmlBuilder) currentPoint() RunPoint {
	linked, in := 0, 0
	for _, c := range b.r.Coverage {
		linked += c.Linked
		in += c.InScope
	}
	p := RunPoint{ID: b.r.Run.ID, Kind: b.r.Run.Kind, Status: b.r.Run.Status, StartedAt: b.r.Run.StartedAt, Counts: b.r.Counts}
	if in > 0 {
		p.CoveragePercent = float64(linked) * 100 / float64(in)
	}
	return p
}

// htmlLabelEvery is the step between labelled points so that at most about
// 8 labels share an axis; the last point is always labelled.
func htmlLabelEvery(n int) int { return max(1, (n+7)/8) }

func htmlLabelled(i, n int) bool { return i == n-1 || (n-1-i)%htmlLabelEvery(n) == 0 }

func htmlCoverageChart(pts []RunPoint) htmlLineChart {
	const width, height, x0, x1, top, bottom = 520, 230, 48, 500, 24, 190
	c := htmlLineChart{ID: "chart-coverage", Title: "Coverage over the last runs (percent of in-scope users linked)", Width: width, Height: height, X0: x0, X1: x1}
	for _, v := range []int{0, 25, 50, 75, 100} {
		c.YTicks = append(c.YTicks, htmlTick{X: x0 - 8, Y: bottom - v*(bottom-top)/100, Label: strconv.Itoa(v) + "%"})
	}
	var poly, desc []string
	n := len(pts)
	for i, p := range pts {
		x := x0 + i*(x1-x0)/(n-1)
		y := bottom - int(math.Round(htmlClamp(p.CoveragePercent, 0, 100)*float64(bottom-top)/100))
		poly = append(poly, fmt.Sprintf("%d,%d", x, y))
		desc = append(desc, fmt.Sprintf("run %d %s", p.ID, htmlPct(p.CoveragePercent)))
		d := htmlDot{X: x, Y: y, Title: fmt.Sprintf("run %d: %s", p.ID, htmlPct(p.CoveragePercent))}
		if htmlLabelled(i, n) {
			d.Label = htmlPct(p.CoveragePercent)
			d.LabelY = y - 10
			if y-10 < top {
				d.LabelY = y + 20
			}
			c.XTicks = append(c.XTicks, htmlTick{X: x, Y: bottom + 22, Label: fmt.Sprintf("run %d", p.ID)})
		}
		c.Dots = append(c.Dots, d)
	}
	c.Points = strings.Join(poly, " ")
	c.Desc = strings.Join(desc, ", ")
	return c
}

func htmlSparksOf(pts []RunPoint) htmlSparks {
	const width, rowH, labelW, areaW, barMaxH = 520, 32, 112, 192, 24
	n := len(pts)
	step := min(32, areaW/n)
	barW := max(2, step-4)
	c := htmlSparks{ID: "chart-trend-situations", Title: fmt.Sprintf("Identities by situation over the last %d runs", n), Width: width, Height: len(htmlOrder)*rowH + 4}
	var desc []string
	prev := pts[n-2]
	for i, s := range htmlOrder {
		y := i*rowH + 2
		hi := 0
		for _, p := range pts {
			hi = max(hi, p.Counts[string(s)])
		}
		cur := pts[n-1].Counts[string(s)]
		row := htmlSparkRow{Label: string(s), Fill: htmlAccent[s], Y: y, TextY: y + rowH/2 + 5, BaseY: y + rowH - 5, BaseX0: labelW, BaseX1: labelW + n*step - 4, ValueX: labelW + n*step + 12, Value: thousands(cur)}
		switch d := cur - prev.Counts[string(s)]; {
		case d > 0:
			row.Delta = fmt.Sprintf("+%s since run %d", thousands(d), prev.ID)
		case d < 0:
			row.Delta = fmt.Sprintf("−%s since run %d", thousands(-d), prev.ID)
		default:
			row.Delta = fmt.Sprintf("unchanged since run %d", prev.ID)
		}
		for j, p := range pts {
			v := p.Counts[string(s)]
			h := 0
			if hi > 0 && v > 0 {
				h = max(2, int(math.Round(float64(v)*barMaxH/float64(hi))))
			}
			row.Bars = append(row.Bars, htmlSparkBar{X: labelW + j*step, Y: row.BaseY - h, W: barW, H: h, Title: fmt.Sprintf("run %d: %s %s", p.ID, thousands(v), s)})
		}
		desc = append(desc, fmt.Sprintf("%s %s (%s)", s, row.Value, row.Delta))
		c.Rows = append(c.Rows, row)
	}
	c.Desc = strings.Join(desc, ", ")
	return c
}

func htmlTrendTable(pts []RunPoint) *htmlTable {
	t := &htmlTable{Caption: "The numbers behind the trend charts, oldest run first", Cols: []htmlCol{{Name: "Run", Num: true}, {Name: "Kind"}, {Name: "Status"}, {Name: "Started"}, {Name: "Coverage", Num: true}}}
	for _, s := range htmlOrder {
		t.Cols = append(t.Cols, htmlCol{Name: htmlTitleCase(string(s)), Num: true})
	}
	for _, p := range pts {
		row := []htmlCell{{Text: strconv.FormatInt(p.ID, 10), Class: "num"}, {Text: p.Kind}, {Text: p.Status}, {Text: htmlStamp(p.StartedAt)}, {Text: htmlPct(p.CoveragePercent), Class: "num"}}
		for _, s := range htmlOrder {
			row = append(row, htmlCell{Text: thousands(p.Counts[string(s)]), Class: "num"})
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

var htmlIdentityCols = []htmlCol{{Name: "Entra UPN"}, {Name: "Entra object id"}, {Name: "Salesforce username"}, {Name: "Salesforce user id"}, {Name: "Provider"}, {Name: "Rule"}, {Name: "Detail"}}

func (b *htmlBuilder) entra(oid string) string {
	if oid == "" || b.opt.EntraUserURL == nil {
		return ""
	}
	return b.opt.EntraUserURL(oid)
}

func (b *htmlBuilder) salesforce(id string) string {
	if id == "" || b.opt.SalesforceUserURL == nil {
		return ""
	}
	return b.opt.SalesforceUserURL(id)
}

func (b *htmlBuilder) idCells(upn, oid, username, sfid string) []htmlCell {
	return []htmlCell{htmlName(upn), {Text: oid, Href: b.entra(oid), Class: "mono"}, htmlName(username), {Text: sfid, Href: b.salesforce(sfid), Class: "mono"}}
}

func (b *htmlBuilder) more(shown, total int, code string) htmlText {
	if total <= shown {
		return nil
	}
	what := "the CSV ("
	switch code {
	case "idlink report --format duplicates-csv":
		what = "the Data Loader file ("
	case "idlink report --format json":
		what = "the JSON report ("
	}
	return htmlCode(fmt.Sprintf("… and %s more — %s", thousands(total-shown), what), code, ") holds all.")
}

func (b *htmlBuilder) sections() []htmlSection {
	var out []htmlSection
	for _, s := range htmlOrder {
		out = append(out, b.situationSection(s))
		switch s {
		case identity.Misrouted:
			out = append(out, b.duplicatesSection())
		case identity.Deprovisioned:
			out = append(out, b.proposalsSection())
		}
	}
	return out
}

func (b *htmlBuilder) situationSection(s identity.Situation) htmlSection {
	n := b.r.Counts[string(s)]
	tag, cls := htmlNeedTag(s, n)
	sec := htmlSection{
		ID: "sit-" + string(s), Title: htmlTitleCase(string(s)), Count: thousands(n), Accent: string(s), Tag: tag, TagClass: cls,
		Meaning: htmlSentence(meaning[s]), Next: htmlPlain(htmlSentence(todo[s])),
	}
	items := b.items[s]
	if len(items) == 0 {
		sec.Empty = fmt.Sprintf("No %s identities in this run.", s)
		return sec
	}
	t := &htmlTable{Caption: fmt.Sprintf("%s identities (%s)", htmlTitleCase(string(s)), htmlShownOf(len(items), n)), Cols: htmlIdentityCols}
	for _, it := range items {
		row := b.idCells(it.UPN, it.ObjectID, it.SalesforceUsername, it.SalesforceUserID)
		row = append(row, htmlCell{Text: it.Provider}, htmlCell{Text: it.Rule}, htmlCell{Text: it.Detail, Class: "wide"})
		t.Rows = append(t.Rows, row)
	}
	t.More = b.more(len(items), n, "idlink report --format csv")
	sec.Table = t
	if s == identity.Linked || s == identity.Unlinked {
		sec.Collapse = fmt.Sprintf("Show the list (%s)", htmlShownOf(len(items), n))
	}
	return sec
}

func (b *htmlBuilder) duplicatesSection() htmlSection {
	ds := b.r.Duplicates
	sec := htmlSection{
		ID: "duplicates", Title: "Duplicates to retire", Count: thousands(len(ds)), Accent: string(identity.Misrouted),
		Meaning: "JIT-created Salesforce accounts of people who have a provisioned one; idlink's link already routes their sign-ins to the provisioned account.",
		Next:    htmlCode("Move what each duplicate owns to the provisioned account, then deactivate the duplicate (", "idlink report --format duplicates-csv", " is a Data Loader file for that); idlink never deactivates users itself."),
	}
	sec.Tag, sec.TagClass = "needs a person", "tag-act"
	if len(ds) == 0 {
		sec.Tag, sec.TagClass = "none", "tag-ok"
		sec.Empty = "No duplicates to retire in this run."
		return sec
	}
	shown := ds[:min(len(ds), b.opt.Limit)]
	t := &htmlTable{
		Caption: fmt.Sprintf("Duplicates to retire (%s)", htmlShownOf(len(shown), len(ds))),
		Cols:    []htmlCol{{Name: "Duplicate username"}, {Name: "Duplicate user id"}, {Name: "Duplicate of (provisioned)"}, {Name: "Provisioned user id"}, {Name: "Entra UPN"}, {Name: "Entra object id"}, {Name: "Provider"}},
	}
	for _, d := range shown {
		t.Rows = append(t.Rows, []htmlCell{
			htmlName(d.SalesforceUsername), {Text: d.SalesforceUserID, Href: b.salesforce(d.SalesforceUserID), Class: "mono"},
			htmlName(d.DuplicateOfUsername), {Text: d.DuplicateOfID, Href: b.salesforce(d.DuplicateOfID), Class: "mono"},
			htmlName(d.UPN), {Text: d.ObjectID, Href: b.entra(d.ObjectID), Class: "mono"}, {Text: d.Provider},
		})
	}
	t.More = b.more(len(shown), len(ds), "idlink report --format duplicates-csv")
	sec.Table = t
	return sec
}

func (b *htmlBuilder) proposalsSection() htmlSection {
	var ps []ActionItem
	for _, a := range b.r.Actions {
		if a.Kind == string(identity.ActionProposeLink) {
			ps = append(ps, a)
		}
	}
	sec := htmlSection{
		ID: "proposals", Title: "Proposals awaiting approval", Count: thousands(len(ps)), Accent: string(identity.Unlinked),
		Meaning: "Matches too weak to link on their own (a UPN alone, or email evidence of a suspected duplicate); nothing changes until an admin decides.",
		Next:    htmlCode("Check each proposed link, then approve or reject it with ", "idlink links approve|reject --provider P --subject S --actor NAME", "."),
	}
	sec.Tag, sec.TagClass = "needs a person", "tag-act"
	if len(ps) == 0 {
		sec.Tag, sec.TagClass = "none", "tag-ok"
		sec.Empty = "No proposed links in this run."
		return sec
	}
	shown := ps[:min(len(ps), b.opt.Limit)]
	t := &htmlTable{
		Caption: fmt.Sprintf("Proposed links (%s)", htmlShownOf(len(shown), len(ps))),
		Cols:    append(slices.Clone(htmlIdentityCols[:6]), htmlCol{Name: "Subject"}, htmlCol{Name: "State"}, htmlCol{Name: "Detail"}),
	}
	for _, a := range shown {
		it := b.byOID[[2]string{a.Provider, a.ObjectID}] // the rule and detail of its assessment
		row := b.idCells(a.UPN, a.ObjectID, a.SalesforceUsername, a.SalesforceUserID)
		row = append(row, htmlCell{Text: a.Provider}, htmlCell{Text: it.Rule}, htmlCell{Text: a.Subject, Class: "sub"}, htmlCell{Text: a.State}, htmlCell{Text: cmp.Or(a.Error, cmp.Or(a.Reason, it.Detail)), Class: "wide"})
		t.Rows = append(t.Rows, row)
	}
	t.More = b.more(len(shown), len(ps), "idlink report --format json")
	sec.Table = t
	return sec
}

func (b *htmlBuilder) changes() htmlChanges {
	if b.r.Previous == nil {
		return htmlChanges{Intro: "This is the first run: there is no earlier run to compare with."}
	}
	cs := b.r.Changes
	if len(cs) == 0 {
		return htmlChanges{Intro: fmt.Sprintf("No identity changed situation since run %d.", b.r.Previous.ID)}
	}
	var rows []htmlBarRow
	for _, k := range b.r.Transitions { // largest first
		fill := htmlNeutralFill
		if k.To != "" {
			fill = cmp.Or(htmlAccent[identity.Situation(k.To)], htmlNeutralFill)
		}
		rows = append(rows, htmlBarRow{Label: htmlOrWord(k.From, "new") + " → " + htmlOrWord(k.To, "gone"), N: k.Count, Fill: fill})
	}
	chart := htmlBarsOf("chart-changes", fmt.Sprintf("Changes since run %d by transition", b.r.Previous.ID), rows)
	shown := cs[:min(len(cs), b.opt.Limit)]
	t := &htmlTable{
		Caption: fmt.Sprintf("Identities whose situation changed (%s)", htmlShownOf(len(shown), len(cs))),
		Cols:    []htmlCol{{Name: "Identity"}, {Name: "Entra object id or Salesforce user id"}, {Name: "Provider"}, {Name: "Was"}, {Name: "Is now"}},
	}
	for _, c := range shown {
		id, href := c.Key, ""
		if oid, ok := strings.CutPrefix(c.Key, "entra:"); ok {
			id, href = oid, b.entra(oid)
		} else if sfid, ok := strings.CutPrefix(c.Key, "salesforce:"); ok {
			id, href = sfid, b.salesforce(sfid)
		}
		t.Rows = append(t.Rows, []htmlCell{htmlName(c.Label), {Text: id, Href: href, Class: "mono"}, {Text: c.Provider}, {Text: htmlOrWord(c.From, "new")}, {Text: htmlOrWord(c.To, "gone")}})
	}
	t.More = b.more(len(shown), len(cs), "idlink report --format json")
	return htmlChanges{
		Intro: fmt.Sprintf("%s identities changed situation since run %d (started %s).", thousands(len(cs)), b.r.Previous.ID, htmlStamp(b.r.Previous.StartedAt)),
		Chart: &chart, Table: t,
	}
}

func (b *htmlBuilder) actions() htmlActions {
	if len(b.r.Actions) == 0 && len(b.r.ActionCounts) == 0 {
		return htmlActions{None: "The run planned no actions."}
	}
	states := map[string]bool{}
	for _, m := range b.r.ActionCounts {
		for st := range m {
			states[st] = true
		}
	}
	var cols []string
	for _, st := range htmlStateOrder {
		if states[st] {
			cols = append(cols, st)
			delete(states, st)
		}
	}
	cols = append(cols, sortedKeys(states)...)
	sum := &htmlTable{Caption: "Actions by kind and outcome", Cols: []htmlCol{{Name: "Action"}, {Name: "What it does"}}}
	for _, st := range cols {
		sum.Cols = append(sum.Cols, htmlCol{Name: htmlTitleCase(st), Num: true})
	}
	for _, kind := range sortedKeys(b.r.ActionCounts) {
		row := []htmlCell{{Text: kind, Class: "mono"}, {Text: htmlActionMeaning[kind]}}
		for _, st := range cols {
			row = append(row, htmlCell{Text: thousands(b.r.ActionCounts[kind][st]), Class: "num"})
		}
		sum.Rows = append(sum.Rows, row)
	}
	a := htmlActions{Summary: sum}
	var notDone []ActionItem
	for _, x := range b.r.Actions {
		if x.State == "failed" || x.State == "held" {
			notDone = append(notDone, x)
		}
	}
	if len(notDone) == 0 {
		a.NotAppliedIntro = "Every planned action was applied or needs nothing more."
		if b.r.Run.Kind == "dry-run" {
			a.NotAppliedIntro = "A dry run applies nothing; no action failed or was held."
		}
		return a
	}
	a.NotAppliedIntro = fmt.Sprintf("%s not applied: held by the safety limit or failed. They stay pending for the next run.", htmlPlural(len(notDone), "action was", "actions were"))
	shown := notDone[:min(len(notDone), b.opt.Limit)]
	t := &htmlTable{
		Caption: fmt.Sprintf("Actions not applied (%s)", htmlShownOf(len(shown), len(notDone))),
		Cols:    []htmlCol{{Name: "State"}, {Name: "Action"}, {Name: "Provider"}, {Name: "Subject"}, {Name: "Salesforce user id"}, {Name: "Entra object id"}, {Name: "Why"}},
	}
	for _, x := range shown {
		t.Rows = append(t.Rows, []htmlCell{
			{Text: x.State}, {Text: x.Kind, Class: "mono"}, {Text: x.Provider}, {Text: x.Subject, Class: "sub"},
			{Text: x.SalesforceUserID, Href: b.salesforce(x.SalesforceUserID), Class: "mono"},
			{Text: x.ObjectID, Href: b.entra(x.ObjectID), Class: "mono"},
			{Text: cmp.Or(x.Error, x.Reason), Class: "wide"},
		})
	}
	t.More = b.more(len(shown), len(notDone), "idlink report --format json")
	a.NotApplied = t
	return a
}

func htmlShownOf(shown, total int) string {
	if shown == total {
		return "all " + thousands(total)
	}
	return fmt.Sprintf("first %s of %s", thousands(shown), thousands(total))
}

// htmlPlural is "1 action was" or "2 actions were".
func htmlPlural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

func htmlOrWord(s, word string) string {
	if s == "" {
		return word
	}
	return s
}

func htmlTitleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// htmlSentence capitalises s (but not the name idlink) and ends it with a
// full stop.
func htmlSentence(s string) string {
	if !strings.HasPrefix(s, "idlink") {
		s = htmlTitleCase(s)
	}
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func htmlStamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func htmlPct(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + "%" }

func htmlClamp(f, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, f)) }

var htmlTemplate = template.Must(template.New("page").Parse(htmlPageTemplate))

const htmlPageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{{.Title}}</title>
<style>
` + htmlCSS + `</style>
</head>
<body>
<header class="top">
<div class="wrap">
<p class="brand">idlink</p>
<h1>{{.Heading}}</h1>
<p class="subtitle">{{.Subtitle}}</p>
</div>
</header>
<main class="wrap">
<section id="glance" aria-labelledby="glance-h">
<h2 id="glance-h">At a glance</h2>
<p class="lead">{{.Lead}}</p>
<dl class="facts">
{{- range .Facts}}
<div><dt>{{.Label}}</dt><dd{{if .Class}} class="{{.Class}}"{{end}}>{{.Value}}</dd></div>
{{- end}}
</dl>
{{- range .Alerts}}
<div class="callout callout-{{.Class}}" role="note"><strong>{{.Label}}</strong> {{template "text" .Text}}</div>
{{- end}}
<h3>Coverage</h3>
<p class="hint">The share of in-scope Entra users whose next sign-in lands on their provisioned Salesforce account.</p>
{{- if .CoverageNone}}
<p>{{.CoverageNone}}</p>
{{- else}}
<div class="coverage">
{{- range .Coverage}}
<div class="cov">
<p class="cov-provider">{{.Provider}}</p>
<p class="big">{{.Percent}}</p>
<svg class="meter" role="img" aria-label="{{.Provider}} coverage {{.Percent}}" width="200" height="10" viewBox="0 0 200 10"><rect width="200" height="10" rx="5" fill="#dfe3e8"/><rect width="{{.BarW}}" height="10" rx="5" fill="#1e7a3c"/></svg>
<p class="cov-of">{{.Of}}</p>
</div>
{{- end}}
</div>
{{- end}}
<h3>Situations</h3>
<div class="cards">
{{- range .Cards}}
<a class="card acc-{{.Situation}}" href="{{.Anchor}}" data-situation="{{.Situation}}" data-count="{{.N}}">
<span class="card-n">{{.Count}}</span>
<span class="card-label">{{.Label}}</span>
<span class="tag {{.TagClass}}">{{.Tag}}</span>
<span class="card-meaning">{{.Meaning}}</span>
</a>
{{- end}}
</div>
{{template "bars" .SituationChart}}
{{- with .RunCounters}}
<details class="counters"><summary>Counters of the run</summary>
{{template "table" .}}
</details>
{{- end}}
</section>

<section id="trend" aria-labelledby="trend-h">
<h2 id="trend-h">Over the last runs</h2>
{{- with .Trend}}
{{- if .Sentence}}
<p>{{.Sentence}}</p>
{{- else}}
<div class="charts">
{{- with .Coverage}}
{{- $c := .}}
<figure>
<svg role="img" aria-labelledby="{{.ID}}-t {{.ID}}-d" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}">
<title id="{{.ID}}-t">{{.Title}}</title>
<desc id="{{.ID}}-d">{{.Desc}}</desc>
{{- range .YTicks}}
<line x1="{{$c.X0}}" x2="{{$c.X1}}" y1="{{.Y}}" y2="{{.Y}}" stroke="#dfe3e8"/>
<text x="{{.X}}" y="{{.Y}}" dy="4" text-anchor="end" class="axis">{{.Label}}</text>
{{- end}}
{{- range .XTicks}}
<text x="{{.X}}" y="{{.Y}}" text-anchor="middle" class="axis">{{.Label}}</text>
{{- end}}
<polyline points="{{.Points}}" fill="none" stroke="#1e7a3c" stroke-width="2.5"/>
{{- range .Dots}}
<circle cx="{{.X}}" cy="{{.Y}}" r="4" fill="#1e7a3c"><title>{{.Title}}</title></circle>
{{- if .Label}}
<text x="{{.X}}" y="{{.LabelY}}" text-anchor="middle" class="val">{{.Label}}</text>
{{- end}}
{{- end}}
</svg>
<figcaption>{{.Title}}</figcaption>
</figure>
{{- end}}
{{- with .Sparks}}
<figure>
<svg role="img" aria-labelledby="{{.ID}}-t {{.ID}}-d" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}">
<title id="{{.ID}}-t">{{.Title}}</title>
<desc id="{{.ID}}-d">{{.Desc}}</desc>
{{- range .Rows}}
<g>
<text x="0" y="{{.TextY}}" class="lbl">{{.Label}}</text>
<line x1="{{.BaseX0}}" x2="{{.BaseX1}}" y1="{{.BaseY}}" y2="{{.BaseY}}" stroke="#9aa3ad"/>
{{- $fill := .Fill}}
{{- range .Bars}}
<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{$fill}}"><title>{{.Title}}</title></rect>
{{- end}}
<text x="{{.ValueX}}" y="{{.TextY}}" class="val">{{.Value}}<tspan class="delta" dx="8">{{.Delta}}</tspan></text>
</g>
{{- end}}
</svg>
<figcaption>{{.Title}}</figcaption>
</figure>
{{- end}}
</div>
<details><summary>The numbers behind these charts</summary>
{{template "table" .Table}}
</details>
{{- end}}
{{- end}}
</section>
{{range .Sections}}
<section id="{{.ID}}" class="list acc-{{.Accent}}" aria-labelledby="{{.ID}}-h">
<h2 id="{{.ID}}-h">{{.Title}} <span class="count">{{.Count}}</span> <span class="tag {{.TagClass}}">{{.Tag}}</span></h2>
<p class="meaning">{{.Meaning}}</p>
<p class="next"><strong>Next step:</strong> {{template "text" .Next}}</p>
{{- if .Empty}}
<p class="empty">{{.Empty}}</p>
{{- else if .Collapse}}
<details><summary>{{.Collapse}}</summary>
{{template "table" .Table}}
</details>
{{- else}}
{{template "table" .Table}}
{{- end}}
</section>
{{end}}
<section id="changes" aria-labelledby="changes-h">
<h2 id="changes-h">Changes since the previous run</h2>
{{- with .Changes}}
<p>{{.Intro}}</p>
{{- with .Chart}}
{{template "bars" .}}
{{- end}}
{{- with .Table}}
{{template "table" .}}
{{- end}}
{{- end}}
</section>

<section id="actions" aria-labelledby="actions-h">
<h2 id="actions-h">Actions</h2>
{{- with .Actions}}
{{- if .None}}
<p>{{.None}}</p>
{{- else}}
{{template "table" .Summary}}
<p>{{.NotAppliedIntro}}</p>
{{- with .NotApplied}}
{{template "table" .}}
{{- end}}
{{- end}}
{{- end}}
</section>
</main>
<footer class="wrap">
<p>{{template "text" .Footer}}</p>
{{- if .Generated}}
<p>{{.Generated}}</p>
{{- end}}
</footer>
</body>
</html>
{{define "pieces"}}{{range $i, $p := .Pieces}}{{if $i}}<wbr>{{end}}{{$p}}{{end}}{{end}}
{{- define "text"}}{{range .}}{{if .Code}}<code>{{.Text}}</code>{{else}}{{.Text}}{{end}}{{end}}{{end}}
{{- define "bars"}}
<figure>
<svg role="img" aria-labelledby="{{.ID}}-t {{.ID}}-d" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}">
<title id="{{.ID}}-t">{{.Title}}</title>
<desc id="{{.ID}}-d">{{.Desc}}</desc>
{{- range .Bars}}
<g>
<text x="{{$.LabelX}}" y="{{.TextY}}" text-anchor="end" class="lbl">{{.Label}}</text>
<rect x="{{$.BarX}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" rx="2" fill="{{.Fill}}"/>
<text x="{{.ValueX}}" y="{{.TextY}}" class="val">{{.Value}}</text>
</g>
{{- end}}
</svg>
<figcaption>{{.Title}}</figcaption>
</figure>
{{- end}}
{{- define "table"}}
<div class="scroll">
<table>
<caption>{{.Caption}}</caption>
<thead><tr>{{range .Cols}}<th scope="col"{{if .Num}} class="num"{{end}}>{{.Name}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr>{{range .}}<td{{with .Class}} class="{{.}}"{{end}}>{{if .Href}}<a href="{{.Href}}" rel="noopener noreferrer" target="_blank">{{template "pieces" .}}</a>{{else if .Text}}{{template "pieces" .}}{{else}}<span class="none">—</span>{{end}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
</div>
{{- with .More}}
<p class="more">{{template "text" .}}</p>
{{- end}}
{{- end}}
`

// htmlCSS is the page's only style sheet. Text is dark on light (contrast
// 7:1 or more); the situation colours are accents beside their names.
const htmlCSS = `:root{--sans:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans","DejaVu Sans",sans-serif;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;--text:#1b1f24;--muted:#4a5260;--line:#d5dae1;--bg:#f3f5f8;--panel:#fff;--link:#0b57d0}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.5 var(--sans)}
.wrap{max-width:1200px;margin:0 auto;padding:0 24px}
.top{background:#1b2a3a;color:#fff;padding:20px 0 18px}
.brand{margin:0;font-size:13px;letter-spacing:.08em;text-transform:uppercase;color:#d6e2ef}
h1{margin:2px 0 4px;font-size:26px;line-height:1.25}
.subtitle{margin:0;color:#e3ebf3}
section{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:18px 24px 20px;margin:20px 0}
h2{margin:0 0 10px;font-size:20px;line-height:1.3}
h3{margin:18px 0 4px;font-size:16px}
.lead{margin:0 0 14px;font-size:17px;font-weight:600}
.hint,.meaning{margin:0 0 10px;color:var(--muted)}
a{color:var(--link)}
code{font-family:var(--mono);font-size:.9em;background:#eef1f5;border:1px solid #dde2e8;border-radius:4px;padding:0 4px}
.facts{display:flex;flex-wrap:wrap;gap:10px 40px;margin:0 0 12px}
.facts dt{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.status{display:inline-block;padding:0 8px;border-radius:10px;border:1px solid}
.status-good{background:#e7f4eb;color:#14532d;border-color:#9fd0ae}
.status-bad{background:#fdeceb;color:#7f1d1d;border-color:#f0a9a4}
.status-warn{background:#fdf3e1;color:#6b3d00;border-color:#e8c27a}
.status-other{background:#eef1f5;color:var(--text);border-color:var(--line)}
.callout{margin:10px 0;padding:10px 14px;border-radius:6px;border:1px solid;border-left-width:6px}
.callout-error{background:#fdeceb;border-color:#b3261e;color:#3b0d0a}
.callout-warn{background:#fdf3e1;border-color:#a15c00;color:#3d2400}
.callout-note{background:#eaf2fb;border-color:#1f5fa8;color:#0c2847}
.coverage{display:flex;flex-wrap:wrap;gap:16px}
.cov{border:1px solid var(--line);border-radius:8px;padding:12px 18px;min-width:240px}
.cov p{margin:0}
.cov-provider{font-weight:600}
.big{font-size:44px;font-weight:700;line-height:1.1;color:#14532d}
.cov-of{color:var(--muted);font-size:14px}
.meter{display:block;margin:6px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(136px,1fr));gap:12px;margin:6px 0 16px}
.card{display:flex;flex-direction:column;gap:2px;text-decoration:none;color:var(--text);border:1px solid var(--line);border-top:5px solid var(--acc);border-radius:8px;padding:10px 12px}
.card:hover,.card:focus{border-color:var(--acc);outline:none;box-shadow:0 0 0 2px var(--acc)}
.card-n{font-size:30px;font-weight:700;line-height:1.1}
.card-label{font-weight:600;text-decoration:underline;text-decoration-color:var(--acc);text-underline-offset:3px}
.card-meaning{font-size:13px;color:var(--muted)}
.tag{display:inline-block;width:max-content;font-size:12px;font-weight:600;padding:0 8px;border-radius:10px;border:1px solid;vertical-align:middle}
.tag-act{background:#fdeceb;color:#7f1d1d;border-color:#f0a9a4}
.tag-wait{background:#eaf2fb;color:#0c2847;border-color:#a9c6e8}
.tag-ok{background:#eef1f5;color:#333b47;border-color:#cfd5dd}
.acc-linked{--acc:#1e7a3c}.acc-unlinked{--acc:#1f5fa8}.acc-unmatched{--acc:#8a5a00}.acc-orphaned{--acc:#6b3fa0}
.acc-disputed{--acc:#b3261e}.acc-misrouted{--acc:#b34700}.acc-deprovisioned{--acc:#7a4d00}
section.list{border-left:6px solid var(--acc)}
h2 .count{display:inline-block;min-width:2em;text-align:center;padding:0 8px;border-radius:12px;background:#eef1f5;border:1px solid var(--line);font-size:16px}
.next{margin:0 0 12px}
.empty{margin:0;color:var(--muted)}
figure{margin:8px 0 16px}
figcaption{font-size:13px;color:var(--muted)}
svg{max-width:100%;height:auto;overflow:visible}
svg text{font-size:13px;fill:#1b1f24}
svg .axis{fill:#4a5260;font-size:12px}
svg .val{font-weight:600}
svg .delta{font-weight:400;fill:#4a5260}
.charts{display:flex;flex-wrap:wrap;gap:8px 32px}
.charts figure{flex:0 1 520px;min-width:0}
details{margin:8px 0}
summary{cursor:pointer;color:var(--link);font-weight:600}
.scroll{overflow-x:auto;margin:6px 0}
table{border-collapse:collapse;width:100%;font-size:13.5px}
caption{text-align:left;font-weight:600;padding:2px 0 6px;color:var(--text)}
th{background:#e9edf2;text-align:left;font-weight:600;padding:6px 8px;border-bottom:2px solid #b9c1cc;vertical-align:bottom}
td{padding:5px 8px;border-bottom:1px solid #e3e7ec;vertical-align:top;overflow-wrap:break-word}
td.name{white-space:nowrap}
td.name-long{min-width:16ch}
td.wide{min-width:20ch;overflow-wrap:anywhere}
tbody tr:nth-child(even){background:#f8f9fb}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.mono,.sub{font-family:var(--mono);font-size:12px}
.mono{white-space:nowrap}
.sub{overflow-wrap:anywhere;min-width:12ch}
.none{color:#5b6470;font-family:var(--sans)}
.more{margin:6px 0 0;color:var(--muted)}
footer{color:var(--muted);font-size:13px;padding-bottom:32px}
footer p{margin:4px 0}
@media print{body{background:#fff}.top{background:#fff;color:var(--text)}.brand,.subtitle{color:var(--muted)}section{break-inside:auto;border-color:#999}a{color:var(--text)}}
`
