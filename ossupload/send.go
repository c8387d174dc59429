package ossupload

// The sender: a pool of workers sends the parts OSS lacks, sized by the
// ramp in auto mode, each part through the run's retry.

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reupload/reupload/internal/crc64x"
	"github.com/reupload/reupload/resume"
)

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
// as many parts as workers have completed). It grows the workers while a
// growth raises throughput by at least rampGain: to as many parts as the
// rate measured would send within rampWindow, at least twice and at most
// rampStep times as many (fewer than twice: it holds). So a slow link keeps
// few parts in flight, progress shows soon and a kill loses little, while a
// fast one reaches AutoConcurrencyMax from two workers in two rounds. When a
// growth did not pay, it goes back to the last level that did and stays
// there.
type ramp struct {
	jobs, max int
	partSize  int64
	frozen    bool
	start     time.Time // of the current round
	bytes     int64
	parts     int
	prevRate  float64 // bytes/s of the round before the last growth
	prevJobs  int
	doubled   bool // the round that just ended ran with more workers than prevJobs
}

const (
	rampGain = 1.25 // a growth must raise throughput this much (less when it was by less than 1.5 times)
	rampStep = 4    // and multiplies the workers at most this much
)

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
	case r.doubled && rate < r.prevRate*min(rampGain, 1+float64(r.jobs-r.prevJobs)/float64(2*r.prevJobs)):
		// The last growth did not pay (a growth by g must raise throughput
		// by half of g-1, at most rampGain): back to the level that did.
		r.jobs, r.frozen = r.prevJobs, true
	case r.jobs >= r.max:
		r.frozen = true
	default:
		// As many parts as this rate sends within rampWindow (never fewer
		// than AutoStartBytes of them).
		fit := int(max(float64(AutoStartBytes), rate*rampWindow.Seconds()) / float64(r.partSize))
		next := min(fit, r.jobs*rampStep, r.max)
		if next < 2*r.jobs && next < r.max {
			// Twice the bytes in flight would take too long to send at
			// this rate: hold, and measure again.
			r.doubled = false
			break
		}
		r.prevRate, r.prevJobs, r.doubled = rate, r.jobs, true
		r.jobs = next
	}
	r.start, r.bytes, r.parts = now, 0, 0
	return r.jobs
}

func (st *state) sendPart(ctx context.Context, p plannedPart) (resume.Part, error) {
	var part resume.Part
	tries, fromFn, err := st.run.retry(ctx, "UploadPart", p.Number, func(ctx context.Context) error {
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
