package reupload_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reupload/reupload"
)

// stallServer answers each request with handle; when handle returns true it
// holds the connection open, sending nothing more (not even headers that
// handle did not flush), until the client goes away or the test ends.
func stallServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request) (stall bool)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	release := make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if !handle(w, r) {
			return
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, &n
}

func wantStall(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout (net.Error)", err)
	}
}

// A probe that gets its headers and then no byte of body fails after
// IdleTimeout (it used to hang for good, holding a batch slot), and is
// retried like a part read.
func TestProbeBodyStallTimesOut(t *testing.T) {
	srv, n := stallServer(t, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Range", "bytes 0-0/1000")
		w.Header().Set("Content-Length", "1")
		w.WriteHeader(http.StatusPartialContent)
		w.(http.Flusher).Flush()
		return true // the byte never comes
	})
	var sleeps atomic.Int32
	_, err := reupload.OpenHTTPSource(context.Background(), srv.URL+"/src.mp4", reupload.HTTPSourceOptions{
		IdleTimeout: 50 * time.Millisecond, Attempts: 3,
		Sleep: func(context.Context, time.Duration) error { sleeps.Add(1); return nil },
	})
	wantStall(t, err)
	var su *reupload.SourceUnavailableError
	if !errors.As(err, &su) || su.Attempts != 3 {
		t.Fatalf("err = %v, want *SourceUnavailableError after 3 attempts", err)
	}
	if n.Load() != 3 || sleeps.Load() != 2 {
		t.Errorf("%d probes and %d sleeps, want 3 and 2", n.Load(), sleeps.Load())
	}
}

// A server that never sends its headers is bounded by IdleTimeout too, even
// through a caller's http.Client that has no timeout of its own.
func TestProbeHeaderStallTimesOut(t *testing.T) {
	srv, _ := stallServer(t, func(http.ResponseWriter, *http.Request) bool { return true })
	_, err := reupload.OpenHTTPSource(context.Background(), srv.URL+"/src.mp4", reupload.HTTPSourceOptions{
		Client: &http.Client{}, IdleTimeout: 50 * time.Millisecond, Attempts: 1,
	})
	wantStall(t, err)
}

// A part read whose body stops halfway fails with a retryable timeout, and
// so does one whose headers never come.
func TestRangeReadStallTimesOut(t *testing.T) {
	var stallHeaders atomic.Bool
	srv, _ := stallServer(t, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("Range") == "bytes=0-0" && r.Header.Get("If-Match") == "" {
			w.Header().Set("Content-Range", "bytes 0-0/1000")
			w.WriteHeader(http.StatusPartialContent)
			w.Write([]byte{0})
			return false
		}
		if stallHeaders.Load() {
			return true
		}
		w.Header().Set("Content-Range", "bytes 0-99/1000")
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(make([]byte, 10))
		w.(http.Flusher).Flush()
		return true // 90 bytes never come
	})
	hs, err := reupload.OpenHTTPSource(context.Background(), srv.URL+"/src.mp4", reupload.HTTPSourceOptions{IdleTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := hs.OpenRange(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if len(got) != 10 {
		t.Errorf("read %d bytes before the stall, want 10", len(got))
	}
	wantStall(t, err)

	stallHeaders.Store(true)
	_, err = hs.OpenRange(context.Background(), 0, 100)
	wantStall(t, err)
}
