package main

import (
	"bytes"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "6908882d1c0e4b8f9a7b6c5d4e3f2a1b0c9d8e7f"
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"tagged clean", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/reupload/reupload", Version: "v1.2.3"},
			Settings: vcs(rev, "2026-12-02T03:04:05Z", "false")},
			"reupload v1.2.3 (rev 6908882d1c0e, 2026-12-02T03:04:05Z) go1.26.8 linux/amd64"},
		{"dirty checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261202030405-6908882d1c0e+dirty"},
			Settings: vcs(rev, "2026-12-02T03:04:05Z", "true")},
			"reupload v0.0.0-20261202030405-6908882d1c0e+dirty (rev 6908882d1c0e+dirty, 2026-12-02T03:04:05Z) go1.26.8 linux/amd64"},
		{"no vcs stamp", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"reupload (devel) go1.26.8 linux/amd64"},
		{"go install module@version", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.0.0"}},
			"reupload v1.0.0 go1.26.0 linux/amd64"},
		{"empty version, short revision", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs("abc", "", "true")},
			"reupload (devel) (rev abc+dirty) go1.26.8 linux/amd64"},
		{"no build info", nil, "reupload unknown " + runtime.Version() + " linux/amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionLine(tc.bi, "linux/amd64"); got != tc.want {
				t.Errorf("versionLine =\n %q, want\n %q", got, tc.want)
			}
		})
	}
}

// Both spellings print the same single line, naming this binary's Go
// version and platform; stray arguments are a usage error.
func TestVersionCommand(t *testing.T) {
	want := regexp.MustCompile(`^reupload \S+( \(rev [0-9a-f]+(\+dirty)?(, \S+)?\))? ` + regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, io.Discard); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		if !want.MatchString(out.String()) {
			t.Errorf("%v printed %q, want a match for %v", args, out.String(), want)
		}
	}
	var errb bytes.Buffer
	if code := run([]string{"version", "extra"}, strings.NewReader(""), io.Discard, &errb); code != 2 {
		t.Errorf("version extra: exit %d, want 2 (%s)", code, errb.String())
	}
}
