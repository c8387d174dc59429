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

// tryLock takes flock(LOCK_EX|LOCK_NB) on the lock file name, creating it
// with mode 0600. The file is opened like every state file (openState): a
// symbolic link, a FIFO or anything else that is not a regular file is
// refused without being followed or waited on. The lock belongs to the open
// file description, so it conflicts with any other open of the file, in
// this process or another, and dies with the process. The file is never
// removed; see the package doc.
func (s *Store) tryLock(name string) (release func() error, err error) {
	r, err := s.root()
	if err != nil {
		return nil, err
	}
	defer r.Close() // the open file outlives the Root
	f, err := openState(r, name, os.O_RDWR|os.O_CREATE)
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
		return nil, &os.PathError{Op: "flock", Path: name, Err: err}
	}
	// Closing the descriptor drops the lock; no explicit LOCK_UN is needed.
	return f.Close, nil
}
