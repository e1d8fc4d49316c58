package reconcile

import (
	"syscall"
	"unsafe"
)

const hugePage = 2 << 20

// adviseHugePages asks Linux to back the 2 MiB-aligned part of a large,
// not yet touched slice with transparent huge pages. The snapshot's indexes
// are probed at random, a few times per record: where THP is "madvise" (a
// common default, and Go does not advise its heap), every probe of a
// million-record table misses the TLB, and loading a million identities
// took a third more CPU (tables sized for a million up front: three times
// as much). An error (an old kernel, THP off) leaves the pages as they are.
func adviseHugePages[T any](s []T) {
	var zero T
	size := uintptr(cap(s)) * unsafe.Sizeof(zero)
	if size < 2*hugePage {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(s[:cap(s)])))
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := (start + size) &^ (hugePage - 1)
	if hi > lo {
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, syscall.MADV_HUGEPAGE)
	}
}
