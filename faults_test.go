package reupload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
)

// fastRetries makes retries instant and the idle timeout short, so a fault
// case costs milliseconds, not the production backoff.
func fastRetries(o *reupload.Options) {
	o.Engine.Sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	o.Engine.SDK.IdleTimeout = time.Second
}

// TestFaultMatrix runs every OSS operation against every fault. Transient
// faults must end in a byte-identical object; the others in a typed error,
// exit 1, the old object unchanged and a checkpoint that still resumes.
func TestFaultMatrix(t *testing.T) {
	type outcome int
	const (
		recovers outcome = iota
		fails
	)
	faults := []struct {
		name, spec string
		want       outcome
		code       string
	}{
		{"500", "%s:nth=%d:500:InternalError", recovers, ""},
		{"503", "%s:nth=%d:503:ServiceUnavailable", recovers, ""},
		{"reset", "%s:nth=%d:reset", recovers, ""},
		{"stall", "%s:nth=%d:stall=2s", recovers, ""},
		{"token-expired", "%s:nth=%d:403:SecurityTokenExpired", recovers, ""},
		{"invalid-key", "%s:nth=%d:403:InvalidAccessKeyId", recovers, ""},
		{"no-such-upload", "%s:nth=%d:404:NoSuchUpload", recovers, ""},
		{"bad-crc", "%s:nth=%d:badcrc", recovers, ""},
		{"skewed", "%[1]s:times=1000:403:RequestTimeTooSkewed", fails, "RequestTimeTooSkewed"},
		{"denied", "%[1]s:times=1000:403:AccessDenied", fails, "AccessDenied"},
	}
	ops := []struct {
		op  string
		nth int
	}{{"InitiateMultipartUpload", 1}, {"UploadPart", 3}, {"CompleteMultipartUpload", 1}, {"ListParts", 1}}
	for _, op := range ops {
		for _, f := range faults {
			if f.name == "bad-crc" && op.op != "UploadPart" && op.op != "CompleteMultipartUpload" ||
				f.name == "no-such-upload" && op.op == "InitiateMultipartUpload" {
				continue // only these two answer with a CRC; Initiate has no upload ID yet
			}
			t.Run(op.op+"/"+f.name, func(t *testing.T) {
				defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
				h := newHarness(t, emulator.Config{})
				defer h.em.Close()
				m := h.info.Media[0]
				path, data := writeFile(t, 1<<20, 11)
				opts := reupload.Options{PartSize: 256 << 10, Concurrency: 2}
				fastRetries(&opts)
				if op.op == "ListParts" {
					// ListParts runs on resume: leave an interrupted upload first.
					ctx, cancel := context.WithCancel(context.Background())
					var n atomic.Int64
					opts.OnEvent = func(ev ossupload.Event) {
						if ev.Kind == ossupload.EventPartDone && n.Add(1) == 2 {
							cancel()
						}
					}
					if _, err := h.c.Overwrite(ctx, m.MediaID, path, opts); !errors.Is(err, context.Canceled) {
						t.Fatalf("setup run: %v", err)
					}
					opts.OnEvent = nil
				}
				if err := h.em.AddFault(fmt.Sprintf(f.spec, op.op, op.nth)); err != nil {
					t.Fatal(err)
				}
				res, err := h.c.Overwrite(context.Background(), m.MediaID, path, opts)
				if f.want == recovers {
					if err != nil {
						t.Fatalf("want recovery, got %v", err)
					}
					if !bytes.Equal(h.object(t, m), data) {
						t.Fatal("object differs from the source")
					}
					// The fault must have cost a second request: a retry, or a
					// HEAD that double-checks a damaged Complete answer.
					st := h.em.OSS.Stats()
					if st.Requests[op.op]+st.Requests["HeadObject"] < 2 && op.op != "ListParts" {
						t.Fatalf("the fault was never hit: %v", st.Requests)
					}
					if res.UploadID == "" {
						t.Fatal("no upload ID in the result")
					}
					return
				}
				var oe *ossupload.OSSError
				if !errors.As(err, &oe) || oe.Code != f.code || reupload.ExitCode(err) != reupload.ExitFailed {
					t.Fatalf("err = %v (exit %d), want OSS %s and exit 1", err, reupload.ExitCode(err), f.code)
				}
				if !bytes.Equal(h.object(t, m), emulator.OldSource(m.MediaID)) {
					t.Fatal("old object changed")
				}
				// The checkpoint still resumes once the fault is gone.
				h.em.OSS.ClearFaults()
				if _, err := h.c.Overwrite(context.Background(), m.MediaID, path, opts); err != nil {
					t.Fatalf("rerun after the fault cleared: %v", err)
				}
				if !bytes.Equal(h.object(t, m), data) {
					t.Fatal("object differs after the rerun")
				}
			})
		}
	}
}

// TestICEFaults: transient ICE failures are retried; the rest are typed and
// leave the old source alone.
func TestICEFaults(t *testing.T) {
	for _, c := range []struct {
		name, spec string
		ok         bool
		kind       error
	}{
		{"throttled", "RefreshUploadMedia:times=2:400:Throttling.User", true, nil},
		{"500", "RefreshUploadMedia:times=2:500:InternalError", true, nil},
		{"forbidden", "RefreshUploadMedia:times=100:403:Forbidden.RAM", false, refresh.ErrPermission},
		{"malformed-auth", "RefreshUploadMedia:times=100:corrupt=base64", false, nil},
		{"missing-field", "RefreshUploadMedia:times=100:corrupt=missing-field", false, nil},
		{"swapped-fields", "RefreshUploadMedia:times=100:swap", true, nil},
		{"expired-on-arrival", "RefreshUploadMedia:times=100:corrupt=expired", false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, emulator.Config{})
			m := h.info.Media[0]
			path, data := writeFile(t, 300<<10, 12)
			if err := h.em.AddFault(c.spec); err != nil {
				t.Fatal(err)
			}
			_, err := h.c.Overwrite(context.Background(), m.MediaID, path, reupload.Options{})
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(h.object(t, m), data) {
					t.Fatal("object differs")
				}
				return
			}
			if err == nil || reupload.ExitCode(err) != reupload.ExitFailed || c.kind != nil && !errors.Is(err, c.kind) {
				t.Fatalf("err = %v (exit %d), want a failure of kind %v with exit 1", err, reupload.ExitCode(err), c.kind)
			}
			if !bytes.Equal(h.object(t, m), emulator.OldSource(m.MediaID)) {
				t.Fatal("old object changed")
			}
		})
	}
}

// leaveUpload interrupts an upload after two parts, leaving a checkpoint and
// a multipart upload on OSS.
func leaveUpload(t *testing.T, h *harness, m emulator.Media) string {
	t.Helper()
	path, _ := writeFile(t, 1<<20, 13)
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	opts := reupload.Options{PartSize: 256 << 10, Concurrency: 1}
	opts.OnEvent = func(ev ossupload.Event) {
		if ev.Kind == ossupload.EventPartDone && n.Add(1) == 2 {
			cancel()
		}
	}
	if _, err := h.c.Overwrite(ctx, m.MediaID, path, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("setup run: %v", err)
	}
	if ups := h.em.OSS.Uploads(m.Bucket); len(ups) != 1 {
		t.Fatalf("setup left %d uploads, want 1", len(ups))
	}
	return path
}

// TestAbortFaults completes the matrix for AbortMultipartUpload: transient
// faults are retried until the upload is gone; a refusal keeps the
// checkpoint so that a later abort can try again.
func TestAbortFaults(t *testing.T) {
	for _, c := range []struct {
		spec string
		ok   bool
	}{
		{"AbortMultipartUpload:nth=1:500:InternalError", true},
		{"AbortMultipartUpload:nth=1:503:ServiceUnavailable", true},
		{"AbortMultipartUpload:nth=1:reset", true},
		// A refused credential is replaced (RefreshUploadMedia again), as
		// in an upload: Abort runs through the engine's retry.
		{"AbortMultipartUpload:nth=1:403:SecurityTokenExpired", true},
		{"AbortMultipartUpload:times=2:403:InvalidSecurityToken", true},
		{"AbortMultipartUpload:times=100:403:AccessDenied", false},
	} {
		t.Run(c.spec, func(t *testing.T) {
			h := newHarness(t, emulator.Config{})
			m := h.info.Media[0]
			leaveUpload(t, h, m)
			if err := h.em.AddFault(c.spec); err != nil {
				t.Fatal(err)
			}
			_, err := h.c.Abort(context.Background(), m.MediaID)
			ups := h.em.OSS.Uploads(m.Bucket)
			cps, _ := h.c.Store().List()
			if c.ok {
				if err != nil || len(ups) != 0 || len(cps) != 0 {
					t.Fatalf("err %v, %d uploads and %d checkpoints left; want none", err, len(ups), len(cps))
				}
				return
			}
			if err == nil || reupload.ExitCode(err) != reupload.ExitFailed || len(ups) != 1 || len(cps) != 1 {
				t.Fatalf("err %v (exit %d), %d uploads, %d checkpoints; want a failure, exit 1, the upload and its checkpoint kept", err, reupload.ExitCode(err), len(ups), len(cps))
			}
			h.em.OSS.ClearFaults()
			if _, err := h.c.Abort(context.Background(), m.MediaID); err != nil || len(h.em.OSS.Uploads(m.Bucket)) != 0 {
				t.Fatalf("abort after the fault cleared: %v", err)
			}
		})
	}
}

// The engine's own abort (a source that changed before Complete) retries
// transient faults too, so no upload is left behind.
func TestEngineAbortRetries(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	path, _ := writeFile(t, 1<<20, 14)
	if err := h.em.AddFault("AbortMultipartUpload:nth=1:503:ServiceUnavailable"); err != nil {
		t.Fatal(err)
	}
	opts := reupload.Options{PartSize: 256 << 10, Concurrency: 1}
	fastRetries(&opts)
	opts.OnEvent = func(ev ossupload.Event) {
		if ev.Kind == ossupload.EventPartDone && ev.PartNumber == 2 {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Error(err)
			}
		}
	}
	_, err := h.c.Overwrite(context.Background(), m.MediaID, path, opts)
	var sc *ossupload.SourceChangedError
	if !errors.As(err, &sc) {
		t.Fatalf("err = %v, want SourceChangedError", err)
	}
	if ups := h.em.OSS.Uploads(m.Bucket); len(ups) != 0 || h.em.OSS.Stats().Requests["AbortMultipartUpload"] != 2 {
		t.Fatalf("%d uploads left after %d aborts; want 0 after 2", len(ups), h.em.OSS.Stats().Requests["AbortMultipartUpload"])
	}
	if !bytes.Equal(h.object(t, m), emulator.OldSource(m.MediaID)) {
		t.Fatal("old object changed")
	}
}
