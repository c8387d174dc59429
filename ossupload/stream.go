package ossupload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/reupload/reupload/resume"
)

// DefaultStreamConcurrency is the parts in flight of UploadStream when
// Options.Concurrency is 0: each holds a part-sized buffer, so the auto
// ramp of Upload (up to AutoConcurrencyMax) would cost too much memory.
const DefaultStreamConcurrency = 4

// StreamTooLongError is a stream that needs more than MaxParts parts of the
// part size it was given.
type StreamTooLongError struct{ PartSize int64 }

func (e *StreamTooLongError) Error() string {
	return fmt.Sprintf("the stream is longer than %d parts of %d bytes: pass a larger part size", MaxParts, e.PartSize)
}

// UploadStream overwrites the object auth names with everything in reads
// from in, for sources that can be read only once, front to back (a pipe).
//
// Parts are read into memory, Concurrency+1 of them at most (Concurrency 0
// means DefaultStreamConcurrency), so memory stays within (Concurrency+1) ×
// PartSize whatever the stream's length; a part is kept until OSS has
// confirmed it, so a failed part is sent again from memory. The length is
// unknown in advance, so PartSize (0 means DefaultPartSize) is not raised:
// a stream longer than MaxParts parts fails with *StreamTooLongError.
//
// Such an upload cannot resume. On failure or interruption it is aborted.
// opts.State, when set, holds a checkpoint with fp while it runs, so that
// if the process dies the next run for the same object aborts it: give fp a
// Sample no later source can match.
func UploadStream(ctx context.Context, auth Authorizer, in io.Reader, fp resume.Fingerprint, opts Options) (*Result, error) {
	if in == nil {
		return nil, errors.New("ossupload: UploadStream needs a reader")
	}
	if opts.PartSize == 0 {
		opts.PartSize = DefaultPartSize
	}
	if err := CheckPartSize(0, opts.PartSize); err != nil {
		return nil, err
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultStreamConcurrency
	}
	opts.fill()
	buffered := &streamSource{parts: map[int64][]byte{}}
	r, err := startRun(ctx, auth, Source{R: buffered, Fingerprint: fp}, opts)
	if err != nil {
		return nil, err
	}
	t, _ := r.target()
	api, err := opts.NewAPI(t, r)
	if err != nil {
		return nil, err
	}
	defer closeAPI(api)
	st := &state{run: r, api: api, key: t.Key}
	st.discard(ctx, t) // an earlier stream upload to this object can never resume
	if err := st.initiate(ctx, t, opts.PartSize); err != nil {
		return nil, err
	}
	opts.OnEvent(Event{Kind: EventStart, Target: t, Size: -1, PartSize: opts.PartSize, Jobs: opts.Concurrency})
	opts.Progress.Start(-1, 0)

	parts, total, err := st.sendStream(ctx, in, buffered)
	if err == nil {
		r.src.Size = total
		var res *Result
		if res, err = st.complete(ctx, parts); err == nil {
			res.Target, res.PartSize = t, opts.PartSize
			return res, nil
		}
	}
	st.flush()
	aborted := st.abort(ctx) // nothing can resume it: leave no parts behind
	if errors.Is(err, ErrStopped) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrStopped) {
			err = context.Cause(ctx)
		}
		return nil, &StreamInterruptedError{UploadID: st.uploadID(), Aborted: aborted, Err: err}
	}
	return nil, err
}

// ErrSourceUnreadable wraps a failure to read the stream itself.
var ErrSourceUnreadable = errors.New("cannot read the source")

// sendStream reads in part by part and uploads each on its own goroutine,
// reading the next while earlier parts are in flight.
func (st *state) sendStream(ctx context.Context, in io.Reader, buffered *streamSource) ([]plannedPart, int64, error) {
	r := st.run
	ps := r.opts.PartSize
	free := make(chan []byte, r.opts.Concurrency+1) // the buffers: nil until first used
	for range cap(free) {
		free <- nil
	}
	g, gctx := errgroup.WithContext(ctx)
	var (
		parts   []plannedPart
		total   int64
		readErr error
	)
	for n := 1; ; n++ {
		var buf []byte
		select {
		case buf = <-free:
		case <-gctx.Done():
		case <-r.opts.Stop:
		}
		if gctx.Err() != nil {
			break
		}
		if r.stopped() {
			readErr = ErrStopped
			break
		}
		if buf == nil {
			buf = make([]byte, ps)
		}
		k, err := io.ReadFull(in, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			readErr = fmt.Errorf("%w: %w", ErrSourceUnreadable, err)
			break
		}
		if k == 0 && n > 1 {
			break // the stream ended on a part boundary
		}
		if n > MaxParts {
			readErr = &StreamTooLongError{PartSize: ps}
			break
		}
		p := plannedPart{Number: n, Offset: total, Size: int64(k)}
		parts = append(parts, p)
		total += int64(k)
		buffered.put(p.Offset, buf[:k])
		g.Go(func() error {
			defer func() {
				buffered.drop(p.Offset)
				free <- buf
			}()
			part, err := st.sendPart(gctx, p)
			if err != nil {
				return err
			}
			st.record(part)
			r.opts.Progress.PartDone(p.Number, p.Size)
			r.opts.OnEvent(Event{Kind: EventPartDone, PartNumber: p.Number})
			return nil
		})
		if k < len(buf) {
			break // a short part is the last
		}
	}
	err := g.Wait()
	st.saves.Wait()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, 0, context.Cause(ctx)
	case err != nil:
		return nil, 0, err
	case readErr != nil:
		return nil, 0, readErr
	case ctx.Err() != nil:
		return nil, 0, context.Cause(ctx)
	}
	return parts, total, nil
}

// streamSource serves the parts of a stream that are in memory, for
// OpenRange by offset; it is the engine's Source.R for UploadStream.
type streamSource struct {
	mu    sync.Mutex
	parts map[int64][]byte
}

func (s *streamSource) put(off int64, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts[off] = b
}

func (s *streamSource) drop(off int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.parts, off)
}

// OpenRange implements RangeOpener over the buffered parts.
func (s *streamSource) OpenRange(_ context.Context, off, n int64) (io.ReadCloser, error) {
	s.mu.Lock()
	b, ok := s.parts[off]
	s.mu.Unlock()
	if !ok || int64(len(b)) != n {
		return nil, fmt.Errorf("ossupload: stream bytes %d..%d are no longer in memory", off, off+n)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// ReadAt makes streamSource an io.ReaderAt; the engine reads it only
// through OpenRange.
func (s *streamSource) ReadAt([]byte, int64) (int, error) {
	return 0, errors.New("ossupload: a stream is read through OpenRange only")
}
