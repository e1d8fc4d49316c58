// Package jwtverify verifies the RS256 access tokens that an OpenID Connect
// issuer (Microsoft Entra ID, Azure AD B2C, any OIDC provider publishing a
// JWKS) hands to the Salesforce Auth. Provider, which forwards them to the
// idlink userinfo bridge.
//
// It is deliberately narrow: one algorithm (RS256), keys only from the
// issuer's published JWKS, the header's kid used only as a map key, and every
// claim check a relying party must make (iss, aud, exp, nbf, iat, tid).
// Decoding, the signature and the registered claims are golang-jwt's; the
// front-end limits, the key cache and the Entra claim policy are this package's.
// Nothing here trusts anything in the token before the signature is checked,
// except to pick which configured issuer's keys to try and to refuse early.
package jwtverify

import (
	"errors"
	"fmt"
)

// Reason classifies a refusal. Values are stable: they are metric label values.
type Reason string

const (
	ReasonMalformed       Reason = "malformed"        // not three base64url segments of JSON
	ReasonOversized       Reason = "oversized"        // token or header segment too large
	ReasonAlgorithm       Reason = "algorithm"        // alg other than RS256, or crit header
	ReasonGraphToken      Reason = "graph_token"      // a Microsoft Graph access token
	ReasonIssuer          Reason = "issuer"           // iss not configured
	ReasonUnknownKey      Reason = "unknown_kid"      // kid not in the JWKS even after a refresh
	ReasonSignature       Reason = "signature"        // signature does not verify
	ReasonExpired         Reason = "expired"          // exp in the past
	ReasonNotYetValid     Reason = "not_yet_valid"    // nbf or iat in the future
	ReasonAudience        Reason = "audience"         // aud not among the configured audiences
	ReasonTenant          Reason = "tenant"           // tid missing, not allowed or not matching iss
	ReasonClaims          Reason = "claims"           // a required claim is missing or has the wrong type
	ReasonScope           Reason = "scope"            // no scp (ID token or app-only token), or none of the configured scopes
	ReasonParty           Reason = "authorized_party" // azp/appid not among the allowed clients
	ReasonKeysUnavailable Reason = "keys_unavailable" // the issuer's JWKS could not be fetched
)

// Reasons lists every reason, for pre-registering metric series.
var Reasons = []Reason{
	ReasonMalformed, ReasonOversized, ReasonAlgorithm, ReasonGraphToken, ReasonIssuer,
	ReasonUnknownKey, ReasonSignature, ReasonExpired, ReasonNotYetValid, ReasonAudience,
	ReasonTenant, ReasonClaims, ReasonScope, ReasonParty, ReasonKeysUnavailable,
}

// Error is a refused token. Description is safe to send to the caller: it is
// fixed text chosen here and never contains token material. Detail may
// contain claim values (issuer, audience) for the server log only; it never
// contains the token or its signature.
type Error struct {
	Reason      Reason
	Description string
	Detail      string
	Err         error
}

func (e *Error) Error() string {
	s := string(e.Reason) + ": " + e.Description
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func refuse(r Reason, desc string) *Error { return &Error{Reason: r, Description: desc} }

func refusef(r Reason, desc string, format string, args ...any) *Error {
	return &Error{Reason: r, Description: desc, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the refusal reason of err, or "" when err is not a refusal.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
