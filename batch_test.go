package reupload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ossupload"
)

func TestParseManifestFormats(t *testing.T) {
	const a, b = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	for name, text := range map[string]string{
		"csv with header":    "media_id,source\n" + a + ",a.mp4\n\n" + b + `,"dir/b, final.mp4"` + "\n",
		"csv without header": "\n" + a + ", a.mp4\r\n" + b + ",dir/b, final.mp4\n",
		"jsonl":              `{"media_id":"` + a + `","source":"a.mp4"}` + "\n\n" + `{"source":"dir/b, final.mp4","media_id":"` + b + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			items, err := reupload.ParseManifest(strings.NewReader(text), "m")
			if strings.Contains(name, "without") {
				// an unquoted comma makes three fields: reported, not guessed
				var be *reupload.BatchError
				var me *reupload.ManifestError
				if !errors.As(err, &be) || !be.Invalid || !errors.As(err, &me) || len(me.Lines) != 1 || me.Lines[0].Line != 3 {
					t.Fatalf("err = %v, want line 3 reported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != 2 || items[0].MediaID != a || items[0].Source != "a.mp4" || items[1].MediaID != b || items[1].Source != "dir/b, final.mp4" {
				t.Fatalf("items = %+v", items)
			}
			if items[1].Line != 4 && items[1].Line != 3 {
				t.Fatalf("second item on line %d", items[1].Line)
			}
		})
	}
}

// manifest50 is a CSV manifest of every seeded media with its own source.
func manifest50(t *testing.T, info emulator.Info, size int64) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("media_id,source\n")
	data := map[string][]byte{}
	for i, m := range info.Media {
		p, d := writeFile(t, size, uint64(i+100))
		data[m.MediaID] = d
		fmt.Fprintf(&b, "%s,%s\n", m.MediaID, p)
	}
	path := filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// A 50-media manifest with 3 bad lines is rejected whole, every bad line
// named, before a single ICE or OSS call.
func TestBadManifestRejectedBeforeAnyUpload(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 50})
	path, _ := manifest50(t, h.info, 1)
	lines := strings.Split(strings.TrimSpace(readString(t, path)), "\n")
	lines[5] = "not-a-media-id!,x.mp4"   // line 6
	lines[20] = lines[3]                 // line 21 duplicates line 4
	lines[40] = h.info.Media[39].MediaID // line 41: one field
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := reupload.ReadManifest(path, nil)
	var me *reupload.ManifestError
	if !errors.As(err, &me) || reupload.ExitCode(err) != reupload.ExitUsage {
		t.Fatalf("err = %v (exit %d), want a *ManifestError and exit 2", err, reupload.ExitCode(err))
	}
	var got []int
	for _, l := range me.Lines {
		got = append(got, l.Line)
	}
	if fmt.Sprint(got) != "[6 21 41]" || !strings.Contains(me.Lines[1].Problem, "already listed on line 4") {
		t.Fatalf("bad lines %v: %v", got, me)
	}

	// Items built in code are checked the same way by Batch itself.
	items := []reupload.Item{{MediaID: h.info.Media[0].MediaID, Source: "a"}, {MediaID: h.info.Media[0].MediaID, Source: "b"}}
	_, err = h.c.Batch(context.Background(), items, reupload.BatchOptions{})
	if !errors.As(err, &me) || reupload.ExitCode(err) != reupload.ExitUsage || me.Lines[0].Line != 2 {
		t.Fatalf("Batch of duplicates: %v", err)
	}
	if n := h.em.ICE.Calls("RefreshUploadMedia") + h.em.ICE.Calls("GetMediaInfo"); n != 0 {
		t.Fatalf("%d ICE calls for an invalid manifest", n)
	}
	if st := h.em.OSS.Stats(); st.Requests["InitiateMultipartUpload"] != 0 {
		t.Fatalf("OSS saw %v", st.Requests)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// 50 media with faults on some: every media gets exactly one result, the
// failed ones carry the service's code and request id, the rest are on OSS
// byte for byte; a rerun skips the done ones and finishes the failed ones
// (resuming those that had parts on OSS); a third run does nothing.
func TestBatchFaultsThenRerunFinishesOnlyFailed(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 50, Faults: []string{
		"RefreshUploadMedia:every=10:times=3:403:Forbidden", // calls 10, 20, 30: three media fail at ICE
		"UploadPart:every=9:times=2:403:AccessDenied",       // two media fail on a part
	}})
	path, data := manifest50(t, h.info, 150<<10)
	items, err := reupload.ReadManifest(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := reupload.BatchOptions{Files: 8, Parts: 16, Options: reupload.Options{PartSize: 100 << 10}}
	var streamed []reupload.ItemResult
	opts.OnResult = func(r reupload.ItemResult) { streamed = append(streamed, r) }

	res, err := h.c.Batch(context.Background(), items, opts)
	var be *reupload.BatchError
	if !errors.As(err, &be) || reupload.ExitCode(err) != reupload.ExitPartial || be.Failed != 5 || be.Succeeded != 45 {
		t.Fatalf("err = %v, want 5 failed and 45 done (exit 3)", err)
	}
	if len(res) != 50 || len(streamed) != 50 {
		t.Fatalf("%d results, %d streamed; want 50", len(res), len(streamed))
	}
	codes := map[string]int{}
	failedIDs := map[string]bool{}
	for i, r := range res {
		if r.MediaID != items[i].MediaID || r.Line != i+2 {
			t.Fatalf("result %d is for %s line %d, want manifest order", i, r.MediaID, r.Line)
		}
		switch r.Status {
		case reupload.StatusDone:
			if r.Bytes != 150<<10 || r.UploadID == "" || r.Code != "" {
				t.Fatalf("done result %+v", r)
			}
		case reupload.StatusFailed:
			codes[r.Code]++
			failedIDs[r.MediaID] = true
			if r.RequestID == "" || r.Message == "" {
				t.Fatalf("failed result without request id or message: %+v", r)
			}
		default:
			t.Fatalf("status %q", r.Status)
		}
	}
	if codes["Forbidden"] != 3 || codes["AccessDenied"] != 2 {
		t.Fatalf("failure codes %v, want 3 Forbidden and 2 AccessDenied", codes)
	}
	for _, m := range h.info.Media {
		got, want := h.object(t, m), data[m.MediaID]
		if failedIDs[m.MediaID] {
			want = emulator.OldSource(m.MediaID)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("media %s (failed %v): object has %d bytes, not the expected content", m.MediaID, failedIDs[m.MediaID], len(got))
		}
	}
	if cps, _ := h.c.Pending(); len(cps) != 2 {
		t.Fatalf("%d checkpoints after the first run, want 2 (the AccessDenied media)", len(cps))
	}

	// Rerun: the faults are spent. Only the five failed media are uploaded.
	initiated := h.em.OSS.Stats().Requests["InitiateMultipartUpload"]
	streamed = nil
	res, err = h.c.Batch(context.Background(), items, opts)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	done, resumed := 0, 0
	for _, r := range res {
		switch {
		case r.Status == reupload.StatusDone && failedIDs[r.MediaID]:
			done++
			if r.Resumed {
				resumed++
			}
		case r.Status == reupload.StatusSkipped && !failedIDs[r.MediaID]:
		default:
			t.Fatalf("rerun result %+v (failed before: %v)", r, failedIDs[r.MediaID])
		}
	}
	if done != 5 || len(streamed) != 50 {
		t.Fatalf("rerun finished %d media (%d results), want 5", done, len(streamed))
	}
	if n := h.em.OSS.Stats().Requests["InitiateMultipartUpload"] - initiated; n != 3 {
		t.Fatalf("rerun initiated %d uploads, want 3 (the 2 half-done ones resume; %d did)", n, resumed)
	}
	for _, m := range h.info.Media {
		if !bytes.Equal(h.object(t, m), data[m.MediaID]) {
			t.Fatalf("media %s not replaced after the rerun", m.MediaID)
		}
	}
	if cps, _ := h.c.Pending(); len(cps) != 0 {
		t.Fatalf("%d checkpoints left", len(cps))
	}

	// Third run: everything skipped after one look at each object (a done
	// marker alone is not trusted: the object may have been replaced
	// since): one RefreshUploadMedia and one HEAD per media, no part, and
	// the source is not read for its CRC (the marker describes this very
	// file); --force uploads again.
	before := h.em.ICE.Calls("RefreshUploadMedia")
	heads, parts := h.em.OSS.Stats().Requests["HeadObject"], h.em.OSS.Stats().Requests["UploadPart"]
	skipped, err := h.c.Batch(context.Background(), items[:3], opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range skipped {
		if r.Status != reupload.StatusSkipped {
			t.Fatalf("media %s: %s, want skipped", r.MediaID, r.Status)
		}
	}
	if n := h.em.ICE.Calls("RefreshUploadMedia") - before; n != 3 {
		t.Fatalf("a run of done media made %d ICE calls, want 3 (one per media)", n)
	}
	if n, p := h.em.OSS.Stats().Requests["HeadObject"]-heads, h.em.OSS.Stats().Requests["UploadPart"]-parts; n != 3 || p != 0 {
		t.Fatalf("a run of done media made %d HEADs and sent %d parts, want 3 and 0", n, p)
	}
	force := opts
	force.Force = true
	res, err = h.c.Batch(context.Background(), items[:3], force)
	if err != nil || res[0].Status != reupload.StatusDone {
		t.Fatalf("forced run: %v %+v", err, res)
	}
}

// A source that changed after it was marked done is uploaded again.
func TestBatchChangedSourceIsNotSkipped(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	p, _ := writeFile(t, 1000, 1)
	items := []reupload.Item{{MediaID: m.MediaID, Source: p}}
	if _, err := h.c.Batch(context.Background(), items, reupload.BatchOptions{}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("new!"), 500)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := h.c.Batch(context.Background(), items, reupload.BatchOptions{})
	if err != nil || res[0].Status != reupload.StatusDone || !bytes.Equal(h.object(t, m), data) {
		t.Fatalf("changed source: %v %+v", err, res)
	}
}

// Two shards cover the manifest exactly once, whatever its length.
func TestShardsCoverOnce(t *testing.T) {
	for n := 1; n <= 5; n++ {
		for size := 0; size <= 12; size++ {
			var items []reupload.Item
			for i := range size {
				items = append(items, reupload.Item{MediaID: fmt.Sprint(i)})
			}
			seen := map[string]int{}
			for k := range n {
				for _, it := range reupload.Shard(items, k, n) {
					seen[it.MediaID]++
				}
			}
			if len(seen) != size {
				t.Fatalf("n=%d size=%d: covered %d", n, size, len(seen))
			}
			for id, c := range seen {
				if c != 1 {
					t.Fatalf("n=%d: item %s in %d shards", n, id, c)
				}
			}
		}
	}
	for _, bad := range []string{"", "1", "2/2", "-1/2", "0/0", "a/b", "1/2/3"} {
		if _, _, err := reupload.ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if k, n, err := reupload.ParseShard("3/8"); err != nil || k != 3 || n != 8 {
		t.Fatalf("ParseShard(3/8) = %d %d %v", k, n, err)
	}
}

// The global budget caps parts in flight across all media.
func TestBatchPartsBudget(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 6, Latency: 5 * time.Millisecond})
	var items []reupload.Item
	for i, m := range h.info.Media {
		p, _ := writeFile(t, 1<<20, uint64(i))
		items = append(items, reupload.Item{MediaID: m.MediaID, Source: p})
	}
	var inFlight, peak atomic.Int64
	var mu sync.Mutex
	counting := func(t ossupload.Target, c ossupload.CredentialsSource) (ossupload.PartAPI, error) {
		api, err := ossupload.NewOSSAPI(t, c, ossupload.SDKConfig{})
		return &countingAPI{PartAPI: api, in: &inFlight, peak: &peak, mu: &mu}, err
	}
	opts := reupload.BatchOptions{Files: 4, Parts: 3, Options: reupload.Options{PartSize: 100 << 10, Engine: ossupload.Options{NewAPI: counting}}}
	if _, err := h.c.Batch(context.Background(), items, opts); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Fatalf("peak parts in flight %d, want 2..3 under a budget of 3", p)
	}
}

type countingAPI struct {
	ossupload.PartAPI
	in, peak *atomic.Int64
	mu       *sync.Mutex
}

func (c *countingAPI) UploadPart(ctx context.Context, in ossupload.PartInput) (ossupload.PartOutput, error) {
	n := c.in.Add(1)
	c.mu.Lock()
	if n > c.peak.Load() {
		c.peak.Store(n)
	}
	c.mu.Unlock()
	defer c.in.Add(-1)
	return c.PartAPI.UploadPart(ctx, in)
}

// The client-side limiter keeps a dry run under ICE's throttling: without
// it the same run draws Throttling.User answers (and retries).
func TestBatchAPIQPSAvoidsThrottling(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 30, QPS: 20})
	dir := t.TempDir()
	var items []reupload.Item
	for i, m := range h.info.Media {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		items = append(items, reupload.Item{MediaID: m.MediaID, Source: p})
	}
	res, err := h.c.Batch(context.Background(), items, reupload.BatchOptions{Files: 16, DryRun: true, APIQPS: 15})
	if err != nil || len(res) != 30 || res[0].Status != reupload.StatusChecked {
		t.Fatalf("dry run: %v", err)
	}
	if n := h.em.ICE.Calls("GetMediaInfo"); n != 30 {
		t.Fatalf("%d GetMediaInfo calls for 30 media: the limiter let throttling through", n)
	}
	// Control: no limiter, same burst.
	h.c.Batch(context.Background(), items, reupload.BatchOptions{Files: 16, DryRun: true})
	if n := h.em.ICE.Calls("GetMediaInfo") - 30; n <= 30 {
		t.Fatalf("control run made %d calls; the emulator did not throttle, so the test proves nothing", n)
	}
	if n := h.em.ICE.Calls("RefreshUploadMedia"); n != 0 {
		t.Fatalf("dry run refreshed %d uploads", n)
	}
}

// A dry run names a missing source and an unknown media, uploads nothing.
func TestBatchDryRun(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 2})
	p, _ := writeFile(t, 10, 1)
	items := []reupload.Item{
		{MediaID: h.info.Media[0].MediaID, Source: p, Line: 1},
		{MediaID: h.info.Media[1].MediaID, Source: filepath.Join(t.TempDir(), "missing.mp4"), Line: 2},
		{MediaID: "0123456789abcdef0123456789abcdef", Source: p, Line: 3},
	}
	res, err := h.c.Batch(context.Background(), items, reupload.BatchOptions{DryRun: true})
	if reupload.ExitCode(err) != reupload.ExitPartial || len(res) != 3 {
		t.Fatalf("dry run: %v, %d results", err, len(res))
	}
	if res[0].Status != reupload.StatusChecked || res[1].Code != "BadInput" || res[2].Code != "ResourceNotFound" || res[2].RequestID == "" {
		t.Fatalf("results %+v", res)
	}
	if h.em.ICE.Calls("RefreshUploadMedia") != 0 || !bytes.Equal(h.object(t, h.info.Media[0]), emulator.OldSource(h.info.Media[0].MediaID)) {
		t.Fatal("a dry run changed something")
	}
}

// A cancelled batch reports what finished and exits 130.
func TestBatchCancelled(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 3})
	p, _ := writeFile(t, 10, 1)
	var items []reupload.Item
	for _, m := range h.info.Media {
		items = append(items, reupload.Item{MediaID: m.MediaID, Source: p})
	}
	ctx, cancel := context.WithCancel(context.Background())
	opts := reupload.BatchOptions{Files: 1, OnResult: func(reupload.ItemResult) { cancel() }}
	res, err := h.c.Batch(ctx, items, opts)
	if reupload.ExitCode(err) != reupload.ExitInterrupted || len(res) != 1 || res[0].Status != reupload.StatusDone {
		t.Fatalf("cancelled batch: %v (exit %d), %+v", err, reupload.ExitCode(err), res)
	}
}

// Abort removes the multipart upload from OSS and the checkpoint; Stale
// picks uploads by the age of their checkpoint against an injected now.
func TestAbortStaleUploads(t *testing.T) {
	h := newHarness(t, emulator.Config{Media: 3, Faults: []string{"UploadPart:nth=2:403:AccessDenied", "UploadPart:nth=4:403:AccessDenied"}})
	var ids []string
	for i, m := range h.info.Media[:2] {
		p, _ := writeFile(t, 300<<10, uint64(i))
		_, err := h.c.Overwrite(context.Background(), m.MediaID, p, reupload.Options{PartSize: 100 << 10, Concurrency: 1})
		var oe *ossupload.OSSError
		if !errors.As(err, &oe) || oe.Code != "AccessDenied" {
			t.Fatalf("media %d: %v", i, err)
		}
		ids = append(ids, m.MediaID)
	}
	if n := len(h.em.OSS.Uploads(emulator.Bucket)); n != 2 {
		t.Fatalf("%d uploads on OSS before abort, want 2", n)
	}
	stale, err := h.c.Stale(7*24*time.Hour, time.Now())
	if err != nil || len(stale) != 0 {
		t.Fatalf("fresh checkpoints counted stale: %v %d", err, len(stale))
	}
	stale, err = h.c.Stale(7*24*time.Hour, time.Now().Add(8*24*time.Hour))
	if err != nil || len(stale) != 2 {
		t.Fatalf("stale = %d, %v; want 2", len(stale), err)
	}
	for _, cp := range stale {
		r, err := h.c.Abort(context.Background(), cp.MediaID)
		if err != nil || r.Gone || r.UploadID != cp.UploadID {
			t.Fatalf("abort %s: %+v %v", cp.MediaID, r, err)
		}
	}
	if u := h.em.OSS.Uploads(emulator.Bucket); len(u) != 0 {
		t.Fatalf("uploads left on OSS: %+v", u)
	}
	if cps, _ := h.c.Pending(); len(cps) != 0 {
		t.Fatalf("%d checkpoints left", len(cps))
	}
	if _, err := h.c.Abort(context.Background(), ids[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("abort without checkpoint: %v", err)
	}
	if _, err := h.c.Abort(context.Background(), "0123456789abcdef0123456789abcdef"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("abort of unknown media: %v", err)
	}
}
