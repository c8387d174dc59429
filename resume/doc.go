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
// File names are derived from the SHA-256 of the MediaId, never from the id
// itself, so an id holding "/", "..", NUL or anything else cannot escape the
// directory or collide with another id's files. For a MediaId m with
// h = hex(SHA-256(m))[:32] the directory holds:
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
