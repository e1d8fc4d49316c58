package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/idlinkhq/idlink/internal/identity"
)

// A store keeps the app-assignment scope it last recorded in entra_users'
// in_scope flags as 256 chunks by the object ids' first byte
// (identity.ObjectIDSet.Chunk), so that a scope read that differs in a few
// users rewrites a few rows of 64 KiB at a million users, not one of 16 MB
// (which SQLite and its driver copy several times over).

// ScopeChunks reads and writes the recorded scope's chunks within one
// transaction of a backend.
type ScopeChunks struct {
	Get    func(ctx context.Context, chunk byte) (oids []byte, err error) // nil when there is none
	Put    func(ctx context.Context, chunk byte, oids []byte) error
	Delete func(ctx context.Context, chunk byte) error
}

// PutScope records inScope.
func PutScope(ctx context.Context, c ScopeChunks, inScope identity.ObjectIDSet) error {
	var buf []byte
	for chunk := range 256 {
		if err := c.write(ctx, byte(chunk), inScope, &buf); err != nil {
			return err
		}
	}
	return nil
}

// write records chunk of inScope (none when it is empty).
func (c ScopeChunks) write(ctx context.Context, chunk byte, inScope identity.ObjectIDSet, buf *[]byte) error {
	ids := inScope.Chunk(chunk)
	var err error
	if len(ids) == 0 {
		err = c.Delete(ctx, chunk)
	} else {
		*buf = identity.AppendObjectIDs((*buf)[:0], ids)
		err = c.Put(ctx, chunk, *buf)
	}
	if err != nil {
		return fmt.Errorf("record the entra scope: %w", err)
	}
	return nil
}

// SplitScope sorts users into those in inScope (on) and the others (off),
// as canonical object ids: the flags a backend sets.
func SplitScope(inScope identity.ObjectIDSet, users []identity.ObjectID) (on, off []string) {
	for _, id := range users {
		if inScope.Contains(id) {
			on = append(on, id.String())
		} else {
			off = append(off, id.String())
		}
	}
	return on, off
}

// ChangeScope compares the recorded scope with inScope chunk by chunk. When
// the recorded scope's digest (identity.ObjectIDSet.Digest) is from, it
// rewrites the chunks that differ and returns the ids in exactly one of the
// two; otherwise it writes nothing and returns ok false. A chunk that is
// not a chunk of a scope counts as a different digest.
func ChangeScope(ctx context.Context, c ScopeChunks, from string, inScope identity.ObjectIDSet) (changed []identity.ObjectID, ok bool, err error) {
	var digest identity.ObjectIDDigest
	var dirty []byte
	for chunk := range 256 {
		b, err := c.Get(ctx, byte(chunk))
		if err != nil {
			return nil, false, fmt.Errorf("read the recorded entra scope: %w", err)
		}
		old, err := identity.ParseObjectIDs(b)
		if err != nil {
			return nil, false, nil
		}
		n := len(changed)
		for _, id := range old {
			if id[0] != byte(chunk) {
				return nil, false, nil
			}
			digest.Add(id)
		}
		changed = slices.AppendSeq(changed, identity.ChangedIDs(old, inScope.Chunk(byte(chunk))))
		if len(changed) > n {
			dirty = append(dirty, byte(chunk))
		}
	}
	if digest.Sum() != from {
		return nil, false, nil
	}
	var buf []byte
	for _, chunk := range dirty {
		if err := c.write(ctx, chunk, inScope, &buf); err != nil {
			return nil, false, err
		}
	}
	return changed, true, nil
}
