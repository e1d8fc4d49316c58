package sqlite

import (
	"context"
	"fmt"
	"testing"
)

// A multi-row statement is prepared in the first transaction that asks for
// it and cached after its commit; later transactions use the cached one.
// Beyond maxCachedStmts, statements are prepared in their transaction.
func TestStatementsPreparedOnce(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	written := map[string]int{}
	insert := func(table string, rows int) {
		t.Helper()
		err := s.write(ctx, func(tx *wtx) error {
			return upsertBatch(ctx, tx, "INSERT INTO "+table+" (k, v)", 2, "", rows, func(i int, a []any) error {
				a[0], a[1] = fmt.Sprintf("%d-%d", written[table], i), "v"
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		written[table] += rows
	}
	for _, table := range []string{"kv_a", "kv_b"} {
		if _, err := s.w.ExecContext(ctx, "CREATE TABLE "+table+" (k TEXT PRIMARY KEY, v TEXT)"); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string, wantCached, wantInTx int) {
		t.Helper()
		if cached, inTx := s.stmts.counts(); cached != wantCached || inTx != wantInTx {
			t.Errorf("%s: %d statements cached, %d prepared in their transaction; want %d and %d", step, cached, inTx, wantCached, wantInTx)
		}
	}
	insert("kv_a", rowsPerStatement+10) // a full statement and one of 10 rows
	check("first batch", 2, 2)
	insert("kv_a", rowsPerStatement+10)
	check("the same batch again", 2, 2)
	insert("kv_b", 10)
	check("another table", 3, 3)
	for n := 1; n <= maxCachedStmts; n++ {
		insert("kv_b", n+10)
	}
	check("more sizes than the cache holds", maxCachedStmts, 3+maxCachedStmts)
	var a, b int
	if err := s.w.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM kv_a), (SELECT count(*) FROM kv_b)").Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	if a != written["kv_a"] || b != written["kv_b"] {
		t.Errorf("rows stored: %d and %d, want %d and %d", a, b, written["kv_a"], written["kv_b"])
	}
}
