// Package resume stores the checkpoints that let a killed multipart upload
// resume, and the done markers that let a batch rerun skip finished media.
//
// One checkpoint is kept per MediaId in a state directory (by default
// os.UserCacheDir()/reupload, created with mode 0700). A checkpoint names the
// OSS object, the multipart UploadID, the part size and a fingerprint of the
// source file; it never holds credentials (the STS AccessKeySecret and
// SecurityToken are re-obtained from ICE on every run). Its Parts list is a
// hint only: on resume the server's ListParts is the truth, because a crash
// can land between a successful UploadPart and the next Save.
//
// # Files
//
// The files live in a private subdirectory of the state directory, DIR/state
// (Store.Dir), which Open creates with mode 0700 and refuses, with an
// *UnsafeDirError, when it is not a directory (a symbolic link included), is
// writable by group or others, or is owned by another user, as ssh refuses a
// key others could have written. The state directory itself may be shared:
// a Kubernetes emptyDir is 0777 and a PVC may be group-writable. Versions
// before the subdirectory kept their files directly in DIR; Open moves those
// checkpoints and done markers in when it creates DIR/state.
//
// No state file is ever followed through a symbolic link or opened when it
// is not a regular file, so that a link cannot make reupload create, lock or
// read a file elsewhere, and a FIFO cannot hang it: each open goes through an
// os.Root on the private directory, after an Lstat, with O_NOFOLLOW and
// O_NONBLOCK on Unix, and is checked again with fstat. A checkpoint or done
// marker that is not a regular file is a *CorruptError (Save replaces it);
// such a lock file is an *UnsafeFileError. Each operation also checks that
// the private directory is still the one Open checked. On Windows the
// ownership and mode checks are skipped (permissions there are ACLs) and so
// is the check that the directory was not replaced.
//
// File names are derived from the SHA-256 of the MediaId, never from the id
// itself, so an id holding "/", "..", NUL or anything else cannot escape the
// directory or collide with another id's files. For a MediaId m with
// h = hex(SHA-256(m))[:32] the private directory holds:
//
//	cp-h.json    the checkpoint (mode 0600)
//	cp-h.lock    the lock file; it is left in place on purpose (see Locking)
//	done-h.json  the done marker (mode 0600)
//
// The MediaId is stored inside each file, and Load checks it, so List can
// report ids without reversing the hash.
//
// Writes are atomic in the style of restic's local backend: the JSON goes to
// a temporary file in the same directory (created 0600), which is fsynced,
// closed, renamed over the old file, and then the directory itself is fsynced
// so the rename survives a power cut. A failure at any step removes the
// temporary file and leaves the previous checkpoint untouched.
//
// # Validation
//
// Load accepts only a single JSON object with no unknown keys, Version equal
// to the package Version, every required field set, part numbers strictly
// ascending within 1..MaxParts and no negative size. Anything else, including
// a truncated file, is a *CorruptError: the caller should warn and start a
// fresh upload rather than trust it. A missing checkpoint is an error that
// wraps os.ErrNotExist.
//
// # Locking
//
// Store.Lock must fail at once when another process is already uploading the
// same media, so that a second `reupload` tells the user instead of queueing
// behind the first. github.com/rogpeppe/go-internal/lockedfile (v1.16.0)
// exports only blocking locks (OpenFile, Edit, Mutex.Lock), and the
// filelock package under it is internal and blocking too (Lock, RLock,
// Unlock; no try-lock), so this package calls flock(LOCK_EX|LOCK_NB) itself
// on a separate cp-h.lock file on the BSDs, macOS and Linux. flock locks belong to the open file description, so a
// second Lock in the same process is refused exactly like one in another
// process, and the kernel drops the lock when the holder dies (kill -9
// included), so a crashed run never leaves a stale lock. The lock file is
// never deleted: unlinking it while another process has it open but not yet
// locked would let two processes each lock a different inode.
//
// On other systems (Windows, Solaris, AIX, Plan 9, js/wasm) the fallback
// creates cp-h.lock with O_CREATE|O_EXCL and removes it on Close. That
// refuses concurrent runs just as well but cannot notice a crashed holder:
// after a crash the user must delete the lock file named in the LockedError.
package resume
