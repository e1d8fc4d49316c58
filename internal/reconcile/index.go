package reconcile

import "hash/maphash"

// index is an open-addressing hash index from a string key to record
// numbers (int32) in a slice the caller owns. The key lives in the record,
// so an entry costs 4 bytes (8 with the hash tag) instead of a Go map's
// string header and padding; the slots hold no pointers, so the garbage
// collector never scans them. It is a multimap: one key may have several
// records, and each(key) visits them all. At a million users this is the
// difference between ~50 and ~12 bytes per indexed record.
type index struct {
	slots []slot
	n     int
	key   func(rec int32) string // the indexed key of a record
}

type slot struct {
	rec  int32 // record number + 1; 0 = empty
	hash uint32
}

var indexSeed = maphash.MakeSeed()

func newIndex(key func(int32) string, hint int) *index {
	x := &index{key: key}
	x.resize(hint)
	return x
}

// tableSize is the table for n records at a load of at most 3/4. It is not
// a power of two (home slots come from the hash by multiplication, see
// home): a million records take 1.33 million slots, not 2 million.
func tableSize(n int) int { return max(16, n*4/3+1) }

// resize makes room for hint records (tableSize).
func (x *index) resize(hint int) {
	size := tableSize(hint)
	old := x.slots
	x.slots = make([]slot, size)
	adviseHugePages(x.slots)
	x.n = 0
	for _, s := range old {
		if s.rec != 0 {
			x.place(s)
		}
	}
}

func (x *index) place(s slot) {
	for i := x.home(s.hash); ; i = x.next(i) {
		if x.slots[i].rec == 0 {
			x.slots[i] = s
			x.n++
			return
		}
	}
}

// home maps a hash onto [0, len(slots)) by multiplication (Lemire's
// reduction), which, unlike a mask, needs no power-of-two size.
func (x *index) home(h uint32) int { return int(uint64(h) * uint64(len(x.slots)) >> 32) }

func (x *index) next(i int) int {
	if i++; i == len(x.slots) {
		return 0
	}
	return i
}

func hashKey(k string) uint32 {
	h := maphash.String(indexSeed, k)
	return uint32(h) ^ uint32(h>>32)
}

// fit shrinks the table to tableSize of its records when that saves more
// than a fifth of it (add doubles the table as it grows). Placing the
// records again needs no key: the slots keep their hashes.
func (x *index) fit() {
	if want := tableSize(x.n); len(x.slots) > want*5/4 {
		x.resize(x.n)
	}
}

// add indexes rec under its key.
func (x *index) add(rec int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.resize(2 * x.n)
	}
	x.place(slot{rec: rec + 1, hash: hashKey(x.key(rec))})
}

// each calls fn for every record indexed under k, in no particular order,
// until fn returns false.
func (x *index) each(k string, fn func(rec int32) bool) {
	h := hashKey(k)
	for i := x.home(h); ; i = x.next(i) {
		s := x.slots[i]
		if s.rec == 0 {
			return
		}
		if s.hash == h && x.key(s.rec-1) == k {
			if !fn(s.rec - 1) {
				return
			}
		}
	}
}

// first returns a record indexed under k, or -1.
func (x *index) first(k string) int32 {
	found := int32(-1)
	x.each(k, func(r int32) bool { found = r; return false })
	return found
}

// all appends the records indexed under k to buf[:0], in record order.
// Record order is input order: callers that need a stable order sort by
// content.
func (x *index) all(k string, buf []int32) []int32 {
	buf = buf[:0]
	x.each(k, func(r int32) bool { buf = append(buf, r); return true })
	if len(buf) > 1 {
		sortInt32(buf)
	}
	return buf
}

func sortInt32(s []int32) {
	for i := 1; i < len(s); i++ { // tiny slices: insertion sort
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
