package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointer copies the write-ahead log into the database file from a
// connection of its own, so that the writer's commits seldom wait for it.
// SQLite checkpoints from the committing connection by default
// (wal_autocheckpoint), and a checkpoint syncs the log and then the database
// file: on the writer that was up to 90 ms a checkpoint of waiting for the
// disk (fsync of a 64 MiB log took 40-65 ms here, the database's 10-22 ms),
// several times a backfill, while everything the run writes queues behind
// the one writer. SQLite's documentation (wal.html, Checkpointing) suggests
// exactly this: run checkpoints in a separate thread so that the thread
// doing the updates never blocks on a sync. A PASSIVE checkpoint does not
// wait for readers or the writer; it copies what it can.
//
// The writer still checkpoints itself once the log holds writerCheckpointFrames:
// only a writer starting a transaction after a complete checkpoint restarts
// the log from its beginning, and a busy writer never finds the log complete
// after a checkpoint beside it (the log of a 100,000-user backfill grew to
// 590 MB, against 71 MB when the writer also checkpoints at 64 MiB). By then the
// checkpointer has copied and synced most of the log, so the writer's
// checkpoint copies only what came since.
type checkpointer struct {
	db   *sql.DB
	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	ran   atomic.Pointer[func(error)] // called after each checkpoint (tests)
	close sync.Once
}

// checkpointEvery is how often the checkpointer copies the log while the
// writer commits. Checkpointing every commit would copy pages that the next
// commits change again (each copy syncs both files); the writer's 64 MiB
// threshold, when it did all the checkpoints, came to about one a second in
// a backfill's read. Every 200 ms measured the same as 500 ms.
const checkpointEvery = 500 * time.Millisecond

// writerCheckpointFrames is the log size (frames of a page each) at which
// the writer checkpoints itself: 256 MiB at 4 KiB pages, the most the log
// holds while a run writes (more only while a reader keeps an older
// snapshot); the last connection to close copies it and removes it. Its
// checkpoint still syncs both files on the writer (~40 ms here), so fewer
// of them is faster: a 100,000-user backfill, alternating run by run with
// 64 MiB, 1.181-1.206 against 1.204-1.215. (At SQLite's default of 4 MiB
// nearly every commit of a listing, each 999-user page dirtying ~1,000
// scattered pages, also ran a checkpoint: 1M users in 999-row transactions
// took 53.8 s against 37.6 s at 64 MiB, IDLINK_BENCH_ROWS=1000000
// TestThroughputReport.)
const writerCheckpointFrames = 65536

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// committed tells the checkpointer that the writer committed; it never
// blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	var last time.Time
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		if wait := time.Until(last.Add(checkpointEvery)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-c.stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
		// The commits that came while waiting are in this checkpoint.
		select {
		case <-c.kick:
		default:
		}
		err := c.checkpoint()
		last = time.Now()
		if ran := c.ran.Load(); ran != nil {
			(*ran)(err)
		}
	}
}

// checkpoint runs one PASSIVE checkpoint. A failure is left to the next one
// and to the writer's own: the log stays valid, only longer.
func (c *checkpointer) checkpoint() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, frames, copied int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return fmt.Errorf("sqlite: checkpoint the log: %w", err)
	}
	return nil
}

// Close stops the checkpointer and closes its connection.
func (c *checkpointer) Close() error {
	var err error
	c.close.Do(func() {
		close(c.stop)
		<-c.done
		err = c.db.Close()
	})
	return err
}
