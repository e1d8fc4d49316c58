// Package config loads idlink's one YAML file, applies IDLINK_* environment
// overrides, reads secrets from the environment or *_file paths, fills
// defaults and validates. Every error names the key, where it came from and
// the fix.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as "90s", "10m" in YAML.
type Duration time.Duration

// D returns the duration as time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &Error{Line: n.Line, Msg: fmt.Sprintf("%q is not a duration", n.Value), Fix: "write it like 30s, 10m or 1h"}
	}
	*d = Duration(v)
	return nil
}

// Secret is a value that never prints. Its String and GoString are redacted so
// that a %v of a config, an error or a log line cannot leak it.
type Secret string

// Reveal returns the secret itself, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// MarshalYAML keeps a dumped config free of secrets.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Config is the whole configuration. configs/idlink.example.yaml documents every key.
type Config struct {
	Store      Store      `yaml:"store"`
	Entra      Entra      `yaml:"entra"`
	Salesforce Salesforce `yaml:"salesforce"`
	Providers  []Provider `yaml:"providers"`
	Match      Match      `yaml:"match"`
	Safety     Safety     `yaml:"safety"`
	Schedule   Schedule   `yaml:"schedule"`
	Bridge     Bridge     `yaml:"bridge"`
	Report     Report     `yaml:"report"`
	Log        Log        `yaml:"log"`

	// Source is the file the config came from ("" for defaults only).
	Source string `yaml:"-"`
	root   *yaml.Node
}

// Store selects and locates the database.
type Store struct {
	Driver string `yaml:"driver"` // sqlite | postgres
	Path   string `yaml:"path"`   // sqlite file
	// DSN for postgres without a password; the password or a whole DSN comes
	// from IDLINK_STORE_DSN or dsn_file.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	// SecretDSN is the DSN read from the environment or dsn_file.
	SecretDSN Secret `yaml:"-" env:"IDLINK_STORE_DSN" file:"DSNFile"`
	// KeepRunDetails is how many runs keep their assessments and actions
	// (one row per identity and one per action each); older runs keep their
	// record and counts. 0 keeps every run's details.
	KeepRunDetails int `yaml:"keep_run_details"`
}

// GraphTokenScope is the scope idlink asks Entra for: graph_scope, or the
// Graph base URL (without /v1.0) + "/.default".
func (e Entra) GraphTokenScope() string {
	if e.GraphScope != "" {
		return e.GraphScope
	}
	return strings.TrimSuffix(strings.TrimSuffix(e.GraphBaseURL, "/"), "/v1.0") + "/.default"
}

// ListenAddr is bridge.listen, or when it is empty the port the bridge's
// transport implies: :8443 with a certificate, :8080 for plain HTTP behind a
// TLS-terminating proxy.
func (b Bridge) ListenAddr() string {
	switch {
	case b.Listen != "":
		return b.Listen
	case b.TLSCertFile != "":
		return ":8443"
	}
	return ":8080"
}

// ConnString returns what the backend opens: the sqlite path or the postgres DSN.
func (s Store) ConnString() string {
	if s.Driver == "sqlite" {
		return s.Path
	}
	if s.SecretDSN != "" {
		return s.SecretDSN.Reveal()
	}
	return s.DSN
}

// Entra is the Microsoft Entra ID tenant and the app registration idlink reads it with.
type Entra struct {
	TenantID   string `yaml:"tenant_id"`
	ClientID   string `yaml:"client_id"`
	Credential string `yaml:"credential"` // client-secret | client-certificate | workload-identity | managed-identity

	ClientSecretFile        string `yaml:"client_secret_file"`
	CertificateFile         string `yaml:"certificate_file"` // PEM or PFX
	CertificatePasswordFile string `yaml:"certificate_password_file"`
	FederatedTokenFile      string `yaml:"federated_token_file"`
	ManagedIdentityClientID string `yaml:"managed_identity_client_id"`

	ClientSecret        Secret `yaml:"-" env:"IDLINK_ENTRA_CLIENT_SECRET" file:"ClientSecretFile"`
	CertificatePassword Secret `yaml:"-" env:"IDLINK_ENTRA_CERTIFICATE_PASSWORD" file:"CertificatePasswordFile"`

	AuthorityHost string `yaml:"authority_host"`
	GraphBaseURL  string `yaml:"graph_base_url"`
	// GraphScope is the token scope: the Graph resource, which is not the
	// request host behind a proxy or gateway. Default: GraphBaseURL +
	// "/.default" (see GraphTokenScope), right for every national cloud.
	GraphScope   string `yaml:"graph_scope"`
	CABundleFile string `yaml:"ca_bundle_file"`
	// DisableInstanceDiscovery skips MSAL's instance metadata request (private
	// clouds, Azure Stack, the simulator).
	DisableInstanceDiscovery bool `yaml:"disable_instance_discovery"`

	Scope           string   `yaml:"scope"`             // app-assignments | all
	SalesforceAppID string   `yaml:"salesforce_app_id"` // appId of the Salesforce enterprise application
	NestedGroups    bool     `yaml:"nested_groups"`     // also count members of nested groups
	ThrottleBudget  Duration `yaml:"throttle_budget"`   // total Retry-After wait before giving up
}

// Salesforce is the org and the connected app idlink signs in with.
type Salesforce struct {
	LoginURL   string `yaml:"login_url"` // https://login.salesforce.com, https://test.salesforce.com or the My Domain URL
	APIVersion string `yaml:"api_version"`
	Auth       string `yaml:"auth"` // client-credentials | jwt-bearer
	ClientID   string `yaml:"client_id"`

	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretIn   string `yaml:"client_secret_in"` // body | basic
	ClientSecret     Secret `yaml:"-" env:"IDLINK_SALESFORCE_CLIENT_SECRET" file:"ClientSecretFile"`

	Username       string `yaml:"username"`         // jwt-bearer: the integration user
	PrivateKeyFile string `yaml:"private_key_file"` // jwt-bearer: PEM key of the connected app certificate
	Audience       string `yaml:"audience"`         // jwt-bearer: login | test | a URL

	ExpiredStatusCodes []int    `yaml:"expired_status_codes"` // besides 401
	RequestTimeout     Duration `yaml:"request_timeout"`
	MaxRetries         int      `yaml:"max_retries"`
	QueryBatchSize     int      `yaml:"query_batch_size"` // 200..2000
	BulkThreshold      int      `yaml:"bulk_threshold"`   // writes at or above this use Bulk API 2.0; 0 = never
	// WriteConcurrency is how many link-write calls run at once (1..25).
	WriteConcurrency int `yaml:"write_concurrency"`
	// IdentityLinksCompleteReadEvery: between complete reads of
	// Identity_Link__c a run reads only the records changed or deleted
	// (Recycle Bin) since the last read; 0 reads every record every run.
	IdentityLinksCompleteReadEvery Duration `yaml:"identity_links_complete_read_every"`
	CABundleFile                   string   `yaml:"ca_bundle_file"`
}

// Provider is one OIDC client that signs users in to Salesforce.
type Provider struct {
	Name string `yaml:"name"` // Auth. Provider developer name (URL Suffix); the friendly name is accepted too
	// AuthProviderID is the AuthProvider record id (0SO...), for an
	// integration user that may not query AuthProvider; optional.
	AuthProviderID string    `yaml:"auth_provider_id"`
	Issuer         string    `yaml:"issuer"` // e.g. https://login.microsoftonline.com/<tenant>/v2.0
	ClientID       string    `yaml:"client_id"`
	Strategy       string    `yaml:"strategy"` // observed | object-id | pairwise
	Pairwise       *Pairwise `yaml:"pairwise"`
	// RevokeAccountLinks lets the job revoke Salesforce's ThirdPartyAccountLink
	// of a misrouted subject of this provider once the correct
	// Identity_Link__c is written, through the package's revocation resource
	// (Revoke_Enabled__c on, Auth_Provider__c naming this provider).
	RevokeAccountLinks bool `yaml:"revoke_account_links"`
}

// Pairwise configures the OIDC Core §8.1 subject recipe.
type Pairwise struct {
	SectorIdentifier string `yaml:"sector_identifier"`
	SaltFile         string `yaml:"salt_file"`
	Encoding         string `yaml:"encoding"` // base64url | hex | keycloak-uuid
	Salt             Secret `yaml:"-" env:"IDLINK_PAIRWISE_SALT" file:"SaltFile"`
}

// Match configures how Entra users pair with Salesforce users.
type Match struct {
	Rules             []string        `yaml:"rules"`     // order of precedence: oid, upn
	AutoLink          []string        `yaml:"auto_link"` // rules that link without approval; default [oid]
	UPNSuffixRewrites []SuffixRewrite `yaml:"upn_suffix_rewrites"`
	// Orphans: which unmatched Salesforce users are reported as orphaned:
	// all (active standard users) or provisioned (those with a
	// FederationIdentifier or a link).
	Orphans string `yaml:"orphans"`
	// FullPlanEvery: a run plans only the identities its changes can affect
	// and keeps the last successful run's decisions for the rest; at least
	// this often it plans every identity. 0 plans every identity every run.
	FullPlanEvery Duration `yaml:"full_plan_every"`
}

// SuffixRewrite maps a UPN suffix to a Salesforce username suffix (sandboxes).
type SuffixRewrite struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// Safety holds back plans that would revoke or re-point too many links.
type Safety struct {
	MaxChanges       int     `yaml:"max_changes"`
	MaxChangePercent float64 `yaml:"max_change_percent"`
	// Mass creates with computed subjects, once links exist (a changed
	// strategy, salt or sector identifier).
	MaxCreates       int     `yaml:"max_creates"`
	MaxCreatePercent float64 `yaml:"max_create_percent"` // of matched identities
	// Percentage points of linked coverage a run may lose against the
	// previous successful run (a renamed provider, a broken scope).
	MaxCoverageDrop float64 `yaml:"max_coverage_drop"`
}

// Schedule configures `idlink schedule`.
type Schedule struct {
	Cron   string `yaml:"cron"`
	Listen string `yaml:"listen"` // /healthz and /metrics
}

// Bridge configures `idlink bridge`, the Auth. Provider's user info endpoint.
type Bridge struct {
	Listen                 string         `yaml:"listen"`
	MetricsListen          string         `yaml:"metrics_listen"` // /healthz and /metrics, apart from the public port
	TLSCertFile            string         `yaml:"tls_cert_file"`  // both or neither: plain HTTP behind a TLS proxy
	TLSKeyFile             string         `yaml:"tls_key_file"`
	Leeway                 Duration       `yaml:"leeway"`
	JWKSRefreshInterval    Duration       `yaml:"jwks_refresh_interval"`
	JWKSMinRefreshInterval Duration       `yaml:"jwks_min_refresh_interval"`
	FlushInterval          Duration       `yaml:"flush_interval"`
	EmailPolicy            string         `yaml:"email_policy"` // never | verified | always
	ExtraClaims            []string       `yaml:"extra_claims"`
	CABundleFile           string         `yaml:"ca_bundle_file"` // extra CAs for discovery and JWKS
	Issuers                []BridgeIssuer `yaml:"issuers"`
}

// BridgeIssuer is one token issuer the bridge trusts.
type BridgeIssuer struct {
	Provider            string   `yaml:"provider"` // Auth. Provider developer name
	Issuer              string   `yaml:"issuer"`
	DiscoveryURL        string   `yaml:"discovery_url"`
	JWKSURL             string   `yaml:"jwks_url"`
	Audiences           []string `yaml:"audiences"`
	TenantIDs           []string `yaml:"tenant_ids"`
	TenantClaim         string   `yaml:"tenant_claim"` // required | optional
	ClientID            string   `yaml:"client_id"`
	AuthorizedParties   []string `yaml:"authorized_parties"`
	Scopes              []string `yaml:"scopes"`
	ObjectIDFromSubject bool     `yaml:"object_id_from_subject"`
}

// Report configures the links of the HTML report to the admin centers.
type Report struct {
	// EntraAdminURL is the Entra admin center (national clouds have their
	// own); each Entra user links to its profile page there.
	EntraAdminURL string `yaml:"entra_admin_url"`
	// SalesforceURL is the org's My Domain URL for links to user records;
	// empty: salesforce.login_url when that is a My Domain (the generic
	// login hosts cannot open a record).
	SalesforceURL string `yaml:"salesforce_url"`
}

// EntraUserURL is the Entra admin center's page of user oid.
func (c Config) EntraUserURL(oid string) string {
	return strings.TrimSuffix(c.Report.EntraAdminURL, "/") + "/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/" + url.PathEscape(oid)
}

// SalesforceRecordBase is the org URL that user records open under:
// report.salesforce_url, else salesforce.login_url when it is a My Domain;
// "" when neither names the org (the generic login hosts cannot open a record).
func (c Config) SalesforceRecordBase() string {
	if c.Report.SalesforceURL != "" {
		return strings.TrimSuffix(c.Report.SalesforceURL, "/")
	}
	u, err := url.Parse(c.Salesforce.LoginURL)
	if err != nil || u.Host == "login.salesforce.com" || u.Host == "test.salesforce.com" {
		return ""
	}
	return strings.TrimSuffix(c.Salesforce.LoginURL, "/")
}

// SalesforceUserURL is the Salesforce record of user id (an Id URL, which
// Salesforce opens in Lightning or Classic); "" when no org URL is known.
func (c Config) SalesforceUserURL(id string) string {
	base := c.SalesforceRecordBase()
	if base == "" {
		return ""
	}
	return base + "/" + url.PathEscape(id)
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // auto | json | text
}

// defaultWriteConcurrency was chosen by measurement (README, Performance):
// the write chain shortens almost in proportion up to 4 calls at once.
const defaultWriteConcurrency = 4

// Defaults returns the configuration used when a key is absent.
func Defaults() Config {
	return Config{
		Store: Store{Driver: "sqlite", Path: "idlink.db", KeepRunDetails: 20},
		Entra: Entra{
			Credential:     "client-secret",
			AuthorityHost:  "https://login.microsoftonline.com/",
			GraphBaseURL:   "https://graph.microsoft.com",
			Scope:          "app-assignments",
			ThrottleBudget: Duration(10 * time.Minute),
		},
		Salesforce: Salesforce{
			LoginURL:           "https://login.salesforce.com",
			APIVersion:         "62.0",
			Auth:               "client-credentials",
			ClientSecretIn:     "body",
			Audience:           "login",
			ExpiredStatusCodes: nil,
			RequestTimeout:     Duration(60 * time.Second),
			MaxRetries:         4,
			QueryBatchSize:     2000,
			WriteConcurrency:   defaultWriteConcurrency,

			IdentityLinksCompleteReadEvery: Duration(24 * time.Hour),
		},
		Match:    Match{Rules: []string{"oid", "upn"}, AutoLink: []string{"oid"}, Orphans: "all", FullPlanEvery: Duration(24 * time.Hour)},
		Safety:   Safety{MaxChanges: 50, MaxChangePercent: 5, MaxCreates: 500, MaxCreatePercent: 20, MaxCoverageDrop: 10},
		Schedule: Schedule{Cron: "*/30 * * * *", Listen: "127.0.0.1:9464"},
		Bridge: Bridge{
			MetricsListen: "127.0.0.1:9465",
			Leeway:        Duration(60 * time.Second), JWKSRefreshInterval: Duration(time.Hour),
			JWKSMinRefreshInterval: Duration(time.Minute), FlushInterval: Duration(30 * time.Second), EmailPolicy: "never",
		},
		Report: Report{EntraAdminURL: "https://entra.microsoft.com"},
		Log:    Log{Level: "info", Format: "auto"},
	}
}

// Error is one problem with the configuration.
type Error struct {
	Key  string // dotted path, e.g. entra.tenant_id
	File string
	Line int
	Msg  string // what is wrong
	Fix  string // what to do
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Errors is every problem found, so an admin fixes them in one go.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Load reads path (when not empty), applies the environment and validates.
// getenv is os.Getenv in production; tests pass their own.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Defaults()
	var root *yaml.Node
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, &Error{File: path, Msg: fmt.Sprintf("cannot read the config file: %v", unwrapPathErr(err)), Fix: "pass an existing file with --config or set IDLINK_CONFIG"}
		}
		cfg.Source = path
		if root, err = decode(path, data, &cfg); err != nil {
			return cfg, err
		}
		cfg.root = root
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	if err := readSecretFiles(&cfg, getenv); err != nil {
		return cfg, err
	}
	if errs := validate(&cfg); len(errs) > 0 {
		for _, e := range errs {
			e.File = path
			e.Line = lineOf(root, e.Key)
		}
		return cfg, errs
	}
	return cfg, nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var yamlLineRe = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)

// decode parses data strictly: unknown keys are errors.
func decode(path string, data []byte, cfg *Config) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: path, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Fix: "check indentation and quoting at that line"}
	}
	if len(data) == 0 || len(root.Content) == 0 {
		return &root, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var errs Errors
			for _, m := range te.Errors {
				errs = append(errs, yamlTypeError(path, m))
			}
			return nil, errs
		}
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = path
			return nil, ce
		}
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return &root, nil
}

func yamlTypeError(path, m string) *Error {
	if sm := yamlLineRe.FindStringSubmatch(m); sm != nil {
		line, _ := strconv.Atoi(sm[1])
		section := sectionName(sm[3])
		key := sm[2]
		if section != "" {
			key = section + "." + key
		}
		return &Error{File: path, Line: line, Key: key, Msg: "unknown key", Fix: "remove it or correct its spelling; configs/idlink.example.yaml lists every key" + secretHint(sm[2])}
	}
	e := &Error{File: path, Msg: strings.TrimPrefix(m, "yaml: ")}
	if i := strings.Index(m, "line "); i >= 0 {
		fmt.Sscanf(m[i:], "line %d", &e.Line)
		if j := strings.Index(m, ": "); j >= 0 {
			e.Msg = m[j+2:]
		}
	}
	e.Fix = "give the value the type the example config shows"
	return e
}

func secretHint(key string) string {
	switch key {
	case "client_secret", "password", "certificate_password", "salt":
		return "; secrets are never read from the YAML file: use the matching *_file key or IDLINK_* environment variable"
	}
	return ""
}

func sectionName(goType string) string {
	switch goType {
	case "Config":
		return ""
	case "Store":
		return "store"
	case "Entra":
		return "entra"
	case "Salesforce":
		return "salesforce"
	case "Provider":
		return "providers[]"
	case "Pairwise":
		return "providers[].pairwise"
	case "Match":
		return "match"
	case "SuffixRewrite":
		return "match.upn_suffix_rewrites[]"
	case "Safety":
		return "safety"
	case "Schedule":
		return "schedule"
	case "Log":
		return "log"
	case "Bridge":
		return "bridge"
	case "BridgeIssuer":
		return "bridge.issuers[]"
	}
	return strings.ToLower(goType)
}

// lineOf finds the line of a dotted key ("entra.tenant_id", "providers[1].name") in the YAML tree.
func lineOf(root *yaml.Node, key string) int {
	if root == nil || key == "" || len(root.Content) == 0 {
		return 0
	}
	n := root.Content[0]
	line := 0
	for _, part := range strings.Split(key, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

// applyEnv overrides scalar keys from IDLINK_<SECTION>_<KEY> variables, e.g.
// IDLINK_STORE_DRIVER or IDLINK_ENTRA_TENANT_ID.
//
// A variable that carries a secret (IDLINK_STORE_DSN for store.dsn, say) is
// read as that secret only, never as the plain key of the same name: the
// secret is allowed to hold a password, the YAML key is not.
func applyEnv(cfg *Config, getenv func(string) string) error {
	var errs Errors
	secrets := secretEnvs(reflect.TypeOf(*cfg), map[string]bool{})
	walk(reflect.ValueOf(cfg).Elem(), "IDLINK", "", func(f reflect.Value, env, key string) {
		v := getenv(env)
		if v == "" || secrets[env] {
			return
		}
		if err := setScalar(f, v); err != nil {
			errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf("environment variable %s: %v", env, err), Fix: "correct or unset " + env})
		}
	})
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// secretEnvs collects the env tags of the Secret fields of t.
func secretEnvs(t reflect.Type, out map[string]bool) map[string]bool {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if e := sf.Tag.Get("env"); e != "" {
			out[e] = true
		}
		ft := sf.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath() {
			secretEnvs(ft, out)
		}
	}
	return out
}

// walk visits settable scalar fields of the sections (not lists) with their env name and key.
func walk(v reflect.Value, envPrefix, keyPrefix string, fn func(f reflect.Value, env, key string)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		env := envPrefix + "_" + strings.ToUpper(tag)
		key := tag
		if keyPrefix != "" {
			key = keyPrefix + "." + tag
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct:
			walk(f, env, key, fn)
		case reflect.String, reflect.Int, reflect.Int64, reflect.Float64, reflect.Bool:
			fn(f, env, key)
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.String {
				fn(f, env, key)
			}
		}
	}
}

func setScalar(f reflect.Value, s string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		f.SetInt(int64(n))
	case reflect.Int64: // Duration
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 30s or 10m)", s)
		}
		f.SetInt(int64(d))
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetFloat(x)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.SetBool(b)
	case reflect.Slice:
		parts := strings.Split(s, ",")
		out := reflect.MakeSlice(f.Type(), 0, len(parts))
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = reflect.Append(out, reflect.ValueOf(p))
			}
		}
		f.Set(out)
	}
	return nil
}

// readSecretFiles fills Secret fields from their env variable or *_file key.
func readSecretFiles(cfg *Config, getenv func(string) string) error {
	var errs Errors
	fill := func(v reflect.Value, keyPrefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if sf.Type != reflect.TypeOf(Secret("")) {
				continue
			}
			env, fileField := sf.Tag.Get("env"), sf.Tag.Get("file")
			if val := getenv(env); val != "" {
				v.Field(i).SetString(val)
				continue
			}
			// IDLINK_..._FILE names a file too (as container platforms mount secrets).
			path := getenv(env + "_FILE")
			key := keyPrefix
			if fileField != "" {
				ff, _ := t.FieldByName(fileField)
				if path == "" {
					path = v.FieldByName(fileField).String()
				}
				key += "." + strings.Split(ff.Tag.Get("yaml"), ",")[0]
			}
			if path == "" {
				continue
			}
			data, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf("cannot read secret file %s: %v", path, unwrapPathErr(err)), Fix: "point it at a readable file or set " + env})
				continue
			}
			v.Field(i).SetString(strings.TrimRight(string(data), "\r\n"))
		}
	}
	fill(reflect.ValueOf(&cfg.Store).Elem(), "store")
	fill(reflect.ValueOf(&cfg.Entra).Elem(), "entra")
	fill(reflect.ValueOf(&cfg.Salesforce).Elem(), "salesforce")
	for i := range cfg.Providers {
		if p := cfg.Providers[i].Pairwise; p != nil {
			fill(reflect.ValueOf(p).Elem(), fmt.Sprintf("providers[%d].pairwise", i))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Dir returns the directory relative paths in the config are read from.
func (c Config) Dir() string {
	if c.Source == "" {
		return "."
	}
	return filepath.Dir(c.Source)
}
