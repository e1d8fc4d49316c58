package jwtverify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/bridge/bridgetest"
	"github.com/idlinkhq/idlink/internal/bridge/jwtverify"
)

// FuzzParse: the front-end never panics, and whatever it accepts satisfies
// its contract (RS256, three segments, bounded signature, signing input is
// the token's first two segments).
func FuzzParse(f *testing.F) {
	iss := bridgetest.Key(0)
	valid := bridgetest.SignRS256(iss, map[string]any{"alg": "RS256", "kid": "k0"}, map[string]any{"sub": "x", "aud": []string{"a"}})
	for _, s := range []string{valid, "", ".", "..", "a.b.c", "e30.e30.", valid + ".", strings.Replace(valid, ".", "..", 1),
		bridgetest.Segment(map[string]any{"alg": "none"}) + ".e30.", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := jwtverify.Parse(token)
		if err != nil {
			if jwtverify.ReasonOf(err) == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if p.Header.Alg != "RS256" {
			t.Fatalf("accepted alg %q", p.Header.Alg)
		}
		if strings.Count(token, ".") != 2 || !strings.HasPrefix(token, p.SigningInput+".") {
			t.Fatalf("signing input %q does not prefix token", p.SigningInput)
		}
		if n := len(p.Signature); n < 256 || n > 512 {
			t.Fatalf("signature of %d bytes accepted", n)
		}
		if p.Claims == nil || len(token) > jwtverify.MaxTokenBytes {
			t.Fatal("accepted without claims or oversized")
		}
	})
}

// FuzzVerify: with a real key set and a valid token as seed, no input other
// than that exact token verifies. (Strict base64url leaves one encoding per
// signature, and any other byte changes what was signed.)
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	valid := fx.iss.Sign("k0", fx.iss.Claims(now, 1))
	if _, err := fx.v.Verify(context.Background(), valid); err != nil {
		f.Fatalf("seed token refused: %v", err)
	}
	f.Add(valid)
	parts := strings.Split(valid, ".")
	f.Add(parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B")
	f.Add(parts[0] + "." + parts[1] + "X." + parts[2])
	f.Fuzz(func(t *testing.T, token string) {
		c, err := fx.v.Verify(context.Background(), token)
		if err == nil && token != valid {
			t.Fatalf("a token other than the one signed verified: %q (sub %q)", token, c.Subject)
		}
	})
}
