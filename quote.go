package reupload

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// QuoteName returns a file name, object key or MediaId fit to print on a
// terminal: s as it is when every character is printable, else s quoted
// with strconv.Quote, so that an ESC, BEL, carriage return, newline,
// Unicode direction override or invalid UTF-8 byte in a name shows as an
// escape (\x1b, \a, \r, \n, \u202e, \xff) instead of acting on the
// terminal or forging a line of output.
func QuoteName(s string) string {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return strconv.Quote(s)
			}
		}
		if !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// escapeControls writes every control character of s (C0, DEL, C1),
// every Unicode bidirectional control and every invalid UTF-8 byte as a
// visible escape: \xNN below U+0100 and for bytes, \uNNNN above. Other
// text, non-ASCII letters included, is left alone; the caller has already
// folded whitespace, so no tab or newline reaches here.
func escapeControls(s string) string {
	clean := true
	for _, r := range s {
		if mustEscape(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case mustEscape(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case mustEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

// mustEscape reports whether r would act on a terminal instead of
// showing: a control character (ESC starts colour and cursor sequences,
// BEL rings, CR overwrites the line) or a bidirectional control (it
// reorders the text after it). utf8.RuneError stands for an invalid byte
// in a range loop.
func mustEscape(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError
}
