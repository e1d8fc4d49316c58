// Package obsfile reads files of observed (sub, oid, tid, client) pairs that
// an admin imports, for example exported sign-in logs or a migration from an
// earlier tool. CSV (with a header row) and JSON lines are accepted. The whole
// file is validated before anything is returned, so an import is never
// half-applied because of a bad line.
package obsfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/csvsafe"

	"github.com/idlinkhq/idlink/internal/identity"
)

// MaxLineErrors caps how many bad lines one error lists.
const MaxLineErrors = 20

// Record is one line of an observation file.
type Record struct {
	Line int
	Sub  string
	OID  string
	TID  string
	// Client is the OIDC client id the sub was issued for.
	Client string
}

// LineError is one bad line.
type LineError struct {
	Line int
	Msg  string
}

// Errors lists the bad lines of a file.
type Errors struct {
	Name  string
	Lines []LineError
	More  int // bad lines beyond MaxLineErrors
}

func (e *Errors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d bad line(s); nothing was imported", e.Name, len(e.Lines)+e.More)
	for _, l := range e.Lines {
		fmt.Fprintf(&b, "\n  line %d: %s", l.Line, l.Msg)
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", e.More)
	}
	return b.String()
}

// Format is the file format.
type Format string

const (
	CSV       Format = "csv"
	JSONLines Format = "jsonl"
)

// Detect guesses the format from the first non-blank byte: '{' is JSON lines.
func Detect(head []byte) Format {
	if t := bytes.TrimLeft(head, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		return JSONLines
	}
	return CSV
}

// Parse reads and validates a whole file. name is used in errors only.
func Parse(name string, r io.Reader, f Format) ([]Record, error) {
	var recs []Record
	var errs Errors
	errs.Name = name
	add := func(line int, msg string) {
		if len(errs.Lines) < MaxLineErrors {
			errs.Lines = append(errs.Lines, LineError{line, msg})
		} else {
			errs.More++
		}
	}
	var err error
	switch f {
	case JSONLines:
		err = parseJSONL(r, func(rec Record) { recs = append(recs, rec) }, add)
	case CSV:
		err = parseCSV(r, func(rec Record) { recs = append(recs, rec) }, add)
	default:
		return nil, fmt.Errorf("%s: unknown format %q (use csv or jsonl)", name, f)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(errs.Lines) > 0 {
		return nil, &errs
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no observations in the file; expected a header sub,oid,tid,client and rows, or JSON lines", name)
	}
	return recs, nil
}

func check(rec *Record) string {
	rec.Sub = strings.TrimSpace(rec.Sub)
	rec.Client = strings.TrimSpace(rec.Client)
	if rec.Sub == "" {
		return "sub is empty"
	}
	if len(rec.Sub) > 255 {
		return "sub is longer than 255 characters (OIDC Core: at most 255 ASCII characters)"
	}
	for _, c := range rec.Sub {
		if c < 0x21 || c > 0x7e {
			return "sub has characters outside printable ASCII"
		}
	}
	oid, ok := identity.NormalizeGUID(rec.OID)
	if !ok {
		return fmt.Sprintf("oid %q is not a GUID", trunc(rec.OID))
	}
	rec.OID = oid
	tid, ok := identity.NormalizeGUID(rec.TID)
	if !ok {
		return fmt.Sprintf("tid %q is not a GUID", trunc(rec.TID))
	}
	rec.TID = tid
	if rec.Client == "" {
		return "client is empty (the OIDC client id the sub was issued for)"
	}
	return ""
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func parseJSONL(r io.Reader, emit func(Record), bad func(int, string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\ufeff"))
		}
		if len(text) == 0 {
			continue
		}
		var v struct {
			Sub    *string `json:"sub"`
			OID    *string `json:"oid"`
			TID    *string `json:"tid"`
			Client *string `json:"client"`
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			bad(line, "not a JSON object with sub, oid, tid, client: "+err.Error())
			continue
		}
		if v.Sub == nil || v.OID == nil || v.TID == nil || v.Client == nil {
			bad(line, "needs all of sub, oid, tid, client")
			continue
		}
		rec := Record{Line: line, Sub: *v.Sub, OID: *v.OID, TID: *v.TID, Client: *v.Client}
		if msg := check(&rec); msg != "" {
			bad(line, msg)
			continue
		}
		emit(rec)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d is longer than 1 MiB", line+1)
		}
		return err
	}
	return nil
}

func parseCSV(r io.Reader, emit func(Record), bad func(int, string)) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		col[h] = i
	}
	for _, need := range []string{"sub", "oid", "tid", "client"} {
		if _, ok := col[need]; !ok {
			return fmt.Errorf("the header has no %q column; the first row must name the columns sub,oid,tid,client", need)
		}
	}
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad(pe.Line, pe.Err.Error())
				continue
			}
			return err
		}
		line, _ := cr.FieldPos(0)
		if len(row) == 1 && strings.TrimSpace(row[0]) == "" {
			continue
		}
		get := func(name string) string {
			if i := col[name]; i < len(row) {
				// A file idlink wrote carries its formula guard.
				return csvsafe.Value(row[i])
			}
			return ""
		}
		rec := Record{Line: line, Sub: get("sub"), OID: get("oid"), TID: get("tid"), Client: get("client")}
		if msg := check(&rec); msg != "" {
			bad(line, msg)
			continue
		}
		emit(rec)
	}
}

// Observations turns records into observations for the configured providers.
// providerOf maps a client id to a provider name; a record whose client is not
// configured is an error naming the line, since guessing the provider could
// link a sub to the wrong Auth. Provider.
func Observations(name string, recs []Record, providerOf func(client string) (string, bool), now time.Time) ([]identity.Observation, error) {
	errs := Errors{Name: name}
	out := make([]identity.Observation, 0, len(recs))
	for _, r := range recs {
		p, ok := providerOf(r.Client)
		if !ok {
			if len(errs.Lines) < MaxLineErrors {
				errs.Lines = append(errs.Lines, LineError{r.Line, fmt.Sprintf("client %q is not the client_id of any configured provider; add the provider to the config or correct the file", trunc(r.Client))})
			} else {
				errs.More++
			}
			continue
		}
		out = append(out, identity.Observation{Provider: p, Subject: r.Sub, ObjectID: r.OID, TenantID: r.TID, ClientID: r.Client, Source: identity.SourceImport, FirstSeen: now, LastSeen: now, Count: 1})
	}
	if len(errs.Lines) > 0 {
		return nil, &errs
	}
	return out, nil
}

// CheckTenants refuses records whose tid is not one of the tenants idlink
// is configured for: an object id is unique only within its tenant, so an
// observation from another tenant could bind a subject to a stranger.
func CheckTenants(name string, recs []Record, allowed func(tid string) bool) error {
	errs := Errors{Name: name}
	for _, r := range recs {
		if allowed(r.TID) {
			continue
		}
		if len(errs.Lines) < MaxLineErrors {
			errs.Lines = append(errs.Lines, LineError{r.Line, fmt.Sprintf("tid %s is not a configured tenant (entra.tenant_id or bridge.issuers[].tenant_ids); correct the file or the configuration", r.TID)})
		} else {
			errs.More++
		}
	}
	if len(errs.Lines) > 0 {
		return &errs
	}
	return nil
}
