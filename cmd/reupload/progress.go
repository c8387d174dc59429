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
				line += ": " + oneLine(ev.Err.Error())
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
