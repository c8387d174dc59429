package resume

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as the lock-holding child of the cross-process
// tests: with these variables set it runs holdLock instead of the tests.
const (
	envLockDir = "RESUME_TEST_LOCK_DIR"
	envLockID  = "RESUME_TEST_LOCK_ID"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envLockDir); dir != "" {
		os.Exit(holdLock(dir, os.Getenv(envLockID)))
	}
	goleak.VerifyTestMain(m)
}

// holdLock takes the lock and says so on stdout ("locked", or "refused:
// <error>"), then holds it until stdin reaches EOF or the process is killed.
func holdLock(dir, id string) int {
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h, err := s.Lock(id)
	if err != nil {
		fmt.Printf("refused: %v\n", err)
		return 3
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	if err := h.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// fakeClock returns t0, t0+1s, t0+2s, ... on successive calls.
func fakeClock() func() time.Time {
	n := 0
	return func() time.Time {
		n++
		return t0.Add(time.Duration(n-1) * time.Second)
	}
}

// stateDir is the directory a store was opened on, the parent of its Dir.
func stateDir(s *Store) string { return filepath.Dir(s.Dir()) }

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), WithClock(fakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lock(t *testing.T, s *Store, id string) *Handle {
	t.Helper()
	h, err := s.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

var sample64 = strings.Repeat("ab", 32)

func sampleCheckpoint(id string) *Checkpoint {
	return &Checkpoint{
		MediaID:  id,
		Endpoint: "oss-cn-shanghai.aliyuncs.com",
		Bucket:   "outin-abc",
		Key:      "sv/1234/video.mp4",
		UploadID: "0004B9894A22E5B1888A1E29F823****",
		PartSize: 8 << 20,
		Source: Fingerprint{
			Path: "/data/video.mp4", Size: 20 << 20,
			ModTime: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), Sample: sample64,
		},
		Parts: []Part{
			{Number: 1, Size: 8 << 20, ETag: `"AAA"`, CRC64: 1<<63 + 12345},
			{Number: 2, Size: 8 << 20, ETag: `"BBB"`, CRC64: 42},
		},
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s := newStore(t)
	h := lock(t, s, "m1")

	cp := sampleCheckpoint("")
	if err := h.Save(cp); err != nil {
		t.Fatal(err)
	}
	if cp.MediaID != "m1" || cp.Version != Version || !cp.Created.Equal(t0) || !cp.Updated.Equal(t0) {
		t.Fatalf("Save did not fill in MediaID/Version/Created/Updated: %+v", cp)
	}
	got, err := h.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cp) {
		t.Fatalf("Load = %+v\nwant %+v", got, cp)
	}

	// A second Save keeps Created and moves Updated.
	cp.Parts = append(cp.Parts, Part{Number: 3, Size: 4 << 20, ETag: `"CCC"`})
	if err := h.Save(cp); err != nil {
		t.Fatal(err)
	}
	got, err = h.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(t0) || !got.Updated.Equal(t0.Add(time.Second)) || len(got.Parts) != 3 {
		t.Fatalf("after second Save: created %v updated %v parts %d", got.Created, got.Updated, len(got.Parts))
	}

	if err := h.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := h.Remove(); err != nil {
		t.Fatalf("Remove of an absent checkpoint: %v", err)
	}
	if _, err := h.Load(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load after Remove = %v, want os.ErrNotExist", err)
	}
}

func TestSaveRefusesBadInput(t *testing.T) {
	s := newStore(t)
	h := lock(t, s, "m1")
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Checkpoint){
		"other media":     func(c *Checkpoint) { c.MediaID = "m2" },
		"foreign version": func(c *Checkpoint) { c.Version = 2 },
		"no upload id":    func(c *Checkpoint) { c.UploadID = "" },
		"zero part size":  func(c *Checkpoint) { c.PartSize = 0 },
		"parts unsorted":  func(c *Checkpoint) { c.Parts[0].Number = 5 },
		"bad sample":      func(c *Checkpoint) { c.Source.Sample = "xyz" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cp := sampleCheckpoint("m1")
			mutate(cp)
			before := *cp
			if err := h.Save(cp); err == nil {
				t.Fatal("Save accepted it")
			}
			if !reflect.DeepEqual(*cp, before) {
				t.Fatalf("failed Save modified its argument: %+v", cp)
			}
			got, err := h.Load()
			if err != nil || got.UploadID != sampleCheckpoint("").UploadID || got.Version != Version {
				t.Fatalf("old checkpoint damaged: %+v, %v", got, err)
			}
		})
	}
	if err := h.Save(nil); err == nil {
		t.Fatal("Save(nil) succeeded")
	}
}

func TestLoadMissing(t *testing.T) {
	h := lock(t, newStore(t), "nothing-here")
	cp, err := h.Load()
	if cp != nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load = %v, %v; want os.ErrNotExist", cp, err)
	}
	var ce *CorruptError
	if errors.As(err, &ce) {
		t.Fatalf("missing file reported as corrupt: %v", err)
	}
}

// validJSON is the file Save writes for sampleCheckpoint("m1").
func validJSON(t *testing.T) []byte {
	t.Helper()
	s := newStore(t)
	h := lock(t, s, "m1")
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(h.Path())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// editJSON decodes data into a generic map, lets edit change it and encodes it again.
func editJSON(t *testing.T, data []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadCorrupt(t *testing.T) {
	good := validJSON(t)
	part := func(m map[string]any, i int) map[string]any { return m["parts"].([]any)[i].(map[string]any) }
	cases := []struct {
		name string
		data []byte
		want string // substring of the error
	}{
		{"empty", nil, "unexpected EOF"},
		{"truncated", good[:len(good)/2], "unexpected EOF"},
		{"truncated by one byte", good[:len(good)-2], "unexpected EOF"},
		{"garbage", []byte("\x00\x01garbage\xff"), "invalid character"},
		{"json array", []byte("[1,2]"), "cannot unmarshal"},
		{"null", []byte("null"), "version 0"},
		{"trailing data", append(slices.Clip(good), []byte("{}")...), "trailing data"},
		{"foreign version", editJSON(t, good, func(m map[string]any) { m["version"] = 2 }), "version 2, want 1"},
		{"version zero", editJSON(t, good, func(m map[string]any) { m["version"] = 0 }), "version 0, want 1"},
		{"version as string", editJSON(t, good, func(m map[string]any) { m["version"] = "1" }), "cannot unmarshal"},
		{"unknown key", editJSON(t, good, func(m map[string]any) { m["access_key_secret"] = "s" }), "unknown field"},
		{"missing upload id", editJSON(t, good, func(m map[string]any) { delete(m, "upload_id") }), "missing upload_id"},
		{"missing bucket", editJSON(t, good, func(m map[string]any) { m["bucket"] = "" }), "missing bucket"},
		{"missing media id", editJSON(t, good, func(m map[string]any) { delete(m, "media_id") }), "missing media_id"},
		{"other media", editJSON(t, good, func(m map[string]any) { m["media_id"] = "m2" }), "belongs to media m2"},
		{"zero part size", editJSON(t, good, func(m map[string]any) { m["part_size"] = 0 }), "part_size 0"},
		{"negative source size", editJSON(t, good, func(m map[string]any) {
			m["source"].(map[string]any)["size"] = -1
		}), "negative size"},
		{"short sample", editJSON(t, good, func(m map[string]any) { m["source"].(map[string]any)["sample"] = "abc" }), "want 64 hex"},
		{"part number zero", editJSON(t, good, func(m map[string]any) { part(m, 0)["number"] = 0 }), "outside 1..10000"},
		{"part number 10001", editJSON(t, good, func(m map[string]any) { part(m, 1)["number"] = 10001 }), "outside 1..10000"},
		{"parts descending", editJSON(t, good, func(m map[string]any) { part(m, 0)["number"] = 3 }), "not above previous"},
		{"parts duplicated", editJSON(t, good, func(m map[string]any) { part(m, 1)["number"] = 1 }), "not above previous"},
		{"negative part size", editJSON(t, good, func(m map[string]any) { part(m, 1)["size"] = -5 }), "negative size -5"},
		{"part without etag", editJSON(t, good, func(m map[string]any) { part(m, 1)["etag"] = "" }), "missing etag"},
		{"crc64 overflow", []byte(strings.Replace(string(good), "9223372036854788153", "18446744073709551616", 1)), "cannot unmarshal"},
		{"too large", append(slices.Clip(good), make([]byte, maxFileSize)...), "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			h := lock(t, s, "m1")
			if err := os.WriteFile(h.Path(), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			cp, err := h.Load()
			var ce *CorruptError
			if cp != nil || !errors.As(err, &ce) {
				t.Fatalf("Load = %+v, %v; want *CorruptError", cp, err)
			}
			if ce.Path != h.Path() || ce.MediaID != "m1" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q (path %q), want it to mention %q", err, ce.Path, tc.want)
			}
			if errors.Is(err, os.ErrNotExist) {
				t.Fatal("corrupt file reported as missing")
			}
			// Save replaces the corrupt file.
			if err := h.Save(sampleCheckpoint("m1")); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Load(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	s := newStore(t)
	h := lock(t, s, "m1")
	// A directory where the checkpoint should be cannot be read as a file.
	if err := os.Mkdir(h.Path(), 0o700); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := h.Load(); !errors.As(err, &ce) {
		t.Fatalf("Load = %v, want *CorruptError", err)
	}
}

func TestFileNamesAreSafe(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "state")
	s, err := Open(dir, WithClock(fakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{
		"../escape", "../../../../../../tmp/evil", "/etc/passwd", "a/b/c", `..\..\win`, "..", ".",
		"nul\x00byte", "C:evil", "line\nbreak", "ümlaut ✓", strings.Repeat("x", 5000),
		"6b8f3c1e2d4a4e0f9a1b2c3d4e5f6a7b", "cp-0123", "*?<>|",
	}
	seen := map[string]string{}
	for _, id := range ids {
		h, err := s.Lock(id)
		if err != nil {
			t.Fatalf("Lock(%q): %v", id, err)
		}
		if err := h.Save(sampleCheckpoint(id)); err != nil {
			t.Fatalf("Save(%q): %v", id, err)
		}
		if err := s.MarkDone(id, DoneRecord{UploadID: "u", Source: sampleCheckpoint("").Source}); err != nil {
			t.Fatalf("MarkDone(%q): %v", id, err)
		}
		got, err := h.Load()
		if err != nil || got.MediaID != id {
			t.Fatalf("Load(%q) = %v, %v", id, got, err)
		}
		if filepath.Dir(h.Path()) != s.Dir() {
			t.Fatalf("checkpoint of %q at %s, outside %s", id, h.Path(), s.Dir())
		}
		if other, dup := seen[h.Path()]; dup {
			t.Fatalf("ids %q and %q share %s", id, other, h.Path())
		}
		seen[h.Path()] = id
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing was created beside the state directory, inside it only the
	// private directory, and inside that only our names.
	if entries, _ := os.ReadDir(parent); len(entries) != 1 || entries[0].Name() != "state" {
		t.Fatalf("parent directory holds %v", entries)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || entries[0].Name() != privateDirName {
		t.Fatalf("state directory holds %v", entries)
	}
	entries, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^(cp-[0-9a-f]{32}\.(json|lock)|done-[0-9a-f]{32}\.json)$`)
	for _, e := range entries {
		if !name.MatchString(e.Name()) || !e.Type().IsRegular() {
			t.Errorf("unexpected entry %q (%v)", e.Name(), e.Type())
		}
	}
	if len(entries) != 3*len(ids) {
		t.Fatalf("%d entries for %d ids, want 3 each", len(entries), len(ids))
	}
	cps, err := s.List()
	if err != nil || len(cps) != len(ids) {
		t.Fatalf("List = %d checkpoints, %v", len(cps), err)
	}
	if _, err := s.Lock(""); err == nil {
		t.Fatal("Lock of an empty id succeeded")
	}
}

func TestModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "state")
	s, err := Open(dir, WithClock(fakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	h := lock(t, s, "m1")
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDone("m1", DoneRecord{UploadID: "u", Source: sampleCheckpoint("").Source}); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		dir:                                    fs.ModeDir | 0o700,
		s.Dir():                                fs.ModeDir | 0o700,
		h.Path():                               0o600,
		filepath.Join(s.Dir(), lockName("m1")): 0o600,
		filepath.Join(s.Dir(), doneName("m1")): 0o600,
	}
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}
}

// jsonKeys returns the dotted key paths of a decoded JSON value.
func jsonKeys(prefix string, v any, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			into[prefix+k] = true
			jsonKeys(prefix+k+".", sub, into)
		}
	case []any:
		for _, sub := range v {
			jsonKeys(prefix+"[].", sub, into)
		}
	}
}

func TestCheckpointHoldsNoSecrets(t *testing.T) {
	cp := sampleCheckpoint("m1")
	cp.Version, cp.Created, cp.Updated = Version, t0, t0
	data, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	jsonKeys("", v, got)
	want := []string{
		"version", "media_id", "endpoint", "bucket", "key", "upload_id", "part_size",
		"source", "source.path", "source.size", "source.mod_time", "source.sample",
		"parts", "parts.[].number", "parts.[].size", "parts.[].etag", "parts.[].crc64",
		"created", "updated",
	}
	if keys := slices.Sorted(mapKeys(got)); !slices.Equal(keys, slices.Sorted(slices.Values(want))) {
		t.Fatalf("checkpoint JSON keys = %q\nwant %q", keys, slices.Sorted(slices.Values(want)))
	}
	secret := regexp.MustCompile(`(?i)secret|token|access|auth|passw|credential|signature|sts`)
	for k := range got {
		if secret.MatchString(k) {
			t.Errorf("secret-looking key %q", k)
		}
	}
	// The same for the done record.
	data, err = json.Marshal(doneFile{Version: Version, DoneRecord: DoneRecord{MediaID: "m1"}})
	if err != nil {
		t.Fatal(err)
	}
	v = nil
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	got = map[string]bool{}
	jsonKeys("", v, got)
	for k := range got {
		if secret.MatchString(k) {
			t.Errorf("secret-looking done-record key %q", k)
		}
	}
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestFailedSaveKeepsOldCheckpoint(t *testing.T) {
	boom := errors.New("injected failure")
	for _, step := range []string{"create", "write", "sync", "rename"} {
		t.Run(step, func(t *testing.T) {
			s := newStore(t)
			h := lock(t, s, "m1")
			old := sampleCheckpoint("m1")
			if err := h.Save(old); err != nil {
				t.Fatal(err)
			}
			s.fault = func(at string) error {
				if at == step {
					return boom
				}
				return nil
			}
			next := sampleCheckpoint("m1")
			next.UploadID = "NEW"
			if err := h.Save(next); !errors.Is(err, boom) {
				t.Fatalf("Save = %v, want the injected failure", err)
			}
			if next.UploadID != "NEW" || !next.Updated.IsZero() {
				t.Fatalf("failed Save modified its argument: %+v", next)
			}
			assertIntact(t, h, old)
		})
	}
	// The real thing, where the OS allows it: root writes into read-only
	// directories, which is why the injected failures above exist.
	if os.Geteuid() != 0 {
		t.Run("read-only dir", func(t *testing.T) {
			s := newStore(t)
			h := lock(t, s, "m1")
			old := sampleCheckpoint("m1")
			if err := h.Save(old); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(s.Dir(), 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(s.Dir(), 0o700) })
			if err := h.Save(sampleCheckpoint("m1")); !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("Save into a read-only dir = %v, want permission error", err)
			}
			assertIntact(t, h, old)
		})
	}
}

// assertIntact checks that the checkpoint on disk is still old and that no
// temporary file was left behind.
func assertIntact(t *testing.T, h *Handle, old *Checkpoint) {
	t.Helper()
	got, err := h.Load()
	if err != nil {
		t.Fatalf("old checkpoint unreadable after a failed Save: %v", err)
	}
	if !reflect.DeepEqual(got, old) {
		t.Fatalf("checkpoint changed by a failed Save:\n got %+v\nwant %+v", got, old)
	}
	entries, err := os.ReadDir(filepath.Dir(h.Path()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

func TestLockInProcess(t *testing.T) {
	s := newStore(t)
	h, err := s.Lock("m1")
	if err != nil {
		t.Fatal(err)
	}
	// Another Store on the same directory is refused too: the lock lives in
	// the file system, not in the Store.
	s2, err := Open(stateDir(s))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{s, s2} {
		_, err := st.Lock("m1")
		var le *LockedError
		if !errors.As(err, &le) {
			t.Fatalf("second Lock = %v, want *LockedError", err)
		}
		lockPath := filepath.Join(s.Dir(), lockName("m1"))
		want := "another reupload is already working on media m1 (lock " + lockPath + "); wait for it or stop it"
		if err.Error() != want || le.MediaID != "m1" || le.Path != lockPath {
			t.Fatalf("error %q\nwant  %q", err, want)
		}
	}
	// Other media are not blocked.
	other := lock(t, s, "m2")
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}

	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := h.Load(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close = %v", err)
	}
	if err := h.Save(sampleCheckpoint("m1")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close = %v", err)
	}
	if err := h.Remove(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Remove after Close = %v", err)
	}
	h2 := lock(t, s2, "m1")
	if err := h2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLockedErrorQuotesOddIDs(t *testing.T) {
	err := &LockedError{MediaID: "a\x1b[2Jb", Path: "/x.lock"}
	if want := `another reupload is already working on media "a\x1b[2Jb" (lock /x.lock); wait for it or stop it`; err.Error() != want {
		t.Fatalf("got %q\nwant %q", err, want)
	}
}

// child is the test binary re-executed as a process holding (or trying) a lock.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	line  string // its first stdout line
}

func startChild(t *testing.T, dir, id string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envLockDir+"="+dir, envLockID+"="+id)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { c.stdin.Close(); c.cmd.Process.Kill(); c.cmd.Wait() })
	// Blocks until the child has taken (or failed to take) the lock.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child said nothing: %v", err)
	}
	c.line = strings.TrimSpace(line)
	return c
}

func TestLockAcrossProcesses(t *testing.T) {
	s := newStore(t)

	t.Run("child holds, parent refused, released on exit", func(t *testing.T) {
		c := startChild(t, stateDir(s), "m1")
		if c.line != "locked" {
			t.Fatalf("child: %q", c.line)
		}
		var le *LockedError
		if _, err := s.Lock("m1"); !errors.As(err, &le) {
			t.Fatalf("Lock while the child holds it = %v, want *LockedError", err)
		}
		c.stdin.Close() // the child closes its Handle and exits
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
		h := lock(t, s, "m1")
		h.Close()
	})

	t.Run("killed child", func(t *testing.T) {
		c := startChild(t, stateDir(s), "m1")
		if c.line != "locked" {
			t.Fatalf("child: %q", c.line)
		}
		if err := c.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		c.cmd.Wait()
		if !lockDiesWithProcess {
			// The fallback cannot tell a crash from a live holder: the lock
			// stays until the user deletes the file the error names.
			var le *LockedError
			if _, err := s.Lock("m1"); !errors.As(err, &le) {
				t.Fatalf("Lock after the holder was killed = %v, want *LockedError", err)
			}
			if err := os.Remove(le.Path); err != nil {
				t.Fatal(err)
			}
		}
		h := lock(t, s, "m1")
		h.Close()
	})

	t.Run("parent holds, child refused", func(t *testing.T) {
		h := lock(t, s, "m1")
		c := startChild(t, stateDir(s), "m1")
		want := "refused: another reupload is already working on media m1 (lock " +
			filepath.Join(s.Dir(), lockName("m1")) + "); wait for it or stop it"
		if c.line != want {
			t.Fatalf("child: %q\nwant   %q", c.line, want)
		}
		var ee *exec.ExitError
		if err := c.cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("child exit: %v", err)
		}
		h.Close()
	})
}

func TestList(t *testing.T) {
	s := newStore(t)
	for _, id := range []string{"m3", "m1", "m2"} {
		h := lock(t, s, id)
		if err := h.Save(sampleCheckpoint(id)); err != nil {
			t.Fatal(err)
		}
	}
	// Noise List must ignore: done markers, lock files, temp files, strangers.
	if err := s.MarkDone("m9", DoneRecord{UploadID: "u", Source: sampleCheckpoint("").Source}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".cp-x.json.tmp-1", "notes.txt", "cp-short.json"} {
		if err := os.WriteFile(filepath.Join(s.Dir(), name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Two corrupt ones: garbage, and a valid checkpoint under another id's name.
	bad := filepath.Join(s.Dir(), checkpointName("broken"))
	if err := os.WriteFile(bad, []byte(`{"version":1,`), 0o600); err != nil {
		t.Fatal(err)
	}
	misplaced := filepath.Join(s.Dir(), checkpointName("elsewhere"))
	data, err := os.ReadFile(filepath.Join(s.Dir(), checkpointName("m1")))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(misplaced, data, 0o600); err != nil {
		t.Fatal(err)
	}

	cps, err := s.List()
	var ids []string
	for _, cp := range cps {
		ids = append(ids, cp.MediaID)
	}
	if !slices.Equal(ids, []string{"m1", "m2", "m3"}) {
		t.Fatalf("List ids = %q", ids)
	}
	var paths []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *CorruptError
		if !errors.As(e, &ce) {
			t.Fatalf("List error %v is not a *CorruptError", e)
		}
		paths = append(paths, ce.Path)
	}
	slices.Sort(paths)
	want := []string{bad, misplaced}
	slices.Sort(want)
	if !slices.Equal(paths, want) {
		t.Fatalf("corrupt paths = %q, want %q", paths, want)
	}

	empty := newStore(t)
	if cps, err := empty.List(); err != nil || len(cps) != 0 {
		t.Fatalf("empty List = %v, %v", cps, err)
	}
}

func TestDone(t *testing.T) {
	s := newStore(t)
	if _, err := s.Done("m1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Done before MarkDone = %v", err)
	}
	rec := DoneRecord{UploadID: "u1", Size: 123, CRC64: 1<<64 - 1, Source: sampleCheckpoint("").Source}
	if err := s.MarkDone("m1", rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.Done("m1")
	if err != nil {
		t.Fatal(err)
	}
	want := rec
	want.MediaID, want.Finished = "m1", t0
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("Done = %+v\nwant %+v", *got, want)
	}
	if !got.Source.Equal(rec.Source) {
		t.Fatal("fingerprint changed through the round trip")
	}

	if err := s.MarkDone("m1", DoneRecord{MediaID: "m2", Source: rec.Source}); err == nil {
		t.Fatal("MarkDone accepted another media's record")
	}
	if err := s.MarkDone("m1", DoneRecord{Size: -1, Source: rec.Source}); err == nil {
		t.Fatal("MarkDone accepted a negative size")
	}
	if err := s.MarkDone("", rec); err == nil {
		t.Fatal("MarkDone accepted an empty id")
	}

	path := filepath.Join(s.Dir(), doneName("m1"))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"truncated":       good[:len(good)/2],
		"garbage":         []byte("not json"),
		"foreign version": editJSON(t, good, func(m map[string]any) { m["version"] = 7 }),
		"other media":     editJSON(t, good, func(m map[string]any) { m["media_id"] = "m2" }),
		"unknown key":     editJSON(t, good, func(m map[string]any) { m["token"] = "x" }),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var ce *CorruptError
		if _, err := s.Done("m1"); !errors.As(err, &ce) {
			t.Errorf("%s: Done = %v, want *CorruptError", name, err)
		}
	}

	if err := s.RemoveDone("m1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveDone("m1"); err != nil {
		t.Fatalf("second RemoveDone = %v", err)
	}
	if _, err := s.Done("m1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Done after RemoveDone = %v", err)
	}
}

func TestOpenDefaultDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("LocalAppData", filepath.Join(home, "appdata"))
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(cache, "reupload")
	if d, err := DefaultDir(); err != nil || d != want {
		t.Fatalf("DefaultDir = %q, %v; want %q", d, err, want)
	}
	s, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir() != filepath.Join(want, privateDirName) {
		t.Fatalf("Dir = %q, want %q", s.Dir(), filepath.Join(want, privateDirName))
	}
	for _, dir := range []string{want, s.Dir()} {
		if fi, err := os.Stat(dir); err != nil || fi.Mode() != fs.ModeDir|0o700 {
			t.Fatalf("default dir: %v, %v", fi, err)
		}
	}
	if !strings.HasPrefix(want, home) {
		t.Fatalf("default dir %s escaped the fake home", want)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFingerprintFile(t *testing.T) {
	dir := t.TempDir()

	t.Run("small file is hashed whole", func(t *testing.T) {
		data := []byte("hello, reupload")
		path := filepath.Join(dir, "small")
		writeFile(t, path, data)
		fp, err := FingerprintFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		fi, _ := os.Stat(path)
		if fp.Sample != hex.EncodeToString(sum[:]) || fp.Size != int64(len(data)) ||
			!fp.ModTime.Equal(fi.ModTime()) || fp.ModTime.Location() != time.UTC || fp.Path != path {
			t.Fatalf("fingerprint %+v", fp)
		}
	})

	t.Run("empty file", func(t *testing.T) {
		path := filepath.Join(dir, "empty")
		writeFile(t, path, nil)
		fp, err := FingerprintFile(path)
		sum := sha256.Sum256(nil)
		if err != nil || fp.Size != 0 || fp.Sample != hex.EncodeToString(sum[:]) {
			t.Fatalf("fingerprint %+v, %v", fp, err)
		}
		if err := fp.validate(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("large file samples head middle tail", func(t *testing.T) {
		const size = 1<<20 + 17
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + i>>11)
		}
		path := filepath.Join(dir, "large")
		writeFile(t, path, data)
		fp, err := FingerprintFile(path)
		if err != nil {
			t.Fatal(err)
		}
		mid := size/2 - SampleSize/2
		h := sha256.New()
		h.Write(data[:SampleSize])
		h.Write(data[mid : mid+SampleSize])
		h.Write(data[size-SampleSize:])
		if fp.Sample != hex.EncodeToString(h.Sum(nil)) || fp.Size != size {
			t.Fatalf("fingerprint %+v", fp)
		}
		// A byte changed inside each sample changes Sample; one between
		// samples does not (that is the price of reading 192 KiB, not 1 GiB),
		// so ModTime and Size carry the rest.
		for _, off := range []int{0, SampleSize - 1, mid, mid + SampleSize - 1, size - SampleSize, size - 1} {
			changed := slices.Clone(data)
			changed[off] ^= 0xff
			writeFile(t, path, changed)
			fp2, err := FingerprintFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if fp2.Sample == fp.Sample {
				t.Errorf("change at %d not seen", off)
			}
		}
		changed := slices.Clone(data)
		changed[SampleSize+10] ^= 0xff
		writeFile(t, path, changed)
		fp3, err := FingerprintFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if fp3.Sample != fp.Sample {
			t.Error("change between samples altered Sample")
		}
		fp3.ModTime = fp.ModTime
		if !fp3.SameContent(fp) || !fp3.Equal(fp) {
			t.Error("SameContent/Equal disagree with equal fields")
		}
		fp3.Path = "/elsewhere"
		if !fp3.SameContent(fp) || fp3.Equal(fp) {
			t.Error("Path must matter to Equal only")
		}
		fp3.Size++
		if fp3.SameContent(fp) {
			t.Error("SameContent ignores Size")
		}
	})

	t.Run("relative path becomes absolute", func(t *testing.T) {
		t.Chdir(dir)
		fp, err := FingerprintFile("small")
		if err != nil || fp.Path != filepath.Join(dir, "small") {
			t.Fatalf("fingerprint %+v, %v", fp, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		if _, err := FingerprintFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("missing file: %v", err)
		}
		if _, err := FingerprintFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("directory: %v", err)
		}
	})
}

func Example() {
	dir, _ := os.MkdirTemp("", "resume-example")
	defer os.RemoveAll(dir)
	store, _ := Open(dir)

	h, err := store.Lock("6b8f3c1e2d4a4e0f")
	if err != nil {
		fmt.Println(err) // *LockedError: another run is uploading this media
		return
	}
	defer h.Close()
	if _, err := h.Load(); errors.Is(err, os.ErrNotExist) {
		fmt.Println("no checkpoint: start a new multipart upload")
	}
	_ = h.Save(&Checkpoint{
		Endpoint: "oss-cn-shanghai.aliyuncs.com", Bucket: "outin-abc", Key: "sv/video.mp4",
		UploadID: "0004B9894A22E5B1", PartSize: 8 << 20,
		Source: Fingerprint{Path: "/data/video.mp4", Size: 1 << 30, Sample: strings.Repeat("0", 64)},
	})
	cp, _ := h.Load()
	fmt.Println("resume upload", cp.UploadID, "of media", cp.MediaID)
	_, err = store.Lock("6b8f3c1e2d4a4e0f")
	var locked *LockedError
	fmt.Println("second lock refused:", errors.As(err, &locked))
	// Output:
	// no checkpoint: start a new multipart upload
	// resume upload 0004B9894A22E5B1 of media 6b8f3c1e2d4a4e0f
	// second lock refused: true
}
