package sfsim

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cursor is a query locator: the rows a query matched, served page by page.
type cursor struct {
	id   string
	obj  *sobject
	fis  []int
	rows []int32
	// removedSeen is how many row deletions of obj (sobject.removed) had
	// happened when the query ran: rows are indexes as they were then.
	removedSeen int
	// all is a queryAll's cursor: rows in the Recycle Bin are served.
	all      bool
	batch    int
	userID   string
	lastUsed time.Time
}

// maxCursorsPerUser: "A user can have up to 10 query cursors open at a time.
// If 10 QueryLocator cursors are open when a client application ... attempts
// to open a new one, then the oldest of the 10 cursors is released."
// https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_querymore.htm
const maxCursorsPerUser = 10

// batchSize reads Sforce-Query-Options: batchSize=N. "The default is 2,000;
// the minimum is 200, and the maximum is 2,000."
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_queryoptions.htm
// Out-of-range values are clamped (Salesforce treats the size as a hint).
func batchSize(r *http.Request) int {
	h := r.Header.Get("Sforce-Query-Options")
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "batchSize") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 2000
		}
		return min(max(n, 200), 2000)
	}
	return 2000
}

func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request, userID string, _ float64) {
	q := r.URL.Query().Get("q")
	if q == "" {
		writeAPIError(w, http.StatusBadRequest, "MALFORMED_QUERY", "A query string has to be specified")
		return
	}
	pq, err := parseSOQL(q)
	var obj *sobject
	if err == nil {
		obj, err = resolve(pq)
	}
	if err == nil && obj == authProviderObject {
		s.Org.mu.RLock()
		denied := s.Org.authProviderDenied
		s.Org.mu.RUnlock()
		if denied {
			err = &queryError{code: "INVALID_TYPE", msg: "sObject type 'AuthProvider' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."}
		}
	}
	if err != nil {
		var qe *queryError
		if errors.As(err, &qe) {
			writeAPIError(w, http.StatusBadRequest, qe.code, qe.msg)
			return
		}
		writeAPIError(w, http.StatusBadRequest, "MALFORMED_QUERY", err.Error())
		return
	}
	version := r.PathValue("version")
	s.Org.mu.RLock()
	// queryAll also returns the records in the Recycle Bin.
	all := strings.Contains(r.URL.Path, "/queryAll")
	rows := execute(s.Org, obj, pq, all)
	if pq.count {
		s.Org.mu.RUnlock()
		// COUNT() answers totalSize only, and is not subject to the
		// ThirdPartyAccountLink row cap: the docs name it as the way to
		// learn the real number of links.
		buf := []byte(`{"totalSize":`)
		buf = strconv.AppendInt(buf, int64(len(rows)), 10)
		buf = append(buf, `,"done":true,"records":[]}`...)
		writeJSON(w, buf)
		return
	}
	if obj.chainCap > 0 && len(rows) > obj.chainCap {
		rows = rows[:obj.chainCap]
	}
	c := &cursor{obj: obj, fis: pq.fis, rows: rows, all: all, batch: batchSize(r), userID: userID, lastUsed: s.now()}
	if obj.removed != nil {
		c.removedSeen = len(obj.removed(s.Org))
	}
	if obj.pageCap > 0 {
		c.batch = min(c.batch, obj.pageCap)
	}
	buf := s.page(c, 0, version)
	s.Org.mu.RUnlock()
	writeJSON(w, buf)
}

func (s *Server) handleQueryMore(w http.ResponseWriter, r *http.Request, userID string, _ float64) {
	loc := r.PathValue("locator")
	id, offStr, ok := strings.Cut(loc, "-")
	off, err := strconv.Atoi(offStr)
	if !ok || err != nil || off < 0 {
		writeAPIError(w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	s.mu.Lock()
	c, found := s.cursors[id]
	if found && (c.userID != userID || s.now().Sub(c.lastUsed) > s.cfg.CursorIdle) {
		found = false
	}
	var page cursor
	if found {
		c.lastUsed = s.now()
		if r.Header.Get("Sforce-Query-Options") != "" {
			c.batch = batchSize(r)
			if c.obj.pageCap > 0 {
				c.batch = min(c.batch, c.obj.pageCap)
			}
		}
		page = *c
	}
	s.mu.Unlock()
	if !found || off > len(page.rows) {
		writeAPIError(w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	s.Org.mu.RLock()
	buf := s.page(&page, off, r.PathValue("version"))
	s.Org.mu.RUnlock()
	writeJSON(w, buf)
}

func writeJSON(w http.ResponseWriter, buf []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	_, _ = w.Write(buf)
}

// register stores a cursor that has more pages, releasing the user's oldest
// when the user has ten open.
func (s *Server) register(c *cursor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	var b [12]byte
	n := s.seq
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	c.id = "01g8d0" + string(b[3:])
	c.id += idSuffix(c.id)
	s.cursors[c.id] = c
	open := append(s.userCurs[c.userID], c.id)
	for len(open) > maxCursorsPerUser {
		delete(s.cursors, open[0])
		open = open[1:]
	}
	s.userCurs[c.userID] = open
}

func (s *Server) release(c *cursor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cursors, c.id)
	open := s.userCurs[c.userID]
	for i, id := range open {
		if id == c.id {
			s.userCurs[c.userID] = append(open[:i:i], open[i+1:]...)
			break
		}
	}
}

// page renders rows [off, off+batch) of c as a query response (under the
// org's read lock).
func (s *Server) page(c *cursor, off int, version string) []byte {
	end := min(off+c.batch, len(c.rows))
	done := end >= len(c.rows)
	buf := make([]byte, 0, 64+(end-off)*(96+40*len(c.fis)))
	buf = append(buf, `{"totalSize":`...)
	buf = strconv.AppendInt(buf, int64(len(c.rows)), 10)
	buf = append(buf, `,"done":`...)
	buf = strconv.AppendBool(buf, done)
	if !done {
		if c.id == "" {
			s.register(c)
		}
		buf = append(buf, `,"nextRecordsUrl":"/services/data/`...)
		buf = append(buf, version...)
		buf = append(buf, "/query/"...)
		buf = append(buf, c.id...)
		buf = append(buf, '-')
		buf = strconv.AppendInt(buf, int64(end), 10)
		buf = append(buf, '"')
	} else if c.id != "" {
		s.release(c)
	}
	buf = append(buf, `,"records":[`...)
	var removed []int32
	if c.obj.removed != nil {
		removed = c.obj.removed(s.Org)[c.removedSeen:]
	}
	first := true
	for _, row := range c.rows[off:end] {
		// A record deleted since the query ran is left out of its page (a
		// page may hold fewer records than the batch size); the others keep
		// their place in the chain.
		row, ok := currentRow(row, removed)
		if !ok || !c.all && c.obj.inRecycleBin != nil && c.obj.inRecycleBin(s.Org, row) {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, `{"attributes":{"type":"`...)
		buf = append(buf, c.obj.name...)
		buf = append(buf, `","url":"/services/data/`...)
		buf = append(buf, version...)
		buf = append(buf, "/sobjects/"...)
		buf = append(buf, c.obj.name...)
		buf = append(buf, '/')
		buf = append(buf, c.obj.get(s.Org, row, 0).s...)
		buf = append(buf, `"}`...)
		for _, fi := range c.fis {
			f := c.obj.fields[fi]
			buf = append(buf, ',', '"')
			buf = append(buf, f.name...)
			buf = append(buf, '"', ':')
			buf = appendValue(buf, f, c.obj.get(s.Org, row, fi))
		}
		buf = append(buf, '}')
	}
	buf = append(buf, "]}"...)
	return buf
}

// currentRow translates a row index taken before the deletions in removed
// (in order) into today's index; false when the row itself was deleted.
func currentRow(row int32, removed []int32) (int32, bool) {
	for _, x := range removed {
		switch {
		case row == x:
			return 0, false
		case row > x:
			row--
		}
	}
	return row, true
}

func appendValue(buf []byte, f fieldDef, v value) []byte {
	switch f.typ {
	case ftBool:
		return strconv.AppendBool(buf, v.b)
	case ftDateTime:
		if v.t == 0 {
			return append(buf, "null"...)
		}
		return appendDateTime(buf, v.t)
	}
	if v.s == "" {
		return append(buf, "null"...)
	}
	return appendJSONString(buf, v.s)
}

// appendDateTime renders ms as Salesforce does: "2024-01-02T03:04:05.000+0000"
// (a hand-rolled time.Format: it runs for every dateTime of every page).
func appendDateTime(buf []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	frac := int(ms % 1000)
	if frac < 0 {
		frac += 1000
	}
	buf = append(buf, '"')
	buf = append(buf, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return append(buf, "+0000\""...)
}

const hexDigits = "0123456789abcdef"

func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
