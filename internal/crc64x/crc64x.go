// Package crc64x computes the CRC-64 that OSS reports in
// x-oss-hash-crc64ecma (CRC-64/XZ: hash/crc64 with the ECMA table), much
// faster than hash/crc64 on large buffers.
//
// On amd64 CPUs with PCLMULQDQ, a buffer of clmulMin bytes or more is folded
// 64 bytes at a time by carry-less multiplication, as hash/crc32 does for
// its IEEE polynomial, down to one 16-byte block that the tables finish:
// about 15 times hash/crc64's speed. Elsewhere (and with the purego build
// tag) a block of four lanes is hashed as four independent table chains
// that the CPU overlaps, joined with a precomputed table for "append lane
// zero bytes" (the CRC register is linear over GF(2)): about twice
// hash/crc64's speed. The engine and the fake OSS both hash every byte they
// move, so this is the largest cost per byte on both sides. Results are
// identical to hash/crc64; the tests and a fuzz target check both paths.
package crc64x

import (
	"encoding/binary"
	"hash"
	"hash/crc64"
	"math/bits"
)

const lane = 2048 // bytes per lane; a block is four lanes

// clmulMin is the length from which folding (where the CPU has carry-less
// multiplication) pays for its setup and the table pass over its result.
const clmulMin = 256

// noCLMUL makes Update use the tables even where the CPU could fold; the
// tests set it to check both paths.
var noCLMUL bool

var (
	tab8  [8][256]uint64 // slicing-by-8 tables for the reflected ECMA polynomial
	shift [8][256]uint64 // the effect of lane zero bytes on the register, by byte
)

func init() {
	t := crc64.MakeTable(crc64.ECMA)
	tab8[0] = *t
	for i := 0; i < 256; i++ {
		crc := t[i]
		for j := 1; j < 8; j++ {
			crc = t[crc&0xff] ^ (crc >> 8)
			tab8[j][i] = crc
		}
	}
	var basis [64]uint64
	zeros := make([]byte, lane)
	for b := 0; b < 64; b++ {
		basis[b] = raw(uint64(1)<<b, zeros)
	}
	for k := 0; k < 8; k++ {
		for v := 0; v < 256; v++ {
			var x uint64
			for bit := 0; bit < 8; bit++ {
				if v&(1<<bit) != 0 {
					x ^= basis[k*8+bit]
				}
			}
			shift[k][v] = x
		}
	}
}

// raw runs the register (no inversion) over p with slicing-by-8.
func raw(crc uint64, p []byte) uint64 {
	for len(p) >= 8 {
		crc ^= binary.LittleEndian.Uint64(p)
		crc = tab8[7][crc&0xff] ^ tab8[6][(crc>>8)&0xff] ^ tab8[5][(crc>>16)&0xff] ^ tab8[4][(crc>>24)&0xff] ^
			tab8[3][(crc>>32)&0xff] ^ tab8[2][(crc>>40)&0xff] ^ tab8[1][(crc>>48)&0xff] ^ tab8[0][crc>>56]
		p = p[8:]
	}
	for _, v := range p {
		crc = tab8[0][byte(crc)^v] ^ (crc >> 8)
	}
	return crc
}

func shiftLane(x uint64) uint64 {
	return shift[0][x&0xff] ^ shift[1][(x>>8)&0xff] ^ shift[2][(x>>16)&0xff] ^ shift[3][(x>>24)&0xff] ^
		shift[4][(x>>32)&0xff] ^ shift[5][(x>>40)&0xff] ^ shift[6][(x>>48)&0xff] ^ shift[7][x>>56]
}

// Update is crc64.Update(crc, crc64.MakeTable(crc64.ECMA), p), faster on
// large p: blocks of four lanes are hashed as four independent streams.
func Update(crc uint64, p []byte) uint64 {
	r := ^crc
	if !noCLMUL {
		if r, ok := updateArch(r, p); ok {
			return ^r
		}
	}
	for len(p) >= 4*lane {
		a, b, c, d := r, uint64(0), uint64(0), uint64(0)
		pa, pb, pc, pd := p[:lane:lane], p[lane:2*lane:2*lane], p[2*lane:3*lane:3*lane], p[3*lane:4*lane:4*lane]
		for i := 0; i < lane; i += 8 {
			a ^= binary.LittleEndian.Uint64(pa[i:])
			b ^= binary.LittleEndian.Uint64(pb[i:])
			c ^= binary.LittleEndian.Uint64(pc[i:])
			d ^= binary.LittleEndian.Uint64(pd[i:])
			a = tab8[7][a&0xff] ^ tab8[6][(a>>8)&0xff] ^ tab8[5][(a>>16)&0xff] ^ tab8[4][(a>>24)&0xff] ^
				tab8[3][(a>>32)&0xff] ^ tab8[2][(a>>40)&0xff] ^ tab8[1][(a>>48)&0xff] ^ tab8[0][a>>56]
			b = tab8[7][b&0xff] ^ tab8[6][(b>>8)&0xff] ^ tab8[5][(b>>16)&0xff] ^ tab8[4][(b>>24)&0xff] ^
				tab8[3][(b>>32)&0xff] ^ tab8[2][(b>>40)&0xff] ^ tab8[1][(b>>48)&0xff] ^ tab8[0][b>>56]
			c = tab8[7][c&0xff] ^ tab8[6][(c>>8)&0xff] ^ tab8[5][(c>>16)&0xff] ^ tab8[4][(c>>24)&0xff] ^
				tab8[3][(c>>32)&0xff] ^ tab8[2][(c>>40)&0xff] ^ tab8[1][(c>>48)&0xff] ^ tab8[0][c>>56]
			d = tab8[7][d&0xff] ^ tab8[6][(d>>8)&0xff] ^ tab8[5][(d>>16)&0xff] ^ tab8[4][(d>>24)&0xff] ^
				tab8[3][(d>>32)&0xff] ^ tab8[2][(d>>40)&0xff] ^ tab8[1][(d>>48)&0xff] ^ tab8[0][d>>56]
		}
		r = shiftLane(shiftLane(shiftLane(a)^b)^c) ^ d
		p = p[4*lane:]
	}
	return ^raw(r, p)
}

// Size of a checksum in bytes.
const Size = 8

// New returns a hash.Hash64 computing the same CRC-64 as
// crc64.New(crc64.MakeTable(crc64.ECMA)).
func New() hash.Hash64 { return new(digest) }

type digest struct{ crc uint64 }

func (d *digest) Write(p []byte) (int, error) { d.crc = Update(d.crc, p); return len(p), nil }
func (d *digest) Sum64() uint64               { return d.crc }
func (d *digest) Reset()                      { d.crc = 0 }
func (d *digest) Size() int                   { return Size }
func (d *digest) BlockSize() int              { return 1 }
func (d *digest) Sum(in []byte) []byte {
	return binary.BigEndian.AppendUint64(in, d.crc)
}

// Checksum returns the CRC-64 of data.
func Checksum(data []byte) uint64 { return Update(0, data) }

// Combine returns the CRC-64 of A‖B from crc1 = Checksum(A), crc2 =
// Checksum(B) and len2 = len(B), as the SDK's oss.CRC64Combine does, in a
// few microseconds (square-and-multiply for x^(8·len2) mod P instead of
// squaring 64×64 bit matrices).
func Combine(crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1 ^ crc2
	}
	return bits.Reverse64(mulMod(bits.Reverse64(crc1), xPow(8*uint64(len2)))) ^ crc2
}

// poly is the ECMA-182 polynomial without its x^64 term, in normal
// (not reflected) bit order.
const poly = 0x42F0E1EBA9EA3693

// mulMod returns a·b mod P, in normal bit order.
func mulMod(a, b uint64) uint64 {
	var r uint64
	for i := 63; i >= 0; i-- {
		r = r<<1 ^ poly*(r>>63)
		r ^= a * (b >> uint(i) & 1)
	}
	return r
}

// xPow returns x^n mod P, in normal bit order.
func xPow(n uint64) uint64 {
	r, sq := uint64(1), uint64(2) // x^0, x^1
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			r = mulMod(r, sq)
		}
		sq = mulMod(sq, sq)
	}
	return r
}
