package reconcile

import (
	"context"
	"errors"
	"testing"
)

// streamed hands every row to add in the scan's order, and an error on
// either side ends both: a failed add stops the scan (it sees its context
// cancelled instead of running to the end), a failed scan ends the adds
// (the rows of its last part batch may not be added: the load fails).
func TestStreamed(t *testing.T) {
	errScan, errAdd := errors.New("disk I/O error"), errors.New("snapshot full")
	tests := []struct {
		name      string
		rows      int
		scanFails int // the scan fails at this row (-1: never)
		addFails  int // add fails at this row (-1: never)
		wantAdded int // -1: a part of the rows before the failed one
		wantErr   error
	}{
		{"empty", 0, -1, -1, 0, nil},
		{"less than a batch", 100, -1, -1, 100, nil},
		{"many batches and a part", 10*512 + 7, -1, -1, 10*512 + 7, nil},
		{"scan fails", 3000, 2000, -1, -1, errScan},
		{"add fails", 100_000, -1, 1000, 1000, errAdd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scanned := 0
			scan := func(ctx context.Context, fn func(int) error) error {
				for i := range tt.rows {
					if i == tt.scanFails {
						return errScan
					}
					if err := ctx.Err(); err != nil {
						return err
					}
					scanned++
					if err := fn(i); err != nil {
						return err
					}
				}
				return nil
			}
			var added []int
			add := func(v int) error {
				if v == tt.addFails {
					return errAdd
				}
				added = append(added, v)
				return nil
			}
			err := streamed(context.Background(), scan, add)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantAdded == -1 && len(added) > tt.scanFails || tt.wantAdded >= 0 && len(added) != tt.wantAdded {
				t.Fatalf("added %d rows, want %d", len(added), tt.wantAdded)
			}
			for i, v := range added {
				if v != i {
					t.Fatalf("row %d added as %d: out of order", i, v)
				}
			}
			if tt.addFails >= 0 && scanned >= tt.rows {
				t.Fatalf("the scan ran to its end (%d rows) after add failed at row %d", scanned, tt.addFails)
			}
		})
	}
}
