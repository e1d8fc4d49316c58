package store

import (
	"context"
	"slices"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// memChunks is a recorded scope in memory, with a count of the rows written.
type memChunks struct {
	rows   map[byte][]byte
	writes int
}

func (m *memChunks) chunks() ScopeChunks {
	return ScopeChunks{
		Get: func(_ context.Context, c byte) ([]byte, error) { return m.rows[c], nil },
		Put: func(_ context.Context, c byte, b []byte) error {
			m.rows[c] = append([]byte(nil), b...)
			m.writes++
			return nil
		},
		Delete: func(_ context.Context, c byte) error { delete(m.rows, c); m.writes++; return nil },
	}
}

// TestChangeScope: a change rewrites only the chunks that hold a changed id
// and names exactly those ids; a recorded scope that is not the one named,
// or a chunk that is not a scope's chunk, changes nothing.
func TestChangeScope(t *testing.T) {
	ctx := context.Background()
	a, b := "0a000000-0000-4000-8000-000000000001", "0a000000-0000-4000-8000-000000000002"
	c, d := "b0000000-0000-4000-8000-000000000003", "f0000000-0000-4000-8000-000000000004"
	m := &memChunks{rows: map[byte][]byte{}}
	first := identity.ObjectIDSetOf(a, b, c)
	if err := PutScope(ctx, m.chunks(), first); err != nil {
		t.Fatal(err)
	}
	if len(m.rows) != 2 {
		t.Fatalf("%d chunks recorded, want 2", len(m.rows))
	}
	next := identity.ObjectIDSetOf(a, b, d) // c out, d in: chunks 0xb0 and 0xf0
	m.writes = 0
	if changed, ok, err := ChangeScope(ctx, m.chunks(), next.Digest(), next); err != nil || ok || m.writes != 0 {
		t.Fatalf("from a scope not recorded: %v, %v, %v, %d writes", changed, ok, err, m.writes)
	}
	changed, ok, err := ChangeScope(ctx, m.chunks(), first.Digest(), next)
	if err != nil || !ok {
		t.Fatalf("from the recorded scope: %v, %v", ok, err)
	}
	if !slices.Equal(changed, slices.Collect(identity.ObjectIDSetOf(c, d).All())) {
		t.Fatalf("changed %v, want %s and %s", changed, c, d)
	}
	if m.writes != 2 {
		t.Fatalf("%d chunks written, want the 2 that changed", m.writes)
	}
	if _, ok, _ := ChangeScope(ctx, m.chunks(), next.Digest(), first); !ok {
		t.Fatal("the change was not recorded")
	}
	// A chunk holding an id of another first byte: damaged.
	m.rows[0x0a] = append(m.rows[0x0a], m.rows[0xb0]...)
	if _, ok, err := ChangeScope(ctx, m.chunks(), first.Digest(), next); ok || err != nil {
		t.Fatalf("a damaged chunk: %v, %v; want false", ok, err)
	}
}
