//go:build unix

package resume

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// returnsPromptly runs f and fails the test if it has not returned within a
// minute. The calls under test must never block on a FIFO; without the guard
// a regression would hang the whole test binary instead of failing one test.
// On failure it opens fifo for reading and writing, which lets a blocked
// open of it return, so the goroutine ends.
func returnsPromptly(t *testing.T, what, fifo string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		if p, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
			p.Close()
		}
		<-done
		t.Fatalf("%s blocked on the FIFO %s", what, fifo)
		return nil
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFIFOCheckpointIsCorrupt(t *testing.T) {
	s := newStore(t)
	h := lock(t, s, "m1")
	mkfifo(t, h.Path())
	err := returnsPromptly(t, "Load", h.Path(), func() error { _, err := h.Load(); return err })
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != h.Path() || !strings.HasSuffix(err.Error(), ": is a named pipe (FIFO)") {
		t.Fatalf("Load = %v, want *CorruptError saying it is a FIFO", err)
	}
	// List reports it the same way, without opening it.
	err = returnsPromptly(t, "List", h.Path(), func() error { _, err := s.List(); return err })
	if !errors.As(err, &ce) || ce.Path != h.Path() {
		t.Fatalf("List = %v, want *CorruptError for %s", err, h.Path())
	}
	// Save replaces it, as it does any corrupt checkpoint.
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(); err != nil {
		t.Fatal(err)
	}
}

func TestFIFODoneMarkerIsCorrupt(t *testing.T) {
	s := newStore(t)
	path := filepath.Join(s.Dir(), doneName("m1"))
	mkfifo(t, path)
	err := returnsPromptly(t, "Done", path, func() error { _, err := s.Done("m1"); return err })
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != path || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Done = %v, want *CorruptError", err)
	}
	if err := s.MarkDone("m1", DoneRecord{UploadID: "u", Source: sampleCheckpoint("").Source}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Done("m1"); err != nil {
		t.Fatal(err)
	}
}

func TestFIFOLockFileRefused(t *testing.T) {
	s := newStore(t)
	path := filepath.Join(s.Dir(), lockName("m1"))
	mkfifo(t, path)
	err := returnsPromptly(t, "Lock", path, func() error {
		h, err := s.Lock("m1")
		if err == nil {
			h.Close()
		}
		return err
	})
	var ue *UnsafeFileError
	if !errors.As(err, &ue) || ue.Path != path {
		t.Fatalf("Lock = %v, want *UnsafeFileError for %s", err, path)
	}
	want := "unsafe state file " + path + ": is a named pipe (FIFO), not a regular file; remove it (reupload creates a new one)"
	if !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("error %q\nwant it to end %q", err, want)
	}
	var le *LockedError
	if errors.As(err, &le) {
		t.Fatal("a FIFO reported as a lock held by another run")
	}
}

func TestSymlinkedLockFileIsNotFollowed(t *testing.T) {
	s := newStore(t)
	outside := t.TempDir()
	for name, target := range map[string]string{
		"missing outside": filepath.Join(outside, "created-by-reupload"),
		"missing inside":  filepath.Join(s.Dir(), "created-by-reupload"),
		"relative":        "created-by-reupload",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(s.Dir(), lockName("m1"))
			os.Remove(path)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			h, err := s.Lock("m1")
			if err == nil {
				h.Close()
			}
			var ue *UnsafeFileError
			if !errors.As(err, &ue) || ue.Path != path || !strings.Contains(err.Error(), "is a symbolic link") {
				t.Fatalf("Lock = %v, want *UnsafeFileError for the symlink", err)
			}
			abs := target
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(s.Dir(), abs)
			}
			if _, err := os.Lstat(abs); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the symlink's target %s was created: %v", abs, err)
			}
		})
	}
}

func TestSymlinkedStateFilesAreNotRead(t *testing.T) {
	s := newStore(t)
	h := lock(t, s, "m1")
	// A valid checkpoint and done marker elsewhere, reached by symlinks.
	other := newStore(t)
	oh := lock(t, other, "m1")
	if err := oh.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	if err := other.MarkDone("m1", DoneRecord{UploadID: "u", Source: sampleCheckpoint("").Source}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(oh.Path(), h.Path()); err != nil {
		t.Fatal(err)
	}
	donePath := filepath.Join(s.Dir(), doneName("m1"))
	if err := os.Symlink(filepath.Join(other.Dir(), doneName("m1")), donePath); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := h.Load(); !errors.As(err, &ce) || !strings.HasSuffix(err.Error(), ": is a symbolic link") {
		t.Fatalf("Load through a symlink = %v, want *CorruptError", err)
	}
	if _, err := s.Done("m1"); !errors.As(err, &ce) || !strings.HasSuffix(err.Error(), ": is a symbolic link") {
		t.Fatalf("Done through a symlink = %v, want *CorruptError", err)
	}
	if cps, err := s.List(); len(cps) != 0 || !errors.As(err, &ce) || ce.Path != h.Path() {
		t.Fatalf("List = %v, %v; want the symlink reported corrupt", cps, err)
	}
	// Save and RemoveDone replace the links, not their targets.
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveDone("m1"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(h.Path()); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("after Save: %v, %v", fi, err)
	}
	if _, err := other.Done("m1"); err != nil {
		t.Fatalf("RemoveDone reached through the symlink: %v", err)
	}
}

func TestOpenPrivateDirSafety(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, priv string) // priv does not exist yet
		uid     int                             // the process's uid; -1 means the real one
		want    string                          // the whole error, with PRIV for the path
	}{
		{"world-writable", mkdirMode(0o777), -1,
			"unsafe state directory PRIV: is writable by group and others (mode 0777); run chmod 700 PRIV"},
		{"group-writable", mkdirMode(0o770), -1,
			"unsafe state directory PRIV: is writable by group (mode 0770); run chmod 700 PRIV"},
		{"others-writable", mkdirMode(0o702), -1,
			"unsafe state directory PRIV: is writable by others (mode 0702); run chmod 700 PRIV"},
		{"symlink to a directory", func(t *testing.T, priv string) {
			if err := os.Symlink(t.TempDir(), priv); err != nil {
				t.Fatal(err)
			}
		}, -1, "unsafe state directory PRIV: is a symbolic link, not a directory; remove it (reupload recreates it)"},
		{"dangling symlink", func(t *testing.T, priv string) {
			if err := os.Symlink(filepath.Join(t.TempDir(), "nowhere"), priv); err != nil {
				t.Fatal(err)
			}
		}, -1, "unsafe state directory PRIV: is a symbolic link, not a directory; remove it (reupload recreates it)"},
		{"FIFO", func(t *testing.T, priv string) { mkfifo(t, priv) }, -1,
			"unsafe state directory PRIV: is a named pipe (FIFO), not a directory; remove it (reupload recreates it)"},
		{"owned by another user", mkdirMode(0o700), os.Geteuid() + 1000,
			"unsafe state directory PRIV: is owned by uid " + itoa(os.Geteuid()) + ", not by this user (uid " + itoa(os.Geteuid()+1000) +
				"); remove it (reupload recreates it) or run reupload as its owner"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			priv := filepath.Join(dir, privateDirName)
			tc.prepare(t, priv)
			var opts []Option
			if tc.uid >= 0 {
				opts = append(opts, withUID(tc.uid))
			}
			before, err := os.Lstat(priv)
			if err != nil {
				t.Fatal(err)
			}
			var s *Store
			err = returnsPromptly(t, "Open", priv, func() error { var err error; s, err = Open(dir, opts...); return err })
			var ue *UnsafeDirError
			if !errors.As(err, &ue) || ue.Path != priv {
				t.Fatalf("Open = %v, %v; want *UnsafeDirError for %s", s, err, priv)
			}
			if want := strings.ReplaceAll(tc.want, "PRIV", priv); err.Error() != want {
				t.Fatalf("error %q\nwant  %q", err, want)
			}
			if after, err := os.Lstat(priv); err != nil || after.Mode() != before.Mode() {
				t.Fatalf("Open changed what it refused: %v, %v (was %v)", after, err, before.Mode())
			}
		})
	}
}

func mkdirMode(mode fs.FileMode) func(*testing.T, string) {
	return func(t *testing.T, priv string) {
		if err := os.Mkdir(priv, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(priv, mode); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestOpenAcceptsSharedParent: Kubernetes mounts an emptyDir with mode 0777
// and a PVC may be group-writable; only the private directory must be ours.
func TestOpenAcceptsSharedParent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "emptydir")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open of a 0777 directory: %v", err)
	}
	h := lock(t, s, "m1")
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("Open changed the mode of --state-dir: %v, %v", fi, err)
	}
	if fi, err := os.Lstat(s.Dir()); err != nil || fi.Mode() != fs.ModeDir|0o700 {
		t.Fatalf("private directory: %v, %v; want mode drwx------", fi, err)
	}
}

// TestOpenKeepsPrivateDir0700: a private directory only readable by others
// is ours and safe to tighten; Open puts it back to 0700. So does a umask
// that would have made it too narrow to use.
func TestOpenKeepsPrivateDir0700(t *testing.T) {
	t.Run("readable by others", func(t *testing.T) {
		dir := t.TempDir()
		priv := filepath.Join(dir, privateDirName)
		mkdirMode(0o755)(t, priv)
		if _, err := Open(dir); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(priv); err != nil || fi.Mode() != fs.ModeDir|0o700 {
			t.Fatalf("private directory: %v, %v; want mode drwx------", fi, err)
		}
	})
	t.Run("umask 0277", func(t *testing.T) {
		dir := t.TempDir()
		old := syscall.Umask(0o277)
		_, err := Open(dir)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(filepath.Join(dir, privateDirName)); err != nil || fi.Mode() != fs.ModeDir|0o700 {
			t.Fatalf("private directory: %v, %v; want mode drwx------", fi, err)
		}
	})
}

// TestMoveSkipsSymlinks: moving the old version's files never moves a
// symlink (nor what it points at) or a FIFO into the private directory, and
// never opens them.
func TestMoveSkipsSymlinks(t *testing.T) {
	dir := t.TempDir()
	elsewhere := newStore(t)
	h := lock(t, elsewhere, "m1")
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, checkpointName("m1"))
	if err := os.Symlink(h.Path(), link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, doneName("m1"))
	mkfifo(t, fifo)
	var s *Store
	err := returnsPromptly(t, "Open", fifo, func() error { var err error; s, err = Open(dir); return err })
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the symlink moved: %v, %v", fi, err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO moved: %v, %v", fi, err)
	}
	if _, err := s.Done("m1"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Done = %v, want no done marker", err)
	}
	if _, err := os.Lstat(filepath.Join(s.Dir(), checkpointName("m1"))); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("something arrived in the private directory: %v", err)
	}
	if _, err := elsewhere.List(); err != nil {
		t.Fatalf("the symlink's target was touched: %v", err)
	}
}

// TestStoreNoticesReplacedDir: a store keeps using the directory it
// checked, not whatever later sits at its path.
func TestStoreNoticesReplacedDir(t *testing.T) {
	s := newStore(t)
	h := lock(t, s, "m1")
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(s.Dir(), s.Dir()+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := h.Save(sampleCheckpoint("m1")); err == nil {
		t.Fatal("Save wrote into a directory that replaced the checked one")
	}
	if _, err := s.List(); err == nil {
		t.Fatal("List read a directory that replaced the checked one")
	}
	if got := dirNames(t, s.Dir()); len(got) != 0 {
		t.Fatalf("the replacement directory holds %q", got)
	}
}
