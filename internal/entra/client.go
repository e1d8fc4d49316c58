package entra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// throttle adds up the Retry-After waits of one sync. It is consulted by the
// SDK's own retry middleware (through ShouldRetry), so there is exactly one
// retry layer: the SDK's; idlink only decides when the total wait is too long.
type throttle struct {
	mu       sync.Mutex
	budget   time.Duration
	waited   time.Duration // what the retry handler was told to wait, summed (the budget counts this)
	retries  int
	exceeded bool
	first    time.Time // the first throttled answer of the sync
}

func (t *throttle) reset() {
	t.mu.Lock()
	t.waited, t.retries, t.exceeded, t.first = 0, 0, false, time.Time{}
	t.mu.Unlock()
}

func (t *throttle) total() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waited
}

// summary says truthfully what throttling cost: retries, the time since the
// first throttled answer, and what Retry-After asked for.
func (t *throttle) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first.IsZero() {
		return "without retries"
	}
	return fmt.Sprintf("after %d retries over %s (Retry-After and back-off asked for %s in all; budget %s)",
		t.retries, time.Since(t.first).Round(10*time.Millisecond), t.waited, t.budget)
}

// shouldRetry is RetryHandlerOptions.ShouldRetry. The delay it adds is the one
// the retry handler is about to sleep: Retry-After in seconds (or as a date),
// else the handler's exponential back-off (3 s, 6 s, 12 s ...).
func (t *throttle) shouldRetry(_ time.Duration, executionCount int, _ *http.Request, resp *http.Response) bool {
	d := time.Duration(3*(1<<executionCount)) * time.Second
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.ParseFloat(ra, 64); err == nil {
			d = time.Duration(secs) * time.Second
		} else if at, err := time.Parse(time.RFC1123, ra); err == nil {
			d = time.Until(at)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first.IsZero() {
		t.first = time.Now()
	}
	if t.waited+d > t.budget {
		t.exceeded = true
		return false
	}
	t.waited += d
	t.retries++
	return true
}

// client is the Graph side of a Source: an SDK request adapter with the
// default Graph middleware, authenticated through azidentity.
type client struct {
	clientID string
	tenantID string
	graph    string // base URL without version
	adapter  *msgraphcore.GraphRequestAdapterBase
	throttle *throttle
	errMap   abs.ErrorMappings
}

func transport(cfg Config) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 8
	if cfg.CABundleFile != "" {
		pem, err := os.ReadFile(cfg.CABundleFile)
		if err != nil {
			return nil, fmt.Errorf("entra: read entra.ca_bundle_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("entra: entra.ca_bundle_file %s holds no PEM certificate", cfg.CABundleFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return t, nil
}

func credential(cfg Config, hc *http.Client) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.AuthorityHost},
		Transport: hc,
	}
	switch cfg.Credential {
	case CredClientSecret:
		return azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: cfg.DisableInstanceDiscovery})
	case CredClientCertificate:
		data, err := os.ReadFile(cfg.CertificateFile)
		if err != nil {
			return nil, fmt.Errorf("entra: read entra.certificate_file: %w", err)
		}
		certs, key, err := azidentity.ParseCertificates(data, []byte(cfg.CertificatePassword))
		if err != nil {
			return nil, fmt.Errorf("entra: entra.certificate_file %s: %v: give a PEM file with the certificate and its unencrypted private key, or a PFX file and its password", cfg.CertificateFile, err)
		}
		return azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: cfg.DisableInstanceDiscovery, SendCertificateChain: cfg.SendCertificateChain})
	case CredWorkloadIdentity:
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: co, ClientID: cfg.ClientID, TenantID: cfg.TenantID, TokenFilePath: cfg.FederatedTokenFile,
			DisableInstanceDiscovery: cfg.DisableInstanceDiscovery})
	case CredManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		if cfg.ManagedIdentityClientID != "" {
			o.ID = azidentity.ClientID(cfg.ManagedIdentityClientID)
		}
		return azidentity.NewManagedIdentityCredential(o)
	}
	return nil, fmt.Errorf("entra: unknown credential kind %q", cfg.Credential)
}

func newClient(cfg Config) (*client, error) {
	tr, err := transport(cfg)
	if err != nil {
		return nil, err
	}
	cred, err := credential(cfg, &http.Client{Transport: tr, Timeout: 60 * time.Second})
	if err != nil {
		return nil, err
	}
	gu, _ := url.Parse(cfg.GraphBaseURL)
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{cfg.GraphScope}, []string{gu.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("entra: auth provider: %w", err)
	}
	th := &throttle{budget: cfg.ThrottleBudget}
	opts := graphClientOptions
	mws := msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)
	for i, m := range mws {
		switch m.(type) {
		case *khttp.RetryHandler, khttp.RetryHandler:
			mws[i] = khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{ShouldRetry: th.shouldRetry})
		}
	}
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(tr, mws...), Timeout: 5 * time.Minute}
	// Graph's error bodies are JSON (the OData error model): the adapter
	// parses them with this factory; pages are decoded by this package.
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, opts, jsonser.NewJsonParseNodeFactory(), nil, hc)
	if err != nil {
		return nil, fmt.Errorf("entra: graph adapter: %w", err)
	}
	adapter.SetBaseUrl(cfg.GraphBaseURL + "/v1.0")
	return &client{
		clientID: cfg.ClientID,
		tenantID: cfg.TenantID,
		graph:    cfg.GraphBaseURL,
		adapter:  adapter,
		throttle: th,
		errMap:   abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue},
	}, nil
}

// get sends one GET through the SDK pipeline (auth, retry, redirect,
// compression, telemetry) and returns the raw JSON body. Pages are decoded by
// this package, not into SDK models: the models drop JSON nulls, so a delta
// update that clears a property (e.g. mail) would be indistinguishable from an
// absent one, and they are expensive: parsing a 999-user page into
// models.UserCollectionResponse took ~45 ms and 20 MB of allocations here,
// against ~3-5 ms and 0.4 MB for decodeUserPage (BenchmarkDecodeUsersPage).
func (c *client) get(ctx context.Context, ri *abs.RequestInformation, what, permission string) ([]byte, error) {
	ri.Headers.TryAdd("Accept", "application/json")
	res, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", c.errMap)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("entra: %s: %w", what, ctx.Err())
		}
		return nil, c.classify(err, what, permission)
	}
	b, _ := res.([]byte)
	if len(b) == 0 {
		return nil, fmt.Errorf("entra: %s: Graph sent an empty body", what)
	}
	return b, nil
}

// graphClientOptions are the SDK core's client options: its telemetry header
// names the Graph SDK whose core pieces idlink uses. idlink builds on
// msgraph-sdk-go-core (request adapter, middleware) and msgraph-sdk-go's
// OData error model, not on the generated request builders and models: those
// are most of a cold build's time and memory, and idlink decodes its own
// pages anyway (see get).
// graphSDKVersion is the msgraph-sdk-go version go.mod requires
// (TestTelemetryNamesTheSDKVersion keeps the two equal).
const graphSDKVersion = "1.89.0"

var graphClientOptions = msgraphcore.GraphClientOptions{GraphServiceLibraryVersion: graphSDKVersion}

// request is a GET of path (below the Graph base URL and version, e.g.
// "/users") with the OData query options.
func (c *client) request(path string, query url.Values) *abs.RequestInformation {
	u, _ := url.Parse(c.graph + "/v1.0" + path) // c.graph was validated as an https URL
	u.RawQuery = query.Encode()
	ri := abs.NewRequestInformation()
	ri.Method = abs.GET
	ri.SetUri(*u)
	return ri
}

// odata builds OData query options: $select (joined with commas) and $top.
func odata(sel []string, top int) url.Values {
	q := url.Values{}
	if len(sel) > 0 {
		q.Set("$select", strings.Join(sel, ","))
	}
	if top > 0 {
		q.Set("$top", strconv.Itoa(top))
	}
	return q
}

// getURL follows an absolute @odata.nextLink or deltaLink.
func (c *client) getURL(ctx context.Context, link, what, permission string) ([]byte, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("entra: %s: bad link from Graph: %w", what, err)
	}
	ri := abs.NewRequestInformation()
	ri.Method = abs.GET
	ri.SetUri(*u)
	return c.get(ctx, ri, what, permission)
}
