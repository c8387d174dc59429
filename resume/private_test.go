package resume

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// oldStateDir writes what the previous version left in dir (checkpoints,
// done markers and lock files directly in it, beside a stranger's file) and
// returns the checkpoint it wrote for media m1.
func oldStateDir(t *testing.T, dir string) *Checkpoint {
	t.Helper()
	// Produce the files with this version in a scratch store: the format
	// did not change, only the place.
	scratch := newStore(t)
	h := lock(t, scratch, "m1")
	cp := sampleCheckpoint("m1")
	if err := h.Save(cp); err != nil {
		t.Fatal(err)
	}
	if err := scratch.MarkDone("m2", DoneRecord{UploadID: "u2", Source: cp.Source}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{checkpointName("m1"), doneName("m2"), lockName("m1")} {
		data, err := os.ReadFile(filepath.Join(scratch.Dir(), name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), data)
	}
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("mine"))
	return cp
}

func TestOpenMovesOldStateIntoPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "st")
	want := oldStateDir(t, dir)

	s, err := Open(dir, WithClock(fakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir() != filepath.Join(dir, privateDirName) {
		t.Fatalf("Dir = %s, want %s", s.Dir(), filepath.Join(dir, privateDirName))
	}
	// The interrupted upload of the old version resumes, and its done
	// marker still counts.
	h := lock(t, s, "m1")
	got, err := h.Load()
	if err != nil {
		t.Fatalf("old checkpoint lost in the move: %v", err)
	}
	if got.UploadID != want.UploadID {
		t.Fatalf("Load = %+v", got)
	}
	if rec, err := s.Done("m2"); err != nil || rec.UploadID != "u2" {
		t.Fatalf("Done(m2) = %+v, %v", rec, err)
	}
	if cps, err := s.List(); err != nil || len(cps) != 1 || cps[0].MediaID != "m1" {
		t.Fatalf("List = %v, %v", cps, err)
	}
	// Only checkpoints and done markers moved: the old lock file and the
	// stranger stay where they were.
	left := dirNames(t, dir)
	if want := []string{lockName("m1"), "notes.txt", privateDirName}; !slices.Equal(left, want) {
		t.Fatalf("state dir holds %q, want %q", left, want)
	}

	// Moving happens once, when the private directory is created: a file
	// put there later by an old binary is left alone.
	late := filepath.Join(dir, checkpointName("m3"))
	writeFile(t, late, []byte("{}"))
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(late); err != nil {
		t.Fatalf("second Open moved a file again: %v", err)
	}
}

func TestOpenNewDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{privateDirName}) {
		t.Fatalf("Open left %q in %s", got, dir)
	}
	h := lock(t, s, "m1")
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(h.Path()) != filepath.Join(dir, privateDirName) {
		t.Fatalf("checkpoint at %s, outside the private directory", h.Path())
	}
}

func TestOpenRefusesPrivateDirThatIsAFile(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, privateDirName)
	writeFile(t, priv, []byte("not a directory"))
	_, err := Open(dir)
	var ue *UnsafeDirError
	if !errors.As(err, &ue) || ue.Path != priv {
		t.Fatalf("Open = %v, want *UnsafeDirError for %s", err, priv)
	}
	if want := "unsafe state directory " + priv + ": is a regular file, not a directory; remove it (reupload recreates it)"; err.Error() != want {
		t.Fatalf("error %q\nwant  %q", err, want)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
