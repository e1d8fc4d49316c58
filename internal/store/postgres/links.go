package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

const obsCols = "provider, subject, object_id, tenant_id, client_id, source, first_seen, last_seen, count"

func scanObservation(row pgx.Row) (identity.Observation, error) {
	var o identity.Observation
	var source string
	err := row.Scan(&o.Provider, &o.Subject, &o.ObjectID, &o.TenantID, &o.ClientID, &source, &o.FirstSeen, &o.LastSeen, &o.Count)
	o.Source, o.FirstSeen, o.LastSeen = identity.ObservationSource(source), o.FirstSeen.UTC(), o.LastSeen.UTC()
	return o, err
}

// RecordObservation stores that a subject was seen with an oid. A subject
// already bound to another oid is never re-bound: the conflict is recorded for
// admins and the stored observation is returned unchanged. Bridge replicas
// recording the same new subject at once do not fail: the loser of the insert
// race counts as a sighting of the winner's row.
func (s *Store) RecordObservation(ctx context.Context, o identity.Observation) (identity.ObservationResult, error) {
	if err := store.CheckObservation(o); err != nil {
		return identity.ObservationResult{}, fmt.Errorf("postgres: record observation: %w", err)
	}
	o = store.ObservationTimes(o, time.Now())
	o.ObjectID = store.CanonicalOID(o.ObjectID)
	var res identity.ObservationResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sel := "SELECT " + obsCols + " FROM observations WHERE provider = $1 AND subject = $2 FOR UPDATE"
		old, err := scanObservation(tx.QueryRow(ctx, sel, o.Provider, o.Subject))
		if errors.Is(err, pgx.ErrNoRows) {
			tag, err := tx.Exec(ctx, "INSERT INTO observations ("+obsCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
				o.Provider, o.Subject, o.ObjectID, o.TenantID, o.ClientID, string(o.Source), o.FirstSeen, o.LastSeen, o.Count)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				res = identity.ObservationResult{Outcome: identity.ObservationNew}
				return nil
			}
			// Another transaction inserted it first; it is committed now.
			old, err = scanObservation(tx.QueryRow(ctx, sel, o.Provider, o.Subject))
			if err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		res = store.ObserveAgain(old, o)
		if res.Outcome == identity.ObservationConflicting {
			_, err := tx.Exec(ctx, `INSERT INTO observation_conflicts (provider, subject, object_id, other_object_id, source, seen_at)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (provider, subject, other_object_id) DO UPDATE SET source = excluded.source, seen_at = excluded.seen_at`,
				o.Provider, o.Subject, old.ObjectID, o.ObjectID, string(o.Source), o.LastSeen)
			return err
		}
		upd := res.Existing
		_, err = tx.Exec(ctx, `UPDATE observations SET tenant_id = $1, client_id = $2, first_seen = $3, last_seen = $4, count = $5
			WHERE provider = $6 AND subject = $7`,
			upd.TenantID, upd.ClientID, upd.FirstSeen, upd.LastSeen, upd.Count, o.Provider, o.Subject)
		return err
	})
	if err != nil {
		return identity.ObservationResult{}, fmt.Errorf("postgres: record observation %s/%s: %w", o.Provider, o.Subject, err)
	}
	return res, nil
}

// ScanObservations streams observations in (provider, subject) order.
func (s *Store) ScanObservations(ctx context.Context, fn func(identity.Observation) error) error {
	return scanAll(ctx, s.pool, "observations", "SELECT "+obsCols+" FROM observations ORDER BY provider, subject", nil,
		func(r pgx.Rows) (identity.Observation, error) { return scanObservation(r) }, fn)
}

// ListObservationConflicts returns every recorded conflict in key order.
func (s *Store) ListObservationConflicts(ctx context.Context) ([]identity.ObservationConflict, error) {
	var out []identity.ObservationConflict
	err := scanAll(ctx, s.pool, "observation conflicts", "SELECT "+conflictCols+" FROM observation_conflicts ORDER BY provider, subject, other_object_id",
		nil, scanConflict, func(c identity.ObservationConflict) error { out = append(out, c); return nil })
	return out, err
}

const conflictCols = "provider, subject, object_id, other_object_id, source, seen_at"

func scanConflict(r pgx.Rows) (identity.ObservationConflict, error) {
	var c identity.ObservationConflict
	var source string
	err := r.Scan(&c.Provider, &c.Subject, &c.ObjectID, &c.OtherObject, &source, &c.SeenAt)
	c.Source, c.SeenAt = identity.ObservationSource(source), c.SeenAt.UTC()
	return c, err
}

// ScanLinks streams idlink's link records in (provider, subject) order.
func (s *Store) ScanLinks(ctx context.Context, fn func(identity.Link) error) error {
	return scanAll(ctx, s.pool, "links", "SELECT "+linkCols+" FROM links ORDER BY provider, subject", nil, scanLink, fn)
}

// ApplyLinkChanges writes each change's link state, appends it to the link's
// history and appends an audit event, all in one transaction: a batch with
// one bad change writes nothing.
func (s *Store) ApplyLinkChanges(ctx context.Context, runID int64, changes []identity.LinkChange) error {
	for i, c := range changes {
		if err := store.CheckLinkChange(i, c); err != nil {
			return fmt.Errorf("postgres: apply link changes: %w", err)
		}
	}
	now := utc(time.Now())
	// One pipelined batch: the statements run in order, as one per round
	// trip would, but a batch of 200 changes costs one round trip instead of
	// 600-800 (50 s of a million-user backfill's writes went to them).
	b := &pgx.Batch{}
	for i, c := range changes {
		l := c.Link
		if l.UpdatedAt.IsZero() {
			l.UpdatedAt = now
		}
		l.UpdatedAt = utc(l.UpdatedAt)
		if c.Action == identity.ActionUpdateLink || c.Action == identity.ActionRevokeLink {
			// Sees the rows the batch's earlier changes wrote: a link created
			// and revoked in one batch is found.
			b.Queue("SELECT 1 FROM links WHERE provider = $1 AND subject = $2 FOR UPDATE", l.Provider, l.Subject).QueryRow(func(r pgx.Row) error {
				var one int
				err := r.Scan(&one)
				if errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("link change %d: %s %s: no such link: %w", i, c.Action, l.Key(), store.ErrNotFound)
				}
				return err
			})
		}
		// A revoked ThirdPartyAccountLink leaves the link as it is (history and audit only).
		if store.WritesLinkRow(c.Action) {
			b.Queue("INSERT INTO links ("+linkCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (provider, subject) DO UPDATE SET salesforce_user_id = excluded.salesforce_user_id,
					object_id = excluded.object_id, tenant_id = excluded.tenant_id, rule = excluded.rule,
					status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at`,
				l.Provider, l.Subject, l.SalesforceUserID, l.ObjectID, l.TenantID, string(l.Rule), string(l.Status), l.Reason, l.UpdatedAt)
		}
		b.Queue(`INSERT INTO link_history (run_id, at, action, provider, subject, salesforce_user_id,
				object_id, tenant_id, rule, status, reason, actor, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			nullRun(runID), l.UpdatedAt, string(c.Action), l.Provider, l.Subject, l.SalesforceUserID,
			l.ObjectID, l.TenantID, string(l.Rule), string(l.Status), l.Reason, c.Actor, c.Detail)
		queueAudit(b, identity.AuditEvent{RunID: runID, At: now, Actor: c.Actor,
			Kind: store.LinkAuditKind(c.Action), Target: l.Key().String(), Detail: c.Detail})
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Close reports the first statement's error, a missing link
		// included; the transaction then writes nothing.
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: apply %d link changes: %w", len(changes), err)
	}
	return nil
}

// LinkHistory returns every recorded version of a link, oldest first.
func (s *Store) LinkHistory(ctx context.Context, key identity.LinkKey) ([]identity.LinkVersion, error) {
	var out []identity.LinkVersion
	err := scanAll(ctx, s.pool, "link history", `SELECT seq, COALESCE(run_id, 0), at, action, provider, subject, salesforce_user_id,
			object_id, tenant_id, rule, status, reason, actor, detail FROM link_history
			WHERE provider = $1 AND subject = $2 ORDER BY seq`, []any{key.Provider, key.Subject},
		func(r pgx.Rows) (identity.LinkVersion, error) {
			var v identity.LinkVersion
			var action, rule, status string
			err := r.Scan(&v.Seq, &v.RunID, &v.At, &action, &v.Link.Provider, &v.Link.Subject, &v.Link.SalesforceUserID,
				&v.Link.ObjectID, &v.Link.TenantID, &rule, &status, &v.Link.Reason, &v.Actor, &v.Detail)
			v.Action, v.Link.Rule, v.Link.Status = identity.ActionKind(action), identity.Rule(rule), identity.LinkStatus(status)
			v.At = v.At.UTC()
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
			return fmt.Errorf("postgres: record decision %d of %d: %w", i+1, len(ds), err)
		}
		if ds[i].At.IsZero() {
			ds[i].At = now
		}
		ds[i].At = utc(ds[i].At)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, d := range ds {
			if _, err := tx.Exec(ctx, `INSERT INTO decisions (provider, subject, salesforce_user_id, object_id, approved, actor, reason, at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, d.Provider, d.Subject, d.SalesforceUserID, store.CanonicalOID(d.ObjectID), d.Approved, d.Actor, d.Reason, d.At); err != nil {
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
		return fmt.Errorf("postgres: record %d decision(s), none stored: %w", len(ds), err)
	}
	return nil
}

// ScanDecisions streams decisions in the order they were made.
func (s *Store) ScanDecisions(ctx context.Context, fn func(identity.Decision) error) error {
	return scanAll(ctx, s.pool, "decisions", "SELECT "+decisionCols+" FROM decisions ORDER BY seq", nil, scanDecision, fn)
}

const decisionCols = "provider, subject, salesforce_user_id, object_id, approved, actor, reason, at"

func scanDecision(r pgx.Rows) (identity.Decision, error) {
	var d identity.Decision
	err := r.Scan(&d.Provider, &d.Subject, &d.SalesforceUserID, &d.ObjectID, &d.Approved, &d.Actor, &d.Reason, &d.At)
	d.At = d.At.UTC()
	return d, err
}

// DeleteObservation removes the observation and conflicts binding
// (provider, subject) to the object id, with an audit event.
func (s *Store) DeleteObservation(ctx context.Context, d identity.ObservationDeletion) (int64, error) {
	if err := store.CheckObservationDeletion(d); err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	if d.At.IsZero() {
		d.At = time.Now()
	}
	d.At = utc(d.At)
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			"DELETE FROM observations WHERE provider = $1 AND subject = $2 AND lower(object_id) = lower($3)",
			// A conflict row stays the evidence of its other oid.
			"DELETE FROM observation_conflicts WHERE provider = $1 AND subject = $2 AND lower(other_object_id) = lower($3)",
		} {
			tag, err := tx.Exec(ctx, q, d.Provider, d.Subject, d.ObjectID)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return insertAudit(ctx, tx, store.ObservationDeletionAudit(d, n))
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete observation %s/%s of %s: %w", d.Provider, d.Subject, d.ObjectID, err)
	}
	return n, nil
}

// StoreID returns this database's id, making it on first use.
func (s *Store) StoreID(ctx context.Context) (string, error) {
	if _, err := s.pool.Exec(ctx, "INSERT INTO store_meta (key, value) VALUES ('store_id', $1) ON CONFLICT (key) DO NOTHING", store.NewStoreID()); err != nil {
		return "", fmt.Errorf("postgres: store id: %w", err)
	}
	var id string
	if err := s.pool.QueryRow(ctx, "SELECT value FROM store_meta WHERE key = 'store_id'").Scan(&id); err != nil {
		return "", fmt.Errorf("postgres: store id: %w", err)
	}
	return id, nil
}

// AdoptStore records the adoption of another database's rows, with an audit event.
func (s *Store) AdoptStore(ctx context.Context, a identity.StoreAdoption) error {
	if err := store.CheckStoreAdoption(a); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if a.At.IsZero() {
		a.At = time.Now()
	}
	a.At = utc(a.At)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO adopted_stores (store_id, actor, reason, at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (store_id) DO UPDATE SET actor = excluded.actor, reason = excluded.reason, at = excluded.at`,
			a.StoreID, a.Actor, a.Reason, a.At); err != nil {
			return err
		}
		return insertAudit(ctx, tx, store.StoreAdoptionAudit(a))
	})
	if err != nil {
		return fmt.Errorf("postgres: adopt store %s: %w", a.StoreID, err)
	}
	return nil
}

// ListAdoptedStores lists the adopted databases by id.
func (s *Store) ListAdoptedStores(ctx context.Context) ([]identity.StoreAdoption, error) {
	var out []identity.StoreAdoption
	err := scanAll(ctx, s.pool, "adopted stores", "SELECT store_id, actor, reason, at FROM adopted_stores ORDER BY store_id", nil,
		func(r pgx.Rows) (identity.StoreAdoption, error) {
			var a identity.StoreAdoption
			err := r.Scan(&a.StoreID, &a.Actor, &a.Reason, &a.At)
			a.At = a.At.UTC()
			return a, err
		}, func(a identity.StoreAdoption) error { out = append(out, a); return nil })
	return out, err
}
