// Package store defines what a reconciliation run keeps between runs and the
// contract every storage backend fulfils. Backends live in sub-packages
// (sqlite, postgres); storetest holds the one conformance suite they all run.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

var (
	// ErrLeaseHeld is returned at once when another holder has the run lease.
	ErrLeaseHeld = errors.New("another idlink run holds the lease on this database")
	// ErrNotFound is returned when a requested record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrSchemaTooNew is returned when the database was migrated by a newer idlink.
	ErrSchemaTooNew = errors.New("database schema is newer than this idlink")
)

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
	Existing identity.Observation
}

// ObservationConflict is a sub seen with two oids. It is kept for admins.
type ObservationConflict struct {
	Provider    string
	Subject     string
	ObjectID    string // the oid first bound
	OtherObject string // the conflicting oid
	Source      identity.ObservationSource
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
	Action identity.ActionKind
	Link   identity.Link
	Actor  string // "idlink run 42", "admin alice"
	Detail string
}

// LinkVersion is one entry of a link's append-only history.
type LinkVersion struct {
	Seq    int64
	RunID  int64
	At     time.Time
	Action identity.ActionKind
	Link   identity.Link
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
	Action identity.Action
	State  string // "planned", "applied", "failed", "held"
	Error  string
}

// Lease is the exclusive right to run against the database.
type Lease interface {
	// Renew extends the lease; it fails with ErrLeaseHeld if it was lost.
	Renew(ctx context.Context) error
	// Release gives the lease up.
	Release(ctx context.Context) error
}

// Store is everything a run, the bridge and the reports need to keep.
// Every method is safe for concurrent use.
type Store interface {
	// SchemaVersion reports the applied and the latest known migration.
	SchemaVersion(ctx context.Context) (applied, latest int, err error)
	Close() error

	// Lease: AcquireLease never blocks on a held lease; it returns ErrLeaseHeld.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)

	// Runs.
	StartRun(ctx context.Context, kind RunKind, holder string) (Run, error)
	FinishRun(ctx context.Context, run Run) error
	GetRun(ctx context.Context, id int64) (Run, error)
	// LatestRun returns the newest run of one of the kinds (any kind when none given).
	LatestRun(ctx context.Context, kinds ...RunKind) (Run, error)
	ListRuns(ctx context.Context, limit int) ([]Run, error)

	// Entra snapshot. A non-nil cursor is stored in the same transaction.
	UpsertEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser, cursor *Cursor) error
	// LookupEntraUsers returns the stored users among oids (for merging delta pages).
	LookupEntraUsers(ctx context.Context, oids []string) (map[string]identity.EntraUser, error)
	// MarkEntraUsersNotSeen marks every user not upserted by runID as hard deleted
	// (after a complete full listing); it returns how many changed.
	MarkEntraUsersNotSeen(ctx context.Context, runID int64) (int64, error)
	// SetEntraScope sets InScope for exactly the given oids and clears it for all others.
	SetEntraScope(ctx context.Context, inScope []string) error
	ScanEntraUsers(ctx context.Context, fn func(identity.EntraUser) error) error

	// Salesforce snapshot: users, ThirdPartyAccountLink rows and Identity_Link__c rows.
	UpsertSalesforceUsers(ctx context.Context, runID int64, users []identity.SalesforceUser, cursor *Cursor) error
	ScanSalesforceUsers(ctx context.Context, fn func(identity.SalesforceUser) error) error
	UpsertAccountLinks(ctx context.Context, runID int64, links []identity.ThirdPartyAccountLink) error
	// MarkAccountLinksNotSeen drops from the snapshot the account links a complete read by runID did not see.
	MarkAccountLinksNotSeen(ctx context.Context, runID int64) (int64, error)
	ScanAccountLinks(ctx context.Context, fn func(identity.ThirdPartyAccountLink) error) error
	UpsertRemoteLinks(ctx context.Context, runID int64, links []identity.Link) error
	ScanRemoteLinks(ctx context.Context, fn func(identity.Link) error) error

	// Observations.
	RecordObservation(ctx context.Context, o identity.Observation) (ObservationResult, error)
	ScanObservations(ctx context.Context, fn func(identity.Observation) error) error
	ListObservationConflicts(ctx context.Context) ([]ObservationConflict, error)
	// DeleteObservation removes what binds (provider, subject) to objectID -
	// the observation when it names that oid, and conflicts that recorded
	// it as the other oid - and writes an audit event with the actor and reason, in one
	// transaction. It returns how many rows went; ErrNotFound when none.
	DeleteObservation(ctx context.Context, d ObservationDeletion) (int64, error)

	// Links (idlink's own records) with append-only history and audit.
	ScanLinks(ctx context.Context, fn func(identity.Link) error) error
	ApplyLinkChanges(ctx context.Context, runID int64, changes []LinkChange) error
	LinkHistory(ctx context.Context, key identity.LinkKey) ([]LinkVersion, error)

	// StoreID is this database's own id, made at first use: the job writes
	// it into Identity_Link__c.Store_Id__c so that two databases on one org
	// notice each other.
	StoreID(ctx context.Context) (string, error)
	// AdoptStore records an admin's decision that Identity_Link__c rows
	// written by another database are this one's now (audited).
	AdoptStore(ctx context.Context, a StoreAdoption) error
	ListAdoptedStores(ctx context.Context) ([]StoreAdoption, error)

	// Admin decisions on proposed links; each also writes an audit event.
	RecordDecisions(ctx context.Context, ds ...Decision) error
	ScanDecisions(ctx context.Context, fn func(Decision) error) error

	ListAudit(ctx context.Context, sinceSeq int64, limit int) ([]AuditEvent, error)

	// Sync cursors.
	GetCursor(ctx context.Context, name string) (value string, ok bool, err error)
	SetCursor(ctx context.Context, c Cursor) error
	DeleteCursor(ctx context.Context, name string) error

	// Per-run results for reports.
	SaveAssessments(ctx context.Context, runID int64, as []identity.Assessment) error
	ScanAssessments(ctx context.Context, runID int64, fn func(identity.Assessment) error) error
	SaveActions(ctx context.Context, runID int64, actions []ActionRecord) error
	ListActions(ctx context.Context, runID int64) ([]ActionRecord, error)
}
