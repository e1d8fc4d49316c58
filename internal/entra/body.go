package entra

import (
	"bytes"
	"io"
	"net/http"
	"path"
	"strconv"
	"sync"

	abs "github.com/microsoft/kiota-abstractions-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// bodySizes remembers the largest body read per kind of request (the last
// segment of its path: users, members, delta, ...). The pages of a listing
// are alike, so a buffer of that size takes the next one without growing:
// Graph sends its pages chunked and compressed, with no length ahead, and
// reading a body by growing a buffer from 512 bytes (as the SDK does for a
// []byte answer) took 0.27 s of a scheduled run's 3.84 s of CPU at a million
// users (the assigned groups' member pages), a copy and a clearing of every
// page twice over.
type bodySizes struct {
	mu      sync.Mutex
	largest map[string]int
}

// read reads r whole, expecting about length bytes when length > 0.
func (b *bodySizes) read(kind string, r io.Reader, length int64) ([]byte, error) {
	b.mu.Lock()
	n := b.largest[kind]
	b.mu.Unlock()
	if length > 0 && length < 64<<20 {
		n = int(length)
	}
	// bytes.MinRead spare: the read that finds the end needs room for it,
	// and a buffer with less would grow (copying the page) to give it.
	buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead))
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.largest == nil {
		b.largest = map[string]int{}
	}
	b.largest[kind] = max(b.largest[kind], buf.Len())
	b.mu.Unlock()
	return buf.Bytes(), nil
}

// readResponse takes what the SDK's pipeline (authentication, retries,
// redirects) let through: the body of an answer below 400, or else the
// error the SDK makes of it with idlink's error mapping: the OData error,
// with the status and headers, or an abs.ApiError when the body is not one.
func (c *client) readResponse(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	body, err := c.bodies.read(path.Base(resp.Request.URL.Path), resp.Body, resp.ContentLength)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 400 {
		return body, nil
	}
	headers := abs.NewResponseHeaders()
	for k, vs := range resp.Header {
		for _, v := range vs {
			headers.Add(k, v)
		}
	}
	status := strconv.Itoa(resp.StatusCode)
	apiErr := func(msg string) error {
		return &abs.ApiError{Message: msg + status, ResponseStatusCode: resp.StatusCode, ResponseHeaders: headers}
	}
	if len(body) == 0 {
		return nil, apiErr("The server returned an unexpected status code with no response body: ")
	}
	node, err := jsonser.NewJsonParseNode(body)
	if err != nil {
		return nil, apiErr("The server returned an unexpected status code but the error could not be deserialized: ")
	}
	v, err := node.GetObjectValue(odataerrors.CreateODataErrorFromDiscriminatorValue)
	oe, ok := v.(*odataerrors.ODataError)
	if err != nil || !ok {
		return nil, apiErr("The server returned an unexpected status code but the error could not be deserialized: ")
	}
	oe.SetStatusCode(resp.StatusCode)
	oe.SetResponseHeaders(headers)
	return nil, oe
}
