package reupload

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

// Batch defaults.
const (
	DefaultFiles    = 4  // media uploaded at once
	DefaultParts    = 16 // parts in flight across all media
	MaxPartsPerFile = 64 // no single media runs more parts than this at once
)

// BatchOptions tunes Client.Batch. The zero value uploads DefaultFiles media
// at once with DefaultParts parts in flight and no client-side rate limit.
type BatchOptions struct {
	// Files is how many media are uploaded at once; 0 means DefaultFiles.
	Files int
	// Parts is the global budget of parts in flight across all media,
	// enforced by one semaphore around every UploadPart; 0 means
	// DefaultParts. Parts are streamed from the file (no part is buffered
	// whole), so this also bounds the memory in flight. A media runs at
	// most min(Parts, MaxPartsPerFile) parts, or Options.Concurrency when
	// set, so a lone large file at the end of a batch uses the whole budget.
	Parts int
	// APIQPS caps each ICE action's calls per second across the batch, on
	// a budget of its own (ICE, like Alibaba's other media services, limits
	// QPS per action), so the GetMediaInfo calls of Guards and Wait do not
	// halve the pace of RefreshUploadMedia; 0 means no client-side limit.
	// Throttling ICE still answers is retried by the ICE client.
	APIQPS float64
	// Force uploads even a media whose object already holds its source.
	// Without it such a media is skipped (checked by content on OSS: see
	// Options.SkipIdentical). It never switches Options.Guards off.
	Force bool
	// Wait, after each media is done, waits for ICE to report its new file
	// (Client.WaitForICE, up to WaitTimeout, 0 meaning DefaultWaitTimeout);
	// a media ICE does not confirm in time is StatusUnconfirmed.
	Wait        bool
	WaitTimeout time.Duration
	// DryRun uploads nothing: it makes every check a real run makes before
	// it sends anything, failing each media the same way: the source is
	// opened (an http(s) source probed), the media looked up in ICE
	// (GetMediaInfo, also without Guards), sizes and part size checked,
	// the guards applied (Options.Guards: what they would refuse is a
	// failed media with the GuardError's message), and the media's lock
	// taken and released. A media a rerun would skip is StatusSkipped
	// (its done marker matches; a real run also compares with OSS).
	DryRun bool
	// Options applies to every media (part size, MD5, rate limit, engine
	// overrides). Its Progress and OnEvent are shared by all media and
	// called from several goroutines.
	Options Options
	// OnResult, when set, is called once per finished media, in the order
	// they finish, never concurrently.
	OnResult func(ItemResult)
}

// Item statuses in ItemResult.Status.
const (
	StatusDone   = "done"   // uploaded and verified; marked done in the state dir
	StatusFailed = "failed" // see Code and Message; a checkpoint may allow resuming
	// StatusMismatch: the object was replaced but does not (or no longer)
	// match the source, e.g. another upload completed over this one.
	StatusMismatch = "mismatch"
	StatusSkipped  = "skipped" // the object already holds the source: nothing to do
	// StatusUnconfirmed: done and verified on OSS, but ICE did not report the
	// new file in time (BatchOptions.Wait).
	StatusUnconfirmed = "unconfirmed"
	// StatusInterrupted: stopped by a signal (Options.Stop or ctx) while it
	// ran; its checkpoint lets a rerun resume it.
	StatusInterrupted = "interrupted"
	StatusChecked     = "checked" // dry run: the media exists and the source is readable
)

// ItemResult is the outcome of one media of a batch, one JSON line of the
// results file.
type ItemResult struct {
	MediaID   string  `json:"media_id"`
	Source    string  `json:"source"`
	Line      int     `json:"line,omitempty"`
	Status    string  `json:"status"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	UploadID  string  `json:"upload_id,omitempty"`
	Resumed   bool    `json:"resumed,omitempty"`
	Code      string  `json:"code,omitempty"`       // error code when failed
	Message   string  `json:"message,omitempty"`    // one line, no secrets
	RequestID string  `json:"request_id,omitempty"` // ICE or OSS request id of the failure
	Confirmed *bool   `json:"confirmed,omitempty"`  // with Wait: whether ICE reported the new file
	Result    *Result `json:"-"`                    // for StatusDone
	Err       error   `json:"-"`                    // for StatusFailed
}

// Batch overwrites many media. items are validated first (as ValidateItems
// does); an invalid list returns a *BatchError with Invalid set and uploads
// nothing. Media run opts.Files at a time under one budget of opts.Parts
// parts in flight; each keeps its own checkpoint, so a half-done media
// resumes on the next run, and each finished one gets a done marker, so a
// rerun skips it unless opts.Force.
//
// The results, in manifest order, cover every media that finished (done,
// failed or skipped). The error is nil when every media is done or skipped,
// a *BatchError with the counts when some failed, and wraps context.Canceled
// when ctx was cancelled (media not yet started are then missing from the
// results; those in flight keep their checkpoints).
func (c *Client) Batch(ctx context.Context, items []Item, opts BatchOptions) ([]ItemResult, error) {
	if err := ValidateItems(items); err != nil {
		return nil, err
	}
	files, parts := opts.Files, opts.Parts
	if files <= 0 {
		files = DefaultFiles
	}
	if parts <= 0 {
		parts = DefaultParts
	}
	bc := *c // same store and config; ICE calls go through the limiters
	bc.ice = &limitedICE{ICE: c.ice, qps: opts.APIQPS}
	eo := opts.Options
	if eo.Concurrency <= 0 {
		eo.Concurrency = min(parts, MaxPartsPerFile)
	}
	// The budget wraps the default adapter, so it gets the settings run
	// would give it: the client's HTTPClient and logger.
	if eo.Engine.SDK.HTTPClient == nil {
		eo.Engine.SDK.HTTPClient = c.cfg.HTTPClient
	}
	if eo.Engine.SDK.Logger == nil {
		eo.Engine.SDK.Logger = c.log
	}
	eo.Engine.NewAPI = budgetAPI(semaphore.NewWeighted(int64(parts)), eo.Engine.NewAPI, eo.Engine.SDK)

	results := make([]*ItemResult, len(items))
	var mu sync.Mutex // serialises OnResult
	report := func(i int, r ItemResult) {
		mu.Lock()
		defer mu.Unlock()
		results[i] = &r
		if opts.OnResult != nil {
			opts.OnResult(r)
		}
	}
	g := new(errgroup.Group)
	g.SetLimit(files)
	stopped := func() bool {
		select {
		case <-eo.Stop:
			return true
		default:
			return ctx.Err() != nil
		}
	}
	for i, it := range items {
		if stopped() {
			break
		}
		g.Go(func() error {
			if stopped() {
				return nil // stopped while queued: not started, not reported
			}
			var r ItemResult
			if opts.DryRun {
				r = bc.checkItem(ctx, it, eo, opts)
			} else {
				r = bc.runItem(ctx, it, eo, opts)
			}
			r.Line, r.Source = it.Line, DisplaySource(it.Source)
			report(i, r)
			return nil
		})
	}
	g.Wait()

	var (
		out []ItemResult
		be  BatchError
	)
	for _, r := range results {
		if r == nil {
			continue
		}
		out = append(out, *r)
		switch r.Status {
		case StatusDone, StatusChecked:
			be.Succeeded++
		case StatusSkipped:
			be.Skipped++
		case StatusUnconfirmed:
			be.Succeeded++
			be.Unconfirmed++
		case StatusInterrupted:
			be.Interrupted++
		case StatusMismatch:
			be.Failed++
			be.Mismatched++
		default:
			be.Failed++
		}
	}
	switch {
	case ctx.Err() != nil:
		be.Err = ctx.Err()
	case stopped():
		be.Err = ossupload.ErrStopped
	case be.Unconfirmed > 0 && be.Failed == 0:
		be.Err = ErrNotConfirmed
	}
	if be.Err != nil || be.Failed > 0 || be.Interrupted > 0 {
		return out, &be
	}
	return out, nil
}

func (c *Client) failed(it Item, start time.Time, err error) ItemResult {
	code, reqID := ErrorCode(err)
	status := StatusFailed
	switch code {
	case "Mismatch":
		status = StatusMismatch
	case "Interrupted":
		status = StatusInterrupted
	}
	return ItemResult{MediaID: it.MediaID, Source: it.Source, Status: status, Seconds: time.Since(start).Seconds(),
		Code: code, Message: c.Scrub(err.Error()), RequestID: reqID, Err: err}
}

// skip reports whether mediaID's done marker matches fp.
func (c *Client) skip(mediaID string, fp resume.Fingerprint) bool {
	d, err := c.store.Done(mediaID)
	return err == nil && d.Source.SameContent(fp)
}

func (c *Client) runItem(ctx context.Context, it Item, opts Options, bo BatchOptions) ItemResult {
	force := bo.Force
	start := time.Now()
	// One GetMediaInfo serves the guards and, after the upload, the rule
	// that tells when ICE has taken the new file.
	o, h, opts, err := c.prepare(ctx, it, opts, opts.Guards || bo.Wait)
	if err != nil {
		return c.failed(it, start, err)
	}
	defer o.close()
	defer h.Close()
	src := o.src
	if !force {
		// A done marker alone is not trusted, since the object may have
		// been replaced since (a put, another machine): the object is
		// compared with the source, and the marker only spares reading the
		// source for its CRC-64 when it describes this very, untouched file.
		opts.SkipIdentical = true
		if d, err := c.store.Done(it.MediaID); err == nil && d.Source.SameContent(src.Fingerprint) && d.Source.SameIdentity(src.Fingerprint) && d.Size == src.Size {
			src.CRC64, src.HasCRC = d.CRC64, true
		}
	}
	res, err := c.replace(ctx, it.MediaID, src, h, o.resumable, opts)
	if err != nil {
		return c.failed(it, start, err)
	}
	if res.Unchanged {
		return ItemResult{MediaID: it.MediaID, Source: it.Source, Status: StatusSkipped, Bytes: src.Size,
			Seconds: time.Since(start).Seconds(), Result: res}
	}
	r := ItemResult{MediaID: it.MediaID, Source: it.Source, Status: StatusDone, Bytes: res.Size,
		UploadID: res.UploadID, Resumed: res.Resumed, Result: res}
	if bo.Wait {
		_, werr := c.WaitForICE(ctx, it.MediaID, opts.Preview.Media, res.Size, bo.WaitTimeout)
		confirmed := werr == nil
		r.Confirmed = &confirmed
		if werr != nil {
			r.Status, r.Code, r.Message = StatusUnconfirmed, "Unconfirmed", c.Scrub(werr.Error())
		}
	}
	r.Seconds = time.Since(start).Seconds()
	return r
}

// LoadManifest reads the manifest at path ("-" reads stdin), keeps shard k
// of n (see Shard; n <= 1 keeps every line) and checks, in one pass, every
// line as ParseManifest does and the local sources of the lines kept as
// CheckSources does. An invalid manifest is a *BatchError with Invalid set
// whose *ManifestError (Name path) lists every problem at once, bad lines
// and missing sources together, so that one edit fixes them all rather
// than one run finding the syntax and the next the sources. Batch runs and
// dry runs both start from it, so they refuse the same manifests.
func LoadManifest(path string, stdin io.Reader, k, n int) ([]Item, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, &InputError{Field: "manifest", Err: err}
		}
		defer f.Close()
		r = f
	}
	items, bad, err := parseManifest(r)
	if err != nil {
		return nil, err
	}
	items = Shard(items, k, n)
	var be *BatchError
	var me *ManifestError
	if err := CheckSources(items); errors.As(err, &be) && errors.As(err, &me) {
		bad = append(bad, me.Lines...)
		sortLines(bad)
	}
	if len(bad) > 0 {
		return nil, &BatchError{Invalid: true, Err: &ManifestError{Name: path, Lines: bad}}
	}
	return items, nil
}

// checkItem is the dry run of one media: every check runItem makes before
// it sends anything, in the same order and failing the same way (the
// source opened and fingerprinted, ICE's view of the media, sizes, part
// size and the guards, the media's lock), then whether a rerun would skip
// it. It calls GetMediaInfo whether or not the guards need it, which is
// how a dry run knows the media exists; it never calls RefreshUploadMedia.
// A checked media's Message carries the preview's warnings.
func (c *Client) checkItem(ctx context.Context, it Item, opts Options, bo BatchOptions) ItemResult {
	start := time.Now()
	o, h, opts, err := c.prepare(ctx, it, opts, true)
	if err != nil {
		return c.failed(it, start, err)
	}
	o.close()
	h.Close()
	st := StatusChecked
	if !bo.Force && c.skip(it.MediaID, o.src.Fingerprint) {
		st = StatusSkipped
	}
	return ItemResult{MediaID: it.MediaID, Source: it.Source, Status: st, Bytes: o.src.Size, Seconds: time.Since(start).Seconds(),
		Message: strings.Join(opts.Preview.Warnings, "; ")}
}

// prepare makes the checks a media's upload and its dry run share, in
// order: it opens the source, asks ICE about the media when look is set
// (GetMediaInfo, into the returned Options' Preview), checks sizes, part
// size and the guards, and takes the media's lock. The caller closes both.
func (c *Client) prepare(ctx context.Context, it Item, opts Options, look bool) (*opened, *resume.Handle, Options, error) {
	o, err := c.open(ctx, it.Source)
	if err != nil {
		return nil, nil, opts, err
	}
	if look {
		p := &Preview{}
		if err := c.lookUp(ctx, it.MediaID, p); err != nil {
			o.close()
			return nil, nil, opts, err
		}
		opts.Preview = p
	}
	if err := c.check(ctx, it.MediaID, o.src, opts); err != nil {
		o.close()
		return nil, nil, opts, err
	}
	h, err := c.store.Lock(it.MediaID)
	if err != nil {
		o.close()
		return nil, nil, opts, err
	}
	return o, h, opts, nil
}

// limitedICE makes every ICE call wait for its action's rate limiter (when
// qps is set): each action has a budget of its own. Calls run concurrently:
// refresh.Client serialises only the credential lookup that credentials-go's
// default chain makes unsafely, so one media's throttling backoff never
// holds up another's refresh.
type limitedICE struct {
	ICE
	qps float64 // per action; 0: no limit

	mu   sync.Mutex
	lims map[string]*rate.Limiter
}

func (l *limitedICE) wait(ctx context.Context, action string) error {
	if l.qps <= 0 {
		return nil
	}
	l.mu.Lock()
	lim := l.lims[action]
	if lim == nil {
		if l.lims == nil {
			l.lims = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(rate.Limit(l.qps), max(1, int(l.qps)))
		l.lims[action] = lim
	}
	l.mu.Unlock()
	if err := lim.Wait(ctx); err != nil {
		return waitErr(ctx, err)
	}
	return nil
}

func (l *limitedICE) RefreshUploadMedia(ctx context.Context, mediaID string) (*refresh.Upload, error) {
	if err := l.wait(ctx, "RefreshUploadMedia"); err != nil {
		return nil, err
	}
	return l.ICE.RefreshUploadMedia(ctx, mediaID)
}

func (l *limitedICE) GetMediaInfo(ctx context.Context, mediaID string) (*refresh.MediaInfo, error) {
	if err := l.wait(ctx, "GetMediaInfo"); err != nil {
		return nil, err
	}
	return l.ICE.GetMediaInfo(ctx, mediaID)
}

// waitErr keeps cancellation recognisable: rate.Limiter.Wait returns its
// own error when the deadline is too close to wait.
func waitErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// budgetAPI wraps the engine's PartAPI factory so that every UploadPart
// holds one unit of the shared semaphore while it runs.
func budgetAPI(sem *semaphore.Weighted, next func(ossupload.Target, ossupload.CredentialsSource) (ossupload.PartAPI, error), sdk ossupload.SDKConfig) func(ossupload.Target, ossupload.CredentialsSource) (ossupload.PartAPI, error) {
	if next == nil {
		next = func(t ossupload.Target, c ossupload.CredentialsSource) (ossupload.PartAPI, error) {
			return ossupload.NewOSSAPI(t, c, sdk)
		}
	}
	return func(t ossupload.Target, c ossupload.CredentialsSource) (ossupload.PartAPI, error) {
		api, err := next(t, c)
		if err != nil {
			return nil, err
		}
		return &budgetedAPI{PartAPI: api, sem: sem}, nil
	}
}

type budgetedAPI struct {
	ossupload.PartAPI
	sem *semaphore.Weighted
}

// Close closes the wrapped API when it is an io.Closer, as the engine does
// with the APIs it makes (see ossupload.PartAPI): without it, every media of
// a batch left its connections open (two goroutines and a descriptor each)
// until the process ended.
func (b *budgetedAPI) Close() error {
	if c, ok := b.PartAPI.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (b *budgetedAPI) UploadPart(ctx context.Context, in ossupload.PartInput) (ossupload.PartOutput, error) {
	if err := b.sem.Acquire(ctx, 1); err != nil {
		return ossupload.PartOutput{}, err
	}
	defer b.sem.Release(1)
	return b.PartAPI.UploadPart(ctx, in)
}

// ErrorCode returns a short machine-readable code for err and the request
// id of the ICE or OSS answer behind it, if any: the API's own code
// (e.g. "ResourceNotFound", "AccessDenied"), or one of "Interrupted",
// "BadInput", "Locked", "CredentialRejected", "SourceChanged",
// "ChecksumMismatch", "Unconfirmed" (ICE did not report the new file in
// time), "SourceUnavailable" (an http(s) source kept failing
// on the server's side), "Mismatch" (replaced, but not matching the source:
// ExitMismatch), "Failed".
func ErrorCode(err error) (code, requestID string) {
	var (
		ie  *InputError
		ae  *refresh.APIError
		oe  *ossupload.OSSError
		le  *resume.LockedError
		sc  *ossupload.SourceChangedError
		ce  *ossupload.CredentialError
		cke *ossupload.ChecksumError
		mm  *ossupload.MismatchError
		su  *SourceUnavailableError
		pe  *fs.PathError
	)
	switch {
	case err == nil:
		return "", ""
	case errors.Is(err, context.Canceled), errors.Is(err, ossupload.ErrStopped):
		return "Interrupted", ""
	case errors.As(err, &mm):
		return "Mismatch", ""
	case errors.As(err, &su):
		return "SourceUnavailable", ""
	case errors.Is(err, ErrNotConfirmed):
		return "Unconfirmed", ""
	case errors.As(err, &ie), errors.As(err, &pe), errors.Is(err, os.ErrNotExist):
		return "BadInput", ""
	case errors.As(err, &le):
		return "Locked", ""
	case errors.As(err, &ae):
		if ae.Code == "" {
			return "Failed", ae.RequestID
		}
		return ae.Code, ae.RequestID
	case errors.As(err, &ce):
		if errors.As(err, &oe) {
			return "CredentialRejected", oe.RequestID
		}
		return "CredentialRejected", ""
	case errors.As(err, &oe):
		return oe.Code, oe.RequestID
	case errors.As(err, &sc):
		return "SourceChanged", ""
	case errors.As(err, &cke):
		return "ChecksumMismatch", ""
	}
	return "Failed", ""
}

// OneLine folds a message onto one line, scrubs anything named like a
// secret (refresh.Scrub) and writes control characters as escapes (ESC as
// \x1b, invalid UTF-8 bytes as \xff, a direction override as \u202e): a
// last line of defence for text that came from elsewhere, such as a
// credential provider's error or a file name, before it reaches a terminal.
func OneLine(s string) string {
	return escapeControls(refresh.Scrub(strings.Join(strings.Fields(s), " ")))
}
