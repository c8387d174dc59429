package crc64x

import (
	"bytes"
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

var ecma = crc64.MakeTable(crc64.ECMA)

func TestMatchesHashCRC64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 100_000)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	// Around the lane and block boundaries, and well past them.
	for _, n := range []int{0, 1, 7, 8, 9, lane - 1, lane, 4*lane - 1, 4 * lane, 4*lane + 1, 8*lane + 13, 32 << 10, 100_000} {
		for _, init := range []uint64{0, 12345, ^uint64(0)} {
			if got, want := Update(init, buf[:n]), crc64.Update(init, ecma, buf[:n]); got != want {
				t.Fatalf("Update(%d, %d bytes) = %x, want %x", init, n, got, want)
			}
		}
	}
	if got := Checksum([]byte("123456789")); got != 11051210869376104954 {
		t.Fatalf("check value %d, want 11051210869376104954 (oss-protocol.md)", got)
	}
}

// Writing in pieces gives the checksum of the whole, as hash/crc64 does.
func TestDigestInPieces(t *testing.T) {
	data := bytes.Repeat([]byte("reupload "), 10_000)
	d := New()
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+len(rest)%9973)
		d.Write(rest[:n])
		rest = rest[n:]
	}
	if want := crc64.Checksum(data, ecma); d.Sum64() != want {
		t.Fatalf("Sum64 %x, want %x", d.Sum64(), want)
	}
	std := crc64.New(ecma)
	std.Write(data)
	if !bytes.Equal(d.Sum(nil), std.Sum(nil)) || d.Size() != std.Size() {
		t.Fatal("Sum or Size differs from hash/crc64")
	}
	d.Reset()
	if d.Sum64() != 0 {
		t.Fatal("Reset kept state")
	}
}

func FuzzMatchesHashCRC64(f *testing.F) {
	f.Add(uint64(0), []byte("123456789"))
	f.Add(uint64(7), bytes.Repeat([]byte{0xff}, 4*lane+3))
	f.Fuzz(func(t *testing.T, init uint64, data []byte) {
		if got, want := Update(init, data), crc64.Update(init, ecma, data); got != want {
			t.Fatalf("Update(%d, %d bytes) = %x, want %x", init, len(data), got, want)
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	buf := make([]byte, 32<<10)
	b.Run("hash/crc64", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			crc64.Update(0, ecma, buf)
		}
	})
	b.Run("crc64x", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			Update(0, buf)
		}
	})
}
