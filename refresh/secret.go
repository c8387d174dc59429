package refresh

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

const redacted = "[redacted]"

// Secret holds an STS AccessKeySecret or SecurityToken. It prints as
// [redacted] under every fmt verb, in JSON, as text and in slog; only the
// request signer calls Reveal.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb (%x, %q, %v…) sees the value.
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, `"`+redacted+`"`)
		return
	}
	io.WriteString(f, redacted)
}

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (used by slog's text and
// JSON handlers for map keys, and by other encoders).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Credential is an STS credential for the OSS upload.
type Credential struct {
	AccessKeyID                    string
	AccessKeySecret, SecurityToken Secret
	Expiration                     time.Time // the moment OSS stops accepting it
}

// Address is where the media's source file lives in OSS.
type Address struct {
	Endpoint string // always with scheme, e.g. https://oss-cn-shanghai.aliyuncs.com
	Bucket   string
	FileName string // object key; the same on every refresh
	Region   string // OSS region id, e.g. cn-shanghai; "" if the service did not say and the endpoint does not show it
}

// Upload is a decoded RefreshUploadMedia answer.
type Upload struct {
	MediaID, RequestID string
	Address            Address
	Credential         Credential
}

// Compile-time checks: the redaction must survive refactoring.
var (
	_ fmt.Formatter  = Secret("")
	_ fmt.GoStringer = Secret("")
	_ slog.LogValuer = Secret("")
)
