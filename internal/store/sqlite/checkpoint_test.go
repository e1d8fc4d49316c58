package sqlite

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// The log is copied into the database file by the checkpointer's own
// connection after the writer commits, while the store is open, long
// before the writer's own threshold.
func TestCheckpointerCopiesTheLogBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var limit int
	if err := s.w.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&limit); err != nil {
		t.Fatal(err)
	}
	if limit != writerCheckpointFrames {
		t.Fatalf("the writer checkpoints at %d frames, want %d", limit, writerCheckpointFrames)
	}
	ran := make(chan error, 100)
	hook := func(err error) { ran <- err }
	s.ckpt.ran.Store(&hook)
	sizeOf := func() int64 {
		fi, err := os.Stat(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// The migrations' checkpoint may still be under way: the rows below are
	// more than ten times the schema's pages, and the file must grow by them.
	before := sizeOf()

	run, err := s.StartRun(ctx, identity.KindBackfill, "test")
	if err != nil {
		t.Fatal(err)
	}
	as := make([]identity.Assessment, 20000)
	for i := range as {
		as[i] = identity.Assessment{Provider: "EntraID", Situation: identity.Unlinked, ObjectID: fmt.Sprintf("%08d-0000-0000-0000-000000000000", i),
			UPN: fmt.Sprintf("user%d@example.com", i), Detail: "a detail long enough to fill the pages of the table"}
	}
	if err := s.SaveAssessments(ctx, run.ID, as); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case err := <-ran:
			if err != nil {
				t.Fatalf("checkpoint: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the database file is still %d bytes (%d before the writes) 10 s after the commit: the log was not copied", sizeOf(), before)
		}
		if sizeOf() >= before+2<<20 {
			break
		}
	}
	if err := s.ckpt.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.ckpt.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}
