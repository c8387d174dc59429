package ossupload

// Resume and reconcile: an upload ID's state, what an earlier run left
// (checkpoint and ListParts), starting, discarding and aborting uploads.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/reupload/reupload/resume"
)

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
		r.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "checkpoint saved", slog.String("upload_id", id), slog.Int("parts", 0))
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	return nil
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
