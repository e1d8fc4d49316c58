package jwtverify

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Audiences of Microsoft Graph access tokens. Such a token is meant for Graph
// only: Entra signs it with a nonce in the header that only Graph can check, so
// no third party can (or should) validate it.
// https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens
var graphAudiences = map[string]bool{
	"00000003-0000-0000-c000-000000000000": true,
	"https://graph.microsoft.com":          true,
	"https://graph.microsoft.com/":         true,
}

// IsGraphAudience reports whether aud names Microsoft Graph.
func IsGraphAudience(aud string) bool { return graphAudiences[strings.ToLower(aud)] }

// MaxLeeway bounds the clock skew allowance; a larger value would make expired tokens usable.
const MaxLeeway = 2 * time.Minute

// KeySource returns the verification key for a kid.
type KeySource interface {
	Key(ctx context.Context, kid string) (*rsa.PublicKey, error)
}

// TenantClaim says how the tid claim is checked for one issuer.
type TenantClaim string

const (
	// TenantRequired: tid must be present, among the allowed tenants, and equal
	// to the tenant GUID in the issuer URL if it has one (Entra ID v2).
	TenantRequired TenantClaim = "required"
	// TenantOptional: tid may be absent (Azure AD B2C tokens carry none); when
	// present it is checked like TenantRequired. The tenant is then taken from
	// the issuer URL's GUID segment, which must be allowed.
	TenantOptional TenantClaim = "optional"
)

// Issuer is one trusted token issuer.
type Issuer struct {
	// Issuer is the exact iss value, e.g. https://login.microsoftonline.com/{tid}/v2.0.
	Issuer string
	// Audiences are the accepted aud values: the app's client id and/or app id URI.
	Audiences []string
	// TenantIDs are the allowed tid values (GUIDs). Empty means the issuer's own
	// tenant GUID, which must then appear in the issuer URL.
	TenantIDs []string
	// TenantClaim is the tid policy; "" means TenantRequired.
	TenantClaim TenantClaim
	// AuthorizedParties, when set, are the accepted azp (v2) / appid (v1) values:
	// the clients allowed to have requested the token.
	AuthorizedParties []string
	// Scopes, when set, are the delegated scopes of which scp must name at
	// least one (e.g. "access" for api://<client-id>/access).
	Scopes []string
	// AllowNoScope accepts tokens without an scp claim. By default they are
	// refused: a user's delegated access token always has scp, whereas an ID
	// token (meant for the client, not for an API) and an app-only token (a
	// service principal, not a user) have none.
	AllowNoScope bool
	// ObjectIDFromSubject takes oid from sub when the token has no oid claim
	// (Azure AD B2C and External ID, where sub is the object id by default).
	ObjectIDFromSubject bool
	// Keys verify the signature.
	Keys KeySource

	audiences map[string]bool
	tenants   map[string]bool
	parties   map[string]bool
	validator *jwt.Validator // iss, aud, exp (required), nbf, iat with the leeway
	issuerTID string         // tenant GUID found in the issuer URL path, if any
}

// Claims is what a verified token says about the user.
type Claims struct {
	Issuer            string
	Audience          string // the configured audience that matched
	Subject           string
	ObjectID          string // normalized GUID
	TenantID          string // normalized GUID
	AuthorizedParty   string
	PreferredUsername string
	Name              string
	GivenName         string
	FamilyName        string
	Email             string
	// EmailVerified is true when the token says the email was verified:
	// email_verified true, or Entra's xms_edov (email domain owner verified) true.
	EmailVerified bool
	Expiry        time.Time
	// Raw holds every payload claim, for configured pass-through.
	Raw map[string]json.RawMessage
}

// Options tune a Verifier.
type Options struct {
	// Leeway is the allowed clock skew for exp, nbf and iat (0..MaxLeeway).
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks tokens against a fixed set of issuers. Safe for concurrent use.
type Verifier struct {
	issuers map[string]*Issuer // each with its claims validator, which holds the leeway and clock
}

// NewVerifier validates the issuer configuration.
func NewVerifier(issuers []Issuer, opt Options) (*Verifier, error) {
	if opt.Leeway < 0 || opt.Leeway > MaxLeeway {
		return nil, fmt.Errorf("leeway %s is outside 0..%s", opt.Leeway, MaxLeeway)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if len(issuers) == 0 {
		return nil, errors.New("no issuer configured: the bridge would refuse every token")
	}
	v := &Verifier{issuers: map[string]*Issuer{}}
	for i := range issuers {
		is := issuers[i] // copy: the caller's slice stays untouched
		if err := is.prepare(opt); err != nil {
			return nil, fmt.Errorf("issuer %q: %w", is.Issuer, err)
		}
		if _, dup := v.issuers[is.Issuer]; dup {
			return nil, fmt.Errorf("issuer %q is configured twice", is.Issuer)
		}
		v.issuers[is.Issuer] = &is
	}
	return v, nil
}

func (is *Issuer) prepare(opt Options) error {
	u, err := url.Parse(is.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return errors.New("issuer must be an absolute https URL, exactly as in the tokens' iss claim")
	}
	if is.Keys == nil {
		return errors.New("no key source")
	}
	if len(is.Audiences) == 0 {
		return errors.New("no audience: set the app's client id and/or app id URI")
	}
	is.audiences = map[string]bool{}
	for _, a := range is.Audiences {
		if a == "" {
			return errors.New("empty audience")
		}
		if IsGraphAudience(a) {
			return fmt.Errorf("audience %q is Microsoft Graph: configure the app's own client id or app id URI", a)
		}
		is.audiences[a] = true
	}
	if err := is.prepareTenants(u.Path); err != nil {
		return err
	}
	is.parties = map[string]bool{}
	for _, p := range is.AuthorizedParties {
		is.parties[p] = true
	}
	is.validator = jwt.NewValidator(
		jwt.WithIssuer(is.Issuer),
		jwt.WithAudience(is.Audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(opt.Leeway),
		jwt.WithTimeFunc(opt.Now),
	)
	return nil
}

// prepareTenants reads the tenant GUID of the issuer URL's path (Entra ID v2,
// B2C) and checks the allowed tenants and the tid policy against it.
func (is *Issuer) prepareTenants(issuerPath string) error {
	for _, seg := range strings.Split(issuerPath, "/") {
		if g, ok := identity.NormalizeGUID(seg); ok {
			is.issuerTID = g
			break
		}
	}
	is.tenants = map[string]bool{}
	for _, t := range is.TenantIDs {
		g, ok := identity.NormalizeGUID(t)
		if !ok {
			return fmt.Errorf("tenant id %q is not a GUID", t)
		}
		is.tenants[g] = true
	}
	if len(is.tenants) == 0 {
		if is.issuerTID == "" {
			return errors.New("no tenant ids configured and the issuer URL names no tenant GUID")
		}
		is.tenants[is.issuerTID] = true
	}
	if is.issuerTID != "" && !is.tenants[is.issuerTID] {
		return fmt.Errorf("the issuer URL names tenant %s, which is not among the allowed tenant ids", is.issuerTID)
	}
	switch is.TenantClaim {
	case "":
		is.TenantClaim = TenantRequired
	case TenantRequired, TenantOptional:
	default:
		return fmt.Errorf("tenant claim policy %q is not %q or %q", is.TenantClaim, TenantRequired, TenantOptional)
	}
	if is.TenantClaim == TenantOptional && is.issuerTID == "" {
		return errors.New("tenant claim policy optional needs the tenant GUID in the issuer URL (as Azure AD B2C issuers have)")
	}
	return nil
}

// Verify checks a compact JWS and returns its claims. Every refusal is an *Error.
// The stages: parse (no key touched), pick the issuer and its key, check the
// signature, then the registered claims, then idlink's policy.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	p, err := Parse(token)
	if err != nil {
		return nil, err
	}
	is, pub, err := v.issuerKey(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := jwt.SigningMethodRS256.Verify(p.SigningInput, p.Signature, pub); err != nil {
		return nil, refuse(ReasonSignature, "token signature is invalid")
	}
	// From here on the claims are the issuer's.
	if err := is.validator.Validate(payload(p.Claims)); err != nil {
		return nil, claimsRefusal(p.Claims, err)
	}
	return is.userClaims(p.Claims)
}

// issuerKey picks the configured issuer the token names and the key its kid
// names. A Graph token is refused first: no one but Graph can verify it, and
// the admin needs to hear why, not "bad signature".
func (v *Verifier) issuerKey(ctx context.Context, p *Parsed) (*Issuer, *rsa.PublicKey, error) {
	auds, _ := payload(p.Claims).GetAudience()
	if slices.ContainsFunc(auds, IsGraphAudience) {
		return nil, nil, refuse(ReasonGraphToken, "this is a Microsoft Graph access token; the Auth. Provider must request the app's own scope (e.g. api://<client-id>/.default or <client-id>/.default), not Graph scopes")
	}
	iss, _ := stringMember(p.Claims, "iss")
	is, ok := v.issuers[iss]
	if !ok {
		return nil, nil, refusef(ReasonIssuer, "token issuer is not trusted by this bridge", "iss %.200q", iss)
	}
	if p.Header.Kid == "" {
		return nil, nil, refuse(ReasonUnknownKey, "token header has no kid")
	}
	pub, err := is.Keys.Key(ctx, p.Header.Kid)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, nil, e
		}
		return nil, nil, &Error{Reason: ReasonKeysUnavailable, Description: "the issuer's signing keys could not be fetched; try again later", Err: err}
	}
	return is, pub, nil
}

// userClaims applies idlink's policy to verified claims (tenant, client,
// scope, sub, oid) and reads the user from them.
func (is *Issuer) userClaims(raw payload) (*Claims, error) {
	exp, _ := raw.GetExpirationTime() // present and valid: the validator requires it
	auds, _ := raw.GetAudience()
	c := &Claims{Issuer: is.Issuer, Expiry: exp.Time, Raw: raw}
	if i := slices.IndexFunc(auds, func(a string) bool { return is.audiences[a] }); i >= 0 {
		c.Audience = auds[i]
	}
	if err := is.checkTenant(raw, c); err != nil {
		return nil, err
	}
	c.AuthorizedParty, _ = stringMember(raw, "azp") // v2 tokens
	if c.AuthorizedParty == "" {
		c.AuthorizedParty, _ = stringMember(raw, "appid") // v1 tokens
	}
	if len(is.parties) > 0 && !is.parties[c.AuthorizedParty] {
		return nil, refusef(ReasonParty, "token was requested by a client that is not allowed", "azp %.64q", c.AuthorizedParty)
	}
	if err := is.checkScope(raw); err != nil {
		return nil, err
	}
	var ok bool
	if c.Subject, ok = stringMember(raw, "sub"); !ok || c.Subject == "" {
		return nil, refuse(ReasonClaims, "token has no sub claim")
	}
	oid, present := stringMember(raw, "oid")
	if !present && is.ObjectIDFromSubject {
		oid, present = c.Subject, true
	}
	if !present {
		return nil, refuse(ReasonClaims, "token has no oid claim; for Entra ID access tokens it is always present, for B2C enable ObjectIDFromSubject or emit objectId as oid")
	}
	if c.ObjectID, ok = identity.NormalizeGUID(oid); !ok {
		return nil, refuse(ReasonClaims, "token oid claim is not a GUID")
	}
	c.PreferredUsername, _ = stringMember(raw, "preferred_username")
	c.Name, _ = stringMember(raw, "name")
	c.GivenName, _ = stringMember(raw, "given_name")
	c.FamilyName, _ = stringMember(raw, "family_name")
	c.Email, _ = stringMember(raw, "email")
	c.EmailVerified = truthy(raw["email_verified"]) || truthy(raw["xms_edov"])
	return c, nil
}

// claimsRefusal names the first claim golang-jwt's validator refused. It
// checks in the order exp, nbf, iat, aud, iss and reports them in that order,
// so the first is the one a person should fix first.
func claimsRefusal(claims payload, err error) *Error {
	first := err
	if joined, ok := err.(interface{ Unwrap() []error }); ok && len(joined.Unwrap()) > 0 {
		first = joined.Unwrap()[0]
	}
	var ce *claimError
	switch {
	case errors.Is(first, jwt.ErrTokenExpired):
		return refusef(ReasonExpired, "token has expired", "exp %s", claims.when("exp"))
	case errors.Is(first, jwt.ErrTokenNotValidYet):
		return refusef(ReasonNotYetValid, "token is not valid yet (nbf)", "nbf %s", claims.when("nbf"))
	case errors.Is(first, jwt.ErrTokenUsedBeforeIssued):
		return refusef(ReasonNotYetValid, "token was issued in the future (iat)", "iat %s", claims.when("iat"))
	case errors.Is(first, jwt.ErrTokenInvalidAudience), errors.As(first, &ce) && ce.name == "aud":
		aud, _ := claims.GetAudience()
		return refusef(ReasonAudience, "token audience is not this app; the Auth. Provider must request the app's own scope", "aud %.200q", strings.Join(aud, " "))
	case errors.Is(first, jwt.ErrTokenInvalidIssuer):
		return refuse(ReasonIssuer, "token issuer is not trusted by this bridge")
	case errors.As(first, &ce):
		return &Error{Reason: ReasonClaims, Description: "token " + ce.name + " claim is not a number", Err: first}
	default: // exp is required
		return &Error{Reason: ReasonClaims, Description: "token has no valid exp claim", Err: first}
	}
}

// checkScope refuses app-only tokens and, unless allowed, tokens without scp.
func (is *Issuer) checkScope(claims map[string]json.RawMessage) error {
	if idtyp, _ := stringMember(claims, "idtyp"); idtyp == "app" {
		return refuse(ReasonScope, "token is an app-only token (idtyp app); the bridge needs a user's delegated access token")
	}
	scp, _ := stringMember(claims, "scp")
	if scp == "" {
		if is.AllowNoScope {
			return nil
		}
		return refuse(ReasonScope, "token has no scp claim: it is not a user's delegated access token (ID tokens and app-only tokens are refused)")
	}
	if len(is.Scopes) == 0 {
		return nil
	}
	for _, sc := range strings.Fields(scp) {
		for _, want := range is.Scopes {
			if sc == want {
				return nil
			}
		}
	}
	return refusef(ReasonScope, "token does not carry the configured scope of this app", "scp %.200q", scp)
}

func (is *Issuer) checkTenant(claims map[string]json.RawMessage, c *Claims) error {
	raw, present := claims["tid"]
	if !present {
		if is.TenantClaim == TenantRequired {
			return refuse(ReasonTenant, "token has no tid claim")
		}
		c.TenantID = is.issuerTID // prepare guarantees it is set and allowed
		return nil
	}
	var tid string
	if err := json.Unmarshal(raw, &tid); err != nil {
		return refuse(ReasonTenant, "token tid claim is not a string")
	}
	g, ok := identity.NormalizeGUID(tid)
	if !ok {
		return refuse(ReasonTenant, "token tid claim is not a GUID")
	}
	if !is.tenants[g] {
		return refusef(ReasonTenant, "token tenant is not allowed", "tid %s", g)
	}
	if is.issuerTID != "" && g != is.issuerTID {
		return refusef(ReasonTenant, "token tid does not match the tenant in its issuer", "tid %s, issuer tenant %s", g, is.issuerTID)
	}
	c.TenantID = g
	return nil
}

// when formats a date claim for the log.
func (p payload) when(name string) string {
	d, err := p.date(name)
	if err != nil || d == nil {
		return "?"
	}
	return d.UTC().Format(time.RFC3339)
}

// truthy is a JSON true, or the string "true" (some issuers quote booleans).
func truthy(raw json.RawMessage) bool {
	s := string(bytes.TrimSpace(raw))
	return s == "true" || s == `"true"`
}
