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
	// kFold carries a 16-byte block d bytes further down the message: its
	// first eight bytes (the higher-degree half) times x^(8d+63) mod P and
	// its last eight times x^(8d-1) mod P, bit-reflected; the -1 makes up
	// for the one-bit shift of a carry-less product of reflected operands.
	kFold = [4]uint64{xPowMod(8*64 + 63), xPowMod(8*64 - 1), xPowMod(8*16 + 63), xPowMod(8*16 - 1)}
)

// xPowMod returns x^n mod P for the ECMA-182 polynomial P, bit-reflected.
func xPowMod(n int) uint64 {
	const poly = 0x42F0E1EBA9EA3693 // P without its x^64 term, normal order
	v := uint64(1)
	for range n {
		carry := v >> 63
		v <<= 1
		if carry != 0 {
			v ^= poly
		}
	}
	return bits.Reverse64(v)
}

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
