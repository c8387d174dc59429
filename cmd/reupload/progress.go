package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/ossupload"
)

// isTerminal reports whether f (an *os.File) is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// byteBar is put's progress bar on a terminal (nil elsewhere: scripts get
// the final line, not a stream of redraws). It shows bytes as they leave
// for OSS against the total, this run's rate and ETA (resumed bytes count
// as done, never as speed), parts done and in flight; a ticker redraws it
// every second even when nothing moves, and says when nothing has.
type byteBar struct {
	w     io.Writer
	label string

	mu   sync.Mutex
	bar  *progressbar.ProgressBar
	last reupload.ProgressInfo
	at   time.Time // of the last snapshot
	quit chan struct{}
	wg   sync.WaitGroup
}

func newByteBar(w io.Writer, label string) *byteBar {
	if !isTerminal(w) {
		return nil
	}
	b := &byteBar{w: w, label: label, quit: make(chan struct{})}
	b.wg.Add(1)
	go b.tick()
	return b
}

func (b *byteBar) tick() {
	defer b.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.quit:
			return
		case <-t.C:
			b.mu.Lock()
			if b.bar != nil {
				b.bar.Describe(b.describe(time.Now()))
			}
			b.mu.Unlock()
		}
	}
}

// update takes a snapshot (reupload.Options.OnProgress).
func (b *byteBar) update(p reupload.ProgressInfo) {
	if b == nil || p.Final {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil {
		b.bar = progressbar.NewOptions64(p.Total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowBytes(false),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	b.last, b.at = p, time.Now()
	b.bar.Describe(b.describe(b.at))
	b.bar.Set64(p.Sent)
}

// describe is the text beside the bar.
func (b *byteBar) describe(now time.Time) string {
	p := b.last
	var sb strings.Builder
	sb.WriteString(b.label + ": " + humanBytes(p.Sent))
	if p.Total >= 0 {
		sb.WriteString(" / " + humanBytes(p.Total))
	}
	if p.Rate > 0 {
		sb.WriteString(", " + humanBytes(int64(p.Rate)) + "/s")
	}
	if p.ETA > 0 {
		sb.WriteString(", ETA " + p.ETA.String())
	}
	if p.Parts > 0 {
		fmt.Fprintf(&sb, ", parts %d/%d", p.PartsDone, p.Parts)
	} else {
		fmt.Fprintf(&sb, ", %d part(s) done", p.PartsDone)
	}
	fmt.Fprintf(&sb, " (%d in flight)", p.InFlight)
	if p.Refreshes > 0 {
		fmt.Fprintf(&sb, ", %d refresh(es)", p.Refreshes)
	}
	if idle := now.Sub(b.at); idle >= 3*time.Second {
		fmt.Fprintf(&sb, ", nothing moved for %s", idle.Round(time.Second))
	}
	return sb.String()
}

// done stops the ticker and clears the bar, so that the summary or error
// line starts clean.
func (b *byteBar) done() {
	if b == nil {
		return
	}
	close(b.quit)
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		b.bar.Clear()
	}
}

// eventPrinter writes the events a person wants to see on stderr; start
// adds the first line, the plan (EventStart). Errors are reduced to their
// one-line form, which never holds a secret.
func eventPrinter(w io.Writer, start bool) func(ossupload.Event) {
	var mu sync.Mutex
	return func(ev ossupload.Event) {
		var line string
		switch ev.Kind {
		case ossupload.EventStart:
			if !start {
				return
			}
			line = startLine(ev)
		case ossupload.EventRefresh:
			line = "refreshed the upload credential (" + ev.Message + ")"
		case ossupload.EventResume:
			if start {
				return // the start line says what a resume found
			}
			line = ev.Message
		case ossupload.EventFreshStart:
			line = ev.Message
			if ev.Err != nil {
				line = "warning: " + line + ": " + oneLine(ev.Err.Error())
			}
		case ossupload.EventAbortFailed, ossupload.EventCheckpointKO, ossupload.EventVerifyKO, ossupload.EventSkipCheckKO:
			line = "warning: " + ev.Message
			if ev.Err != nil {
				line += ": " + oneLine(ev.Err.Error())
			}
		default:
			return
		}
		mu.Lock()
		fmt.Fprintln(w, "reupload: "+line)
		mu.Unlock()
	}
}

// startLine says what is uploaded where, in how many parts, and what an
// earlier run left on OSS.
func startLine(ev ossupload.Event) string {
	dest := "oss://" + reupload.QuoteName(ev.Target.Bucket) + "/" + reupload.QuoteName(ev.Target.Key)
	if ev.Size < 0 {
		return fmt.Sprintf("uploading a stream to %s in parts of %s, %d in flight", dest, humanBytes(ev.PartSize), ev.Jobs)
	}
	line := fmt.Sprintf("uploading %s to %s: %d part(s) of %s, %d in flight", humanBytes(ev.Size), dest, ev.Parts, humanBytes(ev.PartSize), ev.Jobs)
	if ev.Reused > 0 {
		line += fmt.Sprintf("; resuming: %d of %d parts already on OSS", ev.Reused, ev.Parts)
	}
	return line
}

// batchBar is the one total bar of a batch on a terminal: bytes OSS has
// confirmed across all media, media done and failed, rate and ETA. Finished
// media are printed as lines above it.
type batchBar struct {
	w                io.Writer
	mu               sync.Mutex
	bar              *progressbar.ProgressBar
	max              int64
	done, failed, of int
}

// newBatchBar returns nil unless w is a terminal. total is the bytes the
// batch is expected to send (sources that cannot be sized add theirs as
// their uploads start).
func newBatchBar(w io.Writer, total int64, media int) *batchBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	b := &batchBar{w: w, max: max(total, 1), of: media}
	b.bar = progressbar.NewOptions64(b.max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)
	b.describe()
	return b
}

func (b *batchBar) describe() {
	b.bar.Describe(fmt.Sprintf("batch: %d/%d done, %d failed", b.done, b.of, b.failed))
}

// Start implements ossupload.Progress for each media of the batch.
func (b *batchBar) Start(total, confirmed int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur := b.bar.State().CurrentNum + total - confirmed; cur > b.max {
		b.max = cur
		b.bar.ChangeMax64(b.max)
	}
	b.bar.Add64(confirmed)
}

// PartDone implements ossupload.Progress.
func (b *batchBar) PartDone(_ int, size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bar.Add64(size)
}

// finished prints a media's line above the bar and updates the counts.
func (b *batchBar) finished(line string, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if failed {
		b.failed++
	} else {
		b.done++
	}
	b.bar.Clear()
	fmt.Fprintln(b.w, line)
	b.describe()
	b.bar.RenderBlank()
}

func (b *batchBar) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bar.Finish()
}
