// Package bridge is the idlink userinfo bridge: the HTTP endpoint a
// Salesforce OpenID Connect Auth. Provider calls instead of the issuer's own
// userinfo endpoint. It verifies the bearer access token, answers with the
// claims the registration handler needs (sub plus oid and tid, which Entra's
// userinfo never returns), and records the (sub, oid) observation that lets
// the reconciliation job learn Entra's secret pairwise sub.
package bridge

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/idlinkhq/idlink/internal/bridge/jwtverify"
)

// EmailPolicy decides when the email claim is passed to Salesforce. Email
// never links accounts in idlink; the policy only protects a registration
// handler that might use it (the "nOAuth" takeover).
type EmailPolicy string

const (
	// EmailNever omits email from every response (default).
	EmailNever EmailPolicy = "never"
	// EmailVerified passes email only when the token marks it verified
	// (email_verified true, or Entra's optional xms_edov claim true).
	EmailVerified EmailPolicy = "verified"
	// EmailAlways passes email as the token has it.
	EmailAlways EmailPolicy = "always"
)

// IssuerConfig is one trusted issuer and the Auth. Provider it serves.
type IssuerConfig struct {
	// Provider is the Salesforce Auth. Provider developer name; observations are
	// recorded under it (ThirdPartyAccountLink.SsoProviderName).
	Provider string
	// Issuer is the exact iss of the tokens, e.g.
	// https://login.microsoftonline.com/<tenant-id>/v2.0 (Entra ID, v2 tokens) or
	// https://<name>.b2clogin.com/<tenant-id>/v2.0/ (Azure AD B2C).
	Issuer string
	// DiscoveryURL is the OpenID configuration document; default
	// Issuer + "/.well-known/openid-configuration". B2C needs the policy's document.
	DiscoveryURL string
	// JWKSURL skips discovery when set.
	JWKSURL string
	// Audiences are the accepted aud values: the app's client id (v2 tokens)
	// and/or its app id URI such as api://<client-id> (v1 tokens).
	Audiences []string
	// TenantIDs are the allowed tenants; default the GUID in the issuer URL.
	TenantIDs []string
	// TenantClaim is "required" (default; Entra ID) or "optional" (B2C, whose
	// tokens carry no tid; the issuer URL's tenant is used).
	TenantClaim jwtverify.TenantClaim
	// ClientID is the app registration's client id, recorded with observations.
	ClientID string
	// AuthorizedParties, when set, restricts azp/appid to these client ids.
	AuthorizedParties []string
	// Scopes, when set, restricts scp to contain at least one of these (e.g. "access").
	Scopes []string
	// AllowNoScope accepts tokens without scp. Leave false: without scp a token
	// is an ID token or an app-only token, not the user's access token.
	AllowNoScope bool
	// ObjectIDFromSubject uses sub as oid when the token has no oid (B2C).
	ObjectIDFromSubject bool
}

// Config is everything the bridge needs. Settings with a configuration key
// have their defaults in internal/config alone and must be set here; the few
// without one (HTTPClient, MaxCachedPairs, Now) default below.
type Config struct {
	Issuers []IssuerConfig
	// Leeway is the clock skew allowed on exp, nbf and iat (0 allows none), at most 2 min.
	Leeway time.Duration
	// JWKSRefreshInterval is the background refresh period, at least 1 min.
	JWKSRefreshInterval time.Duration
	// JWKSMinRefreshInterval is the least time between two JWKS fetches caused
	// by unknown kids, at least 1 s.
	JWKSMinRefreshInterval time.Duration
	// EmailPolicy: "never", "verified" or "always".
	EmailPolicy EmailPolicy
	// ExtraClaims are passed through by name when the token has them (e.g. "upn", "roles").
	ExtraClaims []string
	// ListenAddr is where ListenAndServe listens.
	ListenAddr string
	// OpsAddr is where ListenAndServe serves /healthz and /metrics, apart
	// from the public /userinfo port; "" serves them nowhere.
	OpsAddr string
	// TLSCertFile and TLSKeyFile enable TLS; leave both empty behind a TLS-terminating proxy.
	TLSCertFile string
	TLSKeyFile  string
	// HTTPClient fetches discovery documents and JWKS; default a 10 s timeout client.
	// Tests and the simulator pass a client that trusts their certificate.
	HTTPClient *http.Client
	// FlushInterval is how often the last-seen time and count of known pairs are
	// written to the store.
	FlushInterval time.Duration
	// MaxCachedPairs bounds the in-memory (provider, sub) -> oid cache. Default 1,000,000.
	// Pairs beyond it still work; they cost a store write per request.
	MaxCachedPairs int
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time
}

// reserved are the response members the bridge sets itself.
var reserved = map[string]bool{
	"sub": true, "oid": true, "tid": true, "preferred_username": true, "name": true,
	"given_name": true, "family_name": true, "email": true, "email_verified": true,
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Leeway < 0 || out.Leeway > jwtverify.MaxLeeway {
		return out, fmt.Errorf("bridge leeway %s: must be between 0 and %s", out.Leeway, jwtverify.MaxLeeway)
	}
	if out.JWKSRefreshInterval < time.Minute || out.JWKSMinRefreshInterval < time.Second {
		return out, errors.New("bridge JWKS refresh interval must be at least 1 min and the minimum refresh interval at least 1 s")
	}
	switch out.EmailPolicy {
	case EmailNever, EmailVerified, EmailAlways:
	default:
		return out, fmt.Errorf("bridge email policy %q: want never, verified or always", out.EmailPolicy)
	}
	for _, n := range out.ExtraClaims {
		if n == "" || reserved[n] {
			return out, fmt.Errorf("bridge extra claim %q: empty or already part of the response", n)
		}
	}
	if (out.TLSCertFile == "") != (out.TLSKeyFile == "") {
		return out, errors.New("bridge TLS: set both the certificate and the key file, or neither (plain HTTP behind a TLS proxy)")
	}
	if out.ListenAddr == "" {
		return out, errors.New("bridge listen address is empty: e.g. :8443")
	}
	if out.HTTPClient == nil {
		out.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if out.FlushInterval <= 0 {
		return out, errors.New("bridge flush interval must be positive")
	}
	if out.MaxCachedPairs == 0 {
		out.MaxCachedPairs = 1_000_000
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if len(out.Issuers) == 0 {
		return out, errors.New("bridge: no issuer configured")
	}
	seen := map[string]bool{}
	for i, is := range out.Issuers {
		if is.Provider == "" {
			return out, fmt.Errorf("bridge issuer %d (%s): provider name is empty; set the Salesforce Auth. Provider developer name", i, is.Issuer)
		}
		if seen[is.Issuer] {
			return out, fmt.Errorf("bridge issuer %s is configured twice", is.Issuer)
		}
		seen[is.Issuer] = true
	}
	return out, nil
}
