package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

// Backend is all of the library that the page needs. ClientBackend adapts a
// *reupload.Client; tests may pass their own.
type Backend interface {
	SearchMedia(ctx context.Context, q refresh.SearchQuery) (*refresh.SearchResult, error)
	MediaInfo(ctx context.Context, mediaID string) (*refresh.MediaInfo, error)
	// Preview says what replacing mediaID's source with the file at path
	// would do, and what the guards would refuse.
	Preview(ctx context.Context, mediaID, path string) (*Preview, error)
	// Replace overwrites mediaID's source with the file at path, with the
	// guards on and identical content skipped. Closing o.Stop stops it
	// gracefully: the error then wraps ossupload.ErrStopped.
	Replace(ctx context.Context, mediaID, path string, o ReplaceOptions) (*reupload.Result, error)
	// WaitForICE waits until GetMediaInfo shows the new source (newSize
	// bytes, status no longer Uploading) and returns what it showed.
	WaitForICE(ctx context.Context, mediaID string, before *refresh.MediaInfo, newSize int64) (*refresh.MediaInfo, error)
	Pending() ([]*resume.Checkpoint, error)
	Abort(ctx context.Context, mediaID string) (*reupload.AbortResult, error)
}

// ReplaceOptions tunes one Replace.
type ReplaceOptions struct {
	Stop       <-chan struct{}
	OnProgress func(Progress) // at most ~10 calls a second
}

// Progress is a running upload's state, as the page shows it.
type Progress struct {
	Total     int64         `json:"total"`
	Done      int64         `json:"done"`   // bytes OSS holds: Sent + Reused
	Sent      int64         `json:"sent"`   // sent by this run
	Reused    int64         `json:"reused"` // already on OSS from an earlier run
	Rate      float64       `json:"rate"`   // bytes/s sent by this run
	ETA       time.Duration `json:"-"`
	ETASecs   float64       `json:"eta_seconds"`
	Parts     int           `json:"parts"` // 0 when not known yet
	PartsDone int           `json:"parts_done"`
	InFlight  int           `json:"in_flight"`
	Refreshes int           `json:"refreshes"`
}

// Problem is something the guards refuse (Code "Empty", "Truncated",
// "NotMedia") or only warn about.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Preview is what a replacement would do.
type Preview struct {
	MediaID     string    `json:"media_id"`
	Title       string    `json:"title"`
	Status      string    `json:"status"`
	CurrentSize int64     `json:"current_size"`
	Duration    float64   `json:"duration"`
	NewSize     int64     `json:"new_size"`
	Problems    []Problem `json:"problems"` // refused by the guards
	Warnings    []Problem `json:"warnings"`
}

// ClientBackend is the Backend over a *reupload.Client.
type ClientBackend struct {
	C *reupload.Client
	// Options are the settings of every upload (part size, parallel
	// parts, rate limit); Replace sets SkipIdentical, Stop and Progress,
	// and calls OnEvent, when set, after its own.
	Options reupload.Options
	// Now and Sleep drive progress rates and WaitForICE's polling; nil
	// means the wall clock and a timer that honours ctx.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Confirm bounds WaitForICE; 0 means 2 minutes.
	Confirm time.Duration
}

var _ Backend = (*ClientBackend)(nil)

func (b *ClientBackend) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *ClientBackend) sleep(ctx context.Context, d time.Duration) error {
	if b.Sleep != nil {
		return b.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// SearchMedia implements Backend.
func (b *ClientBackend) SearchMedia(ctx context.Context, q refresh.SearchQuery) (*refresh.SearchResult, error) {
	return b.C.SearchMedia(ctx, q)
}

// MediaInfo implements Backend.
func (b *ClientBackend) MediaInfo(ctx context.Context, mediaID string) (*refresh.MediaInfo, error) {
	return b.C.MediaInfo(ctx, mediaID)
}

// Preview implements Backend with the guards' rules: an empty file, a file
// much smaller than the current source, and a file that does not start like
// a media container are refused.
func (b *ClientBackend) Preview(ctx context.Context, mediaID, path string) (*Preview, error) {
	mi, err := b.C.MediaInfo(ctx, mediaID)
	if err != nil {
		return nil, err
	}
	p := &Preview{MediaID: mi.MediaID, Title: mi.Title, Status: mi.Status}
	if f, ok := mi.Source(); ok {
		p.CurrentSize, p.Duration = f.FileSize, f.Duration
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	p.NewSize = st.Size()
	head := make([]byte, 64)
	n, _ := io.ReadFull(f, head)
	p.Problems = guardProblems(p.CurrentSize, p.NewSize, head[:n])
	return p, nil
}

// guardProblems applies the guards to a source of size bytes starting with
// head, replacing a source of current bytes.
func guardProblems(current, size int64, head []byte) []Problem {
	var out []Problem
	switch {
	case size == 0:
		return []Problem{{"Empty", "the new file is empty"}}
	case current > 0 && size < current/10:
		out = append(out, Problem{"Truncated", fmt.Sprintf("the new file (%d bytes) is less than a tenth of the current source (%d bytes): is it cut short?", size, current)})
	}
	if !looksLikeMedia(head) {
		out = append(out, Problem{"NotMedia", "the new file does not start like a video or audio file"})
	}
	return out
}

// looksLikeMedia recognises the containers ICE ingests by their first bytes.
func looksLikeMedia(h []byte) bool {
	has := func(off int, s string) bool { return len(h) >= off+len(s) && string(h[off:off+len(s)]) == s }
	switch {
	case has(4, "ftyp"), has(4, "moov"), has(4, "mdat"), has(4, "free"), has(4, "wide"): // MP4, MOV, 3GP, M4A
		return true
	case bytes.HasPrefix(h, []byte{0x1a, 0x45, 0xdf, 0xa3}): // Matroska, WebM
		return true
	case has(0, "RIFF") && (has(8, "AVI ") || has(8, "WAVE")):
		return true
	case has(0, "FLV"), has(0, "OggS"), has(0, "fLaC"), has(0, "ID3"), has(0, "#EXTM3U"):
		return true
	case bytes.HasPrefix(h, []byte{0x30, 0x26, 0xb2, 0x75}): // ASF, WMV
		return true
	case bytes.HasPrefix(h, []byte{0, 0, 1, 0xba}), bytes.HasPrefix(h, []byte{0, 0, 1, 0xb3}): // MPEG-PS
		return true
	case len(h) > 0 && h[0] == 0x47 && (len(h) < 189 || h[188] == 0x47): // MPEG-TS sync byte
		return true
	case len(h) > 1 && h[0] == 0xff && h[1]&0xe0 == 0xe0: // MPEG audio frame
		return true
	}
	return false
}

// Replace implements Backend.
func (b *ClientBackend) Replace(ctx context.Context, mediaID, path string, o ReplaceOptions) (*reupload.Result, error) {
	pr := &progressMeter{now: b.now, on: o.OnProgress}
	opts := b.Options
	opts.SkipIdentical, opts.Stop, opts.Progress, opts.OnEvent = true, o.Stop, pr, pr.event
	if on := b.Options.OnEvent; on != nil {
		opts.OnEvent = func(e ossupload.Event) { pr.event(e); on(e) }
	}
	res, err := b.C.Overwrite(ctx, mediaID, path, opts)
	pr.flush()
	return res, err
}

// WaitForICE implements Backend by polling GetMediaInfo.
func (b *ClientBackend) WaitForICE(ctx context.Context, mediaID string, before *refresh.MediaInfo, newSize int64) (*refresh.MediaInfo, error) {
	limit := b.Confirm
	if limit == 0 {
		limit = 2 * time.Minute
	}
	deadline := b.now().Add(limit)
	for {
		mi, err := b.C.MediaInfo(ctx, mediaID)
		if err != nil {
			return nil, err
		}
		if f, ok := mi.Source(); ok && f.FileSize == newSize && mi.Status != "Uploading" {
			return mi, nil
		}
		if !b.now().Before(deadline) {
			return mi, ErrNotConfirmed
		}
		if err := b.sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
}

// ErrNotConfirmed: ICE did not show the new source in time. The upload
// itself completed.
var ErrNotConfirmed = errors.New("ICE does not show the new source yet")

// Pending implements Backend.
func (b *ClientBackend) Pending() ([]*resume.Checkpoint, error) { return b.C.Pending() }

// Abort implements Backend.
func (b *ClientBackend) Abort(ctx context.Context, mediaID string) (*reupload.AbortResult, error) {
	return b.C.Abort(ctx, mediaID)
}

// progressMeter turns the engine's Progress calls and events into Progress
// values, at most ten a second.
type progressMeter struct {
	now func() time.Time
	on  func(Progress)

	mu    sync.Mutex
	p     Progress
	start time.Time
	last  time.Time
}

var _ ossupload.Progress = (*progressMeter)(nil)

func (m *progressMeter) Start(total, confirmed int64) {
	m.mu.Lock()
	m.p.Total, m.p.Reused, m.p.Done = total, confirmed, confirmed
	m.start = m.now()
	m.mu.Unlock()
	m.emit(true)
}

func (m *progressMeter) PartDone(_ int, size int64) {
	m.mu.Lock()
	m.p.Sent += size
	m.p.Done += size
	m.p.PartsDone++
	m.mu.Unlock()
	m.emit(false)
}

func (m *progressMeter) event(e ossupload.Event) {
	m.mu.Lock()
	switch e.Kind {
	case ossupload.EventStart:
		m.p.Parts, m.p.PartsDone = e.Parts, e.Reused
	case ossupload.EventRefresh:
		m.p.Refreshes++
	default:
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.emit(true)
}

func (m *progressMeter) flush() { m.emit(true) }

func (m *progressMeter) emit(force bool) {
	if m.on == nil {
		return
	}
	m.mu.Lock()
	now := m.now()
	if !force && now.Sub(m.last) < 100*time.Millisecond {
		m.mu.Unlock()
		return
	}
	m.last = now
	p := m.p
	if el := now.Sub(m.start).Seconds(); el > 0 && p.Sent > 0 {
		p.Rate = float64(p.Sent) / el
		p.ETA = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
	}
	m.mu.Unlock()
	m.on(p)
}
