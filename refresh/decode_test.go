package refresh_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reupload/reupload/refresh"
)

var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func enc(t testing.TB, e *base64.Encoding, v any) string {
	t.Helper()
	buf, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return e.EncodeToString(buf)
}

type obj = map[string]any

func addressBlob() obj {
	return obj{"Endpoint": "https://oss-cn-shanghai.aliyuncs.com", "Bucket": "outin-0123abcd", "FileName": "sv/12ab/source.mp4"}
}

func authBlob() obj {
	return obj{
		"AccessKeyId": "STS.NUabc123", "AccessKeySecret": "sts-secret-Zk3", "SecurityToken": "CAISzwN1q6Ft5B2yfSjIr5bmtoken?????~~~~~",
		"Expiration": "3000", "ExpireUTCTime": "2030-01-02T03:54:05Z", "Region": "cn-shanghai",
	}
}

func with(o obj, kv ...any) obj {
	cp := obj{}
	for k, v := range o {
		cp[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(cp, kv[i].(string))
		} else {
			cp[kv[i].(string)] = kv[i+1]
		}
	}
	return cp
}

func TestDecode(t *testing.T) {
	std := base64.StdEncoding
	wantAddr := refresh.Address{Endpoint: "https://oss-cn-shanghai.aliyuncs.com", Bucket: "outin-0123abcd", FileName: "sv/12ab/source.mp4", Region: "cn-shanghai"}
	wantCred := refresh.Credential{AccessKeyID: "STS.NUabc123", AccessKeySecret: "sts-secret-Zk3", SecurityToken: "CAISzwN1q6Ft5B2yfSjIr5bmtoken?????~~~~~", Expiration: time.Date(2030, 1, 2, 3, 54, 5, 0, time.UTC)}

	tests := []struct {
		name      string
		addr, aut string
		wantAddr  refresh.Address
		wantCred  refresh.Credential
		errField  string
	}{
		{name: "std", addr: enc(t, std, addressBlob()), aut: enc(t, std, authBlob()), wantAddr: wantAddr, wantCred: wantCred},
		// The published API page puts the auth blob under UploadAddress and
		// the address blob under UploadAuth.
		{name: "swapped as in the published doc", addr: enc(t, std, authBlob()), aut: enc(t, std, addressBlob()), wantAddr: wantAddr, wantCred: wantCred},
		{name: "url-safe without padding", addr: enc(t, base64.RawURLEncoding, addressBlob()), aut: enc(t, base64.RawURLEncoding, authBlob()), wantAddr: wantAddr, wantCred: wantCred},
		{name: "std without padding, url-safe with", addr: enc(t, base64.RawStdEncoding, addressBlob()), aut: enc(t, base64.URLEncoding, authBlob()), wantAddr: wantAddr, wantCred: wantCred},
		{name: "surrounding whitespace", addr: " " + enc(t, std, addressBlob()) + "\n", aut: "\t" + enc(t, std, authBlob()), wantAddr: wantAddr, wantCred: wantCred},
		{name: "bare endpoint", addr: enc(t, std, with(addressBlob(), "Endpoint", "oss-cn-shanghai.aliyuncs.com")), aut: enc(t, std, authBlob()), wantAddr: wantAddr, wantCred: wantCred},
		{name: "endpoint with trailing slash", addr: enc(t, std, with(addressBlob(), "Endpoint", "https://oss-cn-shanghai.aliyuncs.com/")), aut: enc(t, std, authBlob()), wantAddr: wantAddr, wantCred: wantCred},
		{
			name: "http loopback endpoint, region from auth",
			addr: enc(t, std, with(addressBlob(), "Endpoint", "http://127.0.0.1:4567")), aut: enc(t, std, with(authBlob(), "Region", "cn-beijing")),
			wantAddr: refresh.Address{Endpoint: "http://127.0.0.1:4567", Bucket: "outin-0123abcd", FileName: "sv/12ab/source.mp4", Region: "cn-beijing"}, wantCred: wantCred,
		},
		{
			name: "region from internal endpoint",
			addr: enc(t, std, with(addressBlob(), "Endpoint", "oss-cn-hangzhou-internal.aliyuncs.com")), aut: enc(t, std, with(authBlob(), "Region", nil)),
			wantAddr: refresh.Address{Endpoint: "https://oss-cn-hangzhou-internal.aliyuncs.com", Bucket: "outin-0123abcd", FileName: "sv/12ab/source.mp4", Region: "cn-hangzhou"}, wantCred: wantCred,
		},
		{
			name: "expiry from Expiration seconds", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "ExpireUTCTime", nil, "Expiration", "1200")),
			wantAddr: wantAddr, wantCred: with2(wantCred, now.Add(1200*time.Second)),
		},
		{
			name: "Expiration as a JSON number", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "ExpireUTCTime", nil, "Expiration", 900)),
			wantAddr: wantAddr, wantCred: with2(wantCred, now.Add(900*time.Second)),
		},
		{
			name: "unparsable ExpireUTCTime falls back to Expiration", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "ExpireUTCTime", "soon", "Expiration", "600")),
			wantAddr: wantAddr, wantCred: with2(wantCred, now.Add(600*time.Second)),
		},
		{
			name: "no expiry at all: 3000 s", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "ExpireUTCTime", nil, "Expiration", nil)),
			wantAddr: wantAddr, wantCred: with2(wantCred, now.Add(3000*time.Second)),
		},
		{
			name: "keys in another case, unknown keys tolerated", addr: enc(t, std, obj{"endpoint": "oss-cn-shanghai.aliyuncs.com", "bucket": "outin-0123abcd", "fileName": "sv/12ab/source.mp4", "ObjectPrefix": "sv/12ab/"}),
			aut: enc(t, std, with(authBlob(), "AccessKeyId", nil, "accessKeyId", "STS.NUabc123", "Extra", obj{"x": 1})), wantAddr: wantAddr, wantCred: wantCred,
		},

		{name: "the doc's literal (truncated) UploadAddress", addr: "eyJTZWN1cml0a2VuIjoiQ0FJU3p3TjF****", aut: "eyJFbmRwb2ludCI6Imm****", errField: "UploadAddress"},
		{name: "address not base64", addr: "%%%", aut: enc(t, std, authBlob()), errField: "UploadAddress"},
		{name: "auth not base64", addr: enc(t, std, addressBlob()), aut: "!!" + enc(t, std, authBlob()), errField: "UploadAuth"},
		{name: "address empty", addr: "", aut: enc(t, std, authBlob()), errField: "UploadAddress"},
		{name: "auth not JSON", addr: enc(t, std, addressBlob()), aut: std.EncodeToString([]byte(`{"AccessKeyId":`)), errField: "UploadAuth"},
		{name: "auth a JSON array", addr: enc(t, std, addressBlob()), aut: std.EncodeToString([]byte(`["x"]`)), errField: "UploadAuth"},
		{name: "both addresses", addr: enc(t, std, addressBlob()), aut: enc(t, std, addressBlob()), errField: "UploadAddress"},
		{name: "neither kind", addr: enc(t, std, obj{"Foo": "bar"}), aut: enc(t, std, authBlob()), errField: "UploadAddress"},
		{name: "missing SecurityToken", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "SecurityToken", nil)), errField: "UploadAuth.SecurityToken"},
		{name: "missing AccessKeySecret", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "AccessKeySecret", nil)), errField: "UploadAuth.AccessKeySecret"},
		{name: "missing AccessKeyId", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "AccessKeyId", nil)), errField: "UploadAuth.AccessKeyId"},
		{name: "empty AccessKeyId", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "AccessKeyId", "")), errField: "UploadAuth.AccessKeyId"},
		{name: "missing Bucket", addr: enc(t, std, with(addressBlob(), "Bucket", nil)), aut: enc(t, std, authBlob()), errField: "UploadAddress.Bucket"},
		{name: "missing FileName", addr: enc(t, std, with(addressBlob(), "FileName", nil)), aut: enc(t, std, authBlob()), errField: "UploadAddress.FileName"},
		{name: "missing Endpoint", addr: enc(t, std, with(addressBlob(), "Endpoint", nil)), aut: enc(t, std, authBlob()), errField: "UploadAddress.Endpoint"},
		{name: "Bucket not a string", addr: enc(t, std, with(addressBlob(), "Bucket", obj{"a": 1})), aut: enc(t, std, authBlob()), errField: "UploadAddress.Bucket"},
		{name: "Bucket with a slash", addr: enc(t, std, with(addressBlob(), "Bucket", "a/../b")), aut: enc(t, std, authBlob()), errField: "UploadAddress.Bucket"},
		{name: "Endpoint ftp", addr: enc(t, std, with(addressBlob(), "Endpoint", "ftp://oss.example.com")), aut: enc(t, std, authBlob()), errField: "UploadAddress.Endpoint"},
		{name: "Endpoint with path", addr: enc(t, std, with(addressBlob(), "Endpoint", "https://oss.example.com/x")), aut: enc(t, std, authBlob()), errField: "UploadAddress.Endpoint"},
		{name: "already expired", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "ExpireUTCTime", "2030-01-02T03:00:00Z")), errField: "UploadAuth.ExpireUTCTime"},
		{name: "Expiration zero", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "ExpireUTCTime", nil, "Expiration", "0")), errField: "UploadAuth.Expiration"},
		{name: "Expiration garbage", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "ExpireUTCTime", nil, "Expiration", "ten")), errField: "UploadAuth.Expiration"},
		{name: "both expiries garbage", addr: enc(t, std, addressBlob()), aut: enc(t, std, with(authBlob(), "ExpireUTCTime", "x", "Expiration", "y")), errField: "UploadAuth.ExpireUTCTime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, cred, err := refresh.Decode(tc.addr, tc.aut, now)
			if tc.errField != "" {
				var de *refresh.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %v, want *DecodeError", err)
				}
				if de.Field != tc.errField {
					t.Errorf("Field %q, want %q (%v)", de.Field, tc.errField, err)
				}
				for _, secret := range []string{"sts-secret-Zk3", "CAISzwN1q6Ft5B2yfSjIr5bmtoken?????~~~~~"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error text %q contains a secret", err)
					}
				}
				if addr != (refresh.Address{}) || cred != (refresh.Credential{}) {
					t.Errorf("error with results %+v %+v", addr, cred)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if addr != tc.wantAddr {
				t.Errorf("address %+v, want %+v", addr, tc.wantAddr)
			}
			if cred != tc.wantCred {
				t.Errorf("credential %+v (exp %v), want %+v (exp %v)", cred, cred.Expiration, tc.wantCred, tc.wantCred.Expiration)
			}
			if cred.AccessKeySecret.Reveal() != "sts-secret-Zk3" {
				t.Errorf("secret not kept")
			}
		})
	}
}

func with2(c refresh.Credential, exp time.Time) refresh.Credential {
	c.Expiration = exp
	return c
}

// The URL-safe case above must really exercise the URL-safe alphabet.
func TestURLSafeCaseUsesURLAlphabet(t *testing.T) {
	s := enc(t, base64.RawURLEncoding, authBlob())
	if !strings.ContainsAny(s, "-_") || strings.HasSuffix(s, "=") {
		t.Fatalf("fixture contains no URL-safe characters: %s", s)
	}
	if _, err := base64.StdEncoding.DecodeString(s); err == nil {
		t.Fatal("fixture decodes as standard Base64")
	}
}
