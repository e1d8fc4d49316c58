package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/idlinkhq/idlink/internal/identity"
)

// revokePath is the idlink package's revocation resource
// (configs/salesforce IdlinkLinkRevocationResource).
const revokePath = "/services/apexrest/idlink/v1/account-links/revoke"

// RevokeAccountLink asks the idlink package to revoke Salesforce's
// ThirdPartyAccountLink that signs subject in as userID. provider is the
// Auth. Provider's developer name: the package serves one (Auth_Provider__c)
// and refuses another with 409 provider_mismatch. A link that is
// already gone (404 link_not_found) counts as revoked. Refusals that concern
// the org as a whole - revocation turned off, the package's settings or
// Auth. Provider missing, the resource not deployed - match
// identity.ErrRevocationUnavailable and say which setting to change.
func (c *Client) RevokeAccountLink(ctx context.Context, provider, userID, subject string) error {
	body, err := json.Marshal(map[string]string{"userId": userID, "subject": subject, "provider": provider})
	if err != nil {
		return err
	}
	out, err := c.do(ctx, call{method: http.MethodPost, path: revokePath, body: body})
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Status == http.StatusNotFound && apiErr.Code == "link_not_found":
			return nil
		case apiErr.Status == http.StatusNotFound:
			return fmt.Errorf("%w: %v (deploy IdlinkLinkRevocationResource from configs/salesforce, or turn providers[].revoke_account_links off)", identity.ErrRevocationUnavailable, err)
		case apiErr.Status == http.StatusForbidden && apiErr.Code == "revocation_disabled",
			apiErr.Status == http.StatusConflict:
			return fmt.Errorf("%w: %v", identity.ErrRevocationUnavailable, err)
		}
	}
	if err != nil {
		return fmt.Errorf("revoke the ThirdPartyAccountLink of user %s: %w", userID, err)
	}
	var ans struct {
		Revoked bool `json:"revoked"`
	}
	if json.Unmarshal(out, &ans) != nil || !ans.Revoked {
		return fmt.Errorf("revoke the ThirdPartyAccountLink of user %s: unexpected answer %.200q", userID, out)
	}
	return nil
}
