package osstest_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
)

// errorBody is the part of OSS's error XML the tests look at.
type errorBody struct {
	Code, Message, HostId, EC, RecommendDoc string
	Expires, ServerTime                     string
}

// fetch sends a bodiless request and returns the status, body and, for an
// error, its parsed XML.
func fetch(t *testing.T, req *http.Request) (int, []byte, errorBody) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e errorBody
	if resp.StatusCode >= 300 && len(body) > 0 {
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Fatalf("status %d, error body not XML: %v\n%s", resp.StatusCode, err, body)
		}
	}
	return resp.StatusCode, body, e
}

func get(t *testing.T, rawURL string) (int, []byte, errorBody) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fetch(t, req)
}

// wantExpired checks the answer OSS gives a presigned URL past its expiry
// (https://help.aliyun.com/en/oss/user-guide/0002-00000069).
func wantExpired(t *testing.T, status int, e errorBody) {
	t.Helper()
	if status != 403 || e.Code != "AccessDenied" || e.Message != "Request has expired." || e.EC != "0002-00000069" ||
		e.Expires == "" || e.ServerTime == "" {
		t.Fatalf("want 403 AccessDenied \"Request has expired.\" 0002-00000069 with Expires and ServerTime, got %d %+v", status, e)
	}
}

// tamper changes the first character of whichever of params u carries.
func tamper(t *testing.T, u string, params ...string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	for _, p := range params {
		if v := q.Get(p); v != "" {
			q.Set(p, strings.Map(func(r rune) rune { return r ^ 1 }, v[:1])+v[1:])
			pu.RawQuery = q.Encode()
			return pu.String()
		}
	}
	t.Fatalf("none of %v in %s", params, u)
	return ""
}

// signVersions are the SDK options for each signature version.
func signVersions() []struct {
	name string
	opts []oss.ClientOption
} {
	return []struct {
		name string
		opts []oss.ClientOption
	}{{"V1", nil}, {"V4", v4Opts()}}
}

func TestSignURL(t *testing.T) {
	for _, v := range signVersions() {
		t.Run(v.name, func(t *testing.T) {
			clk := &clock{}
			s := newServer(t, osstest.Options{Now: clk.Now})
			data := []byte("presigned content")
			if err := s.PutObjectData(bucketName, "dir/a b.txt", data); err != nil {
				t.Fatal(err)
			}
			b := bucket(t, s, rootAK, rootSK, v.opts...)
			u, err := b.SignURL("dir/a b.txt", oss.HTTPGet, 60)
			if err != nil {
				t.Fatal(err)
			}
			status, body, e := get(t, u)
			if status != 200 || string(body) != string(data) {
				t.Fatalf("GET %s: %d %q %+v", u, status, body, e)
			}
			// The same URL with a byte changed in its signature is refused.
			bad := tamper(t, u, "Signature", "x-oss-signature")
			if status, _, e := get(t, bad); status != 403 || e.Code != "SignatureDoesNotMatch" {
				t.Fatalf("tampered signature: %d %+v", status, e)
			}
			// A URL for another key is refused too: the key is signed.
			other := strings.Replace(u, "a%20b", "a%20c", 1)
			if status, _, e := get(t, other); status != 403 || e.Code != "SignatureDoesNotMatch" {
				t.Fatalf("other key: %d %+v", status, e)
			}
			clk.Advance(61 * time.Second)
			status, _, e = get(t, u)
			wantExpired(t, status, e)
		})
	}
}

func TestSignURLWithSTSToken(t *testing.T) {
	for _, v := range signVersions() {
		t.Run(v.name, func(t *testing.T) {
			clk := &clock{}
			s := newServer(t, osstest.Options{Now: clk.Now})
			for _, k := range []string{"mine", "theirs"} {
				if err := s.PutObjectData(bucketName, k, []byte(k)); err != nil {
					t.Fatal(err)
				}
			}
			ak, sk, tok, _ := s.IssueToken(bucketName, "mine", 10*time.Minute)
			b := bucket(t, s, ak, sk, append(v.opts, oss.SecurityToken(tok))...)
			u, err := b.SignURL("mine", oss.HTTPGet, 3600)
			if err != nil {
				t.Fatal(err)
			}
			if status, body, e := get(t, u); status != 200 || string(body) != "mine" {
				t.Fatalf("GET own object: %d %q %+v", status, body, e)
			}
			u2, err := b.SignURL("theirs", oss.HTTPGet, 3600)
			if err != nil {
				t.Fatal(err)
			}
			if status, _, e := get(t, u2); status != 403 || e.Code != "AccessDenied" {
				t.Fatalf("GET another object with the token: %d %+v", status, e)
			}
			// The URL outlives the token: the token's expiry wins.
			clk.Advance(11 * time.Minute)
			if status, _, e := get(t, u); status != 403 || e.Code != "SecurityTokenExpired" {
				t.Fatalf("after the token expired: %d %+v", status, e)
			}
		})
	}
}

func TestPresignGetURL(t *testing.T) {
	clk := &clock{}
	s := newServer(t, osstest.Options{Now: clk.Now})
	if err := s.PutObjectData(bucketName, "media/v.mp4", []byte("video")); err != nil {
		t.Fatal(err)
	}
	u := s.PresignGetURL(bucketName, "media/v.mp4", clk.Now().Add(time.Hour))
	if !strings.HasPrefix(u, s.URL()+"/"+bucketName+"/media/v.mp4?") {
		t.Fatalf("URL %s is not on %s", u, s.URL())
	}
	q, _ := url.Parse(u)
	if q.Query().Get("OSSAccessKeyId") == rootAK || q.Query().Get("Signature") == "" {
		t.Fatalf("URL not signed with the server's own key: %s", u)
	}
	if status, body, e := get(t, u); status != 200 || string(body) != "video" {
		t.Fatalf("GET: %d %q %+v", status, body, e)
	}
	clk.Advance(time.Hour + time.Second)
	status, _, e := get(t, u)
	wantExpired(t, status, e)
}

// TestV1XOssDate: a V1 request may carry x-oss-date instead of Date, as
// ali-oss sends it (browsers cannot set Date), and signs its value on the
// Date line (https://help.aliyun.com/en/oss/user-guide/0002-00000503).
func TestV1XOssDate(t *testing.T) {
	clk := &clock{}
	s := newServer(t, osstest.Options{Now: clk.Now})
	if err := s.PutObjectData(bucketName, "k", []byte("content")); err != nil {
		t.Fatal(err)
	}
	signed := func(date string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/"+bucketName+"/k", nil)
		req.Header.Set("x-oss-date", date)
		sts := "GET\n\n\n" + date + "\nx-oss-date:" + date + "\n/" + bucketName + "/k"
		m := hmac.New(sha1.New, []byte(rootSK))
		m.Write([]byte(sts))
		req.Header.Set("Authorization", "OSS "+rootAK+":"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
		return req
	}
	now := clk.Now().UTC()
	if status, body, e := fetch(t, signed(now.Format(http.TimeFormat))); status != 200 || string(body) != "content" {
		t.Fatalf("x-oss-date only: %d %q %+v", status, body, e)
	}
	// The clock check applies to x-oss-date as it does to Date.
	status, _, e := fetch(t, signed(now.Add(-20*time.Minute).Format(http.TimeFormat)))
	if status != 403 || e.Code != "RequestTimeTooSkewed" {
		t.Fatalf("x-oss-date 20 min old: %d %+v", status, e)
	}
	// Neither header: EC 0002-00000503.
	req := signed(now.Format(http.TimeFormat))
	req.Header.Del("x-oss-date")
	if status, _, e := fetch(t, req); status != 403 || e.Code != "AccessDenied" || e.EC != "0002-00000503" {
		t.Fatalf("no date: %d %+v", status, e)
	}
}

// headerTransport edits each request's headers before it is sent.
type headerTransport func(http.Header)

func (f headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	f(r.Header)
	return http.DefaultTransport.RoundTrip(r)
}

// TestV4ContentSHA256: OSS requires x-oss-content-sha256 on V4 requests and
// takes only UNSIGNED-PAYLOAD (https://help.aliyun.com/en/oss/user-guide/0002-00000214),
// even when the value is the body's true SHA-256 and is signed.
func TestV4ContentSHA256(t *testing.T) {
	s := newServer(t, osstest.Options{})
	// The body's real SHA-256, set through the SDK so that it is signed.
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	const sum = "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7" // sha256("data")
	err := put(b, "k", oss.SetHeader("x-oss-content-sha256", sum))
	se := wantCode(t, err, 400, "InvalidArgument")
	if se.Ec != "0002-00000214" {
		t.Fatalf("EC = %s, want 0002-00000214", se.Ec)
	}
	// Without the header (stripped on the wire).
	strip := &http.Client{Transport: headerTransport(func(h http.Header) { h.Del("x-oss-content-sha256") })}
	b = bucket(t, s, rootAK, rootSK, append(v4Opts(), oss.HTTPClient(strip))...)
	wantCode(t, put(b, "k"), 400, "InvalidArgument")
	if _, ok := s.Object(bucketName, "k"); ok {
		t.Fatal("an object was stored")
	}
}
