package entra

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/idlinkhq/idlink/internal/identity"
)

// ErrThrottled is wrapped by every error that ends a sync because Graph kept
// throttling past the budget; the run is safe to retry later.
var ErrThrottled = fmt.Errorf("Microsoft Graph is throttling idlink: %w", identity.ErrRetryLater)

// errResync is internal: the deltaLink is expired or rejected.
var errResync = errors.New("deltaLink expired or rejected")

// CredentialError is a failed sign-in of idlink's app registration. Its
// message names the AADSTS code, what it means and what to change; it never
// contains the secret.
type CredentialError struct {
	ClientID string
	TenantID string
	Code     int    // AADSTS number, 0 when Entra gave none
	Meaning  string // what went wrong
	Fix      string // what to change
	Err      error  // the azidentity error (its text may be long; it holds no secret)
}

func (e *CredentialError) Error() string {
	code := "sign-in failed"
	if e.Code != 0 {
		code = "AADSTS" + strconv.Itoa(e.Code)
	}
	return fmt.Sprintf("entra: sign-in of app %s to tenant %s failed: %s: %s. Fix: %s", e.ClientID, e.TenantID, code, e.Meaning, e.Fix)
}

func (e *CredentialError) Unwrap() error { return e.Err }

// PermissionError is Graph's 403 Authorization_RequestDenied for one call.
type PermissionError struct {
	What       string // "list users"
	Permission string // "User.Read.All"
	ClientID   string
	Err        error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("entra: Microsoft Graph refused to %s (403 Authorization_RequestDenied: insufficient privileges). "+
		"Fix: the app registration %s needs the Microsoft Graph application permission %s with admin consent: "+
		"in the Entra admin center open App registrations > this app > API permissions, add Microsoft Graph > Application permissions > %s, "+
		"then press \"Grant admin consent\"", e.What, e.ClientID, e.Permission, e.Permission)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// GraphError is any other Graph error answer.
type GraphError struct {
	What    string
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *GraphError) Error() string {
	return fmt.Sprintf("entra: %s: Microsoft Graph answered %d %s: %s", e.What, e.Status, e.Code, e.Message)
}

func (e *GraphError) Unwrap() error { return e.Err }

var aadstsRe = regexp.MustCompile(`AADSTS(\d{5,8})`)

// aadstsHelp explains the sign-in errors an admin meets when setting idlink up
// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
var aadstsHelp = map[int][2]string{
	7000215: {"the client secret is wrong (often the secret's ID was copied instead of its Value, or the secret was rotated)",
		"create a new client secret under App registrations > this app > Certificates & secrets and give idlink its Value"},
	7000222: {"the client secret has expired", "create a new client secret under App registrations > this app > Certificates & secrets and give idlink its Value"},
	7000218: {"no client secret or certificate assertion was sent", "configure entra.credential and its secret or certificate"},
	90002: {"the tenant does not exist in this cloud",
		"set entra.tenant_id to the Directory (tenant) ID shown on the app registration's Overview page, and check entra.authority_host matches the tenant's cloud"},
	700016: {"the application (client) ID is not registered in this tenant",
		"set entra.client_id to the Application (client) ID of an app registration in this tenant (or consent to the app in this tenant)"},
	700027: {"the certificate that signed the client assertion is not registered on the app, or the signature is invalid",
		"upload the certificate's public part under App registrations > this app > Certificates & secrets, and point entra.certificate_file at the matching private key"},
	1002012: {"the token scope is not valid for the client credentials flow", "use the Graph base URL's /.default scope (check entra.graph_base_url)"},
	500011:  {"the token scope names a resource this tenant does not know", "check entra.graph_scope (default: graph_base_url + /.default): behind a proxy or gateway set it to the Graph resource, e.g. https://graph.microsoft.com/.default"},
	70021: {"no federated identity credential matches the workload's token",
		"add a federated credential on the app registration whose issuer, subject and audience match the service account token"},
	700213: {"no federated identity credential matches the workload's token subject",
		"add a federated credential on the app registration whose subject matches the service account"},
	7000229: {"the app has no service principal in this tenant", "grant admin consent to the app in this tenant (Enterprise applications)"},
}

// credentialError turns an azidentity failure into a CredentialError.
func credentialError(err error) *CredentialError {
	var afe *azidentity.AuthenticationFailedError
	text := err.Error()
	if errors.As(err, &afe) && afe.RawResponse != nil {
		if body, rerr := runtime.Payload(afe.RawResponse); rerr == nil {
			text += string(body)
		}
	}
	var cue interface{ CredentialUnavailable() }
	code := 0
	if m := aadstsRe.FindStringSubmatch(text); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	if h, ok := aadstsHelp[code]; ok {
		return &CredentialError{Code: code, Meaning: h[0], Fix: h[1], Err: err}
	}
	if code != 0 {
		return &CredentialError{Code: code, Meaning: "Entra refused idlink's sign-in", Fix: "look the code up at https://login.microsoftonline.com/error?code=" + strconv.Itoa(code), Err: err}
	}
	if errors.As(err, &cue) {
		return &CredentialError{Meaning: "the configured credential is not available on this host (" + firstLine(text) + ")", Fix: "check entra.credential and its settings", Err: err}
	}
	return &CredentialError{Meaning: "could not get a token from " + "Entra (" + firstLine(text) + ")", Fix: "check entra.authority_host, entra.tenant_id, the network path and entra.ca_bundle_file", Err: err}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// isAuthError reports whether err came from getting a token rather than from Graph.
func isAuthError(err error) bool {
	var afe *azidentity.AuthenticationFailedError
	var cue interface{ CredentialUnavailable() }
	if errors.As(err, &afe) || errors.As(err, &cue) {
		return true
	}
	return aadstsRe.MatchString(err.Error())
}

// classify maps an error from one Graph call.
func (c *client) classify(err error, what, permission string) error {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		code, msg := "", ""
		if e := oe.GetErrorEscaped(); e != nil {
			if e.GetCode() != nil {
				code = *e.GetCode()
			}
			if e.GetMessage() != nil {
				msg = *e.GetMessage()
			}
		}
		status := oe.ResponseStatusCode
		switch {
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
			return fmt.Errorf("entra: %s: Graph answered %d %s %s; the run is safe to retry later: %w",
				what, status, code, c.throttle.summary(), ErrThrottled)
		case status == http.StatusForbidden && code == "Authorization_RequestDenied":
			return &PermissionError{What: what, Permission: permission, ClientID: c.clientID, Err: err}
		case (status == http.StatusBadRequest && code == "syncStateNotFound") || status == http.StatusGone:
			return fmt.Errorf("entra: %s: %d %s: %s: %w", what, status, code, msg, errResync)
		}
		return &GraphError{What: what, Status: status, Code: code, Message: msg, Err: err}
	}
	if isAuthError(err) {
		ce := credentialError(err)
		ce.ClientID, ce.TenantID = c.clientID, c.tenantID
		return ce
	}
	return fmt.Errorf("entra: %s: %w", what, err)
}
