package crc64x

import (
	"bytes"
	"hash/crc64"
	"math/rand/v2"
	"testing"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

var ecma = crc64.MakeTable(crc64.ECMA)

// paths runs f with each implementation this machine has: the four-lane
// tables and, where the CPU has it, carry-less multiplication.
func paths(t testing.TB, f func(t testing.TB)) {
	defer func(v bool) { noCLMUL = v }(noCLMUL)
	for _, off := range []bool{true, !useCLMUL} {
		noCLMUL = off
		f(t)
	}
}

func TestMatchesHashCRC64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 100_001)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	paths(t, func(t testing.TB) {
		// Around the lane, block and folding boundaries, and well past them;
		// from an aligned and an odd start.
		for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, clmulMin - 1, clmulMin, clmulMin + 1, clmulMin + 15, clmulMin + 16,
			clmulMin + 63, clmulMin + 64, clmulMin + 79, 1000, lane - 1, lane, 4*lane - 1, 4 * lane, 4*lane + 1, 8*lane + 13, 32 << 10, 100_000} {
			for _, start := range []int{0, 1} {
				p := buf[start : start+n]
				for _, init := range []uint64{0, 12345, ^uint64(0)} {
					if got, want := Update(init, p), crc64.Update(init, ecma, p); got != want {
						t.Fatalf("noCLMUL=%v: Update(%d, %d bytes at %d) = %x, want %x", noCLMUL, init, n, start, got, want)
					}
				}
			}
		}
	})
	if got := Checksum([]byte("123456789")); got != 11051210869376104954 {
		t.Fatalf("check value %d, want 11051210869376104954 (docs/oss.md, Checksums)", got)
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

func TestCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sizes := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {100, 3}, {4096, 70000}, {1, 1 << 20}} {
		a, b := make([]byte, sizes[0]), make([]byte, sizes[1])
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		ca, cb := crc64.Checksum(a, ecma), crc64.Checksum(b, ecma)
		want := crc64.Checksum(append(append([]byte{}, a...), b...), ecma)
		if got := Combine(ca, cb, int64(len(b))); got != want {
			t.Errorf("Combine %v = %x, want %x", sizes, got, want)
		}
		if sdk := oss.CRC64Combine(ca, cb, uint64(len(b))); sdk != want {
			t.Errorf("the SDK's CRC64Combine %v = %x, want %x", sizes, sdk, want)
		}
	}
}

func FuzzMatchesHashCRC64(f *testing.F) {
	f.Add(uint64(0), []byte("123456789"))
	f.Add(uint64(7), bytes.Repeat([]byte{0xff}, 4*lane+3))
	f.Add(uint64(1), bytes.Repeat([]byte{0x5a}, clmulMin+47))
	f.Fuzz(func(t *testing.T, init uint64, data []byte) {
		paths(t, func(t testing.TB) {
			if got, want := Update(init, data), crc64.Update(init, ecma, data); got != want {
				t.Fatalf("noCLMUL=%v: Update(%d, %d bytes) = %x, want %x", noCLMUL, init, len(data), got, want)
			}
			k := int(init % uint64(len(data)+1))
			if got, want := Combine(Checksum(data[:k]), Checksum(data[k:]), int64(len(data)-k)), Checksum(data); got != want {
				t.Fatalf("Combine at %d of %d bytes = %x, want %x", k, len(data), got, want)
			}
		})
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
	b.Run("crc64x-lanes", func(b *testing.B) {
		defer func(v bool) { noCLMUL = v }(noCLMUL)
		noCLMUL = true
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			Update(0, buf)
		}
	})
}
