package salesforce

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Bulk API 2.0 ingest for large writes:
// https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0.htm
// One job per write: create (upsert by Subject__c, CSV), upload the CSV,
// mark it UploadComplete, poll until JobComplete, then read the successful
// and failed results and match them to the links by Subject__c.

var bulkColumns = []string{"Subject__c", "User__c", "Entra_Object_Id__c", "Tenant_Id__c", "Provider__c", "Match_Rule__c", "Status__c", "Revoke_Reason__c", "Last_Reconciled__c", "Store_Id__c"}

type jobInfo struct {
	ID                     string `json:"id"`
	State                  string `json:"state"`
	ContentURL             string `json:"contentUrl"`
	ErrorMessage           string `json:"errorMessage"`
	NumberRecordsProcessed int    `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int    `json:"numberRecordsFailed"`
}

// bulkUpsert writes links[idx] through one ingest job and fills results. It
// returns the indices refused only for a row lock (to be re-sent).
func (c *Client) bulkUpsert(ctx context.Context, links []identity.Link, idx []int, results []UpsertResult, now time.Time) ([]int, error) {
	job, err := c.bulkCall(ctx, "POST", c.dataPath("/jobs/ingest"), `{"object":"Identity_Link__c","externalIdFieldName":"Subject__c","contentType":"CSV","operation":"upsert","lineEnding":"LF","columnDelimiter":"COMMA"}`)
	if err != nil {
		return nil, fmt.Errorf("bulk upsert: create job: %w", err)
	}
	abort := func() {
		// Best effort, without the caller's (maybe cancelled) context.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RequestTimeout)
		defer cancel()
		_, _ = c.bulkCall(actx, "PATCH", c.dataPath("/jobs/ingest/"+job.ID), `{"state":"Aborted"}`)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(bulkColumns)
	for _, i := range idx {
		rec := linkRecord(links[i], now, c.cfg.StoreID)
		row := make([]string, len(bulkColumns))
		for k, col := range bulkColumns {
			v, ok := rec[col]
			switch {
			case !ok:
				row[k] = "" // empty: Bulk API leaves the field unchanged
			case v == nil:
				row[k] = "#N/A" // sets the field to null
			default:
				row[k] = v.(string)
			}
		}
		_ = w.Write(row)
		results[i].Attempts++
	}
	w.Flush()
	contentURL := job.ContentURL
	if !strings.HasPrefix(contentURL, "/") {
		contentURL = "/" + contentURL
	}
	if _, err := c.do(ctx, call{method: "PUT", path: contentURL, body: buf.Bytes(), header: map[string]string{"Content-Type": "text/csv"}}); err != nil {
		abort()
		return nil, fmt.Errorf("bulk upsert: upload %d records: %w", len(idx), err)
	}
	if _, err := c.bulkCall(ctx, "PATCH", c.dataPath("/jobs/ingest/"+job.ID), `{"state":"UploadComplete"}`); err != nil {
		abort()
		return nil, fmt.Errorf("bulk upsert: close job %s: %w", job.ID, err)
	}
	wait := c.cfg.BulkPollInterval
	deadline := time.Now().Add(c.cfg.BulkTimeout)
	for {
		info, err := c.bulkCall(ctx, "GET", c.dataPath("/jobs/ingest/"+job.ID), "")
		if err != nil {
			return nil, fmt.Errorf("bulk upsert: job %s status: %w", job.ID, err)
		}
		switch info.State {
		case "JobComplete":
			return c.bulkResults(ctx, job.ID, links, idx, results)
		case "Failed", "Aborted":
			return nil, fmt.Errorf("bulk upsert: job %s ended %s: %s", job.ID, info.State, info.ErrorMessage)
		}
		if time.Now().After(deadline) {
			abort()
			return nil, fmt.Errorf("bulk upsert: job %s still %s after %s (bulk timeout): aborted", job.ID, info.State, c.cfg.BulkTimeout)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(wait*3/2, 30*time.Second)
	}
}

func (c *Client) bulkCall(ctx context.Context, method, path, body string) (jobInfo, error) {
	cl := call{method: method, path: path}
	if body != "" {
		cl.body = []byte(body)
	}
	answer, err := c.do(ctx, cl)
	if err != nil {
		return jobInfo{}, err
	}
	var info jobInfo
	if err := json.Unmarshal(answer, &info); err != nil {
		return jobInfo{}, fmt.Errorf("job answer is not valid JSON: %w", err)
	}
	return info, nil
}

// bulkResults reads both result sets and fills results by Subject__c.
func (c *Client) bulkResults(ctx context.Context, jobID string, links []identity.Link, idx []int, results []UpsertResult) ([]int, error) {
	bySubject := make(map[string]int, len(idx))
	for _, i := range idx {
		bySubject[links[i].Subject] = i
	}
	seen := make(map[int]bool, len(idx))
	var locked []int
	for _, kind := range []string{"successfulResults", "failedResults"} {
		body, err := c.do(ctx, call{method: "GET", path: c.dataPath("/jobs/ingest/" + jobID + "/" + kind + "/")})
		if err != nil {
			return nil, fmt.Errorf("bulk upsert: job %s %s: %w", jobID, kind, err)
		}
		rd := csv.NewReader(bytes.NewReader(body))
		header, err := rd.Read()
		if err == io.EOF {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("bulk upsert: job %s %s: %w", jobID, kind, err)
		}
		col := map[string]int{}
		for k, h := range header {
			col[h] = k
		}
		subj, ok := col["Subject__c"]
		if !ok {
			return nil, fmt.Errorf("bulk upsert: job %s %s has no Subject__c column", jobID, kind)
		}
		for {
			row, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("bulk upsert: job %s %s: %w", jobID, kind, err)
			}
			i, ok := bySubject[row[subj]]
			if !ok || seen[i] {
				continue
			}
			seen[i] = true
			r := &results[i]
			if kind == "successfulResults" {
				r.OK, r.ID, r.Created, r.Errors = true, row[col["sf__Id"]], row[col["sf__Created"]] == "true", nil
				continue
			}
			e := parseBulkError(row[col["sf__Error"]])
			r.OK, r.Errors = false, []RecordError{e}
			if e.StatusCode == "UNABLE_TO_LOCK_ROW" {
				locked = append(locked, i)
			}
		}
	}
	for _, i := range idx {
		if !seen[i] {
			results[i].OK = false
			results[i].Errors = []RecordError{{StatusCode: "UNPROCESSED", Message: "the bulk job did not report this record"}}
		}
	}
	return locked, nil
}

// parseBulkError reads "STATUS_CODE:message:field,field --".
func parseBulkError(s string) RecordError {
	s = strings.TrimSuffix(strings.TrimSpace(s), "--")
	code, rest, ok := strings.Cut(s, ":")
	if !ok {
		return RecordError{StatusCode: "UNKNOWN", Message: strings.TrimSpace(s)}
	}
	e := RecordError{StatusCode: code}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		e.Message = rest[:i]
		for _, f := range strings.Split(strings.TrimSpace(rest[i+1:]), ",") {
			if f = strings.TrimSpace(f); f != "" {
				e.Fields = append(e.Fields, f)
			}
		}
	} else {
		e.Message = rest
	}
	return e
}
