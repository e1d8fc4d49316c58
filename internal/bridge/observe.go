package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// ObservationRecorder keeps observations durably. store.Store satisfies it.
type ObservationRecorder interface {
	RecordObservation(ctx context.Context, o identity.Observation) (identity.ObservationResult, error)
}

// errConflict: the subject is already bound to another object id.
var errConflict = errors.New("subject already bound to another object id")

type pairKey struct{ provider, subject string }

type pairState struct {
	objectID, tenantID, clientID string
	pending                      int64     // sightings not yet written
	lastSeen                     time.Time // of the newest pending sighting
}

type conflictKey struct{ provider, subject, objectID string }

// observer coalesces observations. A (provider, sub) pair it has written (or
// found) once is answered from memory: the request costs no store write, and
// its sighting is counted and written later by flush in one call per pair.
// A new pair, or a sub arriving with another oid, is written synchronously,
// before the response, so what Salesforce is told is already durable.
type observer struct {
	rec     ObservationRecorder
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	max     int

	mu        sync.Mutex
	pairs     map[pairKey]*pairState
	conflicts map[conflictKey]bool // already recorded as a conflict: refuse without writing again
	full      bool                 // cache reached max: logged once
}

func newObserver(rec ObservationRecorder, log *slog.Logger, m *metrics, now func() time.Time, max int) *observer {
	return &observer{rec: rec, log: log, metrics: m, now: now, max: max,
		pairs: map[pairKey]*pairState{}, conflicts: map[conflictKey]bool{}}
}

// observe records one sighting. It returns errConflict (wrapped) when the sub
// is bound to another oid, or the store's error when a required write failed.
func (o *observer) observe(ctx context.Context, ob identity.Observation) error {
	k := pairKey{ob.Provider, ob.Subject}
	now := ob.LastSeen
	o.mu.Lock()
	if st, ok := o.pairs[k]; ok {
		if st.objectID == ob.ObjectID {
			st.pending++
			st.lastSeen = now
			o.mu.Unlock()
			o.metrics.observations("cached")
			return nil
		}
		if o.conflicts[conflictKey{ob.Provider, ob.Subject, ob.ObjectID}] {
			o.mu.Unlock()
			o.metrics.observations("conflict_cached")
			return fmt.Errorf("%w (known conflict)", errConflict)
		}
	}
	o.mu.Unlock()

	// Miss (or a new conflicting oid): write before answering.
	ob.FirstSeen, ob.Count = now, 1
	res, err := o.rec.RecordObservation(ctx, ob)
	if err != nil {
		o.metrics.observations("error")
		return fmt.Errorf("record observation: %w", err)
	}
	o.metrics.observations(string(res.Outcome))

	o.mu.Lock()
	defer o.mu.Unlock()
	switch res.Outcome {
	case identity.ObservationNew, identity.ObservationKnown:
		if st, ok := o.pairs[k]; ok && st.objectID != ob.ObjectID {
			// The store accepted a binding this process saw differently (the
			// database was replaced under us?). Refuse rather than guess.
			o.log.Error("bridge: store and cache disagree on a subject's object id; refusing",
				"provider", ob.Provider, "cached_oid", st.objectID, "oid", ob.ObjectID)
			return fmt.Errorf("%w (store and cache disagree)", errConflict)
		}
		o.remember(k, ob.ObjectID, ob.TenantID, ob.ClientID)
		return nil
	case identity.ObservationConflicting:
		if len(o.conflicts) < o.max {
			o.conflicts[conflictKey{ob.Provider, ob.Subject, ob.ObjectID}] = true
		}
		if res.Existing.ObjectID != "" {
			o.remember(k, res.Existing.ObjectID, res.Existing.TenantID, res.Existing.ClientID)
		}
		return errConflict
	default:
		return fmt.Errorf("record observation: unexpected outcome %q", res.Outcome)
	}
}

// remember adds a known pair; o.mu is held.
func (o *observer) remember(k pairKey, oid, tid, client string) {
	if _, ok := o.pairs[k]; ok {
		return
	}
	if len(o.pairs) >= o.max {
		if !o.full {
			o.full = true
			o.log.Warn("bridge: observation cache is full; further new pairs cost a store write per request", "max_cached_pairs", o.max)
		}
		return
	}
	o.pairs[k] = &pairState{objectID: oid, tenantID: tid, clientID: client}
}

// pendingObs is one pair's sightings taken out of the cache for writing.
type pendingObs struct {
	k  pairKey
	ob identity.Observation
}

// flush writes the pending sightings of known pairs: one RecordObservation per
// pair with Count = sightings since the last flush and LastSeen = the newest.
// A failed write puts its sightings back for the next flush.
func (o *observer) flush(ctx context.Context) (written int, err error) {
	var batch []pendingObs
	o.mu.Lock()
	for k, st := range o.pairs {
		if st.pending == 0 {
			continue
		}
		batch = append(batch, pendingObs{k, identity.Observation{
			Provider: k.provider, Subject: k.subject, ObjectID: st.objectID, TenantID: st.tenantID,
			ClientID: st.clientID, Source: identity.SourceBridge,
			FirstSeen: st.lastSeen, LastSeen: st.lastSeen, Count: st.pending,
		}})
		st.pending = 0
	}
	o.mu.Unlock()

	var errs []error
	for i, it := range batch {
		if err := ctx.Err(); err != nil {
			o.requeue(batch[i:])
			errs = append(errs, err)
			break
		}
		res, err := o.rec.RecordObservation(ctx, it.ob)
		if err != nil {
			o.metrics.flushes("error")
			o.requeue(batch[i : i+1])
			errs = append(errs, err)
			continue
		}
		if res.Outcome == identity.ObservationConflicting {
			// Cannot happen while the store keeps first bindings; say so loudly if it does.
			o.log.Error("bridge: flushing a known pair found a conflict in the store", "provider", it.k.provider)
		}
		o.metrics.flushes("ok")
		written++
	}
	if len(errs) > 0 {
		return written, fmt.Errorf("flush observations: %d of %d writes failed: %w", len(errs), len(batch), errors.Join(errs...))
	}
	return written, nil
}

// requeue gives sightings that could not be written back to their pairs.
func (o *observer) requeue(items []pendingObs) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, it := range items {
		st, ok := o.pairs[it.k]
		if !ok {
			continue
		}
		st.pending += it.ob.Count
		if it.ob.LastSeen.After(st.lastSeen) {
			st.lastSeen = it.ob.LastSeen
		}
	}
}

// pending reports the unwritten sightings (for tests and shutdown logs).
func (o *observer) pendingCount() (pairs int, sightings int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, st := range o.pairs {
		if st.pending > 0 {
			pairs++
			sightings += st.pending
		}
	}
	return pairs, sightings
}
