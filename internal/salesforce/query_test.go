package salesforce

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

const userPageJSON = `{"totalSize":2,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01gxx-2000",` +
	`"records":[{"attributes":{"type":"User","url":"/services/data/v62.0/sobjects/User/005A"},"Id":"005A","Username":"a@contoso.com",` +
	`"FederationIdentifier":null,"Email":"a\u0040contoso.com","IsActive":true,"UserType":"Standard","CreatedDate":"2024-01-02T03:04:05.000+0000",` +
	`"SystemModstamp":"2024-01-02T03:04:05.000+0000"},{"attributes":{"type":"User"},"Id":"005B","IsActive":false}]}`

func TestScanPageReadsPagesAsSalesforceSendsThem(t *testing.T) {
	var got, want queryPage[userRecord]
	if !scanPage([]byte(userPageJSON), &got) {
		t.Fatal("the walk did not read a User page as Salesforce sends it")
	}
	if err := json.Unmarshal([]byte(userPageJSON), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("walked %+v\nencoding/json %+v", got, want)
	}
	links := `{"totalSize":1,"done":true,"records":[{"attributes":{"type":"ThirdPartyAccountLink"},"Id":"0JLA","SsoProviderName":"Entra","RemoteIdentifier":"sub-1","UserId":"005A"}]}`
	var l queryPage[accountLinkRecord]
	if !scanPage([]byte(links), &l) || len(l.Records) != 1 || l.Records[0].RemoteIdentifier != "sub-1" || !l.Done {
		t.Fatalf("the walk did not read a ThirdPartyAccountLink page: %+v", l)
	}
	for _, bad := range []string{
		`{"totalSize":"2","done":true,"records":[]}`,       // a count as a string
		`{"totalSize":2,"done":true,"records":[{"Id":7}]}`, // an id as a number
		`{"totalSize":2,"done":1,"records":[]}`,
		`{"totalSize":2,"done":true,"records":[]} x`,
	} {
		var p queryPage[userRecord]
		if err := decodePage([]byte(bad), &p); err == nil {
			t.Errorf("decodePage(%s) = %+v, want encoding/json's error", bad, p)
		}
	}
}

// A page the walk decodes is decoded as encoding/json decodes it; a page
// encoding/json rejects is rejected unless only a skipped scalar is wrong.
func FuzzDecodePage(f *testing.F) {
	f.Add([]byte(userPageJSON))
	f.Add([]byte(`{"totalSize":0,"done":true,"records":[]}`))
	f.Add([]byte(`{"TOTALSIZE":3,"Done":false,"records":[{"id":"x","ID":"y","isactive":null,"Email":"\ud83d\ude00"}],"records":null}`))
	f.Add([]byte(`{"totalSize":1,"done":true,"records":[{"attributes":{"a":[1,{"b":"]"}]},"RemoteIdentifier":"s","UserId":"005"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(name string, got, want any, errJSON, errWalk error) {
			if errJSON != nil {
				return
			}
			if errWalk != nil {
				t.Fatalf("%s: encoding/json decodes %s, decodePage fails: %v", name, body, errWalk)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Fatalf("%s: decodePage %+v, encoding/json %+v, from %s", name, got, want, body)
			}
		}
		var u, uw queryPage[userRecord]
		errJSON := json.Unmarshal(body, &uw)
		err := decodePage(body, &u)
		check("User", u, uw, errJSON, err)
		var l, lw queryPage[accountLinkRecord]
		errJSON = json.Unmarshal(body, &lw)
		err = decodePage(body, &l)
		check("ThirdPartyAccountLink", l, lw, errJSON, err)
	})
}
