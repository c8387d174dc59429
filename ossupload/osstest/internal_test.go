package osstest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// vectorRequest is a worked signing example (docs/oss.md, "Signing,
// endpoints, redirects"): UploadPart of bkt/dir/a.bin, part 1 of upload UID.
func vectorRequest(t *testing.T, contentType string, v4 bool) (*http.Request, url.Values) {
	t.Helper()
	r, err := http.NewRequest("PUT", "http://127.0.0.1/bkt/dir%2Fa.bin?partNumber=1&uploadId=UID", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Date", "Wed, 01 Jan 2025 00:00:00 GMT")
	r.Header.Set("x-oss-security-token", "tok")
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if v4 {
		r.Header.Set("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
	}
	return r, r.URL.Query()
}

func TestV1WorkedExample(t *testing.T) {
	r, q := vectorRequest(t, "", false)
	sts := v1StringToSign(r, "bkt", "dir/a.bin", q)
	wantSTS := "PUT\n\n\nWed, 01 Jan 2025 00:00:00 GMT\nx-oss-security-token:tok\n/bkt/dir/a.bin?partNumber=1&uploadId=UID"
	if sts != wantSTS {
		t.Fatalf("string to sign\n got %q\nwant %q", sts, wantSTS)
	}
	if got := v1Sign("secret", sts); got != "bhm6Pn0CD+jrBmFBrv1PZo0AMa4=" {
		t.Fatalf("signature = %s, want bhm6Pn0CD+jrBmFBrv1PZo0AMa4=", got)
	}
	r, q = vectorRequest(t, "application/octet-stream", false)
	if got := v1Sign("secret", v1StringToSign(r, "bkt", "dir/a.bin", q)); got != "n+BouhYpuac5mzGjvLHCxkfpfss=" {
		t.Fatalf("signature with Content-Type = %s, want n+BouhYpuac5mzGjvLHCxkfpfss=", got)
	}
}

func TestV4WorkedExample(t *testing.T) {
	r, q := vectorRequest(t, "", true)
	canonical := v4CanonicalRequest(r, "bkt", "dir/a.bin", q, nil)
	want := "PUT\n/bkt/dir/a.bin\npartNumber=1&uploadId=UID\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-security-token:tok\n\n\nUNSIGNED-PAYLOAD"
	if canonical != want {
		t.Fatalf("canonical request\n got %q\nwant %q", canonical, want)
	}
	sum := sha256.Sum256([]byte(canonical))
	if got := hex.EncodeToString(sum[:]); got != "2d23bde8e787547e44ad1e8e9a261b7e45f5dfa4c085b04659edc720a853c166" {
		t.Fatalf("sha256(canonical) = %s", got)
	}
	sts := v4StringToSign("Wed, 01 Jan 2025 00:00:00 GMT", "20250101", "cn-hangzhou", canonical)
	if got := v4Sign("secret", "20250101", "cn-hangzhou", sts); got != "b066d8fb2118acfb1767f1208209649237074f4139a907cc76a89391cdb1e71b" {
		t.Fatalf("signature = %s", got)
	}
}

func TestV4CanonicalQueryAndHost(t *testing.T) {
	r, err := http.NewRequest("GET", "http://h/bkt/?uploads&encoding-type=url&prefix=a%20b%2Bc&max-uploads=2", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = "bkt.oss-cn-shanghai.aliyuncs.com"
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("X-Oss-Meta-A", "  spaced  ")
	c := v4CanonicalRequest(r, "bkt", "", r.URL.Query(), []string{"host"})
	want := "GET\n/bkt/\nencoding-type=url&max-uploads=2&prefix=a%20b%2Bc&uploads\n" +
		"content-type:text/plain\nhost:bkt.oss-cn-shanghai.aliyuncs.com\nx-oss-meta-a:spaced\n\nhost\nUNSIGNED-PAYLOAD"
	if c != want {
		t.Fatalf("canonical request\n got %q\nwant %q", c, want)
	}
}

func TestParseAuthorization(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want authRequest
	}{
		{"OSS ak:sig=", true, authRequest{accessKey: "ak", signature: "sig="}},
		{"OSS ak", false, authRequest{}},
		{"OSS :sig", false, authRequest{}},
		{"OSS4-HMAC-SHA256 Credential=ak/20250101/cn-hangzhou/oss/aliyun_v4_request,Signature=ab", true,
			authRequest{v4: true, accessKey: "ak", date: "20250101", region: "cn-hangzhou", product: "oss", signature: "ab"}},
		{"OSS4-HMAC-SHA256 Credential=ak/20250101//oss/aliyun_v4_request, AdditionalHeaders=Host;x, Signature=ab", true,
			authRequest{v4: true, accessKey: "ak", date: "20250101", product: "oss", signature: "ab", additional: []string{"host", "x"}}},
		{"OSS4-HMAC-SHA256 Credential=ak/20250101/r/oss/aliyun_v4_request,AdditionalHeaders=,Signature=ab", false, authRequest{}},
		{"OSS4-HMAC-SHA256 Credential=ak/20250101/r/oss/aliyun_v4_request,Signature=ab,Unknown=1", false, authRequest{}},
		{"OSS4-HMAC-SHA256 Credential=ak/20250101/r/oss,Signature=ab", false, authRequest{}},
		{"AWS ak:sig", false, authRequest{}},
	} {
		got, ok := parseAuthorization(tc.in)
		if ok != tc.ok {
			t.Errorf("%q: ok = %v", tc.in, ok)
			continue
		}
		if ok && (got.v4 != tc.want.v4 || got.accessKey != tc.want.accessKey || got.signature != tc.want.signature ||
			got.date != tc.want.date || got.region != tc.want.region || got.product != tc.want.product ||
			len(got.additional) != len(tc.want.additional)) {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	const size = 1000
	for _, tc := range []struct {
		h             string
		standard      bool
		start, length int64
		partial       bool
		err           bool
	}{
		{"", false, 0, size, false, false},
		{"bytes=0-99", false, 0, 100, true, false},
		{"bytes=10-", false, 10, 990, true, false},
		{"bytes=-10", false, 990, 10, true, false},
		{"bytes=999-999", false, 999, 1, true, false},
		{"bytes=500-2000", false, 0, size, false, false}, // OSS: invalid end, whole object
		{"bytes=500-2000", true, 500, 500, true, false},
		{"bytes=1000-2000", false, 0, size, false, false},
		{"bytes=1000-2000", true, 0, 0, false, true},
		{"bytes=-2000", false, 0, size, false, false},
		{"bytes=-2000", true, 0, size, true, false},
		{"bytes=5-1", false, 0, size, false, false},
		{"bytes=0-1,5-6", false, 0, size, false, false},                           // one range only: ignored
		{"bytes=0-1,5-6", true, 0, 0, false, true},                                // 416 InvalidRange
		{"bytes=" + strings.Repeat("0-1,", 50) + "5-6", false, 0, 0, false, true}, // 51: MultiRangeFailed
		{"items=0-1", false, 0, size, false, false},
		{"bytes=x-1", false, 0, size, false, false},
	} {
		start, length, partial, err := parseRange(tc.h, size, tc.standard)
		if (err != nil) != tc.err || err == nil && (start != tc.start || length != tc.length || partial != tc.partial) {
			t.Errorf("parseRange(%q, standard=%v) = %d, %d, %v, %v; want %d, %d, %v, err=%v",
				tc.h, tc.standard, start, length, partial, err, tc.start, tc.length, tc.partial, tc.err)
		}
	}
}

func TestObjectPath(t *testing.T) {
	good := map[[2]string]string{
		{"bkt", "a"}:           "bkt/a",
		{"bkt", "dir/a b.bin"}: "bkt/dir/a b.bin",
		{"b-1", "..a/b..c"}:    "b-1/..a/b..c",
	}
	for in, want := range good {
		if got, err := objectPath(in[0], in[1]); err != nil || got != want {
			t.Errorf("objectPath(%q, %q) = %q, %v; want %q", in[0], in[1], got, err, want)
		}
	}
	for _, in := range [][2]string{
		{"bkt", ""}, {"bkt", "../x"}, {"bkt", "a/../../x"}, {"bkt", ".."}, {"bkt", "."}, {"bkt", "a/./b"},
		{"bkt", "/etc/passwd"}, {"bkt", "a\x00b"}, {"bkt", `a\..\b`}, {"bkt", "a//b"}, {"bkt", "a/"},
		{"bkt", "\xff"}, {"..", "x"}, {"../bkt", "x"}, {"", "x"}, {"BKT", "x"}, {"b/k", "x"}, {"-bk", "x"},
		{"bkt", string(bytes.Repeat([]byte("a"), 1024))},
	} {
		if got, err := objectPath(in[0], in[1]); !errors.Is(err, ErrInvalidName) {
			t.Errorf("objectPath(%q, %q) = %q, %v; want ErrInvalidName", in[0], in[1], got, err)
		}
	}
	for _, id := range []string{"", "../x", ".hidden", "a/b", "a\x00"} {
		if _, err := partPath(id); !errors.Is(err, ErrInvalidName) {
			t.Errorf("partPath(%q) accepted", id)
		}
	}
}

func TestMemObjectReadAt(t *testing.T) {
	m := NewMemoryStorage()
	data := []byte("abcdefghijklmnopqrstuvwxyz")
	for i, chunk := range [][]byte{data[:3], nil, data[3:10], data[10:]} {
		if err := m.WritePart(string(rune('A'+i)), bytes.NewReader(chunk), int64(len(chunk))); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Commit("bkt", "k", []string{"A", "B", "C", "D"}, ObjectAttrs{ObjectInfo: ObjectInfo{Size: int64(len(data))}}); err != nil {
		t.Fatal(err)
	}
	_, rd, err := m.Open("bkt", "k")
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off <= len(data); off++ {
		for n := 0; n <= len(data)-off+2; n++ {
			p := make([]byte, n)
			got, err := rd.ReadAt(p, int64(off))
			wantN := min(n, len(data)-off)
			if got != wantN || !bytes.Equal(p[:got], data[off:off+wantN]) {
				t.Fatalf("ReadAt(%d bytes, off %d) = %d %q", n, off, got, p[:got])
			}
			if n > 0 && (err == io.EOF) != (wantN < n) {
				t.Fatalf("ReadAt(%d bytes, off %d) err = %v", n, off, err)
			}
		}
	}
}

// signV4WithOSSDate signs r for V4 as a client that sends x-oss-date would
// (the SDK never does; newer SDKs do).
func signV4WithOSSDate(t *testing.T, r *http.Request, bucket, key, ak, secret, region string, when time.Time) {
	t.Helper()
	r.Header.Set("x-oss-date", when.UTC().Format("20060102T150405Z"))
	r.Header.Set("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
	day := when.UTC().Format("20060102")
	canonical := v4CanonicalRequest(r, bucket, key, r.URL.Query(), nil)
	sig := v4Sign(secret, day, region, v4StringToSign(r.Header.Get("x-oss-date"), day, region, canonical))
	r.Header.Set("Authorization", "OSS4-HMAC-SHA256 Credential="+ak+"/"+day+"/"+region+"/oss/aliyun_v4_request,Signature="+sig)
}

func TestV4XOssDateWinsOverDate(t *testing.T) {
	s := newServer(Options{})
	s.CreateBucket("bkt")
	s.AddAccessKey("ak", "sk")
	now := time.Now()
	for _, tc := range []struct {
		name   string
		date   string // Date header, maybe stale or absent
		signed time.Time
		status int
	}{
		{"no Date header", "", now, 200},
		{"stale Date, fresh x-oss-date", now.Add(-time.Hour).UTC().Format(http.TimeFormat), now, 200},
		{"stale x-oss-date", now.UTC().Format(http.TimeFormat), now.Add(-time.Hour), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("PUT", "http://127.0.0.1/bkt/k", strings.NewReader("body"))
			if tc.date != "" {
				r.Header.Set("Date", tc.date)
			}
			signV4WithOSSDate(t, r, "bkt", "k", "ak", "sk", s.region, tc.signed)
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
		})
	}
}
