package identity

import (
	"bytes"
	"encoding/hex"
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
	if len(s) != 36 {
		return id, false
	}
	n := 0
	for i := 0; i < 36; i += 2 {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return id, false
			}
			i-- // the segments have even lengths: the next pair starts after the dash
			continue
		}
		hi, lo := lowerHex(s[i]), lowerHex(s[i+1])
		if hi > 15 || lo > 15 {
			return id, false
		}
		id[n] = hi<<4 | lo
		n++
	}
	return id, true
}

// lowerHex is the value of a lower-case hex digit, or 255.
func lowerHex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}

// String is the canonical form: lower case 8-4-4-4-12.
func (id ObjectID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], id[10:16])
	return string(b[:])
}

// Compare orders ids as their canonical strings.
func (id ObjectID) Compare(other ObjectID) int { return bytes.Compare(id[:], other[:]) }

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
	if !ok {
		return false
	}
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
