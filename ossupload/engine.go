package ossupload

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/reupload/reupload/internal/crc64x"
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
// Concurrent callers share one Authorize call.
func (r *run) refresh(ctx context.Context, seen uint64) error {
	_, err, _ := r.sf.Do("refresh", func() (any, error) {
		old, gen := r.target()
		if gen != seen {
			return nil, nil
		}
		g, err := r.auth.Authorize(ctx)
		if err != nil {
			return nil, fmt.Errorf("refresh upload credential: %w", err)
		}
		r.setGrant(g)
		r.refreshes.Add(1)
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
	tries, fromFn, err := r.retry(ctx, 0, fn)
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
func (r *run) retry(ctx context.Context, part int, fn func(ctx context.Context) error) (tries int, fromFn bool, err error) {
	credFails := 0
	for {
		gen, due := r.due()
		if due {
			if err := r.refresh(ctx, gen); err != nil {
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
			if err := r.refresh(ctx, gen); err != nil {
				return tries, false, err
			}
		case classRetryable:
			if tries >= r.opts.Attempts {
				return tries, true, err
			}
			if err := r.backoff(ctx, part, tries, err); err != nil {
				return tries, false, err
			}
		default:
			return tries, true, err
		}
	}
}

func (r *run) backoff(ctx context.Context, part, attempt int, cause error) error {
	d := r.opts.Backoff.Delay(attempt, jitter())
	r.retries.Add(1)
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

// state is one upload ID and what OSS holds of it.
type state struct {
	run *run
	api PartAPI
	key string

	mu        sync.Mutex
	cp        *resume.Checkpoint
	done      map[int]resume.Part
	finished  *Result // set by resume when an earlier run already completed the upload
	completed bool    // CompleteMultipartUpload succeeded: the upload ID is gone, no checkpoint may be written
	saving    bool
	dirty     bool
	lastSave  time.Time      // of the last checkpoint write
	saves     sync.WaitGroup // the saver goroutine, while one runs
}

func (st *state) uploadID() string { return st.cp.UploadID }

// resume finds the checkpointed upload and reconciles it with ListParts.
func (st *state) resume(ctx context.Context, t Target, partSize int64) (bool, error) {
	r := st.run
	if r.opts.State == nil {
		return false, nil
	}
	cp, err := r.opts.State.Load()
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.opts.OnEvent(Event{Kind: EventFreshStart, Err: err, Message: "checkpoint unusable, starting a fresh upload"})
		}
		return false, nil
	}
	why := ""
	switch {
	case cp.Bucket != t.Bucket || cp.Key != t.Key:
		why = "the checkpoint is for another object"
	case r.src.Fingerprint == (resume.Fingerprint{}) || !cp.Source.Equal(r.src.Fingerprint):
		why = "the source file changed since the last run"
	case r.opts.PartSize != 0 && r.opts.PartSize != cp.PartSize:
		why = fmt.Sprintf("the part size changed from %d to %d", cp.PartSize, r.opts.PartSize)
	case cp.PartSize < MinPartSize && cp.PartSize < r.src.Size || CheckPartSize(r.src.Size, cp.PartSize) != nil && r.src.Size > cp.PartSize:
		why = "the checkpoint's part size is invalid"
	}
	if why != "" {
		r.opts.OnEvent(Event{Kind: EventFreshStart, Message: why + ": aborting upload " + cp.UploadID + " and starting a fresh one"})
		if cp.Bucket == t.Bucket && cp.Key == t.Key {
			st.cp = cp
			st.abort(ctx)
			st.cp = nil
		}
		return false, nil
	}
	var listed []ListedPart
	err = r.call(ctx, "ListParts", func(ctx context.Context) error {
		var err error
		listed, err = st.api.ListParts(ctx, t.Key, cp.UploadID)
		return err
	})
	if classify(err) == classRestart {
		// Gone: aborted, or completed by a run killed before it could
		// remove its checkpoint. In the second case the object already
		// holds exactly these bytes, and nothing needs sending again.
		if info, ok := st.alreadyThere(ctx, t); ok {
			st.finished = &Result{UploadID: cp.UploadID, Size: r.src.Size, Parts: len(plan(r.src.Size, cp.PartSize)), CRC64: info.CRC64, ETag: info.ETag,
				Target: t, PartSize: cp.PartSize, Resumed: true}
			r.opts.OnEvent(Event{Kind: EventResume, Message: "upload " + cp.UploadID + " was completed by an earlier run: the object already holds this source"})
			return true, nil
		}
		r.opts.OnEvent(Event{Kind: EventFreshStart, Message: "upload " + cp.UploadID + " no longer exists on OSS; starting a fresh one"})
		return false, nil
	}
	if err != nil {
		return false, err
	}
	st.cp = cp
	var reread int64
	st.done, reread = st.reconcile(ctx, cp, listed)
	if ctx.Err() != nil {
		return false, context.Cause(ctx)
	}
	st.cp.Parts = st.sortedParts()
	st.cp.Source = r.src.Fingerprint // the identity the adopted parts were proven against
	msg := fmt.Sprintf("resuming upload %s: OSS holds %d of its parts", cp.UploadID, len(st.done))
	if reread > 0 {
		msg += fmt.Sprintf(" (%d bytes read again to prove them)", reread)
	}
	r.opts.OnEvent(Event{Kind: EventResume, Message: msg})
	return true, nil
}

// reconcile keeps the listed parts whose bytes are provably this source's,
// so that the whole-object CRC combined from them before Complete describes
// bytes the source holds:
//   - when the source is the very file the checkpoint was written for
//     (Fingerprint.SameIdentity: same inode, untouched since), a part the
//     checkpoint recorded with the same ETag and size is trusted unread,
//     provided OSS lists no CRC-64 for it that differs from the recorded one;
//   - any other listed part (the file was replaced or rewritten, or the part
//     is unknown to the checkpoint) is read again and adopted only when its
//     CRC-64 equals the one OSS lists, or, when OSS lists none, its MD5
//     equals the ETag. The CRC runs at ~20 GB/s, so the read is bound by the
//     disk; the MD5 fallback at ~0.7 GB/s.
//
// It returns the parts adopted and the bytes it read to prove them.
func (st *state) reconcile(ctx context.Context, cp *resume.Checkpoint, listed []ListedPart) (map[int]resume.Part, int64) {
	parts := plan(st.run.src.Size, cp.PartSize)
	trusted := cp.Source.SameIdentity(st.run.src.Fingerprint)
	known := make(map[int]resume.Part, len(cp.Parts))
	for _, p := range cp.Parts {
		known[p.Number] = p
	}
	done := make(map[int]resume.Part)
	var reread int64
	for _, lp := range listed {
		if lp.PartNumber < 1 || lp.PartNumber > len(parts) || lp.Size != parts[lp.PartNumber-1].Size {
			continue
		}
		if k, ok := known[lp.PartNumber]; trusted && ok && sameETag(k.ETag, lp.ETag) && k.Size == lp.Size && (!lp.HasCRC || lp.CRC64 == k.CRC64) {
			done[lp.PartNumber] = k
			continue
		}
		if ctx.Err() != nil {
			break
		}
		pp := parts[lp.PartNumber-1]
		reread += pp.Size
		if lp.HasCRC {
			crc, err := st.run.crcSection(ctx, pp.Offset, pp.Size, nil)
			if err == nil && crc == lp.CRC64 {
				done[lp.PartNumber] = resume.Part{Number: lp.PartNumber, Size: lp.Size, ETag: lp.ETag, CRC64: crc}
			}
			continue
		}
		sum, crc, err := st.run.hashSection(ctx, pp.Offset, pp.Size)
		if err == nil && sameETag(lp.ETag, hex.EncodeToString(sum)) {
			done[lp.PartNumber] = resume.Part{Number: lp.PartNumber, Size: lp.Size, ETag: lp.ETag, CRC64: crc}
		}
	}
	return done, reread
}

// identical returns the result of an upload that need not happen, because
// the object already holds the source (Options.SkipIdentical): same size,
// and a CRC-64 equal to the source's, read only when the sizes match
// (unless Source.HasCRC). A HeadObject that fails, refused by the upload
// credential's policy say, means "upload": it returns nil. A checkpoint of
// an unfinished upload to the object is discarded, its upload aborted.
func (r *run) identical(ctx context.Context) *Result {
	t, _ := r.target()
	api, err := r.opts.NewAPI(t, r)
	if err != nil {
		return nil
	}
	defer closeAPI(api)
	st := &state{run: r, api: api, key: t.Key}
	var info ObjectInfo
	err = r.call(ctx, "HeadObject", func(ctx context.Context) error {
		var err error
		info, err = api.HeadObject(ctx, t.Key)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			r.opts.OnEvent(Event{Kind: EventSkipCheckKO, Err: err, Message: "could not compare with the object on OSS; uploading"})
		}
		return nil
	}
	if !info.HasCRC || info.Size != r.src.Size {
		return nil
	}
	crc := r.src.CRC64
	if !r.src.HasCRC {
		if crc, err = r.crcSection(ctx, 0, r.src.Size, nil); err != nil {
			return nil
		}
	}
	if crc != info.CRC64 {
		return nil
	}
	st.discard(ctx, t)
	return &Result{Target: t, Size: r.src.Size, CRC64: crc, ETag: info.ETag, Unchanged: true,
		Refreshes: int(r.refreshes.Load()), Duration: r.opts.Now().Sub(r.start)}
}

// discard aborts the upload a checkpoint names before a fresh start that
// was asked for (Options.Restart), so that starting over leaves no parts
// behind on OSS.
func (st *state) discard(ctx context.Context, t Target) {
	if st.run.opts.State == nil {
		return
	}
	cp, err := st.run.opts.State.Load()
	if err != nil || cp.Bucket != t.Bucket || cp.Key != t.Key {
		return
	}
	st.run.opts.OnEvent(Event{Kind: EventFreshStart, Message: "starting afresh as asked: aborting upload " + cp.UploadID})
	st.cp = cp
	st.abort(ctx)
	st.cp = nil
}

// alreadyThere reports whether the object already is the source: same
// size and the CRC-64 of the local bytes (one read of the source, far
// cheaper than sending it again).
func (st *state) alreadyThere(ctx context.Context, t Target) (ObjectInfo, bool) {
	r := st.run
	var info ObjectInfo
	err := r.call(ctx, "HeadObject", func(ctx context.Context) error {
		var err error
		info, err = st.api.HeadObject(ctx, t.Key)
		return err
	})
	if err != nil || !info.HasCRC || info.Size != r.src.Size {
		return ObjectInfo{}, false
	}
	crc, err := r.crcSection(ctx, 0, r.src.Size, nil)
	return info, err == nil && crc == info.CRC64
}

func sameETag(a, b string) bool {
	return strings.EqualFold(strings.Trim(a, `"`), strings.Trim(b, `"`))
}

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

// initiateTimeout bounds InitiateMultipartUpload, which runs on a context
// that cancellation does not reach (see initiate).
const initiateTimeout = 30 * time.Second

// initiate starts an upload and writes its first checkpoint. The call is
// not cut short by ctx: an upload that OSS created but whose ID never
// reached the checkpoint could be neither resumed nor found by status or
// abort (the upload credential cannot list uploads). ctx is honoured once
// the checkpoint holds the ID.
func (st *state) initiate(ctx context.Context, t Target, partSize int64) error {
	r := st.run
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	var id string
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), initiateTimeout)
	defer cancel()
	err := r.call(ictx, "InitiateMultipartUpload", func(ctx context.Context) error {
		var err error
		id, err = st.api.InitiateMultipartUpload(ctx, t.Key)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	now := r.opts.Now()
	st.cp = &resume.Checkpoint{
		Version: resume.Version, MediaID: r.opts.MediaID,
		Endpoint: t.Endpoint, Bucket: t.Bucket, Key: t.Key, UploadID: id,
		PartSize: partSize, Source: r.src.Fingerprint, Created: now, Updated: now,
	}
	st.done = map[int]resume.Part{}
	if r.opts.State != nil {
		// A checkpoint we cannot write is a run we cannot resume: say so now,
		// before any byte is sent, and leave nothing behind on OSS.
		if err := r.opts.State.Save(st.cp); err != nil {
			st.abort(ctx)
			return fmt.Errorf("cannot write the checkpoint: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	return nil
}

func (st *state) sortedParts() []resume.Part {
	ps := make([]resume.Part, 0, len(st.done))
	for _, p := range st.done {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b resume.Part) int { return a.Number - b.Number })
	return ps
}

// checkpointEvery spaces checkpoint writes. The checkpoint is a hint (on
// resume ListParts is the truth, and a listed part the checkpoint missed is
// adopted when its ETag is the MD5 of the local bytes), so writing it after
// every part would only cost: one fsync per part on a worker's path, and a
// JSON file that grows with the parts, written once per part (quadratic).
const checkpointEvery = time.Second

// record notes a confirmed part and, at most every checkpointEvery, saves
// the checkpoint on a goroutine of its own so that no worker waits for the
// disk. Saves never overlap: while one runs, others only mark the state
// dirty, and the saver loops until it is clean.
func (st *state) record(p resume.Part) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.done[p.Number] = p
	st.dirty = true
	if st.saving || st.run.opts.State == nil || st.run.opts.Now().Sub(st.lastSave) < checkpointEvery {
		return
	}
	st.saving = true
	st.saves.Add(1)
	go func() {
		defer st.saves.Done()
		st.saveLoop()
	}()
}

func (st *state) saveLoop() {
	for {
		st.mu.Lock()
		if !st.dirty {
			st.saving = false
			st.mu.Unlock()
			return
		}
		st.dirty = false
		cp := *st.cp
		cp.Parts = st.sortedParts()
		cp.Updated = st.run.opts.Now()
		st.lastSave = cp.Updated
		st.mu.Unlock()
		if err := st.run.opts.State.Save(&cp); err != nil {
			st.run.opts.OnEvent(Event{Kind: EventCheckpointKO, Err: err})
		}
	}
}

// flush waits for a save in progress, then writes what it has not.
func (st *state) flush() {
	st.saves.Wait()
	if st.cp == nil || st.run.opts.State == nil || st.completed {
		return
	}
	st.mu.Lock()
	if !st.dirty {
		st.mu.Unlock()
		return
	}
	st.saving = true
	st.mu.Unlock()
	st.saveLoop()
}

// abort aborts the upload and removes its checkpoint; it reports whether
// OSS no longer holds the upload.
func (st *state) abort(ctx context.Context) bool {
	r := st.run
	// ctx may be cancelled (Ctrl-C); the abort must still reach OSS, unless
	// the caller has a graceful Stop, for which a cancelled ctx means "stop
	// now", cleanup included.
	base := context.WithoutCancel(ctx)
	if r.opts.Stop != nil {
		base = ctx
	}
	actx, cancel := context.WithTimeout(base, 2*time.Minute)
	defer cancel()
	err := r.call(actx, "AbortMultipartUpload", func(ctx context.Context) error {
		return st.api.AbortMultipartUpload(ctx, st.key, st.cp.UploadID)
	})
	aborted := err == nil || classify(err) == classRestart
	if !aborted {
		r.opts.OnEvent(Event{Kind: EventAbortFailed, Err: err, Message: "could not abort upload " + st.cp.UploadID + "; its parts stay on OSS until aborted"})
	}
	// An upload that could not be aborted keeps its checkpoint, so that
	// status and abort can still find it, and the next run aborts it.
	if aborted && r.opts.State != nil {
		if err := r.opts.State.Remove(); err != nil {
			r.opts.OnEvent(Event{Kind: EventCheckpointKO, Err: err})
		}
	}
	return aborted
}

// sendAll uploads every planned part OSS does not hold yet, from a pool of
// workers. With a fixed Concurrency the pool has that many workers; in auto
// mode (Concurrency 0) a ramp sizes it from the throughput it measures.
func (st *state) sendAll(ctx context.Context, parts []plannedPart) error {
	var pending []plannedPart
	for _, p := range parts {
		if _, ok := st.done[p.Number]; !ok {
			pending = append(pending, p)
		}
	}
	r := st.run
	var ramp *ramp
	jobs := r.opts.Concurrency
	if jobs <= 0 {
		ps := int64(MinPartSize)
		if len(parts) > 0 {
			ps = max(ps, parts[0].Size)
		}
		ramp = newRamp(ps, AutoConcurrencyMax, r.opts.Now())
		jobs = ramp.jobs
	}
	g, gctx := errgroup.WithContext(ctx)
	var (
		next    atomic.Int64 // index into pending of the next part to send
		target  atomic.Int64 // workers wanted; a worker whose id is >= target retires
		mu      sync.Mutex   // guards spawned and the ramp
		spawned int
	)
	target.Store(int64(jobs))
	var worker func(id int) error
	spawn := func(n int) { // with mu held
		for ; spawned < n; spawned++ {
			id := spawned
			g.Go(func() error { return worker(id) })
		}
	}
	worker = func(id int) error {
		for int64(id) < target.Load() {
			if r.stopped() {
				return nil // parts in flight finish; none starts
			}
			i := next.Add(1) - 1
			if i >= int64(len(pending)) || gctx.Err() != nil {
				return nil
			}
			p := pending[i]
			part, err := st.sendPart(gctx, p)
			if err != nil {
				return err
			}
			st.record(part)
			r.opts.Progress.PartDone(p.Number, p.Size)
			r.opts.OnEvent(Event{Kind: EventPartDone, PartNumber: p.Number})
			if ramp != nil {
				mu.Lock()
				if n := ramp.partDone(r.opts.Now(), p.Size); n != int(target.Load()) {
					target.Store(int64(n))
					spawn(n)
				}
				mu.Unlock()
			}
		}
		return nil
	}
	mu.Lock()
	spawn(jobs)
	mu.Unlock()
	err := g.Wait()
	st.saves.Wait() // no checkpoint write may land after Complete removed it
	if err == nil && next.Load() < int64(len(pending)) && ctx.Err() == nil && !r.stopped() {
		err = errors.New("ossupload: internal error: workers retired with parts left") // never expected
	}
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// Auto concurrency (Options.Concurrency 0).
const (
	// AutoStartBytes is what an auto upload first puts in flight: as many
	// parts as fit (at least one). On a slow link that is what a kill can
	// lose, and what must arrive before the first part is confirmed.
	AutoStartBytes = 16 << 20
	// AutoConcurrencyMax bounds the workers of an auto upload.
	AutoConcurrencyMax = 32
	// rampWindow: the ramp grows the bytes in flight only while the
	// measured throughput would send them within this long.
	rampWindow = 4 * time.Second
)

// ramp sizes the worker pool in auto mode. Parts stream from the source, so
// a worker costs a connection, not a part-sized buffer, and more of them pay
// off when each connection is slow (long round trips, per-connection caps),
// which is the common case over the internet. It starts with AutoStartBytes
// in flight and measures throughput one round at a time (a round ends when
// as many parts as workers have completed). It doubles the workers while a
// doubling raises throughput by at least rampGain, and while twice the bytes
// in flight would still be sent within rampWindow at the rate measured: a
// slow link keeps few parts in flight, so progress shows soon and a kill
// loses little. When a doubling did not pay, it goes back to the last level
// that did and stays there.
type ramp struct {
	jobs, max int
	partSize  int64
	frozen    bool
	start     time.Time // of the current round
	bytes     int64
	parts     int
	prevRate  float64 // bytes/s of the round before the last doubling
	prevJobs  int
	doubled   bool // the round that just ended ran with twice prevJobs
}

const rampGain = 1.25

func newRamp(partSize int64, most int, now time.Time) *ramp {
	start := int(min(int64(most), max(1, AutoStartBytes/partSize)))
	return &ramp{jobs: start, max: most, partSize: partSize, start: now}
}

// partDone records a confirmed part and returns the workers wanted now.
func (r *ramp) partDone(now time.Time, size int64) int {
	if r.frozen {
		return r.jobs
	}
	r.bytes += size
	r.parts++
	dt := now.Sub(r.start).Seconds()
	if r.parts < r.jobs || dt <= 0 {
		return r.jobs
	}
	rate := float64(r.bytes) / dt
	switch {
	case r.doubled && rate < r.prevRate*rampGain:
		// The last doubling did not pay: back to the level that did.
		r.jobs, r.frozen = r.prevJobs, true
	case r.jobs >= r.max:
		r.frozen = true
	case float64(2*r.jobs)*float64(r.partSize) <= max(float64(AutoStartBytes), rate*rampWindow.Seconds()):
		r.prevRate, r.prevJobs, r.doubled = rate, r.jobs, true
		r.jobs = min(r.jobs*2, r.max)
	default:
		// Twice the bytes in flight would take too long to send at this
		// rate: hold, and measure again.
		r.doubled = false
	}
	r.start, r.bytes, r.parts = now, 0, 0
	return r.jobs
}

func (st *state) sendPart(ctx context.Context, p plannedPart) (resume.Part, error) {
	var part resume.Part
	tries, fromFn, err := st.run.retry(ctx, p.Number, func(ctx context.Context) error {
		var err error
		part, err = st.putPart(ctx, p)
		return err
	})
	var sc *SourceChangedError
	switch {
	case err == nil:
		return part, nil
	case !fromFn, errors.As(err, &sc):
		return resume.Part{}, err
	case classify(err) == classRestart:
		return resume.Part{}, &restartError{"upload " + st.uploadID() + " no longer exists on OSS"}
	}
	return resume.Part{}, &PartError{UploadID: st.uploadID(), PartNumber: p.Number, Attempts: tries, Err: err}
}

// putPart sends one part once, hashing the bytes as they stream.
func (st *state) putPart(ctx context.Context, p plannedPart) (resume.Part, error) {
	r := st.run
	in := PartInput{Key: st.key, UploadID: st.uploadID(), PartNumber: p.Number, Size: p.Size}
	if r.opts.MD5 {
		// Content-MD5 goes in the headers, before the body: one extra read
		// of the part, for the MD5 alone (the CRC is taken as it streams).
		h := md5.New()
		if err := r.copySection(ctx, h, p.Offset, p.Size); err != nil {
			return resume.Part{}, fmt.Errorf("read part %d: %w", p.Number, err)
		}
		in.ContentMD5 = base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	src, err := r.openSection(ctx, p.Offset, p.Size)
	if err != nil {
		return resume.Part{}, fmt.Errorf("read part %d: %w", p.Number, err)
	}
	defer src.Close()
	body := &partReader{ctx: ctx, r: src, left: p.Size, crc: crc64x.New(), limiter: r.limiter, part: p.Number}
	if sp, ok := r.opts.Progress.(SentProgress); ok {
		body.sent = sp
	}
	in.Body = body
	began := r.opts.Now()
	out, err := st.api.UploadPart(ctx, in)
	if took := int64(r.opts.Now().Sub(began)); err == nil {
		for old := r.slowest.Load(); took > old && !r.slowest.CompareAndSwap(old, took); old = r.slowest.Load() {
		}
	}
	// The transport may still be reading the body (OSS can answer before
	// it has read it all); close it so its state stops moving.
	left, sum, berr := body.close()
	r.sent.Add(p.Size - left)
	err = cmp.Or(berr, err)
	switch {
	case err != nil:
	case left != 0:
		err = fmt.Errorf("part %d: OSS answered before the body was sent (%d bytes left)", p.Number, left)
	case out.HasCRC && out.CRC64 != sum:
		err = &ChecksumError{PartNumber: p.Number, Want: sum, Got: out.CRC64}
	}
	if err != nil {
		if body.sent != nil && p.Size > left {
			body.sent.PartSent(p.Number, left-p.Size) // sent again, or never counted as done
		}
		return resume.Part{}, err
	}
	return resume.Part{Number: p.Number, Size: p.Size, ETag: out.ETag, CRC64: sum}, nil
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

// complete checks the source, completes the upload and verifies the object.
func (st *state) complete(ctx context.Context, parts []plannedPart) (*Result, error) {
	r := st.run
	if r.src.Check != nil {
		if err := r.src.Check(); err != nil {
			return nil, err
		}
	}
	cps := make([]CompletedPart, len(parts))
	var whole uint64
	for i, p := range parts {
		d := st.done[p.Number]
		cps[i] = CompletedPart{PartNumber: p.Number, ETag: d.ETag}
		whole = crc64x.Combine(whole, d.CRC64, p.Size)
	}
	var info ObjectInfo
	tries := 0
	err := r.call(ctx, "CompleteMultipartUpload", func(ctx context.Context) error {
		tries++
		var err error
		info, err = st.api.CompleteMultipartUpload(ctx, st.key, st.uploadID(), cps)
		if err != nil && tries > 1 && classify(err) == classRestart {
			// An earlier try may have completed before its answer was lost:
			// the object then already holds exactly our bytes.
			h, herr := st.api.HeadObject(ctx, st.key)
			if herr == nil && h.HasCRC && h.CRC64 == whole && h.Size == r.src.Size {
				info = h
				return nil
			}
		}
		return err
	})
	if err != nil {
		if classify(err) == classRestart {
			return nil, &restartError{"upload " + st.uploadID() + " no longer exists on OSS"}
		}
		return nil, err
	}
	// From here on the object is replaced: a failure is a *MismatchError,
	// never one that says the old source is intact.
	st.completed = true
	whole, err = st.verify(ctx, info, whole)
	if r.opts.State != nil {
		// The upload ID is gone with Complete: nothing is left to resume.
		if rerr := r.opts.State.Remove(); rerr != nil {
			r.opts.OnEvent(Event{Kind: EventCheckpointKO, Err: rerr})
		}
	}
	if err != nil {
		return nil, err
	}
	return &Result{
		UploadID: st.uploadID(), Size: r.src.Size, Parts: len(parts), CRC64: whole, ETag: info.ETag,
		BytesSent: r.sent.Load(), Refreshes: int(r.refreshes.Load()), Retries: int(r.retries.Load()),
		Duration: r.opts.Now().Sub(r.start),
	}, nil
}

// verify checks, after CompleteMultipartUpload, that the object holds this
// source: the CRC-64 OSS computed while completing (when its answer had
// one) must be ours, and so must the object's size and CRC-64 read back
// with HeadObject, which also catches another upload completed over this
// one between the two calls (another machine, another state dir). The
// read-back cannot close that window, only narrow it to one round trip.
func (st *state) verify(ctx context.Context, completed ObjectInfo, whole uint64) (uint64, error) {
	r := st.run
	// whole was combined from part CRCs, some of them adopted from an
	// earlier run; where OSS disagrees, the source itself is the judge, when
	// it can be read again (a stream cannot).
	reread := false
	agrees := func(got uint64) bool {
		if got == whole {
			return true
		}
		if !reread {
			reread = true
			if crc, err := r.crcSection(ctx, 0, r.src.Size, nil); err == nil && crc == got {
				whole = crc
				return true
			}
		}
		return false
	}
	if completed.HasCRC && !agrees(completed.CRC64) {
		// Complete's answer may have been damaged on its way: what counts
		// is what the object holds, so the read-back below judges alone.
		completed.HasCRC = false
	}
	var info ObjectInfo
	err := r.call(ctx, "HeadObject", func(ctx context.Context) error {
		var err error
		info, err = st.api.HeadObject(ctx, st.key)
		return err
	})
	switch {
	case err != nil && completed.HasCRC:
		// Complete's own CRC proved the bytes; only the read-back failed.
		r.opts.OnEvent(Event{Kind: EventVerifyKO, Err: err, Message: "could not read the object back after completing it; its CRC-64 at Complete matched"})
		return whole, nil
	case err != nil:
		return 0, &MismatchError{Reason: "the object was replaced but could not be read back to verify it", Want: whole, Err: err}
	case !info.HasCRC && completed.HasCRC:
		return whole, nil
	case !info.HasCRC:
		return 0, &MismatchError{Reason: "the object was replaced but OSS reports no CRC-64 for it, so its bytes cannot be checked", Want: whole}
	case info.Size >= 0 && info.Size != r.src.Size || !agrees(info.CRC64):
		reason := "the object does not match this source"
		if completed.HasCRC {
			reason = "another upload replaced the object after this one"
		}
		return 0, &MismatchError{Reason: reason, Want: whole, Got: info.CRC64, Size: info.Size}
	}
	return whole, nil
}
