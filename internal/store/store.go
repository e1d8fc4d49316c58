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
	// ErrLookupsNotPrepared is returned by Related when the users' keys are
	// not computed (no PrepareRelated since the last StopJournal): it would
	// miss the records only a key finds.
	ErrLookupsNotPrepared = errors.New("the plan's key lookups are not prepared (PrepareRelated)")
)

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
	StartRun(ctx context.Context, kind identity.RunKind, holder string) (identity.Run, error)
	FinishRun(ctx context.Context, run identity.Run) error
	GetRun(ctx context.Context, id int64) (identity.Run, error)
	// LatestRun returns the newest run of one of the kinds (any kind when none given).
	LatestRun(ctx context.Context, kinds ...identity.RunKind) (identity.Run, error)
	ListRuns(ctx context.Context, limit int) ([]identity.Run, error)
	// PruneRunDetails deletes the assessments and actions of the runs that
	// RunsToPrune names for keep, keeping their records; it returns them.
	PruneRunDetails(ctx context.Context, keep int) ([]int64, error)

	// Entra snapshot. A non-nil cursor is stored in the same transaction.
	UpsertEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser, cursor *identity.Cursor) error
	// LookupEntraUsers returns the stored users among oids (for merging delta pages).
	LookupEntraUsers(ctx context.Context, oids []string) (map[string]identity.EntraUser, error)
	// A full listing is written in three steps: BeginEntraListing, then
	// StageEntraUsers for each page as read, then FinishEntraListing after the
	// last. A backend writes staged users at once, or holds them apart until
	// the finish (to write them in key order) once HoldEntraListing asked it
	// to, when the writes fall behind the reading; a listing cut short may
	// leave some of them written, but never its cursor nor its marking, and
	// BeginEntraListing starts runID's listing over.
	BeginEntraListing(ctx context.Context, runID int64) error
	StageEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser) error
	HoldEntraListing(ctx context.Context, runID int64) error
	// FinishEntraListing makes every user runID's listing staged stored as
	// last staged, marks hard deleted every other stored user that is not
	// already, and stores cursor, in one transaction. It returns how many
	// users it marked, and whether every stored user is one the listing
	// wrote (false also when the backend cannot tell cheaply).
	FinishEntraListing(ctx context.Context, runID int64, cursor *identity.Cursor) (notSeen int64, whole bool, err error)
	// SetEntraScope sets InScope for exactly the given oids and clears it
	// for all others, and records the scope (EntraScope).
	SetEntraScope(ctx context.Context, inScope identity.ObjectIDSet) error
	// FixEntraScope records inScope as SetEntraScope does but sets InScope
	// only of the users named, for a caller that knows every other stored
	// user's flag is inScope's already, or will be before the scope's digest
	// is recorded (a listing that writes every stored user, those it wrote
	// before the scope was read named).
	FixEntraScope(ctx context.Context, inScope identity.ObjectIDSet, users []identity.ObjectID) error
	// ChangeEntraScope, when the scope recorded last has the digest from
	// (identity.ObjectIDSet.Digest), sets InScope from inScope for the
	// users in exactly one of the two and for the users named, records
	// inScope and returns true; otherwise it changes nothing and returns
	// false. Every other user keeps its flag.
	ChangeEntraScope(ctx context.Context, from string, inScope identity.ObjectIDSet, users []identity.ObjectID) (bool, error)
	ScanEntraUsers(ctx context.Context, fn func(identity.EntraUser) error) error

	// Salesforce snapshot: users, ThirdPartyAccountLink rows and Identity_Link__c rows.
	UpsertSalesforceUsers(ctx context.Context, runID int64, users []identity.SalesforceUser, cursor *identity.Cursor) error
	ScanSalesforceUsers(ctx context.Context, fn func(identity.SalesforceUser) error) error
	// UpsertAccountLinks and DropAccountLinksExcept also delete the cursor
	// identity.AccountLinkPagesCursor in their transaction: it describes the
	// rows stored, and only the read that wrote them sets it again.
	UpsertAccountLinks(ctx context.Context, runID int64, links []identity.ThirdPartyAccountLink) error
	// DropAccountLinksExcept drops from the snapshot every account link
	// whose Id is not among ids, the Ids a complete read saw (it may
	// reorder ids), and returns how many it dropped.
	DropAccountLinksExcept(ctx context.Context, ids []string) (int64, error)
	// MarkRemoteLinksNotSeen drops from the snapshot the Identity_Link__c rows a complete read by runID did not see.
	MarkRemoteLinksNotSeen(ctx context.Context, runID int64) (int64, error)
	// DeleteRemoteLinks drops from the snapshot the Identity_Link__c rows of
	// these keys (records an incremental read found deleted) and returns how
	// many there were.
	DeleteRemoteLinks(ctx context.Context, keys []identity.LinkKey) (int64, error)
	ScanAccountLinks(ctx context.Context, fn func(identity.ThirdPartyAccountLink) error) error
	UpsertRemoteLinks(ctx context.Context, runID int64, links []identity.Link) error
	ScanRemoteLinks(ctx context.Context, fn func(identity.Link) error) error

	// Observations.
	RecordObservation(ctx context.Context, o identity.Observation) (identity.ObservationResult, error)
	ScanObservations(ctx context.Context, fn func(identity.Observation) error) error
	ListObservationConflicts(ctx context.Context) ([]identity.ObservationConflict, error)
	// DeleteObservation removes what binds (provider, subject) to objectID -
	// the observation when it names that oid, and conflicts that recorded
	// it as the other oid - and writes an audit event with the actor and reason, in one
	// transaction. It returns how many rows went; ErrNotFound when none.
	DeleteObservation(ctx context.Context, d identity.ObservationDeletion) (int64, error)

	// Links (idlink's own records) with append-only history and audit.
	ScanLinks(ctx context.Context, fn func(identity.Link) error) error
	// CountLinks counts idlink's links in a status.
	CountLinks(ctx context.Context, status identity.LinkStatus) (int64, error)
	ApplyLinkChanges(ctx context.Context, runID int64, changes []identity.LinkChange) error
	LinkHistory(ctx context.Context, key identity.LinkKey) ([]identity.LinkVersion, error)

	// StoreID is this database's own id, made at first use: the job writes
	// it into Identity_Link__c.Store_Id__c so that two databases on one org
	// notice each other.
	StoreID(ctx context.Context) (string, error)
	// AdoptStore records an admin's decision that Identity_Link__c rows
	// written by another database are this one's now (audited).
	AdoptStore(ctx context.Context, a identity.StoreAdoption) error
	ListAdoptedStores(ctx context.Context) ([]identity.StoreAdoption, error)

	// Admin decisions on proposed links; each also writes an audit event.
	RecordDecisions(ctx context.Context, ds ...identity.Decision) error
	ScanDecisions(ctx context.Context, fn func(identity.Decision) error) error

	ListAudit(ctx context.Context, sinceSeq int64, limit int) ([]identity.AuditEvent, error)

	// Sync cursors.
	GetCursor(ctx context.Context, name string) (value string, ok bool, err error)
	SetCursor(ctx context.Context, c identity.Cursor) error
	DeleteCursor(ctx context.Context, name string) error

	// Plan journal: what an incremental plan reads (internal/reconcile/affected.go).
	// Every write that changes what a plan sees journals the keys of the
	// record's old and new version, in the write's own transaction, while
	// the journal is on.
	//
	// JournalState reports from which sequence number on the journal is
	// complete; on is false while it is off (no plan may rely on it).
	JournalState(ctx context.Context) (validFrom int64, on bool, err error)
	// StartJournal turns the journal on if it is off and returns the newest
	// sequence number written so far: a plan of a snapshot loaded after it
	// has seen every change up to it.
	StartJournal(ctx context.Context) (last int64, err error)
	// StopJournal turns the journal off, empties it and drops what Related
	// reads by: the lookup indexes and the users' key tables (a backfill,
	// which rewrites everything and plans in full, then writes no keys).
	StopJournal(ctx context.Context) error
	// ReadJournal returns up to limit changes after sequence number after, in order.
	ReadJournal(ctx context.Context, after int64, limit int) ([]identity.Change, error)
	// TrimJournal deletes the changes up to and including through.
	TrimJournal(ctx context.Context, through int64) error
	// PrepareRelated computes every user's keys and creates the indexes
	// Related reads by (LookupIndexes) if StopJournal dropped them; quick
	// when they exist. From then on user writes keep the keys current.
	PrepareRelated(ctx context.Context) error
	// Related returns every stored record that carries one of q's keys;
	// ErrLookupsNotPrepared before PrepareRelated.
	Related(ctx context.Context, q identity.KeyQuery) (identity.Records, error)

	// Per-run results for reports.
	SaveAssessments(ctx context.Context, runID int64, as []identity.Assessment) error
	// ScanAssessments streams a run's assessments: those it saved, and for
	// an incremental run, its plan base's about the identities it did not
	// replace (MergeAssessments).
	ScanAssessments(ctx context.Context, runID int64, fn func(identity.Assessment) error) error
	// Replace makes run an incremental run on base: its assessments and
	// flags are base's but for the identities r names, whose are the ones
	// run saves itself (MergeAssessments, MergeActions).
	Replace(ctx context.Context, run, base int64, r Replaced) error
	// AssessmentsAbout streams the assessments of a run (as ScanAssessments)
	// about the identities named.
	AssessmentsAbout(ctx context.Context, runID int64, objectIDs, salesforceIDs []string, fn func(identity.Assessment) error) error
	SaveActions(ctx context.Context, runID int64, actions []identity.ActionRecord) error
	// ScanActions streams a run's actions: those it saved, in Seq order,
	// and for an incremental run, its plan base's flags about the
	// identities it did not replace (MergeActions).
	ScanActions(ctx context.Context, runID int64, fn func(identity.ActionRecord) error) error
	// ActionsAbout streams the actions of a run (as ScanActions) that
	// concern the identities r names (IdentitySet.HasAction).
	ActionsAbout(ctx context.Context, runID int64, r Replaced, fn func(identity.ActionRecord) error) error
	// ListActions returns what ScanActions streams.
	ListActions(ctx context.Context, runID int64) ([]identity.ActionRecord, error)
}
