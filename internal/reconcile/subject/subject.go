// Package subject computes OpenID Connect subject identifiers ahead of the
// first sign-in, for issuers that publish how they derive them.
//
// OpenID Connect Core 1.0 §8.1 suggests a pairwise sub computed as
// SHA-256(sector_identifier || local_account_id || salt). Issuers differ only
// in how they print the 32-byte digest:
//
//   - base64url: the digest in base64url without padding (RFC 4648 §5), as
//     Nimbus-based issuers (e.g. Connect2id) print it.
//   - hex: the digest as 64 lower-case hex digits.
//   - keycloak-uuid: Keycloak's "Pairwise subject identifier" protocol mapper
//     (SHA256PairwiseSubMapper) feeds the 32-byte digest to Java's
//     UUID.nameUUIDFromBytes, which takes MD5 of those bytes, sets the version
//     nibble to 3 and the IETF variant bits, and prints the canonical
//     8-4-4-4-12 lower-case form. The sector identifier is the host of the
//     client's redirect URIs (or of its sector_identifier_uri), the local
//     account id is the Keycloak user id and the salt is the mapper's
//     configured salt, all encoded as UTF-8.
//
// The object-id strategy (Azure AD B2C, Entra External ID) needs no
// computation: sub is the object id.
package subject

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// Encoding is how a pairwise digest is printed as a sub.
type Encoding string

const (
	Base64URL    Encoding = "base64url"
	Hex          Encoding = "hex"
	KeycloakUUID Encoding = "keycloak-uuid"
)

// Pairwise is the configuration of one issuer's pairwise subject recipe.
type Pairwise struct {
	// SectorIdentifier is the exact string the issuer hashes first (for
	// Keycloak: the redirect URI host, e.g. "login.salesforce.com" or the My
	// Domain host).
	SectorIdentifier string
	// Salt is the issuer's secret salt. It is never printed by this package.
	Salt     string
	Encoding Encoding
}

// Validate reports a configuration that cannot produce the issuer's subs.
// The error never contains the salt.
func (p Pairwise) Validate() error {
	var errs []error
	if p.SectorIdentifier == "" {
		errs = append(errs, errors.New("pairwise sector identifier is empty: set it to the string the issuer hashes (for Keycloak the redirect URI host)"))
	}
	if p.Salt == "" {
		errs = append(errs, errors.New("pairwise salt is empty: set it from the issuer's configuration (from an env variable or file, never inline)"))
	}
	switch p.Encoding {
	case Base64URL, Hex, KeycloakUUID:
	default:
		errs = append(errs, fmt.Errorf("pairwise encoding %q is unknown: use base64url, hex or keycloak-uuid", p.Encoding))
	}
	return errors.Join(errs...)
}

// Subject returns the sub the issuer gives the user whose local account id is
// localID. It assumes Validate passed.
func (p Pairwise) Subject(localID string) string {
	h := sha256.New()
	h.Write([]byte(p.SectorIdentifier))
	h.Write([]byte(localID))
	h.Write([]byte(p.Salt))
	var sum [sha256.Size]byte
	digest := h.Sum(sum[:0])
	switch p.Encoding {
	case Hex:
		return hex.EncodeToString(digest)
	case KeycloakUUID:
		return nameUUIDv3(digest)
	default:
		return base64.RawURLEncoding.EncodeToString(digest)
	}
}

// nameUUIDv3 mirrors java.util.UUID.nameUUIDFromBytes: MD5 of the bytes with
// version 3 and the RFC 4122 variant, printed in lower case.
func nameUUIDv3(b []byte) string {
	u := md5.Sum(b)
	u[6] = u[6]&0x0f | 0x30
	u[8] = u[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], u[10:16])
	return string(out[:])
}

// String prints the recipe without its salt, so that a logged configuration
// never carries the secret.
func (p Pairwise) String() string {
	salt := "(empty)"
	if p.Salt != "" {
		salt = "(redacted)"
	}
	return fmt.Sprintf("pairwise{sector=%q salt=%s encoding=%s}", p.SectorIdentifier, salt, p.Encoding)
}

// GoString keeps %#v from printing the salt too.
func (p Pairwise) GoString() string { return p.String() }
