package sfsim

import (
	"fmt"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// LoadScenario loads a generated world's Salesforce side into the org: its
// users, ThirdPartyAccountLink rows and Identity_Link__c rows (proposed links
// are idlink-internal and never written to Salesforce, so they are skipped).
func (o *Org) LoadScenario(w *scenario.World) error {
	for _, p := range w.Providers {
		// The friendly name (the Name field in Setup) differs from the
		// developer name (URL Suffix), as in most orgs.
		if _, err := o.AddAuthProvider(AuthProvider{DeveloperName: p.Name, FriendlyName: "Sign in with " + p.Name}); err != nil {
			return fmt.Errorf("load scenario: %w", err)
		}
	}
	for _, u := range w.Salesforce {
		if _, err := o.AddUser(u); err != nil {
			return fmt.Errorf("load scenario: %w", err)
		}
	}
	for _, l := range w.AccountLinks {
		if _, err := o.AddAccountLink(l); err != nil {
			return fmt.Errorf("load scenario: %w", err)
		}
	}
	for _, r := range w.IdentityLinks {
		status := ""
		switch r.Status {
		case identity.LinkActive:
			status = "Active"
		case identity.LinkRevoked:
			status = "Revoked"
		default:
			continue
		}
		if _, err := o.PutIdentityLink(IdentityLink{
			Subject: r.Subject, UserID: r.SalesforceUserID, ObjectID: r.ObjectID, TenantID: r.TenantID,
			Provider: r.Provider, MatchRule: string(r.Rule), Status: status, RevokeReason: r.Reason, LastReconciled: r.UpdatedAt,
		}); err != nil {
			return fmt.Errorf("load scenario: %w", err)
		}
	}
	return nil
}
