package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache keeps the writer's multi-row statements prepared. Preparing
// them anew in every transaction cost 3.4 s of CPU in a million-user
// backfill (a 999-user page staged with two statements of up to 256 rows
// for each of two tables; each batch of link changes three), nearly all on
// the single writer, which bounds the writes' phase.
//
// A statement is prepared on the database, not in a transaction: the
// writer has one connection, which a transaction holds, so a statement a
// transaction asks for the first time is prepared in it as before and on
// the database after the commit (prepareWanted). Tx.StmtContext then uses
// the statement already prepared on that connection.
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool // asked for in a transaction, not yet prepared
	inTx   int             // statements prepared in their transaction
}

// maxCachedStmts bounds the cache: a kind of row is written with a full
// statement and one for the rest of a batch, whose size varies, so the
// statements asked for first (the common sizes) stay and the others are
// prepared in their transaction. A 256-row statement holds ~0.2 MB.
const maxCachedStmts = 64

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// prepare returns query prepared for tx: the cached statement, or one
// prepared in tx (closed with it) that the cache prepares after the commit.
func (c *stmtCache) prepare(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.stmts[query]
	if !ok {
		c.inTx++
		if len(c.stmts)+len(c.wanted) < maxCachedStmts {
			c.wanted[query] = true
		}
	}
	c.mu.Unlock()
	if ok {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, query)
}

// prepareWanted prepares the statements transactions asked for, once the
// writer's connection is free. A statement that fails to prepare is left
// to its transactions (which report the error).
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	var queries []string
	for q := range c.wanted {
		queries = append(queries, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range queries {
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if _, ok := c.stmts[q]; ok {
			st.Close()
		} else {
			c.stmts[q] = st
		}
		c.mu.Unlock()
	}
}

// counts are how many statements are cached and how many were prepared in
// their transaction.
func (c *stmtCache) counts() (cached, inTx int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stmts), c.inTx
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.stmts {
		errs = append(errs, st.Close())
		delete(c.stmts, q)
	}
	return errors.Join(errs...)
}
