package jwtverify_test

import (
	"context"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/bridge/bridgetest"
	"github.com/idlinkhq/idlink/internal/bridge/jwtverify"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

type fixture struct {
	iss *bridgetest.Issuer
	ks  *jwtverify.KeySet
	v   *jwtverify.Verifier
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	iss := bridgetest.NewIssuer(t, bridgetest.TenantID)
	ks, err := jwtverify.NewKeySet(jwtverify.KeySetConfig{
		Issuer: iss.IssuerURL, Client: iss.Client(), MinRefreshInterval: time.Minute, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.NewVerifier([]jwtverify.Issuer{{
		Issuer: iss.IssuerURL, Audiences: []string{bridgetest.ClientID, "api://" + bridgetest.ClientID},
		TenantIDs: []string{bridgetest.TenantID}, Keys: ks,
	}}, jwtverify.Options{Leeway: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{iss: iss, ks: ks, v: v}
}

func TestVerifyHappyPath(t *testing.T) {
	f := newFixture(t)
	claims := f.iss.Claims(now, 7)
	claims["aud"] = []string{"someone-else", "api://" + bridgetest.ClientID}
	claims["xms_edov"] = true
	c, err := f.v.Verify(context.Background(), f.iss.Sign("k0", claims))
	if err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	want := jwtverify.Claims{
		Issuer: f.iss.IssuerURL, Audience: "api://" + bridgetest.ClientID, Subject: "pairwise-sub-0007-AbCdEfGhIjKlMnOp",
		ObjectID: "00000000-0000-4000-8000-000000000007", TenantID: bridgetest.TenantID, AuthorizedParty: bridgetest.ClientID,
		PreferredUsername: "user7@contoso.example", Name: "User 7", GivenName: "User", FamilyName: "7",
		Email: "user7@contoso.example", EmailVerified: true,
	}
	got := *c
	got.Raw, got.Expiry = nil, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("claims\n got %+v\nwant %+v", got, want)
	}
	if !c.Expiry.Equal(now.Add(time.Hour)) {
		t.Errorf("expiry %v", c.Expiry)
	}
}

// TestSecurityMatrix: every token here must be refused, for the stated reason.
func TestSecurityMatrix(t *testing.T) {
	f := newFixture(t)
	other := bridgetest.Key(1) // a key the issuer never publishes
	hdr := func(alg, kid string) map[string]any { return map[string]any{"alg": alg, "kid": kid, "typ": "JWT"} }
	with := func(mod func(map[string]any)) map[string]any {
		c := f.iss.Claims(now, 1)
		mod(c)
		return c
	}
	valid := f.iss.Sign("k0", f.iss.Claims(now, 1))
	parts := strings.Split(valid, ".")

	tampered := func() string {
		c := f.iss.Claims(now, 1)
		c["oid"] = "00000000-0000-4000-8000-999999999999"
		return parts[0] + "." + bridgetest.Segment(c) + "." + parts[2]
	}()
	// A one-bit change of the last signature character that keeps it valid base64url
	// but with non-zero trailing bits: refused by strict decoding.
	sigPadBits := func() string {
		last := parts[2][len(parts[2])-1]
		i := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)
		alt := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i^1]
		return parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(alt)
	}()

	cases := []struct {
		name   string
		token  string
		reason jwtverify.Reason
	}{
		{"alg none", bridgetest.Segment(hdr("none", "k0")) + "." + bridgetest.Segment(f.iss.Claims(now, 1)) + ".", jwtverify.ReasonMalformed},
		{"alg none with signature", bridgetest.Segment(hdr("none", "k0")) + "." + parts[1] + "." + parts[2], jwtverify.ReasonAlgorithm},
		{"alg None spelled oddly", bridgetest.Segment(hdr("None", "k0")) + "." + parts[1] + "." + parts[2], jwtverify.ReasonAlgorithm},
		{"HS256 keyed with the public key", bridgetest.SignHS256(bridgetest.PublicKeyPEM(&bridgetest.Key(0).PublicKey), hdr("HS256", "k0"), f.iss.Claims(now, 1)), jwtverify.ReasonAlgorithm},
		{"RS512", bridgetest.Segment(hdr("RS512", "k0")) + "." + parts[1] + "." + parts[2], jwtverify.ReasonAlgorithm},
		{"PS256", bridgetest.Segment(hdr("PS256", "k0")) + "." + parts[1] + "." + parts[2], jwtverify.ReasonAlgorithm},
		{"no alg", bridgetest.Segment(map[string]any{"kid": "k0"}) + "." + parts[1] + "." + parts[2], jwtverify.ReasonAlgorithm},
		{"crit header", bridgetest.SignRS256(bridgetest.Key(0), map[string]any{"alg": "RS256", "kid": "k0", "crit": []string{"exp"}}, f.iss.Claims(now, 1)), jwtverify.ReasonAlgorithm},
		{"embedded jwk is not trusted", bridgetest.SignRS256(other, map[string]any{"alg": "RS256", "kid": "k0", "jwk": map[string]string{"kty": "RSA"}}, f.iss.Claims(now, 1)), jwtverify.ReasonSignature},
		{"unknown kid", bridgetest.SignRS256(other, hdr("RS256", "attacker"), f.iss.Claims(now, 1)), jwtverify.ReasonUnknownKey},
		{"no kid", bridgetest.SignRS256(bridgetest.Key(0), map[string]any{"alg": "RS256"}, f.iss.Claims(now, 1)), jwtverify.ReasonUnknownKey},
		{"key not in JWKS under a published kid", bridgetest.SignRS256(other, hdr("RS256", "k0"), f.iss.Claims(now, 1)), jwtverify.ReasonSignature},
		{"tampered payload", tampered, jwtverify.ReasonSignature},
		{"signature trailing bits", sigPadBits, jwtverify.ReasonMalformed},
		{"expired", f.iss.Sign("k0", with(func(c map[string]any) { c["exp"] = now.Add(-61 * time.Second).Unix() })), jwtverify.ReasonExpired},
		{"expired exactly at leeway", f.iss.Sign("k0", with(func(c map[string]any) { c["exp"] = now.Add(-60 * time.Second).Unix() })), jwtverify.ReasonExpired},
		{"no exp", f.iss.Sign("k0", with(func(c map[string]any) { delete(c, "exp") })), jwtverify.ReasonClaims},
		{"exp is a string", f.iss.Sign("k0", with(func(c map[string]any) { c["exp"] = "tomorrow" })), jwtverify.ReasonClaims},
		{"not yet valid", f.iss.Sign("k0", with(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), jwtverify.ReasonNotYetValid},
		{"issued in the future", f.iss.Sign("k0", with(func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() })), jwtverify.ReasonNotYetValid},
		{"wrong aud", f.iss.Sign("k0", with(func(c map[string]any) { c["aud"] = "api://another-app" })), jwtverify.ReasonAudience},
		{"aud list without ours", f.iss.Sign("k0", with(func(c map[string]any) { c["aud"] = []string{"a", "b"} })), jwtverify.ReasonAudience},
		{"no aud", f.iss.Sign("k0", with(func(c map[string]any) { delete(c, "aud") })), jwtverify.ReasonAudience},
		{"aud is a number", f.iss.Sign("k0", with(func(c map[string]any) { c["aud"] = 42 })), jwtverify.ReasonAudience},
		{"wrong iss", f.iss.Sign("k0", with(func(c map[string]any) {
			c["iss"] = "https://login.microsoftonline.com/" + bridgetest.TenantID + "/v2.0"
		})), jwtverify.ReasonIssuer},
		{"iss with trailing slash", f.iss.Sign("k0", with(func(c map[string]any) { c["iss"] = f.iss.IssuerURL + "/" })), jwtverify.ReasonIssuer},
		{"no iss", f.iss.Sign("k0", with(func(c map[string]any) { delete(c, "iss") })), jwtverify.ReasonIssuer},
		{"wrong tid", f.iss.Sign("k0", with(func(c map[string]any) { c["tid"] = "9a9a9a9a-0000-4000-8000-000000000000" })), jwtverify.ReasonTenant},
		{"missing tid", f.iss.Sign("k0", with(func(c map[string]any) { delete(c, "tid") })), jwtverify.ReasonTenant},
		{"tid not a GUID", f.iss.Sign("k0", with(func(c map[string]any) { c["tid"] = "common" })), jwtverify.ReasonTenant},
		{"Graph token (GUID aud)", f.iss.Sign("k0", with(func(c map[string]any) { c["aud"] = "00000003-0000-0000-c000-000000000000" })), jwtverify.ReasonGraphToken},
		{"Graph token (URL aud, unsigned)", bridgetest.Segment(map[string]any{"alg": "RS256", "kid": "k0", "nonce": "x"}) + "." + bridgetest.Segment(with(func(c map[string]any) { c["aud"] = "https://graph.microsoft.com" })) + "." + parts[2], jwtverify.ReasonGraphToken},
		{"ID token (no scp)", f.iss.Sign("k0", with(func(c map[string]any) { delete(c, "scp") })), jwtverify.ReasonScope},
		{"app-only token", f.iss.Sign("k0", with(func(c map[string]any) { delete(c, "scp"); c["idtyp"] = "app"; c["roles"] = []string{"x"} })), jwtverify.ReasonScope},
		{"no sub", f.iss.Sign("k0", with(func(c map[string]any) { delete(c, "sub") })), jwtverify.ReasonClaims},
		{"no oid", f.iss.Sign("k0", with(func(c map[string]any) { delete(c, "oid") })), jwtverify.ReasonClaims},
		{"oid not a GUID", f.iss.Sign("k0", with(func(c map[string]any) { c["oid"] = "admin" })), jwtverify.ReasonClaims},
		{"malformed base64 header", "e30*." + parts[1] + "." + parts[2], jwtverify.ReasonMalformed},
		{"malformed base64 payload", parts[0] + ".eyJ!." + parts[2], jwtverify.ReasonMalformed},
		{"padded base64 payload", parts[0] + "." + base64.URLEncoding.EncodeToString([]byte(`{"a":1}`)) + "." + parts[2], jwtverify.ReasonMalformed},
		{"standard alphabet signature", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/", jwtverify.ReasonMalformed},
		{"payload not an object", parts[0] + "." + bridgetest.Segment([]int{1}) + "." + parts[2], jwtverify.ReasonMalformed},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("RS256")) + "." + parts[1] + "." + parts[2], jwtverify.ReasonMalformed},
		{"two segments", parts[0] + "." + parts[1], jwtverify.ReasonMalformed},
		{"JWE-like five segments", valid + ".a.b", jwtverify.ReasonMalformed},
		{"short signature", parts[0] + "." + parts[1] + ".AAAA", jwtverify.ReasonMalformed},
		{"empty", "", jwtverify.ReasonMalformed},
		{"oversized header", bridgetest.Segment(map[string]any{"alg": "RS256", "kid": "k0", "x": strings.Repeat("a", 2000)}) + "." + parts[1] + "." + parts[2], jwtverify.ReasonOversized},
		{"oversized token", parts[0] + "." + strings.Repeat("A", jwtverify.MaxTokenBytes) + "." + parts[2], jwtverify.ReasonOversized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatal("token accepted")
			}
			if got := jwtverify.ReasonOf(err); got != tc.reason {
				t.Errorf("reason %q, want %q (%v)", got, tc.reason, err)
			}
			var e *jwtverify.Error
			if len(tc.token) > 20 && strings.Contains(err.Error(), tc.token[len(tc.token)-20:]) {
				t.Errorf("error echoes the token: %v", err)
			}
			_ = e
		})
	}
	// The control: the untampered token passes, so the refusals above are not a broken verifier.
	if _, err := f.v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
}

func TestLeewayAcceptsSmallSkew(t *testing.T) {
	f := newFixture(t)
	c := f.iss.Claims(now, 1)
	c["exp"] = now.Add(-59 * time.Second).Unix()
	c["nbf"] = now.Add(59 * time.Second).Unix()
	c["iat"] = now.Add(59 * time.Second).Unix()
	if _, err := f.v.Verify(context.Background(), f.iss.Sign("k0", c)); err != nil {
		t.Fatalf("token within leeway refused: %v", err)
	}
}

// TestUnknownKidRefreshesOnce: an unknown kid costs one JWKS fetch, then the
// rate limit holds until MinRefreshInterval has passed; a rotated-in key is
// found by that one fetch.
func TestUnknownKidRefreshesOnce(t *testing.T) {
	iss := bridgetest.NewIssuer(t, bridgetest.TenantID)
	cur := now
	ks, err := jwtverify.NewKeySet(jwtverify.KeySetConfig{
		Issuer: iss.IssuerURL, Client: iss.Client(), MinRefreshInterval: time.Minute, Now: func() time.Time { return cur },
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.NewVerifier([]jwtverify.Issuer{{Issuer: iss.IssuerURL, Audiences: []string{bridgetest.ClientID}, Keys: ks}},
		jwtverify.Options{Leeway: time.Minute, Now: func() time.Time { return cur }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.Sign("k0", iss.Claims(now, 1))); err != nil {
		t.Fatalf("first token: %v", err)
	}
	if n := iss.JWKSRequests.Load(); n != 1 {
		t.Fatalf("initial load: %d JWKS requests, want 1", n)
	}
	cur = cur.Add(2 * time.Minute) // past the rate limit window
	iss.Publish("attacker", bridgetest.Key(1))
	iss.Unpublish("attacker") // signed with a key the issuer does not publish
	forged := bridgetest.SignRS256(bridgetest.Key(1), map[string]any{"alg": "RS256", "kid": "attacker"}, iss.Claims(now, 1))
	for i := 0; i < 5; i++ {
		if _, err := v.Verify(ctx, forged); jwtverify.ReasonOf(err) != jwtverify.ReasonUnknownKey {
			t.Fatalf("attempt %d: %v, want unknown kid", i, err)
		}
	}
	if n := iss.JWKSRequests.Load(); n != 2 {
		t.Fatalf("after 5 unknown-kid tokens: %d JWKS requests, want exactly 2 (one rate-limited refresh)", n)
	}
	// Key rotation within the window is not seen yet...
	iss.Publish("k1", bridgetest.Key(2))
	rotated := iss.Sign("k1", iss.Claims(now, 1))
	if _, err := v.Verify(ctx, rotated); jwtverify.ReasonOf(err) != jwtverify.ReasonUnknownKey {
		t.Fatalf("rotated key inside the rate-limit window: %v, want unknown kid", err)
	}
	// ...and is after it, with one more fetch.
	cur = cur.Add(61 * time.Second)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("rotated key after the window: %v", err)
	}
	if n := iss.JWKSRequests.Load(); n != 3 {
		t.Fatalf("%d JWKS requests, want 3", n)
	}
	if n := iss.DiscoveryRequests.Load(); n != 1 {
		t.Errorf("%d discovery requests, want 1 (jwks_uri is cached)", n)
	}
}

func TestKeysUnavailable(t *testing.T) {
	iss := bridgetest.NewIssuer(t, bridgetest.TenantID)
	ks, err := jwtverify.NewKeySet(jwtverify.KeySetConfig{Issuer: iss.IssuerURL, Client: iss.Client(), MinRefreshInterval: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := jwtverify.NewVerifier([]jwtverify.Issuer{{Issuer: iss.IssuerURL, Audiences: []string{bridgetest.ClientID}, Keys: ks}}, jwtverify.Options{Now: clock})
	tok := iss.Sign("k0", iss.Claims(now, 1))
	iss.Server.Close()
	if _, err := v.Verify(context.Background(), tok); jwtverify.ReasonOf(err) != jwtverify.ReasonKeysUnavailable {
		t.Fatalf("got %v, want keys unavailable", err)
	}
	if ks.Loaded() || ks.LastError() == nil {
		t.Errorf("loaded %v, last error %v", ks.Loaded(), ks.LastError())
	}
}

func TestRefreshFailureKeepsKeys(t *testing.T) {
	f := newFixture(t)
	if err := f.ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.iss.Server.Close()
	if err := f.ks.Refresh(context.Background()); err == nil {
		t.Fatal("refresh against a closed server succeeded")
	}
	if _, err := f.v.Verify(context.Background(), f.iss.Sign("k0", f.iss.Claims(now, 1))); err != nil {
		t.Fatalf("cached key lost after a failed refresh: %v", err)
	}
}

func TestB2CTenantOptional(t *testing.T) {
	iss := bridgetest.NewIssuer(t, bridgetest.TenantID)
	ks, _ := jwtverify.NewKeySet(jwtverify.KeySetConfig{Issuer: iss.IssuerURL, Client: iss.Client(), MinRefreshInterval: time.Minute, Now: clock})
	v, err := jwtverify.NewVerifier([]jwtverify.Issuer{{
		Issuer: iss.IssuerURL, Audiences: []string{bridgetest.ClientID}, TenantClaim: jwtverify.TenantOptional,
		ObjectIDFromSubject: true, Keys: ks,
	}}, jwtverify.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Claims(now, 3)
	delete(c, "tid")
	delete(c, "oid")
	c["sub"] = "00000000-0000-4000-8000-000000000003"
	got, err := v.Verify(context.Background(), iss.Sign("k0", c))
	if err != nil {
		t.Fatal(err)
	}
	if got.TenantID != bridgetest.TenantID || got.ObjectID != c["sub"] {
		t.Errorf("tid %q oid %q", got.TenantID, got.ObjectID)
	}
	c["tid"] = "9a9a9a9a-0000-4000-8000-000000000000"
	if _, err := v.Verify(context.Background(), iss.Sign("k0", c)); jwtverify.ReasonOf(err) != jwtverify.ReasonTenant {
		t.Errorf("foreign tid with optional policy: %v", err)
	}
}

func TestVerifierConfigErrors(t *testing.T) {
	ks, _ := jwtverify.NewKeySet(jwtverify.KeySetConfig{Issuer: "https://login.microsoftonline.com/" + bridgetest.TenantID + "/v2.0"})
	base := jwtverify.Issuer{Issuer: "https://login.microsoftonline.com/" + bridgetest.TenantID + "/v2.0", Audiences: []string{bridgetest.ClientID}, Keys: ks}
	cases := map[string]func(*jwtverify.Issuer){
		"http issuer": func(i *jwtverify.Issuer) {
			i.Issuer = "http://login.microsoftonline.com/" + bridgetest.TenantID + "/v2.0"
		},
		"graph audience":            func(i *jwtverify.Issuer) { i.Audiences = []string{"00000003-0000-0000-c000-000000000000"} },
		"no audience":               func(i *jwtverify.Issuer) { i.Audiences = nil },
		"tenant not a guid":         func(i *jwtverify.Issuer) { i.TenantIDs = []string{"contoso"} },
		"issuer tenant not allowed": func(i *jwtverify.Issuer) { i.TenantIDs = []string{"9a9a9a9a-0000-4000-8000-000000000000"} },
		"no tenant anywhere":        func(i *jwtverify.Issuer) { i.Issuer = "https://idp.example/realms/x" },
		"bad policy":                func(i *jwtverify.Issuer) { i.TenantClaim = "sometimes" },
	}
	for name, mod := range cases {
		is := base
		mod(&is)
		if _, err := jwtverify.NewVerifier([]jwtverify.Issuer{is}, jwtverify.Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := jwtverify.NewVerifier([]jwtverify.Issuer{base}, jwtverify.Options{Leeway: time.Hour}); err == nil {
		t.Error("one hour leeway accepted")
	}
	if _, err := jwtverify.NewKeySet(jwtverify.KeySetConfig{Issuer: "https://x", JWKSURL: "http://x/keys"}); err == nil {
		t.Error("plain http JWKS URL accepted")
	}
}

func TestParseJWKS(t *testing.T) {
	k := bridgetest.Key(0)
	iss := bridgetest.NewIssuer(t, bridgetest.TenantID)
	iss.Publish("k0", k)
	good := iss.JWKS()
	keys, err := jwtverify.ParseJWKS(good)
	if err != nil || len(keys) != 1 || keys["k0"].N.Cmp(k.N) != 0 {
		t.Fatalf("keys %v err %v", keys, err)
	}
	n := base64.RawURLEncoding.EncodeToString(k.N.Bytes())
	doc := `{"keys":[
		{"kty":"RSA","use":"enc","kid":"enc","n":"` + n + `","e":"AQAB"},
		{"kty":"EC","use":"sig","kid":"ec","crv":"P-256","x":"a","y":"b"},
		{"kty":"RSA","use":"sig","kid":"small","n":"AQAB","e":"AQAB"},
		{"kty":"RSA","use":"sig","alg":"RS512","kid":"rs512","n":"` + n + `","e":"AQAB"},
		{"kty":"RSA","kid":"dup","n":"` + n + `","e":"AQAB"},
		{"kty":"RSA","kid":"dup","n":"` + n + `","e":"AQAB"},
		{"kty":"RSA","kid":"ok","n":"` + n + `","e":"AQAB"}]}`
	keys, err = jwtverify.ParseJWKS([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys["ok"] == nil {
		t.Errorf("usable keys %v, want only ok", keys)
	}
	if _, err := jwtverify.ParseJWKS([]byte(`{"keys":[]}`)); err == nil {
		t.Error("empty JWKS accepted")
	}
}

// TestAlgorithmRefusedBeforeKeys: tokens with a foreign algorithm are refused
// by the front-end without any key lookup, so they cannot even trigger a fetch.
func TestAlgorithmRefusedBeforeKeys(t *testing.T) {
	f := newFixture(t)
	claims := f.iss.Claims(now, 1)
	for _, tok := range []string{
		bridgetest.SignHS256(bridgetest.PublicKeyPEM(&bridgetest.Key(0).PublicKey), map[string]any{"alg": "HS256", "kid": "fresh"}, claims),
		bridgetest.SignHS256([]byte("x"), map[string]any{"alg": "none", "kid": "fresh"}, claims),
		bridgetest.SignRS256(bridgetest.Key(0), map[string]any{"alg": "RS384", "kid": "fresh"}, claims),
	} {
		if _, err := f.v.Verify(context.Background(), tok); jwtverify.ReasonOf(err) != jwtverify.ReasonAlgorithm {
			t.Errorf("got %v, want algorithm refusal", err)
		}
	}
	if n := f.iss.JWKSRequests.Load() + f.iss.DiscoveryRequests.Load(); n != 0 {
		t.Errorf("%d key requests for tokens refused by algorithm, want 0", n)
	}
}

func TestConfiguredScopes(t *testing.T) {
	iss := bridgetest.NewIssuer(t, bridgetest.TenantID)
	ks, _ := jwtverify.NewKeySet(jwtverify.KeySetConfig{Issuer: iss.IssuerURL, Client: iss.Client(), MinRefreshInterval: time.Minute, Now: clock})
	v, err := jwtverify.NewVerifier([]jwtverify.Issuer{{Issuer: iss.IssuerURL, Audiences: []string{bridgetest.ClientID}, Scopes: []string{"access"}, Keys: ks}}, jwtverify.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for scp, ok := range map[string]bool{"access": true, "read access": true, "read": false, "accessx": false} {
		c := iss.Claims(now, 1)
		c["scp"] = scp
		_, err := v.Verify(context.Background(), iss.Sign("k0", c))
		if (err == nil) != ok {
			t.Errorf("scp %q: err %v, want accepted %v", scp, err, ok)
		}
		if err != nil && jwtverify.ReasonOf(err) != jwtverify.ReasonScope {
			t.Errorf("scp %q: reason %q", scp, jwtverify.ReasonOf(err))
		}
	}
	v2, _ := jwtverify.NewVerifier([]jwtverify.Issuer{{Issuer: iss.IssuerURL, Audiences: []string{bridgetest.ClientID}, AllowNoScope: true, Keys: ks}}, jwtverify.Options{Now: clock})
	c := iss.Claims(now, 1)
	delete(c, "scp")
	if _, err := v2.Verify(context.Background(), iss.Sign("k0", c)); err != nil {
		t.Errorf("AllowNoScope: %v", err)
	}
	c["idtyp"] = "app"
	if _, err := v2.Verify(context.Background(), iss.Sign("k0", c)); jwtverify.ReasonOf(err) != jwtverify.ReasonScope {
		t.Errorf("app-only token with AllowNoScope: %v", err)
	}
}

// TestTenantMustMatchIssuer: with two allowed tenants, a token whose tid is
// the other tenant is refused, since the Entra v2 issuer names its tenant.
func TestTenantMustMatchIssuer(t *testing.T) {
	iss := bridgetest.NewIssuer(t, bridgetest.TenantID)
	other := "9a9a9a9a-0000-4000-8000-000000000000"
	ks, _ := jwtverify.NewKeySet(jwtverify.KeySetConfig{Issuer: iss.IssuerURL, Client: iss.Client(), MinRefreshInterval: time.Minute, Now: clock})
	v, err := jwtverify.NewVerifier([]jwtverify.Issuer{{Issuer: iss.IssuerURL, Audiences: []string{bridgetest.ClientID},
		TenantIDs: []string{bridgetest.TenantID, other}, Keys: ks}}, jwtverify.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Claims(now, 1)
	c["tid"] = strings.ToUpper(other)
	_, err = v.Verify(context.Background(), iss.Sign("k0", c))
	if jwtverify.ReasonOf(err) != jwtverify.ReasonTenant || !strings.Contains(err.Error(), "does not match the tenant in its issuer") {
		t.Fatalf("tid of another allowed tenant: %v", err)
	}
	c["tid"] = strings.ToUpper(bridgetest.TenantID) // GUID case does not matter
	if _, err := v.Verify(context.Background(), iss.Sign("k0", c)); err != nil {
		t.Fatalf("upper-case tid: %v", err)
	}
}

// TestFetchSurvivesCallerCancel: a caller that hangs up does not abort the key
// fetch (which would use up the rate-limit window for everyone).
func TestFetchSurvivesCallerCancel(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.v.Verify(ctx, f.iss.Sign("k0", f.iss.Claims(now, 1))); err != nil {
		t.Fatalf("verify with a cancelled caller context: %v", err)
	}
	if !f.ks.Loaded() {
		t.Fatal("keys not loaded")
	}
}
