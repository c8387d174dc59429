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

// tryLock creates path exclusively and removes it on release. Unlike flock
// this cannot notice a holder that crashed: its lock file stays until the
// user deletes it (LockedError names it). See the package doc.
func tryLock(path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, errLocked
	}
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, err
	}
	return func() error { return os.Remove(path) }, nil
}

// syncDir does nothing here: Windows cannot open a directory for fsync
// through os.Open, so the rename's durability is left to the file system.
func syncDir(string) error { return nil }
