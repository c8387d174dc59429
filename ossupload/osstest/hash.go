package osstest

import (
	"crypto/md5"
	"encoding/hex"
	"hash"
	"hash/crc64"
	"io"
	"strings"

	"github.com/reupload/reupload/internal/crc64x"
)

// quotedHex is an ETag: the digest in upper-case hex, in double quotes.
func quotedHex(sum []byte) string {
	return `"` + strings.ToUpper(hex.EncodeToString(sum)) + `"`
}

// hashingReader computes the MD5 and CRC-64 of everything read through it,
// so a body is hashed as it streams into storage and never held twice.
type hashingReader struct {
	r   io.Reader
	md5 hash.Hash
	crc uint64
	n   int64
}

func newHashingReader(r io.Reader) *hashingReader {
	return &hashingReader{r: r, md5: md5.New()}
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.md5.Write(p[:n])
		h.crc = crc64x.Update(h.crc, p[:n])
		h.n += int64(n)
	}
	return n, err
}

// crc64Combine returns the CRC of A‖B from crc(A), crc(B) and len(B), by
// zlib's method (crc32_combine) carried to 64 bits: multiply crc1 by the
// matrix that appends len2 zero bytes, in GF(2).
func crc64Combine(crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1 ^ crc2
	}
	var even, odd [64]uint64
	odd[0] = crc64.ECMA // the operator for one zero bit
	row := uint64(1)
	for n := 1; n < 64; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd)
		if len2&1 != 0 {
			crc1 = gf2Times(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(&odd, &even)
		if len2&1 != 0 {
			crc1 = gf2Times(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2Times(mat *[64]uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[64]uint64) {
	for n := range 64 {
		square[n] = gf2Times(mat, mat[n])
	}
}
