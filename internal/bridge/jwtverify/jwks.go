package jwtverify

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	maxDiscoveryBytes = 256 << 10
	maxJWKSBytes      = 1 << 20
	minRSABits        = 2048
	maxRSABits        = 8192
	// fetchTimeout bounds one discovery + JWKS fetch (the client may have its own, shorter, timeout).
	fetchTimeout = 15 * time.Second
)

// ErrKeysUnavailable is returned when the key set has never been loaded and
// the last attempt to fetch it failed (or is rate limited).
var ErrKeysUnavailable = errors.New("issuer signing keys are not available")

// KeySetConfig says where an issuer's keys are published.
type KeySetConfig struct {
	// Issuer is the exact iss value; the discovery document must name it.
	Issuer string
	// DiscoveryURL is the OpenID configuration document. Ignored when JWKSURL is set.
	// Default: Issuer + "/.well-known/openid-configuration".
	DiscoveryURL string
	// JWKSURL, when set, is fetched directly without discovery.
	JWKSURL string
	// Client fetches the documents; nil means a client with a 10 s timeout.
	Client *http.Client
	// MinRefreshInterval is the least time between two fetches triggered by an
	// unknown kid: a flood of forged kids costs the issuer one request per interval.
	MinRefreshInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// KeySet is one issuer's JWKS, cached in memory. Lookups are lock free; a
// fetch replaces the whole set atomically, and a failed fetch keeps the old set.
type KeySet struct {
	cfg     KeySetConfig
	keys    atomic.Pointer[map[string]*rsa.PublicKey]
	fetchMu sync.Mutex // one fetch at a time; guards the fields below
	jwksURI string     // from discovery, or cfg.JWKSURL
	last    time.Time  // start of the last fetch attempt (zero: never)
	lastErr error
	loaded  chan struct{} // closed by the first successful fetch

	// Fetches counts JWKS document requests (for metrics and tests).
	Fetches atomic.Int64
	// FetchFailures counts failed refreshes.
	FetchFailures atomic.Int64
}

// NewKeySet checks the configuration; it does not fetch anything.
func NewKeySet(cfg KeySetConfig) (*KeySet, error) {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.JWKSURL == "" && cfg.DiscoveryURL == "" {
		cfg.DiscoveryURL = strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/openid-configuration"
	}
	for _, u := range []string{cfg.DiscoveryURL, cfg.JWKSURL} {
		if u == "" {
			continue
		}
		if err := checkHTTPS(u); err != nil {
			return nil, err
		}
	}
	ks := &KeySet{cfg: cfg, jwksURI: cfg.JWKSURL, loaded: make(chan struct{})}
	return ks, nil
}

func checkHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("key set URL %q: %w", raw, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("key set URL %q must be an absolute https URL: keys fetched over plain HTTP could be replaced in transit", raw)
	}
	return nil
}

// Loaded reports whether a key set has been fetched successfully.
func (k *KeySet) Loaded() bool { return k.keys.Load() != nil }

// Ready is closed once a key set has been fetched successfully.
func (k *KeySet) Ready() <-chan struct{} { return k.loaded }

// Len is the number of usable keys.
func (k *KeySet) Len() int {
	if m := k.keys.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// LastError is the error of the last fetch, nil after a success.
func (k *KeySet) LastError() error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	return k.lastErr
}

// Key returns the key for kid. An unknown kid triggers one refresh, unless a
// fetch started less than MinRefreshInterval ago; then it is refused.
func (k *KeySet) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if m := k.keys.Load(); m != nil {
		if pub, ok := (*m)[kid]; ok {
			return pub, nil
		}
	}
	k.fetchMu.Lock()
	// Another request may have refreshed while we waited for the lock.
	if m := k.keys.Load(); m != nil {
		if pub, ok := (*m)[kid]; ok {
			k.fetchMu.Unlock()
			return pub, nil
		}
	}
	now := k.cfg.Now()
	if k.last.IsZero() || now.Sub(k.last) >= k.cfg.MinRefreshInterval {
		// Detached from the request: a caller hanging up must not abort the
		// fetch and so use up the rate-limit window for everyone.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		k.fetchLocked(fctx)
		cancel()
	}
	loaded := k.keys.Load()
	k.fetchMu.Unlock()
	if loaded == nil {
		return nil, &Error{Reason: ReasonKeysUnavailable, Description: "the issuer's signing keys could not be fetched; try again later", Err: ErrKeysUnavailable}
	}
	if pub, ok := (*loaded)[kid]; ok {
		return pub, nil
	}
	return nil, refusef(ReasonUnknownKey, "token is signed with a key the issuer does not publish", "kid %.64q", kid)
}

// Refresh fetches the key set now (background refresh). Discovery is re-read
// too, so a moved jwks_uri is followed.
func (k *KeySet) Refresh(ctx context.Context) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	if k.cfg.JWKSURL == "" {
		k.jwksURI = ""
	}
	return k.fetchLocked(ctx)
}

func (k *KeySet) fetchLocked(ctx context.Context) error {
	k.last = k.cfg.Now()
	err := k.fetch(ctx)
	k.lastErr = err
	if err != nil {
		k.FetchFailures.Add(1)
	}
	return err
}

func (k *KeySet) fetch(ctx context.Context) error {
	if k.jwksURI == "" {
		uri, err := k.discover(ctx)
		if err != nil {
			return err
		}
		k.jwksURI = uri
	}
	k.Fetches.Add(1)
	body, err := k.get(ctx, k.jwksURI, maxJWKSBytes)
	if err != nil {
		return fmt.Errorf("fetch JWKS of %s: %w", k.cfg.Issuer, err)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return fmt.Errorf("JWKS of %s from %s: %w", k.cfg.Issuer, k.jwksURI, err)
	}
	if k.keys.Swap(&keys) == nil {
		close(k.loaded) // fetches are serialised by fetchMu, so this runs once
	}
	return nil
}

func (k *KeySet) discover(ctx context.Context) (string, error) {
	body, err := k.get(ctx, k.cfg.DiscoveryURL, maxDiscoveryBytes)
	if err != nil {
		return "", fmt.Errorf("fetch OpenID configuration of %s: %w", k.cfg.Issuer, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("OpenID configuration at %s is not JSON: %w", k.cfg.DiscoveryURL, err)
	}
	// The multi-tenant Entra documents name "https://login.microsoftonline.com/{tenantid}/v2.0";
	// a tenant's own document names the tenant. Either way it must describe this issuer.
	if doc.Issuer != k.cfg.Issuer && !issuerTemplateMatches(doc.Issuer, k.cfg.Issuer) {
		return "", fmt.Errorf("OpenID configuration at %s names issuer %q, not the configured %q: point discovery at the issuer's own document", k.cfg.DiscoveryURL, doc.Issuer, k.cfg.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("OpenID configuration at %s has no jwks_uri", k.cfg.DiscoveryURL)
	}
	if err := checkHTTPS(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("OpenID configuration at %s: %w", k.cfg.DiscoveryURL, err)
	}
	return doc.JWKSURI, nil
}

// issuerTemplateMatches reports whether tmpl with "{tenantid}" replaced by one
// path segment equals issuer.
func issuerTemplateMatches(tmpl, issuer string) bool {
	before, after, ok := strings.Cut(tmpl, "{tenantid}")
	if !ok || !strings.HasPrefix(issuer, before) || !strings.HasSuffix(issuer, after) || len(issuer) < len(before)+len(after) {
		return false
	}
	seg := issuer[len(before) : len(issuer)-len(after)]
	return seg != "" && !strings.Contains(seg, "/")
}

func (k *KeySet) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: document larger than %d bytes", u, limit)
	}
	return body, nil
}

// ParseJWKS returns the usable keys of a JWKS document by kid: RSA keys meant
// for signatures (use "sig" or absent, alg "RS256" or absent) of 2048 to 8192
// bits. Other keys are skipped; a kid listed twice is dropped, since which of
// the two signs is ambiguous. A document with no usable key is an error.
func ParseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	var doc struct {
		Keys []struct {
			Kty string `json:"kty"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	keys := make(map[string]*rsa.PublicKey, len(doc.Keys))
	dup := map[string]bool{}
	for _, j := range doc.Keys {
		if j.Kty != "RSA" || (j.Use != "" && j.Use != "sig") || (j.Alg != "" && j.Alg != "RS256") || j.Kid == "" {
			continue
		}
		pub, err := rsaKey(j.N, j.E)
		if err != nil {
			continue
		}
		if _, seen := keys[j.Kid]; seen || dup[j.Kid] {
			delete(keys, j.Kid)
			dup[j.Kid] = true
			continue
		}
		keys[j.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable RSA signing key (kty RSA, use sig, with kid)")
	}
	return keys, nil
}

// b64 is strict base64url without padding, the encoding RFC 7518 §6.3.1 gives n and e.
var b64 = base64.RawURLEncoding.Strict()

func rsaKey(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := b64.DecodeString(n64)
	if err != nil {
		// Some publishers pad; accept padded base64url for keys (not for tokens).
		if nb, err = base64URLPadded(n64); err != nil {
			return nil, err
		}
	}
	eb, err := b64.DecodeString(e64)
	if err != nil {
		if eb, err = base64URLPadded(e64); err != nil {
			return nil, err
		}
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA modulus of %d bits", bits)
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("RSA exponent out of range")
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	if e < 3 || e%2 == 0 {
		return nil, errors.New("RSA exponent invalid")
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

func base64URLPadded(s string) ([]byte, error) {
	return base64.URLEncoding.DecodeString(s)
}
