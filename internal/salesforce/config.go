// Package salesforce is idlink's view of a Salesforce org: it signs in with
// the OAuth 2.0 client credentials or JWT bearer flow, streams User,
// ThirdPartyAccountLink and Identity_Link__c records page by page into the
// store, and upserts Identity_Link__c records by their external id
// Subject__c through sObject Collections.
//
// Every call takes a context and has its own timeout; transient failures
// (5xx, 429, UNABLE_TO_LOCK_ROW, dropped connections) are retried with
// backoff and jitter; an expired session is renewed once; the daily API
// limit ends the run with ErrDailyLimit. See README.md for why the client is
// net/http and x/oauth2 rather than go-salesforce.
package salesforce

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// AuthKind is the OAuth 2.0 flow the job signs in with.
type AuthKind string

const (
	// AuthClientCredentials: consumer key and secret of a connected app whose
	// Client Credentials Flow has a "Run As" integration user.
	AuthClientCredentials AuthKind = "client-credentials"
	// AuthJWTBearer: a JWT signed with the private key of the certificate
	// uploaded to the connected app, naming the integration user.
	AuthJWTBearer AuthKind = "jwt-bearer"
)

// Audiences of the JWT bearer flow.
const (
	AudienceLogin = "https://login.salesforce.com"
	AudienceTest  = "https://test.salesforce.com"
)

// RetryPolicy bounds retries of transient failures.
type RetryPolicy struct {
	// MaxAttempts per call, the first included (1 disables retries).
	MaxAttempts int
	// BaseDelay is the first backoff (default 500ms); each retry doubles it,
	// with full jitter, up to MaxDelay (default 30s). A Retry-After header
	// longer than the backoff wins.
	BaseDelay, MaxDelay time.Duration
}

// Config is everything the Salesforce side needs. The config loader maps
// YAML and env onto it; secrets arrive here already read from env or files.
type Config struct {
	// LoginURL is where tokens are requested: the org's My Domain URL
	// (https://acme.my.salesforce.com; required for client credentials),
	// or https://login.salesforce.com / https://test.salesforce.com.
	LoginURL string
	// Auth selects the flow.
	Auth AuthKind
	// ClientID is the connected app's consumer key.
	ClientID string
	// ClientSecret is the consumer secret (client credentials only). Never logged.
	ClientSecret string
	// SecretInHeader sends client id and secret as an HTTP Basic header
	// instead of in the form body (client credentials only).
	SecretInHeader bool
	// Username is the integration user the JWT names as sub (JWT bearer only).
	Username string
	// PrivateKeyPEM is the RSA private key matching the certificate uploaded
	// to the connected app (JWT bearer only). Never logged.
	PrivateKeyPEM []byte
	// Audience is the JWT aud: "login" (the production login host, or the
	// test host when LoginURL is a sandbox), "test" or a URL (an Experience
	// Cloud site).
	Audience string
	// APIVersion is the REST API version, e.g. "62.0". Sets the version of
	// every query and collection URI.
	APIVersion string
	// RequestTimeout bounds each HTTP request.
	RequestTimeout time.Duration
	// Retry bounds retries of transient failures.
	Retry RetryPolicy
	// ExpiredStatuses are HTTP statuses that, besides 401, mean "the session
	// expired" (some gateways answer 403 or 500): the client gets a new token
	// once and repeats the call.
	ExpiredStatuses []int
	// Providers are the configured Auth. Provider names (developer name, or
	// the friendly name) whose ThirdPartyAccountLink rows are read.
	Providers []string
	// StoreID is the idlink database's id, written to Identity_Link__c.Store_Id__c.
	StoreID string
	// ProviderIDs optionally give a provider's AuthProvider record id
	// (0SO...), by configured name: then it is not looked up, which needs
	// no access to AuthProvider.
	ProviderIDs map[string]string
	// QueryBatchSize is the preferred page size, 200 to 2,000.
	QueryBatchSize int
	// CollectionSize is the number of records per sObject Collections call,
	// 1 to 200 (default 200).
	CollectionSize int
	// BulkThreshold sends writes of at least this many records through one
	// Bulk API 2.0 ingest job instead of sObject Collections calls (0, the
	// default, never uses Bulk API).
	BulkThreshold int
	// BulkPollInterval is the first wait between job status checks (default
	// 2s, growing by half each time up to 30s); BulkTimeout ends the wait
	// (default 30 minutes) and aborts the job.
	BulkPollInterval, BulkTimeout time.Duration
	// LinkPartitionSize is the LIMIT of each ThirdPartyAccountLink partition
	// query, 1 to 2,500 (default 2,000): Salesforce stops a
	// ThirdPartyAccountLink query chain at 2,500 rows.
	LinkPartitionSize int
	// IncrementalOverlap re-reads users modified this long before the stored
	// SystemModstamp cursor (default 1 minute) so that records committed late
	// with an earlier stamp are not missed. Re-reading is harmless: upserts.
	IncrementalOverlap time.Duration
	// RemoteLinksCompleteEvery is how long incremental reads of
	// Identity_Link__c (changes and Recycle Bin deletions since a cursor)
	// may go on before a read of every record again, which also finds the
	// records removed past the Recycle Bin. 0 reads every record each time.
	RemoteLinksCompleteEvery time.Duration
	// HTTPClient carries the transport (proxies, CA bundle). Its Timeout
	// should be zero: RequestTimeout applies per request. Default: a clone of
	// http.DefaultTransport.
	HTTPClient *http.Client
	// Logger receives retries and refreshes (never tokens or secrets).
	Logger *slog.Logger
}

var apiVersionRE = regexp.MustCompile(`^[0-9]{2,3}\.0$`)

// withDefaults fills defaults and validates; errors name the key and the fix.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	u, err := url.Parse(c.LoginURL)
	switch {
	case c.LoginURL == "":
		bad("salesforce login URL is empty: set it to the org's My Domain URL, e.g. https://acme.my.salesforce.com")
	case err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		bad("salesforce login URL %q must be an https URL without a path, e.g. https://acme.my.salesforce.com", c.LoginURL)
	}
	c.LoginURL = strings.TrimSuffix(c.LoginURL, "/")
	if c.ClientID == "" {
		bad("salesforce client id is empty: copy the Consumer Key of the connected app (App Manager > the app > View > Manage Consumer Details)")
	}
	switch c.Auth {
	case AuthClientCredentials:
		if c.ClientSecret == "" {
			bad("salesforce client secret is empty: set it from the connected app's Consumer Secret (through the environment or a file, never in the YAML)")
		}
		// The My Domain URL is the documented endpoint for this flow; the
		// generic login hosts answer "request not supported on this domain",
		// which AuthError explains. Not refused here: the seed articles
		// disagree, and Salesforce's answer is the authority.
	case AuthJWTBearer:
		if c.Username == "" {
			bad("salesforce username is empty: the JWT bearer flow names the integration user (its Salesforce username) as sub")
		}
		if len(c.PrivateKeyPEM) == 0 {
			bad("salesforce private key is empty: give the PEM file of the key whose certificate is uploaded to the connected app (Use digital signatures)")
		} else if _, err := parseRSAKey(c.PrivateKeyPEM); err != nil {
			bad("salesforce private key: %v", err)
		}
		switch c.Audience {
		case "":
			bad("salesforce audience is empty: login, test or an https URL")
		case "login":
			c.Audience = AudienceLogin
			// A sandbox login host implies the test audience.
			if err == nil && (u.Host == "test.salesforce.com" || strings.HasSuffix(u.Host, ".sandbox.my.salesforce.com")) {
				c.Audience = AudienceTest
			}
		case "test":
			c.Audience = AudienceTest
		default:
			if a, err := url.Parse(c.Audience); err != nil || a.Scheme != "https" || a.Host == "" {
				bad("salesforce audience %q must be login, test or an https URL", c.Audience)
			}
		}
	case "":
		bad("salesforce auth is empty: choose client-credentials or jwt-bearer")
	default:
		bad("salesforce auth %q is unknown: choose client-credentials or jwt-bearer", c.Auth)
	}
	// The version goes into every request path; internal/config owns the
	// rule that explains a wrong one (which versions, why), this only keeps
	// the path well formed.
	if !apiVersionRE.MatchString(c.APIVersion) {
		bad("salesforce API version %q must look like 62.0", c.APIVersion)
	}
	if c.RequestTimeout <= 0 {
		bad("salesforce request timeout %s must be positive", c.RequestTimeout)
	}
	if c.Retry.MaxAttempts <= 0 {
		bad("salesforce retry attempts %d must be 1 or more", c.Retry.MaxAttempts)
	}
	if c.Retry.BaseDelay <= 0 {
		c.Retry.BaseDelay = 500 * time.Millisecond
	}
	if c.Retry.MaxDelay <= 0 {
		c.Retry.MaxDelay = 30 * time.Second
	}
	for _, s := range c.ExpiredStatuses {
		if s < 400 || s > 599 {
			bad("salesforce expired status %d must be a 4xx or 5xx HTTP status", s)
		}
	}
	for _, p := range c.Providers {
		if p == "" || strings.ContainsAny(p, "'\\") {
			bad("salesforce provider %q must be an Auth. Provider's URL suffix / developer name (letters, digits, underscores)", p)
		}
	}
	switch {
	case c.QueryBatchSize < 200 || c.QueryBatchSize > 2000:
		bad("salesforce query batch size %d must be between 200 and 2000", c.QueryBatchSize)
	}
	switch {
	case c.CollectionSize == 0:
		c.CollectionSize = 200
	case c.CollectionSize < 1 || c.CollectionSize > 200:
		bad("salesforce collection size %d must be between 1 and 200 (the sObject Collections limit)", c.CollectionSize)
	}
	switch {
	case c.LinkPartitionSize == 0:
		c.LinkPartitionSize = 2000
	case c.LinkPartitionSize < 1 || c.LinkPartitionSize > linkChainCap:
		bad("salesforce link partition size %d must be between 1 and 2500", c.LinkPartitionSize)
	}
	if c.BulkThreshold < 0 {
		bad("salesforce bulk threshold %d must be 0 (off) or a record count", c.BulkThreshold)
	}
	if c.BulkPollInterval <= 0 {
		c.BulkPollInterval = 2 * time.Second
	}
	if c.BulkTimeout <= 0 {
		c.BulkTimeout = 30 * time.Minute
	}
	if c.IncrementalOverlap == 0 {
		c.IncrementalOverlap = time.Minute
	}
	if c.IncrementalOverlap < 0 {
		c.IncrementalOverlap = 0
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, errors.Join(errs...)
}

func parseRSAKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found: the file must hold a PEM private key (-----BEGIN PRIVATE KEY----- or BEGIN RSA PRIVATE KEY)")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an unencrypted PKCS#1 or PKCS#8 private key (convert with: openssl pkcs8 -topk8 -nocrypt): %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is a %T; Salesforce's JWT bearer flow needs an RSA key (RS256)", k)
	}
	return rk, nil
}
