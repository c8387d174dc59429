//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package resume

import (
	"errors"
	"io/fs"
	"os"
)

var errLocked = errors.New("locked")

// lockDiesWithProcess: an O_EXCL lock file outlives a crashed holder.
const lockDiesWithProcess = false

// tryLock creates the lock file name exclusively and removes it on release.
// Unlike flock this cannot notice a holder that crashed: its lock file stays
// until the user deletes it (LockedError names it). See the package doc.
// Something at name that is not a regular file (a symbolic link, say) is
// reported as such rather than as a lock held by another run; O_EXCL would
// not follow it either way.
func (s *Store) tryLock(name string) (release func() error, err error) {
	r, err := s.root()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if fi, err := r.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		return nil, &irregularError{fi.Mode()}
	}
	f, err := r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|openFlags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, errLocked
	}
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		r.Remove(name)
		return nil, err
	}
	return func() error { return s.remove(name) }, nil
}
