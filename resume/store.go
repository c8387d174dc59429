package resume

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrClosed is returned by a Handle's methods after Close.
var ErrClosed = errors.New("resume: handle is closed")

// Store is a directory of checkpoints and done markers. It is safe for
// concurrent use; it holds no open files (each Handle holds its own lock).
type Store struct {
	dir string      // the private directory, DIR/state
	id  fs.FileInfo // of dir as Open checked it; see root
	uid int         // the process's effective uid (withUID in tests)
	now func() time.Time

	// fault, when set by a test, is called before each step of an atomic
	// write ("create", "write", "sync", "rename") and a non-nil result fails
	// that step, so tests can prove a failed Save leaves the old file intact
	// even when they run as root and a read-only directory would not fail.
	fault func(step string) error
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock Save and MarkDone use for Created, Updated and
// Finished. nil, the default, means time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// DefaultDir returns os.UserCacheDir()/reupload, the state directory used
// when Open is given "".
func DefaultDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("resume: no default state directory: %w", err)
	}
	return filepath.Join(cache, "reupload"), nil
}

// Dir returns the absolute path of the directory that holds the state
// files: the private subdirectory DIR/state of the dir given to Open.
func (s *Store) Dir() string { return s.dir }

// fileID is the part of every file name derived from mediaID: 128 bits of
// its SHA-256 in hex, safe on every file system whatever the id holds.
func fileID(mediaID string) string {
	sum := sha256.Sum256([]byte(mediaID))
	return hex.EncodeToString(sum[:16])
}

func checkpointName(mediaID string) string { return "cp-" + fileID(mediaID) + ".json" }
func lockName(mediaID string) string       { return "cp-" + fileID(mediaID) + ".lock" }
func doneName(mediaID string) string       { return "done-" + fileID(mediaID) + ".json" }

var errEmptyID = errors.New("resume: empty media id")

// Handle is the exclusive right to one media's checkpoint, obtained with
// Store.Lock. It is safe for concurrent use: calls are serialised, so upload
// workers may Save through one Handle.
type Handle struct {
	s       *Store
	mediaID string

	mu      sync.Mutex
	release func() error // nil once closed
}

// Lock takes an exclusive, non-blocking, cross-process lock for mediaID. If
// another process, or another Lock in this process, holds it, Lock returns a
// *LockedError at once. Close the Handle to release the lock.
func (s *Store) Lock(mediaID string) (*Handle, error) {
	if mediaID == "" {
		return nil, errEmptyID
	}
	path := filepath.Join(s.dir, lockName(mediaID))
	release, err := s.tryLock(lockName(mediaID))
	var ie *irregularError
	switch {
	case errors.Is(err, errLocked):
		return nil, &LockedError{MediaID: mediaID, Path: path}
	case errors.As(err, &ie):
		return nil, &UnsafeFileError{Path: path, Reason: ie.Error()}
	case err != nil:
		return nil, fmt.Errorf("resume: lock media %s: %w", printable(mediaID), inDir(s.dir, err))
	}
	return &Handle{s: s, mediaID: mediaID, release: release}, nil
}

// MediaID returns the media the Handle locks.
func (h *Handle) MediaID() string { return h.mediaID }

// Path returns the checkpoint file's path, for messages.
func (h *Handle) Path() string { return filepath.Join(h.s.dir, checkpointName(h.mediaID)) }

// Load reads the checkpoint. With none on disk it returns an error wrapping
// os.ErrNotExist; with one that cannot be trusted, a *CorruptError.
func (h *Handle) Load() (*Checkpoint, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release == nil {
		return nil, ErrClosed
	}
	path := h.Path()
	data, err := h.s.readState(checkpointName(h.mediaID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("resume: no checkpoint for media %s: %w", printable(h.mediaID), err)
	}
	if err != nil {
		return nil, &CorruptError{Path: path, MediaID: h.mediaID, Err: err}
	}
	cp, err := decodeCheckpoint(data)
	if err == nil && cp.MediaID != h.mediaID {
		err = fmt.Errorf("belongs to media %s", printable(cp.MediaID))
	}
	if err != nil {
		return nil, &CorruptError{Path: path, MediaID: h.mediaID, Err: err}
	}
	return cp, nil
}

// Save writes cp atomically (temporary file, fsync, rename, directory
// fsync) with mode 0600. It fills in Version and MediaID when zero, refuses
// a MediaID other than the Handle's, sets Created when zero and Updated
// always, and refuses a checkpoint that fails Validate. cp is only modified
// when Save succeeds; on failure the previous checkpoint is left as it was.
func (h *Handle) Save(cp *Checkpoint) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release == nil {
		return ErrClosed
	}
	if cp == nil {
		return errors.New("resume: save nil checkpoint")
	}
	c := *cp
	if c.MediaID == "" {
		c.MediaID = h.mediaID
	}
	if c.MediaID != h.mediaID {
		return fmt.Errorf("resume: checkpoint for media %s saved through the lock of media %s",
			printable(c.MediaID), printable(h.mediaID))
	}
	if c.Version == 0 {
		c.Version = Version
	}
	now := h.s.now().UTC()
	if c.Created.IsZero() {
		c.Created = now
	}
	c.Updated = now
	if err := c.Validate(); err != nil {
		return fmt.Errorf("resume: refusing to save invalid checkpoint: %w", err)
	}
	data, err := json.MarshalIndent(&c, "", "\t")
	if err != nil {
		return fmt.Errorf("resume: encode checkpoint: %w", err)
	}
	if err := h.s.writeAtomic(checkpointName(h.mediaID), append(data, '\n')); err != nil {
		return fmt.Errorf("resume: save checkpoint for media %s: %w", printable(h.mediaID), err)
	}
	*cp = c
	return nil
}

// Remove deletes the checkpoint; a missing one is not an error. The lock
// file stays (see the package doc).
func (h *Handle) Remove() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release == nil {
		return ErrClosed
	}
	return h.s.remove(checkpointName(h.mediaID))
}

// Close releases the lock. Closing twice is not an error.
func (h *Handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release == nil {
		return nil
	}
	err := h.release()
	h.release = nil
	if err != nil {
		return fmt.Errorf("resume: unlock media %s: %w", printable(h.mediaID), err)
	}
	return nil
}

// List returns every valid checkpoint in the store, sorted by MediaID. It
// takes no locks: Save's rename means a reader sees an old or a new file,
// never half of one. Files that fail to load are skipped, and each one is
// reported as a *CorruptError in the returned error (an errors.Join), so a
// non-nil error can come with a non-empty list; use errors.As to find them.
func (s *Store) List() ([]*Checkpoint, error) {
	entries, err := s.readDir()
	if err != nil {
		return nil, fmt.Errorf("resume: list: %w", err)
	}
	var (
		cps     []*Checkpoint
		corrupt []error
	)
	for _, e := range entries {
		name := e.Name()
		if !isOurName(name, "cp-", ".json") {
			continue
		}
		path := filepath.Join(s.dir, name)
		var (
			data []byte
			err  error
		)
		if t := e.Type(); t != 0 {
			err = &irregularError{t} // not even opened
		} else {
			data, err = s.readState(name)
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		var cp *Checkpoint
		if err == nil {
			cp, err = decodeCheckpoint(data)
		}
		if err == nil && checkpointName(cp.MediaID) != name {
			err = fmt.Errorf("holds media %s, whose checkpoint has another name", printable(cp.MediaID))
		}
		if err != nil {
			corrupt = append(corrupt, &CorruptError{Path: path, Err: err})
			continue
		}
		cps = append(cps, cp)
	}
	slices.SortFunc(cps, func(a, b *Checkpoint) int { return cmp.Compare(a.MediaID, b.MediaID) })
	return cps, errors.Join(corrupt...)
}

// MarkDone records that mediaID was completed, atomically and with mode
// 0600. It fills in r.MediaID when empty (and refuses another id) and
// r.Finished when zero. It takes no lock: call it while holding the media's
// Handle if other runs may be working on it.
func (s *Store) MarkDone(mediaID string, r DoneRecord) error {
	if mediaID == "" {
		return errEmptyID
	}
	if r.MediaID == "" {
		r.MediaID = mediaID
	}
	if r.MediaID != mediaID {
		return fmt.Errorf("resume: done record for media %s filed under media %s",
			printable(r.MediaID), printable(mediaID))
	}
	if r.Finished.IsZero() {
		r.Finished = s.now().UTC()
	}
	if err := r.validate(); err != nil {
		return fmt.Errorf("resume: refusing to save invalid done record: %w", err)
	}
	data, err := json.MarshalIndent(doneFile{Version: Version, DoneRecord: r}, "", "\t")
	if err != nil {
		return fmt.Errorf("resume: encode done record: %w", err)
	}
	if err := s.writeAtomic(doneName(mediaID), append(data, '\n')); err != nil {
		return fmt.Errorf("resume: mark media %s done: %w", printable(mediaID), err)
	}
	return nil
}

// Done returns the done record of mediaID. With none it returns an error
// wrapping os.ErrNotExist; with one that cannot be trusted, a *CorruptError.
func (s *Store) Done(mediaID string) (*DoneRecord, error) {
	if mediaID == "" {
		return nil, errEmptyID
	}
	path := filepath.Join(s.dir, doneName(mediaID))
	data, err := s.readState(doneName(mediaID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("resume: media %s is not marked done: %w", printable(mediaID), err)
	}
	if err != nil {
		return nil, &CorruptError{Path: path, MediaID: mediaID, Err: err}
	}
	var f doneFile
	err = decodeStrict(data, &f)
	switch {
	case err != nil:
	case f.Version != Version:
		err = fmt.Errorf("version %d, want %d", f.Version, Version)
	default:
		err = f.validate()
	}
	if err == nil && f.MediaID != mediaID {
		err = fmt.Errorf("belongs to media %s", printable(f.MediaID))
	}
	if err != nil {
		return nil, &CorruptError{Path: path, MediaID: mediaID, Err: err}
	}
	return &f.DoneRecord, nil
}

// RemoveDone deletes the done record of mediaID; a missing one is not an
// error.
func (s *Store) RemoveDone(mediaID string) error {
	if mediaID == "" {
		return errEmptyID
	}
	return s.remove(doneName(mediaID))
}

// remove deletes name; a symbolic link is removed itself, never its target.
func (s *Store) remove(name string) error {
	r, err := s.root()
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	defer r.Close()
	err = r.Remove(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = syncRoot(r, ".")
	}
	if err != nil {
		return fmt.Errorf("resume: %w", inDir(s.dir, err))
	}
	return nil
}

// writeAtomic replaces dir/name with data so that a crash or error at any
// point leaves either the old file or the new one, never a mix. The rename
// replaces whatever sits at name (a symbolic link or a FIFO included)
// without following or opening it.
func (s *Store) writeAtomic(name string, data []byte) error {
	if err := s.inject("create"); err != nil {
		return err
	}
	r, err := s.root()
	if err != nil {
		return err
	}
	defer r.Close()
	return inDir(s.dir, s.replace(r, name, data))
}

func (s *Store) replace(r *os.Root, name string, data []byte) (err error) {
	// The leading dot keeps List and humans from mistaking it for state.
	tmp, tmpName, err := createTemp(r, "."+name+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()       // may already be closed; the write error matters more
			r.Remove(tmpName) // already gone if the rename happened
		}
	}()
	half := len(data) / 2
	if _, err := tmp.Write(data[:half]); err != nil {
		return err
	}
	if err := s.inject("write"); err != nil {
		return err
	}
	if _, err := tmp.Write(data[half:]); err != nil {
		return err
	}
	if err := s.inject("sync"); err != nil {
		return err
	}
	// The bytes must be on disk before the name points at them.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := s.inject("rename"); err != nil {
		return err
	}
	if err := r.Rename(tmpName, name); err != nil {
		return err
	}
	return syncRoot(r, ".") // makes the rename itself durable
}

func (s *Store) inject(step string) error {
	if s.fault == nil {
		return nil
	}
	return s.fault(step)
}

// isOurName reports whether name is prefix + 32 hex digits + suffix.
func isOurName(name, prefix, suffix string) bool {
	id, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, suffix)
	if !ok || len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// readState reads the state file name, refusing one larger than any we
// write, and, without opening it, one that is not a regular file (see
// openState).
func (s *Store) readState(name string) ([]byte, error) {
	r, err := s.root()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := openState(r, name, os.O_RDONLY)
	if err != nil {
		return nil, inDir(s.dir, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return data, nil
}

// readDir lists the private directory.
func (s *Store) readDir() ([]fs.DirEntry, error) {
	r, err := s.root()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	d, err := r.Open(".")
	if err != nil {
		return nil, inDir(s.dir, err)
	}
	defer d.Close()
	return d.ReadDir(-1)
}

func decodeCheckpoint(data []byte) (*Checkpoint, error) {
	var cp Checkpoint
	if err := decodeStrict(data, &cp); err != nil {
		return nil, err
	}
	if err := cp.Validate(); err != nil {
		return nil, err
	}
	return &cp, nil
}

// decodeStrict decodes exactly one JSON value with no unknown keys: a
// checkpoint with extra fields was not written by this Version.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF // an empty file is a truncated one
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
