package identity

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"iter"
	"slices"
)

// ObjectID is an Entra object id packed into its 16 bytes, in the order its
// canonical text spells them, so that packed ids sort as their canonical
// strings do. A tenant's assignment scope is a million of them: as strings
// in a map it took ~100 MB of a scheduled run's heap, packed 16 MB.
type ObjectID [16]byte

// ParseObjectID packs an object id in any spelling NormalizeGUID accepts.
func ParseObjectID(s string) (ObjectID, bool) {
	if id, ok := ParseCanonicalObjectID(s); ok {
		return id, true
	}
	c, ok := NormalizeGUID(s)
	if !ok {
		return ObjectID{}, false
	}
	return ParseCanonicalObjectID(c)
}

// ParseCanonicalObjectID packs an object id already in canonical form (as
// Graph sends and stores hold them) without building a string: a scope read
// parses a million of them.
func ParseCanonicalObjectID[T string | []byte](s T) (ObjectID, bool) {
	var id ObjectID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, false
	}
	// Every digit is looked up, the bad ones found once at the end: a
	// branch per digit made this several times slower (136 ns an id against
	// 20 in BenchmarkParseCanonicalObjectID).
	var bad byte
	for n, i := range canonicalDigits {
		hi, lo := hexValue[s[i]], hexValue[s[i+1]]
		bad |= hi | lo
		id[n] = hi<<4 | lo
	}
	return id, bad < 16
}

// canonicalDigits are where each byte's two digits start in the canonical
// form 8-4-4-4-12.
var canonicalDigits = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexValue is the value of each lower-case hex digit; 0xff for any other byte.
var hexValue = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// String is the canonical form: lower case 8-4-4-4-12.
func (id ObjectID) String() string {
	var b [36]byte
	return string(id.appendCanonical(b[:0]))
}

// appendCanonical appends the canonical form to b.
func (id ObjectID) appendCanonical(b []byte) []byte {
	b = hex.AppendEncode(b, id[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[8:10])
	b = append(b, '-')
	return hex.AppendEncode(b, id[10:16])
}

// Compare orders ids as their canonical strings (as two big-endian words:
// sorting a million-id scope spent most of its time in bytes.Compare).
func (id ObjectID) Compare(other ObjectID) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(other[:8])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(id[8:]), binary.BigEndian.Uint64(other[8:]))
}

// ObjectIDSet is a set of object ids, sorted: what a store walks beside its
// users in object id order.
type ObjectIDSet struct{ ids []ObjectID }

// NewObjectIDSet returns the set of ids, which it sorts and may reuse.
func NewObjectIDSet(ids []ObjectID) ObjectIDSet {
	slices.SortFunc(ids, ObjectID.Compare)
	return ObjectIDSet{ids: slices.Compact(ids)}
}

// ObjectIDSetOf returns the set of the object ids among ss; it skips what
// is not one.
func ObjectIDSetOf(ss ...string) ObjectIDSet {
	ids := make([]ObjectID, 0, len(ss))
	for _, s := range ss {
		if id, ok := ParseObjectID(s); ok {
			ids = append(ids, id)
		}
	}
	return NewObjectIDSet(ids)
}

// Len is how many ids the set holds.
func (s ObjectIDSet) Len() int { return len(s.ids) }

// Has reports whether the object id oid, in any spelling, is in the set.
func (s ObjectIDSet) Has(oid string) bool {
	id, ok := ParseObjectID(oid)
	return ok && s.Contains(id)
}

// Contains reports whether id is in the set.
func (s ObjectIDSet) Contains(id ObjectID) bool {
	_, found := slices.BinarySearchFunc(s.ids, id, ObjectID.Compare)
	return found
}

// At is the i-th id in order.
func (s ObjectIDSet) At(i int) ObjectID { return s.ids[i] }

// All yields the ids in order.
func (s ObjectIDSet) All() iter.Seq[ObjectID] {
	return slices.Values(s.ids)
}

// Strings yields the ids in canonical form, in order.
func (s ObjectIDSet) Strings() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, id := range s.ids {
			if !yield(id.String()) {
				return
			}
		}
	}
}

// Digest is the SHA-256 of the ids, canonical, in order, one per line:
// what a run records to tell whether the next scope read differs.
func (s ObjectIDSet) Digest() string {
	var d ObjectIDDigest
	for _, id := range s.ids {
		d.Add(id)
	}
	return d.Sum()
}

// ObjectIDDigest computes Digest over ids given one at a time, in order.
type ObjectIDDigest struct {
	h    hash.Hash
	line [37]byte
}

// Add adds the next id.
func (d *ObjectIDDigest) Add(id ObjectID) {
	if d.h == nil {
		d.h = sha256.New()
	}
	d.h.Write(append(id.appendCanonical(d.line[:0]), '\n'))
}

// Sum is the digest of the ids added.
func (d *ObjectIDDigest) Sum() string {
	if d.h == nil {
		d.h = sha256.New()
	}
	return hex.EncodeToString(d.h.Sum(nil))
}

// Chunk is the ids whose first byte is b, in order: a store keeps a scope
// in 256 such chunks, so that a scope differing in a few ids rewrites a few
// small rows instead of one of 16 MB.
func (s ObjectIDSet) Chunk(b byte) []ObjectID {
	lo, _ := slices.BinarySearchFunc(s.ids, b, func(id ObjectID, b byte) int { return cmp.Compare(id[0], b) })
	hi := lo
	for hi < len(s.ids) && s.ids[hi][0] == b {
		hi++
	}
	return s.ids[lo:hi]
}

// AppendObjectIDs appends ids to b, 16 bytes each.
func AppendObjectIDs(b []byte, ids []ObjectID) []byte {
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// ParseObjectIDs is the ids AppendObjectIDs wrote, which must be in order
// without repeats; it refuses anything else.
func ParseObjectIDs(b []byte) ([]ObjectID, error) {
	if len(b)%16 != 0 {
		return nil, fmt.Errorf("object ids: %d bytes is not a whole number of 16-byte ids", len(b))
	}
	ids := make([]ObjectID, len(b)/16)
	for i := range ids {
		copy(ids[i][:], b[16*i:])
		if i > 0 && ids[i-1].Compare(ids[i]) >= 0 {
			return nil, fmt.Errorf("object ids: ids %d and %d are out of order or repeated", i-1, i)
		}
	}
	return ids, nil
}

// ChangedIDs yields the ids in exactly one of the ordered lists a and b, in
// order.
func ChangedIDs(a, b []ObjectID) iter.Seq[ObjectID] {
	return func(yield func(ObjectID) bool) {
		for len(a) > 0 || len(b) > 0 {
			var next ObjectID
			switch {
			case len(b) == 0 || len(a) > 0 && a[0].Compare(b[0]) < 0:
				next, a = a[0], a[1:]
			case len(a) == 0 || b[0].Compare(a[0]) < 0:
				next, b = b[0], b[1:]
			default: // in both
				a, b = a[1:], b[1:]
				continue
			}
			if !yield(next) {
				return
			}
		}
	}
}
