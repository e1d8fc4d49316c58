package jwtverify_test

import (
	"context"
	"testing"

	"github.com/idlinkhq/idlink/internal/bridge/jwtverify"
)

// BenchmarkVerify: one full verification (parse, key lookup, RSA-2048
// signature, claims) per op, on all cores.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = f.iss.Sign("k0", f.iss.Claims(now, i))
	}
	if _, err := f.v.Verify(context.Background(), toks[0]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := f.v.Verify(context.Background(), toks[i%len(toks)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkParse: the front-end alone (no signature check).
func BenchmarkParse(b *testing.B) {
	f := newFixture(b)
	tok := f.iss.Sign("k0", f.iss.Claims(now, 1))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwtverify.Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}
