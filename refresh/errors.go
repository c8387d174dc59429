package refresh

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/alibabacloud-go/tea/tea"
)

// Kind sorts API failures by what the user can do about them.
type Kind int

const (
	KindBadRequest  Kind = iota // the request was refused as invalid; a bug or an unsupported input
	KindNotFound                // the MediaId does not exist (in this region)
	KindPermission              // the caller may not call the action (RAM)
	KindCredentials             // missing, wrong or expired caller credentials, or a skewed clock
	KindThrottled               // rate limited; retryable
	KindServer                  // 5xx; retryable
)

func (k Kind) String() string {
	switch k {
	case KindNotFound:
		return "not found"
	case KindPermission:
		return "permission denied"
	case KindCredentials:
		return "credentials"
	case KindThrottled:
		return "throttled"
	case KindServer:
		return "server error"
	default:
		return "bad request"
	}
}

// Sentinels for errors.Is; an *APIError matches the one of its Kind.
var (
	ErrNotFound    = errors.New("refresh: not found")
	ErrPermission  = errors.New("refresh: permission denied")
	ErrCredentials = errors.New("refresh: credentials")
	ErrThrottled   = errors.New("refresh: throttled")
	ErrServer      = errors.New("refresh: server error")
	ErrBadRequest  = errors.New("refresh: bad request")
)

func (k Kind) sentinel() error {
	switch k {
	case KindNotFound:
		return ErrNotFound
	case KindPermission:
		return ErrPermission
	case KindCredentials:
		return ErrCredentials
	case KindThrottled:
		return ErrThrottled
	case KindServer:
		return ErrServer
	default:
		return ErrBadRequest
	}
}

// APIError is a failure answered by ICE (or, with StatusCode 0, a failure to
// obtain caller credentials). Quote RequestID to Alibaba Cloud support.
type APIError struct {
	Action     string // e.g. "RefreshUploadMedia"
	MediaID    string
	StatusCode int    // HTTP status; 0 when no request was sent
	Code       string // e.g. "ResourceNotFound", "Throttling.User"
	Message    string // the service's message
	RequestID  string
	Kind       Kind
	Err        error // the SDK error, for inspection; its text is not part of Error()
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("ice ")
	b.WriteString(e.Action)
	if e.MediaID != "" {
		b.WriteString(" " + e.MediaID)
	}
	b.WriteString(": ")
	b.WriteString(e.Code)
	if e.StatusCode != 0 || e.RequestID != "" {
		b.WriteString(" (")
		if e.StatusCode != 0 {
			b.WriteString("HTTP " + strconv.Itoa(e.StatusCode))
		}
		if e.RequestID != "" {
			if e.StatusCode != 0 {
				b.WriteString(", ")
			}
			b.WriteString("request " + e.RequestID)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Unwrap returns the underlying SDK error.
func (e *APIError) Unwrap() error { return e.Err }

// Is matches the sentinel of e.Kind (ErrNotFound, ErrPermission, …).
func (e *APIError) Is(target error) bool { return target == e.Kind.sentinel() }

// Hint is a one-line suggestion for the user.
func (e *APIError) Hint() string {
	switch e.Kind {
	case KindNotFound:
		return "check the MediaId, or the --region it lives in"
	case KindPermission:
		return "the caller lacks ice:" + e.Action + "; grant it with a RAM policy, or use another --profile"
	case KindThrottled:
		return "ICE is rate limiting this account; wait a little and retry, or run fewer uploads at once"
	case KindServer:
		return "ICE had a transient failure; retry later and quote the request id if it persists"
	case KindCredentials:
		switch {
		case strings.HasPrefix(e.Code, "InvalidTimeStamp"):
			return "the local clock is more than 15 minutes off; synchronise it (NTP) and retry"
		case strings.HasPrefix(e.Code, "InvalidSecurityToken"), e.Code == "MissingSecurityToken":
			return "the STS token is expired or invalid; obtain fresh credentials"
		case e.StatusCode == 0:
			return credentialHint(e.Err)
		default:
			return "check the AccessKey ID and secret (ALIBABA_CLOUD_ACCESS_KEY_ID/…SECRET or --profile)"
		}
	default:
		if e.Code == "InvalidAction.NotFound" {
			return "ICE is not available at this endpoint; check --region or --endpoint"
		}
		return "ICE refused the request; quote the request id when reporting it"
	}
}

// classify sorts an ICE error code and status into a Kind.
func classify(status int, code string) Kind {
	switch {
	case code == "Throttling" || strings.HasPrefix(code, "Throttling.") || code == "RequestsTooFrequent" || status == http.StatusTooManyRequests:
		return KindThrottled
	case code == "InvalidCredentials" ||
		strings.HasPrefix(code, "InvalidAccessKeyId") ||
		strings.HasPrefix(code, "InvalidSecurityToken") || code == "MissingSecurityToken" ||
		code == "SignatureDoesNotMatch" || code == "IncompleteSignature" ||
		strings.HasPrefix(code, "InvalidTimeStamp"):
		return KindCredentials
	case code == "InvalidAction.NotFound":
		return KindBadRequest
	case code == "ResourceNotFound" || strings.HasSuffix(code, ".NotFound") || strings.HasSuffix(code, "NotExist") ||
		code == "MediaNotFound" || status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusForbidden || strings.HasPrefix(code, "Forbidden") || strings.HasPrefix(code, "NoPermission") ||
		strings.HasPrefix(code, "OperationDenied"):
		return KindPermission
	case status >= 500 || code == "InternalError" || strings.EqualFold(code, "ServiceUnavailable"):
		return KindServer
	}
	return KindBadRequest
}

// fromSDK converts what CallApiWithCtx returned into our error types.
// Network and context errors are wrapped, not turned into APIError. Every
// text that came from the answer is scrubbed by value before it is stored:
// a service (or a proxy in front of it) may echo the request's headers,
// x-acs-security-token included, in its Message.
func fromSDK(secrets *Secrets, action, mediaID string, err error) error {
	var ce *credentialError
	if errors.As(err, &ce) {
		return &APIError{Action: action, MediaID: mediaID, Code: "InvalidCredentials", Kind: KindCredentials,
			Message: ce.message(secrets), Err: err}
	}
	var se *tea.SDKError
	if !errors.As(err, &se) {
		return newCallError(secrets, action, mediaID, err)
	}
	scrubSDKError(secrets, se)
	e := &APIError{Action: action, MediaID: mediaID, StatusCode: tea.IntValue(se.StatusCode), Code: tea.StringValue(se.Code), Err: err}
	// Data is the error body re-encoded as JSON; it carries the service's
	// own Message and RequestId without the SDK's decoration.
	var body map[string]any
	if json.Unmarshal([]byte(tea.StringValue(se.Data)), &body) == nil {
		e.Message = firstString(body, "Message", "message")
		e.RequestID = firstString(body, "RequestId", "requestId")
		if e.Code == "" {
			e.Code = firstString(body, "Code", "code")
		}
	}
	if e.Code == "InvalidCredentials" && e.StatusCode == 0 {
		e.Message = "no Alibaba Cloud credentials configured"
	}
	if e.Message == "" && e.StatusCode == 0 {
		e.Message = tea.StringValue(se.Message)
	}
	// Data was scrubbed as JSON text; scrub the decoded strings too (a
	// JSON escape such as \u002b would have hidden a value from the first pass).
	e.Message, e.Code, e.RequestID = secrets.Scrub(e.Message), secrets.Scrub(e.Code), secrets.Scrub(e.RequestID)
	e.Kind = classify(e.StatusCode, e.Code)
	return e
}

// scrubSDKError scrubs, in place, every text of an SDK error that came from
// the answer, so that whoever unwraps an APIError and prints its Err sees
// no secret either. The error is this call's own: nothing else holds it.
func scrubSDKError(secrets *Secrets, se *tea.SDKError) {
	for _, p := range []**string{&se.Code, &se.Message, &se.Data, &se.Description, &se.Detail, &se.Stack} {
		if *p != nil {
			*p = tea.String(secrets.Scrub(**p))
		}
	}
	for k, v := range se.AccessDeniedDetail {
		if s, ok := v.(string); ok {
			se.AccessDeniedDetail[k] = secrets.Scrub(s)
		}
	}
	se.SetErrMsg(secrets.Scrub(se.Error())) // Error() caches its text
}

func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// CallError is a call that got no answer from ICE: a network failure, a
// cancelled context, or a response that was not JSON.
type CallError struct {
	Action, MediaID string
	Err             error
}

func (e *CallError) Error() string {
	s := "ice " + e.Action
	if e.MediaID != "" {
		s += " " + e.MediaID
	}
	return s + ": " + e.Err.Error()
}

func (e *CallError) Unwrap() error { return e.Err }

// newCallError builds a *CallError whose text holds none of secrets: a
// transport or decoding error can quote what the other side sent.
func newCallError(secrets *Secrets, action, mediaID string, err error) *CallError {
	return &CallError{Action: action, MediaID: mediaID, Err: scrubErr(secrets, err)}
}

// scrubbedError shows a scrubbed text and unwraps to the original error, so
// that errors.Is, errors.As and Retryable still see what happened.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrubErr(secrets *Secrets, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := secrets.Scrub(msg); clean != msg {
		return &scrubbedError{clean, err}
	}
	return err
}

// Retryable reports whether a failed call may succeed if repeated as is:
// throttling, 5xx and network errors. It is the only place that decides.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Kind == KindThrottled || ae.Kind == KindServer
	}
	var ce *CallError
	if !errors.As(err, &ce) {
		return false
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return false // a bad certificate stays bad
	}
	// A *url.Error is a transport failure, including http.Client's own
	// timeout (which also matches context.DeadlineExceeded); the caller's
	// context deadline reaches us bare, not inside a *url.Error.
	var ue *url.Error
	if errors.As(err, &ue) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	var se *json.SyntaxError
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &se)
}
