package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run([]string{"completion", shell}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("completion %s: exit %d: %s", shell, code, errb.String())
	}
	path := filepath.Join(t.TempDir(), "reupload."+shell)
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The completion lists what the CLI has: every command it names is one run
// dispatches, every flag one its command accepts, and the commands and
// flags we rely on are there.
func TestCompletionMatchesCLI(t *testing.T) {
	cmds := commandSpecs()
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
		var errb bytes.Buffer
		run([]string{c.name, "--no-such-flag-at-all"}, strings.NewReader(""), io.Discard, &errb)
		if strings.Contains(errb.String(), "unknown command") {
			t.Errorf("completion offers %q, which run does not know", c.name)
		}
		for _, f := range c.flags {
			// With -h after it, a known flag never runs the command: it
			// prints help or refuses the value.
			arg := f.dash() + "=x"
			if !f.value {
				arg = f.dash() + "=true"
			}
			var errb bytes.Buffer
			run([]string{c.name, arg, "-h"}, strings.NewReader(""), io.Discard, &errb)
			if strings.Contains(errb.String(), "not defined") {
				t.Errorf("completion offers %s %s, which it does not accept: %s", c.name, f.dash(), errb.String())
			}
		}
	}
	for _, want := range []string{"put", "batch", "status", "abort", "emulator", "demo", "version", "completion", "help"} {
		if !slices.Contains(names, want) {
			t.Errorf("completion lacks command %q; it has %v", want, names)
		}
	}
	has := func(cmd, flag string, value bool) {
		t.Helper()
		i := slices.IndexFunc(cmds, func(c cmdSpec) bool { return c.name == cmd })
		if i < 0 {
			return
		}
		j := slices.IndexFunc(cmds[i].flags, func(f flagSpec) bool { return f.name == flag })
		if j < 0 || cmds[i].flags[j].value != value || cmds[i].flags[j].usage == "" {
			t.Errorf("%s: flag %s (value %v, with usage) not found in %+v", cmd, flag, value, cmds[i].flags)
		}
	}
	has("put", "part-size", true)
	has("put", "j", true)
	has("put", "json", false)
	has("batch", "shard", true)
	has("batch", "dry-run", false)
	has("status", "state-dir", true)
	has("emulator", "fault", true)
}

func TestParseDefaults(t *testing.T) {
	text := "usage: x\n  {\"media_id\":…}\n  -a\tone-letter bool\n  -j value\n    \tparts\n  -json\n    \tprint JSON\n  -state-dir string\n    \twhere\n    \tsecond line\n"
	got := parseDefaults(text)
	want := []flagSpec{{"a", "one-letter bool", false}, {"j", "parts", true}, {"json", "print JSON", false}, {"state-dir", "where", true}}
	if !slices.Equal(got, want) {
		t.Errorf("parseDefaults = %+v, want %+v", got, want)
	}
}

// bash: the script completes commands, flags, shells, and leaves paths to
// bash's default completion.
func TestCompletionBash(t *testing.T) {
	script := completionScript(t, "bash")
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"reupload", "ba"}, "batch"},
		{[]string{"reupload", "com"}, "completion"},
		{[]string{"reupload", "put", "--pa"}, "--part-size"},
		{[]string{"reupload", "put", "--m"}, "--md5"},
		{[]string{"reupload", "batch", "--sh"}, "--shard --shards"},
		{[]string{"reupload", "completion", ""}, "bash zsh fish"},
		{[]string{"reupload", "help", "ab"}, "abort"},
		{[]string{"reupload", "put", "--state-dir", ""}, ""}, // a path: bash's default
		{[]string{"reupload", "put", "--region", ""}, ""},
		{[]string{"reupload", "put", "abc"}, ""},
	} {
		var quoted []string
		for _, w := range tc.words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(tc.words)-1) + "\n_reupload\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command("bash", "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("completing %q gives %q, want %q", tc.words, got, tc.want)
		}
	}
}

// shell finds a shell for a completion test. CI installs zsh and fish, so
// there a missing shell is a failure, not a skip.
func shell(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (apt-get install %s)", name, name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// fish: `complete -C` asks fish itself what it would offer.
func TestCompletionFish(t *testing.T) {
	fish := shell(t, "fish")
	script := completionScript(t, "fish")
	if out, err := exec.Command(fish, "--no-config", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("fish -n: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"reupload ", []string{"put\treplace the source of one media (resumable, verified)", "version\t", "completion\t"}},
		{"reupload put --pa", []string{"--part-size\tpart size"}},
		{"reupload batch -", []string{"-j\t", "--shard\t", "--dry-run\t"}},
		{"reupload completion ", []string{"bash", "zsh", "fish"}},
	} {
		out, err := exec.Command(fish, "--no-config", "-c", "source "+script+"; complete -C '"+tc.line+"'").CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.line, err, out)
		}
		for _, w := range tc.want {
			if !strings.Contains("\n"+string(out), "\n"+w) {
				t.Errorf("completing %q: no line starting %q in\n%s", tc.line, w, out)
			}
		}
	}
}

// zsh: the script parses, and defines the function and the spec lines for
// every command and flag.
func TestCompletionZsh(t *testing.T) {
	zsh := shell(t, "zsh")
	script := completionScript(t, "zsh")
	if out, err := exec.Command(zsh, "-f", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	out, err := exec.Command(zsh, "-f", "-c", "autoload -U compinit && compinit -u -D && source "+script+" && print -r -- ${_comps[reupload]}").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_reupload" {
		t.Fatalf("zsh did not register _reupload for reupload: %v\n%s", err, out)
	}
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commandSpecs() {
		if !strings.Contains(string(b), "\n        "+c.name+")\n") {
			t.Errorf("zsh script has no case for %s", c.name)
		}
		for _, f := range c.flags {
			if !strings.Contains(string(b), "'"+f.dash()+"[") {
				t.Errorf("zsh script has no spec for %s %s", c.name, f.dash())
			}
		}
	}
}
