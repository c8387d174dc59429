package reupload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ossupload"
)

// srcServer serves one file like a static file server or an object store:
// Range, If-Match and If-Unmodified-Since come from http.ServeContent.
type srcServer struct {
	*httptest.Server
	mu       sync.Mutex
	data     []byte
	etag     string // "" sends none
	mod      time.Time
	noRange  bool // answer 200 with the whole body, as a server without Range support does
	noValid  bool // send neither ETag nor Last-Modified
	user     string
	pass     string
	failNext atomic.Int32 // answer this many ranged GETs (after the probe) with 503
	stallGet atomic.Int32 // send headers and half the body, then stall, this many times
	ranged   atomic.Int32 // ranged GETs answered 206
	refused  atomic.Int32 // 412 answers
}

var modBase = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func newSrcServer(t *testing.T, data []byte) *srcServer {
	s := &srcServer{data: data, etag: `"v1"`, mod: modBase}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// swap replaces the content with a new version (new ETag and mtime).
func (s *srcServer) swap(data []byte, version int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data, s.mod = data, modBase.Add(time.Duration(version)*time.Hour)
	if s.etag != "" {
		s.etag = fmt.Sprintf(`"v%d"`, version)
	}
}

func (s *srcServer) serve(w http.ResponseWriter, r *http.Request) {
	if s.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.pass {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
	}
	s.mu.Lock()
	data, etag, mod := s.data, s.etag, s.mod
	s.mu.Unlock()
	if s.noRange {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data)
		return
	}
	probe := r.Header.Get("Range") == "bytes=0-0" && r.Header.Get("If-Match") == "" && r.Header.Get("If-Unmodified-Since") == ""
	if !probe && s.failNext.Add(-1) >= 0 {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if !probe && s.stallGet.Add(-1) >= 0 {
		var first, last int
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(data)))
		w.Header().Set("Content-Length", fmt.Sprint(last-first+1))
		if etag != "" && !s.noValid {
			w.Header().Set("ETag", etag)
		}
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[first : first+(last-first+1)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // until the client gives up
		return
	}
	if etag != "" && !s.noValid {
		w.Header().Set("ETag", etag)
	}
	if s.noValid {
		mod = time.Time{} // ServeContent then sends no Last-Modified
	}
	rec := &statusRecorder{ResponseWriter: w}
	http.ServeContent(rec, r, "src.mp4", mod, bytes.NewReader(data))
	switch rec.status {
	case http.StatusPartialContent:
		s.ranged.Add(1)
	case http.StatusPreconditionFailed:
		s.refused.Add(1)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func randomData(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// noWait makes the engine's backoff instant: the tests prove retries, not delays.
func noWait(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func TestHTTPSourceOverwrite(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	data := randomData(3<<20+12345, 1)
	srv := newSrcServer(t, data)
	srv.user, srv.pass = "reader", "s3cr3t-pass"
	url := strings.Replace(srv.URL, "http://", "http://reader:s3cr3t-pass@", 1) + "/media/src.mp4?token=SIGNATURE123"
	res, err := h.c.Overwrite(context.Background(), m.MediaID, url, reupload.Options{PartSize: 1 << 20, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Fatal("object on OSS differs from the served file")
	}
	if !res.Resumable || res.Parts != 4 || res.Size != int64(len(data)) {
		t.Fatalf("result %+v: want 4 parts, resumable", res)
	}
	// The probe, one GET per part and the check before Complete.
	if got := srv.ranged.Load(); got != 6 {
		t.Fatalf("%d ranged GETs, want 6 (probe, 4 parts, check)", got)
	}
}

// The served file changes after two parts: the upload fails with
// SourceChangedError and the old object stays, whichever validator the
// server sends.
func TestHTTPSourceChangesMidUpload(t *testing.T) {
	for _, mode := range []string{"etag", "last-modified"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, emulator.Config{})
			m := h.info.Media[0]
			srv := newSrcServer(t, randomData(2<<20, 2))
			if mode == "last-modified" {
				srv.etag = ""
			}
			var done atomic.Int32
			opts := reupload.Options{PartSize: 256 << 10, Concurrency: 2, OnEvent: func(ev ossupload.Event) {
				if ev.Kind == ossupload.EventPartDone && done.Add(1) == 2 {
					srv.swap(randomData(2<<20, 3), 2)
				}
			}}
			_, err := h.c.Overwrite(context.Background(), m.MediaID, srv.URL+"/src.mp4", opts)
			var sc *ossupload.SourceChangedError
			if !errors.As(err, &sc) || reupload.ExitCode(err) != reupload.ExitFailed {
				t.Fatalf("err = %v, want *SourceChangedError (exit 1)", err)
			}
			if srv.refused.Load() == 0 {
				t.Fatal("no ranged GET was refused with 412: the change was not caught by the conditional request")
			}
			if !bytes.Equal(h.object(t, m), emulator.OldSource(m.MediaID)) {
				t.Fatal("the old object was replaced")
			}
			if ups := h.em.OSS.Uploads(m.Bucket); len(ups) != 0 {
				t.Fatalf("%d multipart upload(s) left on OSS, want the changed one aborted", len(ups))
			}
		})
	}
}

// An HTTP upload interrupted after 3 parts resumes on the next run, reusing
// them; if the file changed in between, the next run starts afresh.
func TestHTTPSourceResume(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	data := randomData(2<<20, 4)
	srv := newSrcServer(t, data)
	url := srv.URL + "/src.mp4"
	interrupt := func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var done atomic.Int32
		opts := reupload.Options{PartSize: 256 << 10, Concurrency: 1, OnEvent: func(ev ossupload.Event) {
			if ev.Kind == ossupload.EventPartDone && done.Add(1) == 3 {
				cancel()
			}
		}}
		if _, err := h.c.Overwrite(ctx, m.MediaID, url, opts); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted run: %v", err)
		}
	}
	interrupt()
	res, err := h.c.Overwrite(context.Background(), m.MediaID, url, reupload.Options{PartSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.PartsReused < 3 || !bytes.Equal(h.object(t, m), data) {
		t.Fatalf("resumed %v with %d part(s) reused, object equal %v", res.Resumed, res.PartsReused, bytes.Equal(h.object(t, m), data))
	}

	interrupt()
	changed := randomData(2<<20, 5)
	srv.swap(changed, 2)
	res, err = h.c.Overwrite(context.Background(), m.MediaID, url, reupload.Options{PartSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || !bytes.Equal(h.object(t, m), changed) {
		t.Fatalf("after a change between runs: resumed %v, object is the new file %v", res.Resumed, bytes.Equal(h.object(t, m), changed))
	}
	if ups := h.em.OSS.Uploads(m.Bucket); len(ups) != 0 {
		t.Fatalf("%d multipart upload(s) left on OSS, want the stale one aborted", len(ups))
	}
}

func TestHTTPSourceWithoutRanges(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	srv := newSrcServer(t, randomData(1<<20, 6))
	srv.noRange = true
	url := strings.Replace(srv.URL, "http://", "http://me:pa55word@", 1) + "/src.mp4?Signature=TOPSECRET"
	_, err := h.c.Overwrite(context.Background(), m.MediaID, url, reupload.Options{})
	if !errors.Is(err, reupload.ErrNoRanges) || reupload.ExitCode(err) != reupload.ExitUsage {
		t.Fatalf("err = %v, want ErrNoRanges and exit 2", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "pa55word") || strings.Contains(msg, "TOPSECRET") || !strings.Contains(msg, "Range") {
		t.Fatalf("message %q: want it to name Range support and hide the credentials", msg)
	}
	if !bytes.Equal(h.object(t, m), emulator.OldSource(m.MediaID)) {
		t.Fatal("the old object was replaced")
	}
}

// 503 answers and a body that stalls are retried by the engine; without
// ETag or Last-Modified the upload works but is not resumable.
func TestHTTPSourceTransientFailures(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	data := randomData(1<<20, 7)
	srv := newSrcServer(t, data)
	srv.noValid = true
	srv.failNext.Store(2)
	srv.stallGet.Store(1)
	c, err := reupload.New(reupload.Config{ICE: h.c.ICE(), StateDir: h.state,
		HTTPSource: reupload.HTTPSourceOptions{IdleTimeout: time.Second}}) // long enough that only the stalled body trips it, even on a loaded machine
	if err != nil {
		t.Fatal(err)
	}
	opts := reupload.Options{PartSize: 256 << 10, Concurrency: 1, Engine: ossupload.Options{Sleep: noWait}}
	res, err := c.Overwrite(context.Background(), m.MediaID, srv.URL+"/src.mp4", opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Retries != 3 || res.Resumable || !bytes.Equal(h.object(t, m), data) {
		t.Fatalf("retries %d (want 3), resumable %v (want false), object equal %v", res.Retries, res.Resumable, bytes.Equal(h.object(t, m), data))
	}
}

func TestHTTPSourceInBatch(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 2})
	a, b := randomData(300<<10, 8), randomData(0, 9)
	srvA, srvB := newSrcServer(t, a), newSrcServer(t, b)
	items := []reupload.Item{
		{MediaID: h.info.Media[0].MediaID, Source: srvA.URL + "/a.mp4?sig=HIDDEN"},
		{MediaID: h.info.Media[1].MediaID, Source: srvB.URL + "/empty.mp4"},
	}
	res, err := h.c.Batch(context.Background(), items, reupload.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Status != reupload.StatusDone || res[1].Status != reupload.StatusDone {
		t.Fatalf("results %+v", res)
	}
	if strings.Contains(res[0].Source, "HIDDEN") {
		t.Fatalf("result source %q shows the query", res[0].Source)
	}
	if !bytes.Equal(h.object(t, h.info.Media[0]), a) || len(h.object(t, h.info.Media[1])) != 0 {
		t.Fatal("objects differ from the served files")
	}
	// A rerun skips both: the done markers match the servers' validators.
	res, err = h.c.Batch(context.Background(), items, reupload.BatchOptions{})
	if err != nil || res[0].Status != reupload.StatusSkipped || res[1].Status != reupload.StatusSkipped {
		t.Fatalf("rerun: %v %+v", err, res)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@host.example/a/b.mp4?Signature=x&Expires=1": "https://host.example/a/b.mp4?Expires=REDACTED&Signature=REDACTED",
		"http://host/a.mp4#frag":                                 "http://host/a.mp4",
		"/local/file.mp4":                                        "/local/file.mp4",
	} {
		if got := reupload.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOverwriteReader(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	data := randomData(2<<20, 10)
	interrupt := func(id string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var done atomic.Int32
		opts := reupload.Options{SourceID: id, PartSize: 256 << 10, Concurrency: 1, OnEvent: func(ev ossupload.Event) {
			if ev.Kind == ossupload.EventPartDone && done.Add(1) == 3 {
				cancel()
			}
		}}
		if _, err := h.c.OverwriteReader(ctx, m.MediaID, bytes.NewReader(data), int64(len(data)), opts); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted run: %v", err)
		}
	}
	for _, id := range []string{"", "catalog/123@v7"} {
		interrupt(id)
		res, err := h.c.OverwriteReader(context.Background(), m.MediaID, bytes.NewReader(data), int64(len(data)), reupload.Options{SourceID: id})
		if err != nil {
			t.Fatal(err)
		}
		want := id != ""
		if res.Resumed != want || res.Resumable != want || !bytes.Equal(h.object(t, m), data) {
			t.Fatalf("SourceID %q: resumed %v, resumable %v, want %v", id, res.Resumed, res.Resumable, want)
		}
		if ups := h.em.OSS.Uploads(m.Bucket); len(ups) != 0 {
			t.Fatalf("SourceID %q: %d multipart upload(s) left on OSS", id, len(ups))
		}
	}
	if _, err := h.c.OverwriteReader(context.Background(), m.MediaID, nil, 1, reupload.Options{}); reupload.ExitCode(err) != reupload.ExitUsage {
		t.Fatalf("nil reader: %v", err)
	}
}

func TestOverwriteStream(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	data := randomData(1<<20+7, 11)
	res, err := h.c.OverwriteStream(context.Background(), m.MediaID, bytes.NewReader(data), reupload.Options{PartSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumable || res.Parts != 5 || !bytes.Equal(h.object(t, m), data) {
		t.Fatalf("result %+v: want 5 parts, not resumable", res)
	}
	// A failing stream replaces nothing and leaves no upload behind.
	_, err = h.c.OverwriteStream(context.Background(), m.MediaID, &failingReader{}, reupload.Options{})
	if err == nil || !strings.Contains(err.Error(), "pipe broke") {
		t.Fatalf("failing stream: %v", err)
	}
	if ups := h.em.OSS.Uploads(m.Bucket); len(ups) != 0 || !bytes.Equal(h.object(t, m), data) {
		t.Fatalf("%d uploads left, object changed %v: want none left and the first stream's bytes", len(ups), !bytes.Equal(h.object(t, m), data))
	}
	if fi, err := os.Stat(h.state); err != nil || !fi.IsDir() {
		t.Fatal(err)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n++; r.n > 3 {
		return 0, errors.New("pipe broke")
	}
	return copy(p, "some bytes"), nil
}
