package ossupload

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// closeAPI closes api if it is an io.Closer (see PartAPI).
func closeAPI(api PartAPI) {
	if c, ok := api.(io.Closer); ok {
		c.Close()
	}
}

// PartAPI is all of OSS that the engine needs. The SDK adapter (NewOSSAPI)
// and test doubles satisfy it. Every method is bound to one bucket. When a
// PartAPI is also an io.Closer, the engine closes it at the end of the
// upload attempt it made it for.
//
// # Errors and the retry contract
//
// Methods make one attempt each: the engine does the retrying (Upload,
// Abort and ListUploads alike), so an implementation must not retry, and
// must return errors the engine can classify. An error answer from OSS is
// an *OSSError with the HTTP status and the OSS error code (NewOSSAPI
// makes one from the SDK's); a transport failure is returned wrapped, so
// that errors.As still finds the net.Error, *url.Error or syscall errno in
// it. The engine then treats each error as follows:
//
//   - Credential refused: OSS codes SecurityTokenExpired,
//     InvalidSecurityToken and InvalidAccessKeyId. The engine asks the
//     Authorizer for a new grant (one call however many parts hit it) and
//     sends the same request again, without backoff and without counting
//     an attempt; after 3 refreshes in a row for one request it gives up
//     with a *CredentialError. A credential is also replaced before a
//     request when it has lived Options.RefreshAt of its lifetime, or when
//     less than twice the slowest part so far is left of it.
//   - Transient, retried with Options.Backoff up to Options.Attempts tries:
//     HTTP 5xx and 429, OSS codes RequestTimeout and InvalidDigest, a part
//     whose x-oss-hash-crc64ecma differs from what was sent
//     (*ChecksumError), connection resets, refusals, timeouts, broken pipes
//     and truncated bodies (io.EOF, io.ErrUnexpectedEOF). Transient
//     reports this class.
//   - Upload gone: NoSuchUpload. Upload starts a fresh upload (at most
//     twice); Abort reports the upload as already gone; after a
//     CompleteMultipartUpload retry, HeadObject decides whether the lost
//     answer had completed it.
//   - Final, returned at once: everything else, among them AccessDenied and
//     other 4xx answers, a redirect (NewOSSAPI refuses to follow one), a
//     cancelled context, and a source that changed (*SourceChangedError).
type PartAPI interface {
	InitiateMultipartUpload(ctx context.Context, key string) (uploadID string, err error)
	UploadPart(ctx context.Context, in PartInput) (PartOutput, error)
	// ListParts returns every part of the upload, all pages.
	ListParts(ctx context.Context, key, uploadID string) ([]ListedPart, error)
	CompleteMultipartUpload(ctx context.Context, key, uploadID string, parts []CompletedPart) (ObjectInfo, error)
	AbortMultipartUpload(ctx context.Context, key, uploadID string) error
	HeadObject(ctx context.Context, key string) (ObjectInfo, error)
}

// PartInput is one UploadPart request. Body yields exactly Size bytes.
type PartInput struct {
	Key        string
	UploadID   string
	PartNumber int
	Size       int64
	Body       io.Reader
	ContentMD5 string // base64 MD5 of the body; "" sends none
}

// PartOutput is what OSS answered to UploadPart.
type PartOutput struct {
	ETag   string // as OSS sent it, with quotes
	CRC64  uint64 // x-oss-hash-crc64ecma of the bytes OSS received
	HasCRC bool   // false when OSS sent no CRC header
}

// ListedPart is one entry of ListParts.
type ListedPart struct {
	PartNumber int
	ETag       string
	Size       int64
	// CRC64 is the part's HashCrc64ecma, which OSS lists with each part;
	// HasCRC is false when the answer had none. A resume checks what it
	// adopts against it before CompleteMultipartUpload.
	CRC64  uint64
	HasCRC bool
}

// CompletedPart names one part in CompleteMultipartUpload.
type CompletedPart struct {
	PartNumber int
	ETag       string
}

// ObjectInfo describes a whole object, from Complete or HeadObject.
type ObjectInfo struct {
	Size   int64 // -1 when unknown (Complete does not report it)
	ETag   string
	CRC64  uint64
	HasCRC bool
}

// Target is where the object lives, as UploadAddress names it.
type Target struct {
	Endpoint string // with scheme, e.g. https://oss-cn-shanghai.aliyuncs.com
	Bucket   string
	Key      string
	Region   string // OSS region id for V4 signing, e.g. cn-shanghai; "" derives it from Endpoint
}

// Credentials is an STS credential for OSS. It never prints its secrets:
// every fmt verb, JSON and slog show them redacted.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
	Expires         time.Time // zero means unknown: never refreshed proactively
}

// Format implements fmt.Formatter so that no verb can reveal the secrets.
func (c Credentials) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "{AccessKeyID:%s AccessKeySecret:[redacted] SecurityToken:[redacted] Expires:%s}",
		c.AccessKeyID, c.Expires.Format(time.RFC3339))
}

// MarshalJSON redacts the secrets.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"AccessKeyID":%q,"AccessKeySecret":"[redacted]","SecurityToken":"[redacted]","Expires":%q}`,
		c.AccessKeyID, c.Expires.Format(time.RFC3339)), nil
}

// LogValue redacts the secrets in slog.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID), slog.Time("expires", c.Expires))
}

// Grant is what one RefreshUploadMedia call yields: where to upload, and with what.
type Grant struct {
	Target      Target
	Credentials Credentials
}

// Authorizer hands out grants. Authorize is called once when an upload starts
// and again when the credential nears expiry or OSS rejects it; the engine
// makes sure concurrent parts share one call.
type Authorizer interface {
	Authorize(ctx context.Context) (Grant, error)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context) (Grant, error)

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context) (Grant, error) { return f(ctx) }

// Progress hears about bytes OSS has acknowledged, never bytes merely read.
// Calls may come from several goroutines at once.
type Progress interface {
	// Start is called once the plan is known; confirmed counts bytes OSS
	// already holds from an earlier run.
	Start(total, confirmed int64)
	// PartDone is called after OSS acknowledged a part and its CRC matched.
	PartDone(partNumber int, size int64)
}

// SentProgress is an optional extension of Progress for byte-level
// progress: PartSent hears about part body bytes as the HTTP transport takes
// them on their way to OSS, so a slow part shows before OSS confirms it.
// When an attempt fails, PartSent takes its bytes back (n < 0) before the
// part is sent again, so the sum over a part never exceeds its size and
// equals it once PartDone is called. Calls come from the goroutines that
// send parts, once per body read (32 KiB or so): keep them cheap.
type SentProgress interface {
	Progress
	PartSent(partNumber int, n int64)
}

type nopProgress struct{}

func (nopProgress) Start(int64, int64)  {}
func (nopProgress) PartDone(int, int64) {}
