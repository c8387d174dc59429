//go:build browser

package ui_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write testdata/screenshot.png (for the README)")

// browser starts Debian's chromium headless with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("no chromium on PATH: apt-get install -y chromium (the browser tests need it)")
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 1500))
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a timeout
		t.Fatal(err)
	}
	return ctx
}

// step runs actions with a bound, saving a screenshot as an artifact when
// they fail.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v (screenshot: %s)", what, err, failShot(t, ctx))
	}
}

// failShot saves the page as it is to the artifacts directory
// ($REUPLOAD_ARTIFACTS, else the temp dir) and returns the path.
func failShot(t *testing.T, ctx context.Context) string {
	dir := os.Getenv("REUPLOAD_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "none: " + err.Error()
	}
	p := filepath.Join(dir, "reupload-ui-"+t.Name()+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		return "none: " + err.Error()
	}
	return p
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](`(document.querySelector(`+strconv.Quote(sel)+`)||{}).textContent||""`))
	if err != nil {
		t.Fatalf("read %s: %v (screenshot: %s)", sel, err, failShot(t, ctx))
	}
	return s
}

// waitText waits until sel's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	step(t, ctx, fmt.Sprintf("wait for %q in %s", want, sel),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`(document.querySelector(`+strconv.Quote(sel)+`)||{textContent:""}).textContent.includes(`+strconv.Quote(want)+`)`)(ctx, tg)
			return err
		}))
}

// TestBrowser is the editor's walk-through in a real browser: search by
// title, pick a file in the file browser, replace, reload mid-upload,
// pause and resume, watch the bar move to "Replaced"; then drop a file.
func TestBrowser(t *testing.T) {
	g := newGate()
	h := newHarness(t, harnessOpts{em: emulator.Config{Media: 12, TotalBandwidth: 3 << 20},
		options: reupload.Options{PartSize: 256 << 10, Concurrency: 2, OnEvent: g.event}})
	data := h.mediaFile(t, "Videos/spring keynote final.mp4", 6<<20)
	h.mediaFile(t, "Videos/b-roll.mov", 300<<10)
	m := h.info.Media[0] // "Spring launch keynote"
	ctx := browser(t)

	step(t, ctx, "open the printed URL", chromedp.Navigate(h.srv.URL()), chromedp.WaitVisible(chromedp.CSS("#search-q")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); strings.Contains(loc, "token") {
		t.Errorf("the token stays in the address bar: %s", loc)
	}
	// 1. Find the media by title.
	step(t, ctx, "search", chromedp.SendKeys(chromedp.CSS(`input[type=search]`), "spring launch"), chromedp.Click(chromedp.CSS(`#search-form button[type=submit]`)))
	step(t, ctx, "choose the media", chromedp.Click(chromedp.CSS(`button[aria-label="Choose Spring launch keynote"]`)))
	waitText(t, ctx, "#chosen-media", m.MediaID)
	// 2. Choose the file in the browser.
	step(t, ctx, "open the folder", chromedp.Click(chromedp.CSS(`#browser button[aria-label="Folder Videos"]`)))
	step(t, ctx, "choose the file", chromedp.Click(chromedp.CSS(`#browser button[aria-label="File spring keynote final.mp4"]`)))
	waitText(t, ctx, "#chosen-file", "spring keynote final.mp4")
	// 3. Replace, confirmed in the dialog.
	step(t, ctx, "Replace source", chromedp.Click(chromedp.CSS("#replace-source")), chromedp.WaitEnabled(chromedp.CSS("#confirm-replace")))
	body := text(t, ctx, "#confirm-body")
	for _, want := range []string{"Spring launch keynote", "6.0 MiB", "Guards"} {
		if !strings.Contains(body, want) {
			t.Errorf("the confirmation lacks %q: %s", want, body)
		}
	}
	step(t, ctx, "Replace", chromedp.Click(chromedp.CSS("#confirm-replace")))
	<-g.first // the upload is under way, held after its first part

	// Reload mid-upload: the upload shows again.
	step(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#jobs [role=progressbar]`)))
	waitText(t, ctx, "#jobs", "running")
	// Pause while held, so the stop lands before the next part.
	step(t, ctx, "Pause", chromedp.Click(chromedp.Search(`//div[@id="jobs"]//button[text()="Pause"]`)))
	waitText(t, ctx, "#jobs", "pausing")
	close(g.release)
	waitText(t, ctx, "#jobs", "Paused")
	paused := progress(t, ctx)
	if paused <= 0 || paused >= 100 {
		t.Errorf("paused at %d%%", paused)
	}
	step(t, ctx, "Resume", chromedp.Click(chromedp.Search(`//div[@id="jobs"]//button[text()="Resume"]`)))

	// Watch the bar move until the status says Replaced.
	seen, shot := map[int]bool{}, false
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(text(t, ctx, "#done-jobs"), "Replaced") {
		if time.Now().After(deadline) {
			t.Fatalf("no Replaced; progress seen %v (screenshot: %s)", seen, failShot(t, ctx))
		}
		v := progress(t, ctx)
		if v >= 0 {
			seen[v] = true
		}
		if *updateScreenshot && !shot && v >= 40 && v < 90 {
			shot = true
			png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			must(t, os.WriteFile("testdata/screenshot.png", png, 0o644))
		}
	}
	moving := 0
	for v := range seen {
		if v > paused && v < 100 {
			moving++
		}
	}
	if moving < 2 {
		t.Errorf("the bar did not move between %d%% and 100%%: %v", paused, seen)
	}
	final := text(t, ctx, "#done-jobs")
	for _, want := range []string{"Replaced", "CRC-64", "request id", "resumed with"} {
		if !strings.Contains(final, want) {
			t.Errorf("final status lacks %q: %s", want, final)
		}
	}
	if now, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#done-jobs [role=progressbar]`), "aria-valuenow")); err != nil || now.Value != "100" {
		t.Errorf("aria-valuenow at the end: %+v %v", now, err)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Error("OSS does not hold the new file")
	}

	// Drag and drop a small file from outside the root.
	m2 := h.info.Media[5] // "Summer campaign teaser"
	dropped := filepath.Join(t.TempDir(), "teaser v2.mp4")
	dropData := append([]byte("\x00\x00\x00\x18ftypisom"), bytes.Repeat([]byte{7}, 150<<10)...)
	must(t, os.WriteFile(dropped, dropData, 0o644))
	step(t, ctx, "search again", chromedp.SetValue(chromedp.CSS("#search-q"), "teaser"), chromedp.Click(chromedp.CSS(`#search-form button[type=submit]`)))
	step(t, ctx, "choose the second media", chromedp.Click(chromedp.CSS(`button[aria-label="Choose Summer campaign teaser"]`)))
	step(t, ctx, "drop a file", dropFile(chromedp.CSS("#drop"), dropped))
	waitText(t, ctx, "#drop-status", "Received teaser v2.mp4")
	step(t, ctx, "Replace source (dropped)", chromedp.Click(chromedp.CSS("#replace-source")), chromedp.WaitEnabled(chromedp.CSS("#confirm-replace")),
		chromedp.Click(chromedp.CSS("#confirm-replace")))
	waitText(t, ctx, "#done-jobs", "teaser v2.mp4 (dropped)")
	for !strings.Contains(text(t, ctx, `#done-jobs article[aria-label="Upload of Summer campaign teaser"]`), "Replaced") {
		if time.Now().After(deadline) {
			t.Fatalf("the dropped file was not replaced (screenshot: %s)", failShot(t, ctx))
		}
	}
	if !bytes.Equal(h.object(t, m2), dropData) {
		t.Error("OSS does not hold the dropped file")
	}
	if *updateScreenshot && !shot {
		t.Error("no screenshot taken: the bar was never between 40% and 90%")
	}
	h.noSecrets(t)
}

// progress reads the first progress bar's aria-valuenow; -1 when none.
func progress(t *testing.T, ctx context.Context) int {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[string](`(() => { const b = document.querySelector('[role=progressbar]'); return b ? b.getAttribute('aria-valuenow') : '-1' })()`))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("aria-valuenow %q", v)
	}
	return n
}

// dropFile drops a file from the disk onto sel as the operating system
// does: dragEnter, dragOver and drop at the element's centre, carrying the
// file (Input.dispatchDragEvent).
func dropFile(sel chromedp.CSS, path string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.ScrollIntoView(sel)(ctx, t); err != nil {
			return err
		}
		box, err := chromedp.Dimensions(sel)(ctx, t)
		if err != nil {
			return err
		}
		q := box.Content
		x, y := (q[0]+q[2]+q[4]+q[6])/4, (q[1]+q[3]+q[5]+q[7])/4
		data := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{path}, DragOperationsMask: 1}
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
			if _, err := cdp.Call(ctx, t, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: x, Y: y, Data: data}); err != nil {
				return err
			}
		}
		return nil
	})
}
