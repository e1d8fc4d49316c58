package subject

import (
	"fmt"
	"strings"
	"testing"
)

// The expected values were produced outside Go: base64url and hex with
// Python's hashlib, keycloak-uuid by running the JDK's
// MessageDigest("SHA-256") + UUID.nameUUIDFromBytes, the two calls Keycloak's
// SHA256PairwiseSubMapper makes.
func TestPairwiseSubject(t *testing.T) {
	tests := []struct {
		name                string
		sector, local, salt string
		enc                 Encoding
		want                string
	}{
		{"base64url", "login.example.com", "0f8fad5b-d9cb-469f-a165-70867728950e", "pepper", Base64URL, "0UYrwU1qQBqGwunfaIrB_4SDc5BT5m5nXXApp7tQJ5c"},
		{"hex", "login.example.com", "0f8fad5b-d9cb-469f-a165-70867728950e", "pepper", Hex, "d1462bc14d6a401a86c2e9df688ac1ff8483739053e66e675d7029a7bb502797"},
		{"keycloak", "login.example.com", "0f8fad5b-d9cb-469f-a165-70867728950e", "pepper", KeycloakUUID, "e6cf9d92-ca84-33ca-a38e-4c23afa7ea4d"},
		{"keycloak utf-8", "sf.my.salesforce.com", "Ünïcode-id", "s@lt", KeycloakUUID, "91d936a7-8f60-37b5-8a9e-e08da2e38d91"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Pairwise{SectorIdentifier: tt.sector, Salt: tt.salt, Encoding: tt.enc}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := p.Subject(tt.local); got != tt.want {
				t.Fatalf("Subject(%q) = %q, want %q", tt.local, got, tt.want)
			}
		})
	}
}

func TestPairwiseDiffersPerSectorAndUser(t *testing.T) {
	a := Pairwise{SectorIdentifier: "a.example", Salt: "x", Encoding: Base64URL}
	b := Pairwise{SectorIdentifier: "b.example", Salt: "x", Encoding: Base64URL}
	if a.Subject("u1") == b.Subject("u1") {
		t.Fatal("same sub for two sectors: not pairwise")
	}
	if a.Subject("u1") == a.Subject("u2") {
		t.Fatal("same sub for two users")
	}
}

func TestValidateNamesTheProblemWithoutTheSalt(t *testing.T) {
	err := Pairwise{Salt: "very-secret-salt", Encoding: "base32"}.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{"sector identifier is empty", `encoding "base32" is unknown`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "very-secret-salt") {
		t.Errorf("error leaks the salt: %q", msg)
	}
}

func FuzzKeycloakUUIDShape(f *testing.F) {
	f.Add("login.example.com", "0f8fad5b-d9cb-469f-a165-70867728950e", "pepper")
	f.Fuzz(func(t *testing.T, sector, local, salt string) {
		s := Pairwise{SectorIdentifier: sector, Salt: salt, Encoding: KeycloakUUID}.Subject(local)
		if len(s) != 36 || s[14] != '3' || !strings.ContainsRune("89ab", rune(s[19])) {
			t.Fatalf("not a version-3 RFC 4122 UUID: %q", s)
		}
	})
}

func TestPrintingNeverShowsTheSalt(t *testing.T) {
	p := Pairwise{SectorIdentifier: "a.example", Salt: "very-secret-salt", Encoding: Hex}
	type holder struct{ P Pairwise }
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v", holder{p}), fmt.Sprintf("%#v", p), fmt.Sprintf("%v", &p)} {
		if strings.Contains(s, "very-secret-salt") {
			t.Fatalf("printed the salt: %s", s)
		}
	}
}
