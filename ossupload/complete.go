package ossupload

// Complete and verify: CompleteMultipartUpload and the read-back that
// proves the object holds this source.

import (
	"context"

	"github.com/reupload/reupload/internal/crc64x"
)

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
