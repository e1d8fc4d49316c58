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
	// PlanSeq is the plan journal's sequence number up to which the run's
	// plan saw every change (0: it planned nothing, or the journal was off).
	PlanSeq int64
	// PlanBase is 0 for a full plan; for an incremental plan, the run whose
	// assessments and actions it kept for the identities no change affected.
	PlanBase int64
}

// Cursor is a named sync position (a Graph deltaLink, a SystemModstamp). It is
// committed in the same transaction as the changes it produced.
type Cursor struct {
	Name  string
	Value string
}

// AccountLinkPagesCursor names the cursor in which a complete read of
// ThirdPartyAccountLink keeps a digest of each page it stored, so that the
// next read can skip the pages stored unchanged. Every write of the stored
// account links deletes it in the same transaction (store.Store), so that it
// never describes rows the store no longer holds.
const AccountLinkPagesCursor = "salesforce/account-link-pages"

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

// SituationCount is the number of identities in situation s after the run.
func (r Run) SituationCount(s Situation) int64 { return r.Counts[SituationKey(s)] }

// FoldKey is the case-insensitive key of a username, UPN or email address:
// what the planner compares them by, and what a store indexes them by.
func FoldKey(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// Change is one entry of a store's plan journal: the keys of one version of
// a record that changed in a way a plan can see (an update journals the old
// and the new version). The fields a record has are set: an Entra user's
// ObjectID, UPN and Mail; a Salesforce user's SalesforceID, Username, Email
// and FederationIdentifier; a link's, observation's or decision's Provider,
// Subject, SalesforceID and ObjectID; a conflict's OtherObject too. Values
// are as stored, not folded.
type Change struct {
	Seq                                                 int64
	ObjectID, UPN, Mail                                 string
	SalesforceID, Username, Email, FederationIdentifier string
	Provider, Subject, OtherObject                      string
}

// KeyQuery asks a store for the records that carry any of these keys.
type KeyQuery struct {
	ObjectIDs     []string // canonical object ids (Entra users, links, observations, conflicts, decisions; FederationIdentifier)
	SalesforceIDs []string // Salesforce user record ids (users, ThirdPartyAccountLink, links, decisions)
	UPNs          []string // folded (FoldKey) userPrincipalNames of Entra users
	Usernames     []string // folded Salesforce Usernames
	Emails        []string // folded email addresses of either side
	Subjects      []LinkKey
}

// Empty reports whether q asks for nothing.
func (q KeyQuery) Empty() bool {
	return len(q.ObjectIDs)+len(q.SalesforceIDs)+len(q.UPNs)+len(q.Usernames)+len(q.Emails)+len(q.Subjects) == 0
}

// Records are the stored records a KeyQuery found, in no particular order.
type Records struct {
	Entra        []EntraUser
	Salesforce   []SalesforceUser
	AccountLinks []ThirdPartyAccountLink
	RemoteLinks  []Link // Identity_Link__c rows
	Links        []Link // idlink's own
	Observations []Observation
	Conflicts    []ObservationConflict
	Decisions    []Decision
}
