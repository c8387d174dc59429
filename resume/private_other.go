//go:build !unix

package resume

import (
	"io/fs"
	"os"
)

// openFlags: Windows has no O_NOFOLLOW or O_NONBLOCK to pass. os.Root opens
// with its own no-follow flag there, openState still checks the type before
// and after the open, and a FIFO cannot sit in a Windows directory (named
// pipes live under \\.\pipe\).
const openFlags = 0

// dirSyncWorks: Windows cannot open a directory for fsync through os.Open,
// so the durability of a rename is left to the file system.
const dirSyncWorks = false

// sameDir would compare file identities; os.SameFile needs a path or handle
// that FileInfo from os.Root does not reliably carry here, so a replaced
// directory is not detected on these systems.
func sameDir(a, b fs.FileInfo) bool { return true }

// checkPrivate does nothing here: Windows keeps ownership and access in
// ACLs, which Go does not expose, and reports every directory as mode 0777.
// The private directory is still created and checked to be a directory.
func checkPrivate(string, *os.File, fs.FileInfo, int) error { return nil }

// isSymlinkErr: without O_NOFOLLOW, a link is caught by the type checks.
func isSymlinkErr(error) bool { return false }
