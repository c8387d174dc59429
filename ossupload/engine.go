package ossupload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/reupload/reupload/resume"
)

// Source is what gets uploaded.
type Source struct {
	R    io.ReaderAt
	Size int64
	// Fingerprint identifies the source across runs; a checkpoint is resumed
	// only when it matches. A zero Fingerprint never matches a checkpoint.
	Fingerprint resume.Fingerprint
	// Check, when set, is called before CompleteMultipartUpload; an error
	// (typically *SourceChangedError) aborts the upload instead of completing it.
	Check func() error
	// CRC64 is the CRC-64 of the source's bytes when the caller knows it
	// (HasCRC), so that Options.SkipIdentical need not read the source.
	CRC64  uint64
	HasCRC bool
}

// Result describes a finished upload.
type Result struct {
	UploadID    string
	Target      Target
	Size        int64
	PartSize    int64
	Parts       int
	CRC64       uint64 // of the whole object, as OSS confirmed it
	ETag        string
	Resumed     bool
	Unchanged   bool  // SkipIdentical found the object already holding the source: nothing was sent
	PartsReused int   // parts an earlier run had uploaded and OSS still held
	BytesReused int64 // their bytes
	BytesSent   int64 // part body bytes sent by this run, retries included
	Refreshes   int   // credentials fetched after the first
	Retries     int
	Duration    time.Duration
}

type plannedPart struct {
	Number int
	Offset int64
	Size   int64
}

// Upload overwrites the object auth names with src, resuming from
// opts.State when it holds a matching checkpoint. The first grant comes from
// auth.Authorize.
func Upload(ctx context.Context, auth Authorizer, src Source, opts Options) (*Result, error) {
	if src.R == nil || src.Size < 0 {
		return nil, errors.New("ossupload: Source needs a reader and a size >= 0")
	}
	if err := CheckSize(src.Size); err != nil {
		return nil, err
	}
	if opts.PartSize != 0 {
		if err := CheckPartSize(src.Size, opts.PartSize); err != nil {
			return nil, err
		}
	}
	opts.fill()
	r, err := startRun(ctx, auth, src, opts)
	if err != nil {
		return nil, err
	}
	if opts.SkipIdentical {
		if res := r.identical(ctx); res != nil {
			return res, nil
		}
	}
	fresh := opts.Restart
	for restarts := 0; ; restarts++ {
		res, err := r.once(ctx, fresh)
		var re *restartError
		if errors.As(err, &re) && restarts < 2 {
			r.opts.OnEvent(Event{Kind: EventFreshStart, Message: re.reason})
			fresh = true
			continue
		}
		return res, err
	}
}

// startRun sets up a run with filled opts and fetches its first grant.
func startRun(ctx context.Context, auth Authorizer, src Source, opts Options) (*run, error) {
	r := &run{opts: opts, auth: auth, src: src, start: opts.Now()}
	if opts.LimitRate > 0 {
		r.limiter = newLimiter(opts.LimitRate)
	}
	g, err := auth.Authorize(ctx)
	if err != nil {
		return nil, err
	}
	r.setGrant(g)
	return r, nil
}

// newLimiter paces bytes at bps per second, in bursts of at most 1 MiB.
func newLimiter(bps int64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(bps), int(min(bps, 1<<20)))
}

type run struct {
	opts    Options
	auth    Authorizer
	src     Source
	start   time.Time
	limiter *rate.Limiter
	sf      singleflight.Group

	mu       sync.Mutex
	grant    Grant
	gen      uint64
	obtained time.Time

	refreshes, retries, sent atomic.Int64
	slowest                  atomic.Int64 // the longest successful UploadPart so far, in ns
}

// stopped reports whether Options.Stop was closed.
func (r *run) stopped() bool {
	select {
	case <-r.opts.Stop:
		return true
	default:
		return false
	}
}

// Current implements CredentialsSource for the SDK adapter.
func (r *run) Current() Credentials {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.grant.Credentials
}

func (r *run) setGrant(g Grant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.grant, r.obtained = g, r.opts.Now()
	r.gen++
}

func (r *run) target() (Target, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.grant.Target, r.gen
}

// due returns the current credential generation, and whether that credential
// should be replaced before the next request: it has lived past RefreshAt
// of its lifetime, or what is left of it is less than twice the slowest
// part so far (a request must reach OSS before the token expires).
func (r *run) due() (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp := r.grant.Credentials.Expires
	if exp.IsZero() {
		return r.gen, false
	}
	life := exp.Sub(r.obtained)
	margin := max(time.Duration(float64(life)*(1-r.opts.RefreshAt)), 2*time.Duration(r.slowest.Load()))
	return r.gen, !r.opts.Now().Before(exp.Add(-margin))
}

// refresh fetches a new grant unless one newer than seen arrived meanwhile.
// Concurrent callers share one Authorize call. why says what prompted it,
// for the debug log.
func (r *run) refresh(ctx context.Context, seen uint64, why string) error {
	_, err, _ := r.sf.Do("refresh", func() (any, error) {
		old, gen := r.target()
		if gen != seen {
			return nil, nil
		}
		began := r.opts.Now()
		g, err := r.auth.Authorize(ctx)
		if err != nil {
			r.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "credential refresh failed", slog.String("why", why), slog.String("error", err.Error()))
			return nil, fmt.Errorf("refresh upload credential: %w", err)
		}
		r.setGrant(g)
		r.refreshes.Add(1)
		r.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "credential refreshed", slog.String("why", why),
			slog.Time("expires", g.Credentials.Expires), slog.Duration("duration", r.opts.Now().Sub(began)))
		r.opts.OnEvent(Event{Kind: EventRefresh, Message: "new credential until " + g.Credentials.Expires.Format(time.RFC3339)})
		if g.Target.Bucket != old.Bucket || g.Target.Key != old.Key {
			return nil, &restartError{fmt.Sprintf("the upload address moved from %s/%s to %s/%s", old.Bucket, old.Key, g.Target.Bucket, g.Target.Key)}
		}
		return nil, nil
	})
	return err
}

// call runs one non-part OSS call with credential refresh and retries.
func (r *run) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	tries, fromFn, err := r.retry(ctx, op, 0, fn)
	if fromFn && classify(err) == classRetryable {
		return fmt.Errorf("%s failed after %d attempts: %w", op, tries, err)
	}
	return err
}

// retry is the one retry loop: it calls fn until it succeeds, refreshing
// the credential first when it is due or when OSS rejected it (at most
// maxCredRefreshes times in a row), and backing off after transient
// failures (at most Options.Attempts tries). It returns the tries that did
// not end in a credential refusal, and whether err is fn's own (the last
// one) rather than the context's, a refresh's or a *CredentialError.
func (r *run) retry(ctx context.Context, op string, part int, fn func(ctx context.Context) error) (tries int, fromFn bool, err error) {
	credFails := 0
	for {
		gen, due := r.due()
		if due {
			if err := r.refresh(ctx, gen, "due before "+op); err != nil {
				return tries, false, err
			}
			gen, _ = r.due()
		}
		err := fn(ctx)
		if err == nil {
			return tries, true, nil
		}
		if ctx.Err() != nil {
			return tries, false, context.Cause(ctx)
		}
		c := classify(err)
		if c != classCredential {
			tries++
		}
		switch c {
		case classCredential:
			if credFails++; credFails > maxCredRefreshes {
				return tries, false, &CredentialError{Refreshes: credFails - 1, Err: err}
			}
			if err := r.refresh(ctx, gen, op+" refused it: "+err.Error()); err != nil {
				return tries, false, err
			}
		case classRetryable:
			if tries >= r.opts.Attempts {
				return tries, true, err
			}
			if err := r.backoff(ctx, op, part, tries, err); err != nil {
				return tries, false, err
			}
		default:
			return tries, true, err
		}
	}
}

func (r *run) backoff(ctx context.Context, op string, part, attempt int, cause error) error {
	d := r.opts.Backoff.Delay(attempt, jitter())
	r.retries.Add(1)
	attrs := []slog.Attr{slog.String("op", op), slog.Int("attempt", attempt), slog.Duration("delay", d), slog.String("cause", cause.Error())}
	if part > 0 {
		attrs = append(attrs, slog.Int("part", part))
	}
	r.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "oss retry", attrs...)
	r.opts.OnEvent(Event{Kind: EventRetry, PartNumber: part, Attempt: attempt, Delay: d, Err: cause})
	return r.opts.Sleep(ctx, d)
}

func plan(size, partSize int64) []plannedPart {
	n := max(1, (size+partSize-1)/partSize)
	ps := make([]plannedPart, n)
	for i := range ps {
		off := int64(i) * partSize
		ps[i] = plannedPart{Number: i + 1, Offset: off, Size: min(partSize, size-off)}
	}
	return ps
}

// once runs one upload attempt: find or start the upload, send what OSS
// lacks, complete and verify.
func (r *run) once(ctx context.Context, fresh bool) (*Result, error) {
	t, _ := r.target()
	api, err := r.opts.NewAPI(t, r)
	if err != nil {
		return nil, err
	}
	defer closeAPI(api)
	partSize := PartSizeFor(r.src.Size, r.opts.PartSize)
	st := &state{run: r, api: api, key: t.Key}
	resumed := false
	if fresh {
		st.discard(ctx, t)
	} else {
		resumed, err = st.resume(ctx, t, partSize)
		if err != nil {
			return nil, err
		}
		if st.finished != nil {
			if err := r.opts.State.Remove(); err != nil {
				r.opts.OnEvent(Event{Kind: EventCheckpointKO, Err: err})
			}
			res := st.finished
			res.Refreshes, res.Retries, res.Duration = int(r.refreshes.Load()), int(r.retries.Load()), r.opts.Now().Sub(r.start)
			return res, nil
		}
	}
	if !resumed {
		if err := st.initiate(ctx, t, partSize); err != nil {
			return nil, err
		}
	}
	partSize = st.cp.PartSize
	parts := plan(r.src.Size, partSize)
	var reusedBytes int64
	for _, p := range st.done {
		reusedBytes += p.Size
	}
	reused := len(st.done)
	jobs := r.opts.Concurrency
	if jobs <= 0 {
		jobs = newRamp(partSize, AutoConcurrencyMax, time.Time{}).jobs
	}
	r.opts.OnEvent(Event{Kind: EventStart, Target: t, Size: r.src.Size, PartSize: partSize, Parts: len(parts), Reused: reused, Jobs: min(jobs, len(parts)-reused)})
	r.opts.Progress.Start(r.src.Size, reusedBytes)

	err = st.sendAll(ctx, parts)
	if err == nil && r.stopped() {
		// Asked to stop: even with every part sent, completing now would
		// finish after the user said stop. The next run completes at once.
		err = ErrStopped
	}
	if err == nil {
		var res *Result
		res, err = st.complete(ctx, parts)
		if err == nil {
			res.Target, res.PartSize, res.Resumed, res.PartsReused, res.BytesReused = t, partSize, resumed, reused, reusedBytes
			return res, nil
		}
	}
	st.flush()
	var sc *SourceChangedError
	var re *restartError
	switch {
	case errors.As(err, &re):
		st.abort(ctx)
	case errors.As(err, &sc), r.opts.OnError == AbortParts && ctx.Err() == nil:
		st.abort(ctx)
	}
	return nil, err
}
