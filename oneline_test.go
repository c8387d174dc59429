package reupload

import (
	"strings"
	"testing"
)

func TestOneLineEscapesControls(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain  message\n\twith\r\nwhitespace ", "plain message with whitespace"},
		{"file \x1b[31mred\x1b[0m.mp4", `file \x1b[31mred\x1b[0m.mp4`},
		{"bell\a here", `bell\x07 here`},
		{"del\x7f c1\u009b[2J", `del\x7f c1\x9b[2J`},
		{"nul\x00byte", `nul\x00byte`},
		{"bad utf8 \xff\xfe end", `bad utf8 \xff\xfe end`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"naïve 视频 ok", "naïve 视频 ok"},
		{"nel\u0085folds", "nel folds"}, // U+0085 is whitespace: folded, not escaped
		{"token=S3CR3TVALUE\x1b", "token=[redacted]"},
	} {
		got := OneLine(c.in)
		if got != c.want {
			t.Errorf("OneLine(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Errorf("OneLine(%q) kept control %U", c.in, r)
			}
		}
	}
}

func TestQuoteName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"video 1.mp4", "video 1.mp4"},
		{"视频/naïve.mov", "视频/naïve.mov"},
		{"", ""},
		{"a\x1b]0;pwned\x07.mp4", `"a\x1b]0;pwned\a.mp4"`},
		{"two\nlines", `"two\nlines"`},
		{"cr\rover", `"cr\rover"`},
		{"bidi\u202ename", `"bidi\u202ename"`},
		{"bad\xffbyte", `"bad\xffbyte"`},
		{"nbsp\u00a0name", `"nbsp\u00a0name"`},
	} {
		got := QuoteName(c.in)
		if got != c.want {
			t.Errorf("QuoteName(%q) = %s, want %s", c.in, got, c.want)
		}
		if strings.ContainsAny(got, "\x1b\a\r\n\x7f") {
			t.Errorf("QuoteName(%q) kept a control character: %q", c.in, got)
		}
	}
}
