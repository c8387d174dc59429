package refresh

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reupload/reupload/internal/endpoint"
)

// DefaultValidity is assumed when UploadAuth states no expiry: ICE documents
// 3000 s for video upload credentials.
const DefaultValidity = 3000 * time.Second

// DecodeError reports a missing or malformed field of UploadAddress or
// UploadAuth. It never contains field values, so it is safe to print.
type DecodeError struct {
	Field  string // e.g. "UploadAuth.SecurityToken", or "UploadAddress" for the whole blob
	Reason string // e.g. "missing", "not Base64"
}

func (e *DecodeError) Error() string {
	return "refresh: decode " + e.Field + ": " + e.Reason
}

func decodeErr(field, reason string) error { return &DecodeError{Field: field, Reason: reason} }

// blob is one decoded Base64 JSON object.
type blob map[string]any

// get returns the string value of key, matched exactly or else
// case-insensitively. Numbers are returned in their JSON spelling.
// ok is false when the key is absent or null; malformed when it holds
// something other than a string or number.
func (b blob) get(key string) (val string, ok, malformed bool) {
	v, found := b[key]
	if !found {
		for k, x := range b {
			if strings.EqualFold(k, key) {
				v, found = x, true
				break
			}
		}
	}
	switch x := v.(type) {
	case nil:
		return "", false, false
	case string:
		return x, true, false
	case json.Number:
		return x.String(), true, false
	default:
		return "", true, true
	}
}

func (b blob) has(keys ...string) bool {
	for _, k := range keys {
		if _, ok, _ := b.get(k); ok {
			return true
		}
	}
	return false
}

// decodeBase64 accepts standard and URL-safe Base64, padded or not, and
// ignores surrounding whitespace.
func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

func parseBlob(name, s string) (blob, error) {
	raw, ok := decodeBase64(s)
	if !ok {
		if strings.TrimSpace(s) == "" {
			return nil, decodeErr(name, "missing")
		}
		return nil, decodeErr(name, "not Base64")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var b blob
	if err := d.Decode(&b); err != nil || b == nil {
		return nil, decodeErr(name, "not a JSON object")
	}
	if d.More() {
		return nil, decodeErr(name, "trailing data after the JSON object")
	}
	return b, nil
}

var (
	addressKeys = []string{"Bucket", "FileName"}
	authKeys    = []string{"AccessKeyId", "AccessKeySecret", "SecurityToken"}
)

// Decode turns RefreshUploadMedia's UploadAddress and UploadAuth into an
// Address and a Credential.
//
// Either argument may hold either blob (the published API page swaps them);
// they are told apart by their keys. Both standard and URL-safe Base64 are
// accepted, with or without padding. An Endpoint without scheme gets
// https://. The expiry is ExpireUTCTime when it parses, else now plus
// Expiration seconds, else now plus DefaultValidity; a credential that has
// already expired at now is an error. Failures are *DecodeError naming the
// field, never its value.
func Decode(uploadAddress, uploadAuth string, now time.Time) (Address, Credential, error) {
	first, err := parseBlob("UploadAddress", uploadAddress)
	if err != nil {
		return Address{}, Credential{}, err
	}
	second, err := parseBlob("UploadAuth", uploadAuth)
	if err != nil {
		return Address{}, Credential{}, err
	}
	addr, auth := first, second
	isAddr := func(b blob) bool { return b.has(addressKeys...) && !b.has(authKeys...) }
	isAuth := func(b blob) bool { return b.has(authKeys...) && !b.has(addressKeys...) }
	switch {
	case isAddr(first) && isAuth(second):
	case isAuth(first) && isAddr(second):
		addr, auth = second, first
	case !isAddr(first) && !isAuth(first):
		return Address{}, Credential{}, decodeErr("UploadAddress", "holds neither Bucket/FileName nor AccessKeyId/SecurityToken")
	case !isAddr(second) && !isAuth(second):
		return Address{}, Credential{}, decodeErr("UploadAuth", "holds neither Bucket/FileName nor AccessKeyId/SecurityToken")
	default:
		return Address{}, Credential{}, decodeErr("UploadAddress", "UploadAddress and UploadAuth hold the same kind of blob")
	}

	a, err := decodeAddress(addr)
	if err != nil {
		return Address{}, Credential{}, err
	}
	c, region, err := decodeAuth(auth, now)
	if err != nil {
		return Address{}, Credential{}, err
	}
	if a.Region == "" {
		a.Region = region
	}
	if a.Region == "" {
		a.Region = regionFromEndpoint(a.Endpoint)
	}
	return a, c, nil
}

func required(b blob, blobName, key string) (string, error) {
	v, ok, malformed := b.get(key)
	switch {
	case malformed:
		return "", decodeErr(blobName+"."+key, "not a string")
	case !ok || strings.TrimSpace(v) == "":
		return "", decodeErr(blobName+"."+key, "missing")
	}
	return v, nil
}

func decodeAddress(b blob) (Address, error) {
	var a Address
	var err error
	if a.Bucket, err = required(b, "UploadAddress", "Bucket"); err != nil {
		return Address{}, err
	}
	if !validBucket(a.Bucket) {
		return Address{}, decodeErr("UploadAddress.Bucket", "not a valid OSS bucket name")
	}
	if a.FileName, err = required(b, "UploadAddress", "FileName"); err != nil {
		return Address{}, err
	}
	ep, err := required(b, "UploadAddress", "Endpoint")
	if err != nil {
		return Address{}, err
	}
	if a.Endpoint, err = normalizeEndpoint(ep); err != nil {
		return Address{}, err
	}
	if r, ok, malformed := b.get("Region"); ok && !malformed {
		a.Region = strings.TrimSpace(r)
	}
	return a, nil
}

// validBucket checks OSS's naming rule loosely: 3-63 of [a-z0-9-]. It keeps
// path tricks ("../x", "a/b") out of the URL we build.
func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func normalizeEndpoint(ep string) (string, error) {
	ep = strings.TrimSpace(ep)
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(u.Host, " \t\r\n") {
		return "", decodeErr("UploadAddress.Endpoint", "not a host or http(s) URL")
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", decodeErr("UploadAddress.Endpoint", "bad port")
		}
	}
	return u.Scheme + "://" + u.Host, nil
}

// regionFromEndpoint reads "cn-shanghai" out of
// https://oss-cn-shanghai[-internal].aliyuncs.com (see internal/endpoint).
func regionFromEndpoint(ep string) string {
	u, err := url.Parse(ep)
	if err != nil {
		return ""
	}
	return endpoint.OSSRegion(u.Hostname())
}

func decodeAuth(b blob, now time.Time) (Credential, string, error) {
	var c Credential
	id, err := required(b, "UploadAuth", "AccessKeyId")
	if err != nil {
		return Credential{}, "", err
	}
	secret, err := required(b, "UploadAuth", "AccessKeySecret")
	if err != nil {
		return Credential{}, "", err
	}
	token, err := required(b, "UploadAuth", "SecurityToken")
	if err != nil {
		return Credential{}, "", err
	}
	c.AccessKeyID, c.AccessKeySecret, c.SecurityToken = id, Secret(secret), Secret(token)

	exp, from, err := expiry(b, now)
	if err != nil {
		return Credential{}, "", err
	}
	if !exp.After(now) {
		return Credential{}, "", decodeErr("UploadAuth."+from, "credential already expired on arrival; check that this machine's clock is right")
	}
	c.Expiration = exp
	region := ""
	if r, ok, malformed := b.get("Region"); ok && !malformed {
		region = strings.TrimSpace(r)
	}
	return c, region, nil
}

// expiry picks ExpireUTCTime when it parses, else now+Expiration seconds,
// else now+DefaultValidity. A present but unusable field is an error only
// when no other field gives an answer.
func expiry(b blob, now time.Time) (_ time.Time, from string, _ error) {
	var bad string
	if v, ok, malformed := b.get("ExpireUTCTime"); ok {
		if !malformed {
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05"} {
				if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
					return t.UTC(), "ExpireUTCTime", nil
				}
			}
		}
		bad = "UploadAuth.ExpireUTCTime"
	}
	if v, ok, malformed := b.get("Expiration"); ok {
		if !malformed {
			secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil && secs >= 0 && secs <= 10*365*24*3600 {
				return now.Add(time.Duration(secs * float64(time.Second))), "Expiration", nil
			}
		}
		if bad == "" {
			bad = "UploadAuth.Expiration"
		}
	}
	if bad != "" {
		return time.Time{}, "", decodeErr(bad, "not a time or number of seconds")
	}
	return now.Add(DefaultValidity), "Expiration", nil
}

// String describes the upload without secrets.
func (u Upload) String() string {
	return fmt.Sprintf("media %s → %s/%s/%s (credential %s, expires %s)",
		u.MediaID, u.Address.Endpoint, u.Address.Bucket, u.Address.FileName, u.Credential.AccessKeyID, u.Credential.Expiration.Format(time.RFC3339))
}
