package entrasim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// graphError writes Graph's error envelope:
// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}
// (https://learn.microsoft.com/graph/errors).
func (s *Sim) graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	reqID := newTraceID()
	cid := ""
	if r != nil {
		cid = r.Header.Get("client-request-id")
	}
	if cid == "" {
		cid = reqID
	}
	b := getBuf()
	defer putBuf(b)
	buf := append((*b)[:0], `{"error":{"code":`...)
	buf = appendStr(buf, code)
	buf = append(buf, `,"message":`...)
	buf = appendStr(buf, msg)
	buf = append(buf, `,"innerError":{"date":`...)
	buf = appendStr(buf, s.Now().UTC().Format("2006-01-02T15:04:05"))
	buf = append(buf, `,"request-id":`...)
	buf = appendStr(buf, reqID)
	buf = append(buf, `,"client-request-id":`...)
	buf = appendStr(buf, cid)
	buf = append(buf, "}}}"...)
	*b = buf
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("request-id", reqID)
	h.Set("client-request-id", cid)
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+s.loginURL+`/common/oauth2/authorize", client_id="`+GraphAppID+`"`)
	}
	w.WriteHeader(status)
	w.Write(buf)
}

// faultError is the Graph body of an injected 429 or 503. Graph throttling
// answers 429 with a Retry-After header
// (https://learn.microsoft.com/graph/throttling).
func (s *Sim) faultError(w http.ResponseWriter, status int, _ time.Duration) {
	if status == http.StatusTooManyRequests {
		s.graphError(w, nil, status, "TooManyRequests", "Too many requests. Retry after the number of seconds in the Retry-After header.")
		return
	}
	s.graphError(w, nil, status, "serviceNotAvailable", "The service is temporarily unavailable. Please retry.")
}

type tokenInfo struct {
	exp, nbf  int64
	graph     bool
	iss       string
	roles     map[string]bool
	scopes    map[string]bool
	appID     string
	oid       string
	delegated bool
}

var (
	permsUsers  = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permsApps   = []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permsGroups = []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)

// authorize checks the bearer token of a Graph call: present, signed by the
// tenant's keys, for Graph, from this tenant, in its lifetime (on the
// simulated clock) and carrying one of perms. It writes the error and returns
// nil when the call must stop.
func (s *Sim) authorize(w http.ResponseWriter, r *http.Request, perms []string) *tokenInfo {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return nil
	}
	var ti *tokenInfo
	if v, ok := s.tokCache.Load(tok); ok {
		ti = v.(*tokenInfo)
	} else {
		claims, err := s.verify(tok)
		if err != nil {
			s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", err.Error())
			return nil
		}
		ti = &tokenInfo{roles: map[string]bool{}, scopes: map[string]bool{}}
		ti.exp = int64(num(claims["exp"]))
		ti.nbf = int64(num(claims["nbf"]))
		ti.iss, _ = claims["iss"].(string)
		aud, _ := claims["aud"].(string)
		ti.graph = aud == "https://graph.microsoft.com" || aud == GraphAppID
		ti.appID, _ = claims["appid"].(string)
		ti.oid, _ = claims["oid"].(string)
		if rs, ok := claims["roles"].([]any); ok {
			for _, r := range rs {
				if s, ok := r.(string); ok {
					ti.roles[strings.ToLower(s)] = true
				}
			}
		}
		if scp, ok := claims["scp"].(string); ok {
			ti.delegated = true
			for _, sc := range strings.Fields(scp) {
				ti.scopes[strings.ToLower(sc)] = true
			}
		}
		s.tokCache.Store(tok, ti)
	}
	now := s.Now().Unix()
	switch {
	case !ti.graph:
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return nil
	case ti.iss != "https://sts.windows.net/"+s.opts.TenantID+"/":
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid issuer.")
		return nil
	case now >= ti.exp:
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
		return nil
	case now+300 < ti.nbf:
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is not yet valid.")
		return nil
	}
	if perms == nil {
		return ti
	}
	for _, p := range perms {
		p = strings.ToLower(p)
		if ti.roles[p] || ti.scopes[p] {
			return ti
		}
	}
	// Missing application permission or admin consent: Graph answers 403
	// Authorization_RequestDenied (https://learn.microsoft.com/graph/resolve-auth-errors).
	s.graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	return nil
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func (s *Sim) graphHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1.0/users", s.Faults.Wrap(EPUsers, s.faultError, http.HandlerFunc(s.handleUsers)))
	mux.Handle("GET /v1.0/directory/deletedItems/{cast}", s.Faults.Wrap(EPDeleted, s.faultError, http.HandlerFunc(s.handleDeletedUsers)))
	delta := s.Faults.Wrap(EPDelta, s.faultError, http.HandlerFunc(s.handleDelta))
	// The SDKs call the fully qualified function name with parentheses.
	for _, p := range []string{"/v1.0/users/delta", "/v1.0/users/delta()", "/v1.0/users/microsoft.graph.delta", "/v1.0/users/microsoft.graph.delta()"} {
		mux.Handle("GET "+p, delta)
	}
	sp := s.Faults.Wrap(EPSP, s.faultError, http.HandlerFunc(s.handleServicePrincipal))
	mux.Handle("GET /v1.0/servicePrincipals", sp)
	mux.Handle("GET /v1.0/servicePrincipals/{id}", sp)
	mux.Handle("GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", s.Faults.Wrap(EPAssignments, s.faultError, http.HandlerFunc(s.handleAssignments)))
	members := s.Faults.Wrap(EPMembers, s.faultError, http.HandlerFunc(s.handleMembers))
	for _, rel := range []string{"members", "transitiveMembers"} {
		mux.Handle("GET /v1.0/groups/{id}/"+rel, members)
		mux.Handle("GET /v1.0/groups/{id}/"+rel+"/{cast}", members)
	}
	ui := s.Faults.Wrap(EPUserinfo, s.faultError, http.HandlerFunc(s.handleUserinfo))
	mux.Handle("GET /oidc/userinfo", ui)
	mux.Handle("POST /oidc/userinfo", ui)
	// servicePrincipals(appId='...') is an OData alternate key inside one path
	// segment, which ServeMux patterns cannot express.
	byAppID := s.Faults.Wrap(EPSP, s.faultError, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/v1.0/servicePrincipals(")
		appID, ok := strings.CutPrefix(key, "appId='")
		if ok {
			appID, ok = strings.CutSuffix(appID, "')")
		}
		if !ok {
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid alternate key: use servicePrincipals(appId='<guid>').")
			return
		}
		s.handleSPByAppID(w, r, appID)
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1.0/servicePrincipals(") {
			byAppID.ServeHTTP(w, r)
			return
		}
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", lastSegment(r.URL.Path)))
	})
	return mux
}

func lastSegment(p string) string {
	p = strings.TrimSuffix(p, "/")
	return p[strings.LastIndex(p, "/")+1:]
}

// --- opaque paging tokens -------------------------------------------------

// pageToken is the state carried by $skiptoken and $deltatoken. It is
// authenticated so that a client cannot forge one; a token that does not
// verify is "not found" like an expired one.
type pageToken struct {
	kind    byte // 'u' users page, 'i' initial delta round, 'n' delta next page, 'd' deltaLink
	epoch   uint32
	issued  int64 // unix seconds on the simulated clock
	from    uint64
	to      uint64
	pos     uint64
	limit   uint64 // users slice length at the start of an initial round
	mask    propMask
	top     uint64
	subject string // group or service principal id for member/assignment pages
}

func (s *Sim) encodeToken(t pageToken) string {
	b := make([]byte, 0, 64)
	b = append(b, t.kind)
	b = binary.AppendUvarint(b, uint64(t.epoch))
	b = binary.AppendVarint(b, t.issued)
	b = binary.AppendUvarint(b, t.from)
	b = binary.AppendUvarint(b, t.to)
	b = binary.AppendUvarint(b, t.pos)
	b = binary.AppendUvarint(b, t.limit)
	b = binary.AppendUvarint(b, uint64(t.mask))
	b = binary.AppendUvarint(b, t.top)
	b = binary.AppendUvarint(b, uint64(len(t.subject)))
	b = append(b, t.subject...)
	m := hmac.New(sha256.New, s.tokenMAC)
	m.Write(b)
	b = m.Sum(b)[:len(b)+12]
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Sim) decodeToken(str string) (pageToken, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(str)
	if err != nil || len(raw) < 13 {
		return pageToken{}, false
	}
	body, mac := raw[:len(raw)-12], raw[len(raw)-12:]
	m := hmac.New(sha256.New, s.tokenMAC)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:12], mac) {
		return pageToken{}, false
	}
	var t pageToken
	t.kind = body[0]
	r := body[1:]
	next := func() uint64 {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			r = nil
			return 0
		}
		r = r[n:]
		return v
	}
	t.epoch = uint32(next())
	iv, n := binary.Varint(r)
	if n <= 0 {
		return pageToken{}, false
	}
	r = r[n:]
	t.issued = iv
	t.from, t.to, t.pos, t.limit = next(), next(), next(), next()
	t.mask = propMask(next())
	t.top = next()
	l := next()
	if r == nil || uint64(len(r)) != l {
		return pageToken{}, false
	}
	t.subject = string(r)
	return t, true
}

// --- /users ---------------------------------------------------------------

const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func parseTop(q url.Values, def, max int) (int, string) {
	v := q.Get("$top")
	if v == "" {
		return def, ""
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		// The directory's answer to a page size outside 1..999.
		return 0, fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, max)
	}
	return n, ""
}

// unsupported rejects query options the simulator does not evaluate, so that a
// client relying on them fails loudly instead of getting unfiltered data.
func (s *Sim) unsupported(w http.ResponseWriter, r *http.Request, q url.Values, allowed ...string) bool {
	for k := range q {
		if !strings.HasPrefix(k, "$") {
			continue
		}
		ok := false
		for _, a := range allowed {
			if strings.EqualFold(k, a) {
				ok = true
			}
		}
		if !ok {
			s.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("The simulated tenant does not support the query option '%s' on this resource.", k))
			return true
		}
	}
	return false
}

// handleUsers serves GET /v1.0/users with $select, $top (1..999, default 100)
// and an opaque $skiptoken in @odata.nextLink
// (https://learn.microsoft.com/graph/api/user-list, https://learn.microsoft.com/graph/paging).
func (s *Sim) handleUsers(w http.ResponseWriter, r *http.Request) {
	s.listUsers(w, r, stActive)
}

// handleDeletedUsers serves GET /v1.0/directory/deletedItems/microsoft.graph.user:
// the users in the recycle bin (soft deleted, restorable for 30 days;
// https://learn.microsoft.com/graph/api/directory-deleteditems-list).
func (s *Sim) handleDeletedUsers(w http.ResponseWriter, r *http.Request) {
	switch strings.ToLower(r.PathValue("cast")) {
	case "microsoft.graph.user", "graph.user":
		s.listUsers(w, r, stSoftDeleted)
	default:
		s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "The simulated tenant lists deleted users only: use /directory/deletedItems/microsoft.graph.user.")
	}
}

func (s *Sim) listUsers(w http.ResponseWriter, r *http.Request, want userState) {
	if s.authorize(w, r, permsUsers) == nil {
		return
	}
	kind, path, ctx := byte('u'), "/v1.0/users", "users"
	if want == stSoftDeleted {
		kind, path, ctx = 'x', r.URL.Path, "directoryObjects/microsoft.graph.user"
	}
	q := r.URL.Query()
	if s.unsupported(w, r, q, "$select", "$top", "$skiptoken", "$count") {
		return
	}
	var tok pageToken
	if st := q.Get("$skiptoken"); st != "" {
		var ok bool
		if tok, ok = s.decodeToken(st); !ok || tok.kind != kind {
			s.graphError(w, r, http.StatusBadRequest, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
	} else {
		mask, err := parseSelect(q.Get("$select"))
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		top, msg := parseTop(q, 100, 999)
		if msg != "" {
			s.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", msg)
			return
		}
		tok = pageToken{kind: kind, mask: mask, top: uint64(top)}
	}
	// Graph sends @odata.nextLink before the page's value, as in the paging
	// article's example (https://learn.microsoft.com/graph/paging and the
	// #30DaysMSGraph day 7 sample): the page is built first, then framed.
	items := getBuf()
	defer putBuf(items)
	page := (*items)[:0]
	s.mu.RLock()
	pos, n, emitted := int(tok.pos), len(s.users), 0
	for ; pos < n && emitted < int(tok.top); pos++ {
		u := &s.users[pos]
		if u.state != want {
			continue
		}
		if emitted > 0 {
			page = append(page, ',')
		}
		page = appendUser(page, u, tok.mask, false)
		emitted++
	}
	// Skip trailing users of the other state so the last page has no empty follower.
	for pos < n && s.users[pos].state != want {
		pos++
	}
	s.mu.RUnlock()
	*items = page
	b := getBuf()
	defer putBuf(b)
	buf := append((*b)[:0], `{"@odata.context":`...)
	buf = appendStr(buf, s.graphURL+"/v1.0/$metadata#"+ctx+selectSuffix(tok.mask, q.Get("$select") != "" || tok.mask != defaultProps))
	if pos < n {
		tok.pos = uint64(pos)
		link := s.graphURL + path + "?$top=" + strconv.FormatUint(tok.top, 10)
		if tok.mask != defaultProps {
			link += "&$select=" + tok.mask.withoutID()
		}
		link += "&$skiptoken=" + s.encodeToken(tok)
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendStr(buf, link)
	}
	buf = append(buf, `,"value":[`...)
	buf = append(buf, page...)
	buf = append(buf, "]}"...)
	*b = buf
	writeJSON(w, buf)
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", odataJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func selectSuffix(m propMask, selected bool) string {
	if !selected {
		return ""
	}
	return "(" + m.withoutID() + ")"
}

func (m propMask) withoutID() string { return (m &^ (1 << pID)).String() }

// --- /users/delta ---------------------------------------------------------

func (s *Sim) syncStateNotFound(w http.ResponseWriter, r *http.Request, mask propMask) {
	if s.expiredSt.Load() == http.StatusGone {
		w.Header().Set("Location", s.graphURL+"/v1.0/users/delta?$select="+mask.withoutID())
		s.graphError(w, r, http.StatusGone, "resyncRequired", "Resync required. The delta token is no longer valid; replace local data with a full synchronization.")
		return
	}
	// Documented answer for identity resources once a deltaLink has expired
	// (7 days): 400 syncStateNotFound.
	s.graphError(w, r, http.StatusBadRequest, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
}

// handleDelta serves GET /v1.0/users/delta (https://learn.microsoft.com/graph/api/user-delta):
// the initial round returns every user in server-chosen pages ($top is
// ignored), the last page carries @odata.deltaLink; a deltaLink round returns
// users whose selected properties changed since, with
// "@removed": {"reason": "changed"} for a soft delete and "deleted" for a hard
// delete; $deltatoken=latest returns only a deltaLink ("sync from now",
// https://learn.microsoft.com/graph/delta-query-overview). A user appears at
// most once per round, with the union of its changes.
func (s *Sim) handleDelta(w http.ResponseWriter, r *http.Request) {
	if s.authorize(w, r, permsUsers) == nil {
		return
	}
	q := r.URL.Query()
	if s.unsupported(w, r, q, "$select", "$top", "$skiptoken", "$deltatoken", "$count") {
		return
	}
	now := s.Now()
	epoch := s.deltaEpoc.Load()
	s.mu.RLock()
	defer s.mu.RUnlock()
	logLen := uint64(len(s.log))
	var tok pageToken
	switch dt, st := q.Get("$deltatoken"), q.Get("$skiptoken"); {
	case dt == "latest":
		mask, err := parseSelect(q.Get("$select"))
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		tok = pageToken{kind: 'd', epoch: epoch, issued: now.Unix(), from: logLen, mask: mask}
		s.writeDeltaPage(w, nil, tok, true)
		return
	case dt != "" || st != "":
		raw := dt
		if raw == "" {
			raw = st
		}
		t, ok := s.decodeToken(raw)
		if !ok || (t.kind != 'd' && t.kind != 'n' && t.kind != 'i') || t.epoch != epoch ||
			now.Sub(time.Unix(t.issued, 0)) > s.opts.DeltaLinkLifetime || t.from > logLen || t.to > logLen {
			s.syncStateNotFound(w, r, t.mask)
			return
		}
		tok = t
		if tok.kind == 'd' { // a new round from the deltaLink's position
			tok = pageToken{kind: 'n', epoch: epoch, issued: t.issued, from: t.from, to: logLen, pos: t.from, mask: t.mask}
		}
	default:
		mask, err := parseSelect(q.Get("$select"))
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		tok = pageToken{kind: 'i', epoch: epoch, issued: now.Unix(), to: logLen, limit: uint64(len(s.users)), mask: mask}
	}

	b := getBuf()
	defer putBuf(b)
	buf := (*b)[:0]
	emitted, pageSize := 0, s.opts.DeltaPageSize
	sep := func() {
		if emitted > 0 {
			buf = append(buf, ',')
		}
		emitted++
	}
	if tok.kind == 'i' {
		pos := tok.pos
		for ; pos < tok.limit && emitted < pageSize; pos++ {
			u := &s.users[pos]
			if u.state != stActive {
				continue
			}
			sep()
			buf = appendUser(buf, u, tok.mask, false)
		}
		tok.pos = pos
		done := pos >= tok.limit
		*b = buf
		if done {
			s.writeDeltaPage(w, buf, pageToken{kind: 'd', epoch: epoch, issued: now.Unix(), from: tok.to, mask: tok.mask}, true)
		} else {
			s.writeDeltaPage(w, buf, tok, false)
		}
		return
	}
	pos := tok.pos
	for ; pos < tok.to && emitted < pageSize; pos++ {
		e := s.log[pos]
		if e.next >= 0 && uint64(e.next) < tok.to {
			continue // a later change of the same user in this round reports it
		}
		var mask propMask
		fresh := false
		for j := int32(pos); j >= 0 && uint64(j) >= tok.from; j = s.log[j].prev {
			c := s.log[j]
			mask |= c.mask
			if c.kind == chCreate || c.kind == chRestore {
				fresh = true
			}
		}
		u := &s.users[e.user]
		switch {
		case u.state == stHardDeleted:
			sep()
			buf = append(buf, `{"id":`...)
			buf = appendStr(buf, u.id)
			buf = append(buf, `,"@removed":{"reason":"deleted"}}`...)
		case u.state == stSoftDeleted:
			sep()
			buf = append(buf, `{"id":`...)
			buf = appendStr(buf, u.id)
			buf = append(buf, `,"@removed":{"reason":"changed"}}`...)
		case fresh:
			sep()
			buf = appendUser(buf, u, tok.mask, false)
		case mask&tok.mask&^(1<<pID) != 0:
			// Graph guarantees at least the changed properties of an updated
			// user; the simulator sends exactly those (plus id), the least a
			// client may rely on.
			sep()
			buf = appendUser(buf, u, (mask&tok.mask)|1<<pID, false)
		}
	}
	tok.pos = pos
	*b = buf
	if pos >= tok.to {
		s.writeDeltaPage(w, buf, pageToken{kind: 'd', epoch: epoch, issued: now.Unix(), from: tok.to, mask: tok.mask}, true)
		return
	}
	s.writeDeltaPage(w, buf, tok, false)
}

func (s *Sim) writeDeltaPage(w http.ResponseWriter, items []byte, tok pageToken, final bool) {
	out := getBuf()
	defer putBuf(out)
	buf := append((*out)[:0], `{"@odata.context":`...)
	buf = appendStr(buf, s.graphURL+"/v1.0/$metadata#users"+selectSuffix(tok.mask, true))
	if final {
		buf = append(buf, `,"@odata.deltaLink":`...)
		buf = appendStr(buf, s.graphURL+"/v1.0/users/delta?$deltatoken="+s.encodeToken(tok))
	} else {
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendStr(buf, s.graphURL+"/v1.0/users/delta?$skiptoken="+s.encodeToken(tok))
	}
	buf = append(buf, `,"value":[`...)
	buf = append(buf, items...)
	buf = append(buf, "]}"...)
	*out = buf
	writeJSON(w, buf)
}

// --- service principals and assignments -----------------------------------

func (s *Sim) appendSP(b []byte, sp *servicePrincipal) []byte {
	b = append(b, `{"id":`...)
	b = appendStr(b, sp.id)
	b = append(b, `,"appId":`...)
	b = appendStr(b, sp.app.ClientID)
	b = append(b, `,"displayName":`...)
	b = appendStrOrNull(b, sp.app.DisplayName)
	b = append(b, `,"servicePrincipalType":"Application","accountEnabled":true,"appRoleAssignmentRequired":true,"appRoles":[]}`...)
	return b
}

// handleServicePrincipal serves /servicePrincipals/{id},
// /servicePrincipals(appId='...') (the alternate key,
// https://learn.microsoft.com/graph/api/serviceprincipal-get) and
// /servicePrincipals?$filter=appId eq '...'.
func (s *Sim) handleServicePrincipal(w http.ResponseWriter, r *http.Request) {
	if s.authorize(w, r, permsApps) == nil {
		return
	}
	id := r.PathValue("id")
	s.mu.RLock()
	defer s.mu.RUnlock()
	if id == "" {
		f := r.URL.Query().Get("$filter")
		var appID string
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "appId eq '%36s'", &appID); err != nil || f == "" {
			s.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "The simulated tenant supports only $filter=appId eq '<guid>' on servicePrincipals.")
			return
		}
		appID = strings.TrimSuffix(appID, "'")
		buf := []byte(`{"@odata.context":`)
		buf = appendStr(buf, s.graphURL+"/v1.0/$metadata#servicePrincipals")
		buf = append(buf, `,"value":[`...)
		if sp, ok := s.spByApp[strings.ToLower(appID)]; ok {
			buf = s.appendSP(buf, sp)
		}
		buf = append(buf, "]}"...)
		writeJSON(w, buf)
		return
	}
	sp, ok := s.sps[strings.ToLower(id)]
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
		return
	}
	buf := []byte(`{"@odata.context":`)
	buf = appendStr(buf, s.graphURL+"/v1.0/$metadata#servicePrincipals/$entity")
	buf = append(buf, ',')
	buf = append(buf, s.appendSP(nil, sp)[1:]...)
	writeJSON(w, buf)
}

func (s *Sim) handleSPByAppID(w http.ResponseWriter, r *http.Request, appID string) {
	if s.authorize(w, r, permsApps) == nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sp, ok := s.spByApp[strings.ToLower(appID)]
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", appID))
		return
	}
	buf := []byte(`{"@odata.context":`)
	buf = appendStr(buf, s.graphURL+"/v1.0/$metadata#servicePrincipals/$entity")
	buf = append(buf, ',')
	buf = append(buf, s.appendSP(nil, sp)[1:]...)
	writeJSON(w, buf)
}

// pageOf handles the offset paging shared by assignments and members:
// default 100, $top 1..999, opaque $skiptoken bound to the subject.
// A $skiptoken carries the offset, the page size and the $select mask of
// the first request, so a nextLink needs no other query option.
func (s *Sim) pageOf(w http.ResponseWriter, r *http.Request, subject string, mask propMask) (off, top int, m propMask, ok bool) {
	q := r.URL.Query()
	if st := q.Get("$skiptoken"); st != "" {
		t, good := s.decodeToken(st)
		if !good || t.kind != 'p' || t.subject != subject {
			s.graphError(w, r, http.StatusBadRequest, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
			return 0, 0, 0, false
		}
		return int(t.pos), int(t.top), t.mask, true
	}
	top, msg := parseTop(q, 100, 999)
	if msg != "" {
		s.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", msg)
		return 0, 0, 0, false
	}
	return 0, top, mask, true
}

func (s *Sim) nextLink(base, subject string, pos, top int, mask propMask) string {
	return base + "?$skiptoken=" + s.encodeToken(pageToken{kind: 'p', pos: uint64(pos), top: uint64(top), subject: subject, mask: mask})
}

// handleAssignments serves /servicePrincipals/{id}/appRoleAssignedTo: the
// users and groups assigned to the enterprise application
// (https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto).
func (s *Sim) handleAssignments(w http.ResponseWriter, r *http.Request) {
	if s.authorize(w, r, permsApps) == nil {
		return
	}
	if s.unsupported(w, r, r.URL.Query(), "$top", "$skiptoken", "$select", "$count") {
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	off, top, _, ok := s.pageOf(w, r, "sp:"+id, 0)
	if !ok {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sp, found := s.sps[id]
	if !found {
		s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
		return
	}
	buf := []byte(`{"@odata.context":`)
	buf = appendStr(buf, s.graphURL+"/v1.0/$metadata#servicePrincipals('"+sp.id+"')/appRoleAssignedTo")
	buf = append(buf, `,"value":[`...)
	end := min(off+top, len(sp.assignments))
	for i := off; i < end; i++ {
		a := &sp.assignments[i]
		if i > off {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"id":`...)
		buf = appendStr(buf, a.id)
		buf = append(buf, `,"deletedDateTime":null,"appRoleId":`...)
		buf = appendStr(buf, a.appRoleID)
		buf = append(buf, `,"createdDateTime":`...)
		buf = appendStr(buf, a.created)
		buf = append(buf, `,"principalDisplayName":`...)
		buf = appendStrOrNull(buf, a.principalName)
		buf = append(buf, `,"principalId":`...)
		buf = appendStr(buf, a.principalID)
		buf = append(buf, `,"principalType":`...)
		buf = appendStr(buf, a.principalType)
		buf = append(buf, `,"resourceDisplayName":`...)
		buf = appendStrOrNull(buf, sp.app.DisplayName)
		buf = append(buf, `,"resourceId":`...)
		buf = appendStr(buf, sp.id)
		buf = append(buf, '}')
	}
	buf = append(buf, ']')
	if end < len(sp.assignments) {
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendStr(buf, s.nextLink(s.graphURL+"/v1.0/servicePrincipals/"+sp.id+"/appRoleAssignedTo", "sp:"+id, end, top, 0))
	}
	buf = append(buf, '}')
	writeJSON(w, buf)
}

// handleMembers serves /groups/{id}/members and /groups/{id}/transitiveMembers
// (nested groups flattened, https://learn.microsoft.com/graph/api/group-list-transitivemembers),
// optionally cast to users (/microsoft.graph.user). Deleted users are not members.
func (s *Sim) handleMembers(w http.ResponseWriter, r *http.Request) {
	if s.authorize(w, r, permsGroups) == nil {
		return
	}
	q := r.URL.Query()
	if s.unsupported(w, r, q, "$top", "$skiptoken", "$select", "$count") {
		return
	}
	cast := r.PathValue("cast")
	usersOnly := false
	switch strings.ToLower(cast) {
	case "":
	case "microsoft.graph.user", "graph.user":
		usersOnly = true
	default:
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", cast))
		return
	}
	transitive := strings.Contains(r.URL.Path, "/transitiveMembers")
	mask := propMask(1 << pID)
	if sel := q.Get("$select"); sel != "" {
		m, err := parseSelect(sel)
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		mask = m
	} else {
		mask = defaultProps
	}
	gid := strings.ToLower(r.PathValue("id"))
	subject := fmt.Sprintf("g:%s:%t:%t", gid, transitive, usersOnly)
	off, top, mask, ok := s.pageOf(w, r, subject, mask)
	if !ok {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, found := s.groups[gid]
	if !found {
		s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", r.PathValue("id")))
		return
	}
	// Flatten in a stable order (depth first, each object once).
	var list []member
	seen := map[string]bool{g.id: true}
	var walk func(g *group)
	walk = func(g *group) {
		for _, m := range g.members {
			if seen[m.id] {
				continue
			}
			seen[m.id] = true
			if m.isGroup {
				if !usersOnly {
					list = append(list, m)
				}
				if transitive {
					walk(s.groups[m.id])
				}
				continue
			}
			if s.users[s.byID[m.id]].state == stActive {
				list = append(list, m)
			}
		}
	}
	walk(g)
	b := getBuf()
	defer putBuf(b)
	buf := append((*b)[:0], `{"@odata.context":`...)
	buf = appendStr(buf, s.graphURL+"/v1.0/$metadata#directoryObjects")
	buf = append(buf, `,"value":[`...)
	end := min(off+top, len(list))
	for i := off; i < end; i++ {
		if i > off {
			buf = append(buf, ',')
		}
		m := list[i]
		if m.isGroup {
			buf = append(buf, `{"@odata.type":"#microsoft.graph.group","id":`...)
			buf = appendStr(buf, m.id)
			buf = append(buf, `,"displayName":`...)
			buf = appendStrOrNull(buf, s.groups[m.id].displayName)
			buf = append(buf, '}')
			continue
		}
		buf = appendUser(buf, &s.users[s.byID[m.id]], mask, true)
	}
	buf = append(buf, ']')
	if end < len(list) {
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendStr(buf, s.nextLink(s.graphURL+r.URL.Path, subject, end, top, mask))
	}
	buf = append(buf, '}')
	*b = buf
	writeJSON(w, buf)
}

// handleUserinfo is Entra's OIDC userinfo endpoint (hosted on Graph). It takes
// a Graph access token from a user sign-in and answers only sub, name,
// family_name, given_name, picture and email
// (https://learn.microsoft.com/entra/identity-platform/userinfo).
func (s *Sim) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	ti := s.authorize(w, r, nil)
	if ti == nil {
		return
	}
	if !ti.delegated || ti.appID == "" {
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "The userinfo endpoint requires a token issued to a signed-in user.")
		return
	}
	s.mu.RLock()
	idx, ok := s.byID[ti.oid]
	var u user
	if ok {
		u = s.users[idx]
	}
	s.mu.RUnlock()
	if !ok || u.state != stActive {
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "User not found.")
		return
	}
	body := map[string]string{
		"sub":         s.opts.Subject(ti.appID, u.id),
		"name":        u.displayName,
		"family_name": u.surname,
		"given_name":  u.givenName,
		"picture":     s.graphURL + "/v1.0/me/photo/$value",
	}
	if u.mail != "" {
		body["email"] = u.mail
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(body)
}
