package jwtverify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode/utf8"
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

// b64 is strict base64url without padding (RFC 7515 §2): padding characters,
// the standard alphabet and non-zero trailing bits are all refused, so one
// signature has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// Header is the JOSE header fields the verifier looks at.
type Header struct {
	Alg string
	Kid string
	Typ string
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

// Parse is the token front-end: size limits, exactly three segments, strict
// base64url, JSON objects, alg RS256 and no crit header. It touches no keys, so
// everything refused here costs nothing but parsing.
func Parse(token string) (*Parsed, error) {
	if len(token) > MaxTokenBytes {
		return nil, refusef(ReasonOversized, "token is larger than the limit", "%d bytes > %d", len(token), MaxTokenBytes)
	}
	if token == "" {
		return nil, refuse(ReasonMalformed, "token is empty")
	}
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, refuse(ReasonMalformed, "token is not a compact JWS (header.payload.signature)")
	}
	if len(h) > MaxHeaderSegmentBytes {
		return nil, refusef(ReasonOversized, "token header is larger than the limit", "%d bytes > %d", len(h), MaxHeaderSegmentBytes)
	}
	p, s, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, refuse(ReasonMalformed, "token is not a compact JWS (header.payload.signature)")
	}
	if strings.IndexByte(s, '.') >= 0 {
		// Five segments would be a JWE: an encrypted token this bridge cannot read.
		return nil, refuse(ReasonMalformed, "token has more than three segments (encrypted tokens are not supported)")
	}
	if h == "" || p == "" || s == "" {
		return nil, refuse(ReasonMalformed, "token has an empty segment (unsigned tokens are refused)")
	}

	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Description: "token header is not base64url", Err: err}
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr == nil {
		return nil, &Error{Reason: ReasonMalformed, Description: "token header is not a JSON object", Err: err}
	}
	out := &Parsed{SigningInput: token[:len(h)+1+len(p)]}
	if out.Header.Alg, ok = stringMember(hdr, "alg"); !ok {
		return nil, refuse(ReasonAlgorithm, "token header has no alg")
	}
	// The algorithm is decided by configuration, never by the token (RFC 8725 §2.1).
	if out.Header.Alg != "RS256" {
		return nil, refusef(ReasonAlgorithm, "token algorithm is not RS256", "alg %.20q", out.Header.Alg)
	}
	if _, present := hdr["crit"]; present {
		// RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not understand; we understand none.
		return nil, refuse(ReasonAlgorithm, "token header has critical extensions (crit), which are not supported")
	}
	if raw, present := hdr["kid"]; present {
		if err := json.Unmarshal(raw, &out.Header.Kid); err != nil {
			return nil, refuse(ReasonMalformed, "token header kid is not a string")
		}
	}
	if raw, present := hdr["typ"]; present {
		if err := json.Unmarshal(raw, &out.Header.Typ); err != nil {
			return nil, refuse(ReasonMalformed, "token header typ is not a string")
		}
	}

	pb, err := b64.DecodeString(p)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Description: "token payload is not base64url", Err: err}
	}
	if err := json.Unmarshal(pb, &out.Claims); err != nil || out.Claims == nil {
		return nil, &Error{Reason: ReasonMalformed, Description: "token payload is not a JSON object", Err: err}
	}

	if n := b64.DecodedLen(len(s)); n < minSignatureBytes || n > maxSignatureBytes {
		return nil, refusef(ReasonMalformed, "token signature has the wrong length for RS256", "%d bytes", n)
	}
	if out.Signature, err = b64.DecodeString(s); err != nil {
		return nil, &Error{Reason: ReasonMalformed, Description: "token signature is not base64url", Err: err}
	}
	return out, nil
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
