package reupload

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/reupload/reupload/internal/retry"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/resume"
)

// HTTP source defaults.
const (
	DefaultHTTPDialTimeout   = 10 * time.Second // TCP connect
	DefaultHTTPHeaderTimeout = 30 * time.Second // TLS handshake, then response headers
	DefaultHTTPIdleTimeout   = 60 * time.Second // a body read that gets no byte for this long fails
)

// HTTPSourceOptions tunes http(s) sources. The zero value is ready to use.
type HTTPSourceOptions struct {
	// Client sends the requests; nil means a client of its own with
	// DefaultHTTPDialTimeout and DefaultHTTPHeaderTimeout. No overall
	// request timeout is set on it: a part can be gigabytes, so stalls are
	// caught by IdleTimeout instead. A caller's own client keeps its
	// settings; IdleTimeout still applies.
	Client *http.Client
	// IdleTimeout fails any request to the source, the probe included,
	// that receives no byte for this long, whether it waits for the
	// headers or for the body: a retryable timeout (the engine retries the
	// part, OpenHTTPSource its probe). 0 means DefaultHTTPIdleTimeout.
	IdleTimeout time.Duration
	// Attempts is how often OpenHTTPSource tries its probe when the server
	// answers 5xx or 429, stalls, or the connection fails, as the engine
	// retries a part read; 0 means ossupload.DefaultAttempts.
	Attempts int
	// Backoff spaces the probe's attempts; the zero value is the engine's
	// default (ossupload.Backoff).
	Backoff ossupload.Backoff
	// Sleep waits between the probe's attempts; nil means a timer that
	// honours ctx. Tests pass one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
}

// IsURL reports whether source names an http(s) URL rather than a file.
func IsURL(source string) bool {
	s := strings.ToLower(source)
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// RedactURL returns source fit for messages, logs and checkpoints: a URL
// loses its user info and its query values (a pre-signed URL carries its
// signature there); anything else is returned as is.
func RedactURL(source string) string {
	if !IsURL(source) {
		return source
	}
	u, err := url.Parse(source)
	if err != nil {
		return "an unparseable URL"
	}
	return redacted(u)
}

func redacted(u *url.URL) string {
	v := *u
	v.User, v.Fragment, v.RawFragment, v.RawQuery, v.ForceQuery = nil, "", "", "", false
	s := v.String()
	if u.RawQuery != "" {
		var keys []string
		for k := range u.Query() {
			keys = append(keys, url.QueryEscape(k)+"=REDACTED")
		}
		slices.Sort(keys)
		s += "?" + strings.Join(keys, "&")
	}
	return s
}

// HTTPSourceError is an http(s) source answering with an unexpected status,
// or not supporting what an upload needs (Range requests, a known size).
type HTTPSourceError struct {
	URL    string // redacted (RedactURL)
	Status int    // HTTP status; 0 when the problem is not a status
	Reason string
}

func (e *HTTPSourceError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s answered %d %s: %s", e.URL, e.Status, http.StatusText(e.Status), e.Reason)
	}
	return e.URL + ": " + e.Reason
}

// ErrNoRanges is wrapped by the *HTTPSourceError of a server that does not
// serve byte ranges: such a source cannot be uploaded in parts.
var ErrNoRanges = errors.New("the server does not support Range requests")

type noRangeError struct{ HTTPSourceError }

func (e *noRangeError) Unwrap() error { return ErrNoRanges }

// SourceUnavailableError is an http(s) source that kept failing in a way
// that is the server's or the network's fault, not the caller's: 5xx or 429
// answers, stalls, refused or reset connections, on every one of the
// probe's attempts. Err is the last failure. The URL may be right and the
// server back later, so it is not a bad input.
type SourceUnavailableError struct {
	URL      string // redacted (RedactURL)
	Attempts int
	Err      error
}

func (e *SourceUnavailableError) Error() string {
	return fmt.Sprintf("source %s unavailable after %d attempts: %v", e.URL, e.Attempts, e.Err)
}

func (e *SourceUnavailableError) Unwrap() error { return e.Err }

// transientError marks a source failure worth retrying (a 5xx or 429
// answer, a stalled body). It implements net.Error because that is what the
// engine's classifier retries: transport failures.
type transientError struct{ err error }

func (e *transientError) Error() string   { return e.err.Error() }
func (e *transientError) Unwrap() error   { return e.err }
func (e *transientError) Timeout() bool   { return true }
func (e *transientError) Temporary() bool { return true }

var _ net.Error = (*transientError)(nil)

// HTTPSource is a file on an http(s) server read with Range requests. It
// implements io.ReaderAt and ossupload.RangeOpener (one ranged GET per
// part). Every ranged request carries If-Match (a strong ETag) or
// If-Unmodified-Since (Last-Modified), and every answer's Content-Range
// total, ETag and Last-Modified are compared with the first answer's, so a
// source that changes during an upload fails it with
// *ossupload.SourceChangedError instead of mixing old and new bytes.
//
// It is safe for concurrent use.
type HTTPSource struct {
	u       *url.URL
	name    string // redacted
	client  *http.Client
	idle    time.Duration
	size    int64
	etag    string // as the server sent it, "" if none
	lastMod string // as the server sent it, "" if none
	fp      resume.Fingerprint
	stable  bool // the server sent a validator: the upload is resumable
}

var (
	_ io.ReaderAt           = (*HTTPSource)(nil)
	_ ossupload.RangeOpener = (*HTTPSource)(nil)
)

var (
	defaultHTTPOnce   sync.Once
	defaultHTTPClient *http.Client
)

func defaultSourceClient() *http.Client {
	defaultHTTPOnce.Do(func() {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: DefaultHTTPDialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = DefaultHTTPHeaderTimeout
		t.ResponseHeaderTimeout = DefaultHTTPHeaderTimeout
		t.MaxIdleConnsPerHost = 64 // parts run in parallel against one host
		defaultHTTPClient = &http.Client{Transport: t}
	})
	return defaultHTTPClient
}

// OpenHTTPSource asks the server for the first byte of rawURL (a GET with
// Range: bytes=0-0, which also works for pre-signed URLs that HEAD would
// not) to learn the size, the validators and that ranges are served. A
// server that answers 200 with the whole body does not serve ranges: the
// error wraps ErrNoRanges. Errors never show the URL's user info or query
// values.
func OpenHTTPSource(ctx context.Context, rawURL string, opts HTTPSourceOptions) (*HTTPSource, error) {
	u, err := url.Parse(rawURL)
	if err != nil || !IsURL(rawURL) || u.Host == "" {
		return nil, &HTTPSourceError{URL: RedactURL(rawURL), Reason: "not an absolute http(s) URL"}
	}
	s := &HTTPSource{u: u, name: redacted(u), client: opts.Client, idle: opts.IdleTimeout}
	if s.client == nil {
		s.client = defaultSourceClient()
	}
	if s.idle <= 0 {
		s.idle = DefaultHTTPIdleTimeout
	}
	attempts := opts.Attempts
	if attempts <= 0 {
		attempts = ossupload.DefaultAttempts
	}
	sleep := opts.Sleep
	if sleep == nil {
		sleep = retry.Sleep
	}
	for attempt := 1; ; attempt++ {
		err := s.probe(ctx)
		switch {
		case err == nil:
			return s, nil
		case ctx.Err() != nil:
			return nil, context.Cause(ctx)
		case !probeRetryable(err):
			return nil, err
		case attempt >= attempts:
			return nil, &SourceUnavailableError{URL: s.name, Attempts: attempt, Err: err}
		}
		if serr := sleep(ctx, opts.Backoff.Delay(attempt, rand.Float64())); serr != nil {
			return nil, serr
		}
	}
}

// probeRetryable reports whether a failed probe may succeed if repeated:
// what the engine retries for a part read (5xx and 429 answers, stalls,
// transport failures), less the transport failures that stay as they are
// (an unknown host, a certificate that does not verify, a malformed URL).
func probeRetryable(err error) bool {
	var te *transientError
	if errors.As(err, &te) {
		return true
	}
	var dns *net.DNSError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var hse *HTTPSourceError
	var sc *ossupload.SourceChangedError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound, errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci),
		errors.As(err, &hse), errors.As(err, &sc), errors.Is(err, context.Canceled):
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// probe asks for the first byte and records size and validators.
func (s *HTTPSource) probe(ctx context.Context) error {
	resp, err := s.get(ctx, "bytes=0-0", false)
	if err != nil {
		return err
	}
	if err := s.readProbe(resp); err != nil {
		drain(resp)
		return err
	}
	// The first byte itself: a body that never comes fails the probe
	// after IdleTimeout instead of hanging it (and a batch slot with it).
	return drainErr(resp)
}

func (s *HTTPSource) readProbe(resp *http.Response) error {
	s.etag, s.lastMod = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	switch resp.StatusCode {
	case http.StatusPartialContent:
		_, _, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || total < 0 {
			return &HTTPSourceError{URL: s.name, Status: resp.StatusCode, Reason: "no usable Content-Range total, so the size is unknown"}
		}
		s.size = total
	case http.StatusRequestedRangeNotSatisfiable:
		// An empty file has no byte 0: "Content-Range: bytes */0".
		_, _, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || total != 0 {
			return &HTTPSourceError{URL: s.name, Status: resp.StatusCode, Reason: "the first byte is not satisfiable, yet the file is not empty"}
		}
	case http.StatusOK:
		if resp.ContentLength == 0 {
			break // empty: nothing will ever be ranged
		}
		return &noRangeError{HTTPSourceError{URL: s.name, Reason: "it answered 200 with the whole file to a Range request, so it cannot be read in parts; copy the file locally first"}}
	default:
		return statusError(s.name, resp)
	}
	s.fp = resume.Fingerprint{Path: identity(s.u), Size: s.size}
	if s.size == 0 {
		// Every empty file is the same content (and servers send no
		// validators with the 416 that answers its probe).
		s.stable, s.fp.Sample = true, sampleOf("reupload http source", "empty")
	} else if s.etag != "" || s.lastMod != "" {
		s.stable = true
		if t, err := http.ParseTime(s.lastMod); err == nil {
			s.fp.ModTime = t.UTC()
		}
		s.fp.Sample = sampleOf("reupload http source", s.etag, s.lastMod)
	} else {
		s.fp.ModTime, s.fp.Sample = time.Now().UTC(), onceSample()
	}
	return nil
}

// Size is the file's size in bytes.
func (s *HTTPSource) Size() int64 { return s.size }

// String is the URL without user info or query values.
func (s *HTTPSource) String() string { return s.name }

// Resumable reports whether the server sent an ETag or a Last-Modified, so
// that a later run can tell the same content from a changed one.
func (s *HTTPSource) Resumable() bool { return s.stable }

// Fingerprint identifies the content across runs: Path is the URL without
// user info, query or fragment (a re-signed URL of the same object still
// matches), ModTime the Last-Modified, Sample the SHA-256 of the ETag and
// Last-Modified. Without either validator it is unique to this
// HTTPSource, so it never matches a checkpoint.
func (s *HTTPSource) Fingerprint() resume.Fingerprint { return s.fp }

// Check asks the server again (with the validators) whether the file is
// unchanged; a changed file gives *ossupload.SourceChangedError.
func (s *HTTPSource) Check(ctx context.Context) error {
	if s.size == 0 {
		return nil
	}
	rc, err := s.OpenRange(ctx, 0, 1)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// ReadAt reads len(p) bytes at off with one ranged GET.
func (s *HTTPSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("reupload: negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), s.size-off)
	rc, err := s.OpenRange(context.Background(), off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	got, err := io.ReadFull(rc, p[:n])
	if err == nil && n < int64(len(p)) {
		err = io.EOF
	}
	return got, err
}

// OpenRange streams bytes [off, off+n) with one ranged GET. A body that ends
// early reads as io.ErrUnexpectedEOF and a stalled one fails after the idle
// timeout (both retried by the engine); a changed file fails with
// *ossupload.SourceChangedError.
func (s *HTTPSource) OpenRange(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 || off+n > s.size {
		return nil, fmt.Errorf("reupload: range [%d, %d) outside the %d-byte source", off, off+n, s.size)
	}
	if n == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	resp, err := s.get(ctx, fmt.Sprintf("bytes=%d-%d", off, off+n-1), true)
	if err != nil {
		return nil, err
	}
	if err := s.verify(resp, off, n); err != nil {
		drain(resp)
		return nil, err
	}
	return &rangeBody{rc: resp.Body, left: n, name: s.name}, nil
}

// verify checks that resp holds exactly [off, off+n) of the same file.
func (s *HTTPSource) verify(resp *http.Response, off, n int64) error {
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusPreconditionFailed:
		return &ossupload.SourceChangedError{Reason: "the server answered 412 Precondition Failed: its ETag or Last-Modified moved"}
	case http.StatusRequestedRangeNotSatisfiable:
		return &ossupload.SourceChangedError{Reason: fmt.Sprintf("the server cannot serve bytes %d-%d any more: it is shorter", off, off+n-1)}
	case http.StatusOK:
		return &HTTPSourceError{URL: s.name, Status: resp.StatusCode, Reason: "the server stopped honouring Range requests"}
	default:
		return statusError(s.name, resp)
	}
	first, last, total, err := parseContentRange(resp.Header.Get("Content-Range"))
	switch {
	case err != nil:
		return &HTTPSourceError{URL: s.name, Status: resp.StatusCode, Reason: err.Error()}
	case total >= 0 && total != s.size:
		return &ossupload.SourceChangedError{Reason: fmt.Sprintf("the server now says it has %d bytes, not %d", total, s.size)}
	case first != off || last != off+n-1:
		return &HTTPSourceError{URL: s.name, Status: resp.StatusCode, Reason: fmt.Sprintf("asked for bytes %d-%d, got %d-%d", off, off+n-1, first, last)}
	}
	if e := resp.Header.Get("ETag"); e != "" && s.etag != "" && e != s.etag {
		return &ossupload.SourceChangedError{Reason: "its ETag moved"}
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" && s.lastMod != "" && lm != s.lastMod {
		return &ossupload.SourceChangedError{Reason: "its Last-Modified moved"}
	}
	return nil
}

// get sends one ranged GET; conditional adds the validators. The wait for
// the headers and every read of the body are bounded by the idle timeout
// (whatever the client's own settings), and a stall is a *transientError.
func (s *HTTPSource) get(ctx context.Context, rng string, conditional bool) (*http.Response, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, s.u.String(), nil)
	if err != nil {
		cancel(nil)
		return nil, &HTTPSourceError{URL: s.name, Reason: "bad request: " + err.Error()}
	}
	req.Header.Set("Range", rng)
	// Ranges count bytes of the file as stored; a compressed answer would
	// count bytes of something else.
	req.Header.Set("Accept-Encoding", "identity")
	if conditional {
		switch {
		case s.etag != "" && !strings.HasPrefix(s.etag, "W/"):
			req.Header.Set("If-Match", s.etag) // weak ETags never match If-Match
		case s.lastMod != "":
			req.Header.Set("If-Unmodified-Since", s.lastMod)
		}
	}
	timer := time.AfterFunc(s.idle, func() { cancel(errStalled) })
	resp, err := s.client.Do(req)
	timer.Stop()
	if err != nil {
		cancel(nil)
		if errors.Is(context.Cause(rctx), errStalled) && ctx.Err() == nil {
			return nil, s.stalled()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = s.name // the transport's message would show the query
		}
		return nil, err
	}
	resp.Body = &idleBody{rc: resp.Body, ctx: rctx, cancel: cancel, timer: timer, idle: s.idle, src: s}
	return resp, nil
}

func (s *HTTPSource) stalled() error {
	return &transientError{fmt.Errorf("source %s: %w (%s)", s.name, errStalled, s.idle)}
}

func statusError(name string, resp *http.Response) error {
	e := &HTTPSourceError{URL: name, Status: resp.StatusCode, Reason: "want 206 Partial Content"}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return &transientError{e}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// Most often a presigned URL that expired while the upload ran.
		e.Reason = "access refused (an expired presigned URL?); run again with a fresh URL: the upload resumes"
	}
	return e
}

func drain(resp *http.Response) { drainErr(resp) }

// drainErr reads what is left of a small answer, so that its connection
// can be reused, closes it, and reports a read that failed (a stall).
func drainErr(resp *http.Response) error {
	_, err := io.CopyN(io.Discard, resp.Body, 4<<10)
	cerr := resp.Body.Close()
	if err == io.EOF {
		err = nil
	}
	return errors.Join(err, cerr)
}

var errStalled = errors.New("no byte received within the idle timeout")

// idleBody arms an idle timer around each Read of a response body, so
// that a server that stops sending fails the read instead of hanging it.
// The timer runs only inside Read: time the reader spends elsewhere is not
// a stall.
type idleBody struct {
	rc     io.ReadCloser
	ctx    context.Context // the request's; cancelled with errStalled by the timer
	cancel context.CancelCauseFunc
	timer  *time.Timer
	idle   time.Duration
	src    *HTTPSource
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.idle)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(context.Cause(b.ctx), errStalled):
		err = b.src.stalled()
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = b.src.name
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// rangeBody is the body of one ranged GET: it turns an early end into
// io.ErrUnexpectedEOF (a bare io.EOF would tell the engine that the file
// shrank). Stalls are caught by the idleBody underneath.
type rangeBody struct {
	rc   io.ReadCloser
	left int64
	name string
}

func (b *rangeBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = fmt.Errorf("source %s: body ended %d bytes early: %w", b.name, b.left, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (b *rangeBody) Close() error { return b.rc.Close() }

// parseContentRange reads "bytes FIRST-LAST/TOTAL" or "bytes */TOTAL";
// total is -1 for "*", first and last -1 for "*".
func parseContentRange(h string) (first, last, total int64, err error) {
	bad := fmt.Errorf("bad Content-Range %q", h)
	spec, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total < 0 {
			return 0, 0, 0, bad
		}
	}
	if rng == "*" {
		return -1, -1, total, nil
	}
	a, z, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(z, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first || (total >= 0 && last >= total) {
		return 0, 0, 0, bad
	}
	return first, last, total, nil
}

// identity is the URL that names the content across runs: no user info,
// query or fragment, the host lower-cased.
func identity(u *url.URL) string {
	v := url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host), Path: u.Path, RawPath: u.RawPath}
	return v.String()
}

// sampleOf is a fingerprint Sample derived from names rather than bytes.
func sampleOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
