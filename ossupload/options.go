package ossupload

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/reupload/reupload/internal/retry"
	"github.com/reupload/reupload/resume"
)

// OSS multipart limits (docs/oss.md, Limits).
const (
	MinPartSize = 100 << 10 // every part but the last must be at least this
	MaxPartSize = 5 << 30
	MaxParts    = 10000
	// MaxObjectSize is the largest object a multipart upload can make:
	// MaxParts parts of MaxPartSize (48.8 TiB).
	MaxObjectSize = MaxParts * MaxPartSize
)

// Defaults.
const (
	DefaultPartSize  = 8 << 20 // the smallest auto part size
	DefaultAttempts  = 8       // per part, transport and 5xx failures
	DefaultRefreshAt = 0.8
	maxCredRefreshes = 3 // refreshes a single request may trigger before it gives up
)

// Cleanup says what a failed upload leaves behind.
type Cleanup int

const (
	// KeepParts (the zero value) keeps the upload and the checkpoint so that
	// the next run resumes; the parts count towards storage until then.
	KeepParts Cleanup = iota
	// AbortParts aborts the multipart upload and removes the checkpoint.
	AbortParts
)

// StateStore keeps the checkpoint of one upload. *resume.Handle satisfies it.
type StateStore interface {
	Load() (*resume.Checkpoint, error)
	Save(cp *resume.Checkpoint) error
	Remove() error
}

// Options tunes an upload. The zero value is ready to use.
type Options struct {
	PartSize    int64   // 0 means auto: DefaultPartSize, raised so the file fits MaxParts
	Concurrency int     // parts in flight; 0 means auto: AutoStartBytes of parts, doubled while throughput rises and can carry them, up to AutoConcurrencyMax
	MD5         bool    // send Content-MD5 with each part (costs a second read of each part)
	LimitRate   int64   // bytes/s across all parts; 0 means unlimited
	Attempts    int     // tries per part for transient failures; 0 means DefaultAttempts
	RefreshAt   float64 // refresh the credential after this fraction of its lifetime; 0 means 0.8
	OnError     Cleanup // what a failure leaves behind; see Cleanup
	Restart     bool    // ignore any checkpoint and start a fresh upload

	// Stop, when not nil, asks for a graceful stop once it is closed: no
	// new part starts, parts in flight finish, the checkpoint is saved and
	// the upload is not completed (the next run completes it at once); the
	// call returns an error wrapping ErrStopped. Cancelling ctx keeps
	// meaning "stop now". With Stop set, a cancelled ctx also cuts short the
	// abort of an upload that cannot resume (a stream); without it that
	// abort outlives ctx by up to two minutes so that it reaches OSS.
	Stop <-chan struct{}

	// SkipIdentical, when set, first compares the object with the source
	// (HeadObject: size, then CRC-64, reading the source only when the
	// sizes match); when they are equal nothing is sent and the Result has
	// Unchanged set. A HeadObject the credential may not make means upload.
	SkipIdentical bool

	// MediaID goes into the checkpoint so that housekeeping can name it.
	MediaID string
	// State keeps the checkpoint; nil means the upload is not resumable.
	State StateStore

	// Logger hears, at Debug level, every OSS request (operation, HTTP
	// status, duration, x-oss-request-id), every retry and its cause,
	// every credential refresh and every checkpoint write; nil means none.
	// Records carry no secret: no credential, signature or token is
	// logged, and error texts are OSS's own. Used by the default NewAPI
	// when SDK.Logger is nil.
	Logger *slog.Logger

	Progress Progress                                         // nil means none
	OnEvent  func(Event)                                      // nil means none; called from several goroutines
	SDK      SDKConfig                                        // for the default NewAPI
	NewAPI   func(Target, CredentialsSource) (PartAPI, error) // nil means NewOSSAPI
	Now      func() time.Time                                 // nil means time.Now
	Sleep    func(ctx context.Context, d time.Duration) error // nil means a timer that honours ctx
	Backoff  Backoff
}

// Backoff is capped exponential backoff with equal jitter (half fixed, half random; see internal/retry.Delay).
type Backoff struct {
	Base time.Duration // 0 means 200ms
	Cap  time.Duration // 0 means 20s
}

// Delay returns the wait before retry number attempt (1-based).
func (b Backoff) Delay(attempt int, r float64) time.Duration {
	base, limit := b.Base, b.Cap
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	if limit <= 0 {
		limit = 20 * time.Second
	}
	return retry.Delay(base, limit, attempt, r)
}

// EventKind names what happened.
type EventKind string

// Event kinds.
const (
	EventStart        EventKind = "start"         // the plan is known: Target, Size, PartSize, Parts, Reused, Jobs
	EventRefresh      EventKind = "refresh"       // a new credential was fetched
	EventRetry        EventKind = "retry"         // a part or call is retried after Delay
	EventResume       EventKind = "resume"        // an earlier upload is resumed
	EventFreshStart   EventKind = "fresh-start"   // a checkpoint could not be used; Message says why
	EventPartDone     EventKind = "part-done"     // OSS acknowledged a part
	EventAbortFailed  EventKind = "abort-failed"  // a best-effort abort did not reach OSS
	EventCheckpointKO EventKind = "checkpoint-ko" // a checkpoint write failed (the upload goes on)
	EventVerifyKO     EventKind = "verify-ko"     // the object could not be read back after Complete, whose own CRC-64 matched
	EventSkipCheckKO  EventKind = "skip-check-ko" // SkipIdentical could not read the object's size and CRC-64: uploading
)

// Event tells embedders what the engine is doing.
type Event struct {
	Kind       EventKind
	PartNumber int
	Attempt    int
	Delay      time.Duration
	Err        error
	Message    string

	// EventStart only.
	Target   Target
	Size     int64 // -1 for a stream
	PartSize int64
	Parts    int // 0 for a stream
	Reused   int // parts already on OSS
	Jobs     int // parts in flight at first
}

// PartSizeFor returns the part size for a size-byte object: preferred (or
// DefaultPartSize when 0) raised until the object fits in MaxParts parts.
func PartSizeFor(size, preferred int64) int64 {
	if preferred <= 0 {
		preferred = DefaultPartSize
		// round the raised size up to a whole MiB: tidy numbers in logs and checkpoints
		if need := (size + MaxParts - 1) / MaxParts; need > preferred {
			return (need + 1<<20 - 1) &^ (1<<20 - 1)
		}
		return preferred
	}
	return max(preferred, (size+MaxParts-1)/MaxParts)
}

// CheckSize refuses a source larger than any multipart upload can hold,
// before anything is sent.
func CheckSize(size int64) error {
	if size > MaxObjectSize {
		return fmt.Errorf("the source is %d bytes, over the OSS limit of %d parts of %d bytes (%d bytes, 48.8 TiB)", size, MaxParts, int64(MaxPartSize), int64(MaxObjectSize))
	}
	return nil
}

// CheckPartSize validates an explicit part size for a size-byte object.
func CheckPartSize(size, partSize int64) error {
	switch {
	case partSize < MinPartSize:
		return fmt.Errorf("part size %d is below the OSS minimum of %d bytes (100KiB)", partSize, MinPartSize)
	case partSize > MaxPartSize:
		return fmt.Errorf("part size %d is above the OSS maximum of %d bytes (5GiB)", partSize, int64(MaxPartSize))
	case size > 0 && (size+partSize-1)/partSize > MaxParts:
		return fmt.Errorf("part size %d would cut %d bytes into %d parts, over the OSS limit of %d; use a part size of at least %d or auto",
			partSize, size, (size+partSize-1)/partSize, MaxParts, (size+MaxParts-1)/MaxParts)
	}
	return nil
}

func (o *Options) fill() {
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.RefreshAt <= 0 || o.RefreshAt >= 1 {
		o.RefreshAt = DefaultRefreshAt
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	if o.OnEvent == nil {
		o.OnEvent = func(Event) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NewAPI == nil {
		sdk := o.SDK
		if sdk.Logger == nil {
			sdk.Logger = o.Logger
		}
		o.NewAPI = func(t Target, c CredentialsSource) (PartAPI, error) { return NewOSSAPI(t, c, sdk) }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = Sleep
	}
}

// Sleep waits for d or until ctx is done, whichever comes first; it is the
// default Options.Sleep.
func Sleep(ctx context.Context, d time.Duration) error { return retry.Sleep(ctx, d) }

func jitter() float64 { return rand.Float64() }
