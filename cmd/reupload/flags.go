package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/reupload/reupload"
)

// usageError is a bad flag or argument: exit 2, nothing sent.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (`put ID FILE --json` and `put --json ID FILE` both work).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v; run 'reupload %s -h' for the flags", err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

var units = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1000, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1000 * 1000, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1000 * 1000 * 1000, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1000 * 1000 * 1000 * 1000, "tib": 1 << 40,
}

// parseSize reads "8MiB", "1GiB", "100KiB", "1.5GiB", "40MB" or plain bytes.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mul, ok := units[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("bad size %q: use bytes or an IEC unit such as 8MiB, 40MiB, 1GiB", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*float64(mul) > 1<<62 {
		return 0, fmt.Errorf("bad size %q: use bytes or an IEC unit such as 8MiB, 40MiB, 1GiB", s)
	}
	return int64(f * float64(mul)), nil
}

// sizeFlag is a flag.Value for sizes; "auto" (when allowed) is 0.
type sizeFlag struct {
	v    int64
	auto bool
}

func (f *sizeFlag) String() string {
	if f.v == 0 && f.auto {
		return "auto"
	}
	return strconv.FormatInt(f.v, 10)
}

func (f *sizeFlag) Set(s string) error {
	if f.auto && strings.EqualFold(s, "auto") {
		f.v = 0
		return nil
	}
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n == 0 && !f.auto {
		return fmt.Errorf("bad size %q: must be above 0 (leave the flag out for no limit)", s)
	}
	f.v = n
	return nil
}

// humanBytes prints n with an IEC unit.
func humanBytes(n int64) string {
	const u = 1024
	if n < u {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(u), 0
	for m := n / u; m >= u; m /= u {
		div *= u
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// jobsFlag is -j: "auto" (0, the default) or 1..64 parts in parallel.
type jobsFlag int

func (j *jobsFlag) String() string {
	if *j == 0 {
		return "auto"
	}
	return strconv.Itoa(int(*j))
}

func (j *jobsFlag) Set(s string) error {
	if strings.EqualFold(s, "auto") {
		*j = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 64 {
		return fmt.Errorf("want auto or 1..64 parts in parallel")
	}
	*j = jobsFlag(n)
	return nil
}

// help answers -h: text, then the flags' defaults, on stdout; exit 0.
func (e *env) help(fs *flag.FlagSet, text string) int {
	fmt.Fprint(e.stdout, text)
	fs.SetOutput(e.stdout)
	fs.PrintDefaults()
	return reupload.ExitOK
}
