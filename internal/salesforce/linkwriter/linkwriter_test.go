package linkwriter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/salesforce"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
	"github.com/idlinkhq/idlink/internal/sim/simtls"
)

func TestWriterAgainstSimulator(t *testing.T) {
	ca, err := simtls.New()
	if err != nil {
		t.Fatal(err)
	}
	org := sfsim.NewOrg()
	uid, _ := org.AddUser(identity.SalesforceUser{Username: "int@example.com", IsActive: true})
	srv, err := sfsim.Start(org, ca, sfsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddConnectedApp(sfsim.ConnectedApp{ClientID: "app", ClientSecret: "secret", ClientCredentialsUser: "int@example.com"})
	c, err := salesforce.New(salesforce.Config{LoginURL: srv.URL(), Auth: salesforce.AuthClientCredentials, ClientID: "app", ClientSecret: "secret", HTTPClient: ca.Client(),
		APIVersion: "62.0", RequestTimeout: time.Minute, Retry: salesforce.RetryPolicy{MaxAttempts: 3}, QueryBatchSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Writer{Client: c}.UpsertLinks(context.Background(), []identity.Link{
		{Provider: "P", Subject: "ok", SalesforceUserID: uid, Status: identity.LinkActive},
		{Provider: "P", Subject: "bad", SalesforceUserID: "005000000000000AAA", Status: identity.LinkActive},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].OK || res[1].OK || !strings.HasPrefix(res[1].Error, "INVALID_CROSS_REFERENCE_KEY") {
		t.Errorf("%+v", res)
	}
	// A call that fails as a whole is an error, not per-record results.
	srv.SetDailyLimit(0)
	if _, err := (Writer{Client: c}).UpsertLinks(context.Background(), []identity.Link{{Provider: "P", Subject: "x", Status: identity.LinkActive}}); err == nil {
		t.Error("daily limit: want an error")
	}
}
