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
}

// SameContent reports whether f and g describe the same file content as far
// as a fingerprint can tell: equal Size, ModTime and Sample. Path is not
// compared, so a file reached through another path still matches.
func (f Fingerprint) SameContent(g Fingerprint) bool {
	return f.Size == g.Size && f.ModTime.Equal(g.ModTime) && f.Sample == g.Sample
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
	return Fingerprint{Path: abs, Size: fi.Size(), ModTime: fi.ModTime().UTC(), Sample: sample}, nil
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
