//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package resume

import (
	"errors"
	"os"
	"syscall"
)

var errLocked = errors.New("locked")

// lockDiesWithProcess: the kernel drops a flock when its holder exits.
const lockDiesWithProcess = true

// tryLock takes flock(LOCK_EX|LOCK_NB) on path, creating it with mode 0600.
// The lock belongs to the open file description, so it conflicts with any
// other open of the file, in this process or another, and dies with the
// process. The file is never removed; see the package doc.
func tryLock(path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, errLocked
		}
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	// Closing the descriptor drops the lock; no explicit LOCK_UN is needed.
	return f.Close, nil
}

// syncDir fsyncs a directory so that a rename inside it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
