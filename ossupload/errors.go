package ossupload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/reupload/reupload/internal/nofollow"
)

// OSSError is an error answer from OSS (or the SDK's reading of one).
type OSSError struct {
	Op        string // "UploadPart", "CompleteMultipartUpload", …
	Status    int    // HTTP status
	Code      string // OSS error code, e.g. "SecurityTokenExpired"
	Message   string
	RequestID string // x-oss-request-id: quote it to Alibaba Cloud support
}

func (e *OSSError) Error() string {
	return fmt.Sprintf("oss %s: %s (HTTP %d, request %s): %s", e.Op, e.Code, e.Status, e.RequestID, e.Message)
}

// PartError reports a part that failed for good.
type PartError struct {
	UploadID   string
	PartNumber int
	Attempts   int
	Err        error
}

func (e *PartError) Error() string {
	return fmt.Sprintf("upload %s part %d failed after %d attempt(s): %v", e.UploadID, e.PartNumber, e.Attempts, e.Err)
}

func (e *PartError) Unwrap() error { return e.Err }

// ChecksumError reports a CRC-64 that differs from what was sent. For a part
// it is retried; for the whole object it is final.
type ChecksumError struct {
	PartNumber int // 0 for the whole object
	Want, Got  uint64
}

func (e *ChecksumError) Error() string {
	if e.PartNumber == 0 {
		return fmt.Sprintf("object CRC-64 mismatch: sent %d, OSS holds %d", e.Want, e.Got)
	}
	return fmt.Sprintf("part %d CRC-64 mismatch: sent %d, OSS received %d", e.PartNumber, e.Want, e.Got)
}

// ErrStopped is wrapped by the error of an upload stopped through
// Options.Stop: it kept its parts and checkpoint (unless it was a stream),
// and was not completed.
var ErrStopped = errors.New("stopped before completing the upload")

// StreamInterruptedError reports a stream upload (UploadStream) stopped by
// Options.Stop or a cancelled context. A stream cannot resume, so the
// upload was aborted, or, when Aborted is false, could not be (the context
// was cancelled first, or OSS did not answer): its parts then stay on OSS
// until the upload is aborted or the object's next upload starts.
type StreamInterruptedError struct {
	UploadID string
	Aborted  bool
	Err      error // wraps ErrStopped or the context's error
}

func (e *StreamInterruptedError) Error() string {
	if e.Aborted {
		return "interrupted: the upload was aborted (a stream cannot resume: start it again)"
	}
	return "interrupted before upload " + e.UploadID + " could be aborted: its parts stay on OSS until it is aborted (a stream cannot resume: start it again)"
}

func (e *StreamInterruptedError) Unwrap() error { return e.Err }

// MismatchError reports an object found not to hold this source after
// CompleteMultipartUpload replaced it: the old source is gone, and the
// object does not (or no longer does) match what was sent. Its cause is
// Reason: a CRC-64 that differs (Want is this source's, Got the object's),
// another upload completed over this one, or an object that could not be
// read back. Running the upload again replaces the object with this source.
type MismatchError struct {
	Reason    string
	Want, Got uint64
	Size      int64 // the object's size as read back; 0 when not read
	Err       error // why the object could not be read back, if that was it
}

func (e *MismatchError) Error() string {
	msg := e.Reason
	if e.Got != 0 {
		msg += fmt.Sprintf(" (CRC-64 of this source %d, of the object %d)", e.Want, e.Got)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *MismatchError) Unwrap() error { return e.Err }

// CredentialError means OSS kept rejecting the STS credential even after
// fresh ones were fetched.
type CredentialError struct {
	Refreshes int
	Err       error
}

func (e *CredentialError) Error() string {
	return fmt.Sprintf("OSS rejected the upload credential %d time(s) after refreshing it: %v", e.Refreshes, e.Err)
}

func (e *CredentialError) Unwrap() error { return e.Err }

// SourceChangedError means the local source changed while it was uploaded; the
// upload is aborted so that no mix of old and new bytes can be completed.
type SourceChangedError struct {
	Reason string
}

func (e *SourceChangedError) Error() string {
	return "the source file changed during the upload (" + e.Reason + "); nothing was replaced: run again once it is stable"
}

// errRestart asks the run to start a fresh upload (the target moved, or the
// upload vanished under us).
type restartError struct{ reason string }

func (e *restartError) Error() string { return "restart upload: " + e.reason }

type class int

const (
	classFatal class = iota
	classRetryable
	classCredential // fetch a new credential, then retry the same request
	classRestart    // the upload ID is gone: start a fresh upload
)

// credentialCodes are the OSS answers that a fresh STS credential cures.
var credentialCodes = map[string]bool{
	"SecurityTokenExpired": true,
	"InvalidAccessKeyId":   true,
	"InvalidSecurityToken": true,
}

// classify is the one place that knows which OSS failures are transient. It
// is kept apart from the retry loop so that it can be tested as a table.
func classify(err error) class {
	var oe *OSSError
	var ce *ChecksumError
	var sc *SourceChangedError
	var re *nofollow.RedirectError
	switch {
	case err == nil:
		return classFatal
	case errors.As(err, &re):
		return classFatal // a misconfigured endpoint: asking again changes nothing
	case errors.Is(err, context.Canceled):
		return classFatal
	case errors.As(err, &sc):
		// The source itself changed (even if the transport wrapped that in
		// a *url.Error): sending again would mix old and new bytes.
		return classFatal
	case errors.As(err, &ce):
		return classRetryable
	case errors.As(err, &oe):
		switch {
		case credentialCodes[oe.Code]:
			return classCredential
		case oe.Code == "NoSuchUpload":
			return classRestart
		case oe.Status >= 500, oe.Status == 429, oe.Code == "RequestTimeout", oe.Code == "InvalidDigest":
			// InvalidDigest: the bytes were damaged on the way; sending again cures it.
			return classRetryable
		}
		return classFatal
	}
	// Transport failures: resets, timeouts, truncated bodies, refused connections.
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, context.DeadlineExceeded) {
		return classRetryable
	}
	var use oss.UnexpectedStatusCodeError
	if errors.As(err, &use) && use.Got() >= 500 {
		return classRetryable
	}
	return classFatal
}

// Transient reports whether err is a failure that sending the same request
// again may cure (5xx, throttling, resets, timeouts, damaged bytes), for
// callers that make PartAPI calls outside Upload.
func Transient(err error) bool { return classify(err) == classRetryable }

// fromSDK turns the SDK's error values into ours.
func fromSDK(op string, err error) error {
	if err == nil {
		return nil
	}
	var se oss.ServiceError
	if errors.As(err, &se) {
		return &OSSError{Op: op, Status: se.StatusCode, Code: se.Code, Message: se.Message, RequestID: se.RequestID}
	}
	var sp *oss.ServiceError
	if errors.As(err, &sp) {
		return &OSSError{Op: op, Status: sp.StatusCode, Code: sp.Code, Message: sp.Message, RequestID: sp.RequestID}
	}
	var re *nofollow.RedirectError
	if errors.As(err, &re) {
		// Not the *url.Error around it: its URL is the full Location.
		return fmt.Errorf("oss %s: %w", op, re)
	}
	return fmt.Errorf("oss %s: %w", op, err)
}
