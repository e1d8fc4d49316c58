package scenario

import (
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"strings"
)

// arena packs many small immutable strings into a few large allocations: each
// string is a substring of a builder's buffer. A million 36-byte object ids
// then cost 36 bytes each instead of a 48-byte heap object plus GC metadata.
// Earlier strings stay valid when a builder is replaced: they keep their
// block alive.
type arena struct {
	b strings.Builder
}

const arenaBlock = 64 << 10

// add returns the concatenation of parts as a string stored in the arena.
func (a *arena) add(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > arenaBlock/4 {
		return strings.Join(parts, "")
	}
	if a.b.Cap()-a.b.Len() < n {
		a.b = strings.Builder{}
		a.b.Grow(arenaBlock)
	}
	start := a.b.Len()
	for _, p := range parts {
		a.b.WriteString(p)
	}
	return a.b.String()[start:]
}

// addBytes stores b in the arena.
func (a *arena) addBytes(b []byte) string {
	if a.b.Cap()-a.b.Len() < len(b) {
		a.b = strings.Builder{}
		a.b.Grow(arenaBlock)
	}
	start := a.b.Len()
	a.b.Write(b)
	return a.b.String()[start:]
}

const hexDigits = "0123456789abcdef"

// guid draws a random (version 4, RFC 9562 variant) GUID in Graph's canonical
// lower-case form, as Entra object ids are.
func guid(rng *rand.Rand, a *arena) string {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], rng.Uint64())
	raw[6] = raw[6]&0x0f | 0x40
	raw[8] = raw[8]&0x3f | 0x80
	var out [36]byte
	j := 0
	for i, c := range raw {
		switch i {
		case 4, 6, 8, 10:
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexDigits[c>>4], hexDigits[c&0x0f]
		j += 2
	}
	if a == nil {
		return string(out[:])
	}
	return a.addBytes(out[:])
}

// randomToken draws n random bytes and returns them base64url without padding
// (the shape of Graph's appRoleAssignment ids).
func randomToken(rng *rand.Rand, n int) string {
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return base64.RawURLEncoding.EncodeToString(b[:n])
}

// base62 is Salesforce's id alphabet in ASCII order, so that fixed-width ids
// with increasing record numbers also sort as strings.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// sfID builds an 18-character Salesforce record id: 3-character key prefix
// (005 = User), 2-character instance, a reserved "0", a 9-character base-62
// record number, and the 3-character case-safe suffix that Salesforce adds
// to its 15-character case-sensitive ids. Ids with the same prefix sort in
// record-number order.
func sfID(a *arena, prefix string, n uint64) string {
	var id [18]byte
	copy(id[:3], prefix)
	id[3], id[4], id[5] = 'H', 'n', '0'
	for i := 14; i >= 6; i-- {
		id[i] = base62[n%62]
		n /= 62
	}
	copy(id[15:], sfSuffix(id[:15]))
	return a.addBytes(id[:])
}

// sfSuffix computes the case-safe suffix that turns a 15-character id into
// its 18-character form: for each 5-character chunk a bit per upper-case
// letter, read least significant first, mapped onto A-Z0-5.
func sfSuffix(id15 []byte) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	out := make([]byte, 3)
	for chunk := 0; chunk < 3; chunk++ {
		v := 0
		for i := 0; i < 5; i++ {
			c := id15[chunk*5+i]
			if c >= 'A' && c <= 'Z' {
				v |= 1 << i
			}
		}
		out[chunk] = alphabet[v]
	}
	return out
}

// Key prefixes of the simulated record ids. 005 is Salesforce's User prefix;
// the ThirdPartyAccountLink and custom-object prefixes are stand-ins chosen
// for the simulation (custom objects get org-specific prefixes starting "a").
const (
	prefixUser         = "005"
	prefixAccountLink  = "0Jr"
	prefixIdentityLink = "a0L"
)
