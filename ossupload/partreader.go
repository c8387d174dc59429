package ossupload

// The part reader: source sections, and the body that streams one part,
// hashing and pacing it.

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/time/rate"

	"github.com/reupload/reupload/internal/crc64x"
)

// RangeOpener is an optional interface of Source.R for sources where every
// ReadAt is costly, such as an HTTP server: the engine then streams each
// part from one OpenRange call instead of many small ReadAt calls.
type RangeOpener interface {
	OpenRange(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

// openSection returns the source bytes [off, off+n).
func (r *run) openSection(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if ro, ok := r.src.R.(RangeOpener); ok {
		return ro.OpenRange(ctx, off, n)
	}
	return io.NopCloser(io.NewSectionReader(r.src.R, off, n)), nil
}

func (r *run) hashSection(ctx context.Context, off, n int64) (md5sum []byte, crc uint64, err error) {
	h := md5.New()
	crc, err = r.crcSection(ctx, off, n, h)
	if err != nil {
		return nil, 0, err
	}
	return h.Sum(nil), crc, nil
}

// crcSection returns the CRC-64 of the source bytes [off, off+n), also
// writing them to also when it is not nil.
func (r *run) crcSection(ctx context.Context, off, n int64, also io.Writer) (uint64, error) {
	c := crc64x.New()
	w := io.Writer(c)
	if also != nil {
		w = io.MultiWriter(c, also)
	}
	if err := r.copySection(ctx, w, off, n); err != nil {
		return 0, err
	}
	return c.Sum64(), nil
}

// copySection writes the source bytes [off, off+n) to w.
func (r *run) copySection(ctx context.Context, w io.Writer, off, n int64) error {
	rc, err := r.openSection(ctx, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, io.LimitReader(rc, n))
	return err
}

// partReader streams one part: it hashes, rate-limits and notices a source
// that shrank under it. Its mutex matters only at the end: the HTTP
// transport may still call Read from its own goroutine after UploadPart has
// returned, and close stops that.
type partReader struct {
	ctx     context.Context
	limiter *rate.Limiter
	part    int
	sent    SentProgress // nil: no byte-level progress

	mu     sync.Mutex
	r      io.Reader
	left   int64
	crc    hash.Hash64
	err    error // a source failure, reported in place of the transport's
	closed bool
}

var errPartClosed = errors.New("part body read after its request ended")

func (b *partReader) Read(p []byte) (int, error) {
	if b.limiter != nil && len(p) > b.limiter.Burst() {
		p = p[:b.limiter.Burst()]
	}
	b.mu.Lock()
	n, err := b.read(p)
	b.mu.Unlock()
	if b.limiter != nil && n > 0 {
		if werr := b.limiter.WaitN(b.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (b *partReader) read(p []byte) (int, error) {
	switch {
	case b.closed:
		return 0, errPartClosed
	case b.left <= 0:
		return 0, io.EOF
	case int64(len(p)) > b.left:
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	b.crc.Write(p[:n])
	if b.sent != nil && n > 0 {
		b.sent.PartSent(b.part, int64(n))
	}
	switch {
	case err == io.EOF && b.left > 0:
		b.err = &SourceChangedError{Reason: "it is shorter than when the upload started"}
		return n, b.err
	case err != nil && err != io.EOF:
		b.err = fmt.Errorf("read source: %w", err)
		return n, b.err
	}
	return n, nil
}

// close ends the body and reports the bytes not sent, the CRC-64 of those
// sent, and any source failure.
func (b *partReader) close() (left int64, crc uint64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.left, b.crc.Sum64(), b.err
}
