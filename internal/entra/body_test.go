package entra

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// A body is read whole, with or without its length; once a kind of request
// has been read, the next body of that size fits the buffer without growing.
func TestBodySizes(t *testing.T) {
	var b bodySizes
	page := bytes.Repeat([]byte("x"), 300_000)
	for i, length := range []int64{-1, -1, int64(len(page))} {
		got, err := b.read("users", bytes.NewReader(page), length)
		if err != nil || !bytes.Equal(got, page) {
			t.Fatalf("read %d: %d bytes, %v", i, len(got), err)
		}
		if i > 0 && cap(got) != len(page)+bytes.MinRead {
			t.Errorf("read %d: capacity %d, want %d (the buffer grew)", i, cap(got), len(page)+bytes.MinRead)
		}
	}
	if got, err := b.read("members", strings.NewReader("{}"), -1); err != nil || string(got) != "{}" || cap(got) > 4096 {
		t.Errorf("another kind: %q (capacity %d), %v", got, cap(got), err)
	}
	if _, err := b.read("users", io.MultiReader(strings.NewReader("x"), errReader{}), -1); err == nil {
		t.Error("a failed read returned no error")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// A failed answer becomes the error the SDK makes of it: the OData error
// with its status and headers, or an abs.ApiError without a body to read.
func TestReadResponseErrors(t *testing.T) {
	c := &client{}
	answer := func(status int, body string) *http.Response {
		u, _ := url.Parse("https://graph.microsoft.com/v1.0/users")
		return &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {"3"}}, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: &http.Request{URL: u}}
	}
	_, err := c.readResponse(answer(403, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != 403 || *oe.GetErrorEscaped().GetCode() != "Authorization_RequestDenied" ||
		oe.ResponseHeaders.Get("Retry-After")[0] != "3" {
		t.Fatalf("403: %#v", err)
	}
	var pe *PermissionError
	if err := c.classify(err, "list users", "User.Read.All"); !errors.As(err, &pe) {
		t.Errorf("a 403 Authorization_RequestDenied classified as %v", err)
	}
	for _, body := range []string{"", "<html>gateway</html>"} {
		_, err := c.readResponse(answer(502, body))
		var ae *abs.ApiError
		if !errors.As(err, &ae) || ae.ResponseStatusCode != 502 {
			t.Errorf("502 with body %q: %#v", body, err)
		}
	}
	if b, err := c.readResponse(answer(200, `{"value":[]}`)); err != nil || string(b) != `{"value":[]}` {
		t.Errorf("200: %q, %v", b, err)
	}
}
