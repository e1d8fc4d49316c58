package entra

import (
	"bytes"
	"fmt"
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

// BenchmarkDecodeUsersPage decodes and converts one 999-user page: the
// client's share of a page apart from the network and the store.
func BenchmarkDecodeUsersPage(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName)","value":[`)
	for i := 0; i < 999; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"id":"%s","userPrincipalName":"first.last%d@contoso.com","mail":"first.last%d@contoso.com","displayName":"First Last %d","givenName":"First","surname":"Last%d","accountEnabled":true,"userType":"Member"}`, oidOf(i), i, i, i, i)
	}
	buf.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=abc"}`)
	body := buf.Bytes()
	var p userPage
	batch := make([]identity.EntraUser, 0, 999)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := decodeUserPage(body, &p); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
		for i := range p.Value {
			u := identity.EntraUser{ObjectID: normOID(p.Value[i].ID)}
			p.Value[i].merge(&u)
			batch = append(batch, u)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
}
