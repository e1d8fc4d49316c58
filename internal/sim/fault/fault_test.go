package fault

import (
	"context"
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

// TestWorkInLatency: with WorkInLatency the handler has run before the
// latency is over (a client that leaves then gets nothing, but what the
// handler did stays done); without it the handler runs after the delay
// (a client that leaves first leaves it undone). Either way the answer is
// the handler's, sent no sooner than the latency.
func TestWorkInLatency(t *testing.T) {
	for _, tc := range []struct {
		name    string
		work    bool
		wantRan bool
	}{
		{"handler at arrival", true, true},
		{"handler after the delay", false, false},
	} {
		t.Run(tc.name+", client leaves", func(t *testing.T) {
			in := New(1)
			in.Set("q", Faults{Latency: time.Hour, WorkInLatency: tc.work})
			ran := make(chan struct{})
			srv := httptest.NewServer(in.Wrap("q", plain, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(ran)
				io.WriteString(w, "made")
			})))
			ctx, cancel := context.WithCancel(context.Background())
			got := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
				resp, err := srv.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				got <- err
			}()
			if tc.wantRan {
				select {
				case <-ran:
				case <-time.After(10 * time.Second): // the latency is an hour
					t.Fatal("the handler had not run 10s after the request arrived")
				}
			} else {
				<-in.Reached("q", 1)
			}
			cancel()
			if err := <-got; err == nil {
				t.Fatal("the client got an answer before the latency was over")
			}
			srv.Close() // waits for the handler
			select {
			case <-ran:
				if !tc.wantRan {
					t.Fatal("the handler ran for a client that left during the delay")
				}
			default:
				if tc.wantRan {
					t.Fatal("the handler did not run")
				}
			}
			if c := in.Counter("q"); c.Bytes != 0 {
				t.Fatalf("%d bytes sent to a client that left", c.Bytes)
			}
		})
		t.Run(tc.name+", answered", func(t *testing.T) {
			in := New(1)
			in.Set("q", Faults{Latency: 30 * time.Millisecond, WorkInLatency: tc.work})
			h := in.Wrap("q", plain, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Made", "yes")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, "made")
			}))
			start := time.Now()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
			if d := time.Since(start); d < 30*time.Millisecond {
				t.Fatalf("answered after %v, want at least the 30ms latency", d)
			}
			if rec.Code != http.StatusCreated || rec.Header().Get("X-Made") != "yes" || rec.Body.String() != "made" {
				t.Fatalf("answer %d %v %q, want the handler's 201 with its header and body", rec.Code, rec.Header(), rec.Body.String())
			}
			if c := in.Counter("q"); c.Bytes != 4 {
				t.Fatalf("bytes = %d, want 4", c.Bytes)
			}
		})
	}
}
