package reupload_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/reupload/reupload"
)

const mA, mB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"

// What spreadsheets and scripts write is read as the person meant it: Excel's
// "CSV UTF-8" (a byte-order mark, CRLF), tab-separated text, and either with
// or without a header. Before, the BOM made the first MediaId (or the
// header) "\ufeffmedia_id": invalid MediaId.
func TestParseManifestSpreadsheetFormats(t *testing.T) {
	const bom = "\ufeff"
	for _, tc := range []struct{ name, text string }{
		{"excel csv utf-8", bom + "media_id,source\r\n" + mA + ",a.mp4\r\n" + mB + ",\"dir/b, final.mp4\"\r\n"},
		{"bom csv without header", bom + mA + ",a.mp4\r\n" + mB + ",\"dir/b, final.mp4\"\r\n"},
		{"bom csv, blank first line", bom + "\r\n" + mA + ",a.mp4\r\n" + mB + ",\"dir/b, final.mp4\"\r\n"},
		{"bom jsonl", bom + `{"media_id":"` + mA + `","source":"a.mp4"}` + "\r\n" + `{"media_id":"` + mB + `","source":"dir/b, final.mp4"}` + "\r\n"},
		{"tsv with header", "media_id\tsource\n" + mA + "\ta.mp4\n" + mB + "\tdir/b, final.mp4\n"},
		{"excel tsv, quoted", bom + "media_id\tsource\r\n" + mA + "\ta.mp4\r\n" + mB + "\t\"dir/b, final.mp4\"\r\n"},
		{"tsv without header", mA + "\ta.mp4\n" + mB + "\tdir/b, final.mp4\n"},
		{"tsv, header with blanks", "  media_id \t source\n" + mA + "\t a.mp4\n" + mB + "\tdir/b, final.mp4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := reupload.ParseManifest(strings.NewReader(tc.text), "m")
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != 2 || items[0].MediaID != mA || items[0].Source != "a.mp4" || items[1].MediaID != mB || items[1].Source != "dir/b, final.mp4" {
				t.Fatalf("items = %+v", items)
			}
		})
	}
}

func manifestProblems(t *testing.T, err error) []reupload.LineError {
	t.Helper()
	var be *reupload.BatchError
	var me *reupload.ManifestError
	if !errors.As(err, &be) || !be.Invalid || !errors.As(err, &me) {
		t.Fatalf("err = %v, want an invalid manifest", err)
	}
	if reupload.ExitCode(err) != reupload.ExitUsage {
		t.Fatalf("exit code %d, want %d", reupload.ExitCode(err), reupload.ExitUsage)
	}
	return me.Lines
}

// A line of a tab-separated manifest with a third field is reported as such,
// naming the tab format.
func TestParseManifestTSVFieldCount(t *testing.T) {
	_, err := reupload.ParseManifest(strings.NewReader("media_id\tsource\n"+mA+"\ta.mp4\textra\n"), "m")
	lines := manifestProblems(t, err)
	if len(lines) != 1 || lines[0].Line != 2 || !strings.Contains(lines[0].Problem, "3 field(s), want 2: media_id<TAB>source") {
		t.Fatalf("lines = %v", lines)
	}
}

// Excel's "Unicode Text" is UTF-16: refused whole, with the format to use.
func TestParseManifestUTF16(t *testing.T) {
	for _, bom := range []string{"\xff\xfe", "\xfe\xff"} {
		_, err := reupload.ParseManifest(strings.NewReader(bom+"m\x00e\x00"), "m")
		var ie *reupload.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), `UTF-16 (Excel's "Unicode Text"): save it as "CSV UTF-8"`) {
			t.Fatalf("err = %v, want the UTF-16 hint", err)
		}
	}
}

// A source that is a URL of another scheme is refused as such, with its
// line, instead of being taken for a relative path ("s3:" a directory) and
// reported as a missing file; its user info and query never show.
func TestManifestRefusesOtherURLSchemes(t *testing.T) {
	ids := []string{
		"00000000000000000000000000000001", "00000000000000000000000000000002", "00000000000000000000000000000003",
		"00000000000000000000000000000004", "00000000000000000000000000000005", "00000000000000000000000000000006",
		"00000000000000000000000000000007", "00000000000000000000000000000008", "00000000000000000000000000000009",
	}
	sources := []struct {
		source, problem string // problem "" means accepted
	}{
		{"ftp://user:hunter2@files.example/v.mp4", `source "ftp://files.example/v.mp4": unsupported URL scheme "ftp"; give a local file or an http(s) URL`},
		{"s3://bucket/v.mp4?X-Amz-Signature=abc", `source "s3://bucket/v.mp4": unsupported URL scheme "s3"`},
		{"OSS://bucket/v.mp4", `unsupported URL scheme "oss"; give a local file, or an http(s) URL (e.g. a pre-signed OSS URL)`},
		{"file:///data/v.mp4", `file:// URLs are not read; give the local path itself`},
		{"HTTPS://example.com/v.mp4", ""},
		{"http://example.com/v.mp4", ""},
		{`C:\videos\v.mp4`, ""},
		{"dir/s3://not-a-scheme.mp4", ""}, // a relative path that merely contains ://
		{"v.mp4", ""},
	}
	var b strings.Builder
	b.WriteString("media_id,source\n")
	for i, s := range sources {
		b.WriteString(ids[i] + "," + s.source + "\n")
	}
	_, err := reupload.ParseManifest(strings.NewReader(b.String()), "m")
	lines := manifestProblems(t, err)
	want := 0
	for i, s := range sources {
		if s.problem == "" {
			continue
		}
		if want >= len(lines) || lines[want].Line != i+2 || !strings.Contains(lines[want].Problem, s.problem) {
			t.Fatalf("problems %v: want line %d with %q", lines, i+2, s.problem)
		}
		want++
	}
	if len(lines) != want {
		t.Fatalf("problems %v, want %d", lines, want)
	}
	for _, secret := range []string{"hunter2", "X-Amz-Signature", "abc"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the message shows %q: %v", secret, err)
		}
	}
	// Items built in code are held to the same rule.
	err = reupload.ValidateItems([]reupload.Item{{MediaID: mA, Source: "s3://bucket/v.mp4"}})
	if lines := manifestProblems(t, err); len(lines) != 1 || !strings.Contains(lines[0].Problem, `unsupported URL scheme "s3"`) {
		t.Fatalf("ValidateItems: %v", err)
	}
}
