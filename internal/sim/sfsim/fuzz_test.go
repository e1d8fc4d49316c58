package sfsim

import (
	"errors"
	"testing"
)

func FuzzSOQL(f *testing.F) {
	for _, s := range []string{
		"SELECT Id, Username FROM User WHERE SystemModstamp > 2025-01-01T00:00:00Z ORDER BY Id LIMIT 10",
		"SELECT COUNT() FROM ThirdPartyAccountLink WHERE SsoProviderName IN ('a','b') AND Id > '0Jr8d0000000001AAA'",
		"select subject__c from identity_link__c where (status__c = 'Active' or not user__c = null) order by subject__c desc nulls last",
		"SELECT Id FROM User WHERE Username = 'it\\'s'",
		"SELECT Id FROM User WHERE IsActive = true AND Email != null LIMIT 5",
		"SELECT", "", "((((", "SELECT Id FROM User WHERE Id IN ()",
	} {
		f.Add(s)
	}
	org := NewOrg()
	for i := 0; i < 3; i++ {
		id, _ := org.AddUser(userFixture(i))
		_, _ = org.AddAccountLink(linkFixture(i, id))
	}
	f.Fuzz(func(t *testing.T, q string) {
		pq, err := parseSOQL(q)
		if err != nil {
			var qe *queryError
			if !errors.As(err, &qe) || qe.msg == "" {
				t.Fatalf("parse error of the wrong kind: %v", err)
			}
			return
		}
		obj, err := resolve(pq)
		if err != nil {
			var qe *queryError
			if !errors.As(err, &qe) {
				t.Fatalf("resolve error of the wrong kind: %v", err)
			}
			return
		}
		org.mu.RLock()
		rows := execute(org, obj, pq, false)
		org.mu.RUnlock()
		if pq.limit >= 0 && len(rows) > pq.limit {
			t.Fatalf("LIMIT %d returned %d rows", pq.limit, len(rows))
		}
		if len(rows) > obj.rowCount(org) {
			t.Fatalf("more rows than the table holds")
		}
	})
}
