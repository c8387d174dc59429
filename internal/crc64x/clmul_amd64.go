//go:build !purego

package crc64x

import (
	"math/bits"

	"golang.org/x/sys/cpu"
)

//go:noescape
func foldCLMUL(s uint64, p []byte, k *[4]uint64, out *[16]byte)

var (
	useCLMUL = cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41
	// kFold carries a 16-byte block d bytes further down the message (d is
	// 64 for k[0] and k[1], 16 for k[2] and k[3]): its
	// first eight bytes (the higher-degree half) times x^(8d+63) mod P and
	// its last eight times x^(8d-1) mod P, bit-reflected; the -1 makes up
	// for the one-bit shift of a carry-less product of reflected operands.
	kFold = [4]uint64{
		bits.Reverse64(xPow(8*64 + 63)), bits.Reverse64(xPow(8*64 - 1)),
		bits.Reverse64(xPow(8*16 + 63)), bits.Reverse64(xPow(8*16 - 1)),
	}
)

// updateArch folds the bulk of p with PCLMULQDQ and finishes the last block
// and the tail with tables. It returns the register (not inverted) after p
// and true, or false when the CPU or the length does not suit it.
func updateArch(r uint64, p []byte) (uint64, bool) {
	if !useCLMUL || len(p) < clmulMin {
		return 0, false
	}
	n := len(p) &^ 15
	var out [16]byte
	foldCLMUL(r, p[:n], &kFold, &out)
	return raw(raw(0, out[:]), p[n:]), true
}
