package reupload_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ossupload"
)

// Re-ingest from another bucket: the source is an OSS presigned URL on the
// emulator, so the http source meets a real OSS's answers, If-Match's 412
// and an expired signature's 403 included.
func TestPresignedOSSURLAsSource(t *testing.T) {
	clock := &fakeClock{}
	clock.ns.Store(time.Now().UnixNano())
	h := newHarness(t, emulator.Config{Now: clock.Now})
	m := h.info.Media[0]
	const bucket, key = "masters", "ep7/master.mp4"
	h.em.OSS.CreateBucket(bucket)
	data := bytes.Repeat([]byte("master bytes "), (1<<20)/13)
	if err := h.em.OSS.PutObjectData(bucket, key, data); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	url := func(ttl time.Duration) string { return h.em.OSS.PresignGetURL(bucket, key, clock.Now().Add(ttl)) }
	// onPart runs f once, after the first part OSS confirmed.
	onPart := func(f func()) reupload.Options {
		var once sync.Once
		return reupload.Options{PartSize: 100 << 10, Concurrency: 1, OnEvent: func(e ossupload.Event) {
			if e.Kind == ossupload.EventPartDone {
				once.Do(f)
			}
		}}
	}

	t.Run("copied", func(t *testing.T) {
		res, err := h.c.Overwrite(ctx, m.MediaID, url(time.Hour), reupload.Options{PartSize: 100 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h.object(t, m), data) || !res.Resumable {
			t.Fatalf("object equal %v, resumable %v", bytes.Equal(h.object(t, m), data), res.Resumable)
		}
	})

	t.Run("changed mid-upload", func(t *testing.T) {
		before := h.object(t, m)
		changed := append(bytes.Clone(data), "more"...)
		_, err := h.c.Overwrite(ctx, m.MediaID, url(time.Hour), onPart(func() {
			if err := h.em.OSS.PutObjectData(bucket, key, changed); err != nil {
				t.Error(err)
			}
		}))
		var sc *ossupload.SourceChangedError
		if !errors.As(err, &sc) || !strings.Contains(err.Error(), "412 Precondition Failed") || reupload.ExitCode(err) != reupload.ExitFailed {
			t.Fatalf("err = %v (exit %d), want SourceChanged, exit 1", err, reupload.ExitCode(err))
		}
		if !bytes.Equal(h.object(t, m), before) {
			t.Fatal("the object changed")
		}
		if err := h.em.OSS.PutObjectData(bucket, key, data); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("expired mid-upload, resumed with a fresh URL", func(t *testing.T) {
		m := h.info.Media[0]
		if err := h.em.OSS.PutObjectData(m.Bucket, m.Object, emulator.OldSource(m.MediaID)); err != nil {
			t.Fatal(err)
		}
		_, err := h.c.Overwrite(ctx, m.MediaID, url(time.Minute), onPart(func() { clock.Advance(2 * time.Minute) }))
		if err == nil || !strings.Contains(err.Error(), "403 Forbidden: access refused (an expired presigned URL?); run again with a fresh URL: the upload resumes") || strings.Contains(err.Error(), "Signature=") && !strings.Contains(err.Error(), "Signature=REDACTED") {
			t.Fatalf("err = %v: want the expired URL's 403, its signature not quoted", err)
		}
		if reupload.ExitCode(err) != reupload.ExitFailed || !bytes.Equal(h.object(t, m), emulator.OldSource(m.MediaID)) {
			t.Fatalf("exit %d; the old source must be intact", reupload.ExitCode(err))
		}
		cps, _ := h.c.Pending()
		if len(cps) != 1 || len(cps[0].Parts) == 0 {
			t.Fatalf("checkpoints %+v: want the upload kept, with its parts", cps)
		}
		res, err := h.c.Overwrite(ctx, m.MediaID, url(time.Hour), reupload.Options{PartSize: 100 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Resumed || res.PartsReused == 0 || !bytes.Equal(h.object(t, m), data) {
			t.Fatalf("rerun: resumed %v with %d parts; object equal %v", res.Resumed, res.PartsReused, bytes.Equal(h.object(t, m), data))
		}
	})
}
