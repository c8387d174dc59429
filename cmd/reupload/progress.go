package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/reupload/reupload/ossupload"
)

// newProgress draws a bar on w when w is a terminal, and nothing otherwise:
// scripts get the final line, not a stream of redraws.
func newProgress(w io.Writer, label string) ossupload.Progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &barProgress{w: w, label: label}
}

type barProgress struct {
	w     io.Writer
	label string
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
}

func (p *barProgress) Start(total, confirmed int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(p.label),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	)
	p.bar.Add64(confirmed)
}

// done clears the bar, so that the summary or error line starts clean (a
// stream's bar never completes on its own: its length was unknown).
func (p *barProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
	}
}

func (p *barProgress) PartDone(_ int, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Add64(size)
	}
}

// eventPrinter writes the events a person wants to see on stderr. Errors are
// reduced to their one-line form, which never holds a secret.
func eventPrinter(w io.Writer) func(ossupload.Event) {
	var mu sync.Mutex
	return func(ev ossupload.Event) {
		var line string
		switch ev.Kind {
		case ossupload.EventRefresh:
			line = "refreshed the upload credential (" + ev.Message + ")"
		case ossupload.EventResume, ossupload.EventFreshStart:
			line = ev.Message
			if ev.Err != nil {
				line = "warning: " + line + ": " + oneLine(ev.Err.Error())
			}
		case ossupload.EventAbortFailed, ossupload.EventCheckpointKO:
			line = "warning: " + ev.Message
			if ev.Err != nil {
				line += " " + oneLine(ev.Err.Error())
			}
		default:
			return
		}
		mu.Lock()
		fmt.Fprintln(w, "reupload: "+line)
		mu.Unlock()
	}
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
