package sfsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

const orgID = "00D8d0000000001EAA"

// tokenError writes the OAuth error shape Salesforce's token endpoint uses:
// {"error": "...", "error_description": "..."} with status 400.
func tokenError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// handleToken implements the two server-to-server flows idlink uses.
//
// Client credentials (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm):
// client_id and client_secret in the body or in an HTTP Basic header; the
// token runs as the app's configured "Run As" user, and without one the
// answer is invalid_grant "no client credentials user enabled".
//
// JWT bearer (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm):
// an RS256 assertion signed with the key of the app's certificate, iss = the
// consumer key, sub = the username, aud = https://login.salesforce.com,
// https://test.salesforce.com or the My Domain URL, exp in the future; the
// user must be pre-authorized for the app.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request", "malformed request body")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		s.clientCredentials(w, r)
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		s.jwtBearer(w, r)
	case "":
		tokenError(w, "unsupported_grant_type", "grant type not supported")
	default:
		tokenError(w, "unsupported_grant_type", "grant type not supported")
	}
}

func (s *Server) clientCredentials(w http.ResponseWriter, r *http.Request) {
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: the Basic credentials are form-urlencoded first.
		if v, err := url.QueryUnescape(bid); err == nil {
			bid = v
		}
		if v, err := url.QueryUnescape(bsecret); err == nil {
			bsecret = v
		}
		id, secret = bid, bsecret
	}
	s.mu.Lock()
	app, ok := s.apps[id]
	s.mu.Unlock()
	if !ok {
		tokenError(w, "invalid_client_id", "client identifier invalid")
		return
	}
	if secret == "" || !hmac.Equal([]byte(secret), []byte(app.ClientSecret)) {
		tokenError(w, "invalid_client", "invalid client credentials")
		return
	}
	if app.ClientCredentialsUser == "" {
		tokenError(w, "invalid_grant", "no client credentials user enabled")
		return
	}
	userID, active := s.userByUsername(app.ClientCredentialsUser)
	if userID == "" || !active {
		tokenError(w, "invalid_grant", "user is not active")
		return
	}
	s.issue(w, app, userID)
}

func (s *Server) userByUsername(name string) (string, bool) {
	s.Org.mu.RLock()
	defer s.Org.mu.RUnlock()
	i, ok := s.Org.userByName[strings.ToLower(name)]
	if !ok {
		return "", false
	}
	r := s.Org.users.rows[i]
	return r.id, r.isActive
}

func (s *Server) jwtBearer(w http.ResponseWriter, r *http.Request) {
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		tokenError(w, "invalid_grant", "invalid assertion")
		return
	}
	var app ConnectedApp
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(assertion, claims, func(t *jwt.Token) (any, error) {
		iss, _ := claims["iss"].(string)
		s.mu.Lock()
		a, ok := s.apps[iss]
		s.mu.Unlock()
		if !ok {
			return nil, errUnknownClient
		}
		if a.JWTKey == nil {
			return nil, errNoCertificate
		}
		app = a
		return a.JWTKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	switch {
	case err == nil:
	case strings.Contains(err.Error(), errUnknownClient.Error()):
		tokenError(w, "invalid_client_id", "client identifier invalid")
		return
	case strings.Contains(err.Error(), errNoCertificate.Error()):
		tokenError(w, "invalid_client", "invalid client credentials")
		return
	default:
		tokenError(w, "invalid_grant", "invalid assertion")
		return
	}
	aud, _ := claims.GetAudience()
	if !slices.ContainsFunc(aud, s.validAudience) {
		tokenError(w, "invalid_grant", "audience is invalid")
		return
	}
	sub, _ := claims["sub"].(string)
	userID, active := s.userByUsername(sub)
	if userID == "" {
		tokenError(w, "invalid_grant", "invalid assertion")
		return
	}
	if !active {
		tokenError(w, "invalid_grant", "user is not active")
		return
	}
	if !slices.ContainsFunc(app.PreAuthorized, func(u string) bool { return strings.EqualFold(u, sub) }) {
		tokenError(w, "invalid_grant", "user hasn't approved this consumer")
		return
	}
	s.issue(w, app, userID)
}

type tokenErr string

func (e tokenErr) Error() string { return string(e) }

const (
	errUnknownClient tokenErr = "sim: unknown client id"
	errNoCertificate tokenErr = "sim: app has no certificate"
)

func (s *Server) validAudience(a string) bool {
	a = strings.TrimSuffix(a, "/")
	return a == "https://login.salesforce.com" || a == "https://test.salesforce.com" || a == s.url
}

func (s *Server) issue(w http.ResponseWriter, app ConnectedApp, userID string) {
	var raw [48]byte
	_, _ = rand.Read(raw[:])
	// Salesforce access tokens are the org id, "!", then an opaque part.
	token := orgID[:15] + "!" + base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	s.mu.Lock()
	s.sessions[token] = &session{userID: userID, expires: now.Add(s.cfg.SessionTTL)}
	s.mu.Unlock()
	issuedAt := strconv.FormatInt(now.UnixMilli(), 10)
	idURL := s.url + "/id/" + orgID + "/" + userID
	mac := hmac.New(sha256.New, []byte(app.ClientSecret))
	mac.Write([]byte(idURL + issuedAt))
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
	// No expires_in: Salesforce does not send one; clients learn of expiry
	// from a 401 INVALID_SESSION_ID.
	_ = json.NewEncoder(w).Encode(map[string]string{
		"access_token": token,
		"instance_url": s.url,
		"id":           idURL,
		"token_type":   "Bearer",
		"issued_at":    issuedAt,
		"signature":    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		"scope":        app.Scope,
	})
}
