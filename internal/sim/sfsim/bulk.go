package sfsim

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Bulk API 2.0 ingest, upsert of Identity_Link__c only:
// https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0.htm
// create a job (state Open), PUT the CSV to contentUrl, PATCH the state to
// UploadComplete, poll the job until JobComplete (or Failed/Aborted), then
// GET successfulResults/ and failedResults/. In the CSV an empty value leaves
// a field unchanged and #N/A sets it to null.

// EndpointBulk is the fault and counter name of every Bulk API 2.0 call.
const EndpointBulk = "bulk"

type bulkJob struct {
	mu        sync.Mutex
	id        string
	userID    string
	state     string
	version   string
	data      bytes.Buffer
	polls     int // GETs seen while InProgress
	processed int
	failed    int
	success   bytes.Buffer
	failures  bytes.Buffer
	created   time.Time
	errMsg    string
}

type bulkState struct {
	mu   sync.Mutex
	jobs map[string]*bulkJob
	seq  uint64
	// pollsToFinish is how many status GETs a job stays InProgress.
	pollsToFinish int
}

// SetBulkPolls makes each Bulk API job report InProgress for n status
// requests before it completes (default 0: complete at the first poll).
func (s *Server) SetBulkPolls(n int) {
	s.bulk.mu.Lock()
	s.bulk.pollsToFinish = n
	s.bulk.mu.Unlock()
}

func (s *Server) bulkRoutes(mux *http.ServeMux) {
	mux.Handle("POST /services/data/{version}/jobs/ingest", s.api(EndpointBulk, s.bulkCreate))
	mux.Handle("PUT /services/data/{version}/jobs/ingest/{id}/batches", s.api(EndpointBulk, s.bulkUpload))
	mux.Handle("PATCH /services/data/{version}/jobs/ingest/{id}", s.api(EndpointBulk, s.bulkSetState))
	mux.Handle("GET /services/data/{version}/jobs/ingest/{id}", s.api(EndpointBulk, s.bulkInfo))
	mux.Handle("GET /services/data/{version}/jobs/ingest/{id}/successfulResults/", s.api(EndpointBulk, s.bulkResults(true)))
	mux.Handle("GET /services/data/{version}/jobs/ingest/{id}/failedResults/", s.api(EndpointBulk, s.bulkResults(false)))
}

func (s *Server) bulkJob(w http.ResponseWriter, r *http.Request, userID string) *bulkJob {
	s.bulk.mu.Lock()
	j, ok := s.bulk.jobs[r.PathValue("id")]
	s.bulk.mu.Unlock()
	if !ok || j.userID != userID {
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return nil
	}
	return j
}

func (s *Server) bulkCreate(w http.ResponseWriter, r *http.Request, userID string, version float64) {
	if version < 47 {
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	var req struct {
		Object              string `json:"object"`
		ExternalIDFieldName string `json:"externalIdFieldName"`
		ContentType         string `json:"contentType"`
		Operation           string `json:"operation"`
		LineEnding          string `json:"lineEnding"`
		ColumnDelimiter     string `json:"columnDelimiter"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
		return
	}
	switch {
	case req.Operation != "upsert":
		writeAPIError(w, http.StatusBadRequest, "INVALIDJOB", fmt.Sprintf("the simulator supports operation upsert only, not %q", req.Operation))
		return
	case req.Object != "Identity_Link__c":
		writeAPIError(w, http.StatusBadRequest, "INVALIDJOB", fmt.Sprintf("Unknown sObject type: %s (the simulator ingests Identity_Link__c only)", req.Object))
		return
	case req.ExternalIDFieldName != "Subject__c":
		writeAPIError(w, http.StatusBadRequest, "INVALIDJOB", fmt.Sprintf("External ID field %s is not an external id of Identity_Link__c", req.ExternalIDFieldName))
		return
	case req.ContentType != "" && req.ContentType != "CSV":
		writeAPIError(w, http.StatusBadRequest, "INVALIDJOB", "contentType must be CSV")
		return
	case req.LineEnding != "" && req.LineEnding != "LF":
		writeAPIError(w, http.StatusBadRequest, "INVALIDJOB", "the simulator accepts lineEnding LF only")
		return
	case req.ColumnDelimiter != "" && req.ColumnDelimiter != "COMMA":
		writeAPIError(w, http.StatusBadRequest, "INVALIDJOB", "the simulator accepts columnDelimiter COMMA only")
		return
	}
	s.bulk.mu.Lock()
	s.bulk.seq++
	id := fmt.Sprintf("7508d%010d", s.bulk.seq)
	id += idSuffix(id)
	j := &bulkJob{id: id, userID: userID, state: "Open", version: r.PathValue("version"), created: s.now()}
	s.bulk.jobs[id] = j
	s.bulk.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(s.jobInfo(j))
}

func (s *Server) jobInfo(j *bulkJob) map[string]any {
	return map[string]any{
		"id": j.id, "operation": "upsert", "object": "Identity_Link__c", "createdById": j.userID,
		"createdDate": j.created.UTC().Format("2006-01-02T15:04:05.000+0000"), "state": j.state,
		"externalIdFieldName": "Subject__c", "concurrencyMode": "Parallel", "contentType": "CSV",
		"apiVersion": strings.TrimPrefix(j.version, "v"), "contentUrl": "services/data/" + j.version + "/jobs/ingest/" + j.id + "/batches",
		"lineEnding": "LF", "columnDelimiter": "COMMA",
		"numberRecordsProcessed": j.processed, "numberRecordsFailed": j.failed, "errorMessage": j.errMsg,
	}
}

func (s *Server) bulkUpload(w http.ResponseWriter, r *http.Request, userID string, _ float64) {
	j := s.bulkJob(w, r, userID)
	if j == nil {
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		writeAPIError(w, http.StatusBadRequest, "INVALIDJOB", "Content-Type must be text/csv")
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != "Open" {
		writeAPIError(w, http.StatusConflict, "INVALIDJOBSTATE", "Job is not in the Open state: "+j.state)
		return
	}
	if j.data.Len() > 0 {
		// "You can upload only one batch of data per job" is how the docs
		// put it for Bulk API 2.0 ingest.
		writeAPIError(w, http.StatusConflict, "INVALIDJOBSTATE", "Job already has data; create a new job")
		return
	}
	// 150 MB per job, base64-encoded; the simulator keeps it simple.
	if _, err := io.Copy(&j.data, io.LimitReader(r.Body, 150<<20)); err != nil {
		writeAPIError(w, http.StatusBadRequest, "INVALIDJOB", "could not read the CSV: "+err.Error())
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) bulkSetState(w http.ResponseWriter, r *http.Request, userID string, _ float64) {
	j := s.bulkJob(w, r, userID)
	if j == nil {
		return
	}
	var req struct {
		State string `json:"state"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid JSON")
		return
	}
	j.mu.Lock()
	switch {
	case req.State == "UploadComplete" && j.state == "Open":
		j.state = "UploadComplete"
		s.processBulk(j)
	case req.State == "Aborted" && (j.state == "Open" || j.state == "UploadComplete" || j.state == "InProgress"):
		j.state = "Aborted"
	default:
		st := j.state
		j.mu.Unlock()
		writeAPIError(w, http.StatusBadRequest, "INVALIDJOBSTATE", fmt.Sprintf("cannot change job state from %s to %s", st, req.State))
		return
	}
	info := s.jobInfo(j)
	j.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(info)
}

// processBulk applies the job's rows with the same validation as sObject
// Collections (j.mu held). Results are ready at once; polls decide when the
// job says so.
func (s *Server) processBulk(j *bulkJob) {
	rd := csv.NewReader(bytes.NewReader(j.data.Bytes()))
	header, err := rd.Read()
	if err != nil {
		j.state, j.errMsg = "Failed", "InvalidBatch : could not read the CSV header: "+err.Error()
		return
	}
	for _, h := range header {
		if _, ok := identityLinkFields[h]; !ok {
			j.state, j.errMsg = "Failed", fmt.Sprintf("InvalidBatch : Field name not found : %s", h)
			return
		}
	}
	okw, failw := csv.NewWriter(&j.success), csv.NewWriter(&j.failures)
	_ = okw.Write(append([]string{"sf__Id", "sf__Created"}, header...))
	_ = failw.Write(append([]string{"sf__Id", "sf__Error"}, header...))
	s.Org.mu.Lock()
	seen := map[string]bool{}
	for {
		row, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			j.state, j.errMsg = "Failed", "InvalidBatch : "+err.Error()
			break
		}
		rec := map[string]json.RawMessage{"attributes": json.RawMessage(`{"type":"Identity_Link__c"}`)}
		for k, h := range header {
			switch v := row[k]; v {
			case "":
				// empty: field unchanged
			case "#N/A":
				rec[h] = json.RawMessage("null")
			default:
				b, _ := json.Marshal(v)
				rec[h] = b
			}
		}
		staged, rerr := s.stageRecord(rec)
		if rerr == nil && seen[staged.subject] {
			rerr = &RecordError{StatusCode: "DUPLICATE_EXTERNAL_ID", Message: "Duplicate external id specified: " + staged.subject, Fields: []string{"Subject__c"}}
		}
		if rerr == nil {
			seen[staged.subject] = true
			if f, ok := s.takeRecordFailure(staged.subject); ok {
				rerr = &f
			}
		}
		j.processed++
		if rerr != nil {
			j.failed++
			_ = failw.Write(append([]string{"", rerr.StatusCode + ":" + rerr.Message + ":" + strings.Join(rerr.Fields, ",") + " --"}, row...))
			continue
		}
		id, created := s.Org.putLinkLocked(staged)
		_ = okw.Write(append([]string{id, fmt.Sprint(created)}, row...))
	}
	s.Org.mu.Unlock()
	okw.Flush()
	failw.Flush()
	if j.state == "UploadComplete" {
		j.state = "InProgress"
	}
}

func (s *Server) bulkInfo(w http.ResponseWriter, r *http.Request, userID string, _ float64) {
	j := s.bulkJob(w, r, userID)
	if j == nil {
		return
	}
	s.bulk.mu.Lock()
	need := s.bulk.pollsToFinish
	s.bulk.mu.Unlock()
	j.mu.Lock()
	if j.state == "InProgress" {
		j.polls++
		if j.polls > need {
			j.state = "JobComplete"
		}
	}
	info := s.jobInfo(j)
	j.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(info)
}

func (s *Server) bulkResults(success bool) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, userID string, _ float64) {
		j := s.bulkJob(w, r, userID)
		if j == nil {
			return
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.state != "JobComplete" && j.state != "Failed" && j.state != "Aborted" {
			writeAPIError(w, http.StatusBadRequest, "INVALIDJOBSTATE", "Job is not complete: "+j.state)
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		if success {
			_, _ = w.Write(j.success.Bytes())
		} else {
			_, _ = w.Write(j.failures.Bytes())
		}
	}
}
