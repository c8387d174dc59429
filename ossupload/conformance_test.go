package ossupload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/aliyun/credentials-go/credentials"

	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/ossupload/osstest"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

// Target is one OSS the conformance suite runs against: the fake, the
// emulator (credentials from its ICE), or real OSS.
type Target interface {
	// Grant returns a credential for key (a fresh key per test).
	Grant(t *testing.T, key string) ossupload.Grant
	// ReadObject returns the object's bytes.
	ReadObject(t *testing.T, key string) []byte
	// Seed writes an object directly, as the "old source".
	Seed(t *testing.T, key string, data []byte)
}

func TestConformanceFake(t *testing.T) { runConformance(t, newFakeTarget) }

func TestConformanceEmulator(t *testing.T) { runConformance(t, newEmulatorTarget) }

// TestConformanceReal runs the suite against real OSS. It needs a bucket the
// credentials may write to; nothing here can reach one, so it runs only
// where REUPLOAD_IT_OSS_ENDPOINT, _BUCKET, _REGION, _ACCESS_KEY_ID,
// _ACCESS_KEY_SECRET (and optionally _SECURITY_TOKEN) are set.
func TestConformanceReal(t *testing.T) {
	if os.Getenv("REUPLOAD_IT_OSS_ENDPOINT") == "" {
		t.Skip("real OSS not configured: set REUPLOAD_IT_OSS_ENDPOINT, _BUCKET, _REGION, _ACCESS_KEY_ID, _ACCESS_KEY_SECRET")
	}
	runConformance(t, newRealTarget)
}

func runConformance(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, newTarget(t)) })
	t.Run("ResumeTrustsListParts", func(t *testing.T) { testResume(t, newTarget(t)) })
	t.Run("OldObjectWholeUntilComplete", func(t *testing.T) { testOldUntilComplete(t, newTarget(t)) })
	t.Run("AbortedUploadIsGone", func(t *testing.T) { testAbort(t, newTarget(t)) })
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e37))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testKey(t *testing.T) string {
	return fmt.Sprintf("conformance/%s/%d", t.Name(), time.Now().UnixNano())
}

func api(t *testing.T, g ossupload.Grant) ossupload.PartAPI {
	t.Helper()
	a, err := ossupload.NewOSSAPI(g.Target, ossupload.StaticCredentials(g.Credentials), ossupload.SDKConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func authorizer(t *testing.T, tg Target, key string) ossupload.Authorizer {
	return ossupload.AuthorizerFunc(func(context.Context) (ossupload.Grant, error) { return tg.Grant(t, key), nil })
}

func testOverwrite(t *testing.T, tg Target) {
	key := testKey(t)
	tg.Seed(t, key, []byte("old"))
	data := randomBytes(3*ossupload.MinPartSize+77, 1)
	res, err := ossupload.Upload(context.Background(), authorizer(t, tg, key), ossupload.Source{R: bytes.NewReader(data), Size: int64(len(data))},
		ossupload.Options{PartSize: ossupload.MinPartSize, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := tg.ReadObject(t, key); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, want %d identical", len(got), len(data))
	}
	if res.Parts != 4 {
		t.Fatalf("%d parts, want 4", res.Parts)
	}
}

// countingAPI counts UploadPart calls.
type countingAPI struct {
	ossupload.PartAPI
	parts atomic.Int64
}

func (c *countingAPI) UploadPart(ctx context.Context, in ossupload.PartInput) (ossupload.PartOutput, error) {
	c.parts.Add(1)
	return c.PartAPI.UploadPart(ctx, in)
}

type oneCheckpoint struct {
	mu sync.Mutex
	cp *resume.Checkpoint
}

func (s *oneCheckpoint) Load() (*resume.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cp == nil {
		return nil, fs.ErrNotExist
	}
	c := *s.cp
	return &c, nil
}
func (s *oneCheckpoint) Save(cp *resume.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *cp
	s.cp = &c
	return nil
}
func (s *oneCheckpoint) Remove() error { s.mu.Lock(); s.cp = nil; s.mu.Unlock(); return nil }

// A checkpoint that knows part 1 only, while OSS holds parts 1 and 2: the
// engine must trust ListParts, adopt part 2 by its MD5, and send 3 and 4.
func testResume(t *testing.T, tg Target) {
	ctx := context.Background()
	key := testKey(t)
	g := tg.Grant(t, key)
	a, obj := api(t, g), g.Target.Key // the target may name its own object for key
	data := randomBytes(4*ossupload.MinPartSize, 2)
	id, err := a.InitiateMultipartUpload(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	var first resume.Part
	for n := 1; n <= 2; n++ {
		chunk := data[(n-1)*ossupload.MinPartSize : n*ossupload.MinPartSize]
		out, err := a.UploadPart(ctx, ossupload.PartInput{Key: obj, UploadID: id, PartNumber: n, Size: int64(len(chunk)), Body: bytes.NewReader(chunk)})
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			first = resume.Part{Number: 1, Size: int64(len(chunk)), ETag: out.ETag, CRC64: out.CRC64}
		}
	}
	fp := resume.Fingerprint{Path: "/conformance", Size: int64(len(data)), Sample: fmt.Sprintf("%064x", 1)}
	store := &oneCheckpoint{cp: &resume.Checkpoint{Version: resume.Version, MediaID: "m", Endpoint: g.Target.Endpoint, Bucket: g.Target.Bucket,
		Key: obj, UploadID: id, PartSize: ossupload.MinPartSize, Source: fp, Parts: []resume.Part{first}}}
	counter := &countingAPI{}
	res, err := ossupload.Upload(ctx, authorizer(t, tg, key), ossupload.Source{R: bytes.NewReader(data), Size: int64(len(data)), Fingerprint: fp},
		ossupload.Options{Concurrency: 2, State: store, NewAPI: func(tt ossupload.Target, c ossupload.CredentialsSource) (ossupload.PartAPI, error) {
			inner, err := ossupload.NewOSSAPI(tt, c, ossupload.SDKConfig{})
			counter.PartAPI = inner
			return counter, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.PartsReused != 2 || counter.parts.Load() != 2 || res.UploadID != id {
		t.Fatalf("resumed %v, reused %d, sent %d parts, upload %s; want true, 2, 2, %s", res.Resumed, res.PartsReused, counter.parts.Load(), res.UploadID, id)
	}
	if !bytes.Equal(tg.ReadObject(t, key), data) {
		t.Fatal("object differs")
	}
}

func testOldUntilComplete(t *testing.T, tg Target) {
	ctx := context.Background()
	key := testKey(t)
	old := []byte("the old source, whole")
	tg.Seed(t, key, old)
	g := tg.Grant(t, key)
	a, obj := api(t, g), g.Target.Key
	id, err := a.InitiateMultipartUpload(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	chunk := randomBytes(ossupload.MinPartSize, 3)
	out, err := a.UploadPart(ctx, ossupload.PartInput{Key: obj, UploadID: id, PartNumber: 1, Size: int64(len(chunk)), Body: bytes.NewReader(chunk)})
	if err != nil {
		t.Fatal(err)
	}
	if got := tg.ReadObject(t, key); !bytes.Equal(got, old) {
		t.Fatalf("before Complete the object reads %q, want the old source", got)
	}
	info, err := a.CompleteMultipartUpload(ctx, obj, id, []ossupload.CompletedPart{{PartNumber: 1, ETag: out.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	if !info.HasCRC || info.CRC64 != out.CRC64 {
		t.Fatalf("Complete CRC %d (present %v), want the single part's %d", info.CRC64, info.HasCRC, out.CRC64)
	}
	if !bytes.Equal(tg.ReadObject(t, key), chunk) {
		t.Fatal("after Complete the object is not the new bytes")
	}
}

func testAbort(t *testing.T, tg Target) {
	ctx := context.Background()
	g := tg.Grant(t, testKey(t))
	a, obj := api(t, g), g.Target.Key
	id, err := a.InitiateMultipartUpload(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AbortMultipartUpload(ctx, obj, id); err != nil {
		t.Fatal(err)
	}
	_, err = a.ListParts(ctx, obj, id)
	var oe *ossupload.OSSError
	if !errors.As(err, &oe) || oe.Code != "NoSuchUpload" || oe.Status != 404 {
		t.Fatalf("ListParts after Abort: %v, want 404 NoSuchUpload", err)
	}
}

// fakeTarget is osstest alone, with STS tokens scoped to the test's key.
type fakeTarget struct{ s *osstest.Server }

func newFakeTarget(t *testing.T) Target {
	s, err := osstest.NewServer(osstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.CreateBucket("conformance")
	return &fakeTarget{s}
}

func (f *fakeTarget) Grant(t *testing.T, key string) ossupload.Grant {
	id, secret, token, exp := f.s.IssueToken("conformance", key, time.Hour)
	return ossupload.Grant{Target: ossupload.Target{Endpoint: f.s.URL(), Bucket: "conformance", Key: key, Region: "cn-shanghai"},
		Credentials: ossupload.Credentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token, Expires: exp}}
}

func (f *fakeTarget) ReadObject(t *testing.T, key string) []byte {
	b, err := f.s.ReadObject("conformance", key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fakeTarget) Seed(t *testing.T, key string, data []byte) {
	if err := f.s.PutObjectData("conformance", key, data); err != nil {
		t.Fatal(err)
	}
}

// emulatorTarget gets its credentials the way reupload does: the emulator's
// ICE RefreshUploadMedia, through the refresh client, for a media whose
// source object is the test's.
type emulatorTarget struct {
	em    *emulator.Emulator
	ice   *refresh.Client
	media map[string]emulator.Media
}

func newEmulatorTarget(t *testing.T) Target {
	em, err := emulator.Start(emulator.Config{Media: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(em.Close)
	info := em.Info()
	cred, err := credentials.NewCredential(new(credentials.Config).SetType("access_key").SetAccessKeyId(info.AccessKeyID).SetAccessKeySecret(info.AccessKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	ice, err := refresh.New(refresh.Config{Endpoint: info.ICEEndpoint, Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ice.Close)
	return &emulatorTarget{em: em, ice: ice, media: map[string]emulator.Media{}}
}

func (e *emulatorTarget) mediaFor(t *testing.T, key string) emulator.Media {
	m, ok := e.media[key]
	if !ok {
		var err error
		if m, err = e.em.AddMedia(key); err != nil {
			t.Fatal(err)
		}
		e.media[key] = m
	}
	return m
}

func (e *emulatorTarget) Grant(t *testing.T, key string) ossupload.Grant {
	m := e.mediaFor(t, key)
	up, err := e.ice.RefreshUploadMedia(context.Background(), m.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	return ossupload.Grant{
		Target: ossupload.Target{Endpoint: up.Address.Endpoint, Bucket: up.Address.Bucket, Key: up.Address.FileName, Region: up.Address.Region},
		Credentials: ossupload.Credentials{AccessKeyID: up.Credential.AccessKeyID, AccessKeySecret: up.Credential.AccessKeySecret.Reveal(),
			SecurityToken: up.Credential.SecurityToken.Reveal(), Expires: up.Credential.Expiration},
	}
}

func (e *emulatorTarget) ReadObject(t *testing.T, key string) []byte {
	m := e.mediaFor(t, key)
	b, err := e.em.OSS.ReadObject(m.Bucket, m.Object)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *emulatorTarget) Seed(t *testing.T, key string, data []byte) {
	m := e.mediaFor(t, key)
	if err := e.em.OSS.PutObjectData(m.Bucket, m.Object, data); err != nil {
		t.Fatal(err)
	}
}

// realTarget is a bucket on real OSS.
type realTarget struct {
	endpoint, bucket, region string
	creds                    ossupload.Credentials
	b                        *oss.Bucket
}

func newRealTarget(t *testing.T) Target {
	env := func(k string) string { return os.Getenv("REUPLOAD_IT_" + k) }
	r := &realTarget{endpoint: env("OSS_ENDPOINT"), bucket: env("BUCKET"), region: env("REGION"),
		creds: ossupload.Credentials{AccessKeyID: env("ACCESS_KEY_ID"), AccessKeySecret: env("ACCESS_KEY_SECRET"), SecurityToken: env("SECURITY_TOKEN")}}
	opts := []oss.ClientOption{oss.AuthVersion(oss.AuthV4), oss.Region(r.region)}
	if r.creds.SecurityToken != "" {
		opts = append(opts, oss.SecurityToken(r.creds.SecurityToken))
	}
	c, err := oss.New(r.endpoint, r.creds.AccessKeyID, r.creds.AccessKeySecret, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if r.b, err = c.Bucket(r.bucket); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *realTarget) Grant(t *testing.T, key string) ossupload.Grant {
	t.Cleanup(func() { r.b.DeleteObject(key) })
	return ossupload.Grant{Target: ossupload.Target{Endpoint: r.endpoint, Bucket: r.bucket, Key: key, Region: r.region}, Credentials: r.creds}
}

func (r *realTarget) ReadObject(t *testing.T, key string) []byte {
	rc, err := r.b.GetObject(key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *realTarget) Seed(t *testing.T, key string, data []byte) {
	if err := r.b.PutObject(key, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}
