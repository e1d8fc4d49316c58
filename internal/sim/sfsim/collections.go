package sfsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// maxCollection: "The list can contain up to 200 objects."
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
const maxCollection = 200

type upsertResult struct {
	ID      string        `json:"id,omitempty"`
	Success bool          `json:"success"`
	Errors  []RecordError `json:"errors"`
	Created bool          `json:"created"`
}

// identityLinkFields are the writable fields of Identity_Link__c, with the
// restricted picklist values of configs/salesforce/force-app.
var identityLinkFields = map[string][]string{
	"Subject__c": nil, "User__c": nil, "Entra_Object_Id__c": nil, "Tenant_Id__c": nil, "Provider__c": nil,
	"Match_Rule__c": {"oid", "upn"}, "Status__c": {"Active", "Revoked"}, "Revoke_Reason__c": nil, "Last_Reconciled__c": nil,
	"Store_Id__c": nil,
}

// fieldLengths are the Text lengths declared in the package's field metadata.
var fieldLengths = map[string]int{
	"Subject__c": 255, "Entra_Object_Id__c": 36, "Tenant_Id__c": 36, "Provider__c": 255, "Revoke_Reason__c": 255,
	"Store_Id__c": 64,
}

// handleUpsert is PATCH /composite/sobjects/{object}/{externalIdField}:
// upsert by external id (API 46.0 and later), results in request order,
// allOrNone false lets each record succeed or fail on its own.
func (s *Server) handleUpsert(w http.ResponseWriter, r *http.Request, _ string, version float64) {
	if version < 46 {
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	object, extField := r.PathValue("object"), r.PathValue("field")
	if !strings.EqualFold(object, "Identity_Link__c") {
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("The requested resource does not exist (the simulator upserts Identity_Link__c only, not %s)", object))
		return
	}
	if extField != "Subject__c" {
		writeAPIError(w, http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("Field name provided, %s is not an External ID or indexed field for Identity_Link__c", extField))
		return
	}
	var body struct {
		AllOrNone bool                         `json:"allOrNone"`
		Records   []map[string]json.RawMessage `json:"records"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	if err := dec.Decode(&body); err != nil {
		writeAPIError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
		return
	}
	if len(body.Records) > maxCollection {
		writeAPIError(w, http.StatusBadRequest, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	type staged struct {
		row identityLinkRow
		err *RecordError
	}
	st := make([]staged, len(body.Records))
	seen := map[string]bool{}
	s.Org.mu.Lock()
	defer s.Org.mu.Unlock()
	for i, rec := range body.Records {
		row, rerr := s.stageRecord(rec)
		if rerr == nil {
			if seen[row.subject] {
				rerr = &RecordError{StatusCode: "DUPLICATE_EXTERNAL_ID", Message: "Duplicate external id specified: " + row.subject, Fields: []string{"Subject__c"}}
			}
			seen[row.subject] = true
		}
		if rerr == nil {
			if f, ok := s.takeRecordFailure(row.subject); ok {
				rerr = &f
			}
		}
		st[i] = staged{row: row, err: rerr}
	}
	results := make([]upsertResult, len(st))
	failed := false
	for _, x := range st {
		failed = failed || x.err != nil
	}
	for i, x := range st {
		switch {
		case x.err != nil:
			results[i] = upsertResult{Errors: []RecordError{*x.err}}
		case body.AllOrNone && failed:
			results[i] = upsertResult{Errors: []RecordError{{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK", Message: "Record rolled back because not all records were valid and the request was using AllOrNone header", Fields: []string{}}}}
		default:
			id, created := s.Org.putLinkLocked(x.row)
			results[i] = upsertResult{ID: id, Success: true, Errors: []RecordError{}, Created: created}
		}
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(results)
	writeJSON(w, buf.Bytes())
}

// stageRecord validates one record the way the platform would and returns the
// row it would write (merged over the existing record for updates).
func (s *Server) stageRecord(rec map[string]json.RawMessage) (identityLinkRow, *RecordError) {
	var attrs struct {
		Type string `json:"type"`
	}
	if raw, ok := rec["attributes"]; ok {
		_ = json.Unmarshal(raw, &attrs)
	}
	if attrs.Type == "" {
		return identityLinkRow{}, &RecordError{StatusCode: "INVALID_TYPE", Message: "Must send a concrete entity type.", Fields: []string{}}
	}
	if attrs.Type != "Identity_Link__c" {
		return identityLinkRow{}, &RecordError{StatusCode: "INVALID_TYPE", Message: fmt.Sprintf("The list can contain objects of type Identity_Link__c only, not %s", attrs.Type), Fields: []string{}}
	}
	vals := map[string]*string{}
	for k, raw := range rec {
		if k == "attributes" {
			continue
		}
		allowed, ok := identityLinkFields[k]
		if !ok {
			if k == "Id" {
				return identityLinkRow{}, &RecordError{StatusCode: "INVALID_FIELD", Message: "Only external ids are supported in an upsert by external id, not Id", Fields: []string{"Id"}}
			}
			return identityLinkRow{}, &RecordError{StatusCode: "INVALID_FIELD", Message: fmt.Sprintf("No such column '%s' on sobject of type Identity_Link__c", k), Fields: []string{k}}
		}
		var v *string
		if err := json.Unmarshal(raw, &v); err != nil {
			return identityLinkRow{}, &RecordError{StatusCode: "JSON_PARSER_ERROR", Message: fmt.Sprintf("Cannot deserialize value of field %s: %v", k, err), Fields: []string{k}}
		}
		if v != nil && allowed != nil && !contains(allowed, *v) {
			return identityLinkRow{}, &RecordError{StatusCode: "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", Message: fmt.Sprintf("bad value for restricted picklist field: %s", *v), Fields: []string{k}}
		}
		if v != nil && fieldLengths[k] > 0 && len(*v) > fieldLengths[k] {
			return identityLinkRow{}, &RecordError{StatusCode: "STRING_TOO_LONG", Message: fmt.Sprintf("%s: data value too large: %s (max length=%d)", k, *v, fieldLengths[k]), Fields: []string{k}}
		}
		vals[k] = v
	}
	subj := vals["Subject__c"]
	if subj == nil || *subj == "" {
		return identityLinkRow{}, &RecordError{StatusCode: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [Subject__c]", Fields: []string{"Subject__c"}}
	}
	var row identityLinkRow
	if i, ok := s.Org.linkBySub[*subj]; ok {
		row = s.Org.links.rows[i]
	} else {
		row = identityLinkRow{subject: *subj, status: "Active"} // the picklist default
	}
	set := func(name string, dst *string) {
		if v, ok := vals[name]; ok {
			if v == nil {
				*dst = ""
			} else {
				*dst = *v
			}
		}
	}
	set("User__c", &row.userID)
	set("Entra_Object_Id__c", &row.objectID)
	set("Tenant_Id__c", &row.tenantID)
	set("Provider__c", &row.provider)
	set("Match_Rule__c", &row.matchRule)
	set("Status__c", &row.status)
	set("Revoke_Reason__c", &row.revokeReason)
	set("Store_Id__c", &row.storeID)
	if v, ok := vals["Last_Reconciled__c"]; ok {
		row.lastReconciled = 0
		if v != nil {
			t, err := time.Parse(time.RFC3339Nano, *v)
			if err != nil {
				t, err = time.Parse("2006-01-02T15:04:05.000-0700", *v)
			}
			if err != nil {
				return identityLinkRow{}, &RecordError{StatusCode: "INVALID_TYPE_ON_FIELD_IN_RECORD", Message: fmt.Sprintf("Last Reconciled: value not of required type: %s", *v), Fields: []string{"Last_Reconciled__c"}}
			}
			row.lastReconciled = t.UnixMilli()
		}
	}
	if row.userID != "" {
		if !validID(row.userID) || !strings.HasPrefix(row.userID, prefixUser) {
			return identityLinkRow{}, &RecordError{StatusCode: "FIELD_INTEGRITY_EXCEPTION", Message: fmt.Sprintf("User: id value of incorrect type: %s", row.userID), Fields: []string{"User__c"}}
		}
		if len(row.userID) == 15 {
			row.userID += idSuffix(row.userID)
		}
		if _, ok := s.Org.userByID[row.userID]; !ok {
			return identityLinkRow{}, &RecordError{StatusCode: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id", Fields: []string{"User__c"}}
		}
	}
	return row, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
