package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Identity_Link__c picklist values (configs/salesforce/force-app).
const (
	statusActive  = "Active"
	statusRevoked = "Revoked"
)

// RecordError is Salesforce's reason for refusing one record.
type RecordError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func (e RecordError) String() string {
	s := e.StatusCode + ": " + e.Message
	if len(e.Fields) > 0 {
		s += " [" + strings.Join(e.Fields, ", ") + "]"
	}
	return s
}

// UpsertResult is the outcome of one Identity_Link__c upsert.
type UpsertResult struct {
	Key     identity.LinkKey
	OK      bool
	ID      string // record id when OK
	Created bool   // a new record (false: an update)
	Errors  []RecordError
	// Attempts is how many calls carried this record (row-lock retries add some).
	Attempts int
}

// Error joins the record's errors ("" when OK).
func (r UpsertResult) Error() string {
	parts := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		parts[i] = e.String()
	}
	return strings.Join(parts, "; ")
}

type upsertAnswer struct {
	ID      string        `json:"id"`
	Success bool          `json:"success"`
	Errors  []RecordError `json:"errors"`
	Created bool          `json:"created"`
}

// UpsertLinks upserts Identity_Link__c records: one result per link, in
// order, with Salesforce's status code and message for refused records. An
// error means the call as a whole failed.
func (c *Client) UpsertLinks(ctx context.Context, links []identity.Link) ([]identity.WriteResult, error) {
	res, err := c.UpsertLinkRecords(ctx, links)
	if err != nil {
		return nil, err
	}
	out := make([]identity.WriteResult, len(res))
	for i, r := range res {
		out[i] = identity.WriteResult{OK: r.OK, Error: r.Error()}
	}
	return out, nil
}

// UpsertLinkRecords upserts Identity_Link__c records by Subject__c through
// sObject Collections, CollectionSize records per call with allOrNone false,
// and checks every record's result. Records refused with UNABLE_TO_LOCK_ROW
// are sent again (with backoff) up to the retry limit; other refusals are
// returned as they are, never counted as done. A proposed link is refused
// without a call: only active and revoked links belong in Salesforce.
//
// An error means a call failed as a whole (after retries). Calls before it
// may have been written; upserts are idempotent, so writing again is safe.
func (c *Client) UpsertLinkRecords(ctx context.Context, links []identity.Link) ([]UpsertResult, error) {
	results := make([]UpsertResult, len(links))
	var pending []int
	for i, l := range links {
		results[i].Key = l.Key()
		if l.Status != identity.LinkActive && l.Status != identity.LinkRevoked {
			results[i].Errors = []RecordError{{StatusCode: "IDLINK_NOT_WRITABLE", Message: fmt.Sprintf("link status %q is not written to Salesforce (only active and revoked)", l.Status)}}
			continue
		}
		if l.Subject == "" {
			results[i].Errors = []RecordError{{StatusCode: "REQUIRED_FIELD_MISSING", Message: "link has no subject (Subject__c)"}}
			continue
		}
		pending = append(pending, i)
	}
	now := time.Now()
	if c.cfg.BulkThreshold > 0 && len(pending) >= c.cfg.BulkThreshold && uniqueSubjects(links, pending) {
		locked, err := c.bulkUpsert(ctx, links, pending, results, now)
		if err != nil {
			return results, err
		}
		// Row-lock refusals go again, through collections, with backoff.
		pending = locked
		if len(pending) > 0 {
			if err := c.sleep(ctx, c.backoff(1, 0)); err != nil {
				return results, err
			}
		}
	}
	for start := 0; start < len(pending); start += c.cfg.CollectionSize {
		batch := pending[start:min(start+c.cfg.CollectionSize, len(pending))]
		for attempt := 1; len(batch) > 0; attempt++ {
			locked, err := c.upsertBatch(ctx, links, batch, results, now)
			if err != nil {
				return results, err
			}
			batch = locked
			if len(batch) == 0 || attempt >= c.cfg.Retry.MaxAttempts {
				break
			}
			d := c.backoff(attempt, 0)
			c.cfg.Logger.Warn("salesforce: records locked; retrying them", "records", len(batch), "attempt", attempt, "delay", d)
			if err := c.sleep(ctx, d); err != nil {
				return results, err
			}
		}
	}
	return results, nil
}

// upsertBatch sends one collection call and fills results; it returns the
// indices refused only because a row was locked.
func (c *Client) upsertBatch(ctx context.Context, links []identity.Link, batch []int, results []UpsertResult, now time.Time) ([]int, error) {
	records := make([]map[string]any, len(batch))
	for k, i := range batch {
		records[k] = linkRecord(links[i], now, c.cfg.StoreID)
		results[i].Attempts++
	}
	body, err := json.Marshal(map[string]any{"allOrNone": false, "records": records})
	if err != nil {
		return nil, fmt.Errorf("salesforce upsert: encode records: %w", err)
	}
	answer, err := c.do(ctx, call{method: "PATCH", path: c.dataPath("/composite/sobjects/Identity_Link__c/Subject__c"), body: body})
	if err != nil {
		return nil, fmt.Errorf("upsert %d Identity_Link__c records: %w", len(batch), err)
	}
	var got []upsertAnswer
	if err := json.Unmarshal(answer, &got); err != nil {
		return nil, fmt.Errorf("upsert Identity_Link__c: answer is not valid JSON: %w", err)
	}
	if len(got) != len(batch) {
		return nil, fmt.Errorf("upsert Identity_Link__c: %d results for %d records", len(got), len(batch))
	}
	var locked []int
	for k, i := range batch {
		a := got[k]
		r := &results[i]
		r.OK, r.ID, r.Created, r.Errors = a.Success, a.ID, a.Created, a.Errors
		if !a.Success && len(a.Errors) == 0 {
			r.Errors = []RecordError{{StatusCode: "UNKNOWN", Message: "Salesforce refused the record without a reason"}}
		}
		if !a.Success && len(a.Errors) > 0 && allLocked(a.Errors) {
			locked = append(locked, i)
		}
	}
	return locked, nil
}

// uniqueSubjects: bulk results are matched by Subject__c, so a write with a
// subject twice goes through collections (which answer per position).
func uniqueSubjects(links []identity.Link, idx []int) bool {
	seen := make(map[string]bool, len(idx))
	for _, i := range idx {
		if seen[links[i].Subject] {
			return false
		}
		seen[links[i].Subject] = true
	}
	return true
}

func allLocked(errs []RecordError) bool {
	for _, e := range errs {
		if e.StatusCode != "UNABLE_TO_LOCK_ROW" {
			return false
		}
	}
	return true
}

// linkRecord maps a link onto Identity_Link__c. Empty optional values are
// sent as null so that an update clears them (a revoked link keeps its user).
func linkRecord(l identity.Link, now time.Time, storeID string) map[string]any {
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	status := statusActive
	if l.Status == identity.LinkRevoked {
		status = statusRevoked
	}
	when := l.UpdatedAt
	if when.IsZero() {
		when = now
	}
	rec := map[string]any{
		"attributes":         map[string]string{"type": "Identity_Link__c"},
		"Subject__c":         l.Subject,
		"Entra_Object_Id__c": null(l.ObjectID),
		"Tenant_Id__c":       null(l.TenantID),
		"Provider__c":        null(l.Provider),
		"Status__c":          status,
		"Revoke_Reason__c":   nil,
		"Last_Reconciled__c": when.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	if l.Status == identity.LinkRevoked {
		rec["Revoke_Reason__c"] = null(l.Reason)
	}
	if l.SalesforceUserID != "" {
		rec["User__c"] = l.SalesforceUserID
	}
	if storeID != "" {
		// The writing database, so that two databases on one org notice each other.
		rec["Store_Id__c"] = storeID
	}
	if l.Rule == identity.RuleObjectID || l.Rule == identity.RuleUPN {
		rec["Match_Rule__c"] = string(l.Rule)
	}
	return rec
}
