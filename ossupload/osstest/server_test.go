package osstest_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
)

// dialTo is an HTTP client whose every connection goes to addr, whatever the
// URL's host: the SDK then addresses buckets as bkt.<endpoint>.
func dialTo(addr string) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestVirtualHostedAddressing(t *testing.T) {
	s := newServer(t, osstest.Options{})
	hc := dialTo(strings.TrimPrefix(s.URL(), "http://"))
	defer hc.CloseIdleConnections()
	for _, name := range []string{"V1", "V4"} {
		t.Run(name, func(t *testing.T) {
			opts := []oss.ClientOption{oss.HTTPClient(hc)}
			if name == "V4" {
				opts = append(opts, v4Opts()...)
			}
			c, err := oss.New("http://oss-cn-shanghai.aliyuncs.com", rootAK, rootSK, opts...)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := c.Bucket(bucketName)
			key := "vh/" + name + "/a b.txt"
			if err := b.PutObject(key, strings.NewReader("virtual")); err != nil {
				t.Fatal(err)
			}
			if got := mustRead(t, s, key); string(got) != "virtual" {
				t.Fatalf("content %q", got)
			}
			imur, err := b.InitiateMultipartUpload(key)
			if err != nil {
				t.Fatal(err)
			}
			res, err := b.ListMultipartUploads() // bucket-level: GET / on bkt.<endpoint>
			if err != nil || len(res.Uploads) != 1 || res.Uploads[0].UploadID != imur.UploadID {
				t.Fatalf("ListMultipartUploads = %+v, %v", res, err)
			}
			if err := b.AbortMultipartUpload(imur); err != nil {
				t.Fatal(err)
			}
			other, _ := c.Bucket("missing")
			wantCode(t, other.PutObject("k", strings.NewReader("x")), 404, "NoSuchBucket")
		})
	}

	// By hand: bucket in Host, key alone in the path.
	req, _ := http.NewRequest("GET", s.URL()+"/vh/V1/a%20b.txt", nil)
	req.Host = "bkt.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Anonymous, so denied, but addressed to the bucket that exists.
	if resp.StatusCode != 403 || !bytes.Contains(body, []byte("<HostId>bkt.localhost</HostId>")) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// The fake also works mounted as a handler in another server.
func TestServeHTTPMounted(t *testing.T) {
	s := newServer(t, osstest.Options{})
	ts := httptest.NewServer(s)
	defer ts.Close()
	c, err := oss.New(ts.URL, rootAK, rootSK, v4Opts()...)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Bucket(bucketName)
	if err := b.PutObject("m", strings.NewReader("mounted")); err != nil {
		t.Fatal(err)
	}
}

func TestZeroBytePutObjectChunked(t *testing.T) {
	// Go's client sends a zero-length PUT body chunked, without Content-Length.
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	if err := b.PutObject("empty", strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if info, ok := s.Object(bucketName, "empty"); !ok || info.Size != 0 || info.ETag != `"D41D8CD98F00B204E9800998ECF8427E"` {
		t.Fatalf("Object() = %+v, %v", info, ok)
	}
}

func TestLatency(t *testing.T) {
	s := newServer(t, osstest.Options{Latency: 60 * time.Millisecond, LatencyJitter: 20 * time.Millisecond})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	start := time.Now()
	_, err := b.GetObjectDetailedMeta("missing")
	wantCode(t, err, 404, "NoSuchKey") // errors are delayed too
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("answered in %v", d)
	}
}

func TestConnBandwidth(t *testing.T) {
	s := newServer(t, osstest.Options{ConnBandwidth: 1 << 20}) // 1 MiB/s, bursts of 100 KiB
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	data := randomBytes(512<<10, 8)
	start := time.Now()
	if err := b.PutObject("slow", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	// (512 KiB - one burst) at 1 MiB/s is about 0.4 s.
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Fatalf("512 KiB at 1 MiB/s took %v", d)
	}
}

func TestTotalBandwidth(t *testing.T) {
	s := newServer(t, osstest.Options{TotalBandwidth: 2 << 20})
	data := randomBytes(512<<10, 9)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := bucket(t, s, rootAK, rootSK, v4Opts()...) // its own connection
			errs <- b.PutObject("t"+string(rune('0'+i)), bytes.NewReader(data))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// 2 MiB shared at 2 MiB/s, less one burst: about 0.9 s.
	if d := time.Since(start); d < 700*time.Millisecond || d > 5*time.Second {
		t.Fatalf("4 × 512 KiB at 2 MiB/s total took %v", d)
	}
}

// Close ends stalls and waits for handlers; goleak (TestMain) checks that
// nothing is left running.
func TestCloseEndsStalledRequests(t *testing.T) {
	s, err := osstest.NewServer(osstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.CreateBucket(bucketName)
	s.AddAccessKey(rootAK, rootSK)
	s.AddFault(osstest.Fault{Op: "*", Stall: time.Hour})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := b.GetObjectDetailedMeta("k")
		done <- err
	}()
	<-started
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Requests["HeadObject"] == 0; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the request never arrived")
		}
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-done; err == nil {
		t.Fatal("the stalled request succeeded")
	}
	s.Close() // twice is fine
}

func TestLoggerNeverLogsSecrets(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	h := slog.NewTextHandler(lockedWriter{&buf, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})
	s := newServer(t, osstest.Options{Logger: slog.New(h)})
	ak, sk, tok, _ := s.IssueToken(bucketName, "k", time.Hour)
	good := bucket(t, s, ak, sk, append(v4Opts(), oss.SecurityToken(tok))...)
	if err := good.PutObject("k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	bad := bucket(t, s, rootAK, "not-the-secret", v4Opts()...)
	wantCode(t, bad.PutObject("k", strings.NewReader("x")), 403, "SignatureDoesNotMatch")
	s.AddFault(osstest.Fault{Op: "*", Status: 500})
	_ = good.PutObject("k", strings.NewReader("x"))
	s.Close()
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "PutObject") {
		t.Fatalf("nothing logged: %q", out)
	}
	for _, secret := range []string{sk, tok, rootSK, "not-the-secret", "Signature="} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains a secret (%.12s…):\n%s", secret, out)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestStats(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	imur := initiate(t, b, "k")
	p1, err := b.UploadPart(imur, bytes.NewReader(randomBytes(150_000, 1)), 150_000, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.UploadPart(imur, strings.NewReader("abcd"), 4, 2, oss.ContentMD5("1B2M2Y8AsgTpgAmY7PhCfg=="))
	wantCode(t, err, 400, "InvalidDigest")
	p2, err := b.UploadPart(imur, strings.NewReader("abcd"), 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ListUploadedParts(imur); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CompleteMultipartUpload(imur, []oss.UploadPart{p1, p2}); err != nil {
		t.Fatal(err)
	}
	_, err = b.GetObjectDetailedMeta("nope")
	wantCode(t, err, 404, "NoSuchKey")
	wantCode(t, bucket(t, s, "who", "x", v4Opts()...).PutObject("k", strings.NewReader("x")), 403, "InvalidAccessKeyId")

	st := s.Stats()
	wantReq := map[string]int{
		"InitiateMultipartUpload": 1, "UploadPart": 3, "ListParts": 1, "CompleteMultipartUpload": 1,
		"HeadObject": 1, "PutObject": 1,
	}
	if len(st.Requests) != len(wantReq) {
		t.Fatalf("Requests = %v, want %v", st.Requests, wantReq)
	}
	for k, v := range wantReq {
		if st.Requests[k] != v {
			t.Fatalf("Requests = %v, want %v", st.Requests, wantReq)
		}
	}
	wantErr := map[string]int{"InvalidDigest": 1, "NoSuchKey": 1, "InvalidAccessKeyId": 1}
	if len(st.Errors) != len(wantErr) {
		t.Fatalf("Errors = %v, want %v", st.Errors, wantErr)
	}
	for k, v := range wantErr {
		if st.Errors[k] != v {
			t.Fatalf("Errors = %v, want %v", st.Errors, wantErr)
		}
	}
	if st.PartBytesReceived != 150_000+4+4 { // the rejected part's bytes were received too
		t.Fatalf("PartBytesReceived = %d", st.PartBytesReceived)
	}
	st.Requests["UploadPart"] = 99 // a copy: the server's counters are untouched
	if s.Stats().Requests["UploadPart"] != 3 {
		t.Fatal("Stats shares its maps")
	}
}
