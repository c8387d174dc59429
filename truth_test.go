package reupload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ossupload"
)

// A done marker is never taken for the truth: batch marks A done, put
// replaces the object with B, and a batch rerun uploads A again instead of
// skipping it ("already done") and leaving B.
func TestStaleDoneMarkerDoesNotSkip(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	pathA, dataA := writeFile(t, 300<<10, 41)
	pathB, dataB := writeFile(t, 300<<10, 42)
	items := []reupload.Item{{MediaID: m.MediaID, Source: pathA}}
	if _, err := h.c.Batch(context.Background(), items, reupload.BatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Overwrite(context.Background(), m.MediaID, pathB, reupload.Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.object(t, m), dataB) {
		t.Fatal("setup: put did not replace the object")
	}
	res, err := h.c.Batch(context.Background(), items, reupload.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != reupload.StatusDone || !bytes.Equal(h.object(t, m), dataA) {
		t.Fatalf("rerun: %s, object is A: %v; want A uploaded again", res[0].Status, bytes.Equal(h.object(t, m), dataA))
	}
}

// A batch rerun on a machine with no state (a new pod) skips the media
// whose objects already hold their sources, by content.
func TestBatchOnNewMachineSkipsIdentical(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 2})
	path, _ := writeFile(t, 300<<10, 43)
	items := []reupload.Item{{MediaID: h.info.Media[0].MediaID, Source: path}, {MediaID: h.info.Media[1].MediaID, Source: path}}
	if _, err := h.c.Batch(context.Background(), items[:1], reupload.BatchOptions{}); err != nil {
		t.Fatal(err)
	}
	h.state = t.TempDir() // another machine
	parts := h.em.OSS.Stats().Requests["UploadPart"]
	res, err := h.client(t).Batch(context.Background(), items, reupload.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != reupload.StatusSkipped || res[1].Status != reupload.StatusDone {
		t.Fatalf("statuses %s, %s; want skipped (already there) and done", res[0].Status, res[1].Status)
	}
	if n := h.em.OSS.Stats().Requests["UploadPart"] - parts; n != 1 {
		t.Fatalf("%d parts sent, want 1 (the second media's only part)", n)
	}
}

// Sources over 10,000 parts of 5 GiB are refused before anything is sent,
// with exit 2: a reader claiming 60 TiB, and a URL claiming 2^62 bytes.
func TestSourcesOverTheLimitAreRefused(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	_, err := h.c.OverwriteReader(context.Background(), m.MediaID, bytes.NewReader(nil), 60<<40, reupload.Options{})
	var in *reupload.InputError
	if !errors.As(err, &in) || reupload.ExitCode(err) != reupload.ExitUsage || !strings.Contains(err.Error(), "over the OSS limit") {
		t.Fatalf("60 TiB reader: %v (exit %d), want exit 2 naming the limit", err, reupload.ExitCode(err))
	}
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Content-Range", "bytes 0-0/4611686018427387904")
		w.WriteHeader(http.StatusPartialContent)
		w.Write([]byte("x"))
	}))
	defer huge.Close()
	_, err = h.c.Overwrite(context.Background(), m.MediaID, huge.URL+"/big.mp4", reupload.Options{})
	if reupload.ExitCode(err) != reupload.ExitUsage || !strings.Contains(err.Error(), "over the OSS limit") {
		t.Fatalf("2^62-byte URL: %v (exit %d), want exit 2 naming the limit", err, reupload.ExitCode(err))
	}
	if n := h.em.ICE.Calls("RefreshUploadMedia"); n != 0 {
		t.Fatalf("%d RefreshUploadMedia calls for refused sources", n)
	}
	if n := h.em.OSS.Stats().Requests["InitiateMultipartUpload"]; n != 0 {
		t.Fatalf("%d uploads initiated", n)
	}
}

// Exit codes and batch statuses for a replaced object that does not match.
func TestMismatchIsExit5(t *testing.T) {
	err := fmt.Errorf("media x: %w", &ossupload.MismatchError{Reason: "another upload replaced the object after this one"})
	if got := reupload.ExitCode(err); got != 5 {
		t.Fatalf("exit %d, want 5", got)
	}
	if code, _ := reupload.ErrorCode(err); code != "Mismatch" {
		t.Fatalf("code %q", code)
	}
	if got := reupload.ExitCode(&reupload.BatchError{Failed: 2, Mismatched: 2}); got != reupload.ExitMismatch {
		t.Fatalf("a batch whose every failure is a mismatch: exit %d, want 5", got)
	}
	if got := reupload.ExitCode(&reupload.BatchError{Failed: 2, Mismatched: 1}); got != reupload.ExitPartial {
		t.Fatalf("a batch with other failures too: exit %d, want 3", got)
	}
	if got := reupload.ExitCode(fmt.Errorf("x: %w", ossupload.ErrStopped)); got != reupload.ExitInterrupted {
		t.Fatalf("a graceful stop: exit %d, want 130", got)
	}
}

// A FIFO as the source is streamed (not resumable), and waiting for its
// writer never blocks cancellation.
func TestFIFOSource(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	fifo := filepath.Join(t.TempDir(), "pipe.mp4")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("no FIFOs on this platform: %v", err)
	}
	if !reupload.IsStream(fifo) {
		t.Fatal("IsStream(FIFO) = false")
	}
	data := bytes.Repeat([]byte("fifo bytes "), 30000)
	done := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			_, err = w.Write(data)
			w.Close()
		}
		done <- err
	}()
	res, err := h.c.Overwrite(context.Background(), m.MediaID, fifo, reupload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res.Resumable || !bytes.Equal(h.object(t, m), data) {
		t.Fatalf("resumable %v, object equal %v; want a streamed, not resumable upload", res.Resumable, bytes.Equal(h.object(t, m), data))
	}

	// No writer ever comes: a cancel ends the wait at once.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.c.Overwrite(ctx, m.MediaID, fifo, reupload.Options{})
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

// Options.OnProgress over a real upload: a first snapshot at the start, a
// Final one with every byte done, and never more bytes sent than the file.
func TestOnProgress(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	path, _ := writeFile(t, 1<<20, 44)
	var got []reupload.ProgressInfo
	_, err := h.c.Overwrite(context.Background(), m.MediaID, path, reupload.Options{PartSize: 100 << 10,
		OnProgress: func(p reupload.ProgressInfo) { got = append(got, p) }})
	if err != nil {
		t.Fatal(err)
	}
	first, last := got[0], got[len(got)-1]
	if first.Total != 1<<20 || first.Done != 0 || first.Parts != 11 {
		t.Fatalf("first snapshot %+v", first)
	}
	if !last.Final || last.Done != 1<<20 || last.Sent != 1<<20 || last.PartsDone != 11 || last.InFlight != 0 {
		t.Fatalf("last snapshot %+v", last)
	}
	for _, p := range got {
		if p.Sent > p.Total || p.Done > p.Sent {
			t.Fatalf("snapshot out of bounds: %+v", p)
		}
	}
}

// A graceful stop during a batch lets the media in flight keep their parts
// (status interrupted, resumable), starts no other media, and is exit 130.
func TestBatchGracefulStop(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 3})
	var items []reupload.Item
	for i, m := range h.info.Media {
		path, _ := writeFile(t, 1<<20, uint64(90+i))
		items = append(items, reupload.Item{MediaID: m.MediaID, Source: path, Line: i + 1})
	}
	stop := make(chan struct{})
	var once sync.Once
	opts := reupload.BatchOptions{Files: 1, Options: reupload.Options{PartSize: 100 << 10, Concurrency: 1, Stop: stop,
		OnEvent: func(e ossupload.Event) {
			if e.Kind == ossupload.EventPartDone {
				once.Do(func() { close(stop) })
			}
		}}}
	res, err := h.c.Batch(context.Background(), items, opts)
	if reupload.ExitCode(err) != reupload.ExitInterrupted || len(res) != 1 || res[0].Status != reupload.StatusInterrupted {
		t.Fatalf("err %v (exit %d), results %+v; want one interrupted media and exit 130", err, reupload.ExitCode(err), res)
	}
	cps, _ := h.c.Pending()
	if len(cps) != 1 || len(cps[0].Parts) == 0 {
		t.Fatalf("checkpoints %+v; want the interrupted media's, with its parts", cps)
	}
}

// An interrupted upload from a URL that no later run can prove to be the
// same (no ETag, no Last-Modified) does not promise a resume.
func TestInterruptedUnresumableSourceSaysSo(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	data := bytes.Repeat([]byte("no validators "), (1<<20)/14)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data)) // ranges, but no ETag nor Last-Modified
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	_, err := h.c.Overwrite(ctx, m.MediaID, srv.URL+"/v.mp4", reupload.Options{PartSize: 100 << 10, Concurrency: 1,
		OnEvent: func(e ossupload.Event) {
			if e.Kind == ossupload.EventPartDone {
				once.Do(cancel)
			}
		}})
	var nr *reupload.NotResumableError
	if !errors.As(err, &nr) || reupload.ExitCode(err) != reupload.ExitInterrupted || !strings.Contains(err.Error(), "cannot be resumed") {
		t.Fatalf("err = %v (exit %d), want a NotResumableError, exit 130", err, reupload.ExitCode(err))
	}
}

// The library names its settings, not the CLI's flags, in InputError (the
// command maps them to its flags: bad_input.txtar).
func TestInputErrorNamesSettings(t *testing.T) {
	_, err := reupload.New(reupload.Config{OSSEndpoint: "http://oss.example.com", StateDir: t.TempDir()})
	var in *reupload.InputError
	if !errors.As(err, &in) || in.Field != "Config.OSSEndpoint" {
		t.Fatalf("err = %v, want an InputError naming Config.OSSEndpoint", err)
	}
	h := newHarness(t, emulator.Config{})
	_, err = h.c.OverwriteReader(context.Background(), h.info.Media[0].MediaID, bytes.NewReader(nil), 1<<30, reupload.Options{PartSize: 1})
	if !errors.As(err, &in) || in.Field != "Options.PartSize" {
		t.Fatalf("err = %v, want an InputError naming Options.PartSize", err)
	}
}
