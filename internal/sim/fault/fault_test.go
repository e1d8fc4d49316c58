package fault

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func plain(w http.ResponseWriter, status int, _ time.Duration) {
	w.WriteHeader(status)
	io.WriteString(w, "fault")
}

func TestCountedFaultsFireThenStop(t *testing.T) {
	in := New(1)
	h := in.Wrap("users", plain, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	in.Set("users", Faults{ThrottleNext: 2, RetryAfter: 1500 * time.Millisecond, UnavailableNext: 1, ResetNext: 1})

	var got []string
	for range 5 {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			got = append(got, "reset")
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		s := resp.Status[:3]
		if resp.StatusCode == 429 {
			if ra := resp.Header.Get("Retry-After"); ra != "2" {
				t.Errorf("Retry-After = %q, want 2 (rounded up)", ra)
			}
		}
		got = append(got, s)
	}
	want := []string{"reset", "429", "429", "503", "200"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("responses = %v, want %v", got, want)
		}
	}
	c := in.Counter("users")
	if c.Requests != 5 || c.Throttled != 2 || c.Unavailable != 1 || c.Resets != 1 {
		t.Fatalf("counters = %+v", c)
	}
	if c.Bytes != int64(len("fault")*3+len("hello")) {
		t.Fatalf("bytes = %d", c.Bytes)
	}
}

func TestLatencyDelaysResponse(t *testing.T) {
	in := New(1)
	in.Set("q", Faults{Latency: 30 * time.Millisecond})
	h := in.Wrap("q", plain, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("served after %v, want at least the 30ms latency", d)
	}
}

func TestRatesFollowSeed(t *testing.T) {
	count := func() int64 {
		in := New(42)
		in.Set("x", Faults{ThrottleRate: 0.3})
		h := in.Wrap("x", plain, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		for range 1000 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}
		return in.Counter("x").Throttled
	}
	a, b := count(), count()
	if a != b {
		t.Fatalf("same seed gave %d and %d throttles", a, b)
	}
	if a < 200 || a > 400 {
		t.Fatalf("throttled %d of 1000 at rate 0.3", a)
	}
}

func TestResetWithoutHijackerAborts(t *testing.T) {
	in := New(1)
	in.Set("x", Faults{ResetNext: 1})
	h := in.Wrap("x", plain, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer func() {
		if r := recover(); r == nil || !errors.Is(r.(error), http.ErrAbortHandler) {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", r)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}
