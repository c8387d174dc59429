package resume

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkSave measures one atomic checkpoint write (encode, temp file,
// fsync, rename, directory fsync) for a small and a maximal checkpoint.
func BenchmarkSave(b *testing.B) {
	for _, parts := range []int{2, MaxParts} {
		b.Run(fmt.Sprintf("parts=%d", parts), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			h, err := s.Lock("m1")
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			cp := sampleCheckpoint("m1")
			cp.Parts = make([]Part, parts)
			for i := range cp.Parts {
				cp.Parts[i] = Part{Number: i + 1, Size: 8 << 20, ETag: `"5B3C1A2B9E8F7D6C5B4A39281706F5E4"`, CRC64: 1<<64 - 1}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Save(cp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFingerprintFile measures fingerprinting a file larger than the
// three samples, which reads 192 KiB whatever the size.
func BenchmarkFingerprintFile(b *testing.B) {
	path := b.TempDir() + "/f"
	if err := os.WriteFile(path, make([]byte, 4<<20), 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(3 * SampleSize)
	for b.Loop() {
		if _, err := FingerprintFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad measures reading back a small checkpoint: no fsync, so it
// shows the cost of the checks around each open (directory identity, Lstat,
// fstat) that the disk hides in BenchmarkSave.
func BenchmarkLoad(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	h, err := s.Lock("m1")
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	if err := h.Save(sampleCheckpoint("m1")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Load(); err != nil {
			b.Fatal(err)
		}
	}
}
