package resume

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// SampleSize is the size of each of the three samples in a Fingerprint.
const SampleSize = 64 << 10

// Fingerprint identifies a source file cheaply, so a resume can refuse to
// continue an upload whose source changed. It reads at most 3 × SampleSize
// bytes however large the file is.
type Fingerprint struct {
	Path    string    `json:"path"` // absolute
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"` // UTC
	// Sample is the hex SHA-256 of up to three SampleSize samples: head,
	// middle and tail. A file of at most 3 × SampleSize bytes is hashed
	// whole.
	Sample string `json:"sample"`
	// Identity names the file itself rather than its content: on Unix its
	// device, inode and change time (ctime), which no rename over it, copy
	// or in-place write can keep while keeping mtime, short of resetting
	// the system clock. "" means unknown (another OS, or a checkpoint
	// written before identities were recorded): never the same as anything.
	Identity string `json:"identity,omitempty"`
}

// SameContent reports whether f and g describe the same file content as far
// as a fingerprint can tell: equal Size, ModTime and Sample. Path is not
// compared, so a file reached through another path still matches.
func (f Fingerprint) SameContent(g Fingerprint) bool {
	return f.Size == g.Size && f.ModTime.Equal(g.ModTime) && f.Sample == g.Sample
}

// SameIdentity reports whether f and g name the same file, unchanged since
// f was taken: both Identities are known and equal. A resume trusts the
// parts an earlier run uploaded from the file without reading them again
// only then; otherwise (the file was replaced, or rewritten in place with
// its mtime put back) it re-reads them, because Size, ModTime and the
// sampled Sample cannot tell two such files apart.
func (f Fingerprint) SameIdentity(g Fingerprint) bool {
	return f.Identity != "" && f.Identity == g.Identity
}

// Equal reports whether f and g are the same fingerprint, Path included.
func (f Fingerprint) Equal(g Fingerprint) bool {
	return f.Path == g.Path && f.SameContent(g)
}

// FingerprintFile fingerprints the regular file at path. Size and ModTime
// come from the open file, so they describe the bytes that were sampled.
func FingerprintFile(path string) (Fingerprint, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Fingerprint{}, fmt.Errorf("fingerprint %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return Fingerprint{}, fmt.Errorf("fingerprint: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Fingerprint{}, fmt.Errorf("fingerprint: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Fingerprint{}, fmt.Errorf("fingerprint %s: not a regular file (%s)", abs, fi.Mode().Type())
	}
	sample, err := sampleHash(f, fi.Size())
	if err != nil {
		return Fingerprint{}, fmt.Errorf("fingerprint %s: %w", abs, err)
	}
	return Fingerprint{Path: abs, Size: fi.Size(), ModTime: fi.ModTime().UTC(), Sample: sample, Identity: FileIdentity(fi)}, nil
}

// sampleHash hashes the head, middle and tail SampleSize bytes of a file of
// the given size, or the whole file when it is no larger than the three.
func sampleHash(r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	var offsets []int64
	if size <= 3*SampleSize {
		offsets = []int64{0}
	} else {
		offsets = []int64{0, size/2 - SampleSize/2, size - SampleSize}
	}
	for _, off := range offsets {
		n := min(size-off, 3*SampleSize)
		if len(offsets) > 1 {
			n = SampleSize
		}
		if _, err := io.CopyN(h, io.NewSectionReader(r, off, n), n); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("file shrank while sampling at offset %d", off)
			}
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
