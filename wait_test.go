package reupload_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
)

// Sleep advances the clock instead of waiting.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

func lagHarness(t *testing.T, lag time.Duration) (*harness, *reupload.Client, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	clk.ns.Store(time.Now().UnixNano())
	h := newHarness(t, emulator.Config{MediaLag: lag, Now: clk.Now})
	cred, err := credentials.NewCredential(new(credentials.Config).SetType("access_key").SetAccessKeyId(h.info.AccessKeyID).SetAccessKeySecret(h.info.AccessKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := reupload.New(reupload.Config{Endpoint: h.info.ICEEndpoint, Credential: cred, StateDir: t.TempDir(), Sleep: clk.Sleep, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h, c, clk
}

// WaitForICE confirms once ICE reports the new file (after its lag), by
// size, or by ModifiedTime when the size did not change.
func TestWaitForICEConfirms(t *testing.T) {
	for _, sameSize := range []bool{false, true} {
		t.Run(map[bool]string{false: "new size", true: "same size"}[sameSize], func(t *testing.T) {
			h, c, clk := lagHarness(t, 30*time.Second)
			m := h.info.Media[0]
			ctx := context.Background()
			before, err := c.MediaInfo(ctx, m.MediaID)
			if err != nil {
				t.Fatal(err)
			}
			clk.Sleep(ctx, 2*time.Second) // ICE's times have a resolution of a second
			size := 300 << 10
			if sameSize {
				size = len(emulator.OldSource(m.MediaID))
			}
			data := bytes.Repeat([]byte("n"), size)
			if _, err := c.OverwriteReader(ctx, m.MediaID, bytes.NewReader(data), int64(len(data)), reupload.Options{}); err != nil {
				t.Fatal(err)
			}
			start, calls := clk.Now(), h.em.ICE.Calls("GetMediaInfo")
			mi, err := c.WaitForICE(ctx, m.MediaID, before, int64(len(data)), 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := mi.Source()
			if f.FileSize != int64(len(data)) {
				t.Fatalf("confirmed with size %d, want %d", f.FileSize, len(data))
			}
			if waited := clk.Now().Sub(start); waited < 30*time.Second || waited > 60*time.Second {
				t.Fatalf("confirmed after %s of a 30 s lag", waited)
			}
			if n := h.em.ICE.Calls("GetMediaInfo") - calls; n > 8 {
				t.Fatalf("%d GetMediaInfo calls to wait 30 s: the backoff does not back off", n)
			}
		})
	}
}

// When ICE does not catch up in time, WaitForICE says so: exit 4.
func TestWaitForICETimesOut(t *testing.T) {
	h, c, _ := lagHarness(t, time.Hour)
	m := h.info.Media[0]
	ctx := context.Background()
	before, err := c.MediaInfo(ctx, m.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("n"), 300<<10)
	if _, err := c.OverwriteReader(ctx, m.MediaID, bytes.NewReader(data), int64(len(data)), reupload.Options{}); err != nil {
		t.Fatal(err)
	}
	mi, err := c.WaitForICE(ctx, m.MediaID, before, int64(len(data)), time.Minute)
	if !errors.Is(err, reupload.ErrNotConfirmed) || reupload.ExitCode(err) != reupload.ExitUnconfirmed || mi == nil || mi.Status != "Uploading" {
		t.Fatalf("err = %v (exit %d), media %+v; want ErrNotConfirmed, exit 4 and ICE's last view (Uploading)", err, reupload.ExitCode(err), mi)
	}
}

// Backup downloads the current source through GetMediaInfo's signed URL
// and verifies it; the old source is then the backup's content.
func TestBackup(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	ctx := context.Background()
	mi, err := h.c.MediaInfo(ctx, m.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, err := h.c.Backup(ctx, mi, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(b.Path)
	if err != nil || !bytes.Equal(got, emulator.OldSource(m.MediaID)) || b.Size != int64(len(got)) {
		t.Fatalf("backup %+v holds %d bytes (%v), want the old source", b, len(got), err)
	}
	if filepath.Dir(b.Path) != dir || !strings.HasSuffix(b.Path, "-source.mp4") {
		t.Fatalf("backup path %s", b.Path)
	}
	// An expired URL is an error that does not quote the signature.
	f, _ := mi.Source()
	mi.Files[0].FileURL = f.FileURL + "x"
	if _, err := h.c.Backup(ctx, mi, dir); err == nil || strings.Contains(err.Error(), "Signature=") && !strings.Contains(err.Error(), "Signature=REDACTED") {
		t.Fatalf("err = %v: want a failure that does not quote the signed URL", err)
	}
}

// batch --wait confirms each media, or marks it unconfirmed (exit 4).
func TestBatchWait(t *testing.T) {
	for _, lag := range []time.Duration{30 * time.Second, time.Hour} {
		t.Run(lag.String(), func(t *testing.T) {
			h, c, _ := lagHarness(t, lag)
			path, _ := writeFile(t, 300<<10, 77)
			items := []reupload.Item{{MediaID: h.info.Media[0].MediaID, Source: path}}
			res, err := c.Batch(context.Background(), items, reupload.BatchOptions{Wait: true, WaitTimeout: 10 * time.Minute,
				Options: reupload.Options{Guards: true}})
			if lag < time.Minute {
				if err != nil || res[0].Status != reupload.StatusDone || res[0].Confirmed == nil || !*res[0].Confirmed {
					t.Fatalf("err %v, result %+v; want done and confirmed", err, res[0])
				}
				return
			}
			if reupload.ExitCode(err) != reupload.ExitUnconfirmed || res[0].Status != reupload.StatusUnconfirmed || *res[0].Confirmed {
				t.Fatalf("err %v (exit %d), result %+v; want unconfirmed and exit 4", err, reupload.ExitCode(err), res[0])
			}
		})
	}
}
