package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

const obsCols = "provider, subject, object_id, tenant_id, client_id, source, first_seen, last_seen, count"

func scanObservation(sc interface{ Scan(...any) error }) (identity.Observation, error) {
	var o identity.Observation
	var source, first, last string
	if err := sc.Scan(&o.Provider, &o.Subject, &o.ObjectID, &o.TenantID, &o.ClientID, &source, &first, &last, &o.Count); err != nil {
		return o, err
	}
	o.Source = identity.ObservationSource(source)
	var err error
	if o.FirstSeen, err = parseTime(first); err != nil {
		return o, err
	}
	o.LastSeen, err = parseTime(last)
	return o, err
}

// RecordObservation stores that a subject was seen with an oid. A subject
// already bound to another oid is never re-bound: the conflict is recorded for
// admins and the stored observation is returned unchanged.
func (s *Store) RecordObservation(ctx context.Context, o identity.Observation) (identity.ObservationResult, error) {
	if err := store.CheckObservation(o); err != nil {
		return identity.ObservationResult{}, fmt.Errorf("sqlite: record observation: %w", err)
	}
	o = store.ObservationTimes(o, time.Now())
	o.ObjectID = store.CanonicalOID(o.ObjectID)
	var res identity.ObservationResult
	err := s.write(ctx, func(tx *wtx) error {
		old, err := scanObservation(tx.QueryRowContext(ctx, "SELECT "+obsCols+" FROM observations WHERE provider = ? AND subject = ?", o.Provider, o.Subject))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			res = identity.ObservationResult{Outcome: identity.ObservationNew}
			_, err := tx.ExecContext(ctx, "INSERT INTO observations ("+obsCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
				o.Provider, o.Subject, o.ObjectID, o.TenantID, o.ClientID, string(o.Source), fmtTime(o.FirstSeen), fmtTime(o.LastSeen), o.Count)
			return err
		case err != nil:
			return err
		}
		res = store.ObserveAgain(old, o)
		if res.Outcome == identity.ObservationConflicting {
			_, err := tx.ExecContext(ctx, `INSERT INTO observation_conflicts (provider, subject, object_id, other_object_id, source, seen_at)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (provider, subject, other_object_id) DO UPDATE SET source = excluded.source, seen_at = excluded.seen_at`,
				o.Provider, o.Subject, old.ObjectID, o.ObjectID, string(o.Source), fmtTime(o.LastSeen))
			return err
		}
		upd := res.Existing
		_, err = tx.ExecContext(ctx, `UPDATE observations SET tenant_id = ?, client_id = ?, first_seen = ?, last_seen = ?, count = ?
			WHERE provider = ? AND subject = ?`,
			upd.TenantID, upd.ClientID, fmtTime(upd.FirstSeen), fmtTime(upd.LastSeen), upd.Count, o.Provider, o.Subject)
		return err
	})
	if err != nil {
		return identity.ObservationResult{}, fmt.Errorf("sqlite: record observation %s/%s: %w", o.Provider, o.Subject, err)
	}
	return res, nil
}

// ScanObservations streams observations in (provider, subject) order.
func (s *Store) ScanObservations(ctx context.Context, fn func(identity.Observation) error) error {
	return scanAll(ctx, s.r, "observations", "SELECT "+obsCols+" FROM observations ORDER BY provider, subject", nil,
		func(rows *sql.Rows) (identity.Observation, error) { return scanObservation(rows) }, fn)
}

// ListObservationConflicts returns every recorded conflict in key order.
func (s *Store) ListObservationConflicts(ctx context.Context) ([]identity.ObservationConflict, error) {
	var out []identity.ObservationConflict
	err := scanAll(ctx, s.r, "observation conflicts", "SELECT "+conflictCols+" FROM observation_conflicts ORDER BY provider, subject, other_object_id",
		nil, scanConflict, func(c identity.ObservationConflict) error { out = append(out, c); return nil })
	return out, err
}

const conflictCols = "provider, subject, object_id, other_object_id, source, seen_at"

func scanConflict(rows *sql.Rows) (identity.ObservationConflict, error) {
	var c identity.ObservationConflict
	var source, at string
	if err := rows.Scan(&c.Provider, &c.Subject, &c.ObjectID, &c.OtherObject, &source, &at); err != nil {
		return c, err
	}
	c.Source = identity.ObservationSource(source)
	var err error
	c.SeenAt, err = parseTime(at)
	return c, err
}

// ScanLinks streams idlink's link records in (provider, subject) order.
func (s *Store) ScanLinks(ctx context.Context, fn func(identity.Link) error) error {
	return scanAll(ctx, s.r, "links", "SELECT "+linkCols+" FROM links ORDER BY provider, subject", nil, scanLink, fn)
}

// ApplyLinkChanges writes each change's link state, appends it to the link's
// history and appends an audit event, all in one transaction: a batch with
// one bad change writes nothing.
func (s *Store) ApplyLinkChanges(ctx context.Context, runID int64, changes []identity.LinkChange) error {
	for i, c := range changes {
		if err := store.CheckLinkChange(i, c); err != nil {
			return fmt.Errorf("sqlite: apply link changes: %w", err)
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	links := make([]identity.Link, len(changes))
	var rows []int // the changes that write the link row
	for i, c := range changes {
		links[i] = c.Link
		if links[i].UpdatedAt.IsZero() {
			links[i].UpdatedAt = now
		}
		// A revoked ThirdPartyAccountLink leaves the link as it is (history and audit only).
		if store.WritesLinkRow(c.Action) {
			rows = append(rows, i)
		}
	}
	// Multi-row statements: a batch is recorded while the next link writes
	// are on their way to Salesforce, and a statement per change (SQLite
	// runs the journal triggers of links in each) made recording a batch of
	// 200 take longer than the call that wrote it.
	err := s.write(ctx, func(tx *wtx) error {
		if err := checkLinksExist(ctx, tx, changes); err != nil {
			return err
		}
		err := upsertBatch(ctx, tx, "INSERT INTO links ("+linkCols+")", 9,
			`ON CONFLICT (provider, subject) DO UPDATE SET salesforce_user_id = excluded.salesforce_user_id,
				object_id = excluded.object_id, tenant_id = excluded.tenant_id, rule = excluded.rule,
				status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at`,
			len(rows), func(k int, v []any) error {
				l := &links[rows[k]]
				v[0], v[1], v[2], v[3], v[4] = l.Provider, l.Subject, l.SalesforceUserID, l.ObjectID, l.TenantID
				v[5], v[6], v[7], v[8] = string(l.Rule), string(l.Status), l.Reason, fmtTime(l.UpdatedAt)
				return nil
			})
		if err != nil {
			return err
		}
		err = upsertBatch(ctx, tx, `INSERT INTO link_history (run_id, at, action, provider, subject, salesforce_user_id,
				object_id, tenant_id, rule, status, reason, actor, detail)`, 13, "", len(changes), func(i int, v []any) error {
			c, l := &changes[i], &links[i]
			v[0], v[1], v[2], v[3], v[4], v[5] = nullRun(runID), fmtTime(l.UpdatedAt), string(c.Action), l.Provider, l.Subject, l.SalesforceUserID
			v[6], v[7], v[8], v[9], v[10], v[11], v[12] = l.ObjectID, l.TenantID, string(l.Rule), string(l.Status), l.Reason, c.Actor, c.Detail
			return nil
		})
		if err != nil {
			return err
		}
		return upsertBatch(ctx, tx, "INSERT INTO audit_events ("+auditCols+")", 6, "", len(changes), func(i int, v []any) error {
			c := &changes[i]
			e := identity.AuditEvent{RunID: runID, At: now, Actor: c.Actor, Kind: store.LinkAuditKind(c.Action), Target: links[i].Key().String(), Detail: c.Detail}
			copy(v, auditArgs(e))
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("sqlite: apply %d link changes: %w", len(changes), err)
	}
	return nil
}

// checkLinksExist fails with store.ErrNotFound when an update or revocation
// names a link that neither the store nor an earlier change of the batch
// holds.
func checkLinksExist(ctx context.Context, tx *wtx, changes []identity.LinkChange) error {
	var keys [][2]string
	for _, c := range changes {
		if c.Action == identity.ActionUpdateLink || c.Action == identity.ActionRevokeLink {
			keys = append(keys, [2]string{c.Link.Provider, c.Link.Subject})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	js, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	held := map[identity.LinkKey]bool{}
	err = scanAll(ctx, tx, "links", `SELECT l.provider, l.subject FROM json_each(?) AS k
		JOIN links AS l ON l.provider = k.value ->> '$[0]' AND l.subject = k.value ->> '$[1]'`, []any{string(js)},
		func(rows *sql.Rows) (identity.LinkKey, error) {
			var k identity.LinkKey
			return k, rows.Scan(&k.Provider, &k.Subject)
		}, func(k identity.LinkKey) error { held[k] = true; return nil })
	if err != nil {
		return err
	}
	for i, c := range changes {
		k := c.Link.Key()
		switch {
		case c.Action == identity.ActionUpdateLink || c.Action == identity.ActionRevokeLink:
			if !held[k] {
				return fmt.Errorf("link change %d: %s %s: no such link: %w", i, c.Action, k, store.ErrNotFound)
			}
		case store.WritesLinkRow(c.Action):
			held[k] = true
		}
	}
	return nil
}

// LinkHistory returns every recorded version of a link, oldest first.
func (s *Store) LinkHistory(ctx context.Context, key identity.LinkKey) ([]identity.LinkVersion, error) {
	var out []identity.LinkVersion
	err := scanAll(ctx, s.r, "link history", `SELECT seq, COALESCE(run_id, 0), at, action, provider, subject, salesforce_user_id,
			object_id, tenant_id, rule, status, reason, actor, detail FROM link_history
			WHERE provider = ? AND subject = ? ORDER BY seq`, []any{key.Provider, key.Subject},
		func(rows *sql.Rows) (identity.LinkVersion, error) {
			var v identity.LinkVersion
			var at, action, rule, status string
			if err := rows.Scan(&v.Seq, &v.RunID, &at, &action, &v.Link.Provider, &v.Link.Subject, &v.Link.SalesforceUserID,
				&v.Link.ObjectID, &v.Link.TenantID, &rule, &status, &v.Link.Reason, &v.Actor, &v.Detail); err != nil {
				return v, err
			}
			v.Action, v.Link.Rule, v.Link.Status = identity.ActionKind(action), identity.Rule(rule), identity.LinkStatus(status)
			var err error
			v.At, err = parseTime(at)
			v.Link.UpdatedAt = v.At
			return v, err
		}, func(v identity.LinkVersion) error { out = append(out, v); return nil })
	return out, err
}

// RecordDecisions stores admin decisions and their audit events in one
// transaction: every decision is checked first, and either all are stored
// or none.
func (s *Store) RecordDecisions(ctx context.Context, ds ...identity.Decision) error {
	now := time.Now()
	ds = slices.Clone(ds)
	for i := range ds {
		if err := store.CheckDecision(ds[i]); err != nil {
			return fmt.Errorf("sqlite: record decision %d of %d: %w", i+1, len(ds), err)
		}
		if ds[i].At.IsZero() {
			ds[i].At = now
		}
	}
	err := s.write(ctx, func(tx *wtx) error {
		for _, d := range ds {
			if _, err := tx.ExecContext(ctx, `INSERT INTO decisions (provider, subject, salesforce_user_id, object_id, approved, actor, reason, at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, d.Provider, d.Subject, d.SalesforceUserID, store.CanonicalOID(d.ObjectID), b2i(d.Approved), d.Actor, d.Reason, fmtTime(d.At)); err != nil {
				return fmt.Errorf("decision on %s/%s: %w", d.Provider, d.Subject, err)
			}
			if err := insertAudit(ctx, tx, identity.AuditEvent{At: d.At, Actor: d.Actor, Kind: store.DecisionKind(d),
				Target: identity.LinkKey{Provider: d.Provider, Subject: d.Subject}.String(), Detail: store.DecisionDetail(d)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: record %d decision(s), none stored: %w", len(ds), err)
	}
	return nil
}

// ScanDecisions streams decisions in the order they were made.
func (s *Store) ScanDecisions(ctx context.Context, fn func(identity.Decision) error) error {
	return scanAll(ctx, s.r, "decisions", "SELECT "+decisionCols+" FROM decisions ORDER BY seq", nil, scanDecision, fn)
}

const decisionCols = "provider, subject, salesforce_user_id, object_id, approved, actor, reason, at"

func scanDecision(rows *sql.Rows) (identity.Decision, error) {
	var d identity.Decision
	var approved int
	var at string
	if err := rows.Scan(&d.Provider, &d.Subject, &d.SalesforceUserID, &d.ObjectID, &approved, &d.Actor, &d.Reason, &at); err != nil {
		return d, err
	}
	d.Approved = approved != 0
	var err error
	d.At, err = parseTime(at)
	return d, err
}

// DeleteObservation removes the observation and conflicts binding
// (provider, subject) to the object id, with an audit event.
func (s *Store) DeleteObservation(ctx context.Context, d identity.ObservationDeletion) (int64, error) {
	if err := store.CheckObservationDeletion(d); err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	if d.At.IsZero() {
		d.At = time.Now()
	}
	d.At = d.At.UTC()
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		for _, q := range []string{
			"DELETE FROM observations WHERE provider = ? AND subject = ? AND lower(object_id) = lower(?)",
			// A conflict row stays the evidence of its other oid.
			"DELETE FROM observation_conflicts WHERE provider = ? AND subject = ? AND lower(other_object_id) = lower(?)",
		} {
			res, err := tx.ExecContext(ctx, q, d.Provider, d.Subject, d.ObjectID)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += k
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return insertAudit(ctx, tx, store.ObservationDeletionAudit(d, n))
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete observation %s/%s of %s: %w", d.Provider, d.Subject, d.ObjectID, err)
	}
	return n, nil
}

// StoreID returns this database's id, making it on first use.
func (s *Store) StoreID(ctx context.Context) (string, error) {
	var id string
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO store_meta (key, value) VALUES ('store_id', ?) ON CONFLICT (key) DO NOTHING", store.NewStoreID()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM store_meta WHERE key = 'store_id'").Scan(&id)
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: store id: %w", err)
	}
	return id, nil
}

// AdoptStore records the adoption of another database's rows, with an audit event.
func (s *Store) AdoptStore(ctx context.Context, a identity.StoreAdoption) error {
	if err := store.CheckStoreAdoption(a); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if a.At.IsZero() {
		a.At = time.Now()
	}
	a.At = a.At.UTC()
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO adopted_stores (store_id, actor, reason, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (store_id) DO UPDATE SET actor = excluded.actor, reason = excluded.reason, at = excluded.at`,
			a.StoreID, a.Actor, a.Reason, fmtTime(a.At)); err != nil {
			return err
		}
		return insertAudit(ctx, tx, store.StoreAdoptionAudit(a))
	})
	if err != nil {
		return fmt.Errorf("sqlite: adopt store %s: %w", a.StoreID, err)
	}
	return nil
}

// ListAdoptedStores lists the adopted databases by id.
func (s *Store) ListAdoptedStores(ctx context.Context) ([]identity.StoreAdoption, error) {
	var out []identity.StoreAdoption
	err := scanAll(ctx, s.r, "adopted stores", "SELECT store_id, actor, reason, at FROM adopted_stores ORDER BY store_id", nil,
		func(rows *sql.Rows) (identity.StoreAdoption, error) {
			var a identity.StoreAdoption
			var at string
			if err := rows.Scan(&a.StoreID, &a.Actor, &a.Reason, &at); err != nil {
				return a, err
			}
			var err error
			a.At, err = parseTime(at)
			return a, err
		}, func(a identity.StoreAdoption) error { out = append(out, a); return nil })
	return out, err
}
