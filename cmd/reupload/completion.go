package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/reupload/reupload"
)

const completionUsage = `usage: reupload completion bash|zsh|fish

Prints a shell completion script for reupload's commands and their flags.
  bash: source <(reupload completion bash)      (or save it in /etc/bash_completion.d/reupload)
  zsh:  reupload completion zsh > "${fpath[1]}/_reupload"   (then start a new shell)
  fish: reupload completion fish > ~/.config/fish/completions/reupload.fish
`

// completion answers `reupload completion SHELL`. The script is made from
// the CLI itself, so it cannot drift: the commands come from the usage text
// and each command's flags from what its -h prints (flag.PrintDefaults).
func (e *env) completion(args []string) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(e.stdout, completionUsage)
		return reupload.ExitOK
	}
	if len(args) != 1 {
		return e.fail(usagef("completion takes one shell: bash, zsh or fish"), false, "")
	}
	cmds := commandSpecs()
	switch args[0] {
	case "bash":
		writeBash(e.stdout, cmds)
	case "zsh":
		writeZsh(e.stdout, cmds)
	case "fish":
		writeFish(e.stdout, cmds)
	default:
		return e.fail(usagef("completion: unknown shell %q: want bash, zsh or fish", args[0]), false, "")
	}
	return reupload.ExitOK
}

// completionShells are the shells `completion` writes for, which is also
// what completes after `reupload completion`.
var completionShells = []string{"bash", "zsh", "fish"}

type cmdSpec struct {
	name, desc string
	flags      []flagSpec
	args       []string // fixed words to complete instead of files, if any
}

type flagSpec struct {
	name, usage string
	value       bool // takes a value (is not a bool flag)
}

// names a file or directory, so its value completes as a path; other
// values (sizes, regions, endpoints) have nothing to complete from.
func (f flagSpec) file() bool {
	return f.value && (strings.HasSuffix(f.name, "dir") || f.name == "results" || f.name == "data")
}

// dash is how the flag is written on a command line: -j, --part-size.
func (f flagSpec) dash() string {
	if len(f.name) == 1 {
		return "-" + f.name
	}
	return "--" + f.name
}

var commandLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\b.*?\s{2,}(\S.*)$`)

// commandSpecs lists the commands of the usage text with the flags each one's
// -h reports. help, version and completion have no flags; help completes
// command names and completion the shells.
func commandSpecs() []cmdSpec {
	var cmds []cmdSpec
	inCommands := false
	for line := range strings.Lines(usage) {
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "Commands:":
			inCommands = true
			continue
		case strings.TrimSpace(line) == "":
			inCommands = false
			continue
		}
		m := commandLine.FindStringSubmatch(line)
		if !inCommands || m == nil {
			continue
		}
		cmds = append(cmds, cmdSpec{name: m[1], desc: strings.TrimRight(m[2], ";,. ")})
	}
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	for i := range cmds {
		c := &cmds[i]
		switch c.name {
		case "help":
			c.args = names
			continue
		case "completion":
			c.args = completionShells
			continue
		case "version":
			continue
		}
		var out bytes.Buffer
		run([]string{c.name, "-h"}, strings.NewReader(""), &out, io.Discard)
		c.flags = parseDefaults(out.String())
	}
	return cmds
}

// parseDefaults reads flag.PrintDefaults output: "  -name TYPE" (or
// "  -name" for a bool flag) followed by the usage on lines indented with a
// tab; a one-letter bool flag has its usage after a tab on the same line.
func parseDefaults(text string) []flagSpec {
	var flags []flagSpec
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\n")
		if rest, ok := strings.CutPrefix(line, "  -"); ok && rest != "" && rest[0] != '-' && rest[0] != ' ' {
			head, usage, _ := strings.Cut(rest, "\t")
			name, typ, _ := strings.Cut(head, " ")
			flags = append(flags, flagSpec{name: name, value: typ != "", usage: usage})
			continue
		}
		if u, ok := strings.CutPrefix(line, "    \t"); ok && len(flags) > 0 && flags[len(flags)-1].usage == "" {
			flags[len(flags)-1].usage = u
		}
	}
	slices.SortFunc(flags, func(a, b flagSpec) int { return strings.Compare(a.name, b.name) })
	return flags
}

func writeBash(w io.Writer, cmds []cmdSpec) {
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	fmt.Fprintf(w, `# bash completion for reupload; load it with: source <(reupload completion bash)
_reupload() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W %q -- "$cur"))
        return
    fi
    local flags= values= files= words=
    case ${COMP_WORDS[1]} in
`, strings.Join(names, " "))
	for _, c := range cmds {
		var flags, values, files []string
		for _, f := range c.flags {
			flags = append(flags, f.dash())
			if f.file() {
				files = append(files, "-"+f.name, "--"+f.name)
			} else if f.value {
				values = append(values, "-"+f.name, "--"+f.name)
			}
		}
		fmt.Fprintf(w, "    %s) flags=%q values=%q files=%q words=%q ;;\n", c.name, strings.Join(flags, " "),
			" "+strings.Join(values, " ")+" ", " "+strings.Join(files, " ")+" ", strings.Join(c.args, " "))
	}
	fmt.Fprint(w, `    esac
    # A path flag's value, and any argument, completes as a file name
    # (complete -o default) unless the command has fixed words; another
    # flag's value (a size, a region) has nothing to offer.
    if [[ $prev == -* && $files == *" $prev "* ]]; then
        return
    fi
    if [[ $prev == -* && $values == *" $prev "* ]]; then
        compopt +o default 2>/dev/null
        return
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ -n $words ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
}
complete -o default -F _reupload reupload
`)
}

// zshQuote escapes text for an _arguments or _describe spec inside single
// quotes.
func zshQuote(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`).Replace(s)
	return strings.ReplaceAll(s, `'`, `'\''`)
}

func writeZsh(w io.Writer, cmds []cmdSpec) {
	fmt.Fprint(w, `#compdef reupload
# zsh completion for reupload; save it as _reupload in a directory of $fpath.
_reupload() {
    local -a commands
    commands=(
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "        '%s:%s'\n", c.name, zshQuote(c.desc))
	}
	fmt.Fprint(w, `    )
    if (( CURRENT == 2 )); then
        _describe -t commands 'reupload command' commands
        return
    fi
    local cmd=$words[2]
    shift words
    (( CURRENT-- ))
    case $cmd in
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "        %s)\n            _arguments -s \\\n", c.name)
		for _, f := range c.flags {
			spec := f.dash() + "[" + zshQuote(f.usage) + "]"
			switch {
			case f.file():
				spec += ":" + f.name + ":_files"
			case f.value:
				spec += ":" + f.name + ": "
			}
			fmt.Fprintf(w, "                '%s' \\\n", spec)
		}
		if len(c.args) > 0 {
			fmt.Fprintf(w, "                '*:%s:(%s)'\n", c.name, strings.Join(c.args, " "))
		} else {
			fmt.Fprint(w, "                '*:file:_files'\n")
		}
		fmt.Fprint(w, "            ;;\n")
	}
	fmt.Fprint(w, `    esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _reupload "$@"
else
    compdef _reupload reupload
fi
`)
}

// fishQuote quotes s as one fish word.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func writeFish(w io.Writer, cmds []cmdSpec) {
	fmt.Fprintf(w, "# fish completion for reupload; save it as ~/.config/fish/completions/reupload.fish\ncomplete -c reupload -f\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c reupload -n '__fish_use_subcommand' -a %s -d %s\n", c.name, fishQuote(c.desc))
	}
	for _, c := range cmds {
		cond := "-n " + fishQuote("__fish_seen_subcommand_from "+c.name)
		for _, f := range c.flags {
			opt := "-l " + f.name
			if len(f.name) == 1 {
				opt = "-s " + f.name
			}
			req := ""
			switch {
			case f.file():
				req = " -r -F"
			case f.value:
				req = " -r"
			}
			fmt.Fprintf(w, "complete -c reupload %s %s%s -d %s\n", cond, opt, req, fishQuote(f.usage))
		}
		if len(c.args) > 0 {
			fmt.Fprintf(w, "complete -c reupload %s -a %s\n", cond, fishQuote(strings.Join(c.args, " ")))
		} else {
			fmt.Fprintf(w, "complete -c reupload %s -F\n", cond)
		}
	}
}
