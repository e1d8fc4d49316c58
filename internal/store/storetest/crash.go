package storetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// CrashRows is the size of the one batch the crash test's child writes.
const CrashRows = 200_000

// CrashWritingLine is what the child prints once its batch has begun writing
// (the backend's per-statement hook prints it after the first statement).
const CrashWritingLine = "crash-child: writing"

const crashCommittedLine = "crash-child: committed"

// CrashChildWrite is the child's side: one UpsertEntraUsers call of CrashRows
// users with a cursor, in one transaction. It prints a line when it committed.
func CrashChildWrite(s store.Store) error {
	ctx := context.Background()
	r, err := s.StartRun(ctx, identity.KindBackfill, "crash-child")
	if err != nil {
		return err
	}
	if err := s.UpsertEntraUsers(ctx, r.ID, SyntheticEntraUsers(CrashRows), &identity.Cursor{Name: "crash", Value: "committed"}); err != nil {
		return err
	}
	fmt.Println(crashCommittedLine)
	return nil
}

// CrashParent re-executes the test binary to run childTest with env, waits
// until the child says its batch is being written, kills it with SIGKILL after
// each of a few delays, and checks every time that the database opens again and
// holds the whole batch or none of it (and the cursor exactly when the batch is
// there). reopen opens the killed child's database; prepare (may be nil) runs
// before each child and returns extra environment for it.
func CrashParent(t *testing.T, childTest string, prepare func(t *testing.T, attempt int) []string, reopen func(t *testing.T, attempt int) store.Store) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	killedMidWrite := 0
	for attempt, delay := range []time.Duration{100 * time.Millisecond, 1500 * time.Millisecond} {
		env := prepare(t, attempt)
		cmd := exec.Command(os.Args[0], "-test.run=^"+childTest+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), env...)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		committed := false
		deadline := time.After(2 * time.Minute)
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					cmd.Wait()
					t.Fatalf("attempt %d: child exited before writing (see its output above)", attempt)
				}
				if l == CrashWritingLine {
					break wait
				}
			case <-deadline:
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("attempt %d: child did not start writing within 2 minutes", attempt)
			}
		}
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("attempt %d: kill child: %v", attempt, err)
		}
		cmd.Wait()
		for l := range lines {
			if strings.Contains(l, crashCommittedLine) {
				committed = true
			}
		}

		s := reopen(t, attempt)
		ctx := context.Background()
		n := 0
		if err := s.ScanEntraUsers(ctx, func(identity.EntraUser) error { n++; return nil }); err != nil {
			t.Fatalf("attempt %d: scan after crash: %v", attempt, err)
		}
		cur, hasCursor, err := s.GetCursor(ctx, "crash")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("attempt %d: killed %v after the first statement: %d of %d rows stored, cursor %v, child reported commit: %v",
			attempt, delay, n, CrashRows, hasCursor, committed)
		switch {
		case n == 0 && !hasCursor:
			killedMidWrite++
		case n == CrashRows && hasCursor && cur == "committed":
		default:
			t.Fatalf("attempt %d: after SIGKILL the database holds %d of %d rows (cursor present: %v): the batch was not atomic", attempt, n, CrashRows, hasCursor)
		}
		if committed && n != CrashRows {
			t.Fatalf("attempt %d: child committed but %d rows are stored", attempt, n)
		}
		// The store must still take writes.
		if _, err := s.StartRun(ctx, identity.KindRun, "after-crash"); err != nil {
			t.Fatalf("attempt %d: write after crash: %v", attempt, err)
		}
		s.Close()
	}
	if killedMidWrite == 0 {
		t.Fatalf("every child finished its batch before the kill, so nothing was tested: raise CrashRows")
	}
}
