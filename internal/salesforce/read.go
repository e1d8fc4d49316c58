package salesforce

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/jsonscan"
)

// UserSink receives User pages; store.Store satisfies it. The cursor comes
// with the last page only, so that it is committed with the rows it covers.
type UserSink interface {
	UpsertSalesforceUsers(ctx context.Context, runID int64, users []identity.SalesforceUser, cursor *identity.Cursor) error
	GetCursor(ctx context.Context, name string) (value string, ok bool, err error)
}

// AccountLinkSink receives ThirdPartyAccountLink pages; store.Store satisfies it.
type AccountLinkSink interface {
	// UpsertAccountLinks and DropAccountLinksExcept delete the cursor
	// identity.AccountLinkPagesCursor in the transaction that writes.
	UpsertAccountLinks(ctx context.Context, runID int64, links []identity.ThirdPartyAccountLink) error
	DropAccountLinksExcept(ctx context.Context, ids []string) (int64, error)
	GetCursor(ctx context.Context, name string) (value string, ok bool, err error)
	SetCursor(ctx context.Context, c identity.Cursor) error
}

// RemoteLinkSink receives Identity_Link__c pages; store.Store satisfies it.
type RemoteLinkSink interface {
	UpsertRemoteLinks(ctx context.Context, runID int64, links []identity.Link) error
	MarkRemoteLinksNotSeen(ctx context.Context, runID int64) (int64, error)
	DeleteRemoteLinks(ctx context.Context, keys []identity.LinkKey) (int64, error)
	GetCursor(ctx context.Context, name string) (value string, ok bool, err error)
	SetCursor(ctx context.Context, c identity.Cursor) error
}

// Sink is all three; store.Store satisfies it.
type Sink interface {
	UserSink
	AccountLinkSink
	RemoteLinkSink
}

// UserCursor is the name of the stored SystemModstamp position of User reads.
const UserCursor = "salesforce.user.systemmodstamp"

// RemoteLinkCursor is the stored SystemModstamp position of Identity_Link__c
// reads; RemoteLinkCompleteCursor is when the last complete read started.
const (
	RemoteLinkCursor         = "salesforce.identity_link.systemmodstamp"
	RemoteLinkCompleteCursor = "salesforce.identity_link.complete_read"
)

// ReadMode says whether a read may be incremental.
type ReadMode int

const (
	// Incremental reads users changed since the stored cursor (everything on
	// the first run). Salesforce users are never deleted, only deactivated,
	// and deactivation changes SystemModstamp: nothing is missed.
	Incremental ReadMode = iota
	// Full reads every user (backfill).
	Full
)

// ReadStats says what one read did.
type ReadStats struct {
	Users        int
	Incremental  bool // users were read since a cursor
	AccountLinks int
	RemoteLinks  int
	// NotSeen is the number of account links dropped from the snapshot.
	NotSeen int64
	// RemoteLinksGone is the number of Identity_Link__c rows dropped from
	// the snapshot: deleted in Salesforce since the last read.
	RemoteLinksGone int64
	// RemoteLinksComplete is true when every Identity_Link__c record was
	// read, false when only those changed or deleted since the cursor.
	RemoteLinksComplete bool
	// Notes are warnings for the run record and the admin: a provider that
	// read no links while others have some, a provider read by name because
	// AuthProvider could not be queried.
	Notes []string
}

// ReadAll reads users, account links and Identity_Link__c rows into sink.
// The three are independent query chains and run concurrently (the read
// takes as long as the longest chain, not the sum: DESIGN §10), so sink must
// be safe for concurrent use, as store.Store is. The first failure cancels
// the other reads and is the error returned.
func (c *Client) ReadAll(ctx context.Context, sink Sink, runID int64, mode ReadMode) (ReadStats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		st   ReadStats
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error // in the order they happened
	)
	read := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		}()
	}
	read(func() (err error) {
		st.Users, st.Incremental, err = c.ReadUsers(ctx, sink, runID, mode)
		return err
	})
	read(func() (err error) {
		st.AccountLinks, st.NotSeen, st.Notes, err = c.ReadAccountLinks(ctx, sink, runID)
		return err
	})
	read(func() (err error) {
		st.RemoteLinks, st.RemoteLinksGone, st.RemoteLinksComplete, err = c.ReadRemoteLinks(ctx, sink, runID, mode)
		return err
	})
	wg.Wait()
	if len(errs) > 0 {
		// The first failure is the cause; the others are usually its cancellation.
		return st, errs[0]
	}
	return st, nil
}

type userRecord struct {
	ID                   string `json:"Id"`
	Username             string `json:"Username"`
	FederationIdentifier string `json:"FederationIdentifier"`
	Email                string `json:"Email"`
	IsActive             bool   `json:"IsActive"`
	UserType             string `json:"UserType"`
	CreatedDate          string `json:"CreatedDate"`
	SystemModstamp       string `json:"SystemModstamp"`
}

const userFields = "Id, Username, FederationIdentifier, Email, IsActive, UserType, CreatedDate, SystemModstamp"

func (r *userRecord) scanField(key, raw []byte) bool {
	switch {
	case jsonscan.Key(key, "Id"):
		return jsonscan.Text(&r.ID, raw)
	case jsonscan.Key(key, "Username"):
		return jsonscan.Text(&r.Username, raw)
	case jsonscan.Key(key, "FederationIdentifier"):
		return jsonscan.Text(&r.FederationIdentifier, raw)
	case jsonscan.Key(key, "Email"):
		return jsonscan.Text(&r.Email, raw)
	case jsonscan.Key(key, "IsActive"):
		return jsonscan.Bool(&r.IsActive, raw)
	case jsonscan.Key(key, "UserType"):
		return jsonscan.Text(&r.UserType, raw)
	case jsonscan.Key(key, "CreatedDate"):
		return jsonscan.Text(&r.CreatedDate, raw)
	case jsonscan.Key(key, "SystemModstamp"):
		return jsonscan.Text(&r.SystemModstamp, raw)
	}
	return true // attributes, and fields idlink does not read
}

// ReadUsers streams User records into sink, page by page. With Incremental
// and a stored cursor it reads only users whose SystemModstamp is at or after
// the cursor minus the configured overlap. The new cursor (the newest
// SystemModstamp seen) is committed with the last page.
func (c *Client) ReadUsers(ctx context.Context, sink UserSink, runID int64, mode ReadMode) (n int, incremental bool, err error) {
	soql := "SELECT " + userFields + " FROM User"
	var since time.Time
	if mode == Incremental {
		v, ok, err := sink.GetCursor(ctx, UserCursor)
		if err != nil {
			return 0, false, fmt.Errorf("salesforce users: read cursor: %w", err)
		}
		if ok {
			since, err = time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return 0, false, fmt.Errorf("salesforce users: stored cursor %s=%q is not a time; delete it (or run a backfill) to read everything again: %w", UserCursor, v, err)
			}
			incremental = true
			soql += " WHERE SystemModstamp >= " + soqlDateTime(since.Add(-c.cfg.IncrementalOverlap).Truncate(time.Second))
		}
	}
	newest := since
	batch := make([]identity.SalesforceUser, 0, c.cfg.QueryBatchSize)
	n, err = queryEach(ctx, c, soql, func(recs []userRecord, last bool) error {
		batch = batch[:0]
		for _, r := range recs {
			u, err := r.toIdentity()
			if err != nil {
				return err
			}
			if u.SystemModstamp.After(newest) {
				newest = u.SystemModstamp
			}
			batch = append(batch, u)
		}
		var cur *identity.Cursor
		if last && !newest.IsZero() {
			cur = &identity.Cursor{Name: UserCursor, Value: newest.UTC().Format(time.RFC3339Nano)}
		}
		if len(batch) == 0 && cur == nil {
			return nil
		}
		if err := sink.UpsertSalesforceUsers(ctx, runID, batch, cur); err != nil {
			return fmt.Errorf("salesforce users: store page: %w", err)
		}
		return nil
	})
	if err != nil {
		return n, incremental, fmt.Errorf("read Salesforce users: %w", err)
	}
	return n, incremental, nil
}

func (r userRecord) toIdentity() (identity.SalesforceUser, error) {
	created, err := parseSFTime(r.CreatedDate)
	if err != nil {
		return identity.SalesforceUser{}, fmt.Errorf("user %s CreatedDate: %w", r.ID, err)
	}
	mod, err := parseSFTime(r.SystemModstamp)
	if err != nil {
		return identity.SalesforceUser{}, fmt.Errorf("user %s SystemModstamp: %w", r.ID, err)
	}
	return identity.SalesforceUser{
		ID: r.ID, Username: r.Username, FederationIdentifier: r.FederationIdentifier, Email: r.Email,
		IsActive: r.IsActive, UserType: r.UserType, CreatedDate: created, SystemModstamp: mod,
	}, nil
}

type accountLinkRecord struct {
	ID               string `json:"Id"`
	SsoProviderName  string `json:"SsoProviderName"`
	RemoteIdentifier string `json:"RemoteIdentifier"`
	UserID           string `json:"UserId"`
}

func (r *accountLinkRecord) scanField(key, raw []byte) bool {
	switch {
	case jsonscan.Key(key, "Id"):
		return jsonscan.Text(&r.ID, raw)
	case jsonscan.Key(key, "SsoProviderName"):
		return jsonscan.Text(&r.SsoProviderName, raw)
	case jsonscan.Key(key, "RemoteIdentifier"):
		return jsonscan.Text(&r.RemoteIdentifier, raw)
	case jsonscan.Key(key, "UserId"):
		return jsonscan.Text(&r.UserID, raw)
	}
	return true // attributes, and fields idlink does not read
}

// linkChainCap: "A query() call returns up to 500 rows. A queryMore() call
// returns 500 more, up to 2500 total. No more records are returned after
// 2500. ... issue a COUNT() query ... If there are more than 2500 records,
// divide your query by filtering on fields, like UserId."
// https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_thirdpartyaccountlink.htm
const linkChainCap = 2500

// ReadAccountLinks reads the ThirdPartyAccountLink rows of every configured
// provider. Each provider is first resolved to its AuthProvider record
// (resolveProviders) and its links are read by SsoProviderId: the Object
// Reference describes SsoProviderName only as "the name associated with the
// AuthProvider", without saying whether it is the developer name or the
// friendly name, so filtering by it can silently read nothing. The rows are
// stored under the configured name. Each provider is read in keyset
// partitions (Id > last ORDER BY Id LIMIT partition) that stay below the
// 2,500-row chain cap (Id rather than UserId: it is unique, so a partition
// boundary never splits equal keys), and checked against a COUNT() taken
// first: a read that may be short is an error wrapping ErrTruncated, never a
// short list. Only after every provider is read completely are links not
// seen dropped from the snapshot. A provider that reads no link while the
// org holds links of other providers is named in the notes.
//
// Every run reads every link (the object has no SystemModstamp), nearly all
// unchanged, so a page whose digest the last complete read recorded
// (identity.AccountLinkPagesCursor) is not handed to the store at all: the
// store holds exactly those rows, since any write of the links deletes the
// digests. When every page is such a page and no other was read, nothing
// can have been deleted either.
func (c *Client) ReadAccountLinks(ctx context.Context, sink AccountLinkSink, runID int64) (n int, notSeen int64, notes []string, err error) {
	if len(c.cfg.Providers) == 0 {
		return 0, 0, nil, errors.New("read ThirdPartyAccountLink: no Auth. Provider configured: list the provider developer names (SsoProviderName) to read")
	}
	refs, notes, err := c.resolveProviders(ctx)
	if err != nil {
		return 0, 0, notes, err
	}
	stored, recorded, err := sink.GetCursor(ctx, identity.AccountLinkPagesCursor)
	if err != nil {
		return 0, 0, notes, fmt.Errorf("read ThirdPartyAccountLink: %w", err)
	}
	pages := linkPages{recorded: recorded, stored: map[string]bool{}}
	if stored != "" {
		for _, d := range strings.Split(stored, ",") {
			pages.stored[d] = true
		}
	}
	var empty, seen []string
	for _, ref := range refs {
		k, err := c.readProviderLinks(ctx, sink, runID, ref, &seen, &pages)
		n += k
		if err != nil {
			return n, 0, notes, fmt.Errorf("read ThirdPartyAccountLink of provider %s: %w", ref.name, err)
		}
		if k == 0 {
			empty = append(empty, ref.name)
		}
	}
	if len(empty) > 0 {
		note, err := c.otherProvidersNote(ctx, refs, empty)
		if err != nil {
			return n, 0, notes, err
		}
		if note != "" {
			c.cfg.Logger.Warn(note)
			notes = append(notes, note)
		}
	}
	if pages.unchanged() {
		// The same pages as the read that stored them: nothing was deleted.
		return n, 0, notes, nil
	}
	notSeen, err = sink.DropAccountLinksExcept(ctx, seen)
	if err != nil {
		return n, 0, notes, fmt.Errorf("read ThirdPartyAccountLink: drop links not seen: %w", err)
	}
	if err := sink.SetCursor(ctx, identity.Cursor{Name: identity.AccountLinkPagesCursor, Value: strings.Join(pages.read, ",")}); err != nil {
		return n, notSeen, notes, fmt.Errorf("read ThirdPartyAccountLink: record the pages' digests: %w", err)
	}
	return n, notSeen, notes, nil
}

// linkPages are the digests of ThirdPartyAccountLink pages: those the last
// complete read stored (the store holds their rows as they were) and those
// this read met.
type linkPages struct {
	recorded bool // the cursor was there: without it the store may hold anything
	stored   map[string]bool
	read     []string
	written  int // pages read whose digest was not among stored
}

// unchanged reports whether this read met exactly the pages stored.
func (p *linkPages) unchanged() bool {
	return p.recorded && p.written == 0 && len(p.read) == len(p.stored)
}

// linkPageDigest identifies a page of links as it would be stored: 128 bits
// of SHA-256 over each row's values, each prefixed by its length so that no
// two pages hash alike by a value moving between fields.
func linkPageDigest(links []identity.ThirdPartyAccountLink) string {
	var b []byte
	for _, l := range links {
		for _, v := range [...]string{l.ID, l.Provider, l.RemoteIdentifier, l.UserID} {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// providerRef is a configured provider and how its links are filtered.
type providerRef struct {
	name string // as configured: the name links are stored under
	id   string // AuthProvider Id; "" when read by SsoProviderName
}

func (r providerRef) where() string {
	if r.id != "" {
		return "SsoProviderId = " + soqlString(r.id)
	}
	return "SsoProviderName = " + soqlString(r.name)
}

type authProviderRecord struct {
	ID            string `json:"Id"`
	DeveloperName string `json:"DeveloperName"`
	FriendlyName  string `json:"FriendlyName"`
	ProviderType  string `json:"ProviderType"`
}

// resolveProviders finds each configured provider's AuthProvider record: a
// configured id first, else the record whose DeveloperName, or failing that
// FriendlyName, equals the configured name (case-insensitively). A name
// that matches no record, or several, is an error naming the org's
// providers. When AuthProvider cannot be queried (it needs Customize
// Application and Manage AuthProviders, Object Reference "AuthProvider"),
// providers without a configured id are read by SsoProviderName, with a
// note saying how to do better.
func (c *Client) resolveProviders(ctx context.Context) ([]providerRef, []string, error) {
	refs := make([]providerRef, len(c.cfg.Providers))
	need := false
	for i, p := range c.cfg.Providers {
		refs[i] = providerRef{name: p, id: c.cfg.ProviderIDs[p]}
		need = need || refs[i].id == ""
	}
	if !need {
		return refs, nil, nil
	}
	var aps []authProviderRecord
	_, err := queryEach(ctx, c, "SELECT Id, DeveloperName, FriendlyName, ProviderType FROM AuthProvider", func(recs []authProviderRecord, _ bool) error {
		aps = append(aps, recs...)
		return nil
	})
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Code == "INVALID_TYPE" || strings.HasPrefix(apiErr.Code, "INSUFFICIENT_ACCESS")) {
		note := "AuthProvider cannot be queried by the integration user (" + apiErr.Code + "), so ThirdPartyAccountLink rows are read by SsoProviderName = the configured name, which Salesforce does not document as the developer or the friendly name: set providers[].auth_provider_id to the Auth. Provider's Id (0SO..., in Setup > Auth. Providers) or give the user Customize Application and Manage AuthProviders"
		c.cfg.Logger.Warn(note)
		return refs, []string{note}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read AuthProvider: %w", err)
	}
	known := make([]string, len(aps))
	for i, a := range aps {
		known[i] = fmt.Sprintf("%s (%q)", a.DeveloperName, a.FriendlyName)
	}
	for i := range refs {
		if refs[i].id != "" {
			continue
		}
		var byDev, byName []authProviderRecord
		for _, a := range aps {
			if strings.EqualFold(a.DeveloperName, refs[i].name) {
				byDev = append(byDev, a)
			} else if strings.EqualFold(a.FriendlyName, refs[i].name) {
				byName = append(byName, a)
			}
		}
		switch {
		case len(byDev) == 1:
			refs[i].id = byDev[0].ID
		case len(byDev) == 0 && len(byName) == 1:
			refs[i].id = byName[0].ID
		case len(byDev)+len(byName) > 1:
			return nil, nil, fmt.Errorf("providers[].name %q names several Auth. Providers of this org (%s): use the developer name (URL Suffix) or set auth_provider_id", refs[i].name, strings.Join(known, ", "))
		default:
			return nil, nil, fmt.Errorf("providers[].name %q is no Auth. Provider of this org: use its developer name (URL Suffix in Setup > Auth. Providers); the org has %s", refs[i].name, orNone(known))
		}
	}
	return refs, nil, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// otherProvidersNote says, loudly, that the providers in empty read no link
// while the org holds links of other providers, naming those.
func (c *Client) otherProvidersNote(ctx context.Context, refs []providerRef, empty []string) (string, error) {
	var not []string
	for _, r := range refs {
		not = append(not, r.where())
	}
	where := "NOT (" + strings.Join(not, " OR ") + ")"
	// A sample names the others; the ThirdPartyAccountLink chain cap makes a
	// full scan pointless here.
	var names []string
	_, err := queryEach(ctx, c, "SELECT SsoProviderName FROM ThirdPartyAccountLink WHERE "+where+" LIMIT 200", func(recs []accountLinkRecord, _ bool) error {
		for _, r := range recs {
			if !slices.Contains(names, r.SsoProviderName) {
				names = append(names, r.SsoProviderName)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("look for links of other providers: %w", err)
	}
	if len(names) == 0 {
		return "", nil
	}
	slices.Sort(names)
	return fmt.Sprintf("provider %s read no ThirdPartyAccountLink rows, but the org holds links of other Auth. Providers (%s): check providers[].name and auth_provider_id", strings.Join(empty, ", "), strings.Join(names, ", ")), nil
}

func (c *Client) readProviderLinks(ctx context.Context, sink AccountLinkSink, runID int64, ref providerRef, seen *[]string, pages *linkPages) (int, error) {
	where := ref.where()
	want, err := c.count(ctx, "SELECT COUNT() FROM ThirdPartyAccountLink WHERE "+where)
	if err != nil {
		return 0, err
	}
	total, lastID := 0, ""
	batch := make([]identity.ThirdPartyAccountLink, 0, 500)
	for {
		soql := "SELECT Id, SsoProviderName, RemoteIdentifier, UserId FROM ThirdPartyAccountLink WHERE " + where
		if lastID != "" {
			soql += " AND Id > " + soqlString(lastID)
		}
		soql += fmt.Sprintf(" ORDER BY Id LIMIT %d", c.cfg.LinkPartitionSize)
		got, err := queryEach(ctx, c, soql, func(recs []accountLinkRecord, _ bool) error {
			batch = batch[:0]
			for _, r := range recs {
				// Keyset paging relies on Salesforce's own Id order for both
				// ORDER BY Id and Id > x, so it is never compared here.
				lastID = r.ID
				*seen = append(*seen, r.ID)
				// Stored under the configured name, whatever SsoProviderName holds.
				batch = append(batch, identity.ThirdPartyAccountLink{ID: r.ID, Provider: ref.name, RemoteIdentifier: r.RemoteIdentifier, UserID: r.UserID})
			}
			if len(batch) == 0 {
				return nil
			}
			d := linkPageDigest(batch)
			pages.read = append(pages.read, d)
			if pages.stored[d] {
				return nil // stored as it is by the read that recorded d
			}
			pages.written++
			if err := sink.UpsertAccountLinks(ctx, runID, batch); err != nil {
				return fmt.Errorf("store page: %w", err)
			}
			return nil
		})
		total += got
		if err != nil {
			return total, err
		}
		if got >= linkChainCap {
			return total, fmt.Errorf("%w: one partition returned %d rows, Salesforce's cap: lower the link partition size", ErrTruncated, got)
		}
		if got > c.cfg.LinkPartitionSize {
			return total, fmt.Errorf("%w: a partition with LIMIT %d returned %d rows", ErrTruncated, c.cfg.LinkPartitionSize, got)
		}
		if got < c.cfg.LinkPartitionSize {
			break
		}
	}
	// Links created during the read only add rows; fewer than COUNT() means
	// Salesforce stopped early.
	if total < want {
		return total, fmt.Errorf("%w: read %d rows but COUNT() said %d", ErrTruncated, total, want)
	}
	return total, nil
}

type remoteLinkRecord struct {
	ID             string `json:"Id"`
	Subject        string `json:"Subject__c"`
	UserID         string `json:"User__c"`
	ObjectID       string `json:"Entra_Object_Id__c"`
	TenantID       string `json:"Tenant_Id__c"`
	Provider       string `json:"Provider__c"`
	MatchRule      string `json:"Match_Rule__c"`
	Status         string `json:"Status__c"`
	RevokeReason   string `json:"Revoke_Reason__c"`
	LastReconciled string `json:"Last_Reconciled__c"`
	StoreID        string `json:"Store_Id__c"`
	SystemModstamp string `json:"SystemModstamp"`
	IsDeleted      bool   `json:"IsDeleted"` // queried with queryAll only
}

const remoteLinkFields = "Id, Subject__c, User__c, Entra_Object_Id__c, Tenant_Id__c, Provider__c, Match_Rule__c, Status__c, Revoke_Reason__c, Last_Reconciled__c, Store_Id__c, SystemModstamp"

// ReadRemoteLinks brings the Identity_Link__c snapshot up to date and says
// whether it read every record (complete) or only the changes.
//
// A complete read streams every record and then drops from the snapshot the
// records it did not return: a record an admin deleted must not stay there,
// where the plan would take the person's link for written and never write it
// again. With Incremental, a stored cursor and a complete read less than
// RemoteLinksCompleteEvery ago, it reads instead, with queryAll, the records
// whose SystemModstamp is at or after the cursor minus the overlap: the
// changed ones, and the deleted ones still in the Recycle Bin (IsDeleted;
// their SystemModstamp is the time of the delete), which it drops. A record
// removed past the Recycle Bin (emptied, or a Bulk API hard delete) is only
// noticed by the next complete read.
func (c *Client) ReadRemoteLinks(ctx context.Context, sink RemoteLinkSink, runID int64, mode ReadMode) (n int, gone int64, complete bool, err error) {
	since, incremental, err := c.remoteLinkCursor(ctx, sink, mode)
	if err != nil {
		return 0, 0, false, err
	}
	started := time.Now()
	resource, soql := "query", "SELECT "+remoteLinkFields+" FROM Identity_Link__c"
	if incremental {
		resource = "queryAll"
		soql = "SELECT " + remoteLinkFields + ", IsDeleted FROM Identity_Link__c WHERE SystemModstamp >= " +
			soqlDateTime(since.Add(-c.cfg.IncrementalOverlap).Truncate(time.Second))
	}
	newest := since           // the newest SystemModstamp seen
	var serverStart time.Time // the org's clock when the read began
	batch := make([]identity.Link, 0, c.cfg.QueryBatchSize)
	live, deleted := map[identity.LinkKey]bool{}, map[identity.LinkKey]bool{}
	n, err = queryEachFrom(ctx, c, resource, soql, &serverStart, func(recs []remoteLinkRecord, _ bool) error {
		batch = batch[:0]
		for _, r := range recs {
			if t, err := parseSFTime(r.SystemModstamp); err != nil {
				return fmt.Errorf("Identity_Link__c %s SystemModstamp: %w", r.ID, err)
			} else if t.After(newest) {
				newest = t
			}
			key := identity.LinkKey{Provider: r.Provider, Subject: r.Subject}
			if r.IsDeleted {
				deleted[key] = true
				continue
			}
			l, err := r.toLink()
			if err != nil {
				return err
			}
			if incremental {
				live[key] = true
			}
			batch = append(batch, l)
		}
		if len(batch) == 0 {
			return nil
		}
		if err := sink.UpsertRemoteLinks(ctx, runID, batch); err != nil {
			return fmt.Errorf("store page: %w", err)
		}
		return nil
	})
	if err != nil {
		return n, 0, false, fmt.Errorf("read Identity_Link__c: %w", err)
	}
	if incremental {
		gone, err = dropDeleted(ctx, sink, deleted, live)
	} else {
		gone, err = sink.MarkRemoteLinksNotSeen(ctx, runID)
	}
	if err != nil {
		return n, 0, false, fmt.Errorf("drop deleted Identity_Link__c rows: %w", err)
	}
	if serverStart.After(newest) {
		newest = serverStart
	}
	if err := moveRemoteLinkCursors(ctx, sink, !incremental, started, since, newest); err != nil {
		return n, gone, !incremental, err
	}
	return n, gone, !incremental, nil
}

// dropDeleted drops the records an incremental read found deleted, but for
// those deleted and then written again (a new record, same Subject__c).
func dropDeleted(ctx context.Context, sink RemoteLinkSink, deleted, live map[identity.LinkKey]bool) (int64, error) {
	var keys []identity.LinkKey
	for k := range deleted {
		if !live[k] {
			keys = append(keys, k)
		}
	}
	return sink.DeleteRemoteLinks(ctx, keys)
}

// moveRemoteLinkCursors records a read of Identity_Link__c: when a complete
// read started, and where the next incremental read starts. That is the
// later of the newest record seen and the org's clock when the read began
// (less the overlap, for records committed late with an earlier stamp):
// after a burst of writes (a backfill's, read back by the next run) the
// newest record alone would make every later read return the burst's last
// minute again until a newer record appears. The position moves only after
// the snapshot holds what it covers: a run stopped before reads the same
// records again.
func moveRemoteLinkCursors(ctx context.Context, sink RemoteLinkSink, complete bool, started, since, next time.Time) error {
	if complete {
		if err := sink.SetCursor(ctx, identity.Cursor{Name: RemoteLinkCompleteCursor, Value: started.UTC().Format(time.RFC3339Nano)}); err != nil {
			return fmt.Errorf("Identity_Link__c: store cursor: %w", err)
		}
	}
	if !next.After(since) {
		return nil
	}
	if err := sink.SetCursor(ctx, identity.Cursor{Name: RemoteLinkCursor, Value: next.UTC().Format(time.RFC3339Nano)}); err != nil {
		return fmt.Errorf("Identity_Link__c: store cursor: %w", err)
	}
	return nil
}

// remoteLinkCursor returns the SystemModstamp an incremental read of
// Identity_Link__c starts from, and whether one may.
func (c *Client) remoteLinkCursor(ctx context.Context, sink RemoteLinkSink, mode ReadMode) (time.Time, bool, error) {
	if mode != Incremental || c.cfg.RemoteLinksCompleteEvery <= 0 {
		return time.Time{}, false, nil
	}
	read := func(name string) (time.Time, bool, error) {
		v, ok, err := sink.GetCursor(ctx, name)
		if err != nil || !ok {
			return time.Time{}, false, err
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("Identity_Link__c: stored cursor %s=%q is not a time; delete it (or run a backfill) to read everything again: %w", name, v, err)
		}
		return t, true, nil
	}
	last, ok, err := read(RemoteLinkCompleteCursor)
	if err != nil || !ok || time.Since(last) >= c.cfg.RemoteLinksCompleteEvery {
		return time.Time{}, false, err
	}
	return read(RemoteLinkCursor)
}

func (r remoteLinkRecord) toLink() (identity.Link, error) {
	t, err := parseSFTime(r.LastReconciled)
	if err != nil {
		return identity.Link{}, fmt.Errorf("Identity_Link__c %s Last_Reconciled__c: %w", r.ID, err)
	}
	l := identity.Link{
		Provider: r.Provider, Subject: r.Subject, SalesforceUserID: r.UserID, ObjectID: r.ObjectID, TenantID: r.TenantID,
		Rule: identity.Rule(r.MatchRule), Reason: r.RevokeReason, UpdatedAt: t, StoreID: r.StoreID,
	}
	switch r.Status {
	case statusActive:
		l.Status = identity.LinkActive
	case statusRevoked:
		l.Status = identity.LinkRevoked
	default:
		return identity.Link{}, fmt.Errorf("Identity_Link__c %s has Status__c %q: the idlink package defines Active and Revoked only", r.ID, r.Status)
	}
	return l, nil
}
