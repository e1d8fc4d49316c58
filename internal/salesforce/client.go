package salesforce

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Client talks to one org. It is safe for concurrent use.
type Client struct {
	cfg    Config
	hc     *http.Client
	jwtKey *rsa.PrivateKey

	mu   sync.Mutex
	sess session // zero until the first sign-in

	apiRequests   atomic.Int64
	tokenRequests atomic.Int64
	usage         atomic.Value // string: last Sforce-Limit-Info
	sleep         func(context.Context, time.Duration) error
}

// New checks cfg and returns a client; it does not sign in yet.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("salesforce config: %w", err)
	}
	c := &Client{cfg: cfg, hc: cfg.HTTPClient, sleep: sleepCtx}
	if cfg.Auth == AuthJWTBearer {
		c.jwtKey, _ = parseRSAKey(cfg.PrivateKeyPEM) // validated in withDefaults
	}
	return c, nil
}

// Stats counts the HTTP requests made: REST API calls and token requests.
type Stats struct {
	APIRequests   int64
	TokenRequests int64
	// APIUsage is the last Sforce-Limit-Info seen, e.g. "api-usage=25/15000".
	APIUsage string
}

// Stats reports the requests made so far.
func (c *Client) Stats() Stats {
	u, _ := c.usage.Load().(string)
	return Stats{APIRequests: c.apiRequests.Load(), TokenRequests: c.tokenRequests.Load(), APIUsage: u}
}

// SignIn gets a token now (useful to fail fast on a bad configuration).
func (c *Client) SignIn(ctx context.Context) error {
	_, err := c.session(ctx, session{})
	return err
}

// session returns the current session, signing in when there is none or
// when stale is the current one (it was just refused). Transient token
// endpoint failures are retried.
func (c *Client) session(ctx context.Context, stale session) (session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess.token != "" && c.sess != stale {
		return c.sess, nil
	}
	var last error
	for attempt := 1; attempt <= c.cfg.Retry.MaxAttempts; attempt++ {
		s, err := c.fetchToken(ctx)
		if err == nil {
			c.sess = s
			return s, nil
		}
		var te *transientError
		if !errors.As(err, &te) {
			return session{}, err
		}
		last = err
		if attempt == c.cfg.Retry.MaxAttempts {
			break
		}
		d := c.backoff(attempt, te.retryAfter)
		c.cfg.Logger.Warn("salesforce token request failed; retrying", "attempt", attempt, "delay", d, "error", err)
		if err := c.sleep(ctx, d); err != nil {
			return session{}, err
		}
	}
	return session{}, fmt.Errorf("salesforce sign-in failed after %d attempts: %w", c.cfg.Retry.MaxAttempts, last)
}

// transientError is a failure worth retrying.
type transientError struct {
	status     int
	retryAfter time.Duration
	err        error
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// backoff is exponential with full jitter; a longer Retry-After wins.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := c.cfg.Retry.BaseDelay << min(attempt-1, 20)
	if d > c.cfg.Retry.MaxDelay || d <= 0 {
		d = c.cfg.Retry.MaxDelay
	}
	d = d/2 + rand.N(d/2+1)
	return max(d, retryAfter)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(min(s, 3600)) * time.Second
	}
	return 0
}

// call is one REST request.
type call struct {
	method string
	path   string // absolute path on the instance, with query
	body   []byte
	header map[string]string
	// date, when set, receives the successful response's Date: the
	// server's clock, which "MUST" be sent (RFC 9110, 6.6.1); left alone
	// when absent or unreadable.
	date *time.Time
}

// do runs a REST call with the rules of issue 5: renew the session once on
// 401 (or a configured "expired" status), retry transient failures with
// backoff, never retry the daily limit. It returns the 2xx body.
func (c *Client) do(ctx context.Context, cl call) ([]byte, error) {
	logPath, _, _ := strings.Cut(cl.path, "?")
	var stale session
	renewed := false
	var last error
	for attempt := 1; ; {
		s, err := c.session(ctx, stale)
		if err != nil {
			return nil, err
		}
		status, hdr, body, err := c.send(ctx, s, cl)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("salesforce %s %s: %w", cl.method, logPath, ctx.Err())
			}
			last = fmt.Errorf("salesforce %s %s: %w", cl.method, logPath, err)
			var certErr *tls.CertificateVerificationError
			if errors.As(err, &certErr) {
				return nil, last // a certificate does not verify on the next try either
			}
			if attempt >= c.cfg.Retry.MaxAttempts {
				return nil, fmt.Errorf("%w (gave up after %d attempts; %w)", last, attempt, identity.ErrRetryLater)
			}
			d := c.backoff(attempt, 0)
			c.cfg.Logger.Warn("salesforce request failed; retrying", "method", cl.method, "path", logPath, "attempt", attempt, "delay", d, "error", err)
			if err := c.sleep(ctx, d); err != nil {
				return nil, err
			}
			attempt++
			continue
		}
		usage := hdr.Get("Sforce-Limit-Info")
		if usage != "" {
			c.usage.Store(usage)
		}
		if status >= 200 && status < 300 {
			if cl.date != nil {
				if t, err := http.ParseTime(hdr.Get("Date")); err == nil {
					*cl.date = t.UTC()
				}
			}
			return body, nil
		}
		apiErr := parseAPIError(cl.method, logPath, status, body)
		apiErr.Usage = usage
		if status == http.StatusForbidden && apiErr.Code == "REQUEST_LIMIT_EXCEEDED" && strings.Contains(apiErr.Message, "TotalRequests") {
			return nil, fmt.Errorf("%w: %s (%s): the org has used its daily allocation of API requests; idlink stops without retrying - run again when the rolling 24-hour usage has dropped, or ask Salesforce for a higher limit", ErrDailyLimit, usage, apiErr.Message)
		}
		if (status == http.StatusUnauthorized || slices.Contains(c.cfg.ExpiredStatuses, status)) && !renewed {
			// Sessions end (timeout, logout, admin revocation); Salesforce
			// says so with 401 INVALID_SESSION_ID. Renew once, then repeat.
			c.cfg.Logger.Info("salesforce session expired; signing in again", "status", status)
			stale, renewed = s, true
			continue
		}
		if !retryable(status, apiErr.Code) {
			return nil, apiErr
		}
		last = apiErr
		if attempt >= c.cfg.Retry.MaxAttempts {
			return nil, fmt.Errorf("%w (gave up after %d attempts; %w)", last, attempt, identity.ErrRetryLater)
		}
		d := c.backoff(attempt, retryAfter(hdr))
		c.cfg.Logger.Warn("salesforce request failed; retrying", "method", cl.method, "path", logPath, "status", status, "code", apiErr.Code, "attempt", attempt, "delay", d)
		if err := c.sleep(ctx, d); err != nil {
			return nil, err
		}
		attempt++
	}
}

// retryable: server errors, throttling (429, and the concurrent-request
// flavour of 403 REQUEST_LIMIT_EXCEEDED), and row locks.
func retryable(status int, code string) bool {
	switch {
	case code == "UNABLE_TO_LOCK_ROW", code == "SERVER_UNAVAILABLE":
		return true
	case status == http.StatusForbidden && code == "REQUEST_LIMIT_EXCEEDED":
		return true // ConcurrentPerOrgLongTxn and similar: not the daily limit (handled before)
	case status == http.StatusTooManyRequests, status >= 500:
		return true
	}
	return false
}

// send makes one HTTP request with the per-request timeout and reads the
// whole body (one page or one collection answer: bounded by Salesforce).
func (c *Client) send(ctx context.Context, s session, cl call) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if cl.body != nil {
		rd = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, s.instanceURL+cl.path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range cl.header {
		req.Header.Set(k, v)
	}
	c.apiRequests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, scrubURLError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

func parseAPIError(method, path string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: status}
	var list []struct {
		Message   string   `json:"message"`
		ErrorCode string   `json:"errorCode"`
		Fields    []string `json:"fields"`
	}
	if json.Unmarshal(body, &list) == nil && len(list) > 0 {
		e.Code, e.Message, e.Fields = list[0].ErrorCode, list[0].Message, list[0].Fields
		return e
	}
	// Apex REST resources answer with their own body; idlink's package uses
	// {"error": code, "message": text}.
	var obj struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &obj) == nil && obj.Error != "" {
		e.Code, e.Message = obj.Error, obj.Message
		return e
	}
	e.Message = fmt.Sprintf("%.200s", bytes.TrimSpace(body))
	return e
}

func (c *Client) dataPath(rest string) string {
	return "/services/data/v" + c.cfg.APIVersion + rest
}
