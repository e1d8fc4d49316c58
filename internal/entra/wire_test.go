package entra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
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

// FuzzDecodeUserPage: whatever Graph sends, the fast decoder agrees with a
// plain decode of the same JSON: ids and links as sent, a property present
// exactly when the JSON has it (null clears it, absent leaves it), and merge
// changes only present properties. A second decode into the reused page
// gives the same result (no stale fields from the first).
func FuzzDecodeUserPage(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"a","mail":null,"accountEnabled":true,"@removed":{"reason":"deleted"}}],"@odata.nextLink":"x"}`))
	f.Add([]byte(`{"value":[{"id":"3f2a0000-0000-4000-8000-000000000001","userPrincipalName":"a\u0040b","displayName":"\"q\""},{"id":"b"}],"@odata.deltaLink":"d"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p userPage
		if decodeUserPage(b, &p) != nil {
			return
		}
		var plain struct {
			Next  *string          `json:"@odata.nextLink"`
			Delta *string          `json:"@odata.deltaLink"`
			Value []map[string]any `json:"value"`
		}
		if err := json.Unmarshal(b, &plain); err != nil {
			t.Fatalf("decodeUserPage accepted what encoding/json refuses: %v", err)
		}
		if plain.Next != nil && *plain.Next != p.NextLink || plain.Delta != nil && *plain.Delta != p.DeltaLink || len(plain.Value) != len(p.Value) {
			t.Fatalf("page %+v, plain %+v", p, plain)
		}
		for i, m := range plain.Value {
			w := p.Value[i]
			if id, ok := m["id"].(string); ok && id != w.ID {
				t.Fatalf("item %d: id %q, plain %q", i, w.ID, id)
			}
			for key, o := range map[string]optString{"userPrincipalName": w.UPN, "mail": w.Mail, "displayName": w.DisplayName, "surname": w.Surname} {
				// encoding/json matches keys case-insensitively: so does the oracle.
				var v any
				present, n := false, 0
				for k, kv := range m {
					if strings.EqualFold(k, key) {
						v, present = kv, true
						n++
					}
				}
				if n > 1 {
					continue // which spelling wins is encoding/json's business
				}
				if present != o.set {
					t.Fatalf("item %d %s: set %v, present %v", i, key, o.set, present)
				}
				if str, ok := v.(string); ok && str != o.v || v == nil && o.v != "" {
					t.Fatalf("item %d %s: %q, plain %#v", i, key, o.v, v)
				}
			}
			u := identity.EntraUser{UPN: "before", Mail: "before"}
			w.merge(&u)
			if !w.UPN.set && u.UPN != "before" || w.UPN.set && u.UPN != w.UPN.v || !w.Mail.set && u.Mail != "before" {
				t.Fatalf("item %d: merge gave %+v from %+v", i, u, w)
			}
			if n := normOID(w.ID); n != "" {
				if _, ok := identity.NormalizeGUID(n); !ok {
					t.Fatalf("normOID(%q) = %q is not canonical", w.ID, n)
				}
			}
		}
		again := p
		if err := decodeUserPage(b, &again); err != nil || len(again.Value) != len(p.Value) {
			t.Fatalf("second decode: %v", err)
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

// TestTelemetryNamesTheSDKVersion: the Graph telemetry header names the
// msgraph-sdk-go version go.mod requires; an upgrade must update it too.
func TestTelemetryNamesTheSDKVersion(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/microsoftgraph/msgraph-sdk-go v" + graphSDKVersion + "\n"
	if !strings.Contains(string(mod), want) {
		t.Fatalf("go.mod does not require %q: update graphSDKVersion", strings.TrimSpace(want))
	}
}

// A member page decodes each member's type and packed id without a string
// per member; odd spellings still decode as the documented values would,
// and a reused page keeps nothing of the page before.
func TestMemberPage(t *testing.T) {
	const g = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	cases := []struct {
		name, json string
		want       memberType
		ok         bool
	}{
		{"user", `{"@odata.type":"#microsoft.graph.user","id":"` + g + `"}`, memberUser, true},
		{"no type", `{"id":"` + g + `"}`, memberAbsent, true},
		{"group, any case", `{"@odata.type":"#Microsoft.Graph.Group","id":"` + g + `"}`, memberGroup, true},
		{"device", `{"@odata.type":"#microsoft.graph.device","id":"` + g + `"}`, memberOther, true},
		{"escaped", `{"@odata.type":"\u0023microsoft.graph.user","id":"` + strings.ToUpper(g) + `"}`, memberUser, true},
		{"braced id", `{"id":"{` + g + `}"}`, memberAbsent, true},
		{"not a GUID", `{"id":"abc"}`, memberAbsent, false},
		{"null id", `{"@odata.type":null,"id":null}`, memberAbsent, false},
	}
	want, _ := identity.ParseObjectID(g)
	var page memberPage
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The page before held a group with a valid id in the same slot.
			page = memberPage{Value: []member{{Type: memberGroup, ID: memberID{id: want, ok: true}}}}
			if err := decodeMemberPage([]byte(`{"value":[`+tc.json+`]}`), &page); err != nil {
				t.Fatal(err)
			}
			m := page.Value[0]
			if m.Type != tc.want || m.ID.ok != tc.ok || tc.ok && m.ID.id != want {
				t.Fatalf("decoded %+v, want type %d, ok %v", m, tc.want, tc.ok)
			}
		})
	}
	if err := decodeMemberPage([]byte(`{"value":[{"id":7}]}`), &page); err == nil {
		t.Fatal("a number for an id decoded")
	}
	// Graph's pages are read by the scan, not handed to encoding/json.
	graphPage := `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#directoryObjects","@odata.nextLink":"https://graph.microsoft.com/v1.0/groups/x/members?$skiptoken=a",` +
		`"value":[{"@odata.type":"#microsoft.graph.user","id":"` + g + `","displayName":"A \"B\"","mail":null},{"@odata.type":"#microsoft.graph.group","id":"` + g + `"}]}`
	page = memberPage{}
	if !scanMemberPage([]byte(graphPage), &page) || len(page.Value) != 2 || page.NextLink == "" {
		t.Fatalf("the scan did not read a page as Graph sends it: %+v", page)
	}
}

func TestPeekNextLink(t *testing.T) {
	const link = "https://graph.microsoft.com/v1.0/users?$top=999&$skiptoken=X%27abc%27"
	for _, tc := range []struct{ name, body, want string }{
		{"before the value, as Graph sends it", `{"@odata.context":"c","@odata.nextLink":"` + link + `","value":[{"id":"1"}]}`, link},
		{"after the value", `{"@odata.context":"c","value":[{"id":"1","displayName":"a \"}]\" b"},{"x":{"y":[1,2]}}],"@odata.nextLink":"` + link + `"}`, link},
		{"spaces and escapes", " {\n \"value\" : [ ] ,\n \"@odata.nextLink\" : \"https:\\/\\/graph\\/u?a=1\\u0026b=2\" }", "https://graph/u?a=1&b=2"},
		{"scalars before", `{"@odata.count":12,"flag":true,"none":null,"@odata.nextLink":"` + link + `"}`, link},
		{"last page", `{"@odata.context":"c","value":[{"id":"1"}]}`, ""},
		{"the key inside a user", `{"value":[{"displayName":"@odata.nextLink","@odata.nextLink":"inner"}]}`, ""},
		{"empty object", `{}`, ""},
		{"truncated", `{"value":[{"id":"1"`, ""},
		{"not an object", `[{"@odata.nextLink":"x"}]`, ""},
		{"not a string", `{"@odata.nextLink":42}`, ""},
		{"empty body", ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := peekNextLink([]byte(tc.body)); got != tc.want {
				t.Fatalf("peekNextLink = %q, want %q", got, tc.want)
			}
		})
	}
}

// Whatever the body, the link found without decoding is none, or the one
// decoding finds (unless the body names the link twice, which Graph does
// not do and listPages reports).
func FuzzPeekNextLink(f *testing.F) {
	f.Add([]byte(`{"@odata.context":"c","@odata.nextLink":"https://g/u?$skiptoken=a","value":[{"id":"1"}]}`))
	f.Add([]byte(`{"value":[{"id":"1","displayName":"}\"]"}],"@odata.nextLink":"https://g/u?$skiptoken=b"}`))
	f.Add([]byte(`{"value":[],"@odata.deltaLink":"https://g/u/delta?$deltatoken=c"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got := peekNextLink(body)
		var p userPage
		if err := json.Unmarshal(body, &p); err != nil || got == "" {
			return
		}
		if got != p.NextLink && bytes.Count(bytes.ToLower(body), []byte("nextlink")) < 2 {
			t.Fatalf("peekNextLink = %q, decoding finds %q in %s", got, p.NextLink, body)
		}
	})
}

// A member page the scan decodes is decoded as encoding/json decodes it:
// the same members in the same order, the same link. (The scan may accept
// a page encoding/json rejects only for a malformed scalar it skips.)
func FuzzDecodeMemberPage(f *testing.F) {
	const g = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	f.Add([]byte(`{"@odata.context":"c","@odata.nextLink":"https://g/m?$skiptoken=a","value":[{"@odata.type":"#microsoft.graph.user","id":"` + g + `","displayName":"A"}]}`))
	f.Add([]byte(`{"value":[{"ID":"{` + g + `}","@ODATA.TYPE":"#microsoft.graph.group"},{"id":null},{}],"@odata.nextLink":"x"}`))
	f.Add([]byte(`{"value":[{"@odata.type":"\u0023microsoft.graph.user","id":"` + g + `","x":{"y":[1,"]"]}}]}`))
	f.Add([]byte(`{"value":[],"Value":[{"id":"` + g + `"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var want memberPage
		if err := json.Unmarshal(body, &want); err != nil {
			return
		}
		got := memberPage{Value: []member{{Type: memberGroup}}} // a reused page
		if err := decodeMemberPage(body, &got); err != nil {
			t.Fatalf("encoding/json decodes %s, decodeMemberPage fails: %v", body, err)
		}
		if got.NextLink != want.NextLink || len(got.Value) != len(want.Value) {
			t.Fatalf("decoded %+v, encoding/json %+v, from %s", got, want, body)
		}
		for i := range want.Value {
			if got.Value[i] != want.Value[i] {
				t.Fatalf("member %d: decoded %+v, encoding/json %+v, from %s", i, got.Value[i], want.Value[i], body)
			}
		}
	})
}

func TestAssignmentPage(t *testing.T) {
	const g = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	want, _ := identity.ParseObjectID(g)
	// An assignment as Graph lists it (appRoleAssignedTo).
	graphPage := `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#servicePrincipals('x')/appRoleAssignedTo","@odata.nextLink":"https://graph.microsoft.com/v1.0/servicePrincipals/x/appRoleAssignedTo?$skiptoken=a",` +
		`"value":[{"id":"41W1zT6z1U-kJxf62svfp1HFE8pMZhxDun-ThPczmJE","deletedDateTime":null,"appRoleId":"00000000-0000-0000-0000-000000000000","createdDateTime":"2021-02-02T04:22:45.9480566Z",` +
		`"principalDisplayName":"Alice \"A\"","principalId":"` + g + `","principalType":"User","resourceDisplayName":"Salesforce","resourceId":"1c48f923-4fbb-4d37-b772-4d5b6d2c8d3b"},` +
		`{"principalId":"` + strings.ToUpper(g) + `","principalType":"group"},{"principalId":"{` + g + `}","principalType":"ServicePrincipal"},{"principalId":"abc","principalType":"User"}]}`
	page := assignmentPage{Value: []assignment{{}, {}, {}, {}, {PrincipalType: principalGroup}}} // a reused page
	if !scanListPage([]byte(graphPage), &page.NextLink, &page.Value, func(*assignment, []byte, []byte) bool { return true }) {
		t.Fatal("the scan did not read a page as Graph sends it")
	}
	if err := decodeAssignmentPage([]byte(graphPage), &page); err != nil {
		t.Fatal(err)
	}
	wantTypes := []principalType{principalUser, principalGroup, principalOther, principalUser}
	wantOK := []bool{true, true, true, false}
	if len(page.Value) != 4 || page.NextLink == "" {
		t.Fatalf("decoded %+v", page)
	}
	for i, a := range page.Value {
		if a.PrincipalType != wantTypes[i] || a.PrincipalID.ok != wantOK[i] || a.PrincipalID.ok && a.PrincipalID.id != want {
			t.Fatalf("assignment %d: %+v, want type %d, ok %v", i, a, wantTypes[i], wantOK[i])
		}
	}
	if err := decodeAssignmentPage([]byte(`{"value":[{"principalId":7}]}`), &page); err == nil {
		t.Fatal("a number for a principalId decoded")
	}
}

// An assignment page the scan decodes is decoded as encoding/json decodes
// it (as FuzzDecodeMemberPage).
func FuzzDecodeAssignmentPage(f *testing.F) {
	const g = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	f.Add([]byte(`{"@odata.context":"c","@odata.nextLink":"https://g/a?$skiptoken=a","value":[{"id":"x","principalId":"` + g + `","principalType":"User","principalDisplayName":"A"}]}`))
	f.Add([]byte(`{"value":[{"PRINCIPALID":"{` + g + `}","principaltype":"Group"},{"principalId":null},{}],"@odata.nextLink":"x"}`))
	f.Add([]byte(`{"value":[{"principalType":"\u0055ser","principalId":"` + g + `","x":{"y":[1,"]"]}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var want assignmentPage
		if err := json.Unmarshal(body, &want); err != nil {
			return
		}
		got := assignmentPage{Value: []assignment{{PrincipalType: principalGroup}}} // a reused page
		if err := decodeAssignmentPage(body, &got); err != nil {
			t.Fatalf("encoding/json decodes %s, decodeAssignmentPage fails: %v", body, err)
		}
		if got.NextLink != want.NextLink || len(got.Value) != len(want.Value) {
			t.Fatalf("decoded %+v, encoding/json %+v, from %s", got, want, body)
		}
		for i := range want.Value {
			if got.Value[i] != want.Value[i] {
				t.Fatalf("assignment %d: decoded %+v, encoding/json %+v, from %s", i, got.Value[i], want.Value[i], body)
			}
		}
	})
}
