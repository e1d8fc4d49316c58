package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// ErrFullPlanNeeded is matched by the error LoadAffected returns when the
// changes cannot be planned alone; the caller plans everything instead.
var ErrFullPlanNeeded = errors.New("a full plan is needed")

// Related is what LoadAffected reads: every stored record that carries one
// of a set of keys (store.Store.Related).
type Related interface {
	Related(ctx context.Context, q identity.KeyQuery) (identity.Records, error)
}

// ChangeKeys are the keys of one journaled version of a record: those of
// every kind of record whose fields it has. A change with an object id also
// gets the subjects computed strategies give that object id, which a
// link's or an observation's own keys would not name: more than needed,
// never less.
func (c Config) ChangeKeys(ch identity.Change) []Key {
	keys := c.EntraUserKeys(identity.EntraUser{ObjectID: ch.ObjectID, UPN: ch.UPN, Mail: ch.Mail})
	keys = append(keys, SalesforceUserKeys(identity.SalesforceUser{ID: ch.SalesforceID, Username: ch.Username,
		Email: ch.Email, FederationIdentifier: ch.FederationIdentifier})...)
	keys = nonEmpty(keys, KeySubject, ch.Provider, ch.Subject)
	return oidKey(keys, ch.OtherObject)
}

// Incremental reports why c cannot plan changes alone, or nil. A pairwise
// subject is a one-way hash of the object id: no store lookup finds the
// Entra user a ThirdPartyAccountLink's subject was computed from.
func (c Config) Incremental() error {
	for _, p := range c.Providers {
		if p.Strategy == identity.StrategyPairwise {
			return fmt.Errorf("%w: provider %s computes pairwise subjects, which no lookup can trace back to their Entra user", ErrFullPlanNeeded, p.Name)
		}
	}
	return nil
}

// query is what to ask a store for the records carrying keys. A username key
// also asks for the UPNs a suffix rewrite turns into it, and an object-id
// strategy's subject for the Entra user it is the object id of.
func (c Config) query(keys []Key) identity.KeyQuery {
	var q identity.KeyQuery
	objectIDSubjects := map[string]bool{}
	for _, p := range c.Providers {
		if p.Strategy == identity.StrategyObjectID {
			objectIDSubjects[p.Name] = true
		}
	}
	for _, k := range keys {
		switch k.Kind {
		case KeyObjectID:
			q.ObjectIDs = append(q.ObjectIDs, k.Value)
		case KeySalesforce:
			q.SalesforceIDs = append(q.SalesforceIDs, k.Value)
		case KeyUsername:
			q.Usernames = append(q.Usernames, k.Value)
			q.UPNs = append(q.UPNs, k.Value)
			for _, rw := range c.UPNRewrites {
				if to := strings.ToLower(rw.To); len(k.Value) > len(to) && strings.HasSuffix(k.Value, to) {
					q.UPNs = append(q.UPNs, k.Value[:len(k.Value)-len(to)]+strings.ToLower(rw.From))
				}
			}
		case KeyEmail:
			q.Emails = append(q.Emails, k.Value)
		case KeySubject:
			q.Subjects = append(q.Subjects, identity.LinkKey{Provider: k.Provider, Subject: k.Value})
			if g, ok := identity.NormalizeGUID(k.Value); ok && objectIDSubjects[k.Provider] {
				q.ObjectIDs = append(q.ObjectIDs, g)
			}
		}
	}
	return q
}

// Affected is the part of a snapshot a set of changes can affect.
type Affected struct {
	Snapshot *Snapshot
	Keys     KeySet // the closure: every key of every record loaded
	Records  int    // how many records were loaded
	Rounds   int    // lookups it took to close

	records identity.Records // what was loaded, for tests
}

// LoadAffected loads the records that share a key with seeds, and those that
// share one with them, until nothing new is found: the closure whose plan
// equals the full plan's for its identities (TestIncrementalPlanEqualsFullPlan).
// More than maxRecords records (0: no limit) is ErrFullPlanNeeded: planning
// everything is then about as cheap, and a run should not hold a closure as
// large as the store.
func LoadAffected(ctx context.Context, st Related, cfg Config, seeds KeySet, maxRecords int) (*Affected, error) {
	if err := cfg.Incremental(); err != nil {
		return nil, err
	}
	var c closure
	c.init(cfg)
	frontier := make([]Key, 0, len(seeds))
	for k := range seeds {
		frontier = append(frontier, k)
	}
	known := KeySet{}
	known.Add(frontier)
	rounds := 0
	for len(frontier) > 0 {
		rounds++
		recs, err := st.Related(ctx, cfg.query(frontier))
		if err != nil {
			return nil, fmt.Errorf("load the records the changes affect: %w", err)
		}
		frontier = c.take(recs, known, frontier[:0])
		if maxRecords > 0 && c.n > maxRecords {
			return nil, fmt.Errorf("%w: the changes reach more than %d records", ErrFullPlanNeeded, maxRecords)
		}
	}
	snap, err := c.snapshot()
	if err != nil {
		return nil, err
	}
	return &Affected{Snapshot: snap, Keys: known, Records: c.n, Rounds: rounds, records: c.recs}, nil
}

// closure collects the records a lookup found, each once, and the keys they
// bring that were not known yet.
type closure struct {
	cfg  Config
	recs identity.Records
	seen map[string]bool
	n    int
}

func (c *closure) init(cfg Config) {
	c.cfg, c.seen = cfg, map[string]bool{}
}

// add keeps a record the first time its identity is seen and returns the
// frontier grown by its keys that are new.
func (c *closure) add(id string, keys []Key, known KeySet, frontier []Key) ([]Key, bool) {
	if c.seen[id] {
		return frontier, false
	}
	c.seen[id] = true
	c.n++
	for _, k := range keys {
		if _, ok := known[k]; !ok {
			known[k] = struct{}{}
			frontier = append(frontier, k)
		}
	}
	return frontier, true
}

func (c *closure) take(r identity.Records, known KeySet, frontier []Key) []Key {
	var ok bool
	for _, u := range r.Entra {
		if frontier, ok = c.add("e\x00"+u.ObjectID, c.cfg.EntraUserKeys(u), known, frontier); ok {
			c.recs.Entra = append(c.recs.Entra, u)
		}
	}
	for _, u := range r.Salesforce {
		if frontier, ok = c.add("s\x00"+u.ID, SalesforceUserKeys(u), known, frontier); ok {
			c.recs.Salesforce = append(c.recs.Salesforce, u)
		}
	}
	for _, l := range r.AccountLinks {
		if frontier, ok = c.add("t\x00"+l.ID, AccountLinkKeys(l), known, frontier); ok {
			c.recs.AccountLinks = append(c.recs.AccountLinks, l)
		}
	}
	for _, l := range r.RemoteLinks {
		if frontier, ok = c.add("r\x00"+l.Key().String(), LinkKeys(l), known, frontier); ok {
			c.recs.RemoteLinks = append(c.recs.RemoteLinks, l)
		}
	}
	for _, l := range r.Links {
		if frontier, ok = c.add("l\x00"+l.Key().String(), LinkKeys(l), known, frontier); ok {
			c.recs.Links = append(c.recs.Links, l)
		}
	}
	for _, o := range r.Observations {
		if frontier, ok = c.add("o\x00"+o.Provider+"\x00"+o.Subject, ObservationKeys(o), known, frontier); ok {
			c.recs.Observations = append(c.recs.Observations, o)
		}
	}
	for _, x := range r.Conflicts {
		if frontier, ok = c.add("c\x00"+x.Provider+"\x00"+x.Subject+"\x00"+x.OtherObject, ConflictKeys(x), known, frontier); ok {
			c.recs.Conflicts = append(c.recs.Conflicts, x)
		}
	}
	for _, d := range r.Decisions {
		if frontier, ok = c.add(fmt.Sprintf("d\x00%+v", d), DecisionKeys(d), known, frontier); ok {
			c.recs.Decisions = append(c.recs.Decisions, d)
		}
	}
	return frontier
}

// snapshot adds the records in the order a full load does: users before the rows
// that name them.
func (c *closure) snapshot() (*Snapshot, error) {
	s := NewSnapshot()
	r := &c.recs
	var err error
	add := func(what string, n int, f func(i int) error) {
		for i := 0; i < n && err == nil; i++ {
			if e := f(i); e != nil {
				err = fmt.Errorf("load %s the changes affect: %w", what, e)
			}
		}
	}
	add("Entra users", len(r.Entra), func(i int) error { return s.AddEntraUser(r.Entra[i]) })
	add("Salesforce users", len(r.Salesforce), func(i int) error { return s.AddSalesforceUser(r.Salesforce[i]) })
	add("ThirdPartyAccountLink rows", len(r.AccountLinks), func(i int) error { return s.AddAccountLink(r.AccountLinks[i]) })
	add("Identity_Link__c rows", len(r.RemoteLinks), func(i int) error { return s.AddRemoteLink(r.RemoteLinks[i]) })
	add("links", len(r.Links), func(i int) error { return s.AddLink(r.Links[i]) })
	add("observations", len(r.Observations), func(i int) error { return s.AddObservation(r.Observations[i]) })
	add("observation conflicts", len(r.Conflicts), func(i int) error { return s.AddObservationConflict(r.Conflicts[i]) })
	add("decisions", len(r.Decisions), func(i int) error { return s.AddDecision(r.Decisions[i]) })
	return s, err
}
