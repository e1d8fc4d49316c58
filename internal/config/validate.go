package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

func oneOf(errs *Errors, key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		*errs = append(*errs, &Error{Key: key, Msg: fmt.Sprintf("%q is not allowed", val), Fix: "use one of " + strings.Join(allowed, ", ")})
	}
}

func httpsURL(errs *Errors, key, val string) {
	if val == "" {
		return
	}
	u, err := url.Parse(val)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		*errs = append(*errs, &Error{Key: key, Msg: fmt.Sprintf("%q is not an absolute URL", val), Fix: "write it like https://host/path"})
		return
	}
	if u.Scheme != "https" && u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" {
		*errs = append(*errs, &Error{Key: key, Msg: fmt.Sprintf("%q is not https", val), Fix: "use https; only loopback simulators may use http"})
	}
}

// validate checks the shape of every key that is set. Whether the sources are
// configured at all is checked by RequireSources, because `idlink migrate`
// and `idlink report` need only the store.
func validate(c *Config) Errors {
	var errs Errors
	for _, section := range []func(*Config, *Errors){validateStore, validateEntra, validateSalesforce, validateProviders,
		validateMatch, validateSafety, validateBridge, validateReport, validateLog} {
		section(c, &errs)
	}
	return errs
}

// validateStore checks the store section.
func validateStore(c *Config, errs *Errors) {
	oneOf(errs, "store.driver", c.Store.Driver, "sqlite", "postgres")
	if c.Store.KeepRunDetails < 0 {
		*errs = append(*errs, &Error{Key: "store.keep_run_details", Msg: fmt.Sprintf("%d is negative", c.Store.KeepRunDetails),
			Fix: "give how many runs keep their assessments and actions (default 20), or 0 to keep every run's"})
	}
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.Path == "" {
			*errs = append(*errs, &Error{Key: "store.path", Msg: "empty", Fix: "give the SQLite file path, e.g. /var/lib/idlink/idlink.db"})
		}
	case "postgres":
		if c.Store.DSN == "" && c.Store.SecretDSN == "" {
			*errs = append(*errs, &Error{Key: "store.dsn", Msg: "no PostgreSQL connection string", Fix: "set store.dsn (without password), store.dsn_file, or IDLINK_STORE_DSN"})
		}
		if c.Store.DSN != "" && dsnHasPassword(c.Store.DSN) {
			*errs = append(*errs, &Error{Key: "store.dsn", Msg: "contains a password, and secrets are never read from the YAML file", Fix: "move the DSN to store.dsn_file or IDLINK_STORE_DSN, or use PGPASSFILE"})
		}
	}
}

// validateEntra checks the entra section.
func validateEntra(c *Config, errs *Errors) {
	e := c.Entra
	oneOf(errs, "entra.credential", e.Credential, "client-secret", "client-certificate", "workload-identity", "managed-identity")
	oneOf(errs, "entra.scope", e.Scope, "app-assignments", "all")
	httpsURL(errs, "entra.authority_host", e.AuthorityHost)
	httpsURL(errs, "entra.graph_base_url", e.GraphBaseURL)
	if s := e.GraphScope; s != "" && (!strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "api://") && !isGUIDScope(s) || !strings.HasSuffix(s, "/.default")) {
		*errs = append(*errs, &Error{Key: "entra.graph_scope", Msg: fmt.Sprintf("%q is not a resource's /.default scope", s), Fix: "use the Graph resource with /.default, e.g. https://graph.microsoft.com/.default (https://graph.microsoft.us/.default in US Government), or remove the key to derive it from graph_base_url"})
	}
	for key, v := range map[string]string{"entra.tenant_id": e.TenantID, "entra.client_id": e.ClientID, "entra.managed_identity_client_id": e.ManagedIdentityClientID} {
		if v != "" {
			if _, ok := identity.NormalizeGUID(v); !ok {
				*errs = append(*errs, &Error{Key: key, Msg: fmt.Sprintf("%q is not a GUID", v), Fix: "copy the ID (a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47) from the app registration's Overview page"})
			}
		}
	}
	if e.ThrottleBudget < 0 {
		*errs = append(*errs, &Error{Key: "entra.throttle_budget", Msg: "negative", Fix: "use a positive duration such as 10m"})
	}
}

// validateSalesforce checks the salesforce section.
func validateSalesforce(c *Config, errs *Errors) {
	s := c.Salesforce
	httpsURL(errs, "salesforce.login_url", s.LoginURL)
	oneOf(errs, "salesforce.auth", s.Auth, "client-credentials", "jwt-bearer")
	oneOf(errs, "salesforce.client_secret_in", s.ClientSecretIn, "body", "basic")
	// Salesforce limits concurrent requests that run 20 s or longer to 25
	// per production org or sandbox (5 in Developer Edition); shorter ones
	// are not limited (salesforce_app_limits_cheatsheet, "Concurrent API
	// Request Limits"). A collection call is short, but a slow org makes it
	// long: the cap keeps idlink within the limit either way.
	if s.WriteConcurrency < 1 || s.WriteConcurrency > 25 {
		*errs = append(*errs, &Error{Key: "salesforce.write_concurrency", Msg: fmt.Sprintf("%d is outside 1..25", s.WriteConcurrency), Fix: "use 1 (one call at a time) up to 25, Salesforce's limit of concurrent long-running requests; 5 at most for a Developer Edition org"})
	}
	if msg, fix := checkAPIVersion(s.APIVersion); msg != "" {
		*errs = append(*errs, &Error{Key: "salesforce.api_version", Msg: msg, Fix: fix})
	}
	if s.QueryBatchSize < 200 || s.QueryBatchSize > 2000 {
		*errs = append(*errs, &Error{Key: "salesforce.query_batch_size", Msg: fmt.Sprintf("%d is outside 200..2000", s.QueryBatchSize), Fix: "Salesforce accepts batch sizes from 200 to 2000; use 2000"})
	}
	if s.IdentityLinksCompleteReadEvery < 0 {
		*errs = append(*errs, &Error{Key: "salesforce.identity_links_complete_read_every", Msg: fmt.Sprintf("%s is negative", time.Duration(s.IdentityLinksCompleteReadEvery)),
			Fix: "give how often a run reads every Identity_Link__c record, e.g. 24h (the default), or 0 to read every record in every run"})
	}
	if s.MaxRetries < 0 {
		*errs = append(*errs, &Error{Key: "salesforce.max_retries", Msg: "negative", Fix: "use 0 or more"})
	}
	for i, code := range s.ExpiredStatusCodes {
		if code < 400 || code > 599 {
			*errs = append(*errs, &Error{Key: fmt.Sprintf("salesforce.expired_status_codes[%d]", i), Msg: fmt.Sprintf("%d is not an HTTP error status", code), Fix: "list statuses between 400 and 599, e.g. 403 or 500"})
		}
	}
}

// validateProviders checks the providers.
func validateProviders(c *Config, errs *Errors) {
	names := map[string]bool{}
	for i, p := range c.Providers {
		key := fmt.Sprintf("providers[%d]", i)
		if p.Name == "" {
			*errs = append(*errs, &Error{Key: key + ".name", Msg: "empty", Fix: "give the Auth. Provider's developer name (URL Suffix) from Salesforce Setup"})
		} else if names[p.Name] {
			*errs = append(*errs, &Error{Key: key + ".name", Msg: fmt.Sprintf("%q is listed twice", p.Name), Fix: "list each Auth. Provider once"})
		}
		names[p.Name] = true
		if id := p.AuthProviderID; id != "" && (!strings.HasPrefix(id, "0SO") || (len(id) != 15 && len(id) != 18)) {
			*errs = append(*errs, &Error{Key: key + ".auth_provider_id", Msg: fmt.Sprintf("%q is not an AuthProvider record id", id), Fix: "copy the 15- or 18-character Id starting with 0SO from the Auth. Provider's page in Setup, or remove the key to look it up by name"})
		}
		httpsURL(errs, key+".issuer", p.Issuer)
		oneOf(errs, key+".strategy", p.Strategy, string(identity.StrategyObserved), string(identity.StrategyObjectID), string(identity.StrategyPairwise))
		if p.Strategy == string(identity.StrategyPairwise) {
			if p.Pairwise == nil || p.Pairwise.SectorIdentifier == "" {
				*errs = append(*errs, &Error{Key: key + ".pairwise.sector_identifier", Msg: "missing for the pairwise strategy", Fix: "set the sector identifier (host of the redirect URIs, or the sector_identifier_uri host) the issuer uses"})
			}
			if p.Pairwise != nil {
				oneOf(errs, key+".pairwise.encoding", p.Pairwise.Encoding, "base64url", "hex", "keycloak-uuid")
			}
		} else if p.Pairwise != nil {
			*errs = append(*errs, &Error{Key: key + ".pairwise", Msg: "set for a provider whose strategy is not pairwise", Fix: "remove it or set strategy: pairwise"})
		}
	}
}

// validateMatch checks the match section.
func validateMatch(c *Config, errs *Errors) {
	for i, r := range c.Match.Rules {
		oneOf(errs, fmt.Sprintf("match.rules[%d]", i), r, "oid", "upn")
	}
	if len(c.Match.Rules) == 0 {
		*errs = append(*errs, &Error{Key: "match.rules", Msg: "empty", Fix: "list at least oid"})
	}
	for i, r := range c.Match.AutoLink {
		oneOf(errs, fmt.Sprintf("match.auto_link[%d]", i), r, "oid", "upn")
		if !slices.Contains(c.Match.Rules, r) {
			*errs = append(*errs, &Error{Key: fmt.Sprintf("match.auto_link[%d]", i), Msg: fmt.Sprintf("%q is not among match.rules", r), Fix: "add it to match.rules or remove it here"})
		}
	}
	for i, rw := range c.Match.UPNSuffixRewrites {
		if !strings.HasPrefix(rw.From, "@") || !strings.HasPrefix(rw.To, "@") {
			*errs = append(*errs, &Error{Key: fmt.Sprintf("match.upn_suffix_rewrites[%d]", i), Msg: "from and to must be suffixes starting with @", Fix: `write it like {from: "@contoso.com", to: "@contoso.com.uat"}`})
		}
	}

	oneOf(errs, "match.orphans", c.Match.Orphans, "all", "provisioned")
	if c.Match.FullPlanEvery < 0 {
		*errs = append(*errs, &Error{Key: "match.full_plan_every", Msg: fmt.Sprintf("%s is negative", time.Duration(c.Match.FullPlanEvery)),
			Fix: "give how often a run plans every identity, e.g. 24h (the default), or 0 to plan every identity in every run"})
	}
}

// validateSafety checks the safety limits.
func validateSafety(c *Config, errs *Errors) {
	if c.Safety.MaxChanges == 0 || c.Safety.MaxChanges < -1 {
		*errs = append(*errs, &Error{Key: "safety.max_changes", Msg: fmt.Sprintf("%d is not allowed", c.Safety.MaxChanges), Fix: "use a count of 1 or more, or -1 to switch the count limit off knowingly"})
	}
	if c.Safety.MaxChangePercent != -1 && (c.Safety.MaxChangePercent <= 0 || c.Safety.MaxChangePercent > 100) {
		*errs = append(*errs, &Error{Key: "safety.max_change_percent", Msg: fmt.Sprintf("%v is outside 0 < p <= 100", c.Safety.MaxChangePercent), Fix: "use a percentage such as 5, or -1 to switch the percentage limit off knowingly"})
	}
	if c.Safety.MaxCreates == 0 || c.Safety.MaxCreates < -1 {
		*errs = append(*errs, &Error{Key: "safety.max_creates", Msg: fmt.Sprintf("%d is not allowed", c.Safety.MaxCreates), Fix: "use a count of 1 or more, or -1 to switch the create limit off knowingly"})
	}
	if c.Safety.MaxCreatePercent != -1 && (c.Safety.MaxCreatePercent <= 0 || c.Safety.MaxCreatePercent > 100) {
		*errs = append(*errs, &Error{Key: "safety.max_create_percent", Msg: fmt.Sprintf("%v is outside 0 < p <= 100", c.Safety.MaxCreatePercent), Fix: "use a percentage such as 20, or -1 to switch it off knowingly"})
	}
	if c.Safety.MaxCoverageDrop != -1 && (c.Safety.MaxCoverageDrop <= 0 || c.Safety.MaxCoverageDrop > 100) {
		*errs = append(*errs, &Error{Key: "safety.max_coverage_drop", Msg: fmt.Sprintf("%v is outside 0 < points <= 100", c.Safety.MaxCoverageDrop), Fix: "use a number of percentage points such as 10, or -1 to switch it off knowingly"})
	}
}

// validateBridge checks the bridge section.
func validateBridge(c *Config, errs *Errors) {
	b := c.Bridge
	oneOf(errs, "bridge.email_policy", b.EmailPolicy, "never", "verified", "always")
	if (b.TLSCertFile == "") != (b.TLSKeyFile == "") {
		*errs = append(*errs, &Error{Key: "bridge.tls_cert_file", Msg: "only one of tls_cert_file and tls_key_file is set", Fix: "set both for TLS, or neither to serve plain HTTP behind a TLS-terminating proxy"})
	}
	if b.Leeway < 0 || b.Leeway.D() > 2*time.Minute {
		*errs = append(*errs, &Error{Key: "bridge.leeway", Msg: fmt.Sprintf("%s is outside 0..2m", b.Leeway.D()), Fix: "keep the clock-skew leeway small, e.g. 60s"})
	}
	for i, is := range b.Issuers {
		key := fmt.Sprintf("bridge.issuers[%d]", i)
		if is.Provider == "" {
			*errs = append(*errs, &Error{Key: key + ".provider", Msg: "empty", Fix: "give the Salesforce Auth. Provider developer name the observations belong to"})
		}
		if is.Issuer == "" {
			*errs = append(*errs, &Error{Key: key + ".issuer", Msg: "empty", Fix: "give the exact iss of the tokens, e.g. https://login.microsoftonline.com/<tenant-id>/v2.0"})
		}
		httpsURL(errs, key+".issuer", is.Issuer)
		if len(is.Audiences) == 0 {
			*errs = append(*errs, &Error{Key: key + ".audiences", Msg: "empty", Fix: "list the app's client id and/or api://<client-id>"})
		}
		if is.TenantClaim != "" {
			oneOf(errs, key+".tenant_claim", is.TenantClaim, "required", "optional")
		}
	}
}

// validateReport checks the report links.
func validateReport(c *Config, errs *Errors) {
	httpsURL(errs, "report.entra_admin_url", c.Report.EntraAdminURL)
	httpsURL(errs, "report.salesforce_url", c.Report.SalesforceURL)
}

// validateLog checks the log section.
func validateLog(c *Config, errs *Errors) {
	oneOf(errs, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(errs, "log.format", c.Log.Format, "auto", "json", "text")
}

// minAPIVersion is the first REST API version with sObject Collections
// upsert by external id, which every link write uses.
const minAPIVersion = 46

// checkAPIVersion explains what is wrong with a Salesforce REST API version.
// Versions are whole numbers written with ".0" (one per release, e.g. 62.0 is
// Winter '25); the list of an org's versions is at /services/data/.
func checkAPIVersion(v string) (msg, fix string) {
	var major, minor int
	n, err := fmt.Sscanf(v, "%d.%d", &major, &minor)
	switch {
	case err != nil || n != 2 || fmt.Sprintf("%d.%d", major, minor) != v:
		return fmt.Sprintf("%q is not an API version", v), `write it like "62.0" (quoted, without a v)`
	case minor != 0:
		return fmt.Sprintf("%q is not an API version: Salesforce numbers them %d.0, %d.0, ...", v, major, major+1), fmt.Sprintf(`use "%d.0"`, major)
	case major < minAPIVersion:
		return fmt.Sprintf("%q is too old: idlink writes links with sObject Collections upsert, which needs %d.0 or later", v, minAPIVersion), `use a current version such as "62.0"`
	}
	return "", ""
}

func dsnHasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return true
		}
	}
	for _, f := range strings.Fields(dsn) {
		if strings.HasPrefix(f, "password=") {
			return true
		}
	}
	return false
}

// RequireSources checks what a reconciliation run needs beyond the shape:
// the tenant, the app registration, the org and at least one provider.
func (c Config) RequireSources() error {
	var errs Errors
	need := func(key, val, fix string) {
		if val == "" {
			errs = append(errs, &Error{Key: key, Msg: "required for a reconciliation run", Fix: fix})
		}
	}
	need("entra.tenant_id", c.Entra.TenantID, "set the Directory (tenant) ID from the app registration's Overview page")
	need("entra.client_id", c.Entra.ClientID, "set the Application (client) ID of idlink's app registration")
	switch c.Entra.Credential {
	case "client-secret":
		if c.Entra.ClientSecret == "" {
			errs = append(errs, &Error{Key: "entra.client_secret_file", Msg: "no client secret", Fix: "set IDLINK_ENTRA_CLIENT_SECRET or entra.client_secret_file"})
		}
	case "client-certificate":
		need("entra.certificate_file", c.Entra.CertificateFile, "point it at the PEM or PFX file of the certificate uploaded to the app registration")
	case "workload-identity":
		need("entra.federated_token_file", c.Entra.FederatedTokenFile, "point it at the projected service account token (AZURE_FEDERATED_TOKEN_FILE on AKS)")
	}
	if c.Entra.Scope == "app-assignments" {
		need("entra.salesforce_app_id", c.Entra.SalesforceAppID, "set the Application ID of the Salesforce enterprise application (Enterprise applications > Salesforce > Properties), or set entra.scope: all")
	}
	need("salesforce.client_id", c.Salesforce.ClientID, "set the connected app's Consumer Key")
	switch c.Salesforce.Auth {
	case "client-credentials":
		if c.Salesforce.ClientSecret == "" {
			errs = append(errs, &Error{Key: "salesforce.client_secret_file", Msg: "no consumer secret", Fix: "set IDLINK_SALESFORCE_CLIENT_SECRET or salesforce.client_secret_file"})
		}
	case "jwt-bearer":
		need("salesforce.username", c.Salesforce.Username, "set the integration user's username")
		need("salesforce.private_key_file", c.Salesforce.PrivateKeyFile, "point it at the private key of the certificate uploaded to the connected app")
	}
	if len(c.Providers) == 0 {
		errs = append(errs, &Error{Key: "providers", Msg: "no OIDC provider configured", Fix: "add the Salesforce Auth. Provider(s) users sign in with (name, issuer, client_id, strategy)"})
	}
	if len(errs) > 0 {
		for _, e := range errs {
			e.File = c.Source
			e.Line = lineOf(c.root, e.Key)
		}
		return errs
	}
	return nil
}

// isGUIDScope reports whether s is "<app id GUID>/.default".
func isGUIDScope(s string) bool {
	g, ok := strings.CutSuffix(s, "/.default")
	if !ok {
		return false
	}
	_, ok = identity.NormalizeGUID(g)
	return ok
}
