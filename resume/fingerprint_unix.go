//go:build darwin || freebsd || netbsd || linux || openbsd || dragonfly || solaris

package resume

import (
	"fmt"
	"os"
	"syscall"
)

// FileIdentity returns the Identity of the file fi describes: its device,
// inode and ctime. ctime moves on every write, chmod or rename of the inode
// and cannot be set by a user, so an equal Identity means the very same,
// unmodified file. It returns "" when fi has no stat data.
func FileIdentity(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	sec, nsec := ctime(st)
	return fmt.Sprintf("unix:%d:%d:%d.%09d", uint64(st.Dev), uint64(st.Ino), sec, nsec)
}
