// Command reupload replaces the source file of an Alibaba Cloud ICE media
// asset, keeping its MediaId. See `reupload help`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/reupload/reupload"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

const usage = `usage: reupload <command> [flags] [args]

Commands:
  put MEDIA_ID FILE    replace the source of one media (resumable, verified);
                       FILE may be an http(s) URL, or - for stdin
  batch MANIFEST       replace the sources of many media (CSV or JSONL manifest)
  status [MEDIA_ID]    list unfinished uploads in the state dir
  abort MEDIA_ID       abort an unfinished upload on OSS (or --older-than 7d)
  emulator             run a local ICE + OSS emulator and print its JSON line
  ui                   a local web page for editors: find by title, choose a file, replace, watch
  demo                 overwrite a media on the embedded emulator, with a refresh and a resume
  version              print the version, VCS revision and Go version of this build
  completion SHELL     print a completion script for bash, zsh or fish
  help                 show this help

Run 'reupload <command> -h' for a command's flags.

Exit codes: 0 done, 1 failed (old media intact), 2 usage, bad input or
refused (nothing sent), 3 some media of a batch failed, 4 done but ICE did
not confirm in time (--wait), 5 replaced but the object does not match the
source, 130 interrupted (resumable, except from stdin).
`

// env is what a command may touch: no globals, so tests run it in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// scrub removes, by value, every secret the command's client holds or
	// received from text about to be printed; nil until a client exists.
	scrub func(string) string

	mu    sync.Mutex
	drain *drain // set by a command that stops gracefully on the first signal

	openURL func(string) error // opens a page in a browser; nil: the system's (ui)
}

// drainTimeout is how long parts in flight may finish after the first
// SIGINT/SIGTERM before the command stops at once.
const drainTimeout = 10 * time.Second

// drain is a command's graceful stop: ch closes on the first signal.
type drain struct {
	ch       chan struct{}
	inFlight atomic.Int64 // parts in flight, for the message
	counted  atomic.Bool  // inFlight is kept up to date (put); else the message gives no number
}

// graceful makes the first SIGINT/SIGTERM close the returned drain's
// channel instead of cancelling the command's context: the command lets
// parts in flight finish and saves its checkpoint. A second signal, or
// drainTimeout, cancels the context (stop now).
func (e *env) graceful() *drain {
	d := &drain{ch: make(chan struct{})}
	e.mu.Lock()
	e.drain = d
	e.mu.Unlock()
	return d
}

// signals turns SIGINT/SIGTERM into a graceful stop (when the command set
// one up) and then a cancellation, until done is closed.
func (e *env) signals(sigs <-chan os.Signal, cancel context.CancelFunc, done <-chan struct{}) {
	select {
	case <-sigs:
	case <-done:
		return
	}
	e.mu.Lock()
	d := e.drain
	e.mu.Unlock()
	if d == nil {
		cancel()
		return
	}
	close(d.ch)
	parts := "the parts"
	if d.counted.Load() {
		parts = fmt.Sprintf("%d part(s)", d.inFlight.Load())
	}
	fmt.Fprintf(e.stderr, "\nreupload: stopping: finishing %s in flight (up to %s) and saving the checkpoint; Ctrl-C again to stop now\n",
		parts, drainTimeout)
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-sigs:
	case <-t.C:
	case <-done:
	}
	cancel()
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go e.signals(sigs, cancel, done)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return reupload.ExitUsage
	}
	switch args[0] {
	case "put":
		return e.put(ctx, args[1:])
	case "batch":
		return e.batch(ctx, args[1:])
	case "status":
		return e.status(ctx, args[1:])
	case "abort":
		return e.abort(ctx, args[1:])
	case "emulator":
		return e.emulator(ctx, args[1:])
	case "demo":
		return e.demo(ctx, args[1:])
	case "ui":
		return e.ui(ctx, args[1:])
	case "version", "--version", "-version":
		return e.version(args[1:])
	case "completion":
		return e.completion(args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return reupload.ExitOK
	}
	fmt.Fprintf(stderr, "reupload: unknown command %q; run 'reupload help' for the list\n", args[0])
	return reupload.ExitUsage
}
