package jwtverify

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Size limits of the token front-end. An Entra access token is typically
// 1.5-3 KiB (more with many group claims); a JWS header is ~100-300 bytes.
const (
	// MaxTokenBytes bounds the whole compact serialization.
	MaxTokenBytes = 16 << 10
	// MaxHeaderSegmentBytes bounds the base64url header segment.
	MaxHeaderSegmentBytes = 1 << 10
	// minSignatureBytes and maxSignatureBytes bound an RSA signature: 2048 to 4096-bit keys.
	minSignatureBytes = 256
	maxSignatureBytes = 512
)

// algorithm is the only one accepted. It is decided by configuration, never by
// the token (RFC 8725 §2.1).
const algorithm = "RS256"

// parser decodes strictly (RFC 7515 §2): padding characters, the standard
// alphabet and non-zero trailing bits are all refused, so one signature has
// exactly one encoding. Claims are validated per issuer (Issuer.validator),
// whose audiences only the issuer claim can select.
var parser = jwt.NewParser(
	jwt.WithValidMethods([]string{algorithm}),
	jwt.WithStrictDecoding(),
	jwt.WithoutClaimsValidation(),
)

// Header is the JOSE header fields the verifier looks at.
type Header struct {
	Alg string
	Kid string
}

// Parsed is a compact JWS split and decoded, not yet verified.
type Parsed struct {
	Header Header
	// SigningInput is "header.payload" exactly as received: what was signed.
	SigningInput string
	// Claims is the decoded payload object, one raw value per claim name.
	Claims    map[string]json.RawMessage
	Signature []byte
}

// Parse is the token front-end: size limits and shape first (so that nothing
// large or odd reaches a decoder), then golang-jwt's strict decoding, alg
// RS256, no crit header and a signature an RSA key of 2048 to 4096 bits
// makes. It touches no keys, so everything refused here
// costs nothing but parsing.
func Parse(token string) (*Parsed, error) {
	if err := checkShape(token); err != nil {
		return nil, err
	}
	var claims payload
	t, parts, err := parser.ParseUnverified(token, &claims)
	if err != nil {
		return nil, parseRefusal(t, err)
	}
	if t.Header == nil || claims == nil {
		return nil, refuse(ReasonMalformed, "token header or payload is not a JSON object")
	}
	if t.Method.Alg() != algorithm {
		return nil, refusef(ReasonAlgorithm, "token algorithm is not RS256", "alg %.20q", t.Method.Alg())
	}
	if _, present := t.Header["crit"]; present {
		// RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not understand; we understand none.
		return nil, refuse(ReasonAlgorithm, "token header has critical extensions (crit), which are not supported")
	}
	if n := len(t.Signature); n < minSignatureBytes || n > maxSignatureBytes {
		return nil, refusef(ReasonMalformed, "token signature has the wrong length for RS256", "%d bytes", n)
	}
	out := &Parsed{Header: Header{Alg: algorithm}, SigningInput: parts[0] + "." + parts[1], Claims: claims, Signature: t.Signature}
	if kid, present := t.Header["kid"]; present {
		var ok bool
		if out.Header.Kid, ok = kid.(string); !ok {
			return nil, refuse(ReasonMalformed, "token header kid is not a string")
		}
	}
	return out, nil
}

// checkShape refuses by size and segment layout alone: a token that is too
// large, not three non-empty segments (an unsigned token has an empty third
// one, an encrypted JWE five).
func checkShape(token string) error {
	if len(token) > MaxTokenBytes {
		return refusef(ReasonOversized, "token is larger than the limit", "%d bytes > %d", len(token), MaxTokenBytes)
	}
	if token == "" {
		return refuse(ReasonMalformed, "token is empty")
	}
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return refuse(ReasonMalformed, "token is not a compact JWS (header.payload.signature)")
	}
	if len(h) > MaxHeaderSegmentBytes {
		return refusef(ReasonOversized, "token header is larger than the limit", "%d bytes > %d", len(h), MaxHeaderSegmentBytes)
	}
	p, s, ok := strings.Cut(rest, ".")
	if !ok {
		return refuse(ReasonMalformed, "token is not a compact JWS (header.payload.signature)")
	}
	if strings.IndexByte(s, '.') >= 0 {
		return refuse(ReasonMalformed, "token has more than three segments (encrypted tokens are not supported)")
	}
	if h == "" || p == "" || s == "" {
		return refuse(ReasonMalformed, "token has an empty segment (unsigned tokens are refused)")
	}
	return nil
}

// parseRefusal names why golang-jwt could not parse a token. An alg it does
// not know (or none) is an algorithm refusal like one it knows but we do not
// accept; everything else is malformed.
func parseRefusal(t *jwt.Token, err error) *Error {
	if t != nil && t.Header != nil && !errors.Is(err, jwt.ErrTokenMalformed) {
		alg, _ := t.Header["alg"].(string)
		if alg == "" {
			return refuse(ReasonAlgorithm, "token header has no alg")
		}
		return refusef(ReasonAlgorithm, "token algorithm is not RS256", "alg %.20q", alg)
	}
	return &Error{Reason: ReasonMalformed, Description: "token is not three base64url segments of JSON objects", Err: err}
}

// payload is the claims object as raw values, so that configured claims pass
// through untouched. It gives golang-jwt's validator the registered claims;
// a registered claim of the wrong type is a *claimError naming it.
type payload map[string]json.RawMessage

// claimError says which registered claim could not be read.
type claimError struct {
	name string
	err  error
}

func (e *claimError) Error() string { return "claim " + e.name + ": " + e.err.Error() }
func (e *claimError) Unwrap() error { return e.err }

var errMissing = errors.New("missing")

func (p payload) date(name string) (*jwt.NumericDate, error) {
	raw, ok := p[name]
	if !ok {
		return nil, nil
	}
	var d jwt.NumericDate
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, &claimError{name, err}
	}
	return &d, nil
}

func (p payload) GetExpirationTime() (*jwt.NumericDate, error) { return p.date("exp") }
func (p payload) GetNotBefore() (*jwt.NumericDate, error)      { return p.date("nbf") }
func (p payload) GetIssuedAt() (*jwt.NumericDate, error)       { return p.date("iat") }
func (p payload) GetIssuer() (string, error)                   { s, _ := stringMember(p, "iss"); return s, nil }
func (p payload) GetSubject() (string, error)                  { s, _ := stringMember(p, "sub"); return s, nil }

// GetAudience refuses a missing or empty aud itself: every issuer here is
// configured with audiences, and the refusal must say it was the audience.
func (p payload) GetAudience() (jwt.ClaimStrings, error) {
	raw, ok := p["aud"]
	if !ok {
		return nil, &claimError{"aud", errMissing}
	}
	var aud jwt.ClaimStrings
	if err := json.Unmarshal(raw, &aud); err != nil {
		return nil, &claimError{"aud", err}
	}
	if len(aud) == 0 {
		return nil, &claimError{"aud", errMissing}
	}
	return aud, nil
}

// stringMember returns m[name] when it is a JSON string.
func stringMember(m map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := m[name]
	if !ok {
		return "", false
	}
	return jsonString(raw)
}

// jsonString decodes a raw JSON value that must be a string. The common case
// (no escapes, valid UTF-8) is sliced out directly: raw came out of a
// successful json.Unmarshal, so it is already a well-formed JSON value.
func jsonString(raw json.RawMessage) (string, bool) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' {
		body := raw[1 : n-1]
		if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
			return string(body), true
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
