package ui

import (
	"context"
	"time"

	"github.com/reupload/reupload"
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
	// Scrub makes an error message fit for the page: one line, without
	// any secret the client holds or received (by value).
	Scrub(s string) string
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
	Format      string    `json:"format,omitempty"` // what the new file's first bytes look like
	Problems    []Problem `json:"problems"`         // refused by the guards
	Warnings    []Problem `json:"warnings"`
}

// ClientBackend is the Backend over a *reupload.Client.
type ClientBackend struct {
	C *reupload.Client
	// Options are the settings of every upload (part size, parallel
	// parts, rate limit, OnEvent); Replace sets Guards, SkipIdentical,
	// Stop and OnProgress.
	Options reupload.Options
	// Confirm bounds WaitForICE; 0 means reupload.DefaultWaitTimeout.
	// Its polling waits with the client's Config.Sleep.
	Confirm time.Duration
}

var _ Backend = (*ClientBackend)(nil)

// SearchMedia implements Backend.
func (b *ClientBackend) SearchMedia(ctx context.Context, q refresh.SearchQuery) (*refresh.SearchResult, error) {
	return b.C.SearchMedia(ctx, q)
}

// MediaInfo implements Backend.
func (b *ClientBackend) MediaInfo(ctx context.Context, mediaID string) (*refresh.MediaInfo, error) {
	return b.C.MediaInfo(ctx, mediaID)
}

// Preview implements Backend with Client.Preview: the same preview and
// guards as `reupload put`.
func (b *ClientBackend) Preview(ctx context.Context, mediaID, path string) (*Preview, error) {
	rp, err := b.C.Preview(ctx, mediaID, path)
	if err != nil {
		return nil, err
	}
	p := &Preview{MediaID: mediaID, NewSize: rp.Size, Format: rp.Format,
		CurrentSize: rp.Current.FileSize, Duration: rp.Current.Duration, Problems: []Problem{}, Warnings: []Problem{}}
	if rp.Media != nil {
		p.Title, p.Status = rp.Media.Title, rp.Media.Status
	}
	for _, pr := range rp.Problems {
		p.Problems = append(p.Problems, Problem{Code: pr.Code, Message: pr.Message})
	}
	for _, w := range rp.Warnings {
		p.Warnings = append(p.Warnings, Problem{Code: "Warning", Message: w})
	}
	return p, nil
}

// Replace implements Backend with Client.Overwrite, guards on and
// identical content skipped.
func (b *ClientBackend) Replace(ctx context.Context, mediaID, path string, o ReplaceOptions) (*reupload.Result, error) {
	opts := b.Options
	opts.Guards, opts.SkipIdentical, opts.Stop = true, true, o.Stop
	if o.OnProgress != nil {
		opts.OnProgress = func(pi reupload.ProgressInfo) {
			o.OnProgress(Progress{Total: pi.Total, Done: pi.Done, Sent: pi.Sent, Reused: pi.Reused, Rate: pi.Rate,
				ETA: pi.ETA, Parts: pi.Parts, PartsDone: pi.PartsDone, InFlight: pi.InFlight, Refreshes: pi.Refreshes})
		}
	}
	return b.C.Overwrite(ctx, mediaID, path, opts)
}

// WaitForICE implements Backend with Client.WaitForICE (`put --wait`).
func (b *ClientBackend) WaitForICE(ctx context.Context, mediaID string, before *refresh.MediaInfo, newSize int64) (*refresh.MediaInfo, error) {
	return b.C.WaitForICE(ctx, mediaID, before, newSize, b.Confirm)
}

// Scrub implements Backend with Client.Scrub.
func (b *ClientBackend) Scrub(s string) string { return b.C.Scrub(s) }

// Pending implements Backend.
func (b *ClientBackend) Pending() ([]*resume.Checkpoint, error) { return b.C.Pending() }

// Abort implements Backend.
func (b *ClientBackend) Abort(ctx context.Context, mediaID string) (*reupload.AbortResult, error) {
	return b.C.Abort(ctx, mediaID)
}
