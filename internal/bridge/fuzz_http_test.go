package bridge_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzUserinfoHTTP throws arbitrary requests at the bridge's handler -
// method, path with query, Authorization header, body - and checks what must
// hold for any of them: no panic; only the documented statuses; a 200 only
// for a token the issuer really signed, sent as a bearer token; a 401 always
// with WWW-Authenticate; and the token never echoed in the answer.
func FuzzUserinfoHTTP(f *testing.F) {
	e := newEnvTB(f, slog.LevelError, nil)
	valid := e.token(1, nil)
	other := e.token(2, nil)
	f.Add("GET", "/userinfo", "Bearer "+valid, []byte(nil))
	f.Add("POST", "/userinfo", "Bearer "+other, []byte("access_token="+valid))
	f.Add("GET", "/userinfo?access_token="+valid, "", []byte(nil))
	f.Add("GET", "/userinfo", "bearer "+valid+" ", []byte(nil))
	f.Add("GET", "/userinfo", "Bearer "+valid[:len(valid)-3]+"abc", []byte(nil))
	f.Add("PUT", "/metrics", "Basic dXNlcjpwYXNz", []byte("{}"))
	f.Add("GET", "/healthz", "", []byte(nil))
	h := e.srv.Handler()
	// 301/307/308: net/http's ServeMux redirects unclean paths ("/./x", "//x").
	allowed := map[int]bool{200: true, 301: true, 307: true, 308: true, 400: true, 401: true, 403: true, 404: true, 405: true, 413: true, 503: true}
	f.Fuzz(func(t *testing.T, method, target, authz string, body []byte) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n") {
			return // not a request line a server can receive
		}
		req, err := http.NewRequest(method, "http://bridge.test"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		if authz != "" {
			if strings.ContainsAny(authz, "\r\n\x00") {
				return
			}
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code := rec.Code
		if !allowed[code] {
			t.Fatalf("%s %s: status %d is not one the bridge documents", method, target, code)
		}
		path := req.URL.Path
		if path == "/userinfo" && code == http.StatusOK {
			scheme, tok, _ := strings.Cut(strings.TrimSpace(authz), " ")
			tok = strings.TrimSpace(tok)
			if !strings.EqualFold(scheme, "Bearer") || (tok != valid && tok != other) {
				t.Fatalf("200 for Authorization %q: only a token the issuer signed may pass", authz)
			}
		}
		if code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("401 without WWW-Authenticate")
		}
		out := rec.Body.String()
		for _, tok := range []string{valid, other} {
			if strings.Contains(out, tok) {
				t.Fatalf("the answer echoes a token")
			}
		}
		if i := strings.Index(authz, " "); i >= 0 && len(authz)-i > 40 && strings.Contains(out, strings.TrimSpace(authz[i:])) {
			t.Fatalf("the answer echoes the Authorization header")
		}
	})
}
