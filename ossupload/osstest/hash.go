package osstest

import (
	"crypto/md5"
	"encoding/hex"
	"hash"
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
