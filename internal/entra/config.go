// Package entra is idlink's view of Microsoft Entra ID: it reads users from
// Microsoft Graph (full listing or delta), works out which of them are
// assigned to the Salesforce enterprise application, and streams them page by
// page into a Sink (the store). It keeps msgraph-sdk-go and azidentity behind
// this package: nothing else in idlink imports them.
package entra

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// CredentialKind is how idlink proves its identity to Entra.
type CredentialKind string

const (
	// CredClientSecret uses the app registration's client secret.
	CredClientSecret CredentialKind = "client-secret"
	// CredClientCertificate signs a client assertion with a certificate (PEM or PFX file).
	CredClientCertificate CredentialKind = "client-certificate"
	// CredWorkloadIdentity exchanges a federated token file (Kubernetes service
	// account token) for an Entra token.
	CredWorkloadIdentity CredentialKind = "workload-identity"
	// CredManagedIdentity uses the Azure host's managed identity.
	CredManagedIdentity CredentialKind = "managed-identity"
)

// ScopeMode says which Entra users count as in scope.
type ScopeMode string

const (
	// ScopeAll: every user of the tenant.
	ScopeAll ScopeMode = "all"
	// ScopeAppAssignments: users assigned to the Salesforce enterprise
	// application, directly or through (nested) groups, which is what Entra
	// provisioning sends to Salesforce.
	ScopeAppAssignments ScopeMode = "app-assignments"
)

// DefaultPageSize is the $top of GET /users when PageSize is 0: the largest
// page Graph serves. It has no configuration key; every setting that has one
// is defaulted by internal/config alone, and New refuses it empty.
const DefaultPageSize = 999

// Config is the Entra source's configuration. The CLI maps the YAML file onto
// it; secrets arrive as values read from env or files, never from flags.
type Config struct {
	TenantID string
	ClientID string

	Credential CredentialKind
	// ClientSecret is the secret value for CredClientSecret. It is never logged
	// and never appears in errors.
	ClientSecret string
	// CertificateFile is a PEM (certificate + private key) or PFX file for
	// CredClientCertificate; CertificatePassword decrypts it when needed.
	CertificateFile     string
	CertificatePassword string
	// SendCertificateChain sends x5c (needed for subject name/issuer auth).
	SendCertificateChain bool
	// FederatedTokenFile is the token file for CredWorkloadIdentity (default:
	// the AZURE_FEDERATED_TOKEN_FILE environment variable, as azidentity).
	FederatedTokenFile string
	// ManagedIdentityClientID selects a user-assigned managed identity.
	ManagedIdentityClientID string

	// AuthorityHost (national clouds: https://login.microsoftonline.us/,
	// https://login.chinacloudapi.cn/) and GraphBaseURL (https://graph.microsoft.us,
	// https://microsoftgraph.chinacloudapi.cn), without /v1.0.
	AuthorityHost string
	GraphBaseURL  string
	// GraphScope is the token scope (the Graph resource + "/.default"); not
	// derived from GraphBaseURL here because behind a proxy or gateway the
	// request host is not the resource (internal/config derives the default).
	GraphScope string
	// DisableInstanceDiscovery skips MSAL's instance metadata request; needed
	// for private clouds, Azure Stack and the simulator.
	DisableInstanceDiscovery bool
	// CABundleFile adds PEM certificates to the system roots (TLS-inspecting proxies).
	CABundleFile string

	Scope ScopeMode
	// SalesforceAppID is the appId of the Salesforce enterprise application
	// (or give its service principal object id in SalesforceServicePrincipalID).
	SalesforceAppID              string
	SalesforceServicePrincipalID string
	// NestedGroups also counts members of groups nested in an assigned group.
	// Off by default because Entra does not: an app-role assignment to a group
	// covers its direct members only ("All direct members of the group will be
	// considered assigned", https://learn.microsoft.com/graph/api/group-post-approleassignments),
	// and provisioning follows assignments. Turn it on when the organisation
	// treats nested members as entitled anyway (idlink then reads
	// transitiveMembers).
	NestedGroups bool

	// PageSize for GET /users ($top, 1..999; default 999).
	PageSize int
	// ThrottleBudget is the longest idlink waits in total on Graph's
	// Retry-After during one sync before giving up with ErrThrottled.
	ThrottleBudget time.Duration
}

func (c Config) withDefaults() (Config, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if tid, ok := identity.NormalizeGUID(c.TenantID); ok {
		c.TenantID = tid
	} else if !strings.Contains(c.TenantID, ".") {
		bad("entra.tenant_id %q is neither a GUID nor a domain such as contoso.onmicrosoft.com: copy the Directory (tenant) ID from the app registration's Overview page", c.TenantID)
	}
	if c.Credential != CredManagedIdentity {
		if cid, ok := identity.NormalizeGUID(c.ClientID); ok {
			c.ClientID = cid
		} else {
			bad("entra.client_id %q is not a GUID: copy the Application (client) ID from the app registration's Overview page", c.ClientID)
		}
	}
	switch c.Credential {
	case CredClientSecret:
		if c.ClientSecret == "" {
			bad("entra.credential is client-secret but no secret was given: set it through the environment or a *_FILE, never on the command line")
		}
	case CredClientCertificate:
		if c.CertificateFile == "" {
			bad("entra.credential is client-certificate but entra.certificate_file is empty: give a PEM (certificate and key) or PFX file")
		}
	case CredWorkloadIdentity, CredManagedIdentity:
	case "":
		bad("entra.credential is empty: use client-secret, client-certificate, workload-identity or managed-identity")
	default:
		bad("entra.credential %q is unknown: use client-secret, client-certificate, workload-identity or managed-identity", c.Credential)
	}
	c.GraphBaseURL = strings.TrimSuffix(strings.TrimSuffix(c.GraphBaseURL, "/"), "/v1.0")
	for name, v := range map[string]string{"entra.authority_host": c.AuthorityHost, "entra.graph_base_url": c.GraphBaseURL} {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			bad("%s %q must be an https URL such as https://login.microsoftonline.com/ or https://graph.microsoft.com", name, v)
		}
	}
	if !strings.HasSuffix(c.AuthorityHost, "/") {
		c.AuthorityHost += "/"
	}
	switch c.Scope {
	case "":
		bad("entra.scope is empty: use all or app-assignments")
	case ScopeAll:
	case ScopeAppAssignments:
		if c.SalesforceAppID == "" && c.SalesforceServicePrincipalID == "" {
			bad("entra.scope is app-assignments but neither entra.salesforce_app_id nor entra.salesforce_service_principal_id is set: copy the Application ID of the Salesforce enterprise application")
		}
		for name, v := range map[string]string{"entra.salesforce_app_id": c.SalesforceAppID, "entra.salesforce_service_principal_id": c.SalesforceServicePrincipalID} {
			if v != "" {
				if _, ok := identity.NormalizeGUID(v); !ok {
					bad("%s %q is not a GUID", name, v)
				}
			}
		}
	default:
		bad("entra.scope %q is unknown: use all or app-assignments", c.Scope)
	}
	if c.GraphScope == "" {
		bad("entra.graph_scope is empty: the Graph resource followed by /.default, e.g. https://graph.microsoft.com/.default")
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.PageSize < 1 || c.PageSize > 999 {
		bad("entra.page_size %d is outside 1..999, the range Graph accepts for $top on users", c.PageSize)
	}
	if c.ThrottleBudget <= 0 {
		bad("entra.throttle_budget %s must be positive, e.g. 10m", c.ThrottleBudget)
	}
	return c, errors.Join(errs...)
}

// String describes the configuration without any secret.
func (c Config) String() string {
	return fmt.Sprintf("entra tenant=%s client=%s credential=%s authority=%s graph=%s scope=%s", c.TenantID, c.ClientID, c.Credential, c.AuthorityHost, c.GraphBaseURL, c.Scope)
}
