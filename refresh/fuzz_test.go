package refresh_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/reupload/reupload/refresh"
)

// FuzzDecode checks Decode's promises on arbitrary input: it never panics,
// never returns a credential without AccessKeyId (or secrets, bucket,
// endpoint scheme, future expiry), and never puts a secret into error text
// or printed results. Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	std := base64.StdEncoding
	f.Add(enc(f, std, addressBlob()), enc(f, std, authBlob()))
	f.Add(enc(f, std, authBlob()), enc(f, std, addressBlob()))
	f.Add("eyJTZWN1cml0a2VuIjoiQ0FJU3p3TjF****", "eyJFbmRwb2ludCI6Imm****")
	f.Fuzz(func(t *testing.T, uploadAddress, uploadAuth string) {
		addr, cred, err := refresh.Decode(uploadAddress, uploadAuth, now)
		secrets := secretsIn(uploadAddress, uploadAuth)
		if err != nil {
			var de *refresh.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T, want *DecodeError", err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error text %q contains secret %q", err, s)
				}
			}
			return
		}
		if cred.AccessKeyID == "" || cred.AccessKeySecret.Reveal() == "" || cred.SecurityToken.Reveal() == "" {
			t.Fatalf("credential without AccessKeyId or secrets: %+v", cred)
		}
		if addr.Bucket == "" || addr.FileName == "" || !(strings.HasPrefix(addr.Endpoint, "https://") || strings.HasPrefix(addr.Endpoint, "http://")) {
			t.Fatalf("bad address %+v", addr)
		}
		if !cred.Expiration.After(now) {
			t.Fatalf("expired credential accepted: %v", cred.Expiration)
		}
		printed := fmt.Sprintf("%v %+v %#v %s", cred, cred, cred, refresh.Upload{Address: addr, Credential: cred})
		// What printing may show: the address, the key id and the expiry
		// (Upload.String writes it as RFC 3339, where a short "secret" such
		// as "T03:" can appear by chance).
		visible := fmt.Sprintf("%+v %s %s %s", addr, cred.AccessKeyID, cred.Expiration, cred.Expiration.Format(time.RFC3339))
		for _, s := range secrets {
			if strings.Contains(printed, s) && !strings.Contains(visible, s) && !strings.Contains("[redacted] refresh.Credential{AccessKeyID: AccessKeySecret: SecurityToken: Expiration: time.Date UTC}", s) {
				t.Fatalf("printed credential %q shows secret %q", printed, s)
			}
		}
	})
}

// secretsIn extracts AccessKeySecret and SecurityToken values from either
// blob, however it is encoded. Only values with a digit are returned: our
// error vocabulary has no digits, so a match is a real leak.
func secretsIn(blobs ...string) []string {
	var out []string
	for _, b := range blobs {
		b = strings.TrimSpace(b)
		for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			raw, err := e.DecodeString(b)
			if err != nil {
				continue
			}
			var m map[string]any
			if json.Unmarshal(raw, &m) != nil {
				continue
			}
			for k, v := range m {
				s, ok := v.(string)
				if ok && (strings.EqualFold(k, "AccessKeySecret") || strings.EqualFold(k, "SecurityToken")) && strings.IndexFunc(s, unicode.IsDigit) >= 0 {
					out = append(out, s)
				}
			}
		}
	}
	return out
}
