package reupload

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

// opened is a source ready for the engine.
type opened struct {
	src       ossupload.Source
	close     func() error
	resumable bool
}

// open opens source: an http(s) URL (see HTTPSource) or a local file.
func (c *Client) open(ctx context.Context, source string) (*opened, error) {
	if IsURL(source) {
		hso := c.cfg.HTTPSource
		if hso.Client == nil {
			hso.Client = c.cfg.HTTPClient
		}
		hs, err := OpenHTTPSource(ctx, source, hso)
		var su *SourceUnavailableError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil, context.Cause(ctx)
		case errors.As(err, &su):
			return nil, err // the server's fault, after retries: a failure, not bad input
		default:
			return nil, &InputError{Field: "source URL", Err: err}
		}
		src := ossupload.Source{R: hs, Size: hs.Size(), Fingerprint: hs.Fingerprint(),
			Check: func() error { return hs.Check(ctx) }}
		return &opened{src: src, close: func() error { return nil }, resumable: hs.Resumable()}, nil
	}
	f, src, err := openSource(source)
	if err != nil {
		return nil, err
	}
	return &opened{src: src, close: f.Close, resumable: true}, nil
}

// IsStream reports whether source names something read once, front to
// back, rather than a regular file: a named pipe (FIFO), process
// substitution (/dev/fd/N), /dev/stdin or another device. Overwrite
// uploads such a source as OverwriteStream does (not resumable). It never
// opens source, so it never blocks.
func IsStream(source string) bool {
	if IsURL(source) {
		return false
	}
	fi, err := os.Stat(source)
	return err == nil && fi.Mode()&(fs.ModeNamedPipe|fs.ModeCharDevice|fs.ModeDevice|fs.ModeSocket) != 0
}

// DisplaySource is source as messages and results show it: a URL without
// its user info and query values (RedactURL), a file path as is.
func DisplaySource(source string) string { return RedactURL(source) }

// OverwriteReader replaces the source of mediaID with the size bytes of r.
// When r also implements ossupload.RangeOpener (as *HTTPSource does), each
// part is streamed from one OpenRange call instead of ReadAt calls.
//
// Such an upload is resumable only when opts.SourceID names the content:
// the checkpoint records SourceID and size, and a later call with the same
// SourceID and size continues it, trusting that r still holds the same
// bytes (every part is still CRC-64-verified against what OSS received, but
// a part uploaded by the earlier run is not read again). So SourceID must
// change whenever the content does: put a version, a content hash or an
// ETag in it. It is stored in the checkpoint and shown by `reupload status`,
// so it must not hold a secret. With SourceID empty, the checkpoint gets an
// identity of its own that no later run matches: an interrupted upload is
// then aborted by the next run for the media (or by Abort) rather than
// resumed.
func (c *Client) OverwriteReader(ctx context.Context, mediaID string, r io.ReaderAt, size int64, opts Options) (*Result, error) {
	if r == nil {
		return nil, &InputError{Field: "source", Err: errors.New("nil io.ReaderAt")}
	}
	if size < 0 {
		return nil, &InputError{Field: "source", Err: fmt.Errorf("negative size %d", size)}
	}
	fp := resume.Fingerprint{Path: opts.SourceID, Size: size, Sample: sampleOf("reupload source id", opts.SourceID)}
	if opts.SourceID == "" {
		fp = onceFingerprint("io.ReaderAt", size)
	}
	return c.overwriteSource(ctx, mediaID, ossupload.Source{R: r, Size: size, Fingerprint: fp}, opts.SourceID != "", opts)
}

// OverwriteStream replaces the source of mediaID with everything r yields
// until io.EOF; the CLI uses it for `reupload put MEDIA_ID -`.
//
// A stream cannot be read twice or at an offset, so it is read part by part
// into memory (ossupload.UploadStream): at most Concurrency+1 parts are held
// (Concurrency 0 means 4), each until OSS has confirmed it, so a failed part
// is re-sent from memory and memory stays within (Concurrency+1) × PartSize
// however long the stream. The length is unknown in advance, so the part
// size is not raised to fit 10,000 parts: PartSize (0 means 8 MiB) bounds
// the stream at 10,000 parts of it. The upload is not resumable
// (Result.Resumable is false): a later run gets a new stream and nothing
// proves that it holds the same bytes, so a failed or interrupted upload is
// aborted, and one whose process died is aborted by the next run for the
// media (or by Abort).
func (c *Client) OverwriteStream(ctx context.Context, mediaID string, r io.Reader, opts Options) (*Result, error) {
	if err := refresh.ValidateMediaID(mediaID); err != nil {
		return nil, &InputError{Field: "MediaId", Err: err}
	}
	if r == nil {
		return nil, &InputError{Field: "source", Err: errors.New("nil io.Reader")}
	}
	if opts.Guards {
		// A stream's size is unknown, but its first bytes can be looked at
		// without losing them; no byte at all is an empty source.
		br := bufio.NewReaderSize(r, sniffSize)
		head, err := br.Peek(sniffSize)
		if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: %w", ossupload.ErrSourceUnreadable, err)
		}
		size := int64(-1)
		if len(head) == 0 {
			size = 0
		}
		if err := c.guard(ctx, mediaID, size, head, opts); err != nil {
			return nil, err
		}
		r = br
	}
	if opts.PartSize != 0 {
		if err := ossupload.CheckPartSize(0, opts.PartSize); err != nil {
			return nil, &InputError{Field: "Options.PartSize", Err: err}
		}
	}
	h, err := c.store.Lock(mediaID)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := c.store.RemoveDone(mediaID); err != nil { // see overwriteSource
		return nil, fmt.Errorf("clear the done marker of media %s: %w", mediaID, err)
	}
	fp := onceFingerprint("stream", 0)
	in := &ctxReader{ctx: ctx, r: r}
	res, err := c.run(ctx, mediaID, h, -1, opts, func(auth ossupload.Authorizer, eo ossupload.Options) (*ossupload.Result, error) {
		return ossupload.UploadStream(ctx, auth, in, fp, eo)
	})
	if err != nil {
		return nil, err
	}
	res.Resumable = false
	return res, nil
}

// overwriteSource validates, locks the media and uploads src.
func (c *Client) overwriteSource(ctx context.Context, mediaID string, src ossupload.Source, resumable bool, opts Options) (*Result, error) {
	if err := refresh.ValidateMediaID(mediaID); err != nil {
		return nil, &InputError{Field: "MediaId", Err: err}
	}
	if err := c.check(ctx, mediaID, src, opts); err != nil {
		return nil, err
	}
	h, err := c.store.Lock(mediaID)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return c.replace(ctx, mediaID, src, h, resumable, opts)
}

// replace uploads src to mediaID under the media's lock h, keeping its done
// marker true: a done marker (batch's "already done") no longer describes
// the object once another source may be uploaded to it, so it is cleared
// first, and written again only once this source is verified on OSS.
func (c *Client) replace(ctx context.Context, mediaID string, src ossupload.Source, h *resume.Handle, resumable bool, opts Options) (*Result, error) {
	if err := c.store.RemoveDone(mediaID); err != nil {
		return nil, fmt.Errorf("clear the done marker of media %s: %w", mediaID, err)
	}
	res, err := c.overwrite(ctx, mediaID, src, h, opts)
	if err != nil {
		if !resumable && (errors.Is(err, context.Canceled) || errors.Is(err, ossupload.ErrStopped)) {
			err = &NotResumableError{Err: err}
		}
		return nil, err
	}
	res.Resumable = resumable
	if resumable {
		c.markDone(mediaID, res, src.Fingerprint)
	}
	return res, nil
}

// check refuses, before anything is sent, a source too large for OSS or a
// part size that does not fit it, and what the guards refuse (when asked).
func (c *Client) check(ctx context.Context, mediaID string, src ossupload.Source, opts Options) error {
	if err := checkSizes(src.Size, opts.PartSize); err != nil {
		return err
	}
	if !opts.Guards {
		return nil
	}
	head, err := readHead(src.R, src.Size)
	if err != nil {
		return &InputError{Field: "source", Err: err}
	}
	return c.guard(ctx, mediaID, src.Size, head, opts)
}

// checkSizes refuses, before anything is sent, a source larger than any
// multipart upload can hold and a part size that does not fit it.
func checkSizes(size, partSize int64) error {
	if err := ossupload.CheckSize(size); err != nil {
		return &InputError{Field: "source", Err: err}
	}
	if partSize != 0 {
		if err := ossupload.CheckPartSize(size, partSize); err != nil {
			return &InputError{Field: "Options.PartSize", Err: err}
		}
	}
	return nil
}

// markDone records that mediaID now holds the source fp describes, so that a
// batch rerun can skip it (after checking the object: see Batch).
func (c *Client) markDone(mediaID string, res *Result, fp resume.Fingerprint) {
	crc, _ := strconv.ParseUint(res.CRC64, 10, 64)
	if err := c.store.MarkDone(mediaID, resume.DoneRecord{UploadID: res.UploadID, Size: res.Size, CRC64: crc, Source: fp}); err != nil {
		// The media is overwritten; only the rerun shortcut is lost.
		c.cfg.Logger.Warn("could not record a finished media", "media_id", mediaID, "err", err)
	}
}

// onceFingerprint identifies a source that no later run can prove to be the
// same: its random Sample never matches, so the engine still writes a
// checkpoint (housekeeping can find and abort the upload) but never resumes
// it.
func onceFingerprint(name string, size int64) resume.Fingerprint {
	return resume.Fingerprint{Path: name, Size: size, ModTime: time.Now().UTC(), Sample: onceSample()}
}

func onceSample() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}

// ctxReader stops a copy between reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
