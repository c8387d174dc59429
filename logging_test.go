package reupload_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
)

// syncBuffer is a bytes.Buffer safe for the handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A Debug handler on Config.Logger hears every ICE and OSS request with
// its status, duration and request id, the retries and their cause, the
// credential refreshes and the checkpoint writes of an Overwrite; no record
// holds a secret the emulator issued. (Before, Config.Logger heard nothing.)
func TestDebugLogger(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	for _, f := range []string{"UploadPart:nth=2:500:InternalError", "UploadPart:nth=4:403:SecurityTokenExpired"} {
		if err := h.em.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}
	var logs syncBuffer
	cred, err := credentials.NewCredential(new(credentials.Config).SetType("access_key").SetAccessKeyId(h.info.AccessKeyID).SetAccessKeySecret(h.info.AccessKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := reupload.New(reupload.Config{Endpoint: h.info.ICEEndpoint, Credential: cred, StateDir: t.TempDir(),
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep:  func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	path, _ := writeFile(t, 400<<10, 21)
	res, err := c.Overwrite(context.Background(), m.MediaID, path, reupload.Options{PartSize: 100 << 10, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Retries != 1 || res.Refreshes != 1 {
		t.Fatalf("retries %d, refreshes %d; the faults did not fire as planned", res.Retries, res.Refreshes)
	}

	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	count := func(msg string, match func(r map[string]any) bool) int {
		n := 0
		for _, r := range recs {
			if r["msg"] == msg && (match == nil || match(r)) {
				n++
			}
		}
		return n
	}
	withID := func(r map[string]any) bool {
		id, _ := r["request_id"].(string)
		return id != "" && r["duration"] != nil
	}
	op := func(name string, status float64) func(map[string]any) bool {
		return func(r map[string]any) bool { return r["op"] == name && r["status"] == status && withID(r) }
	}
	for _, c := range []struct {
		what string
		n    int
	}{
		{"ice RefreshUploadMedia", count("ice request", func(r map[string]any) bool {
			return r["action"] == "RefreshUploadMedia" && r["status"] == 200.0 && withID(r)
		})},
		{"InitiateMultipartUpload", count("oss request", op("InitiateMultipartUpload", 200))},
		{"UploadPart 200", count("oss request", op("UploadPart", 200))},
		{"UploadPart 500", count("oss request", op("UploadPart", 500))},
		{"UploadPart 403", count("oss request", op("UploadPart", 403))},
		{"CompleteMultipartUpload", count("oss request", op("CompleteMultipartUpload", 200))},
		{"HeadObject", count("oss request", op("HeadObject", 200))},
		{"retry with its cause", count("oss retry", func(r map[string]any) bool {
			cause, _ := r["cause"].(string)
			return r["op"] == "UploadPart" && strings.Contains(cause, "InternalError")
		})},
		{"refresh with its cause", count("credential refreshed", func(r map[string]any) bool {
			why, _ := r["why"].(string)
			return strings.Contains(why, "SecurityTokenExpired")
		})},
		{"checkpoint saved", count("checkpoint saved", nil)},
	} {
		if c.n == 0 {
			t.Errorf("no record of %s in:\n%s", c.what, logs.String())
		}
	}
	if n := count("oss request", op("UploadPart", 200)); n != 4 {
		t.Errorf("%d UploadPart 200 records, want 4", n)
	}
	text := logs.String()
	for _, s := range h.em.IssuedSecrets() {
		if s != "" && strings.Contains(text, s) {
			t.Fatal("a secret the emulator issued is in the debug log")
		}
	}
}

// A batch's OSS requests go through Config.HTTPClient too (the per-batch
// part budget wrapped the default adapter without it).
func TestBatchUsesHTTPClient(t *testing.T) {
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
	path, _ := writeFile(t, 300<<10, 22)
	if _, err := c.Batch(context.Background(), []reupload.Item{{MediaID: m.MediaID, Source: path}}, reupload.BatchOptions{Force: true,
		Options: reupload.Options{PartSize: 100 << 10}}); err != nil {
		t.Fatal(err)
	}
	// RefreshUploadMedia, GetMediaInfo (guards), Initiate, 3 parts,
	// Complete, HEAD: the OSS ones included.
	if got := rt.n.Load(); got < 7 {
		t.Fatalf("the embedder's client carried %d requests, want at least 7", got)
	}
}
