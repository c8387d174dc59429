package ossupload

import (
	"bytes"
	"context"
	"errors"
	"hash/crc64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/reupload/reupload/ossupload/osstest"
	"go.uber.org/goleak"
)

// deadlineCounter is a net.Conn that counts SetDeadline calls.
type deadlineCounter struct {
	net.Conn
	sets int
}

func (d *deadlineCounter) SetDeadline(time.Time) error { d.sets++; return nil }
func (d *deadlineCounter) Write(b []byte) (int, error) { return len(b), nil }
func (d *deadlineCounter) Read(b []byte) (int, error)  { return len(b), nil }

// A busy connection pushes its deadline once per idle/16, not around every
// call as the SDK's connection wrapper does.
func TestIdleConnArmsRarely(t *testing.T) {
	dc := &deadlineCounter{}
	c := newIdleConn(dc, time.Hour)
	buf := make([]byte, 32<<10)
	for range 1000 {
		c.Write(buf)
		c.Read(buf)
	}
	if dc.sets != 1 {
		t.Fatalf("SetDeadline called %d times for 2000 calls within an idle/16, want 1 (on dial)", dc.sets)
	}
	c.armed.Store(time.Now().Add(-time.Hour / 8).UnixNano()) // the last push is old
	c.Write(buf)
	if dc.sets != 2 {
		t.Fatalf("SetDeadline called %d times, want 2: a push older than idle/16 is renewed", dc.sets)
	}
}

// An endpoint that takes the whole part and then never answers fails the
// call with a retryable timeout after about IdleTimeout, through the
// adapter's default client.
func TestAdapterIdleTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { ln.Close(); <-done }()
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c) // reads everything, answers nothing, until the client hangs up
	}()
	const idle = 300 * time.Millisecond
	a, err := NewOSSAPI(Target{Endpoint: "http://" + ln.Addr().String(), Bucket: "bucket", Key: "k", Region: "cn-shanghai"},
		StaticCredentials{AccessKeyID: "id", AccessKeySecret: "secret", SecurityToken: "token"}, SDKConfig{IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only a broken timeout gets here
	defer cancel()
	body := bytes.Repeat([]byte{1}, 1<<20)
	began := time.Now()
	_, err = a.UploadPart(ctx, PartInput{Key: "k", UploadID: "u", PartNumber: 1, Size: int64(len(body)), Body: bytes.NewReader(body)})
	took := time.Since(began)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || ctx.Err() != nil {
		t.Fatalf("UploadPart = %v, want a net timeout before the test's own deadline", err)
	}
	if classify(err) != classRetryable {
		t.Fatalf("classify(%v) = %v, want retryable", err, classify(err))
	}
	if took < idle*15/16 {
		t.Fatalf("failed after %v, before the idle timeout %v", took, idle)
	}
}

// Over https (every real OSS endpoint) the adapter's client runs TLS on top
// of its idle-timeout connections: a part goes up whole and OSS's CRC-64 of
// it comes back.
func TestAdapterClientOverTLS(t *testing.T) {
	s := ossServer(t, "tls-bucket")
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	hc := newHTTPClient(time.Second, 10*time.Second)
	hc.Transport.(*http.Transport).TLSClientConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	id, secret, token, exp := s.IssueToken("tls-bucket", "k", time.Hour)
	a, err := NewOSSAPI(Target{Endpoint: ts.URL, Bucket: "tls-bucket", Key: "k", Region: "cn-shanghai"},
		StaticCredentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token, Expires: exp}, SDKConfig{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	upload, err := a.InitiateMultipartUpload(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("reupload over tls "), 100_000)
	out, err := a.UploadPart(ctx, PartInput{Key: "k", UploadID: upload, PartNumber: 1, Size: int64(len(body)), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	if want := crc64.Checksum(body, crc64.MakeTable(crc64.ECMA)); !out.HasCRC || out.CRC64 != want {
		t.Fatalf("part CRC %d (present %v), want %d", out.CRC64, out.HasCRC, want)
	}
}

// When an upload ends, the adapter's connections end with it: a batch does
// not pile up idle connections (two goroutines each) until they time out.
func TestUploadClosesItsConnections(t *testing.T) {
	s := ossServer(t, "conn-bucket")
	data := bytes.Repeat([]byte{7}, 3*MinPartSize)
	before := goleak.IgnoreCurrent()
	auth := AuthorizerFunc(func(context.Context) (Grant, error) {
		id, secret, token, exp := s.IssueToken("conn-bucket", "k", time.Hour)
		return Grant{Target: Target{Endpoint: s.URL(), Bucket: "conn-bucket", Key: "k", Region: "cn-shanghai"},
			Credentials: Credentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token, Expires: exp}}, nil
	})
	if _, err := Upload(context.Background(), auth, Source{R: bytes.NewReader(data), Size: int64(len(data))},
		Options{PartSize: MinPartSize, Concurrency: 3}); err != nil {
		t.Fatal(err)
	}
	// The server stays up: only the client closing its side ends these.
	goleak.VerifyNone(t, before)
}

// ossServer starts a fake OSS with one bucket, closed when the test ends.
func ossServer(t *testing.T, bucket string) *osstest.Server {
	t.Helper()
	s, err := osstest.NewServer(osstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.CreateBucket(bucket)
	return s
}
