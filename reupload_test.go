package reupload_test

import (
	"bytes"
	"context"
	"errors"
	"hash/crc64"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"go.uber.org/goleak"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

func TestMain(m *testing.M) {
	os.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	goleak.VerifyTestMain(m)
}

type harness struct {
	em    *emulator.Emulator
	info  emulator.Info
	state string
	c     *reupload.Client
}

func newHarness(t *testing.T, cfg emulator.Config) *harness {
	t.Helper()
	em, err := emulator.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(em.Close)
	h := &harness{em: em, info: em.Info(), state: t.TempDir()}
	h.c = h.client(t)
	return h
}

func (h *harness) client(t *testing.T) *reupload.Client {
	t.Helper()
	cred, err := credentials.NewCredential(new(credentials.Config).SetType("access_key").SetAccessKeyId(h.info.AccessKeyID).SetAccessKeySecret(h.info.AccessKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := reupload.New(reupload.Config{Endpoint: h.info.ICEEndpoint, Credential: cred, StateDir: h.state,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}) // retries without waiting
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFile(t *testing.T, size int64, seed uint64) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	p := filepath.Join(t.TempDir(), "src.mp4")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

func (h *harness) object(t *testing.T, m emulator.Media) []byte {
	t.Helper()
	b, err := h.em.OSS.ReadObject(m.Bucket, m.Object)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The mission: a 200 MiB file replaces a media's source, byte for byte, with
// the MediaId unchanged, and the result's CRC-64 is the file's.
func TestOverwrite200MiB(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	path, data := writeFile(t, 200<<20, 1)
	res, err := h.c.Overwrite(context.Background(), m.MediaID, path, reupload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Fatal("object on OSS differs from the file")
	}
	want := strconv.FormatUint(crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)), 10)
	if res.CRC64 != want || res.MediaID != m.MediaID || res.Object != m.Object || res.Parts != 25 {
		t.Fatalf("result %+v, want CRC %s and 25 parts of 8 MiB", res, want)
	}
	if cps, _ := h.c.Store().List(); len(cps) != 0 {
		t.Fatalf("checkpoints left after success: %d", len(cps))
	}
}

func TestZeroAndTinyFiles(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	for _, size := range []int64{0, 1, 100 << 10} {
		path, data := writeFile(t, size, uint64(size))
		if _, err := h.c.Overwrite(context.Background(), m.MediaID, path, reupload.Options{}); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if got := h.object(t, m); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: object has %d bytes", size, len(got))
		}
	}
}

// fakeClock is shared by the emulator and the engine: time moves only when
// the test says, so credential expiry is deterministic.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// A credential that expires mid-upload is refreshed before any part fails.
func TestRefreshMidUploadCostsNoFailedPart(t *testing.T) {
	clock := &fakeClock{}
	clock.ns.Store(time.Now().UnixNano())
	h := newHarness(t, emulator.Config{STSTTL: 100 * time.Second, Now: clock.Now})
	m := h.info.Media[0]
	path, data := writeFile(t, 30<<20, 2)
	opts := reupload.Options{PartSize: 1 << 20, Concurrency: 2}
	opts.Engine.Now = clock.Now
	opts.OnEvent = func(ev ossupload.Event) {
		if ev.Kind == ossupload.EventPartDone {
			clock.Advance(10 * time.Second) // 30 parts × 10 s = three credential lifetimes
		}
	}
	res, err := h.c.Overwrite(context.Background(), m.MediaID, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Fatal("object differs")
	}
	st := h.em.OSS.Stats()
	if res.Refreshes < 2 || res.Retries != 0 || st.Errors["SecurityTokenExpired"] != 0 {
		t.Fatalf("refreshes %d, retries %d, expired-token answers %d: want >= 2, 0, 0", res.Refreshes, res.Retries, st.Errors["SecurityTokenExpired"])
	}
	if got := h.em.ICE.Calls("RefreshUploadMedia"); got != res.Refreshes+1 {
		t.Fatalf("RefreshUploadMedia calls %d, want %d", got, res.Refreshes+1)
	}
}

// Every token expires at once under parts in flight: one RefreshUploadMedia
// call, and the upload carries on with the same upload ID.
func TestExpiredTokensRefreshOnce(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	path, data := writeFile(t, 24<<20, 3)
	var once sync.Once
	opts := reupload.Options{PartSize: 1 << 20, Concurrency: 8}
	opts.OnEvent = func(ev ossupload.Event) {
		if ev.Kind == ossupload.EventPartDone {
			once.Do(h.em.OSS.ExpireTokens)
		}
	}
	res, err := h.c.Overwrite(context.Background(), m.MediaID, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Fatal("object differs")
	}
	if res.Refreshes != 1 || h.em.ICE.Calls("RefreshUploadMedia") != 2 {
		t.Fatalf("refreshes %d, ICE calls %d; want 1 and 2", res.Refreshes, h.em.ICE.Calls("RefreshUploadMedia"))
	}
	if n := h.em.OSS.Stats().Requests["InitiateMultipartUpload"]; n != 1 {
		t.Fatalf("%d uploads initiated, want 1 (same upload ID throughout)", n)
	}
}

// An interrupted run keeps the old source whole and a checkpoint; the rerun
// sends only what OSS lacks.
func TestInterruptThenResume(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	const partSize, parts, jobs = 1 << 20, 40, 4
	path, data := writeFile(t, parts*partSize, 4)
	ctx, cancel := context.WithCancel(context.Background())
	var done atomic.Int64
	opts := reupload.Options{PartSize: partSize, Concurrency: jobs}
	opts.OnEvent = func(ev ossupload.Event) {
		if ev.Kind == ossupload.EventPartDone && done.Add(1) == parts/2 {
			cancel()
		}
	}
	_, err := h.c.Overwrite(ctx, m.MediaID, path, opts)
	if !errors.Is(err, context.Canceled) || reupload.ExitCode(err) != reupload.ExitInterrupted {
		t.Fatalf("interrupted run: %v (exit %d)", err, reupload.ExitCode(err))
	}
	if !bytes.Equal(h.object(t, m), emulator.OldSource(m.MediaID)) {
		t.Fatal("old source changed before Complete")
	}
	if ups := h.em.OSS.Uploads(m.Bucket); len(ups) != 1 {
		t.Fatalf("%d uploads on OSS, want the 1 to resume", len(ups))
	}
	cps, err := h.c.Store().List()
	if err != nil || len(cps) != 1 {
		t.Fatalf("checkpoints %d, err %v; want 1", len(cps), err)
	}
	onOSS, onOSSBytes, gone, err := h.c.Confirmed(context.Background(), cps[0])
	if err != nil || gone || onOSS < parts/2 || onOSSBytes != int64(onOSS)*partSize || onOSS < len(cps[0].Parts) {
		t.Fatalf("OSS holds %d parts (%d bytes, gone %v, err %v); the checkpoint names %d; want >= %d", onOSS, onOSSBytes, gone, err, len(cps[0].Parts), parts/2)
	}

	opts.OnEvent = nil
	res, err := h.c.Overwrite(context.Background(), m.MediaID, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.PartsReused < parts/2 {
		t.Fatalf("resumed %v with %d parts reused, want >= %d", res.Resumed, res.PartsReused, parts/2)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Fatal("object differs")
	}
	total := h.em.OSS.Stats().PartBytesReceived
	if waste := total - int64(len(data)); waste > jobs*partSize {
		t.Fatalf("re-sent %d bytes, more than the %d parts in flight (%d bytes)", waste, jobs, jobs*partSize)
	}
}

func TestSecondConcurrentRunIsRefused(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	path, _ := writeFile(t, 1<<20, 5)
	lock, err := h.c.Store().Lock(m.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	_, err = h.c.Overwrite(context.Background(), m.MediaID, path, reupload.Options{})
	var le *resume.LockedError
	if !errors.As(err, &le) || reupload.ExitCode(err) != reupload.ExitFailed {
		t.Fatalf("err = %v, want LockedError with exit 1", err)
	}
	if n := h.em.ICE.Calls("RefreshUploadMedia"); n != 0 {
		t.Fatalf("a refused run still called ICE %d times", n)
	}
}

func TestBadInputIsRejectedBeforeAnyCall(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	small, _ := writeFile(t, 10, 6)
	for name, c := range map[string]struct {
		media, path string
		opts        reupload.Options
	}{
		"missing file":   {m.MediaID, filepath.Join(t.TempDir(), "nope.mp4"), reupload.Options{}},
		"directory":      {m.MediaID, t.TempDir(), reupload.Options{}},
		"bad media id":   {"../etc", small, reupload.Options{}},
		"tiny part size": {m.MediaID, small, reupload.Options{PartSize: 1000}},
	} {
		_, err := h.c.Overwrite(context.Background(), c.media, c.path, c.opts)
		var ie *reupload.InputError
		if !errors.As(err, &ie) || reupload.ExitCode(err) != reupload.ExitUsage {
			t.Errorf("%s: err = %v (exit %d), want InputError and exit 2", name, err, reupload.ExitCode(err))
		}
	}
	if n := h.em.ICE.Calls("RefreshUploadMedia"); n != 0 {
		t.Fatalf("bad input reached ICE %d times", n)
	}
}

func TestUnknownMediaIsTypedAndNothingChanges(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	path, _ := writeFile(t, 1<<20, 7)
	_, err := h.c.Overwrite(context.Background(), strings.Repeat("ab", 16), path, reupload.Options{})
	var ae *refresh.APIError
	if !errors.As(err, &ae) || !errors.Is(err, refresh.ErrNotFound) || reupload.ExitCode(err) != reupload.ExitFailed {
		t.Fatalf("err = %v, want a not-found APIError with exit 1", err)
	}
}

// No secret the emulator handed out may appear in the result, the
// checkpoint, or any error text.
func TestNoSecretInCheckpointOrResult(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	path, _ := writeFile(t, 8<<20, 8)
	var secrets []string
	probe, err := h.c.ICE().RefreshUploadMedia(context.Background(), m.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, probe.Credential.AccessKeySecret.Reveal(), probe.Credential.SecurityToken.Reveal(), h.info.AccessKeySecret)
	ctx, cancel := context.WithCancel(context.Background())
	opts := reupload.Options{PartSize: 1 << 20, Concurrency: 1}
	var seen []string
	var mu sync.Mutex
	opts.OnEvent = func(ev ossupload.Event) {
		mu.Lock()
		seen = append(seen, ev.Message)
		if ev.Err != nil {
			seen = append(seen, ev.Err.Error())
		}
		mu.Unlock()
		if ev.Kind == ossupload.EventPartDone && ev.PartNumber == 3 {
			cancel()
		}
	}
	_, err = h.c.Overwrite(ctx, m.MediaID, path, opts)
	if err == nil {
		t.Fatal("want an interruption")
	}
	seen = append(seen, err.Error())
	var files []string
	filepath.WalkDir(h.state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			files = append(files, string(b))
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no checkpoint written")
	}
	for _, text := range append(seen, files...) {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Fatalf("a secret leaked into %q", text)
			}
		}
	}
}

// countingRT counts the requests an embedder's http.Client carries.
type countingRT struct{ n atomic.Int64 }

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// An embedder's own http.Client carries both the ICE calls and the OSS
// requests.
func TestEmbedderHTTPClient(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	rt := &countingRT{}
	cred, err := credentials.NewCredential(new(credentials.Config).SetType("access_key").SetAccessKeyId(h.info.AccessKeyID).SetAccessKeySecret(h.info.AccessKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := reupload.New(reupload.Config{Endpoint: h.info.ICEEndpoint, Credential: cred, StateDir: t.TempDir(), HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	path, data := writeFile(t, 300<<10, 15)
	if _, err := c.Overwrite(context.Background(), m.MediaID, path, reupload.Options{PartSize: 100 << 10}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Fatal("object differs")
	}
	// 1 RefreshUploadMedia + Initiate + 3 parts + Complete + the HEAD
	// that reads the object back
	if got := rt.n.Load(); got != 7 {
		t.Fatalf("the embedder's client carried %d requests, want 7", got)
	}

	// Housekeeping too: the status of an interrupted upload (ListParts) and
	// its abort, each after the RefreshUploadMedia that scopes its token.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = c.Overwrite(ctx, m.MediaID, path, reupload.Options{PartSize: 100 << 10, Concurrency: 1,
		OnEvent: func(ev ossupload.Event) {
			if ev.Kind == ossupload.EventPartDone {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Overwrite: %v", err)
	}
	cps, err := c.Pending()
	if err != nil || len(cps) != 1 {
		t.Fatalf("Pending = %d checkpoints, %v; want the interrupted one", len(cps), err)
	}
	before := rt.n.Load()
	if parts, _, gone, err := c.Confirmed(context.Background(), cps[0]); err != nil || gone || parts < 1 {
		t.Fatalf("Confirmed = %d parts, gone %v, %v", parts, gone, err)
	}
	if _, err := c.Abort(context.Background(), m.MediaID); err != nil {
		t.Fatal(err)
	}
	if got := rt.n.Load() - before; got != 4 {
		t.Fatalf("the embedder's client carried %d housekeeping requests, want 4 (2 RefreshUploadMedia, ListParts, Abort)", got)
	}
}

// With MD5 on, every part goes with a Content-MD5 that the emulator checks
// against the body (a wrong one is 400 InvalidDigest).
func TestContentMD5AgainstEmulator(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	path, data := writeFile(t, 700<<10, 16)
	if _, err := h.c.Overwrite(context.Background(), m.MediaID, path, reupload.Options{PartSize: 256 << 10, MD5: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.object(t, m), data) || h.em.OSS.Stats().Errors["InvalidDigest"] != 0 {
		t.Fatal("object differs, or a Content-MD5 was refused")
	}
}
