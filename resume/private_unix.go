//go:build unix

package resume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openFlags go with every open of a state file: O_NOFOLLOW so a symbolic
// link is never followed (os.Root adds it too, but would then follow a link
// that stays inside the directory), and O_NONBLOCK so that opening a FIFO
// planted as a state file returns at once instead of waiting for a writer;
// openState then refuses it. Neither changes how a regular file is read or
// written.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// dirSyncWorks: a directory can be opened and fsynced, which makes a rename
// inside it durable.
const dirSyncWorks = true

// sameDir reports whether a and b describe the same directory (device and
// inode).
func sameDir(a, b fs.FileInfo) bool { return os.SameFile(a, b) }

// checkPrivate applies the ownership and mode rules to the private
// directory at path, open as d with info fi, and narrows a directory that
// others may only read to 0700, through d so that it is the directory that
// was checked.
func checkPrivate(path string, d *os.File, fi fs.FileInfo, uid int) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("resume: no owner information for %s", path)
	}
	if err := privateProblem(path, fi, int(st.Uid), uid); err != nil {
		return err
	}
	if fi.Mode().Perm() != 0o700 {
		if err := d.Chmod(0o700); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	return nil
}

// isSymlinkErr reports the error of an O_NOFOLLOW open of a symbolic link.
func isSymlinkErr(err error) bool { return errors.Is(err, syscall.ELOOP) }

// privateProblem applies the rules of the private directory at path, with
// info fi and owner uid owner, for a process of effective uid uid. It
// returns nil or an *UnsafeDirError.
func privateProblem(path string, fi fs.FileInfo, owner, uid int) error {
	if owner != uid {
		return &UnsafeDirError{Path: path,
			Reason: fmt.Sprintf("is owned by uid %d, not by this user (uid %d)", owner, uid),
			Fix:    "remove it (reupload recreates it) or run reupload as its owner"}
	}
	var by string
	switch perm := fi.Mode().Perm(); {
	case perm&0o022 == 0o022:
		by = "group and others"
	case perm&0o020 != 0:
		by = "group"
	case perm&0o002 != 0:
		by = "others"
	default:
		return nil
	}
	return &UnsafeDirError{Path: path,
		Reason: fmt.Sprintf("is writable by %s (mode %04o)", by, fi.Mode().Perm()),
		Fix:    "run chmod 700 " + path}
}
