package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/jsonscan"
)

// queryPage is one answer of the query resource.
type queryPage[T any] struct {
	TotalSize      int    `json:"totalSize"`
	Done           bool   `json:"done"`
	NextRecordsURL string `json:"nextRecordsUrl"`
	Records        []T    `json:"records"`
}

// fieldScanner is a record type that reads its own fields from a walked
// page (scanPage): key is a field's name as the page spells it, raw its
// JSON value; false means encoding/json must decode the page.
type fieldScanner interface {
	scanField(key, raw []byte) bool
}

// decodePage decodes a query page: by a walk of its structure when the
// record type reads its own fields (encoding/json spent more time on a
// million users' pages than storing them), else, or when the walk meets
// what it does not handle, by encoding/json.
func decodePage[T any](body []byte, p *queryPage[T]) error {
	if _, ok := any((*T)(nil)).(fieldScanner); ok && scanPage(body, p) {
		return nil
	}
	*p = queryPage[T]{}
	return json.Unmarshal(body, p)
}

// scanPage decodes a query page as encoding/json would, or reports false.
func scanPage[T any](b []byte, p *queryPage[T]) bool {
	end, ok := jsonscan.Object(b, jsonscan.Space(b, 0), func(key []byte, v int) (int, bool) {
		if jsonscan.Key(key, "records") {
			if v >= len(b) || b[v] != '[' {
				return 0, false // null, or not a list: encoding/json decides
			}
			p.Records = p.Records[:0]
			return jsonscan.Array(b, v, func(v int) (int, bool) {
				var r T
				f := any(&r).(fieldScanner)
				end, ok := jsonscan.Object(b, v, func(key []byte, v int) (int, bool) {
					vend := jsonscan.ValueEnd(b, v)
					return vend, vend >= 0 && f.scanField(key, b[v:vend])
				})
				p.Records = append(p.Records, r)
				return end, ok
			})
		}
		vend := jsonscan.ValueEnd(b, v)
		if vend < 0 {
			return 0, false
		}
		raw := b[v:vend]
		switch {
		case jsonscan.Key(key, "totalSize"):
			if string(raw) == "null" {
				return vend, true
			}
			// A count: digits without a leading zero; any other number
			// goes to encoding/json.
			n, err := strconv.Atoi(string(raw))
			if err != nil || raw[0] < '0' || raw[0] > '9' || (raw[0] == '0' && len(raw) > 1) {
				return 0, false
			}
			p.TotalSize = n
		case jsonscan.Key(key, "done"):
			return vend, jsonscan.Bool(&p.Done, raw)
		case jsonscan.Key(key, "nextRecordsUrl"):
			return vend, jsonscan.Text(&p.NextRecordsURL, raw)
		}
		return vend, true
	})
	return ok && jsonscan.Space(b, end) == len(b)
}

// queryEach runs soql and hands each page's records to fn, following
// nextRecordsUrl. The next page is requested as soon as the current one has
// arrived, while fn stores the current one: the chain of requests is not
// lengthened by local work, and at most two pages are in memory. last is true
// for the final page. It returns the number of records handed to fn.
func queryEach[T any](ctx context.Context, c *Client, soql string, fn func(records []T, last bool) error) (int, error) {
	return queryEachFrom(ctx, c, "query", soql, nil, fn)
}

// queryEachFrom is queryEach through another query resource: "queryAll"
// also returns the records in the Recycle Bin. Its nextRecordsUrl says
// "query" all the same: "Although the nextRecordsUrl has query in the URL,
// it still provides the remaining results from the initial QueryAll
// request" (https://developer.salesforce.com/docs/platform/api-rest/guide/resources-queryall.html).
// started, when not nil, receives the server's time (Date) of the first page.
func queryEachFrom[T any](ctx context.Context, c *Client, resource, soql string, started *time.Time, fn func(records []T, last bool) error) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hdr := map[string]string{"Sforce-Query-Options": "batchSize=" + strconv.Itoa(c.cfg.QueryBatchSize)}
	type answer struct {
		body []byte
		err  error
	}
	get := func(path string, date *time.Time) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			body, err := c.do(ctx, call{method: "GET", path: path, header: hdr, date: date})
			ch <- answer{body, err}
		}()
		return ch
	}
	pending := get(c.dataPath("/"+resource+"?q="+url.QueryEscape(soql)), started)
	n := 0
	for {
		a := <-pending
		if a.err != nil {
			return n, a.err
		}
		var p queryPage[T]
		if err := decodePage(a.body, &p); err != nil {
			return n, fmt.Errorf("salesforce query: page is not valid JSON: %w", err)
		}
		last := p.Done || p.NextRecordsURL == ""
		if !last {
			if !strings.HasPrefix(p.NextRecordsURL, "/services/data/") {
				return n, fmt.Errorf("salesforce query: unexpected nextRecordsUrl %q", p.NextRecordsURL)
			}
			pending = get(p.NextRecordsURL, nil)
		}
		n += len(p.Records)
		if err := fn(p.Records, last); err != nil {
			if !last {
				cancel() // the next page is not wanted
				<-pending
			}
			return n, err
		}
		if last {
			return n, nil
		}
	}
}

// count runs SELECT COUNT() ... and returns totalSize.
func (c *Client) count(ctx context.Context, soql string) (int, error) {
	body, err := c.do(ctx, call{method: "GET", path: c.dataPath("/query?q=" + url.QueryEscape(soql))})
	if err != nil {
		return 0, err
	}
	var p queryPage[json.RawMessage]
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, fmt.Errorf("salesforce count query: answer is not valid JSON: %w", err)
	}
	return p.TotalSize, nil
}

// soqlString quotes s as a SOQL string literal.
func soqlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return "'" + r.Replace(s) + "'"
}

// soqlDateTime renders t as a SOQL dateTime literal (whole seconds, UTC).
func soqlDateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// parseSFTime reads Salesforce's dateTime rendering (2024-01-02T03:04:05.000+0000).
func parseSFTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("salesforce dateTime %q has an unknown format", s)
}
