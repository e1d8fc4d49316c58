package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/migrations"
)

const (
	oidA = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	oidB = "1b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
)

// The triggers journal what the SQLite triggers journal: inserts, deletes,
// and updates of the columns a plan reads (old and new version); nothing
// while the journal is off.
func TestJournalTriggers(t *testing.T) {
	testDSN(t)
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	var start int64 // the empty change that turned the journal on is not read
	read := func() []identity.Change {
		t.Helper()
		cs, err := s.ReadJournal(ctx, start, -1)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Off: nothing is journaled.
	if _, on, err := s.JournalState(ctx); err != nil || on {
		t.Fatalf("JournalState of a new store = on %v, %v", on, err)
	}
	u := identity.EntraUser{ObjectID: oidA, UPN: "A@x.com", Mail: "a@x.com", UserType: "Member", AccountEnabled: true, InScope: true}
	must(s.UpsertEntraUsers(ctx, 1, []identity.EntraUser{u}, nil))
	if cs := read(); len(cs) != 0 {
		t.Fatalf("journal while off = %+v", cs)
	}
	last, err := s.StartJournal(ctx)
	if err != nil || last < 1 {
		t.Fatalf("StartJournal = %d, %v; want at least 1", last, err)
	}
	if from, on, err := s.JournalState(ctx); err != nil || !on || from != last {
		t.Fatalf("JournalState = %d, %v, %v", from, on, err)
	}
	start = last

	// An unchanged user, or a change of display name only: nothing.
	must(s.UpsertEntraUsers(ctx, 2, []identity.EntraUser{u}, nil))
	u2 := u
	u2.DisplayName = "A"
	must(s.UpsertEntraUsers(ctx, 2, []identity.EntraUser{u2}, nil))
	if cs := read(); len(cs) != 0 {
		t.Fatalf("journal after unchanged upserts = %+v", cs)
	}
	// A new UPN: old and new version.
	u3 := u2
	u3.UPN = "B@x.com"
	must(s.UpsertEntraUsers(ctx, 3, []identity.EntraUser{u3}, nil))
	cs := read()
	if len(cs) != 2 || cs[0].UPN != "A@x.com" || cs[1].UPN != "B@x.com" || cs[0].ObjectID != oidA || cs[1].Seq <= cs[0].Seq {
		t.Fatalf("journal after a UPN change = %+v", cs)
	}
	// Salesforce users: a re-read moves last_seen_run and SystemModstamp only.
	sf := identity.SalesforceUser{ID: "005A", Username: "A@x.com", Email: "a@x.com", FederationIdentifier: "{" + oidA + "}", IsActive: true}
	must(s.UpsertSalesforceUsers(ctx, 1, []identity.SalesforceUser{sf}, nil))
	sf.SystemModstamp = time.Now()
	must(s.UpsertSalesforceUsers(ctx, 2, []identity.SalesforceUser{sf}, nil))
	if cs := read(); len(cs) != 3 || cs[2].SalesforceID != "005A" || cs[2].FederationIdentifier != "{"+oidA+"}" {
		t.Fatalf("journal after salesforce upserts = %+v", cs)
	}
	sf.IsActive = false
	must(s.UpsertSalesforceUsers(ctx, 3, []identity.SalesforceUser{sf}, nil))
	if cs := read(); len(cs) != 5 {
		t.Fatalf("journal after a deactivation = %+v", cs)
	}
	// Observations: a repeat is no change, a conflict is.
	obs := identity.Observation{Provider: "p", Subject: "s1", ObjectID: "{" + oidA + "}"}
	for range 2 {
		if _, err := s.RecordObservation(ctx, obs); err != nil {
			t.Fatal(err)
		}
	}
	if cs := read(); len(cs) != 6 || cs[5].ObjectID != oidA || cs[5].Subject != "s1" {
		t.Fatalf("journal after observations = %+v", cs)
	}
	obs.ObjectID = oidB
	for range 2 {
		if _, err := s.RecordObservation(ctx, obs); err != nil {
			t.Fatal(err)
		}
	}
	// The conflict's insert, then its update (old and new).
	if cs := read(); len(cs) != 9 || cs[6].OtherObject != oidB {
		t.Fatalf("journal after conflicts = %+v", cs)
	}
	must(s.RecordDecisions(ctx, identity.Decision{Provider: "p", Subject: "s1", SalesforceUserID: "005A", ObjectID: oidA, Approved: true, Actor: "admin"}))
	if cs := read(); len(cs) != 10 || cs[9].SalesforceID != "005A" {
		t.Fatalf("journal after a decision = %+v", cs)
	}

	// Trimming keeps the sequence: StartJournal reports the newest number
	// ever handed out and leaves valid_from alone.
	cs = read()
	must(s.TrimJournal(ctx, cs[len(cs)-1].Seq))
	if cs := read(); len(cs) != 0 {
		t.Fatalf("journal after trimming = %+v", cs)
	}
	last, err = s.StartJournal(ctx)
	if err != nil || last != cs[len(cs)-1].Seq {
		t.Fatalf("StartJournal after a trim = %d, %v; want %d", last, err, cs[len(cs)-1].Seq)
	}
	if from, on, err := s.JournalState(ctx); err != nil || !on || from != start {
		t.Fatalf("JournalState after a second start = %d, %v, %v; want valid from %d still", from, on, err, start)
	}
	if got, err := s.ReadJournal(ctx, 0, 0); err != nil || len(got) != 0 {
		t.Fatalf("ReadJournal(limit 0) = %+v, %v", got, err)
	}
	must(s.StopJournal(ctx))
	if _, on, err := s.JournalState(ctx); err != nil || on {
		t.Fatalf("JournalState after StopJournal = on %v, %v", on, err)
	}
	last2, err := s.StartJournal(ctx)
	if from, _, _ := s.JournalState(ctx); err != nil || last2 <= last || from != last2 {
		t.Fatalf("StartJournal after a stop = %d (valid from %d), %v; want a new number above %d, valid from it", last2, from, err, last)
	}
}

func TestRelated(t *testing.T) {
	testDSN(t)
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.UpsertEntraUsers(ctx, 1, []identity.EntraUser{
		{ObjectID: oidA, UPN: " Ann@X.com", Mail: "ANN@x.com"},
		{ObjectID: oidB, UPN: "bob@x.com", Mail: "bob@x.com"},
	}, nil))
	must(s.UpsertSalesforceUsers(ctx, 1, []identity.SalesforceUser{
		{ID: "005A", Username: "ANN@x.com.sf", Email: "Ann@x.com", FederationIdentifier: "{" + oidA + "}"},
		{ID: "005B", Username: "bob@x.com.sf", Email: "bob@x.com"},
	}, nil))
	must(s.UpsertAccountLinks(ctx, 1, []identity.ThirdPartyAccountLink{{ID: "0JL1", Provider: "p", RemoteIdentifier: "s1", UserID: "005A"}}))
	must(s.UpsertRemoteLinks(ctx, 1, []identity.Link{{Provider: "p", Subject: "s1", SalesforceUserID: "005A", ObjectID: "{" + oidA + "}"}}))
	if _, err := s.RecordObservation(ctx, identity.Observation{Provider: "p", Subject: "s1", ObjectID: oidA}); err != nil {
		t.Fatal(err)
	}
	must(s.RecordDecisions(ctx, identity.Decision{Provider: "p", Subject: "s2", SalesforceUserID: "005B", ObjectID: oidB, Actor: "admin"}))
	must(s.PrepareRelated(ctx))

	if r, err := s.Related(ctx, identity.KeyQuery{}); err != nil || len(r.Entra)+len(r.Salesforce) != 0 {
		t.Fatalf("Related(empty) = %+v, %v", r, err)
	}
	r, err := s.Related(ctx, identity.KeyQuery{ObjectIDs: []string{oidA}, Emails: []string{"ann@x.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entra) != 1 || r.Entra[0].ObjectID != oidA || len(r.Salesforce) != 1 || r.Salesforce[0].ID != "005A" ||
		len(r.RemoteLinks) != 1 || r.RemoteLinks[0].ObjectID != oidA || len(r.Observations) != 1 || len(r.Decisions) != 0 ||
		len(r.AccountLinks) != 0 {
		t.Fatalf("Related(oid A, ann's mail) = %+v", r)
	}
	r, err = s.Related(ctx, identity.KeyQuery{UPNs: []string{"ann@x.com", "bob@x.com"}, Usernames: []string{"bob@x.com.sf"},
		SalesforceIDs: []string{"005A"}, Subjects: []identity.LinkKey{{Provider: "p", Subject: "s2"}}})
	if err != nil {
		t.Fatal(err)
	}
	var sfIDs []string
	for _, u := range r.Salesforce {
		sfIDs = append(sfIDs, u.ID)
	}
	slices.Sort(sfIDs)
	if len(r.Entra) != 2 || !slices.Equal(sfIDs, []string{"005A", "005B"}) || len(r.AccountLinks) != 1 || len(r.RemoteLinks) != 1 ||
		len(r.Decisions) != 1 || r.Decisions[0].Subject != "s2" || len(r.Observations) != 0 {
		t.Fatalf("Related(upns, username, id, subject) = %+v", r)
	}
}

// A database at version 3, or at version 4 with its key columns filled and
// indexed, upgrades with its object ids made canonical, and PrepareRelated
// computes its keys as Go folds them.
func TestMigrateKeepsLookups(t *testing.T) {
	testDSN(t)
	t.Parallel()
	for _, from := range []int{3, 4} {
		t.Run(fmt.Sprintf("from %d", from), func(t *testing.T) {
			t.Parallel()
			migrateKeepsLookups(t, from)
		})
	}
}

func migrateKeepsLookups(t *testing.T, from int) {
	ctx := context.Background()
	dsn := newSchema(t)
	s, err := OpenNoMigrate(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms, err := migrations.List(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, createSchemaMigrations); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:from] {
		if _, err := s.pool.Exec(ctx, m.SQL); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())", m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	qs := []string{
		`INSERT INTO entra_users (oid, tenant_id, upn, mail, display_name, given_name, surname, account_enabled, deleted, in_scope, user_type)
			SELECT 'oid' || i, '', 'User' || i || '@X.com', '', '', '', '', true, '', true, '' FROM generate_series(1, 25000) AS i`,
		// Folded as Go folds, not as the database's lower() (ASCII only under "C").
		`INSERT INTO entra_users (oid, tenant_id, upn, mail, display_name, given_name, surname, account_enabled, deleted, in_scope, user_type)
			VALUES ('oid-emile', '', ' ÉMILE@Contoso.com', 'Émile.B@contoso.com', '', '', '', true, '', true, '')`,
		`INSERT INTO salesforce_users (id, username, federation_identifier, email, is_active, user_type, last_seen_run)
			VALUES ('005A', 'Ann@X.com', '{` + "0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0" + `}', ' ANN@x.com ', true, '', 1),
			('005B', 'bob', 'not-a-guid', '', true, '', 1)`,
		`INSERT INTO remote_links (provider, subject, salesforce_user_id, object_id, tenant_id, rule, status, reason, last_seen_run)
			VALUES ('p', 's', '005A', '{0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0}', '', '', 'active', '', 1)`,
	}
	if from == 4 { // as idlink wrote at 4: keys filled and indexed, object ids canonical
		qs = append(qs, "UPDATE remote_links SET object_id = '"+oidA+"'", "UPDATE entra_users SET upn_key = 'x', mail_key = 'x'", "CREATE INDEX entra_users_upn_key ON entra_users (upn_key)")
	}
	for _, q := range qs {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) == 0 || applied[0] != from+1 {
		t.Fatalf("Migrate = %v, %v", applied, err)
	}
	if err := s.PrepareRelated(ctx); err != nil {
		t.Fatal(err)
	}
	var unfilled int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM entra_users e LEFT JOIN entra_user_keys k USING (oid)
		WHERE k.upn_key IS NULL OR k.mail_key IS NULL OR k.upn_key <> lower(e.upn) AND e.oid <> 'oid-emile'`).Scan(&unfilled); err != nil || unfilled != 0 {
		t.Fatalf("entra users with wrong keys = %d, %v", unfilled, err)
	}
	r, err := s.Related(ctx, identity.KeyQuery{ObjectIDs: []string{oidA}, Emails: []string{"ann@x.com"}, Usernames: []string{"bob"},
		UPNs: []string{"user24999@x.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Salesforce) != 2 || len(r.RemoteLinks) != 1 || r.RemoteLinks[0].ObjectID != oidA || len(r.Entra) != 1 || r.Entra[0].ObjectID != "oid24999" {
		t.Fatalf("Related after the migration = %+v", r)
	}
	if r, err := s.Related(ctx, identity.KeyQuery{UPNs: []string{"émile@contoso.com"}, Emails: []string{"émile.b@contoso.com"}}); err != nil || len(r.Entra) != 1 {
		t.Fatalf("Related by non-ASCII folded keys after the migration = %+v, %v", r.Entra, err)
	}
	if _, on, err := s.JournalState(ctx); err != nil || on {
		t.Fatalf("journal after the migration: on=%v, %v; want off until a full plan", on, err)
	}
	var fed string
	if err := s.pool.QueryRow(ctx, "SELECT fed_key FROM salesforce_user_keys WHERE id = '005B'").Scan(&fed); err != nil || fed != "" {
		t.Fatalf("fed_key of a non-GUID = %q, %v", fed, err)
	}
}

// Batches from copyThreshold on go by COPY (straight into an empty table,
// else through MERGE): they write the keys and are journaled the same.
func TestJournalLargeBatches(t *testing.T) {
	testDSN(t)
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	start, err := s.StartJournal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PrepareRelated(ctx); err != nil {
		t.Fatal(err)
	}
	users := make([]identity.EntraUser, copyThreshold+10)
	for i := range users {
		users[i] = identity.EntraUser{ObjectID: fmt.Sprintf("oid%05d", i), UPN: fmt.Sprintf("User%d@X.com", i), Mail: fmt.Sprintf("M%d@x.com", i)}
	}
	for round := range 3 {
		if round == 2 {
			users[7].UPN = "Renamed@X.com"
		}
		if err := s.UpsertEntraUsers(ctx, int64(round+1), users, nil); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s.ReadJournal(ctx, start, -1)
	if err != nil || len(cs) != len(users)+2 || cs[len(cs)-1].UPN != "Renamed@X.com" || cs[len(cs)-2].UPN != "User7@X.com" {
		t.Fatalf("journal = %d changes, %v", len(cs), err)
	}
	r, err := s.Related(ctx, identity.KeyQuery{UPNs: []string{"renamed@x.com", "user8@x.com"}, Emails: []string{"m9@x.com"}})
	if err != nil || len(r.Entra) != 3 {
		t.Fatalf("Related = %+v, %v", r.Entra, err)
	}
}

// A journaled write that took a lower sequence number but commits later is
// not skipped: ReadJournal waits for it rather than return the higher number
// alone.
func TestReadJournalWaitsForEarlierWriters(t *testing.T) {
	testDSN(t)
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	start, err := s.StartJournal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO decisions (provider, subject, salesforce_user_id, object_id, approved, actor, reason, at)
		VALUES ('p', 'first', '', '', true, 'a', '', now())`); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordDecisions(ctx, identity.Decision{Provider: "p", Subject: "second", Actor: "a"}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		cs  []identity.Change
		err error
	}
	done := make(chan result, 1)
	go func() {
		cs, err := s.ReadJournal(ctx, start, 10)
		done <- result{cs, err}
	}()
	// Wait until the reader waits for the lock the open writer holds.
	for waiting := false; !waiting; {
		select {
		case r := <-done:
			t.Fatalf("ReadJournal returned %+v, %v while an earlier change was uncommitted", r.cs, r.err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		default:
		}
		if err := s.pool.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_locks WHERE NOT granted AND relation = 'plan_journal'::regclass`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || len(r.cs) != 2 || r.cs[0].Subject != "first" || r.cs[1].Subject != "second" {
		t.Fatalf("ReadJournal = %+v, %v; want first, then second", r.cs, r.err)
	}
}
