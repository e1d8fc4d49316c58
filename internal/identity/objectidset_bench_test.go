package identity

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// randomIDs are n object ids as Graph hands them out (random, version 4),
// in canonical text.
func randomIDs(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([][]byte, n)
	for i := range out {
		var id ObjectID
		for j := range id {
			id[j] = byte(rng.Uint32())
		}
		out[i] = []byte(id.String())
	}
	return out
}

// A scope read parses every assigned user's id and sorts them into a set:
// a million of each at a million assigned users.
func BenchmarkParseCanonicalObjectID(b *testing.B) {
	ids := randomIDs(4096, 1)
	for i := 0; b.Loop(); i++ {
		if _, ok := ParseCanonicalObjectID(ids[i%len(ids)]); !ok {
			b.Fatal("not parsed")
		}
	}
}

func BenchmarkNewObjectIDSet(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("ids=%d", n), func(b *testing.B) {
			src := make([]ObjectID, n)
			for i, s := range randomIDs(n, 2) {
				src[i], _ = ParseCanonicalObjectID(s)
			}
			ids := make([]ObjectID, n)
			for b.Loop() {
				copy(ids, src)
				NewObjectIDSet(ids)
			}
		})
	}
}

// A full plan's snapshot checks every Entra user's object id and every
// Salesforce user's FederationIdentifier: two million at a million users.
func BenchmarkNormalizeGUID(b *testing.B) {
	ids := randomIDs(4096, 3)
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = string(id)
	}
	for i := 0; b.Loop(); i++ {
		if _, ok := NormalizeGUID(strs[i%len(strs)]); !ok {
			b.Fatal("not canonical")
		}
	}
}
