// Package linkwriter adapts the Salesforce client to reconcile.LinkWriter. It
// lives apart so that the salesforce package builds without the reconcile
// core (adapters never depend on each other; cmd wires them).
package linkwriter

import (
	"context"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/salesforce"
)

// Writer writes link records through a salesforce.Client.
type Writer struct{ Client *salesforce.Client }

var _ reconcile.LinkWriter = Writer{}

// UpsertLinks upserts Identity_Link__c records: one result per link, in
// order, with Salesforce's status code and message for refused records.
func (w Writer) UpsertLinks(ctx context.Context, links []identity.Link) ([]reconcile.WriteResult, error) {
	res, err := w.Client.UpsertLinkRecords(ctx, links)
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.WriteResult, len(res))
	for i, r := range res {
		out[i] = reconcile.WriteResult{OK: r.OK, Error: r.Error()}
	}
	return out, nil
}

var _ reconcile.AccountLinkRevoker = Writer{}

// RevokeAccountLink revokes Salesforce's ThirdPartyAccountLink of a
// misrouted subject through the package's revocation resource.
func (w Writer) RevokeAccountLink(ctx context.Context, provider, userID, subject string) error {
	return w.Client.RevokeAccountLink(ctx, provider, userID, subject)
}
