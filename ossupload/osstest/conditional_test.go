package osstest_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
)

// TestConditionalGetHead drives If-Match, If-None-Match, If-Modified-Since
// and If-Unmodified-Since through SDK v1's GetObject and HeadObject
// (GetObjectDetailedMeta): 412 PreconditionFailed or 304, alone and combined.
func TestConditionalGetHead(t *testing.T) {
	clk := &clock{}
	s := newServer(t, osstest.Options{Now: clk.Now})
	if err := s.PutObjectData(bucketName, "k", []byte("content")); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Object(bucketName, "k")
	etag, mod := info.ETag, info.LastModified
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	before, after := mod.Add(-time.Hour), mod.Add(time.Hour)

	tests := []struct {
		name string
		opts []oss.Option
		want int // 200, 304 or 412
	}{
		{"If-Match equal", []oss.Option{oss.IfMatch(etag)}, 200},
		{"If-Match bare ETag", []oss.Option{oss.IfMatch(strings.Trim(etag, `"`))}, 200},
		{"If-Match other", []oss.Option{oss.IfMatch(`"0123"`)}, 412},
		{"If-None-Match equal", []oss.Option{oss.IfNoneMatch(etag)}, 304},
		{"If-None-Match other", []oss.Option{oss.IfNoneMatch(`"0123"`)}, 200},
		{"If-Modified-Since before", []oss.Option{oss.IfModifiedSince(before)}, 200},
		{"If-Modified-Since after", []oss.Option{oss.IfModifiedSince(after)}, 304},
		{"If-Unmodified-Since after", []oss.Option{oss.IfUnmodifiedSince(after)}, 200},
		{"If-Unmodified-Since before", []oss.Option{oss.IfUnmodifiedSince(before)}, 412},
		// RFC 7232 section 6 order.
		{"If-Match true wins over If-Unmodified-Since false", []oss.Option{oss.IfMatch(etag), oss.IfUnmodifiedSince(before)}, 200},
		{"If-None-Match true skips If-Modified-Since", []oss.Option{oss.IfNoneMatch(`"0123"`), oss.IfModifiedSince(after)}, 200},
		{"If-None-Match false is 304 whatever If-Modified-Since", []oss.Option{oss.IfNoneMatch(etag), oss.IfModifiedSince(before)}, 304},
		{"412 before 304", []oss.Option{oss.IfMatch(`"0123"`), oss.IfNoneMatch(etag)}, 412},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := b.GetObject("k", tc.opts...)
			if err == nil {
				body, _ := io.ReadAll(rc)
				rc.Close()
				if string(body) != "content" {
					t.Fatalf("GET body %q", body)
				}
			}
			checkConditional(t, "GET", err, tc.want)
			_, err = b.GetObjectDetailedMeta("k", tc.opts...)
			checkConditional(t, "HEAD", err, tc.want)
		})
	}
}

func checkConditional(t *testing.T, method string, err error, want int) {
	t.Helper()
	switch want {
	case 200:
		if err != nil {
			t.Fatalf("%s: want 200, got %v", method, err)
		}
	case 304:
		// SDK v1 turns a 3xx into a plain error naming the status.
		if err == nil || !strings.Contains(err.Error(), "304") {
			t.Fatalf("%s: want 304, got %v", method, err)
		}
	case 412:
		var se oss.ServiceError
		if !errors.As(err, &se) || se.StatusCode != 412 || se.Code != "PreconditionFailed" || se.Ec != "0017-00001001" {
			t.Fatalf("%s: want 412 PreconditionFailed 0017-00001001, got %v", method, err)
		}
	}
}

// TestNotModifiedHasNoBody: a 304 carries the validators and no body.
func TestNotModifiedHasNoBody(t *testing.T) {
	s := newServer(t, osstest.Options{})
	if err := s.PutObjectData(bucketName, "k", []byte("content")); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Object(bucketName, "k")
	u := s.PresignGetURL(bucketName, "k", time.Now().Add(time.Hour))
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("If-None-Match", info.ETag)
	status, body, _ := fetch(t, req)
	if status != 304 || len(body) != 0 {
		t.Fatalf("got %d with %d body bytes", status, len(body))
	}
}

// TestMultiRange: OSS serves one range per GetObject; a multi-range header
// is ignored (200, whole object), 416 with x-oss-range-behavior: standard,
// and refused over 50 ranges. Never multipart/byteranges.
func TestMultiRange(t *testing.T) {
	s := newServer(t, osstest.Options{})
	if err := s.PutObjectData(bucketName, "k", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	rc, err := b.GetObject("k", oss.NormalizedRange("0-1,5-6"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "0123456789" {
		t.Fatalf("multi-range body %q, want the whole object", body)
	}
	_, err = b.GetObject("k", oss.NormalizedRange("0-1,5-6"), oss.RangeBehavior("standard"))
	wantCode(t, err, 416, "InvalidRange")
	_, err = b.GetObject("k", oss.NormalizedRange(strings.Repeat("0-1,", 50)+"5-6"))
	wantCode(t, err, 400, "MultiRangeFailed")
}
