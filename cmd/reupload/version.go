package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/reupload/reupload"
)

// version answers `reupload version` and `reupload --version`: one line
// on stdout with what the binary was built from, so that a bug report or a
// fleet inventory can name the exact build.
func (e *env) version(args []string) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
			fmt.Fprintln(e.stdout, "usage: reupload version\n\nPrints the module version, the VCS revision (+dirty) and the Go version of this build.")
			return reupload.ExitOK
		}
		return e.fail(usagef("version takes no arguments"), false, "")
	}
	bi, _ := debug.ReadBuildInfo() // nil when the binary has none
	fmt.Fprintln(e.stdout, versionLine(bi, runtime.GOOS+"/"+runtime.GOARCH))
	return reupload.ExitOK
}

// versionLine renders a build's identity as
//
//	reupload v1.2.3 (rev 0123456789ab+dirty, 2026-12-02T03:04:05Z) go1.26.8 linux/amd64
//
// The module version is "(devel)" for a plain `go build` without a tag to
// stamp, and "unknown" when the binary carries no build info at all; the
// revision part is left out when the build had no VCS stamp (-buildvcs=false,
// or built outside a checkout).
func versionLine(bi *debug.BuildInfo, platform string) string {
	if bi == nil {
		return "reupload unknown " + runtime.Version() + " " + platform
	}
	ver := bi.Main.Version
	if ver == "" {
		ver = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var b strings.Builder
	b.WriteString("reupload " + ver)
	if rev != "" {
		b.WriteString(" (rev " + rev[:min(len(rev), 12)])
		if dirty {
			b.WriteString("+dirty")
		}
		if at != "" {
			b.WriteString(", " + at)
		}
		b.WriteString(")")
	}
	goVer := bi.GoVersion
	if goVer == "" {
		goVer = runtime.Version()
	}
	b.WriteString(" " + goVer + " " + platform)
	return b.String()
}
