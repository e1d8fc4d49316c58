package entra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Sink is where a sync writes Entra users; store.Store satisfies it.
type Sink interface {
	// UpsertEntraUsers writes one page; a non-nil cursor is committed in the
	// same transaction.
	UpsertEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser, cursor *identity.Cursor) error
	LookupEntraUsers(ctx context.Context, oids []string) (map[string]identity.EntraUser, error)
	// A full listing: begun, staged page by page, finished with its cursor
	// and the marking of the users it did not hold (store.Store says how).
	BeginEntraListing(ctx context.Context, runID int64) error
	StageEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser) error
	HoldEntraListing(ctx context.Context, runID int64) error
	FinishEntraListing(ctx context.Context, runID int64, cursor *identity.Cursor) (notSeen int64, whole bool, err error)
	SetEntraScope(ctx context.Context, inScope identity.ObjectIDSet) error
	FixEntraScope(ctx context.Context, inScope identity.ObjectIDSet, users []identity.ObjectID) error
	ChangeEntraScope(ctx context.Context, from string, inScope identity.ObjectIDSet, users []identity.ObjectID) (bool, error)
	GetCursor(ctx context.Context, name string) (value string, ok bool, err error)
}

// Mode chooses between a full listing and delta.
type Mode string

const (
	// ModeAuto uses the stored deltaLink when there is one, else lists everything.
	ModeAuto Mode = "auto"
	// ModeFull lists every user (backfill) and establishes a new deltaLink.
	ModeFull Mode = "full"
)

// Result says what one sync did.
type Result struct {
	Kind         string // "full" or "delta"
	Pages        int    // user pages read
	Users        int    // users written
	Changed      int    // delta: users added or changed
	SoftDeleted  int    // delta: @removed reason "changed"
	HardDeleted  int    // delta: @removed reason "deleted"
	RecycleBin   int    // full: soft-deleted users read from the recycle bin
	NotSeen      int64  // full: stored users absent from the listing and the recycle bin, marked hard deleted
	Guests       int    // written users that are guests (#EXT# or userType Guest)
	NoUPN        int    // written users without userPrincipalName
	Skipped      int    // items ignored: object id not a GUID, or removal of a user never stored
	InScope      int    // users assigned to the Salesforce app (-1 when scope is all)
	Resynced     bool   // the deltaLink was rejected and a full listing ran instead
	Note         string // for the run record, e.g. why a resync happened
	ThrottleWait time.Duration
}

// Source reads Entra users through Microsoft Graph.
type Source struct {
	cfg Config
	c   *client
	log *slog.Logger
	// scope is this sync's app-assignment scope once read (nil before and
	// when every user is in scope): a full listing's pages stored after that
	// carry their users' flags, so that applyScope finds them right.
	scope atomic.Pointer[identity.ObjectIDSet]
	// scopeRead, when a test sets it, runs once scope is set.
	scopeRead func()
}

// New validates cfg and builds the Graph client. It makes no request.
func New(cfg Config, log *slog.Logger) (*Source, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, c: c, log: log.With("source", "entra", "tenant", cfg.TenantID)}, nil
}

// CursorName is where the deltaLink is kept. It names the tenant and the scope
// mode so that a changed configuration starts with a full listing.
func (s *Source) CursorName() string {
	return "entra.users.delta/v1/" + s.cfg.TenantID + "/" + string(s.cfg.Scope)
}

// Sync reads Entra users into sink for run runID.
//
// The app-assignment scope and the user read are independent chains of
// requests, so they run concurrently (DESIGN §10: the wall time is the longer
// chain, not the sum). Users are written with InScope true while the scope is
// unknown; once both are done, applyScope sets every stored user's flag from
// the complete scope (it always did, for users not in this read).
func (s *Source) Sync(ctx context.Context, sink Sink, runID int64, mode Mode) (Result, error) {
	s.c.throttle.reset()
	s.scope.Store(nil)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type scopeRead struct {
		scope identity.ObjectIDSet
		err   error
	}
	var scoped chan scopeRead
	if s.cfg.Scope == ScopeAppAssignments {
		scoped = make(chan scopeRead, 1)
		go func() {
			scope, err := s.assignedUsers(ctx)
			if err != nil {
				cancel() // the read is useless without its scope
			} else {
				s.scope.Store(&scope)
				if s.scopeRead != nil {
					s.scopeRead()
				}
			}
			scoped <- scopeRead{scope, err}
		}()
	}
	var written writtenUsers
	recorded, err := s.takeScopeDigest(ctx, sink, runID, scoped != nil)
	if err != nil {
		if scoped != nil {
			cancel()
			// A failed scope read cancels this one: its own failure is the
			// cause, whatever the cancelled write reported.
			if sr := <-scoped; sr.err != nil && !errors.Is(sr.err, context.Canceled) {
				err = sr.err
			}
		}
		return s.finish(Result{InScope: -1}, err)
	}
	res, err := s.readUsers(ctx, sink, runID, mode, &written)
	var scope *identity.ObjectIDSet
	if scoped != nil {
		if err != nil {
			cancel() // the scope is useless without the read
		}
		sr := <-scoped
		// The scope's own failure is the cause; a cancelled scope read
		// merely followed a failed user read.
		if sr.err != nil && (err == nil || !errors.Is(sr.err, context.Canceled)) {
			return s.finish(res, sr.err)
		}
		scope = &sr.scope
		res.InScope = scope.Len()
	}
	if err == nil {
		err = s.applyScope(ctx, sink, runID, scope, recorded, res.Kind == "delta", &written)
	}
	return s.finish(res, err)
}

// readUsers reads the users, by delta from the stored deltaLink when mode
// allows and there is one, else by a full listing (also when Graph rejects
// the deltaLink). InScope of the users written is left to applyScope.
func (s *Source) readUsers(ctx context.Context, sink Sink, runID int64, mode Mode, written *writtenUsers) (Result, error) {
	res := Result{InScope: -1}
	link := ""
	if mode != ModeFull {
		v, ok, err := sink.GetCursor(ctx, s.CursorName())
		if err != nil {
			return res, fmt.Errorf("entra: read stored deltaLink: %w", err)
		}
		if ok {
			link = v
		}
	}
	if link != "" {
		res.Kind = "delta"
		err := s.delta(ctx, sink, runID, link, &res, written)
		if !errors.Is(err, errResync) {
			return res, err
		}
		res.Resynced = true
		res.Note = "Graph rejected the stored deltaLink (expired after 7 days or reset): full resync"
		s.log.Warn("deltaLink rejected, running a full listing", "cause", err.Error())
		keep := res
		res = Result{InScope: keep.InScope, Resynced: true, Note: keep.Note, Skipped: keep.Skipped}
	}
	res.Kind = "full"
	return res, s.full(ctx, sink, runID, &res, written)
}

func (s *Source) finish(res Result, err error) (Result, error) {
	res.ThrottleWait = s.c.throttle.total()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			// Cancelled from outside (the other side failed, or a stop):
			// not this side's failure; the run logs the cause.
			s.log.Info("entra sync stopped", "kind", res.Kind, "pages", res.Pages)
		} else {
			s.log.Error("entra sync failed", "kind", res.Kind, "pages", res.Pages, "error", err.Error())
		}
		return res, err
	}
	s.log.Info("entra sync done", "kind", res.Kind, "pages", res.Pages, "users", res.Users, "changed", res.Changed,
		"soft_deleted", res.SoftDeleted, "hard_deleted", res.HardDeleted, "not_seen", res.NotSeen, "guests", res.Guests,
		"no_upn", res.NoUPN, "in_scope", res.InScope, "throttle_wait", res.ThrottleWait, "resynced", res.Resynced)
	return res, nil
}

// writtenUsers are the live users a delta read wrote with InScope still
// unknown (true), up to maxScopeFixes; beyond that only the whole scope is
// recorded again. listed are the users a full listing wrote before the
// scope was read (16 bytes each: a listing's every user fits) whose flags
// are not yet set (fixListed), recorded says the scope was recorded while
// the listing went on, and whole says that the listing wrote every stored
// user: the others carrying the scope's flags, only these need them.
type writtenUsers struct {
	users    []identity.EntraUser
	overflow bool
	listed   []identity.ObjectID
	recorded bool
	whole    bool
}

// maxScopeFixes bounds the users a delta run keeps to correct their InScope
// one by one instead of recording the whole scope again.
const maxScopeFixes = 50_000

func (w *writtenUsers) add(u identity.EntraUser) {
	if w.overflow || len(w.users) >= maxScopeFixes {
		w.users, w.overflow = nil, true
		return
	}
	w.users = append(w.users, u)
}

// takeScopeDigest returns the digest of the scope recorded before and
// replaces it with scopePending until this run has recorded its own: the
// users it writes carry an unknown scope, and should the run stop before
// applyScope, the next run must record the whole scope, not trust the digest.
func (s *Source) takeScopeDigest(ctx context.Context, sink Sink, runID int64, scoped bool) (string, error) {
	if !scoped {
		return "", nil
	}
	prev, _, err := sink.GetCursor(ctx, s.scopeCursorName())
	if err != nil {
		return "", fmt.Errorf("entra: read the recorded scope's digest: %w", err)
	}
	if err := sink.UpsertEntraUsers(ctx, runID, nil, &identity.Cursor{Name: s.scopeCursorName(), Value: scopePending}); err != nil {
		return "", fmt.Errorf("entra: mark the recorded scope pending: %w", err)
	}
	return prev, nil
}

// scopePending is the digest cursor's value while a run may be writing
// users whose scope is not yet set: it matches no digest.
const scopePending = "pending"

// applyScope records which stored users are assigned to the app. Recording
// it means checking every stored user (13 % of a scheduled run's CPU at a
// million users, 1.5 s after a million-user backfill's listing), so a delta
// run whose scope has the digest recorded before only corrects the users it
// wrote itself, and so does a full listing that wrote every stored user
// (those it wrote before the scope was read; the others carry their flags);
// any other run records the whole scope. The digest is stored with the last
// change or after it, so that it always describes what the store holds.
func (s *Source) applyScope(ctx context.Context, sink Sink, runID int64, scope *identity.ObjectIDSet, recorded string, deltaRun bool, written *writtenUsers) error {
	if scope == nil {
		return nil
	}
	digest := &identity.Cursor{Name: s.scopeCursorName(), Value: scope.Digest()}
	if !deltaRun && written.whole && !written.overflow {
		// Those users were written in scope (storePages; a delta read cut
		// short by a resync wrote its users so too): only those outside it
		// need another flag. Naming all of them had the store look up each,
		// most to change nothing (1.1 s of its CPU after a million-user
		// listing, on the run's critical path).
		fix := outside(*scope, slices.Concat(writtenIDs(written.users), written.listed))
		if len(fix) > 0 || !written.recorded {
			if err := sink.FixEntraScope(ctx, *scope, fix); err != nil {
				return fmt.Errorf("entra: record the app-assignment scope: %w", err)
			}
		}
		if err := sink.UpsertEntraUsers(ctx, runID, nil, digest); err != nil {
			return fmt.Errorf("entra: record the scope's digest: %w", err)
		}
		return nil
	}
	if deltaRun && !written.overflow {
		if recorded == digest.Value {
			return s.fixScope(ctx, sink, runID, *scope, written.users, digest)
		}
		// A changed scope: when the store holds the scope the recorded
		// digest describes, only the users in one of the two, and the
		// users this run wrote, can need another flag.
		ok, err := sink.ChangeEntraScope(ctx, recorded, *scope, writtenIDs(written.users))
		if err != nil {
			return fmt.Errorf("entra: record the app-assignment scope's changes: %w", err)
		}
		if ok {
			if err := sink.UpsertEntraUsers(ctx, runID, nil, digest); err != nil {
				return fmt.Errorf("entra: record the scope's digest: %w", err)
			}
			return nil
		}
	}
	if err := sink.SetEntraScope(ctx, *scope); err != nil {
		return fmt.Errorf("entra: record app-assignment scope: %w", err)
	}
	if err := sink.UpsertEntraUsers(ctx, runID, nil, digest); err != nil {
		return fmt.Errorf("entra: record the scope's digest: %w", err)
	}
	return nil
}

// fixListed, once the scope is read, records it and sets the flags of the
// users the listing wrote before (those outside it), while the listing goes
// on: after its last page the run would wait for it (43-110 ms at 100,000
// users here). Not while the listing is held: its users reach the store at
// the finish, and applyScope sets them after it. The digest stays pending
// until applyScope: the users not yet listed may carry other flags.
func (s *Source) fixListed(ctx context.Context, sink Sink, l *listing) error {
	scope := s.scope.Load()
	if scope == nil || l.held || len(l.written.listed) == 0 {
		return nil
	}
	if err := sink.FixEntraScope(ctx, *scope, outside(*scope, l.written.listed)); err != nil {
		return fmt.Errorf("entra: record the app-assignment scope while listing: %w", err)
	}
	l.written.listed, l.written.recorded = nil, true
	return nil
}

// outside returns the ids in ids that scope does not hold.
func outside(scope identity.ObjectIDSet, ids []identity.ObjectID) []identity.ObjectID {
	var out []identity.ObjectID
	for _, id := range ids {
		if !scope.Contains(id) {
			out = append(out, id)
		}
	}
	return out
}

func writtenIDs(users []identity.EntraUser) []identity.ObjectID {
	var ids []identity.ObjectID
	for _, u := range users {
		if id, ok := identity.ParseObjectID(u.ObjectID); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// fixScope sets InScope of the users this run wrote, the scope being
// unchanged, and restores the digest with them.
func (s *Source) fixScope(ctx context.Context, sink Sink, runID int64, scope identity.ObjectIDSet, users []identity.EntraUser, digest *identity.Cursor) error {
	var fix []identity.EntraUser
	for _, u := range users {
		if in := scope.Has(u.ObjectID); u.InScope != in {
			u.InScope = in
			fix = append(fix, u)
		}
	}
	if err := sink.UpsertEntraUsers(ctx, runID, fix, digest); err != nil {
		return fmt.Errorf("entra: record the scope of %d changed users: %w", len(fix), err)
	}
	return nil
}

// scopeCursorName names the recorded scope's digest, per tenant and scope mode.
func (s *Source) scopeCursorName() string { return s.CursorName() + "/scope-sha256" }

func (s *Source) count(res *Result, u *identity.EntraUser) {
	res.Users++
	if u.Guest() {
		res.Guests++
	}
	if u.UPN == "" {
		res.NoUPN++
	}
}

// full lists every user with $top=PageSize, one page per store transaction.
// It first asks for a deltaLink with $deltatoken=latest (Entra resources
// support "sync from now": a deltaLink and no data,
// https://learn.microsoft.com/graph/delta-query-overview) so that changes made
// while the listing runs are picked up by the next delta round; that link is
// committed with the last page. This costs one request instead of a second
// pass over the tenant in delta's smaller pages. Users in the recycle bin are
// read too (one request for up to 999 of them) and recorded as soft deleted;
// only users in neither listing are marked hard deleted. After a complete listing, stored users that
// were not seen are marked hard deleted.
func (s *Source) full(ctx context.Context, sink Sink, runID int64, res *Result, written *writtenUsers) error {
	ctx, cancel := context.WithCancel(ctx)
	// The recycle bin holds users absent from /users that are only soft
	// deleted (restorable for 30 days), which delta would also say. Its pages
	// are read beside the delta anchor request and the user listing, stored
	// before the listing's pages, so that a user both lists name (restored
	// while read) ends as the listing says.
	bin := s.fetchPages(ctx, s.c.request("/directory/deletedItems/microsoft.graph.user", odata(splitSelect(), s.cfg.PageSize)),
		"list deleted users (recycle bin)")
	var users <-chan fetchedPage
	defer func() {
		cancel() // on a failure: stops the readings still under way
		drain(bin)
		drain(users)
	}()

	// The deltaLink is taken before the listing begins: a change made while
	// the listing runs is then in the next delta, whichever page it touched.
	latest := s.cfg.GraphBaseURL + "/v1.0/users/delta?$select=" + url.QueryEscape(selectUsers) + "&$deltatoken=latest"
	body, err := s.c.getURL(ctx, latest, "get a deltaLink (users delta, $deltatoken=latest)", "User.Read.All")
	if err != nil {
		return err
	}
	var page userPage
	if err := decodeUserPage(body, &page); err != nil {
		return fmt.Errorf("entra: decode delta answer: %w", err)
	}
	deltaLink := page.DeltaLink
	if deltaLink == "" {
		return errors.New("entra: Graph answered $deltatoken=latest without @odata.deltaLink")
	}
	users = s.fetchPages(ctx, s.c.request("/users", odata(splitSelect(), s.cfg.PageSize)), "list users")

	if err := sink.BeginEntraListing(ctx, runID); err != nil {
		return fmt.Errorf("entra: begin storing the full listing: %w", err)
	}
	l := listing{written: written}
	if err := s.storePages(ctx, sink, runID, bin, "list deleted users (recycle bin)", identity.SoftDeleted, &l, res); err != nil {
		return err
	}
	if err := s.storePages(ctx, sink, runID, users, "list users", identity.NotDeleted, &l, res); err != nil {
		return err
	}
	// The deltaLink and the marking of the users no listing held are
	// committed together: a run stopped between the two would otherwise
	// leave a deltaLink after which no run marks them.
	n, whole, err := sink.FinishEntraListing(ctx, runID, &identity.Cursor{Name: s.CursorName(), Value: deltaLink})
	if err != nil {
		return fmt.Errorf("entra: store the full listing and mark the users missing from it: %w", err)
	}
	res.NotSeen, written.whole = n, whole
	return nil
}

// fetchedPage is one page of a listing as read: its body and the link
// followed from it ("" on the last page), or why the listing stopped.
// waited counts the pages in a row, this one included, that found
// pagesAhead pages waiting to be stored when they were handed over: the
// listing's chain waited for the store.
type fetchedPage struct {
	body   []byte
	next   string
	err    error
	waited int
}

// pagesAhead is how many read pages may wait to be stored. Each page names
// the next, so the chain of requests is the listing's critical path; it goes
// on while pages are decoded and stored and stalls only when storing falls
// this far behind (a page of 999 users is about 0.4 MB).
const pagesAhead = 16

// fetchPages reads a listing's pages one after another, each as soon as the
// one before names it, and hands them over in order. The channel closes after
// the last page, after a page with an error, or when ctx ends; its reader
// must drain it (drain) so that the goroutine ends.
func (s *Source) fetchPages(ctx context.Context, ri *abs.RequestInformation, what string) <-chan fetchedPage {
	out := make(chan fetchedPage, pagesAhead)
	go func() {
		defer close(out)
		body, err := s.c.get(ctx, ri, what, "User.Read.All")
		waited := 0
		for n := 1; ; n++ {
			if len(out) == cap(out) {
				waited++
			} else {
				waited = 0
			}
			p := fetchedPage{body: body, err: err, waited: waited}
			if err == nil {
				// Graph sends the link before the value; when the scan does
				// not find it, decoding decides (and storePages says what is
				// wrong with a page that does not decode).
				if p.next = peekNextLink(body); p.next == "" {
					var page userPage
					if decodeUserPage(body, &page) == nil {
						p.next = page.NextLink
					}
				}
			}
			select {
			case out <- p:
			case <-ctx.Done():
				return
			}
			if p.err != nil || p.next == "" {
				return
			}
			body, err = s.c.getURL(ctx, p.next, fmt.Sprintf("%s (page %d)", what, n+1), "User.Read.All")
		}
	}()
	return out
}

// drain waits for fetchPages to end, discarding what it still hands over
// (its context is cancelled by then, or it has ended). A nil channel is a
// listing never started.
func drain(pages <-chan fetchedPage) {
	if pages == nil {
		return
	}
	for range pages {
	}
}

// holdAfter is how many pages in a row must wait to be handed over (the
// store holding pagesAhead read pages) before the rest of a listing is held
// for its finish. A held page costs the store a fraction of a page written
// as it comes (a million users written page by page took 38.5 s of SQLite's
// CPU, held 11.3 s: IDLINK_BENCH_ROWS=1000000 TestThroughputReport), but the
// held pages are written after the last one, where the run waits for them
// (5 s at a million users here), so a listing is held only when its chain
// keeps waiting for the store. A store that stalls once (a checkpoint) holds
// up one page however long it stalls; one that falls behind for a while and
// then gains on Graph, however slowly, holds up none. Holding a
// million-user listing because pages waited (those that came while the
// recycle bin's were stored first, its 21-page chain letting 16 arrive, or
// behind a store catching up after a stall) cost its read 4-5 s here;
// written as they came, at most 1.4 pages waited on average over any 40
// after the start.
const holdAfter = pagesAhead

// listing is where a full listing's storing stands.
type listing struct {
	held    bool          // the store was asked to hold the rest for the finish
	written *writtenUsers // users stored before the scope was read
}

// storePages stages a listing's pages as fetchPages hands them over, and
// holds the listing (once) when its chain keeps waiting for the store
// (holdAfter).
func (s *Source) storePages(ctx context.Context, sink Sink, runID int64, pages <-chan fetchedPage, what string, deleted identity.Deletion,
	l *listing, res *Result) error {
	var page userPage
	batch := make([]identity.EntraUser, 0, s.cfg.PageSize)
	for n := 1; ; n++ {
		p, ok := <-pages
		switch {
		case !ok:
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("entra: %s: the listing ended before its last page", what)
		case p.err != nil:
			return p.err
		}
		if p.waited >= holdAfter && !l.held {
			if err := sink.HoldEntraListing(ctx, runID); err != nil {
				return fmt.Errorf("entra: %s: hold the listing for its finish: %w", what, err)
			}
			l.held = true
			s.log.Info("the store fell behind the listing: the rest is written at its end", "page", n, "pages_in_a_row_waited", p.waited)
		}
		if err := s.fixListed(ctx, sink, l); err != nil {
			return err
		}
		if err := decodeUserPage(p.body, &page); err != nil {
			return fmt.Errorf("entra: %s: decode page %d: %w", what, n, err)
		}
		if page.NextLink != p.next {
			return fmt.Errorf("entra: %s: page %d names its next page twice, differently (Graph sent a malformed page)", what, n)
		}
		if deleted == identity.NotDeleted {
			res.Pages++
		}
		batch = batch[:0]
		for i := range page.Value {
			w := &page.Value[i]
			oid := normOID(w.ID)
			if oid == "" {
				res.Skipped++
				s.log.Warn("user with an id that is not a GUID ignored", "id", w.ID)
				continue
			}
			u := identity.EntraUser{ObjectID: oid, TenantID: s.cfg.TenantID, Deleted: deleted}
			w.merge(&u)
			u.InScope = true // until applyScope sets it from the scope read beside, unless read already
			if scope := s.scope.Load(); scope != nil {
				u.InScope = scope.Has(oid)
			} else if s.cfg.Scope == ScopeAppAssignments {
				if id, ok := identity.ParseObjectID(oid); ok {
					l.written.listed = append(l.written.listed, id)
				} else {
					l.written.overflow = true // not one to name: the whole scope is recorded
				}
			}
			if deleted == identity.NotDeleted {
				s.count(res, &u)
			} else {
				res.RecycleBin++
				res.Users++
			}
			batch = append(batch, u)
		}
		if err := sink.StageEntraUsers(ctx, runID, batch); err != nil {
			return fmt.Errorf("entra: %s: store page %d: %w", what, n, err)
		}
		if p.next == "" {
			return nil
		}
	}
}

func splitSelect() []string {
	return []string{"id", "userPrincipalName", "mail", "displayName", "givenName", "surname", "accountEnabled", "userType"}
}

// delta follows a stored deltaLink to the next one, merging each page's
// changes onto the stored users. The new deltaLink is committed with the last
// page; a failure part-way leaves the old one, so the next run replays the
// changes (merging is idempotent).
func (s *Source) delta(ctx context.Context, sink Sink, runID int64, link string, res *Result, written *writtenUsers) error {
	var page userPage
	batch := make([]identity.EntraUser, 0, 256)
	oids := make([]string, 0, 256)
	at := make(map[string]int, 256)
	for {
		body, err := s.c.getURL(ctx, link, fmt.Sprintf("read user changes (delta page %d)", res.Pages+1), "User.Read.All")
		if err != nil {
			return err
		}
		if err := decodeUserPage(body, &page); err != nil {
			return fmt.Errorf("entra: decode delta page %d: %w", res.Pages+1, err)
		}
		res.Pages++
		oids = oids[:0]
		for i := range page.Value {
			if oid := normOID(page.Value[i].ID); oid != "" {
				oids = append(oids, oid)
			}
		}
		stored, err := sink.LookupEntraUsers(ctx, oids)
		if err != nil {
			return fmt.Errorf("entra: look up stored users for delta page %d: %w", res.Pages, err)
		}
		batch = batch[:0]
		clear(at)
		for i := range page.Value {
			w := &page.Value[i]
			oid := normOID(w.ID)
			if oid == "" {
				res.Skipped++
				s.log.Warn("user with an id that is not a GUID ignored", "id", w.ID)
				continue
			}
			// The same user may appear twice in a page: merge onto the first.
			var u identity.EntraUser
			j, dup := at[oid]
			switch {
			case dup:
				u = batch[j]
			default:
				var known bool
				u, known = stored[oid]
				if !known {
					if w.Removed != nil {
						res.Skipped++ // removal of a user idlink never stored
						continue
					}
					u = identity.EntraUser{ObjectID: oid}
				}
			}
			u.TenantID = s.cfg.TenantID
			if w.Removed != nil {
				if w.Removed.Reason == "deleted" {
					u.Deleted = identity.HardDeleted
					res.HardDeleted++
				} else {
					// "changed": in the recycle bin, restorable for 30 days.
					u.Deleted = identity.SoftDeleted
					res.SoftDeleted++
				}
			} else {
				w.merge(&u)
				u.Deleted = identity.NotDeleted
				u.InScope = true // until applyScope sets it from the scope read beside
				res.Changed++
			}
			if dup {
				batch[j] = u
				continue
			}
			at[oid] = len(batch)
			batch = append(batch, u)
		}
		for i := range batch {
			if batch[i].Deleted == identity.NotDeleted {
				s.count(res, &batch[i])
				written.add(batch[i])
			} else {
				res.Users++
			}
		}
		var cursor *identity.Cursor
		switch {
		case page.DeltaLink != "":
			cursor = &identity.Cursor{Name: s.CursorName(), Value: page.DeltaLink}
		case page.NextLink == "":
			return errors.New("entra: a delta page had neither @odata.nextLink nor @odata.deltaLink")
		}
		if err := sink.UpsertEntraUsers(ctx, runID, batch, cursor); err != nil {
			return fmt.Errorf("entra: store delta page %d: %w", res.Pages, err)
		}
		if cursor != nil {
			return nil
		}
		link = page.NextLink
	}
}
