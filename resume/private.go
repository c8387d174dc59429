package resume

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// privateDirName is the subdirectory of the state directory that holds
// every state file. reupload creates it, owns it and keeps it at mode 0700,
// so the state directory itself may be shared (a Kubernetes emptyDir is
// 0777, a PVC may be group-writable) without anyone else being able to plant
// files among ours.
const privateDirName = "state"

// UnsafeDirError reports a private state directory that Open refuses to use,
// as ssh refuses a key file that others could have written: it is not a
// directory (a symbolic link included), it is writable by group or others,
// or another user owns it. The state directory given to Open may be shared;
// only its private subdirectory must be ours.
type UnsafeDirError struct {
	Path   string // the private directory, DIR/state
	Reason string // what is wrong, e.g. "is writable by group and others (mode 0777)"
	Fix    string // what the user can do, e.g. "run chmod 700 DIR/state"
}

func (e *UnsafeDirError) Error() string {
	return fmt.Sprintf("unsafe state directory %s: %s; %s", e.Path, e.Reason, e.Fix)
}

// UnsafeFileError reports a lock file that is not a regular file (a
// symbolic link, a FIFO, a device...). Lock never follows or opens such a
// file: following a symlink would create or lock a file outside the store,
// and opening a FIFO could block.
type UnsafeFileError struct {
	Path   string // the lock file
	Reason string // e.g. "is a symbolic link"
}

func (e *UnsafeFileError) Error() string {
	return fmt.Sprintf("unsafe state file %s: %s, not a regular file; remove it (reupload creates a new one)", e.Path, e.Reason)
}

// irregularError is what openState returns for a state file that is not a
// regular file; its text ("is a named pipe (FIFO)") says what it is instead.
type irregularError struct{ mode fs.FileMode }

func (e *irregularError) Error() string { return "is " + kind(e.mode) }

// kind names the type of a file for messages.
func kind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a device"
	case t == fs.ModeDir:
		return "a directory"
	case t == 0:
		return "a regular file"
	}
	return "an irregular file"
}

// Open opens the store in dir, creating dir (and its parents) with mode 0700
// if needed; dir "" means DefaultDir(). An existing dir keeps its mode and
// may be shared: the state files live in a private subdirectory, DIR/state,
// that Open creates with mode 0700 and checks each time; every later
// operation makes sure it is still that directory. Open returns an
// *UnsafeDirError if that subdirectory is not a directory, is writable by
// group or others, or belongs to another user (the ownership and mode checks
// are skipped on Windows, whose permissions are ACLs that Go does not
// expose). A subdirectory only readable by others is narrowed to 0700.
//
// When Open creates the private subdirectory, it moves into it the
// checkpoints and done markers that earlier versions kept directly in dir
// (regular files only), so an interrupted upload still resumes. Their old
// lock files stay behind, unused.
func Open(dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("resume: create state directory: %w", err)
	}
	s := &Store{dir: filepath.Join(abs, privateDirName), uid: os.Geteuid()}
	for _, o := range opts {
		o(s)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.openPrivate(abs); err != nil {
		return nil, err
	}
	return s, nil
}

// withUID makes the Store take uid for the process's effective uid, so that
// tests can check the ownership rule without a second user.
func withUID(uid int) Option {
	return func(s *Store) { s.uid = uid }
}

// openPrivate creates or checks the private directory inside parent and
// records its identity in s.id; a new one receives the previous version's
// state files.
func (s *Store) openPrivate(parent string) error {
	outer, err := os.OpenRoot(parent)
	if err != nil {
		return fmt.Errorf("resume: open state directory: %w", err)
	}
	defer outer.Close()
	created := false
	fi, err := outer.Lstat(privateDirName)
	if errors.Is(err, fs.ErrNotExist) {
		err = outer.Mkdir(privateDirName, 0o700)
		created = err == nil
		if err == nil || errors.Is(err, fs.ErrExist) { // ErrExist: another run made it meanwhile
			fi, err = outer.Lstat(privateDirName)
		}
	}
	if err != nil {
		return fmt.Errorf("resume: create private state directory: %w", inDir(parent, err))
	}
	// Checked before anything opens it: opening a FIFO could block.
	if fi.Mode().Type() != fs.ModeDir {
		return &UnsafeDirError{Path: s.dir, Reason: "is " + kind(fi.Mode()) + ", not a directory", Fix: "remove it (reupload recreates it)"}
	}
	priv, err := outer.OpenRoot(privateDirName)
	if err != nil {
		return fmt.Errorf("resume: open private state directory: %w", inDir(parent, err))
	}
	defer priv.Close()
	d, err := priv.Open(".")
	if err != nil {
		return fmt.Errorf("resume: open private state directory: %w", inDir(s.dir, err))
	}
	defer d.Close()
	id, err := d.Stat()
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if !sameDir(fi, id) {
		return &UnsafeDirError{Path: s.dir, Reason: "was replaced while reupload was checking it", Fix: "find out who replaced it, then run again"}
	}
	if err := checkPrivate(s.dir, d, id, s.uid); err != nil {
		return err
	}
	s.id = id
	if created {
		if err := moveOldState(outer, s.dir); err != nil {
			return err
		}
	}
	return nil
}

// moveOldState moves the checkpoints and done markers that versions before
// the private directory kept directly in the state directory (outer) into
// the new private directory at priv. Only regular files with our names
// move: a symlink, a FIFO or a stranger's file stays where it is. Lock files
// stay too: nothing reads them any more, and removing one could pull it from
// under an old binary still running.
func moveOldState(outer *os.Root, priv string) error {
	d, err := outer.Open(".")
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	var errs []error
	moved := false
	for _, e := range entries {
		name := e.Name()
		if !isOurName(name, "cp-", ".json") && !isOurName(name, "done-", ".json") {
			continue
		}
		if fi, err := outer.Lstat(name); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		err := outer.Rename(name, filepath.Join(privateDirName, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // ErrNotExist: another run moved it
			errs = append(errs, inDir(outer.Name(), err))
		}
		moved = moved || err == nil
	}
	if moved {
		// Make the renames durable in both directories.
		if err := syncRoot(outer, "."); err != nil {
			errs = append(errs, err)
		}
		if err := syncRoot(outer, privateDirName); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("resume: moving the previous version's state into %s: %w (move the files there yourself, or delete them to start those uploads afresh)", priv, err)
	}
	return nil
}

// root opens the private directory for one operation. Every file operation
// goes through an os.Root, which resolves names inside the directory it
// opened without following a symbolic link out of it, and root checks that
// this is still the directory Open checked: one put in its place later
// (possible when the state directory is shared) is refused.
func (s *Store) root() (*os.Root, error) {
	r, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, err
	}
	fi, err := r.Stat(".")
	if err == nil && !sameDir(fi, s.id) {
		err = &UnsafeDirError{Path: s.dir, Reason: "was replaced after reupload checked it", Fix: "find out who replaced it, then run again"}
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// openState opens the state file name in r. It never follows a symbolic link
// and never blocks: the file is checked with Lstat before the open, opened
// with openFlags (O_NOFOLLOW|O_NONBLOCK on Unix), and checked again with
// fstat after it, since it could have been swapped in between. A file that
// is not regular yields an *irregularError.
func openState(r *os.Root, name string, flag int) (*os.File, error) {
	fi, err := r.Lstat(name)
	if err == nil && !fi.Mode().IsRegular() {
		return nil, &irregularError{fi.Mode()}
	}
	if err != nil && (flag&os.O_CREATE == 0 || !errors.Is(err, fs.ErrNotExist)) {
		return nil, err
	}
	f, err := r.OpenFile(name, flag|openFlags, 0o600)
	if err != nil {
		if isSymlinkErr(err) {
			return nil, &irregularError{fs.ModeSymlink}
		}
		return nil, err
	}
	fi, err = f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &irregularError{fi.Mode()}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// createTemp creates a new file named prefix plus a random suffix in r, with
// mode 0600, as os.CreateTemp does. O_CREATE|O_EXCL never follows a
// symbolic link (POSIX open: "If O_CREAT and O_EXCL are set ... and path
// names a symbolic link, open() shall fail with [EEXIST]"), and a file it
// creates cannot be a FIFO.
func createTemp(r *os.Root, prefix string) (*os.File, string, error) {
	for range 10000 {
		name := prefix + strconv.FormatUint(rand.Uint64(), 36)
		f, err := r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|openFlags, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", &os.PathError{Op: "createtemp", Path: prefix + "*", Err: fs.ErrExist}
}

// syncRoot fsyncs the directory name inside r (name "." for r itself) so
// that renames inside it are durable.
func syncRoot(r *os.Root, name string) error {
	if !dirSyncWorks {
		return nil
	}
	d, err := r.Open(name)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// inDir puts dir in front of the relative names that os.Root's errors
// carry, so messages name the file as before.
func inDir(dir string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe) && !filepath.IsAbs(pe.Path):
		return &fs.PathError{Op: pe.Op, Path: filepath.Join(dir, pe.Path), Err: pe.Err}
	case errors.As(err, &le) && !filepath.IsAbs(le.Old):
		return &os.LinkError{Op: le.Op, Old: filepath.Join(dir, le.Old), New: filepath.Join(dir, le.New), Err: le.Err}
	}
	return err
}
