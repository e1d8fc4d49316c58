//go:build !linux

package reconcile

// adviseHugePages does nothing where transparent huge pages are not Linux's.
func adviseHugePages[T any](s []T) {}
