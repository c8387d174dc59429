package reupload_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/ossupload"
)

// waits records the probe's backoff and never waits.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return nil
}

// flaky answers the probe with each status of fail in turn, then serves a
// 1000-byte file.
func flaky(t *testing.T, fail ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(fail) {
			http.Error(w, "not now", fail[i])
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Range", "bytes 0-0/1000")
		w.WriteHeader(http.StatusPartialContent)
		w.Write([]byte{0})
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// 5xx and 429 answers to the probe are retried with the engine's backoff,
// as a part read's are; they used to fail at once as a bad input.
func TestProbeRetriesServerErrors(t *testing.T) {
	srv, n := flaky(t, 503, 500, 429)
	var w waits
	hs, err := reupload.OpenHTTPSource(context.Background(), srv.URL+"/a.mp4", reupload.HTTPSourceOptions{Sleep: w.sleep})
	if err != nil {
		t.Fatal(err)
	}
	if hs.Size() != 1000 || n.Load() != 4 {
		t.Fatalf("size %d after %d probes, want 1000 after 4", hs.Size(), n.Load())
	}
	var b ossupload.Backoff
	for i, d := range w.d {
		if lo, hi := b.Delay(i+1, 0), b.Delay(i+1, 1); d < lo || d > hi {
			t.Errorf("wait %d = %v, want the engine's backoff, in [%v, %v]", i+1, d, lo, hi)
		}
	}
	if len(w.d) != 3 {
		t.Errorf("%d waits, want 3", len(w.d))
	}
}

// A server that keeps failing is unavailable, not a bad input: the error is
// a *SourceUnavailableError after Attempts (default: the engine's), wrapping
// the last answer.
func TestProbeGivesUpAsUnavailable(t *testing.T) {
	fails := make([]int, 100)
	for i := range fails {
		fails[i] = http.StatusBadGateway
	}
	srv, n := flaky(t, fails...)
	var w waits
	_, err := reupload.OpenHTTPSource(context.Background(), srv.URL+"/a.mp4?sig=HIDDEN", reupload.HTTPSourceOptions{Sleep: w.sleep})
	var su *reupload.SourceUnavailableError
	var he *reupload.HTTPSourceError
	if !errors.As(err, &su) || !errors.As(err, &he) || he.Status != http.StatusBadGateway {
		t.Fatalf("err = %v, want *SourceUnavailableError wrapping the 502", err)
	}
	if su.Attempts != ossupload.DefaultAttempts || int(n.Load()) != ossupload.DefaultAttempts || len(w.d) != ossupload.DefaultAttempts-1 {
		t.Errorf("attempts %d, probes %d, waits %d; want %d, %d, %d", su.Attempts, n.Load(), len(w.d),
			ossupload.DefaultAttempts, ossupload.DefaultAttempts, ossupload.DefaultAttempts-1)
	}
	if s := err.Error(); strings.Contains(s, "HIDDEN") {
		t.Errorf("message %q shows the query", s)
	}
}

// What the caller got wrong is not retried: a 404 or 403 fails at once.
func TestProbeDoesNotRetryClientErrors(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusForbidden} {
		srv, n := flaky(t, status, status)
		var w waits
		_, err := reupload.OpenHTTPSource(context.Background(), srv.URL+"/a.mp4", reupload.HTTPSourceOptions{Sleep: w.sleep})
		var he *reupload.HTTPSourceError
		var su *reupload.SourceUnavailableError
		if !errors.As(err, &he) || he.Status != status || errors.As(err, &su) {
			t.Fatalf("%d: err = %v, want a plain *HTTPSourceError", status, err)
		}
		if n.Load() != 1 || len(w.d) != 0 {
			t.Errorf("%d: %d probes, %d waits; want 1, 0", status, n.Load(), len(w.d))
		}
	}
}

// A refused connection is a transport failure, retried like a part read's.
func TestProbeRetriesRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var w waits
	_, err = reupload.OpenHTTPSource(context.Background(), "http://"+addr+"/a.mp4", reupload.HTTPSourceOptions{Sleep: w.sleep, Attempts: 2})
	var su *reupload.SourceUnavailableError
	if !errors.As(err, &su) || len(w.d) != 1 {
		t.Fatalf("err = %v after %d waits, want *SourceUnavailableError after 1", err, len(w.d))
	}
}

// A cancelled context during the backoff ends the probe with its cause.
func TestProbeBackoffHonoursContext(t *testing.T) {
	srv, n := flaky(t, 503, 503, 503)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := reupload.OpenHTTPSource(ctx, srv.URL+"/a.mp4", reupload.HTTPSourceOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		cancel()
		<-ctx.Done()
		return context.Cause(ctx)
	}})
	if !errors.Is(err, context.Canceled) || n.Load() != 1 {
		t.Fatalf("err = %v after %d probes, want Canceled after 1", err, n.Load())
	}
}
