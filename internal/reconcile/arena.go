package reconcile

import (
	"encoding/binary"
	"errors"
	"strings"
)

// str is a string held in an arena: where its length prefix starts (chunk
// number in the top 12 bits, offset in the low 20). The zero str is "".
//
// A snapshot's records hold strs instead of strings: 4 bytes instead of a
// 16-byte header, no allocation per value, and records without pointers,
// which the garbage collector never scans. At a million identities that
// is the difference between ~630 and ~300 MiB of snapshot.
type str uint32

const (
	chunkBits    = 20
	maxChunkSize = 1 << chunkBits // offsets must fit chunkBits
	maxChunks    = 1 << (32 - chunkBits)
	firstChunk   = 4 << 10 // chunks double up to maxChunkSize: small snapshots stay small
)

// errArenaFull: a snapshot holds at most maxChunks chunks of strings
// (about 4 GiB), far beyond what the memory of a run allows anyway.
var errArenaFull = errors.New("the snapshot's strings exceed 4 GiB: more than this idlink can plan in one run")

// arena is an append-only store of strings in chunks. Each value is a
// uvarint length and its bytes; a chunk is a strings.Builder that is only
// appended to within its capacity, so the strings handed out (substrings
// of the chunk's contents) never change and cost no allocation.
type arena struct {
	chunks []*strings.Builder
	err    error // sticky: errArenaFull
}

func newArena() *arena {
	b := new(strings.Builder)
	b.Grow(firstChunk)
	b.WriteByte(0) // offset 0 of chunk 0: the empty string, the zero str
	return &arena{chunks: []*strings.Builder{b}}
}

// put stores v and returns its str. Equal values put twice are stored
// twice: callers share what they already hold (Snapshot.same*).
func (a *arena) put(v string) str {
	if v == "" || a.err != nil {
		return 0
	}
	var prefix [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(prefix[:], uint64(len(v)))
	need := n + len(v)
	c := a.chunks[len(a.chunks)-1]
	off := c.Len()
	if off+need > c.Cap() || off+need > maxChunkSize {
		if len(a.chunks) == maxChunks {
			a.err = errArenaFull
			return 0
		}
		// A value longer than a chunk gets a chunk of its own: it starts at
		// offset 0, which always fits.
		size := max(min(2*c.Cap(), maxChunkSize), need)
		c = new(strings.Builder)
		c.Grow(size)
		a.chunks = append(a.chunks, c)
		off = 0
	}
	c.Write(prefix[:n])
	c.WriteString(v)
	return str(len(a.chunks)-1)<<chunkBits | str(off)
}

// get returns the value of r: a substring of its chunk, no copy.
func (a *arena) get(r str) string {
	c := a.chunks[r>>chunkBits].String()
	i := int(r & (maxChunkSize - 1))
	n, shift := 0, 0
	for { // the uvarint put wrote
		b := c[i]
		i++
		n |= int(b&0x7f) << shift
		if b < 0x80 {
			return c[i : i+n]
		}
		shift += 7
	}
}
