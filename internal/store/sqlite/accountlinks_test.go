package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// TestAccountLinkBatchesAnyOrder: a batch is compared with the stored rows
// of its Id range; a batch whose range holds many more stored rows (an Id
// order other than byte order) is written all the same, changed rows
// changed, unchanged ones left, new ones added.
func TestAccountLinkBatchesAnyOrder(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	link := func(i int, user string) identity.ThirdPartyAccountLink {
		return identity.ThirdPartyAccountLink{ID: fmt.Sprintf("0JL%05d", i), Provider: "EntraOIDC", RemoteIdentifier: fmt.Sprintf("sub-%d", i), UserID: user}
	}
	var all []identity.ThirdPartyAccountLink
	for i := range 500 {
		all = append(all, link(i*2, "005A"))
	}
	if err := s.UpsertAccountLinks(ctx, 1, all); err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]identity.ThirdPartyAccountLink{
		{link(998, "005B"), link(0, "005A"), link(1, "005N")},  // a range over every stored row
		{link(10, "005C"), link(12, "005A"), link(11, "005M")}, // a narrow one
	} {
		if err := s.UpsertAccountLinks(ctx, 2, batch); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	if err := s.ScanAccountLinks(ctx, func(l identity.ThirdPartyAccountLink) error { got[l.ID] = l.UserID; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range 500 {
		want[link(i*2, "").ID] = "005A"
	}
	want[link(998, "").ID], want[link(1, "").ID], want[link(10, "").ID], want[link(11, "").ID] = "005B", "005N", "005C", "005M"
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the batches, %d links; changed: 998 %s, 1 %s, 10 %s, 11 %s", len(got), got[link(998, "").ID], got[link(1, "").ID], got[link(10, "").ID], got[link(11, "").ID])
	}
}
