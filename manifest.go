package reupload

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/reupload/reupload/refresh"
)

// Item is one media of a batch: which MediaId gets which source file.
type Item struct {
	MediaID string `json:"media_id"`
	Source  string `json:"source"` // a local file; relative paths are relative to the working directory
	Line    int    `json:"-"`      // 1-based manifest line, for messages; 0 for items built in code
}

// where names the item's manifest line, or its index when it has none.
func (it Item) where(i int) int {
	if it.Line > 0 {
		return it.Line
	}
	return i + 1
}

// LineError is one bad manifest line.
type LineError struct {
	Line    int    // 1-based; for items built in code, the 1-based index
	Problem string // one line, no secrets
}

func (e LineError) String() string { return fmt.Sprintf("line %d: %s", e.Line, e.Problem) }

// ManifestError lists every bad line of a manifest, so that all of them can
// be fixed at once. ReadManifest, ParseManifest and Batch return it inside a
// *BatchError with Invalid set: nothing was uploaded.
type ManifestError struct {
	Name  string // the manifest's name ("-" for stdin); "" for items built in code
	Lines []LineError
}

func (e *ManifestError) Error() string {
	var b strings.Builder
	if e.Name != "" {
		b.WriteString(e.Name + ": ")
	}
	fmt.Fprintf(&b, "%d bad line(s)", len(e.Lines))
	for i, l := range e.Lines {
		if i == 10 {
			fmt.Fprintf(&b, "; and %d more", len(e.Lines)-10)
			break
		}
		b.WriteString("; " + l.String())
	}
	return b.String()
}

// maxManifestLine bounds one manifest line; a longer one is not a manifest.
const maxManifestLine = 64 << 10

// ReadManifest reads the manifest at path ("-" reads stdin) with
// ParseManifest.
func ReadManifest(path string, stdin io.Reader) ([]Item, error) {
	if path == "-" {
		return ParseManifest(stdin, "-")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{Field: "manifest", Err: err}
	}
	defer f.Close()
	return ParseManifest(f, path)
}

// ParseManifest reads a batch manifest and validates every line before
// returning anything. Three formats are accepted, told apart by the first
// non-blank line:
//
//   - CSV: `media_id,source` per line, with an optional header line naming
//     exactly those two columns. Fields may be quoted as in RFC 4180.
//   - Tab-separated: the same with a tab for the comma, quoted the same
//     way; chosen when the first line has a tab before any comma.
//   - JSON Lines: one `{"media_id":…,"source":…}` object per line.
//
// A UTF-8 byte-order mark and CRLF line ends (Excel's "CSV UTF-8") are
// accepted; UTF-16 (Excel's "Unicode Text") is refused with a hint. Blank
// lines are ignored. Bad lines (wrong field count, unknown JSON keys, an
// invalid MediaId, an empty source, a URL that is not http or https) and
// MediaIds listed twice are all reported, with their line numbers, in a
// *ManifestError wrapped in a *BatchError with Invalid set (ExitCode 2).
// name is used in messages only.
func ParseManifest(r io.Reader, name string) ([]Item, error) {
	items, bad, err := parseManifest(r)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, &BatchError{Invalid: true, Err: &ManifestError{Name: name, Lines: bad}}
	}
	return items, nil
}

// parseManifest is ParseManifest, which returns the items that could be
// read along with the bad lines (sorted), so that LoadManifest can check
// their sources in the same pass.
func parseManifest(r io.Reader) ([]Item, []LineError, error) {
	br := bufio.NewReader(r)
	if err := skipBOM(br); err != nil {
		return nil, nil, &InputError{Field: "manifest", Err: err}
	}
	first, err := peekPastBlanks(br)
	if err != nil {
		return nil, nil, &InputError{Field: "manifest", Err: err}
	}
	var (
		items []Item
		bad   []LineError
	)
	switch {
	case first == '{':
		items, bad, err = parseJSONL(br)
	case tabSeparated(br):
		items, bad, err = parseCSV(br, '\t')
	default:
		items, bad, err = parseCSV(br, ',')
	}
	if err != nil {
		return nil, nil, &InputError{Field: "manifest", Err: err}
	}
	if len(items) == 0 && len(bad) == 0 {
		return nil, []LineError{{Line: 1, Problem: "the manifest lists no media"}}, nil
	}
	bad = append(bad, checkItems(items)...)
	sortLines(bad)
	return items, bad, nil
}

// skipBOM drops a UTF-8 byte-order mark, which Excel writes at the start
// of "CSV UTF-8" files (otherwise the first MediaId, or the header, would
// start with U+FEFF), and refuses UTF-16, whose every other byte is 0.
func skipBOM(br *bufio.Reader) error {
	b, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")):
		_, err := br.Discard(3)
		return err
	case bytes.HasPrefix(b, []byte("\xff\xfe")), bytes.HasPrefix(b, []byte("\xfe\xff")):
		return errors.New("the manifest is UTF-16 (Excel's \"Unicode Text\"): save it as \"CSV UTF-8\" or tab-separated UTF-8")
	}
	return nil
}

// tabSeparated reports whether the first non-blank line, as far as the
// reader's buffer shows it, has a tab before any comma. MediaIds hold
// neither, so a line's first separator is the one after its MediaId (or
// after the header's media_id).
func tabSeparated(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Size())
	b = bytes.TrimLeft(b, " \t\r\n")
	for _, c := range b {
		switch c {
		case '\t':
			return true
		case ',', '\n':
			return false
		}
	}
	return false
}

// peekPastBlanks returns the first non-blank byte without consuming
// anything, so that line numbers stay right; 0 for an empty input.
func peekPastBlanks(br *bufio.Reader) (byte, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
				return 0, nil
			}
			return 0, err
		}
		switch c := b[n-1]; c {
		case ' ', '\t', '\r', '\n':
		default:
			return c, nil
		}
	}
}

func parseJSONL(r io.Reader) ([]Item, []LineError, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxManifestLine)
	var (
		items []Item
		bad   []LineError
	)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var it Item
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		err := dec.Decode(&it)
		if err == nil && dec.More() {
			err = errors.New("more than one JSON value")
		}
		if err != nil {
			bad = append(bad, LineError{Line: line, Problem: "not a {\"media_id\":…,\"source\":…} object: " + err.Error()})
			continue
		}
		it.Line = line
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d bytes", maxManifestLine)
		}
		return nil, nil, err
	}
	return items, bad, nil
}

func parseCSV(r io.Reader, comma rune) ([]Item, []LineError, error) {
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var (
		items []Item
		bad   []LineError
		seen  bool
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, LineError{Line: pe.StartLine, Problem: "bad CSV: " + pe.Err.Error()})
			if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
				continue
			}
			return nil, nil, err
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := cr.FieldPos(0)
		first := !seen
		seen = true
		if first && len(rec) == 2 && strings.EqualFold(strings.TrimSpace(rec[0]), "media_id") &&
			strings.EqualFold(strings.TrimSpace(rec[1]), "source") {
			continue // the header
		}
		if len(rec) != 2 {
			want := "media_id,source"
			if comma == '\t' {
				want = "media_id<TAB>source"
			}
			bad = append(bad, LineError{Line: line, Problem: fmt.Sprintf("%d field(s), want 2: %s", len(rec), want)})
			continue
		}
		items = append(items, Item{MediaID: strings.TrimSpace(rec[0]), Source: strings.TrimSpace(rec[1]), Line: line})
	}
	return items, bad, nil
}

// checkItems validates each item and finds duplicate MediaIds.
func checkItems(items []Item) []LineError {
	var bad []LineError
	first := make(map[string]int, len(items))
	for i, it := range items {
		where := it.where(i)
		if err := refresh.ValidateMediaID(it.MediaID); err != nil {
			bad = append(bad, LineError{Line: where, Problem: "media_id " + strconv.Quote(it.MediaID) + ": " + err.Error()})
			continue
		}
		if it.Source == "" {
			bad = append(bad, LineError{Line: where, Problem: "media " + it.MediaID + ": empty source"})
			continue
		}
		if p := sourceSchemeProblem(it.Source); p != "" {
			bad = append(bad, LineError{Line: where, Problem: "media " + it.MediaID + ": " + p})
			continue
		}
		if prev, dup := first[it.MediaID]; dup {
			bad = append(bad, LineError{Line: where, Problem: fmt.Sprintf("media %s is already listed on line %d", it.MediaID, prev)})
			continue
		}
		first[it.MediaID] = where
	}
	return bad
}

// urlScheme matches a source that starts like a URL (RFC 3986 scheme, then
// "://"). A Windows path (C:\x) has no "//" after its colon.
var urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// sourceSchemeProblem says why a source that looks like a URL cannot be
// read: only http and https are fetched, and anything else ("s3://…",
// "ftp://…", "oss://…", "file://…") would otherwise be taken for a relative
// path and reported as a missing file. "" for a usable source.
func sourceSchemeProblem(source string) string {
	m := urlScheme.FindStringSubmatch(source)
	if m == nil || IsURL(source) {
		return ""
	}
	shown := m[0] + "…"
	if u, err := url.Parse(source); err == nil {
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", "" // may carry secrets
		shown = u.String()
	}
	q := strconv.Quote(shown)
	switch strings.ToLower(m[1]) {
	case "file":
		return "source " + q + ": file:// URLs are not read; give the local path itself"
	case "oss":
		return "source " + q + ": unsupported URL scheme \"oss\"; give a local file, or an http(s) URL (e.g. a pre-signed OSS URL)"
	}
	return "source " + q + ": unsupported URL scheme " + strconv.Quote(strings.ToLower(m[1])) + "; give a local file or an http(s) URL"
}

func sortLines(l []LineError) {
	slices.SortStableFunc(l, func(a, b LineError) int { return cmp.Compare(a.Line, b.Line) })
}

// ValidateItems checks items built in code the way ParseManifest checks a
// manifest: a *BatchError with Invalid set wrapping a *ManifestError whose
// line numbers are the items' Line, or their 1-based index.
func ValidateItems(items []Item) error {
	return invalid(checkItems(items))
}

// CheckSources checks that every local source is a regular file here (a URL
// is probed when its upload starts), reporting like ValidateItems. The CLI
// calls it before a batch uploads anything: a missing file is the
// manifest's fault, not a failure that a rerun could cure. A dry run reports
// unreadable sources per media instead.
func CheckSources(items []Item) error {
	var bad []LineError
	for i, it := range items {
		if it.Source == "" || IsURL(it.Source) {
			continue
		}
		fi, err := os.Stat(it.Source)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			bad = append(bad, LineError{Line: it.where(i), Problem: "source " + strconv.Quote(it.Source) + ": no such file"})
		case err != nil:
			bad = append(bad, LineError{Line: it.where(i), Problem: "source " + strconv.Quote(it.Source) + ": " + err.Error()})
		case !fi.Mode().IsRegular():
			bad = append(bad, LineError{Line: it.where(i), Problem: "source " + strconv.Quote(it.Source) + ": not a regular file"})
		}
	}
	return invalid(bad)
}

func invalid(bad []LineError) error {
	if len(bad) == 0 {
		return nil
	}
	sortLines(bad)
	return &BatchError{Invalid: true, Err: &ManifestError{Lines: bad}}
}

// Shard returns the items of shard k of n: every n-th item starting with
// item k (0-based), counted in manifest order, so that n shards together
// cover the manifest exactly once (one Batch per worker of a Kubernetes
// Indexed Job, say, whether the CLI or a program runs it). n <= 1 returns
// items.
func Shard(items []Item, k, n int) []Item {
	if n <= 1 {
		return items
	}
	var out []Item
	for i := k; i >= 0 && i < len(items); i += n {
		out = append(out, items[i])
	}
	return out
}

// ParseShard reads "K/N" (K 0-based, 0 <= K < N).
func ParseShard(s string) (k, n int, err error) {
	ks, ns, ok := strings.Cut(s, "/")
	if ok {
		k, err = strconv.Atoi(ks)
		if err == nil {
			n, err = strconv.Atoi(ns)
		}
	}
	if !ok || err != nil || n < 1 || k < 0 || k >= n {
		return 0, 0, fmt.Errorf("shard %q: want K/N with 0 <= K < N, e.g. 0/4", s)
	}
	return k, n, nil
}
