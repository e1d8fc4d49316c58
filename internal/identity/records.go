package identity

import (
	"strings"
	"time"
)

// The records a run keeps between runs. They cross packages (the store
// keeps them, the core plans and applies with them, the CLI reports them),
// so they live in the domain package with the identities they are about.

// RunKind is what started a run.
type RunKind string

const (
	KindRun      RunKind = "run"
	KindBackfill RunKind = "backfill"
	KindDryRun   RunKind = "dry-run"
)

// RunStatus is where a run ended (or "running").
type RunStatus string

const (
	StatusRunning   RunStatus = "running"
	StatusSucceeded RunStatus = "succeeded"
	StatusFailed    RunStatus = "failed"
	StatusHeld      RunStatus = "held"      // stopped by the safety limit before writing
	StatusThrottled RunStatus = "throttled" // upstream throttling past the budget; safe to retry
	StatusSkipped   RunStatus = "skipped"   // another run held the lease
)

// Run is one reconciliation run.
type Run struct {
	ID         int64
	Kind       RunKind
	Status     RunStatus
	Holder     string // who ran it: host/pid
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
	Counts     map[string]int64
	Note       string // e.g. "deltaLink expired: full resync"
	Error      string
	// DetailsPruned: the run's assessments and actions are no longer kept
	// (store.keep_run_details); its record and counts are.
	DetailsPruned bool
}

// Cursor is a named sync position (a Graph deltaLink, a SystemModstamp). It is
// committed in the same transaction as the changes it produced.
type Cursor struct {
	Name  string
	Value string
}

// ObservationOutcome says what RecordObservation did.
type ObservationOutcome string

const (
	ObservationNew         ObservationOutcome = "new"      // first time this (provider, sub) is seen
	ObservationKnown       ObservationOutcome = "known"    // same pair seen before; last seen and count bumped
	ObservationConflicting ObservationOutcome = "conflict" // sub already bound to another oid: recorded, not overwritten
)

// ObservationResult is what RecordObservation found.
type ObservationResult struct {
	Outcome ObservationOutcome
	// Existing is the stored observation when Outcome is known or conflict.
	Existing Observation
}

// ObservationConflict is a sub seen with two oids. It is kept for admins.
type ObservationConflict struct {
	Provider    string
	Subject     string
	ObjectID    string // the oid first bound
	OtherObject string // the conflicting oid
	Source      ObservationSource
	SeenAt      time.Time
}

// StoreAdoption is an admin's decision to take over the Identity_Link__c
// rows another idlink database wrote (a move, or a retired deployment).
type StoreAdoption struct {
	StoreID       string
	Actor, Reason string
	At            time.Time
}

// ObservationDeletion is an admin's removal of a wrong observation.
type ObservationDeletion struct {
	Provider, Subject, ObjectID string
	Actor, Reason               string
	At                          time.Time
}

// LinkChange is one link write: the new state plus why. Applying it writes the
// current link row, appends to link history and appends an audit event, in one
// transaction with the rest of its batch.
type LinkChange struct {
	Action ActionKind
	Link   Link
	Actor  string // "idlink run 42", "admin alice"
	Detail string
}

// LinkVersion is one entry of a link's append-only history.
type LinkVersion struct {
	Seq    int64
	RunID  int64
	At     time.Time
	Action ActionKind
	Link   Link
	Actor  string
	Detail string
}

// Decision is an admin's approval or rejection of a proposed link.
type Decision struct {
	Provider         string
	Subject          string
	SalesforceUserID string
	ObjectID         string
	Approved         bool
	Actor            string
	Reason           string
	At               time.Time
}

// AuditEvent is an append-only record of a change.
type AuditEvent struct {
	Seq    int64
	RunID  int64 // 0 when not part of a run (e.g. an admin decision)
	At     time.Time
	Actor  string
	Kind   string // "link.create-link", "decision.approve", ...
	Target string // e.g. link key
	Detail string
}

// ActionRecord is a planned action as stored for a run, with its outcome.
type ActionRecord struct {
	Seq    int
	Action Action
	State  string // "planned", "applied", "failed", "held"
	Error  string
}

// WriteResult is Salesforce's answer for one record of a write.
type WriteResult struct {
	OK    bool
	Error string // Salesforce's status code and message when !OK
}

// situationPrefix marks the situation counters among a run's counts.
const situationPrefix = "situation."

// SituationKey is the name of situation s's counter in Run.Counts: runs keep
// their counters as one map (pages read, writes, situations) because that is
// what the store records and the report shows.
func SituationKey(s Situation) string { return situationPrefix + string(s) }

// SituationOfKey is the situation whose counter key is k, if it is one.
func SituationOfKey(k string) (Situation, bool) {
	s, ok := strings.CutPrefix(k, situationPrefix)
	return Situation(s), ok
}

// CountSituations sets counts' situation counters to the situations of as,
// every situation present (zero included).
func CountSituations(counts map[string]int64, as []Assessment) {
	for _, s := range Situations {
		counts[SituationKey(s)] = 0
	}
	for _, a := range as {
		counts[SituationKey(a.Situation)]++
	}
}

// SituationCount is the number of identities in situation s after the run.
func (r Run) SituationCount(s Situation) int64 { return r.Counts[SituationKey(s)] }
