//go:build !(darwin || freebsd || netbsd || linux || openbsd || dragonfly || solaris)

package resume

import "os"

// FileIdentity returns "" here: this platform offers no inode and ctime
// through os.FileInfo, so a resume always re-reads the parts it adopts.
func FileIdentity(os.FileInfo) string { return "" }
