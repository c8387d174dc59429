package ossupload_test

import (
	"bytes"
	"context"
	"hash/crc64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/ossupload/osstest"
)

// The SDK adapter reads every page of ListParts (OSS answers at most 1000
// parts a page), sends a zero-byte part with a length, and reports HEAD's
// size and CRC-64.
func TestSDKAdapterPagesAndEdges(t *testing.T) {
	s, err := osstest.NewServer(osstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.CreateBucket("adapter")
	const key = "paged.bin"
	id, secret, token, exp := s.IssueToken("adapter", key, time.Hour)
	rec := &bodyRecorder{rt: http.DefaultTransport}
	api, err := ossupload.NewOSSAPI(ossupload.Target{Endpoint: s.URL(), Bucket: "adapter", Key: key, Region: "cn-shanghai"},
		ossupload.StaticCredentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token, Expires: exp},
		ossupload.SDKConfig{HTTPClient: &http.Client{Transport: rec}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	upload, err := api.InitiateMultipartUpload(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	const parts = 2005 // three pages
	for n := 1; n <= parts; n++ {
		body := []byte(strconv.Itoa(n))
		if _, err := api.UploadPart(ctx, ossupload.PartInput{Key: key, UploadID: upload, PartNumber: n, Size: int64(len(body)), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
	}
	listed, err := api.ListParts(ctx, key, upload)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != parts {
		t.Fatalf("ListParts returned %d parts, want %d (all pages)", len(listed), parts)
	}
	for i, p := range listed {
		if p.PartNumber != i+1 || p.Size != int64(len(strconv.Itoa(i+1))) || p.ETag == "" {
			t.Fatalf("entry %d = %+v", i, p)
		}
		// OSS lists each part's HashCrc64ecma, which SDK v1's own
		// ListUploadedParts drops; the engine checks adopted parts by it.
		if want := crc64.Checksum([]byte(strconv.Itoa(i+1)), crc64.MakeTable(crc64.ECMA)); !p.HasCRC || p.CRC64 != want {
			t.Fatalf("entry %d: CRC-64 %d (listed %v), want %d", i, p.CRC64, p.HasCRC, want)
		}
	}
	if err := api.AbortMultipartUpload(ctx, key, upload); err != nil {
		t.Fatal(err)
	}

	// A zero-byte object: one empty part, sent with Content-Length 0.
	upload, err = api.InitiateMultipartUpload(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	out, err := api.UploadPart(ctx, ossupload.PartInput{Key: key, UploadID: upload, PartNumber: 1, Size: 0, Body: bytes.NewReader(nil)})
	if err != nil || !out.HasCRC || out.CRC64 != 0 {
		t.Fatalf("empty part: %+v, %v", out, err)
	}
	if _, err := api.CompleteMultipartUpload(ctx, key, upload, []ossupload.CompletedPart{{PartNumber: 1, ETag: out.ETag}}); err != nil {
		t.Fatal(err)
	}
	info, err := api.HeadObject(ctx, key)
	if err != nil || info.Size != 0 || !info.HasCRC || info.CRC64 != 0 {
		t.Fatalf("HeadObject = %+v, %v; want an empty object with CRC 0", info, err)
	}
	// net/http sends a non-nil body of length 0 chunked, without a
	// Content-Length, which OSS refuses (411); only a nil body goes out as
	// "Content-Length: 0".
	if rec.lastPartBody {
		t.Fatal("the empty part was sent with a body, so without a Content-Length")
	}
}

// bodyRecorder notes whether the last UploadPart request had a body.
type bodyRecorder struct {
	rt           http.RoundTripper
	lastPartBody bool
}

func (b *bodyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Has("partNumber") {
		b.lastPartBody = r.Body != nil && r.Body != http.NoBody
	}
	return b.rt.RoundTrip(r)
}
