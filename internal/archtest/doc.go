// Package archtest holds the test that keeps the package layout as
// docs/architecture.md draws it: which internal package may import which.
package archtest
