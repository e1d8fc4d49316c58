package bridgee2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/bridge/bridgetest"

	"github.com/idlinkhq/idlink/internal/bridge"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/store/sqlite"
)

const (
	tenant   = "3c1d7e2f-5a6b-4c8d-9e0f-112233445566"
	clientID = "9f8e7d6c-5b4a-4321-8765-0fedcba98765"
	oid      = "aaaaaaaa-1111-4222-8333-444455556666"
	provider = "EntraSSO"
)

func TestSignInThroughBridge(t *testing.T) {
	sim, err := entrasim.New(entrasim.Options{TenantID: tenant, Apps: []entrasim.App{{ClientID: clientID, DisplayName: "Salesforce SSO", Secret: "s3cret"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	if err := sim.AddUser(identity.EntraUser{ObjectID: oid, UPN: "ada@contoso.example", DisplayName: "Ada Lovelace",
		GivenName: "Ada", Surname: "Lovelace", Mail: "ada@contoso.example", AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "idlink.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	// The bridge's clock runs with the simulator's, so both can be advanced.
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	cfg := bridge.Config{
		Issuers: []bridge.IssuerConfig{{
			Provider: provider, Issuer: sim.Issuer(), Audiences: []string{clientID, "api://" + clientID},
			TenantIDs: []string{tenant}, ClientID: clientID,
		}},
		HTTPClient: sim.HTTPClient(),
		Now:        now,
	}
	bridgetest.Shipped(&cfg)
	srv, err := bridge.New(cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	call := func(token string) (int, map[string]any, string) {
		req, _ := http.NewRequest("GET", hs.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp.StatusCode, m, resp.Header.Get("WWW-Authenticate")
	}

	// The Auth. Provider requests the app's own scope: the bridge learns the pairwise sub.
	tok, err := sim.SignIn(clientID, oid, "openid", "profile", "email", "api://"+clientID+"/access")
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := call(tok.AccessToken)
	if code != 200 {
		t.Fatalf("sign-in through the bridge: %d %v", code, body)
	}
	if body["sub"] != tok.Subject || body["oid"] != oid || body["tid"] != tenant || body["preferred_username"] != "ada@contoso.example" {
		t.Errorf("userinfo %v, want sub %s", body, tok.Subject)
	}
	var obs []identity.Observation
	st.ScanObservations(context.Background(), func(o identity.Observation) error { obs = append(obs, o); return nil })
	if len(obs) != 1 || obs[0].Subject != tok.Subject || obs[0].ObjectID != oid || obs[0].Provider != provider || obs[0].Source != identity.SourceBridge {
		t.Fatalf("observation %+v", obs)
	}

	// Only OIDC scopes: Entra issues a Graph token, which the bridge refuses with the fix.
	g, err := sim.SignIn(clientID, oid, "openid", "profile", "email")
	if err != nil {
		t.Fatal(err)
	}
	code, _, ch := call(g.AccessToken)
	if code != 401 || !strings.Contains(ch, "must request the app's own scope") {
		t.Errorf("Graph token: %d %q", code, ch)
	}

	// The ID token has the app's audience too, but it is meant for the client, not
	// for an API: without scp it is refused.
	if code, _, ch := call(tok.IDToken); code != 401 || !strings.Contains(ch, "no scp claim") {
		t.Errorf("ID token: %d %q", code, ch)
	}

	// Key rotation: after the rate-limit window, a token under a new kid is accepted
	// with one JWKS refresh.
	kid, err := sim.RotateKeys()
	if err != nil || kid == "" {
		t.Fatal(kid, err)
	}
	offset.Add(int64(2 * time.Minute))
	sim.Advance(2 * time.Minute)
	tok2, _ := sim.SignIn(clientID, oid, "api://"+clientID+"/access")
	if code, body, ch := call(tok2.AccessToken); code != 200 {
		t.Fatalf("token under rotated key %s: %d %v %q", kid, code, body, ch)
	}

	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("run: %v", err)
	}
	obs = nil
	st.ScanObservations(context.Background(), func(o identity.Observation) error { obs = append(obs, o); return nil })
	if len(obs) != 1 || obs[0].Count != 2 {
		t.Errorf("after shutdown flush: %+v, want one pair seen twice", obs)
	}
}
