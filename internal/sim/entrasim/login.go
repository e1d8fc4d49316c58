package entrasim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signingKey is one RS256 key of the tenant's JWKS.
type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// keySet holds the current signing key plus the ones still published after a
// rotation (Entra keeps old keys in the JWKS for a while so that tokens signed
// before the roll still verify).
type keySet struct {
	mu   sync.RWMutex
	keys []signingKey // keys[len-1] signs
}

func newSigningKey() (signingKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKey{}, fmt.Errorf("entra sim: signing key: %w", err)
	}
	sum := sha1.Sum(k.N.Bytes())
	return signingKey{kid: base64.RawURLEncoding.EncodeToString(sum[:]), priv: k}, nil
}

func newKeySet() (*keySet, error) {
	k, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	return &keySet{keys: []signingKey{k}}, nil
}

func (ks *keySet) current() signingKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.keys[len(ks.keys)-1]
}

func (ks *keySet) find(kid string) (*rsa.PublicKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	for _, k := range ks.keys {
		if k.kid == kid {
			return &k.priv.PublicKey, true
		}
	}
	return nil, false
}

// RotateKeys makes a new key the signing key. The previous key stays published
// until RetireOldKeys; it returns the new kid.
func (s *Sim) RotateKeys() (string, error) {
	k, err := newSigningKey()
	if err != nil {
		return "", err
	}
	s.keys.mu.Lock()
	s.keys.keys = append(s.keys.keys, k)
	s.keys.mu.Unlock()
	return k.kid, nil
}

// RetireOldKeys unpublishes every key but the current signing key. Tokens
// signed with the retired keys no longer verify, at Graph either.
func (s *Sim) RetireOldKeys() {
	s.keys.mu.Lock()
	s.keys.keys = s.keys.keys[len(s.keys.keys)-1:]
	s.keys.mu.Unlock()
	s.tokCache.Range(func(k, _ any) bool { s.tokCache.Delete(k); return true })
}

// SigningKeyID is the kid of the current signing key.
func (s *Sim) SigningKeyID() string { return s.keys.current().kid }

func (s *Sim) sign(claims map[string]any) (string, error) {
	k := s.keys.current()
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": k.kid})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("entra sim: sign: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// verify checks an RS256 token signed by one of the published keys and
// returns its claims.
func (s *Sim) verify(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("IDX14100: JWT is not well formed, there are no dots (.).")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errors.New("IDX14102: Unable to decode the header.")
	}
	var hdr struct{ Alg, Kid string }
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr.Alg != "RS256" {
		return nil, errors.New("IDX10511: Signature validation failed.")
	}
	pub, ok := s.keys.find(hdr.Kid)
	if !ok {
		return nil, errors.New("IDX10503: Signature validation failed. The token's kid is not in the key set.")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("IDX10511: Signature validation failed.")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return nil, errors.New("IDX10511: Signature validation failed.")
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("IDX14101: Unable to decode the payload.")
	}
	var claims map[string]any
	if err := json.Unmarshal(cb, &claims); err != nil {
		return nil, errors.New("IDX14101: Unable to decode the payload.")
	}
	return claims, nil
}

// Tokens is what a simulated sign-in returns.
type Tokens struct {
	IDToken     string
	AccessToken string
	Subject     string // the pairwise sub in both tokens
}

// IssueTokens is SignIn without the error: on an unknown client or user it
// returns empty strings (which no verifier accepts).
func (s *Sim) IssueTokens(clientID, oid string, scopes ...string) (idToken, accessToken string) {
	t, err := s.SignIn(clientID, oid, scopes...)
	if err != nil {
		return "", ""
	}
	return t.IDToken, t.AccessToken
}

// SignIn issues the ID token and access token an interactive OIDC sign-in of
// user oid to app clientID would get. The access token's audience follows the
// scopes as in Entra: a scope naming the app itself ("api://{clientID}/x" or
// "{clientID}/.default") gives a v2.0 token for the app; Graph scopes
// ("openid", "User.Read", ...) give a token for Microsoft Graph
// (aud 00000003-0000-0000-c000-000000000000, v1.0 issuer), which only Graph can
// validate (https://learn.microsoft.com/entra/identity-platform/access-tokens).
func (s *Sim) SignIn(clientID, oid string, scopes ...string) (Tokens, error) {
	s.mu.RLock()
	app, ok := s.apps[strings.ToLower(clientID)]
	if !ok {
		s.mu.RUnlock()
		return Tokens{}, fmt.Errorf("entra sim: no app %s", clientID)
	}
	idx, err := s.lookup(oid)
	if err != nil {
		s.mu.RUnlock()
		return Tokens{}, err
	}
	u := s.users[idx]
	s.mu.RUnlock()
	if u.state != stActive || !u.enabled {
		return Tokens{}, fmt.Errorf("entra sim: user %s cannot sign in (AADSTS50057: account disabled or deleted)", u.id)
	}
	sub := s.opts.Subject(app.ClientID, u.id)
	now := s.Now()
	tid := s.opts.TenantID
	base := map[string]any{
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(s.opts.TokenLifetime).Unix(),
		"tid": tid, "oid": u.id, "sub": sub, "name": u.displayName,
		"preferred_username": u.upn, "given_name": u.givenName, "family_name": u.surname,
	}
	if u.mail != "" {
		base["email"] = u.mail
	}
	id := clone(base)
	id["iss"], id["aud"], id["ver"] = s.Issuer(), app.ClientID, "2.0"
	id["uti"] = s.uti()

	at := clone(base)
	at["uti"] = s.uti()
	var appScopes, graphScopes []string
	for _, sc := range scopes {
		l := strings.ToLower(sc)
		switch {
		case strings.HasPrefix(l, "api://"+app.ClientID+"/"), strings.HasPrefix(l, app.ClientID+"/"):
			appScopes = append(appScopes, sc[strings.LastIndex(sc, "/")+1:])
		case strings.HasPrefix(l, "https://graph.microsoft.com/"):
			graphScopes = append(graphScopes, sc[len("https://graph.microsoft.com/"):])
		default:
			graphScopes = append(graphScopes, sc)
		}
	}
	if len(appScopes) > 0 {
		at["iss"], at["aud"], at["ver"], at["azp"] = s.Issuer(), app.ClientID, "2.0", app.ClientID
		at["scp"] = strings.Join(appScopes, " ")
	} else {
		at["iss"], at["aud"], at["ver"], at["appid"] = "https://sts.windows.net/"+tid+"/", GraphAppID, "1.0", app.ClientID
		at["scp"] = strings.Join(graphScopes, " ")
		at["upn"] = u.upn
	}
	var t Tokens
	if t.IDToken, err = s.sign(id); err != nil {
		return Tokens{}, err
	}
	if t.AccessToken, err = s.sign(at); err != nil {
		return Tokens{}, err
	}
	t.Subject = sub
	return t, nil
}

func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m)+6)
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (s *Sim) uti() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newTraceID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// tenantOK resolves the tenant segment of a login URL.
func (s *Sim) tenantOK(t string) bool {
	return strings.EqualFold(t, s.opts.TenantID) || (s.opts.TenantDomain != "" && strings.EqualFold(t, s.opts.TenantDomain))
}

func (s *Sim) loginHandler() http.Handler {
	mux := http.NewServeMux()
	errw := func(w http.ResponseWriter, status int, _ time.Duration) {
		s.aadError(w, nil, status, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
	}
	mux.Handle("POST /{tenant}/oauth2/v2.0/token", s.Faults.Wrap(EPToken, errw, http.HandlerFunc(s.handleToken)))
	mux.Handle("GET /{tenant}/v2.0/.well-known/openid-configuration", s.Faults.Wrap(EPOpenID, errw, http.HandlerFunc(s.handleOpenID)))
	mux.Handle("GET /{tenant}/discovery/v2.0/keys", s.Faults.Wrap(EPKeys, errw, http.HandlerFunc(s.handleKeys)))
	return mux
}

// aadError writes the error shape of the Microsoft identity platform token
// endpoint: error, error_description starting with the AADSTS code, the
// numeric error_codes, timestamp, trace and correlation ids
// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
func (s *Sim) aadError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, desc string) {
	trace := newTraceID()
	corr := ""
	if r != nil {
		corr = r.Header.Get("client-request-id")
	}
	if corr == "" {
		corr = newTraceID()
	}
	ts := s.Now().UTC().Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, trace, corr, ts),
		"error_codes":       []int{aadsts},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("%s/error?code=%d", s.loginURL, aadsts),
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func (s *Sim) unknownTenant(w http.ResponseWriter, r *http.Request, code string) {
	s.aadError(w, r, http.StatusBadRequest, code, 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", r.PathValue("tenant")))
}

func (s *Sim) handleOpenID(w http.ResponseWriter, r *http.Request) {
	if !s.tenantOK(r.PathValue("tenant")) {
		s.unknownTenant(w, r, "invalid_tenant")
		return
	}
	tb := s.loginURL + "/" + s.opts.TenantID
	doc := map[string]any{
		"token_endpoint":                        tb + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              tb + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                s.Issuer(),
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     s.graphURL + "/oidc/userinfo",
		"authorization_endpoint":                tb + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         tb + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  tb + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"msgraph_host":                          strings.TrimPrefix(s.graphURL, "https://"),
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(doc)
}

func (s *Sim) handleKeys(w http.ResponseWriter, r *http.Request) {
	if !s.tenantOK(r.PathValue("tenant")) && !strings.EqualFold(r.PathValue("tenant"), "common") {
		s.unknownTenant(w, r, "invalid_tenant")
		return
	}
	s.keys.mu.RLock()
	var keys []map[string]any
	for _, k := range s.keys.keys {
		keys = append(keys, map[string]any{
			"kty": "RSA", "use": "sig", "kid": k.kid, "alg": "RS256",
			"n":      base64.RawURLEncoding.EncodeToString(k.priv.N.Bytes()),
			"e":      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()),
			"issuer": s.Issuer(),
		})
	}
	s.keys.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// handleToken is the client credentials grant of the v2.0 token endpoint
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
func (s *Sim) handleToken(w http.ResponseWriter, r *http.Request) {
	if !s.tenantOK(r.PathValue("tenant")) {
		s.unknownTenant(w, r, "invalid_request")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" {
		s.aadError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", f.Get("grant_type")))
		return
	}
	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = f.Get("client_id"), f.Get("client_secret")
	}
	s.mu.RLock()
	app, ok := s.apps[strings.ToLower(clientID)]
	var appCopy App
	if ok {
		appCopy = *app
	}
	s.mu.RUnlock()
	if !ok {
		s.aadError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, s.tenantName()))
		return
	}
	switch {
	case secret != "":
		if appCopy.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(appCopy.Secret)) != 1 {
			s.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", appCopy.ClientID))
			return
		}
	case f.Get("client_assertion") != "":
		if f.Get("client_assertion_type") != assertionType {
			s.aadError(w, r, http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type: expected "+assertionType+".")
			return
		}
		if code, msg := s.checkAssertion(f.Get("client_assertion"), &appCopy, r.PathValue("tenant")); msg != "" {
			s.aadError(w, r, http.StatusUnauthorized, "invalid_client", code, msg)
			return
		}
	default:
		s.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	// MSAL adds the OIDC scopes openid, profile and offline_access to every
	// request; Entra ignores them in the client credentials flow.
	var rest []string
	for _, sc := range strings.Fields(f.Get("scope")) {
		switch sc {
		case "openid", "profile", "offline_access":
		default:
			rest = append(rest, sc)
		}
	}
	scope := strings.Join(rest, " ")
	resource, ok := strings.CutSuffix(scope, "/.default")
	if !ok || len(rest) != 1 {
		s.aadError(w, r, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	now := s.Now()
	claims := map[string]any{
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(s.opts.TokenLifetime).Unix(),
		"tid": s.opts.TenantID, "appid": appCopy.ClientID, "idtyp": "app",
		"oid": appCopy.ServicePrincipalID, "sub": appCopy.ServicePrincipalID, "uti": s.uti(),
	}
	switch {
	case s.isGraphResource(resource):
		claims["aud"], claims["iss"], claims["ver"] = "https://graph.microsoft.com", "https://sts.windows.net/"+s.opts.TenantID+"/", "1.0"
		if len(appCopy.GraphPermissions) > 0 {
			claims["roles"] = appCopy.GraphPermissions
		}
	default:
		target := s.appByResource(resource)
		if target == "" {
			s.aadError(w, r, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, s.tenantName()))
			return
		}
		claims["aud"], claims["iss"], claims["ver"], claims["azp"] = target, s.Issuer(), "2.0", appCopy.ClientID
	}
	tok, err := s.sign(claims)
	if err != nil {
		s.aadError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
		return
	}
	secs := int(s.opts.TokenLifetime / time.Second)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": secs - 1, "ext_expires_in": secs - 1, "access_token": tok})
}

func (s *Sim) tenantName() string {
	if s.opts.TenantDomain != "" {
		return s.opts.TenantDomain
	}
	return s.opts.TenantID
}

func (s *Sim) isGraphResource(res string) bool {
	res = strings.TrimSuffix(strings.ToLower(res), "/")
	return res == "https://graph.microsoft.com" || res == GraphAppID || res == strings.ToLower(s.graphURL)
}

func (s *Sim) appByResource(res string) string {
	id := strings.TrimPrefix(strings.ToLower(res), "api://")
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a, ok := s.apps[id]; ok {
		return a.ClientID
	}
	return ""
}

// checkAssertion validates a certificate client assertion: PS256 with
// x5t#S256 (what MSAL sends) or RS256 with x5t, signed by the registered
// certificate, aud the token endpoint, iss = sub = client id, not expired
// (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
// It returns "" when valid, else the AADSTS code and description. Expiry is judged by
// the real clock: MSAL stamps assertions with it.
func (s *Sim) checkAssertion(assertion string, app *App, tenant string) (int, string) {
	if msg, handled := s.checkFederated(assertion, app); handled {
		if msg == "" {
			return 0, ""
		}
		if strings.HasPrefix(msg, "No matching") {
			return 70021, msg
		}
		return 700027, msg
	}
	if app.Certificate == nil {
		return 700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.] Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.", app.ClientID)
	}
	endpoint := s.loginURL + "/" + tenant + "/oauth2/v2.0/token"
	tokEndpointByID := s.loginURL + "/" + s.opts.TenantID + "/oauth2/v2.0/token"
	tok, err := jwt.Parse(assertion, func(t *jwt.Token) (any, error) {
		var want []byte
		var got string
		switch t.Method.Alg() {
		case "PS256":
			h := sha256.Sum256(app.Certificate.Raw)
			want, got = h[:], headerString(t, "x5t#S256")
		case "RS256":
			h := sha1.Sum(app.Certificate.Raw)
			want, got = h[:], headerString(t, "x5t")
		default:
			return nil, fmt.Errorf("alg %s", t.Method.Alg())
		}
		if !thumbprintMatches(got, want) {
			return nil, errUnknownCert
		}
		return app.Certificate.PublicKey, nil
	}, jwt.WithValidMethods([]string{"PS256", "RS256"}), jwt.WithIssuer(app.ClientID), jwt.WithSubject(app.ClientID), jwt.WithExpirationRequired())
	if err != nil {
		if errors.Is(err, errUnknownCert) {
			return 700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.] Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.", app.ClientID)
		}
		return 700027, "Client assertion failed signature validation or its claims are invalid: " + err.Error() + "."
	}
	aud, _ := tok.Claims.GetAudience()
	for _, a := range aud {
		if strings.EqualFold(a, endpoint) || strings.EqualFold(a, tokEndpointByID) {
			return 0, ""
		}
	}
	return 700027, fmt.Sprintf("Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials. Expected %s.", tokEndpointByID)
}

var errUnknownCert = errors.New("certificate not registered")

func headerString(t *jwt.Token, k string) string {
	v, _ := t.Header[k].(string)
	return v
}

func thumbprintMatches(got string, want []byte) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(got); err == nil && subtle.ConstantTimeCompare(b, want) == 1 {
			return true
		}
	}
	return false
}

// checkFederated validates a workload identity assertion (a JWT from an
// external issuer, no certificate thumbprint). handled is false when the
// assertion names a certificate, so certificate validation applies.
func (s *Sim) checkFederated(assertion string, app *App) (msg string, handled bool) {
	unverified, _, err := jwt.NewParser().ParseUnverified(assertion, jwt.MapClaims{})
	if err != nil {
		return "", false
	}
	if headerString(unverified, "x5t") != "" || headerString(unverified, "x5t#S256") != "" {
		return "", false
	}
	iss, _ := unverified.Claims.GetIssuer()
	sub, _ := unverified.Claims.GetSubject()
	aud, _ := unverified.Claims.GetAudience()
	for _, fc := range app.Federated {
		want := fc.Audience
		if want == "" {
			want = "api://AzureADTokenExchange"
		}
		if fc.Issuer != iss || fc.Subject != sub || !slices.Contains(aud, want) {
			continue
		}
		_, err := jwt.Parse(assertion, func(*jwt.Token) (any, error) { return fc.Key, nil },
			jwt.WithValidMethods([]string{"RS256", "ES256", "PS256"}), jwt.WithExpirationRequired())
		if err != nil {
			return "Client assertion failed signature validation or has expired: " + err.Error() + ".", true
		}
		return "", true
	}
	return fmt.Sprintf("No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", iss, sub, strings.Join(aud, ",")), true
}
