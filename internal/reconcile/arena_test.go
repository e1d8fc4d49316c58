package reconcile

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Every value put comes back unchanged, however the values fall across
// chunks: lengths around the one- and two-byte length prefixes, values
// that fill a chunk exactly, and values longer than any chunk.
func TestArenaKeepsEveryValue(t *testing.T) {
	cases := []struct {
		name string
		vals func() []string
	}{
		{"short", func() []string { return []string{"a", "0050000000000001", "user@contoso.com"} }},
		{"prefix lengths", func() []string {
			var v []string
			for _, n := range []int{1, 126, 127, 128, 129, 16383, 16384, 16385} {
				v = append(v, strings.Repeat("x", n))
			}
			return v
		}},
		{"across chunks", func() []string {
			var v []string
			for i := range 200_000 { // about 8 MiB: the chunks reach their largest size
				v = append(v, benchGUID("00000000-0000-4000-8000-", i))
			}
			return v
		}},
		{"fills a chunk exactly", func() []string {
			// The first chunk holds firstChunk bytes, one of them the empty
			// string: a value of firstChunk-3 bytes with its 2-byte prefix
			// ends exactly at the chunk's end.
			return []string{strings.Repeat("y", firstChunk-3), "next"}
		}},
		{"longer than a chunk", func() []string {
			return []string{"before", strings.Repeat("z", 3*maxChunkSize), "after", strings.Repeat("w", maxChunkSize)}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newArena()
			vals := c.vals()
			refs := make([]str, len(vals))
			for i, v := range vals {
				refs[i] = a.put(v)
			}
			if a.err != nil {
				t.Fatal(a.err)
			}
			for i, v := range vals {
				if got := a.get(refs[i]); got != v {
					t.Fatalf("value %d: got %d bytes %.20q, want %d bytes %.20q", i, len(got), got, len(v), v)
				}
			}
			if slices.Contains(refs, 0) {
				t.Fatal("a non-empty value got the empty string's str")
			}
		})
	}
}

func TestArenaEmptyString(t *testing.T) {
	a := newArena()
	if r := a.put(""); r != 0 || a.get(r) != "" {
		t.Fatalf("put(\"\") = %d, get = %q", r, a.get(r))
	}
	if got := a.get(0); got != "" {
		t.Fatalf("the zero str is %q", got)
	}
}

// A full arena fails put with errArenaFull and keeps what it held.
func TestArenaFull(t *testing.T) {
	a := newArena()
	kept := a.put("kept")
	for len(a.chunks) < maxChunks { // fake the chunks: 4 GiB of real ones is more than the test's memory
		a.chunks = append(a.chunks, a.chunks[0])
	}
	a.put(strings.Repeat("q", firstChunk)) // does not fit the last chunk
	if a.err != errArenaFull {
		t.Fatalf("err = %v, want errArenaFull", a.err)
	}
	if a.get(kept) != "kept" {
		t.Fatal("a full arena lost a value")
	}
	s := NewSnapshot()
	s.strs = a
	if err := s.AddEntraUser(entraUserForArena()); err != errArenaFull {
		t.Fatalf("AddEntraUser on a full arena: %v, want errArenaFull", err)
	}
}

func entraUserForArena() identity.EntraUser {
	return identity.EntraUser{ObjectID: benchGUID("00000000-0000-4000-8000-", 7), TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
		UPN: "u7@contoso.com", AccountEnabled: true, InScope: true}
}

// The values written into a chunk after a string was handed out do not
// change that string.
func TestArenaValuesDoNotMove(t *testing.T) {
	a := newArena()
	first := a.get(a.put("first"))
	for i := range 10_000 {
		a.put(strconv.Itoa(i))
	}
	if first != "first" {
		t.Fatalf("a handed-out value changed to %q", first)
	}
}
