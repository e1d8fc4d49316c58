package entra

import (
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

func TestDecodeUserPageNullAbsentAndReuse(t *testing.T) {
	var p userPage
	must(t, decodeUserPage([]byte(`{"value":[{"id":"a","@removed":{"reason":"changed"}},{"id":"b","mail":"m@x","accountEnabled":false}]}`), &p))
	if p.Value[0].Removed == nil || p.Value[0].Removed.Reason != "changed" {
		t.Fatalf("removed: %+v", p.Value[0])
	}
	// The second page reuses the slice: nothing of the first may leak.
	must(t, decodeUserPage([]byte(`{"@odata.deltaLink":"https://x/d","value":[{"id":"c","mail":null},{"id":"d","displayName":"Zo\u00eb \"Z\" Ünal"}]}`), &p))
	if p.Value[1].DisplayName.v != `Zoë "Z" Ünal` {
		t.Fatalf("escaped string: %q", p.Value[1].DisplayName.v)
	}
	if len(p.Value) != 2 || p.Value[0].Removed != nil || p.Value[1].Mail.set || p.NextLink != "" || p.DeltaLink != "https://x/d" {
		t.Fatalf("stale data after reuse: %+v", p)
	}
	u := identity.EntraUser{Mail: "old@x", DisplayName: "Kept", AccountEnabled: true}
	p.Value[0].merge(&u)
	if u.Mail != "" || u.DisplayName != "Kept" || !u.AccountEnabled {
		t.Fatalf("null must clear, absent must keep: %+v", u)
	}
}

func FuzzDecodeUserPage(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"a","mail":null,"accountEnabled":true,"@removed":{"reason":"deleted"}}],"@odata.nextLink":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p userPage
		if decodeUserPage(b, &p) == nil {
			for i := range p.Value {
				var u identity.EntraUser
				p.Value[i].merge(&u)
				_ = normOID(p.Value[i].ID)
			}
		}
	})
}
