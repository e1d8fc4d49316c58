package simtls

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientTrustsServerAndDefaultClientDoesNot(t *testing.T) {
	a, err := New("sim.test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = a.ServerTLS()
	srv.StartTLS()
	defer srv.Close()

	resp, err := a.Client().Get(srv.URL)
	if err != nil {
		t.Fatalf("trusted client: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body = %q", body)
	}
	if _, err := (&http.Client{}).Get(srv.URL); err == nil {
		t.Fatal("a client without the authority trusted the simulator certificate")
	}
}
