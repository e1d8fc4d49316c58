package entrasim

// Contract tests: the real msgraph-sdk-go client, authenticated through
// azidentity over TLS, drives the simulator with its typed models.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/idlinkhq/idlink/internal/identity"
)

func sdkClient(t *testing.T, s *Sim, tenant, clientID, secret string) *msgraphsdk.GraphServiceClient {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.LoginURL() + "/"},
			Transport: s.HTTPClient(),
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	gu, _ := url.Parse(s.GraphURL())
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{"https://graph.microsoft.com/.default"}, []string{gu.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	opts := msgraphsdk.GetDefaultClientOptions()
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(s.TLS().ClientTransport(), msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(s.GraphURL() + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

func TestContractSDKUsersPaging(t *testing.T) {
	s := newTestSim(t, 2500)
	ctx := context.Background()
	gc := sdkClient(t, s, testTenant, jobApp, jobSecret)
	top := int32(999)
	resp, err := gc.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"id", "userPrincipalName", "accountEnabled"}, Top: &top},
	})
	if err != nil {
		t.Fatal(err)
	}
	it, err := msgraphcore.NewPageIterator[models.Userable](resp, gc.GetAdapter(), models.CreateUserCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = it.Iterate(ctx, func(u models.Userable) bool {
		if u.GetId() == nil || u.GetUserPrincipalName() == nil || u.GetAccountEnabled() == nil || u.GetMail() != nil {
			t.Errorf("user %v: select not honoured", u.GetId())
			return false
		}
		n++
		return true
	})
	if err != nil || n != 2500 {
		t.Fatalf("iterated %d users: %v", n, err)
	}
	if c := s.Faults.Counter(EPUsers); c.Requests != 3 {
		t.Errorf("requests %d, want 3", c.Requests)
	}
	// $top outside 1..999: the SDK surfaces Graph's 400.
	bad := int32(1000)
	_, err = gc.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Top: &bad}})
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != 400 || *oe.GetErrorEscaped().GetCode() != "Request_UnsupportedQuery" {
		t.Fatalf("$top=1000: %v", err)
	}
}

func TestContractSDKDelta(t *testing.T) {
	s := newTestSim(t, 120)
	ctx := context.Background()
	gc := sdkClient(t, s, testTenant, jobApp, jobSecret)
	round := func(start func() (users.DeltaGetResponseable, error)) (items []models.Userable, deltaLink string) {
		t.Helper()
		resp, err := start()
		if err != nil {
			t.Fatal(err)
		}
		it, err := msgraphcore.NewPageIterator[models.Userable](resp, gc.GetAdapter(), users.CreateDeltaGetResponseFromDiscriminatorValue)
		if err != nil {
			t.Fatal(err)
		}
		if err := it.Iterate(ctx, func(u models.Userable) bool { items = append(items, u); return true }); err != nil {
			t.Fatal(err)
		}
		if dl := it.GetOdataDeltaLink(); dl != nil {
			deltaLink = *dl
		}
		return items, deltaLink
	}
	items, dl := round(func() (users.DeltaGetResponseable, error) {
		return gc.Users().Delta().GetAsDeltaGetResponse(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: []string{"id", "displayName", "accountEnabled"}},
		})
	})
	if len(items) != 120 || dl == "" {
		t.Fatalf("initial round: %d items, deltaLink %q", len(items), dl)
	}
	must(t, s.UpdateUser(testUserID(1), func(u *identity.EntraUser) { u.DisplayName = "Renamed" }))
	must(t, s.SoftDelete(testUserID(2)))
	must(t, s.HardDelete(testUserID(3)))
	items, dl2 := round(func() (users.DeltaGetResponseable, error) {
		return users.NewDeltaRequestBuilder(dl, gc.GetAdapter()).GetAsDeltaGetResponse(ctx, nil)
	})
	if len(items) != 3 || dl2 == "" || dl2 == dl {
		t.Fatalf("changes round: %d items, deltaLink %q", len(items), dl2)
	}
	removed := map[string]string{}
	for _, u := range items {
		if r, ok := u.GetAdditionalData()["@removed"]; ok {
			removed[*u.GetId()] = reasonOf(r)
			continue
		}
		if *u.GetId() != testUserID(1) || *u.GetDisplayName() != "Renamed" {
			t.Errorf("changed user: %v %v", *u.GetId(), u.GetDisplayName())
		}
	}
	if removed[testUserID(2)] != "changed" || removed[testUserID(3)] != "deleted" {
		t.Errorf("removed %v", removed)
	}
	// Expired deltaLink: Graph's 400 syncStateNotFound.
	s.InvalidateDeltaTokens()
	_, err := users.NewDeltaRequestBuilder(dl2, gc.GetAdapter()).GetAsDeltaGetResponse(ctx, nil)
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != 400 || *oe.GetErrorEscaped().GetCode() != "syncStateNotFound" {
		t.Fatalf("expired: %v", err)
	}
}

// reasonOf digs "reason" out of the SDK's untyped @removed value.
func reasonOf(v any) string {
	switch m := v.(type) {
	case map[string]any:
		switch r := m["reason"].(type) {
		case *string:
			return *r
		case string:
			return r
		}
	case *absser.UntypedObject:
		if str, ok := m.GetValue()["reason"].(*absser.UntypedString); ok && str.GetValue() != nil {
			return *str.GetValue()
		}
	}
	return fmt.Sprintf("%T", v)
}

func TestContractSDKTokenErrors(t *testing.T) {
	s := newTestSim(t, 1)
	ctx := context.Background()
	for _, tc := range []struct {
		name, tenant, client, secret, want string
	}{
		{"wrong secret", testTenant, jobApp, "bad", "AADSTS7000215"},
		{"unknown app", testTenant, "12345678-1234-4234-8234-123456789012", jobSecret, "AADSTS700016"},
		{"unknown tenant", "00000000-1111-4222-8333-444444444444", jobApp, jobSecret, "AADSTS90002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gc := sdkClient(t, s, tc.tenant, tc.client, tc.secret)
			_, err := gc.Users().Get(ctx, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %s", err, tc.want)
			}
		})
	}
	// Service principal by appId and its assignments, typed.
	gc := sdkClient(t, s, testTenant, jobApp, jobSecret)
	app := sfApp
	sp, err := gc.ServicePrincipalsWithAppId(&app).Get(ctx, nil)
	if err != nil || *sp.GetAppId() != sfApp {
		t.Fatalf("sp: %v", err)
	}
	must(t, s.AssignAppRole(sfApp, testUserID(0), ""))
	as, err := gc.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).AppRoleAssignedTo().Get(ctx, nil)
	if err != nil || len(as.GetValue()) != 1 || *as.GetValue()[0].GetPrincipalType() != "User" {
		t.Fatalf("assignments: %v", err)
	}
}
