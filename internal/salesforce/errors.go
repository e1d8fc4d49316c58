package salesforce

import (
	"errors"
	"fmt"
	"strings"
)

// ErrDailyLimit is matched (errors.Is) by the error of any call refused
// because the org used up its daily API requests (403 REQUEST_LIMIT_EXCEEDED,
// "TotalRequests Limit exceeded."). It is never retried: the run should stop
// with the "throttled, safe to retry later" exit code.
var ErrDailyLimit = errors.New("salesforce daily API request limit exceeded")

// ErrTruncated is matched by the error of a ThirdPartyAccountLink read that
// may have lost rows to Salesforce's 2,500-row cap. A truncated read is never
// returned as a short list.
var ErrTruncated = errors.New("salesforce ThirdPartyAccountLink read may be truncated")

// APIError is an error answer of the REST API: Salesforce's
// [{"message": ..., "errorCode": ...}] body plus the HTTP status.
type APIError struct {
	Method, Path string // the request (path without query: SOQL and tokens stay out of logs)
	Status       int
	Code         string // errorCode, e.g. INVALID_FIELD, MALFORMED_QUERY
	Message      string
	Fields       []string
	// Usage is the Sforce-Limit-Info value of the answer (e.g. api-usage=25/15000).
	Usage string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("salesforce %s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if h := apiHint(e); h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

func apiHint(e *APIError) string {
	switch e.Code {
	case "INVALID_TYPE":
		if strings.Contains(e.Message, "__c") || strings.Contains(e.Path, "Identity_Link__c") {
			return "deploy the idlink package in configs/salesforce (custom object Identity_Link__c) and give the integration user the Idlink_Integration permission set"
		}
		return "the integration user cannot see this object: check its profile and permission sets"
	case "INVALID_FIELD":
		return "deploy the current idlink package in configs/salesforce and check field-level security for the integration user"
	case "API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED":
		return "the org's edition or the user's profile does not allow API access: enable API Enabled on the integration user's profile"
	case "INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY":
		return "the integration user lacks a permission: assign the Idlink_Integration permission set and Manage Users (needed to read ThirdPartyAccountLink)"
	case "INVALID_SESSION_ID":
		return "a new token was rejected too: check the connected app's session and IP policies (Manage > Edit Policies)"
	}
	return ""
}

// AuthError is a refusal of the token endpoint, with the connected app
// setting to check. It never contains the secret, the key or the assertion.
type AuthError struct {
	Flow        AuthKind
	Status      int
	Code        string // OAuth error, e.g. invalid_client
	Description string // error_description, e.g. "invalid client credentials"
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("salesforce sign-in (%s) refused: HTTP %d %s %q: %s", e.Flow, e.Status, e.Code, e.Description, e.Hint())
}

// Hint names the setting to check for this refusal.
func (e *AuthError) Hint() string {
	d := strings.ToLower(e.Description)
	switch {
	case e.Code == "invalid_client_id":
		return "Salesforce does not know this client id: use the connected app's Consumer Key (App Manager > the app > View > Manage Consumer Details) of this org; a new app can take up to 10 minutes to become usable"
	case e.Code == "invalid_client" && e.Flow == AuthClientCredentials:
		return "the consumer secret does not match: copy the Consumer Secret again (it changes when rotated), and check whether the secret goes in the body or in a Basic header (salesforce.client_secret_in: body or basic)"
	case e.Code == "invalid_client":
		return "the connected app rejects this client: check the Consumer Key and that Use digital signatures holds the certificate of the configured private key"
	case strings.Contains(d, "no client credentials user enabled"):
		return "the connected app has no Run As user: App Manager > the app > Manage > Edit Policies > Client Credentials Flow > Run As: choose the API-only integration user (and tick Enable Client Credentials Flow in the app's OAuth settings)"
	case strings.Contains(d, "request not supported on this domain"):
		return "the client credentials flow works only on the org's My Domain URL: set the login URL to https://<domain>.my.salesforce.com"
	case strings.Contains(d, "hasn't approved this consumer") || strings.Contains(d, "not approved"):
		return "the user is not pre-authorized for the app: Manage > Edit Policies > Permitted Users: Admin approved users are pre-authorized, then add the integration user's profile or a permission set to the app"
	case strings.Contains(d, "audience"):
		return "the JWT audience is wrong: use login (https://login.salesforce.com) for production and test (https://test.salesforce.com) for sandboxes"
	case strings.Contains(d, "invalid assertion") || strings.Contains(d, "invalid_assertion"):
		return "Salesforce could not verify the JWT: the certificate uploaded to the connected app must match the private key, the username must be the integration user's exact Salesforce username, and this machine's clock must be right"
	case strings.Contains(d, "inactive") || strings.Contains(d, "not active"):
		return "the integration (Run As) user is deactivated: reactivate it or choose another"
	case e.Code == "unsupported_grant_type":
		return "the flow is not enabled: tick Enable Client Credentials Flow (client credentials) or Use digital signatures (JWT bearer) in the connected app's OAuth settings"
	case strings.Contains(d, "ip restricted") || strings.Contains(d, "ip_restricted"):
		return "the connected app's IP Relaxation policy or the profile's login IP ranges refuse this machine"
	}
	return "check the connected app's OAuth settings and policies"
}
