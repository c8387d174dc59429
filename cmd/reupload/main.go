// Command reupload replaces the source file of an Alibaba Cloud ICE media
// asset, keeping its MediaId. See `reupload help`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
  demo                 overwrite a media on the embedded emulator, with a refresh and a resume
  version              print the version, VCS revision and Go version of this build
  completion SHELL     print a completion script for bash, zsh or fish
  help                 show this help

Run 'reupload <command> -h' for a command's flags.

Exit codes: 0 done, 1 failed (old media intact), 2 usage or bad input,
3 some media of a batch failed, 130 interrupted (resumable).
`

// env is what a command may touch: no globals, so tests run it in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
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
