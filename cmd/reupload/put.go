package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
)

// commonFlags are the flags every command that talks to ICE shares.
type commonFlags struct {
	region, endpoint, profile, stateDir, ossEndpoint string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.region, "region", "cn-shanghai", "ICE region id (endpoint ice.<region>.aliyuncs.com)")
	fs.StringVar(&c.endpoint, "endpoint", "", "ICE endpoint override, e.g. http://127.0.0.1:PORT for the emulator (plain http only on loopback)")
	fs.StringVar(&c.profile, "profile", "", "aliyun CLI profile to take credentials from (default: the standard credentials chain)")
	fs.StringVar(&c.stateDir, "state-dir", "", "where checkpoints live (default: the user cache dir)/reupload")
	fs.StringVar(&c.ossEndpoint, "oss-endpoint", "", "OSS endpoint override (internal or accelerate), e.g. https://oss-cn-shanghai-internal.aliyuncs.com")
}

func (c *commonFlags) client() (*reupload.Client, error) {
	return reupload.New(reupload.Config{Region: c.region, Endpoint: c.endpoint, Profile: c.profile, StateDir: c.stateDir, OSSEndpoint: c.ossEndpoint})
}

type putFlags struct {
	commonFlags
	partSize  sizeFlag
	jobs      jobsFlag
	limitRate sizeFlag
	json      bool
	quiet     bool
	restart   bool
	md5       bool
}

func (p *putFlags) register(fs *flag.FlagSet) {
	p.commonFlags.register(fs)
	p.partSize.auto = true
	fs.Var(&p.partSize, "part-size", "part size (auto, or e.g. 8MiB, 64MiB); auto keeps the file within 10,000 parts")
	fs.Var(&p.jobs, "j", "parts uploaded in parallel: auto (16, doubled up to 32 while throughput rises) or 1..64")
	fs.Var(&p.limitRate, "limit-rate", "cap upload bandwidth, e.g. 40MiB (per second)")
	fs.BoolVar(&p.json, "json", false, "print one JSON result object on stdout")
	fs.BoolVar(&p.quiet, "quiet", false, "print nothing but errors")
	fs.BoolVar(&p.restart, "restart", false, "ignore any checkpoint and start a fresh upload")
	fs.BoolVar(&p.md5, "md5", false, "also send Content-MD5 with every part (CRC-64 already verifies every byte)")
}

func (p *putFlags) options() (reupload.Options, error) {
	return reupload.Options{PartSize: p.partSize.v, Concurrency: int(p.jobs), LimitRate: p.limitRate.v, MD5: p.md5, Restart: p.restart}, nil
}

func (e *env) put(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("put", flag.ContinueOnError)
	var pf putFlags
	pf.register(fs)
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return e.help(fs, "usage: reupload put [flags] MEDIA_ID FILE|URL|-\n"+
			"FILE is a local file, URL an http(s) URL read with Range requests, - reads stdin (not resumable).\n")
	}
	if err == nil && len(pos) != 2 {
		err = usagef("put takes MEDIA_ID and FILE, got %d argument(s); usage: reupload put [flags] MEDIA_ID FILE|URL|-", len(pos))
	}
	var opts reupload.Options
	if err == nil {
		opts, err = pf.options()
	}
	if err != nil {
		return e.fail(err, pf.json, "")
	}
	mediaID, path := pos[0], pos[1]
	c, err := pf.client()
	if err != nil {
		return e.fail(err, pf.json, mediaID)
	}
	if !pf.quiet {
		opts.Progress = newProgress(e.stderr, "media "+mediaID)
		opts.OnEvent = eventPrinter(e.stderr)
	}
	var res *reupload.Result
	if path == "-" {
		// stdin cannot be re-read: OverwriteStream holds each part in
		// memory until OSS confirms it, and a later run cannot resume.
		if !pf.quiet {
			fmt.Fprintln(e.stderr, "reupload: uploading stdin part by part from memory; an upload from stdin is not resumable")
		}
		res, err = c.OverwriteStream(ctx, mediaID, e.stdin, opts)
	} else {
		res, err = c.Overwrite(ctx, mediaID, path, opts)
	}
	if bar, ok := opts.Progress.(*barProgress); ok {
		bar.done()
	}
	if err != nil {
		return e.fail(err, pf.json, mediaID)
	}
	if pf.json {
		writeJSON(e.stdout, struct {
			Status string `json:"status"`
			*reupload.Result
		}{"done", res})
	} else if !pf.quiet {
		fmt.Fprintf(e.stdout, "overwrote media %s (oss://%s/%s): %s in %.1fs, %d part(s), CRC-64 %s, %d refresh(es), %d retr(ies)%s\n",
			res.MediaID, res.Bucket, res.Object, humanBytes(res.Size), res.Seconds, res.Parts, res.CRC64, res.Refreshes, res.Retries, resumedNote(res))
	}
	return reupload.ExitOK
}

func resumedNote(r *reupload.Result) string {
	if !r.Resumed {
		return ""
	}
	return fmt.Sprintf(", resumed with %d part(s) already on OSS", r.PartsReused)
}

func writeJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "%s\n", b)
}

// errorInfo is the machine-readable form of a failure.
type errorInfo struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
	Hint      string `json:"hint,omitempty"`
}

// describe turns any error into one line, the code and request id the
// library reports for it (reupload.ErrorCode, shared with batch results),
// and a hint. It never includes secrets: no error type here carries one.
func describe(err error) errorInfo {
	code, requestID := reupload.ErrorCode(err)
	info := errorInfo{Code: code, RequestID: requestID, Message: oneLine(err.Error())}
	var (
		ue *usageError
		ae *refresh.APIError
		ce *refresh.CallError
		oe *ossupload.OSSError
	)
	switch {
	case code == "Interrupted":
		info.Message = "interrupted"
		info.Hint = "the checkpoint is kept: run the same command again to resume"
	case errors.As(err, &ue):
		info.Code = "Usage"
		if !strings.Contains(info.Message, "run 'reupload") {
			info.Hint = "run 'reupload help'"
		}
	case strings.Contains(info.Message, "profile is disabled"):
		info.Hint = "unset ALIBABA_CLOUD_CLI_PROFILE_DISABLED to use aliyun CLI profiles"
	case strings.Contains(info.Message, "unable to get profile with"):
		info.Hint = "that profile is not in the aliyun CLI config (~/.aliyun/config.json); create it with 'aliyun configure --profile NAME'"
	case errors.As(err, &ae):
		info.Hint = ae.Hint()
	case errors.As(err, &ce):
		info.Hint = "ICE could not be reached: check --endpoint or --region, and the network"
	case strings.Contains(info.Message, "cannot write the checkpoint"):
		info.Hint = "is --state-dir writable and not full?"
	case code == "BadInput" && strings.HasPrefix(info.Message, "--state-dir: "):
		info.Hint = "pass a directory reupload may create and write"
	case code == "CredentialRejected":
		info.Hint = "the upload credential from RefreshUploadMedia keeps failing; check the clock and the media's storage"
	case errors.As(err, &oe) && oe.Code == "RequestTimeTooSkewed":
		info.Hint = "this machine's clock is off by more than 15 minutes; sync it (e.g. with NTP) and run again"
	}
	return info
}

func oneLine(s string) string { return reupload.OneLine(s) }

// fail reports err on stderr (and as JSON on stdout with --json) and returns
// its exit code.
func (e *env) fail(err error, asJSON bool, mediaID string) int {
	info := describe(err)
	line := "reupload: " + info.Message
	if info.Hint != "" && !strings.Contains(info.Message, info.Hint) {
		line += " (" + info.Hint + ")"
	}
	fmt.Fprintln(e.stderr, line)
	if asJSON {
		writeJSON(e.stdout, struct {
			MediaID string    `json:"media_id,omitempty"`
			Status  string    `json:"status"`
			Error   errorInfo `json:"error"`
		}{mediaID, "failed", info})
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return reupload.ExitUsage
	}
	return reupload.ExitCode(err)
}
