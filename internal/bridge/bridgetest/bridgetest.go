// Package bridgetest is a test token issuer for the userinfo bridge: an
// httptest TLS server publishing OpenID discovery and a JWKS, RSA keys made
// for the test, and helpers that sign (or deliberately mis-sign) tokens.
// It is imported by tests only.
package bridgetest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TenantID and ClientID used by default.
const (
	TenantID = "6f1c2b3a-1111-4a4a-8b8b-0123456789ab"
	ClientID = "1a2b3c4d-2222-4b4b-9c9c-abcdef012345"
)

var (
	keyMu sync.Mutex
	keys  = map[int]*rsa.PrivateKey{}
)

// Key returns the n-th RSA-2048 test key, generated once per test binary.
func Key(n int) *rsa.PrivateKey {
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keys[n]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	keys[n] = k
	return k
}

// Issuer is a fake OIDC issuer over TLS.
type Issuer struct {
	Server *httptest.Server
	// IssuerURL is the iss value: https://127.0.0.1:port/<tenant>/v2.0
	IssuerURL string
	Tenant    string

	mu   sync.Mutex
	pub  map[string]*rsa.PublicKey // published kid -> key
	priv map[string]*rsa.PrivateKey

	JWKSRequests      atomic.Int64
	DiscoveryRequests atomic.Int64
}

// NewIssuer starts an issuer for tenant publishing key 0 as kid "k0".
func NewIssuer(t testing.TB, tenant string) *Issuer {
	t.Helper()
	is := &Issuer{Tenant: tenant, pub: map[string]*rsa.PublicKey{}, priv: map[string]*rsa.PrivateKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/"+tenant+"/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.DiscoveryRequests.Add(1)
		json.NewEncoder(w).Encode(map[string]string{
			"issuer":   is.IssuerURL,
			"jwks_uri": is.Server.URL + "/" + tenant + "/discovery/v2.0/keys",
		})
	})
	mux.HandleFunc("/"+tenant+"/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		is.JWKSRequests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(is.JWKS())
	})
	is.Server = httptest.NewTLSServer(mux)
	t.Cleanup(is.Server.Close)
	is.IssuerURL = is.Server.URL + "/" + tenant + "/v2.0"
	is.Publish("k0", Key(0))
	return is
}

// ClientTrusting is an HTTP client trusting the certificates of all the issuers.
func ClientTrusting(issuers ...*Issuer) *http.Client {
	pool := x509.NewCertPool()
	for _, is := range issuers {
		pool.AddCert(is.Server.Certificate())
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// Client trusts the issuer's certificate.
func (is *Issuer) Client() *http.Client { return is.Server.Client() }

// Publish adds a key to the JWKS (and keeps the private half for signing).
func (is *Issuer) Publish(kid string, k *rsa.PrivateKey) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.pub[kid] = &k.PublicKey
	is.priv[kid] = k
}

// Unpublish removes a key from the JWKS but keeps it for signing.
func (is *Issuer) Unpublish(kid string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.pub, kid)
}

// JWKS is the current key set document.
func (is *Issuer) JWKS() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	var list []map[string]string
	for kid, k := range is.pub {
		list = append(list, map[string]string{
			"kty": "RSA", "use": "sig", "kid": kid,
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return b
}

// Claims returns valid claims for user n of this issuer's tenant, issued now.
func (is *Issuer) Claims(now time.Time, n int) map[string]any {
	return map[string]any{
		"iss": is.IssuerURL, "aud": ClientID, "tid": is.Tenant,
		"sub":                fmt.Sprintf("pairwise-sub-%04d-AbCdEfGhIjKlMnOp", n),
		"oid":                fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		"preferred_username": fmt.Sprintf("user%d@contoso.example", n),
		"name":               fmt.Sprintf("User %d", n), "given_name": "User", "family_name": fmt.Sprint(n),
		"email": fmt.Sprintf("user%d@contoso.example", n), "azp": ClientID, "ver": "2.0", "scp": "access",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// Sign signs claims with RS256 under kid using the key kept for kid.
func (is *Issuer) Sign(kid string, claims map[string]any) string {
	is.mu.Lock()
	k := is.priv[kid]
	is.mu.Unlock()
	if k == nil {
		panic("bridgetest: no private key for kid " + kid)
	}
	return SignRS256(k, map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, claims)
}

// SignRS256 signs header and claims with k.
func SignRS256(k *rsa.PrivateKey, header, claims map[string]any) string {
	in := Segment(header) + "." + Segment(claims)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return in + "." + b64(sig)
}

// SignHS256 is the algorithm-confusion attack: HMAC-SHA256 keyed with secret.
func SignHS256(secret []byte, header, claims map[string]any) string {
	in := Segment(header) + "." + Segment(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

// PublicKeyPEM is key 0's public key as PEM: what an attacker would use as an HMAC secret.
func PublicKeyPEM(k *rsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Segment is the base64url JSON of v.
func Segment(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b64(b)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
