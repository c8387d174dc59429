package reupload

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

// Config builds a Client. The zero value uses the cn-shanghai region, the
// default credentials chain and the user's cache directory for checkpoints.
type Config struct {
	Region     string                 // ICE region; "" means cn-shanghai
	Endpoint   string                 // ICE endpoint override, e.g. http://127.0.0.1:PORT for the emulator
	Profile    string                 // aliyun CLI profile name, when Credential is nil
	Credential credentials.Credential // caller credentials; nil means the default chain
	StateDir   string                 // checkpoints; "" means os.UserCacheDir()/reupload
	// OSSEndpoint replaces the endpoint RefreshUploadMedia returns (an
	// internal or accelerated one); the bucket and object stay the same.
	OSSEndpoint string
	// Logger hears, at Debug level, every ICE and OSS request (operation,
	// status, duration, request id), every retry and its cause, every
	// credential refresh and checkpoint write; nil means discard. Every
	// string in a record is scrubbed of the secrets the client holds
	// before the handler sees it.
	Logger *slog.Logger
	// ICE is an already-built ICE client; when set, Region, Endpoint,
	// Profile and Credential are not used.
	ICE ICE
	// HTTPClient, when set, carries every request: ICE calls, OSS parts
	// and http(s) sources (unless HTTPSource.Client names another). It
	// brings its own timeouts for OSS; ICE calls are still bounded per
	// attempt. nil means reupload's own transports.
	HTTPClient *http.Client
	// Sleep waits between retries of ICE calls and aborts; nil means a
	// timer that honours ctx. Tests inject one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock of WaitForICE's deadline; nil means time.Now.
	Now func() time.Time
	// HTTPSource tunes http(s) sources (Overwrite and Batch with a URL);
	// the zero value has its own client with connect and header timeouts.
	HTTPSource HTTPSourceOptions
}

// ICE is the part of the ICE API the pipeline uses. *refresh.Client has it.
type ICE interface {
	RefreshUploadMedia(ctx context.Context, mediaID string) (*refresh.Upload, error)
	GetMediaInfo(ctx context.Context, mediaID string) (*refresh.MediaInfo, error)
}

// Options tunes one overwrite. The zero value is sensible.
//
// PartSize, Concurrency, LimitRate, MD5 and Restart are the engine's
// (ossupload.Options) settings of the same names, documented there and
// copied into Engine by Overwrite; they stay here, rather than through
// Engine alone, so that existing callers keep compiling.
type Options struct {
	PartSize    int64 // 0 means auto: ossupload.DefaultPartSize, raised so the source fits ossupload.MaxParts parts
	Concurrency int   // parts in flight; 0 means auto: ossupload.AutoStartBytes of parts at first, doubled while throughput rises, up to ossupload.AutoConcurrencyMax (Batch: min(BatchOptions.Parts, MaxPartsPerFile))
	LimitRate   int64 // bytes/s across the media's parts; 0 means unlimited
	MD5         bool  // send Content-MD5 with each part (a second read of each part; CRC-64 already verifies every byte)
	Restart     bool  // ignore any checkpoint and start afresh (its upload is aborted first)
	// Guards refuses, before anything is sent, a source that is empty, that
	// is under TruncatedRatio of the media's current file, or whose first
	// bytes are a known non-media format (see Preview): a *GuardError
	// (ExitUsage). It costs one GetMediaInfo call unless Preview is given.
	Guards bool
	// Preview, when the caller already made one for this media and source
	// (Client.Preview), spares Guards its own GetMediaInfo call.
	Preview *Preview
	// SkipIdentical uploads nothing when the object already holds the
	// source (same size and CRC-64; see ossupload.Options.SkipIdentical):
	// Result.Unchanged is then set. Batch sets it unless BatchOptions.Force.
	SkipIdentical bool
	// Stop asks for a graceful stop when closed (see ossupload.Options.Stop):
	// parts in flight finish, the checkpoint is kept, nothing is completed,
	// and the error wraps ossupload.ErrStopped (ExitInterrupted).
	Stop     <-chan struct{}
	Progress ossupload.Progress
	OnEvent  func(ossupload.Event)
	// OnProgress, when set, hears byte-level progress (see ProgressInfo):
	// at most one call per 100 ms, a first one when the upload's plan is
	// known, and a last one (Final) when it ends. Calls are never
	// concurrent; keep them quick, the upload waits for them.
	OnProgress func(ProgressInfo)
	// SourceID names the content given to OverwriteReader, so that an
	// interrupted upload of it can be resumed; "" means not resumable. See
	// OverwriteReader. Overwrite and OverwriteStream ignore it.
	SourceID string
	// Engine overrides engine settings for tests and tuning (NewAPI, Now,
	// Sleep, Backoff, SDK timeouts, Logger); zero fields keep their
	// defaults. Its PartSize, Concurrency, LimitRate, MD5, Restart, MediaID,
	// State, Progress, OnEvent, Stop and SkipIdentical are set from the
	// fields above and the media, whatever they hold.
	Engine ossupload.Options
}

// Result is what an overwrite did.
type Result struct {
	MediaID     string        `json:"media_id"`
	Bucket      string        `json:"bucket"`
	Object      string        `json:"object"`
	Size        int64         `json:"size"`
	UploadID    string        `json:"upload_id"`
	PartSize    int64         `json:"part_size"`
	Parts       int           `json:"parts"`
	CRC64       string        `json:"crc64"` // decimal, as OSS writes x-oss-hash-crc64ecma
	ETag        string        `json:"etag"`
	Resumed     bool          `json:"resumed"`
	Unchanged   bool          `json:"unchanged,omitempty"` // the object already held the source: nothing was sent
	Resumable   bool          `json:"resumable"`           // a later run could have resumed this upload (false for streams)
	PartsReused int           `json:"parts_reused"`
	BytesSent   int64         `json:"bytes_sent"`
	Refreshes   int           `json:"refreshes"` // RefreshUploadMedia calls after the first
	Retries     int           `json:"retries"`
	Duration    time.Duration `json:"-"`
	Seconds     float64       `json:"seconds"`
}

// Client overwrites media. It is safe for concurrent use; two overwrites of
// the same MediaId are refused (*resume.LockedError), across processes too.
type Client struct {
	cfg     Config
	ice     ICE
	store   *resume.Store
	secrets *refresh.Secrets // the ICE client's, when it keeps them (Scrub)
	log     *slog.Logger     // cfg.Logger behind a scrubHandler
}

// New builds a Client. It reads credentials lazily: a missing credential is
// reported by the first call that needs it.
func New(cfg Config) (*Client, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OSSEndpoint != "" {
		if _, err := ossupload.CheckEndpoint(cfg.OSSEndpoint); err != nil {
			return nil, &InputError{Field: "Config.OSSEndpoint", Err: err}
		}
	}
	c := &Client{cfg: cfg, ice: cfg.ICE}
	c.log = slog.New(&scrubHandler{next: cfg.Logger.Handler(), secrets: func() *refresh.Secrets { return c.secrets }})
	if c.ice == nil {
		ic, err := refresh.New(refresh.Config{Region: cfg.Region, Endpoint: cfg.Endpoint, Credential: cfg.Credential, Profile: cfg.Profile,
			Sleep: cfg.Sleep, HTTPClient: cfg.HTTPClient, Logger: c.log})
		if err != nil {
			return nil, &InputError{Field: "ICE client", Err: err}
		}
		c.ice = ic
	}
	if sc, ok := c.ice.(interface{ Secrets() *refresh.Secrets }); ok {
		c.secrets = sc.Secrets()
	}
	store, err := resume.Open(cfg.StateDir)
	if err != nil {
		return nil, &InputError{Field: "Config.StateDir", Err: err}
	}
	c.store = store
	return c, nil
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.cfg.Sleep != nil {
		return c.cfg.Sleep(ctx, d)
	}
	return ossupload.Sleep(ctx, d)
}

// Store is the checkpoint store, for housekeeping.
func (c *Client) Store() *resume.Store { return c.store }

// ICE is the client's ICE API.
func (c *Client) ICE() ICE { return c.ice }

// NotResumableError wraps the interruption of an upload whose source no
// later run can prove to be the same (a URL whose server sends neither
// ETag nor Last-Modified, an OverwriteReader without SourceID): running
// again starts over rather than resuming. It unwraps to the interruption
// (context.Canceled or ossupload.ErrStopped), so ExitCode is still
// ExitInterrupted.
type NotResumableError struct{ Err error }

func (e *NotResumableError) Error() string {
	return e.Err.Error() + "; this source cannot be resumed: running again starts over"
}

func (e *NotResumableError) Unwrap() error { return e.Err }

// InputError is bad input caught before anything was sent. Field names
// what was wrong: an input ("MediaId", "source file", "manifest") or a
// setting, by its Go name ("Config.StateDir", "Config.OSSEndpoint",
// "Options.PartSize"); the reupload command names its flag instead.
type InputError struct {
	Field string
	Err   error
}

func (e *InputError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// openSource opens a regular file and fingerprints it.
func openSource(path string) (*os.File, ossupload.Source, error) {
	fp, err := resume.FingerprintFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe
		}
		return nil, ossupload.Source{}, &InputError{Field: "source file", Err: err}
	}
	f, err := os.Open(fp.Path)
	if err != nil {
		return nil, ossupload.Source{}, &InputError{Field: "source file", Err: err}
	}
	src := ossupload.Source{R: f, Size: fp.Size, Fingerprint: fp}
	src.Check = func() error {
		fi, err := f.Stat()
		switch {
		case err != nil:
			return &ossupload.SourceChangedError{Reason: err.Error()}
		case fi.Size() != fp.Size:
			return &ossupload.SourceChangedError{Reason: fmt.Sprintf("size went from %d to %d bytes", fp.Size, fi.Size())}
		case !fi.ModTime().Equal(fp.ModTime):
			return &ossupload.SourceChangedError{Reason: "its modification time moved"}
		}
		return nil
	}
	return f, src, nil
}

// Overwrite replaces the source of mediaID with the file at path, or with
// the file at an http(s) URL read with Range requests (see HTTPSource; a
// URL is resumable when its server sends an ETag or a Last-Modified). A
// path naming a pipe or device (IsStream) is read once, as OverwriteStream
// reads, and is not resumable.
func (c *Client) Overwrite(ctx context.Context, mediaID, path string, opts Options) (*Result, error) {
	if err := refresh.ValidateMediaID(mediaID); err != nil {
		return nil, &InputError{Field: "MediaId", Err: err}
	}
	if IsStream(path) {
		f, err := openStream(ctx, opts.Stop, path)
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			if errors.Is(err, context.Canceled) {
				return nil, ossupload.ErrStopped
			}
			return nil, &InputError{Field: "source file", Err: err}
		}
		defer f.Close()
		return c.OverwriteStream(ctx, mediaID, f, opts)
	}
	o, err := c.open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer o.close()
	return c.overwriteSource(ctx, mediaID, o.src, o.resumable, opts)
}

func (c *Client) overwrite(ctx context.Context, mediaID string, src ossupload.Source, state ossupload.StateStore, opts Options) (*Result, error) {
	return c.run(ctx, mediaID, state, src.Size, opts, func(auth ossupload.Authorizer, eo ossupload.Options) (*ossupload.Result, error) {
		return ossupload.Upload(ctx, auth, src, eo)
	})
}

// run wires one media to the engine: its options, an Authorizer that asks
// ICE RefreshUploadMedia, and the engine's result in this package's terms.
// size is the source's, -1 for a stream.
func (c *Client) run(ctx context.Context, mediaID string, state ossupload.StateStore, size int64, opts Options,
	upload func(ossupload.Authorizer, ossupload.Options) (*ossupload.Result, error)) (*Result, error) {
	start := time.Now()
	eo := opts.Engine
	eo.PartSize, eo.Concurrency, eo.LimitRate, eo.MD5, eo.Restart = opts.PartSize, opts.Concurrency, opts.LimitRate, opts.MD5, opts.Restart
	eo.MediaID, eo.State, eo.Progress, eo.OnEvent, eo.Stop = mediaID, state, opts.Progress, opts.OnEvent, opts.Stop
	if opts.OnProgress != nil {
		ps := cmp.Or(opts.PartSize, ossupload.DefaultPartSize)
		if size >= 0 {
			ps = ossupload.PartSizeFor(size, opts.PartSize)
		}
		tr := newTracker(opts.Progress, opts.OnProgress, eo.Now, ps)
		eo.Progress = tr
		onEvent := opts.OnEvent
		eo.OnEvent = func(e ossupload.Event) {
			tr.event(e)
			if onEvent != nil {
				onEvent(e)
			}
		}
		defer tr.finish()
	}
	eo.SkipIdentical = opts.SkipIdentical
	if eo.Logger == nil {
		eo.Logger = c.log
	}
	if eo.SDK.HTTPClient == nil {
		eo.SDK.HTTPClient = c.cfg.HTTPClient
	}
	auth := ossupload.AuthorizerFunc(func(ctx context.Context) (ossupload.Grant, error) {
		up, err := c.ice.RefreshUploadMedia(ctx, mediaID)
		if err != nil {
			return ossupload.Grant{}, err
		}
		return c.grant(up), nil
	})
	res, err := upload(auth, eo)
	if err != nil {
		return nil, err
	}
	d := time.Since(start)
	return &Result{
		MediaID: mediaID, Bucket: res.Target.Bucket, Object: res.Target.Key, Size: res.Size,
		UploadID: res.UploadID, PartSize: res.PartSize, Parts: res.Parts, CRC64: fmt.Sprint(res.CRC64),
		ETag: res.ETag, Resumed: res.Resumed, Unchanged: res.Unchanged, PartsReused: res.PartsReused, BytesSent: res.BytesSent,
		Refreshes: res.Refreshes, Retries: res.Retries, Duration: d, Seconds: d.Seconds(),
	}, nil
}

func (c *Client) grant(up *refresh.Upload) ossupload.Grant {
	t := ossupload.Target{Endpoint: up.Address.Endpoint, Bucket: up.Address.Bucket, Key: up.Address.FileName, Region: up.Address.Region}
	if c.cfg.OSSEndpoint != "" {
		t.Endpoint = c.cfg.OSSEndpoint
	}
	return ossupload.Grant{Target: t, Credentials: ossupload.Credentials{
		AccessKeyID:     up.Credential.AccessKeyID,
		AccessKeySecret: up.Credential.AccessKeySecret.Reveal(),
		SecurityToken:   up.Credential.SecurityToken.Reveal(),
		Expires:         up.Credential.Expiration,
	}}
}

// Exit codes of the reupload command, computed from errors by ExitCode.
const (
	ExitOK          = 0   // every requested media was overwritten
	ExitFailed      = 1   // failed; the old source is intact
	ExitUsage       = 2   // bad flags, arguments or input; nothing was sent
	ExitPartial     = 3   // batch: some media done, some failed
	ExitUnconfirmed = 4   // uploaded and verified on OSS, but ICE did not report the new file in time (WaitForICE)
	ExitMismatch    = 5   // the object was replaced but does not (or no longer) match the source
	ExitInterrupted = 130 // SIGINT/SIGTERM; the checkpoint is kept for resume
)

// ExitCode maps an error from this package to the exit code the reupload
// command gives it, so that a program built on the library (a job runner,
// a wrapper script's replacement) reports the same outcome the same way:
// above all, whether the old source is intact (1), nothing was sent (2),
// or the object was replaced but does not match (5).
func ExitCode(err error) int {
	var in *InputError
	var batch *BatchError
	var api *refresh.APIError
	var mm *ossupload.MismatchError
	var ge *GuardError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled), errors.Is(err, ossupload.ErrStopped):
		return ExitInterrupted
	case errors.As(err, &mm):
		return ExitMismatch
	case errors.Is(err, ErrNotConfirmed):
		return ExitUnconfirmed
	case errors.As(err, &in), errors.As(err, &ge):
		return ExitUsage
	case errors.As(err, &api) && api.Kind == refresh.KindCredentials && api.StatusCode == 0:
		// No credentials configured: a set-up problem, and nothing was sent.
		return ExitUsage
	case errors.As(err, &batch):
		if batch.Invalid {
			return ExitUsage
		}
		if batch.Mismatched > 0 && batch.Failed == batch.Mismatched && batch.Succeeded == 0 {
			return ExitMismatch
		}
		if batch.Failed == 0 && batch.Unconfirmed > 0 {
			return ExitUnconfirmed
		}
		if batch.Succeeded > 0 || batch.Failed > 0 {
			return ExitPartial
		}
	}
	return ExitFailed
}

// BatchError summarises a batch that did not fully succeed.
type BatchError struct {
	Succeeded, Failed, Skipped int
	Mismatched                 int  // of Failed: replaced but not matching (ExitMismatch when all failures are)
	Unconfirmed                int  // of Succeeded: done, but ICE did not confirm in time (ExitUnconfirmed when nothing failed)
	Interrupted                int  // stopped while they ran; their checkpoints let a rerun resume them
	Invalid                    bool // the manifest was rejected before any upload
	Err                        error
}

func (e *BatchError) Error() string {
	if e.Invalid {
		return "invalid manifest: " + e.Err.Error()
	}
	s := fmt.Sprintf("%d media failed, %d succeeded, %d skipped", e.Failed, e.Succeeded, e.Skipped)
	if e.Unconfirmed > 0 {
		s += fmt.Sprintf(", %d not confirmed by ICE", e.Unconfirmed)
	}
	if e.Interrupted > 0 {
		s += fmt.Sprintf(", %d interrupted", e.Interrupted)
	}
	return s
}

func (e *BatchError) Unwrap() error { return e.Err }
