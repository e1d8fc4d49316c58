package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func cmdVersion(ctx context.Context, e env, args []string) error {
	fs := newFlags("version", e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, versionLine())
	return nil
}

// versionLine is the version, from the linker (-X main.version=...), else
// from the module version 'go install' records, with the VCS revision and
// whether the tree had uncommitted changes.
func versionLine() string {
	v, rev := version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && len(s.Value) >= 12:
				rev = s.Value[:12]
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = true
			}
		}
		if rev != "" {
			if modified {
				rev += "+modified"
			}
			rev = " (" + rev + ")"
		}
	}
	return fmt.Sprintf("idlink %s%s %s %s/%s", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
