package osstest_test

import (
	"bytes"
	"errors"
	"hash/crc64"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	bucketName = "bkt"
	rootAK     = "root-ak"
	rootSK     = "root-secret"
	region     = "cn-shanghai"
)

// clock is an injectable Now that tests move forward.
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

// newServer starts a server with bucket "bkt" and a root key, closed when the test ends.
func newServer(t testing.TB, opts osstest.Options) *osstest.Server {
	t.Helper()
	s, err := osstest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.CreateBucket(bucketName)
	s.AddAccessKey(rootAK, rootSK)
	return s
}

func v4Opts() []oss.ClientOption {
	return []oss.ClientOption{oss.AuthVersion(oss.AuthV4), oss.Region(region)}
}

// bucket returns an SDK handle on "bkt" at s.
func bucket(t testing.TB, s *osstest.Server, ak, sk string, opts ...oss.ClientOption) *oss.Bucket {
	t.Helper()
	c, err := oss.New(s.URL(), ak, sk, opts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Bucket(bucketName)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// initiate starts a multipart upload of key through b.
func initiate(t testing.TB, b *oss.Bucket, key string) oss.InitiateMultipartUploadResult {
	t.Helper()
	imur, err := b.InitiateMultipartUpload(key)
	if err != nil {
		t.Fatal(err)
	}
	return imur
}

// stsBucket signs with a fresh STS token for bkt/object, V4.
func stsBucket(t testing.TB, s *osstest.Server, object string, ttl time.Duration) *oss.Bucket {
	t.Helper()
	ak, sk, tok, _ := s.IssueToken(bucketName, object, ttl)
	return bucket(t, s, ak, sk, append(v4Opts(), oss.SecurityToken(tok))...)
}

// wantCode fails unless err is an OSS ServiceError with this status and code.
func wantCode(t testing.TB, err error, status int, code string) oss.ServiceError {
	t.Helper()
	var se oss.ServiceError
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
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src.bin")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func crcOf(b []byte) uint64 { return crc64.Checksum(b, crc64.MakeTable(crc64.ECMA)) }

// mustRead reads an object through the server, failing the test on error.
func mustRead(t testing.TB, s *osstest.Server, key string) []byte {
	t.Helper()
	b, err := s.ReadObject(bucketName, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d bytes (content differs)", what, len(got), len(want))
	}
}
