package reupload

import (
	"sync"
	"time"

	"github.com/reupload/reupload/ossupload"
)

// ProgressInfo is one look at an overwrite in flight (Options.OnProgress).
// Byte counts are honest: Sent counts part bytes as they leave for OSS and
// drops those of an attempt that failed; Done counts what OSS confirmed;
// bytes an earlier run uploaded count as done (Reused) but never as speed.
type ProgressInfo struct {
	Total     int64         // bytes to upload; -1 when unknown (a stream)
	Done      int64         // bytes OSS holds: confirmed parts, reused ones included
	Sent      int64         // Done plus the bytes of parts in flight that have left
	Reused    int64         // bytes an earlier run uploaded (in Done, never in Rate)
	Rate      float64       // bytes/s sent by this run, over the last rateWindow
	ETA       time.Duration // at Rate; 0 when unknown
	Parts     int           // parts in all (0 for a stream, whose length is unknown)
	PartsDone int           // confirmed parts, reused ones included
	InFlight  int           // parts being sent
	Refreshes int           // credentials fetched after the first
	Elapsed   time.Duration // since the upload's plan was known
	Final     bool          // the last call: the upload ended (done or not)
}

// progressEvery spaces OnProgress calls.
const progressEvery = 100 * time.Millisecond

// rateWindow is what Rate averages over. Bytes count as sent when the
// transport takes them, so the first few seconds of an upload run ahead of
// the network by what the socket buffers hold; a window, rather than the
// whole run, lets the rate settle on the network's once they are full, and
// follows a link that changes speed.
const rateWindow = 5 * time.Second

// sample is the bytes this run had sent at a time.
type sample struct {
	at   time.Time
	sent int64
}

// tracker turns the engine's Progress, SentProgress and events into
// ProgressInfo snapshots, at most one per progressEvery.
type tracker struct {
	next     ossupload.Progress // the caller's Progress, also told; may be nil
	on       func(ProgressInfo)
	now      func() time.Time
	partSize int64

	mu       sync.Mutex
	info     ProgressInfo
	start    time.Time
	last     time.Time
	inFlight map[int]int64 // bytes sent of each part in flight
	samples  []sample      // one per emitted snapshot, the last rateWindow of them
}

func newTracker(next ossupload.Progress, on func(ProgressInfo), now func() time.Time, partSize int64) *tracker {
	if now == nil {
		now = time.Now
	}
	return &tracker{next: next, on: on, now: now, partSize: partSize, inFlight: map[int]int64{}}
}

func (t *tracker) Start(total, confirmed int64) {
	t.mu.Lock()
	t.start = t.now()
	t.info = ProgressInfo{Total: total, Done: confirmed, Sent: confirmed, Reused: confirmed}
	if total >= 0 && t.partSize > 0 {
		t.info.Parts = int(max(1, (total+t.partSize-1)/t.partSize))
		// Every part but the last is partSize long, so the ceiling counts a
		// reused short last part too.
		t.info.PartsDone = int((confirmed + t.partSize - 1) / t.partSize)
	}
	t.emit(true)
	t.mu.Unlock()
	if t.next != nil {
		t.next.Start(total, confirmed)
	}
}

func (t *tracker) PartSent(n int, b int64) {
	t.mu.Lock()
	t.inFlight[n] += b
	t.info.Sent += b
	t.emit(false)
	t.mu.Unlock()
	if sp, ok := t.next.(ossupload.SentProgress); ok {
		sp.PartSent(n, b)
	}
}

func (t *tracker) PartDone(n int, size int64) {
	t.mu.Lock()
	t.info.Sent += size - t.inFlight[n] // a part the transport read without telling (none today)
	delete(t.inFlight, n)
	t.info.Done += size
	t.info.PartsDone++
	t.emit(false)
	t.mu.Unlock()
	if t.next != nil {
		t.next.PartDone(n, size)
	}
}

// event counts credential refreshes.
func (t *tracker) event(e ossupload.Event) {
	if e.Kind != ossupload.EventRefresh {
		return
	}
	t.mu.Lock()
	t.info.Refreshes++
	t.emit(true)
	t.mu.Unlock()
}

// finish sends the last snapshot.
func (t *tracker) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.info.Final = true
	t.emit(true)
}

// emit calls on with a snapshot when forced or when progressEvery has
// passed since the last one; t.mu is held.
func (t *tracker) emit(force bool) {
	now := t.now()
	if !force && now.Sub(t.last) < progressEvery {
		return
	}
	t.last = now
	in := t.info
	in.InFlight = len(t.inFlight)
	if !t.start.IsZero() {
		in.Elapsed = now.Sub(t.start)
	}
	sent := in.Sent - in.Reused
	t.samples = append(t.samples, sample{now, sent})
	for len(t.samples) > 2 && now.Sub(t.samples[1].at) >= rateWindow {
		t.samples = t.samples[1:] // keep one sample at least rateWindow old
	}
	first := sample{t.start, 0}
	if now.Sub(t.start) > rateWindow && len(t.samples) > 0 {
		first = t.samples[0]
	}
	if sec := now.Sub(first.at).Seconds(); sec > 0 && !t.start.IsZero() {
		in.Rate = float64(sent-first.sent) / sec
	}
	if in.Rate > 0 && in.Total > in.Sent {
		in.ETA = time.Duration(float64(in.Total-in.Sent) / in.Rate * float64(time.Second)).Round(time.Second)
	}
	t.on(in)
}
