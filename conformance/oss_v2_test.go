package conformance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/reupload/reupload/ossupload/osstest"
)

const (
	bucketName = "bkt"
	region     = "cn-shanghai"
	rootAK     = "root-ak"
	rootSK     = "root-secret"
)

// clock is the fake's injected Now; tests move it forward to expire URLs.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// startOSS starts the fake OSS in-process with bucket "bkt" and a root key.
func startOSS(t *testing.T, clk *clock) *osstest.Server {
	t.Helper()
	s, err := osstest.NewServer(osstest.Options{Region: region, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.CreateBucket(bucketName)
	s.AddAccessKey(rootAK, rootSK)
	return s
}

// v2Client is an OSS Go SDK v2 client on s (V4 signing, its default).
func v2Client(s *osstest.Server, ak, sk, token string) *oss.Client {
	cfg := oss.LoadDefaultConfig().
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, sk, token)).
		WithRegion(region).
		WithEndpoint(s.URL()).
		WithUsePathStyle(true).
		WithRetryMaxAttempts(1)
	return oss.NewClient(cfg)
}

func wantV2Code(t *testing.T, err error, status int, code string) *oss.ServiceError {
	t.Helper()
	var se *oss.ServiceError
	if !errors.As(err, &se) {
		t.Fatalf("want ServiceError %d %s, got %T %v", status, code, err, err)
	}
	if se.StatusCode != status || se.Code != code {
		t.Fatalf("want %d %s, got %d %s (%s)", status, code, se.StatusCode, se.Code, se.Message)
	}
	return se
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func getBody(t *testing.T, c *oss.Client, key string) []byte {
	t.Helper()
	res, err := c.GetObject(context.Background(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestV2PutGetMultipart: PutObject, GetObject (whole and ranged, the SDK
// checks the CRC-64), the Uploader's parallel multipart upload, and a
// multipart upload driven by hand, all with an STS token.
func TestV2PutGetMultipart(t *testing.T) {
	ctx := context.Background()
	s := startOSS(t, &clock{})
	ak, sk, tok, _ := s.IssueToken(bucketName, "video.mp4", time.Hour)
	c := v2Client(s, ak, sk, tok)

	small := randomBytes(1000, 1)
	if _, err := c.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("video.mp4"), Body: bytes.NewReader(small)}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if got := getBody(t, c, "video.mp4"); !bytes.Equal(got, small) {
		t.Fatal("GetObject: content differs")
	}
	res, err := c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("video.mp4"), Range: oss.Ptr("bytes=10-19")})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 206 || !bytes.Equal(part, small[10:20]) {
		t.Fatalf("ranged GET: %d, %d bytes", res.StatusCode, len(part))
	}

	// The Uploader: 5 parts of 100 KiB and a tail, 3 at a time.
	big := randomBytes(5*100<<10+123, 2)
	u := c.NewUploader(func(o *oss.UploaderOptions) { o.PartSize = 100 << 10; o.ParallelNum = 3 })
	ur, err := u.UploadFrom(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("video.mp4")}, bytes.NewReader(big))
	if err != nil {
		t.Fatalf("Uploader: %v", err)
	}
	if ur.UploadId == nil {
		t.Fatal("Uploader did not use multipart")
	}
	if got := getBody(t, c, "video.mp4"); !bytes.Equal(got, big) {
		t.Fatal("after Uploader: content differs")
	}

	// By hand: Initiate, two parts out of order, ListParts, Complete.
	init, err := c.InitiateMultipartUpload(ctx, &oss.InitiateMultipartUploadRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("video.mp4")})
	if err != nil {
		t.Fatal(err)
	}
	halves := [][]byte{big[:200<<10], big[200<<10:]}
	var parts []oss.UploadPart
	for _, n := range []int32{2, 1} {
		pr, err := c.UploadPart(ctx, &oss.UploadPartRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("video.mp4"),
			UploadId: init.UploadId, PartNumber: n, Body: bytes.NewReader(halves[n-1])})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", n, err)
		}
		parts = append(parts, oss.UploadPart{PartNumber: n, ETag: pr.ETag})
	}
	lp, err := c.ListParts(ctx, &oss.ListPartsRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("video.mp4"), UploadId: init.UploadId})
	if err != nil || len(lp.Parts) != 2 || lp.Parts[0].PartNumber != 1 {
		t.Fatalf("ListParts: %+v, %v", lp, err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &oss.CompleteMultipartUploadRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("video.mp4"),
		UploadId: init.UploadId, CompleteMultipartUpload: &oss.CompleteMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if got := getBody(t, c, "video.mp4"); !bytes.Equal(got, big) {
		t.Fatal("after Complete: content differs")
	}

	// Abort leaves no upload behind; the token cannot touch another key.
	init, err = c.InitiateMultipartUpload(ctx, &oss.InitiateMultipartUploadRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("video.mp4")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &oss.AbortMultipartUploadRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("video.mp4"), UploadId: init.UploadId}); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if n := len(s.Uploads(bucketName)); n != 0 {
		t.Fatalf("%d uploads left", n)
	}
	_, err = c.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("other"), Body: bytes.NewReader(small)})
	wantV2Code(t, err, 403, "AccessDenied")
}

// TestV2EmptyStreamUpload: the Uploader on an empty stream of unknown size
// completes a multipart upload with no parts; OSS makes an empty object.
func TestV2EmptyStreamUpload(t *testing.T) {
	s := startOSS(t, &clock{})
	c := v2Client(s, rootAK, rootSK, "")
	u := c.NewUploader()
	_, err := u.UploadFrom(context.Background(), &oss.PutObjectRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("empty")}, io.MultiReader())
	if err != nil {
		t.Fatalf("Uploader on an empty stream: %v", err)
	}
	if info, ok := s.Object(bucketName, "empty"); !ok || info.Size != 0 {
		t.Fatalf("Object() = %+v, %v", info, ok)
	}
}

// TestV2Conditional: If-Match/If-Unmodified-Since fail with 412,
// If-None-Match/If-Modified-Since with 304, on GetObject and HeadObject.
func TestV2Conditional(t *testing.T) {
	ctx := context.Background()
	s := startOSS(t, &clock{})
	if err := s.PutObjectData(bucketName, "k", []byte("content")); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Object(bucketName, "k")
	c := v2Client(s, rootAK, rootSK, "")
	old := info.LastModified.Add(-time.Hour).UTC().Format(http.TimeFormat)
	later := info.LastModified.Add(time.Hour).UTC().Format(http.TimeFormat)

	tests := []struct {
		name                                 string
		ifMatch, ifNoneMatch, ifMod, ifUnmod *string
		want                                 int
	}{
		{"If-Match equal", oss.Ptr(info.ETag), nil, nil, nil, 200},
		{"If-Match other", oss.Ptr(`"0123"`), nil, nil, nil, 412},
		{"If-None-Match equal", nil, oss.Ptr(info.ETag), nil, nil, 304},
		{"If-Modified-Since later", nil, nil, oss.Ptr(later), nil, 304},
		{"If-Modified-Since earlier", nil, nil, oss.Ptr(old), nil, 200},
		{"If-Unmodified-Since earlier", nil, nil, nil, oss.Ptr(old), 412},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("k"),
				IfMatch: tc.ifMatch, IfNoneMatch: tc.ifNoneMatch, IfModifiedSince: tc.ifMod, IfUnmodifiedSince: tc.ifUnmod})
			if err == nil {
				res.Body.Close()
			}
			checkV2Status(t, "GET", err, tc.want)
			_, err = c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("k"),
				IfMatch: tc.ifMatch, IfNoneMatch: tc.ifNoneMatch, IfModifiedSince: tc.ifMod, IfUnmodifiedSince: tc.ifUnmod})
			checkV2Status(t, "HEAD", err, tc.want)
		})
	}
}

func checkV2Status(t *testing.T, method string, err error, want int) {
	t.Helper()
	if want == 200 {
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return
	}
	var se *oss.ServiceError
	if !errors.As(err, &se) || se.StatusCode != want {
		t.Fatalf("%s: want status %d, got %v", method, want, err)
	}
	if want == 412 && se.Code != "PreconditionFailed" {
		t.Fatalf("%s: code %s", method, se.Code)
	}
}

// TestV2Presign: a V4 presigned GET (with and without an STS token) works
// until it expires on the fake's clock, then 403 AccessDenied "Request has
// expired.".
func TestV2Presign(t *testing.T) {
	clk := &clock{}
	s := startOSS(t, clk)
	if err := s.PutObjectData(bucketName, "k", []byte("content")); err != nil {
		t.Fatal(err)
	}
	ak, sk, tok, _ := s.IssueToken(bucketName, "k", time.Hour)
	for _, c := range []*oss.Client{v2Client(s, rootAK, rootSK, ""), v2Client(s, ak, sk, tok)} {
		pr, err := c.Presign(context.Background(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucketName), Key: oss.Ptr("k")},
			oss.PresignExpires(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(pr.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "content" {
			t.Fatalf("GET %s: %d %s", pr.URL, resp.StatusCode, body)
		}
		clk.Advance(11 * time.Minute)
		resp, err = http.Get(pr.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !bytes.Contains(body, []byte("<Message>Request has expired.</Message>")) ||
			!bytes.Contains(body, []byte("<EC>0002-00000069</EC>")) {
			t.Fatalf("expired URL: %d %s", resp.StatusCode, body)
		}
		clk.Advance(-11 * time.Minute)
	}
}
