package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

// commonFlags are the flags every command that talks to ICE shares.
type commonFlags struct {
	region, endpoint, profile, stateDir, ossEndpoint string
	debug                                            bool
	logTo                                            io.Writer // where -v/--debug logs go: the command's stderr
}

// register adds the common flags to fs; -v/--debug logs will go to logTo.
func (c *commonFlags) register(fs *flag.FlagSet, logTo io.Writer) {
	c.logTo = logTo
	fs.StringVar(&c.region, "region", "cn-shanghai", "ICE region id (endpoint ice.<region>.aliyuncs.com)")
	fs.StringVar(&c.endpoint, "endpoint", "", "ICE endpoint override, e.g. http://127.0.0.1:PORT for the emulator (plain http only on loopback)")
	fs.StringVar(&c.profile, "profile", "", "aliyun CLI profile to take credentials from (default: the standard credentials chain)")
	fs.StringVar(&c.stateDir, "state-dir", "", "where checkpoints live (default: the user cache dir)/reupload")
	fs.StringVar(&c.ossEndpoint, "oss-endpoint", "", "OSS endpoint override (internal or accelerate), e.g. https://oss-cn-shanghai-internal.aliyuncs.com")
	fs.BoolVar(&c.debug, "debug", false, "log every ICE and OSS request, retry, credential refresh and checkpoint write on stderr (never a secret)")
	fs.BoolVar(&c.debug, "v", false, "same as --debug")
}

func (c *commonFlags) client() (*reupload.Client, error) {
	cfg := reupload.Config{Region: c.region, Endpoint: c.endpoint, Profile: c.profile, StateDir: c.stateDir, OSSEndpoint: c.ossEndpoint}
	if c.debug {
		cfg.Logger = slog.New(slog.NewTextHandler(c.logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return reupload.New(cfg)
}

type putFlags struct {
	commonFlags
	partSize        sizeFlag
	jobs            jobsFlag
	limitRate       sizeFlag
	json            bool
	quiet           bool
	restart         bool
	md5             bool
	yes             bool
	force           bool
	allowSuspicious bool
	backup          string
	wait            bool
	waitTimeout     time.Duration
}

func (p *putFlags) register(fs *flag.FlagSet, logTo io.Writer) {
	p.commonFlags.register(fs, logTo)
	p.partSize.auto = true
	fs.Var(&p.partSize, "part-size", "part size (auto, or e.g. 8MiB, 64MiB); auto keeps the file within 10,000 parts")
	fs.Var(&p.jobs, "j", "parts uploaded in parallel: auto (16 MiB of parts at first, doubled while throughput rises, up to 32) or 1..64")
	fs.Var(&p.limitRate, "limit-rate", "cap upload bandwidth, e.g. 40MiB (per second)")
	fs.BoolVar(&p.json, "json", false, "print one JSON result object on stdout (the preview goes into it, not on stderr)")
	fs.BoolVar(&p.quiet, "quiet", false, "print nothing but errors (no preview, no progress)")
	fs.BoolVar(&p.restart, "restart", false, "ignore any checkpoint and start a fresh upload")
	fs.BoolVar(&p.md5, "md5", false, "also send Content-MD5 with every part (CRC-64 already verifies every byte)")
	fs.BoolVar(&p.yes, "yes", false, "do not ask for confirmation on a terminal (also -y)")
	fs.BoolVar(&p.yes, "y", false, "same as --yes")
	fs.BoolVar(&p.force, "force", false, "upload even when OSS already holds this very file (it never switches the guards off)")
	fs.BoolVar(&p.allowSuspicious, "allow-suspicious", false, "upload a source the guards refuse: empty, under 10% of the current file, or not a media file")
	fs.StringVar(&p.backup, "backup", "", "before uploading, download the current source into this `directory` (verified), so a wrong replace can be undone")
	fs.BoolVar(&p.wait, "wait", false, "after the upload, wait until ICE reports the new file (GetMediaInfo); exit 4 if it does not in time")
	fs.DurationVar(&p.waitTimeout, "wait-timeout", reupload.DefaultWaitTimeout, "how long --wait waits")
}

func (p *putFlags) options() (reupload.Options, error) {
	if p.waitTimeout <= 0 {
		return reupload.Options{}, usagef("--wait-timeout must be positive, got %s", p.waitTimeout)
	}
	return reupload.Options{PartSize: p.partSize.v, Concurrency: int(p.jobs), LimitRate: p.limitRate.v, MD5: p.md5, Restart: p.restart,
		Guards: !p.allowSuspicious, SkipIdentical: !p.force}, nil
}

const putHelp = `usage: reupload put [flags] MEDIA_ID FILE|URL|-

Replaces the source file of one media, keeping its MediaId. FILE is a local
file, URL an http(s) URL read with Range requests, - reads stdin (a pipe or
device is read the same way; neither is resumable).

Before anything is sent it shows what will be replaced (ICE GetMediaInfo),
refuses a source that is empty, under 10% of the current file or not a media
file (--allow-suspicious), asks for confirmation when run on a terminal
(--yes), and uploads nothing when OSS already holds this very file (--force).
Ctrl-C lets the parts in flight finish (up to 10 s), keeps the checkpoint and
exits 130; a second Ctrl-C stops at once. Run the same command to resume.

Exit codes: 0 done (or unchanged), 1 failed (old source intact), 2 bad input
or refused (nothing sent), 4 done but ICE did not confirm in time (--wait),
5 replaced but the object does not match the source, 130 interrupted.

Flags:
`

func (e *env) put(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("put", flag.ContinueOnError)
	var pf putFlags
	pf.register(fs, e.stderr)
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return e.help(fs, putHelp)
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
	e.scrub = c.Scrub
	out := putOutput{MediaID: mediaID}
	stream := path == "-" || reupload.IsStream(path)

	// What will be replaced, and with what: before anything is sent.
	preview, err := c.Preview(ctx, mediaID, previewSource(path))
	if err != nil {
		return e.fail(err, pf.json, mediaID)
	}
	opts.Preview = preview
	out.Media = mediaJSON(preview)
	if !pf.quiet && !pf.json {
		fmt.Fprintln(e.stderr, "reupload: "+previewLine(mediaID, path, preview))
		for _, w := range preview.Warnings {
			fmt.Fprintln(e.stderr, "reupload: warning: "+w)
		}
	}
	if opts.Guards && len(preview.Problems) > 0 {
		return e.fail(&reupload.GuardError{MediaID: mediaID, Problems: preview.Problems}, pf.json, mediaID)
	}
	if !pf.yes && !stream && e.interactive() {
		if ok, err := e.confirm(preview); err != nil || !ok {
			if err == nil {
				err = errDeclined
			}
			return e.fail(err, pf.json, mediaID)
		}
	}
	if pf.backup != "" {
		if preview.Media == nil {
			return e.fail(errors.New("--backup needs ICE GetMediaInfo, which refused: nothing was uploaded"), pf.json, mediaID)
		}
		b, err := c.Backup(ctx, preview.Media, pf.backup)
		if err != nil {
			return e.fail(err, pf.json, mediaID)
		}
		out.Backup = b
		if !pf.quiet && !pf.json {
			fmt.Fprintf(e.stderr, "reupload: saved the current source to %s (%s, CRC-64 %s)\n", reupload.QuoteName(b.Path), humanBytes(b.Size), b.CRC64)
		}
	}

	// The upload, with a graceful first Ctrl-C.
	stop := e.graceful()
	opts.Stop = stop.ch
	var bar *byteBar
	if !pf.quiet {
		bar = newByteBar(e.stderr, "media "+mediaID)
		opts.OnEvent = eventPrinter(e.stderr, !pf.json)
	}
	stop.counted.Store(true)
	opts.OnProgress = func(p reupload.ProgressInfo) {
		stop.inFlight.Store(int64(p.InFlight))
		bar.update(p)
	}
	if stream && !pf.quiet {
		fmt.Fprintln(e.stderr, "reupload: uploading "+map[bool]string{true: "stdin", false: "a pipe"}[path == "-"]+" part by part from memory; it is not resumable")
	}
	var res *reupload.Result
	if path == "-" {
		res, err = c.OverwriteStream(ctx, mediaID, e.stdin, opts)
	} else {
		res, err = c.Overwrite(ctx, mediaID, path, opts)
	}
	bar.done()
	if err != nil {
		return e.fail(err, pf.json, mediaID)
	}
	out.Result, out.Status = res, "done"
	if res.Unchanged {
		out.Status = "unchanged"
	}

	// ICE's confirmation.
	code := reupload.ExitOK
	if pf.wait && !res.Unchanged {
		if !pf.quiet && !pf.json {
			fmt.Fprintf(e.stderr, "reupload: waiting for ICE to report the new file (up to %s)\n", pf.waitTimeout)
		}
		mi, werr := c.WaitForICE(ctx, mediaID, preview.Media, res.Size, pf.waitTimeout)
		confirmed := werr == nil
		out.Confirmed = &confirmed
		if mi != nil {
			f, _ := mi.Source()
			out.ICE = &iceJSON{Size: f.FileSize, Status: mi.Status, ModifiedTime: f.ModifiedTime}
		}
		if werr != nil {
			code = reupload.ExitCode(werr)
			if !errors.Is(werr, reupload.ErrNotConfirmed) {
				return e.fail(werr, pf.json, mediaID)
			}
			fmt.Fprintln(e.stderr, "reupload: "+oneLine(werr.Error())+"; the object on OSS is replaced and verified (check the media in ICE later)")
		} else if !pf.quiet && !pf.json {
			fmt.Fprintf(e.stderr, "reupload: ICE reports the new file: %s, status %s\n", humanBytes(out.ICE.Size), out.ICE.Status)
		}
	}
	switch {
	case pf.json:
		writeJSON(e.stdout, out)
	case pf.quiet:
	case res.Unchanged:
		fmt.Fprintf(e.stdout, "unchanged: oss://%s/%s already holds this file (%s, CRC-64 %s); nothing uploaded (--force uploads it anyway)\n",
			reupload.QuoteName(res.Bucket), reupload.QuoteName(res.Object), humanBytes(res.Size), res.CRC64)
	default:
		fmt.Fprintf(e.stdout, "overwrote media %s (oss://%s/%s): %s in %.1fs, %d part(s), CRC-64 %s, %d refresh(es), %d retr(ies)%s\n",
			res.MediaID, reupload.QuoteName(res.Bucket), reupload.QuoteName(res.Object), humanBytes(res.Size), res.Seconds, res.Parts, res.CRC64, res.Refreshes, res.Retries, resumedNote(res))
		fmt.Fprintln(e.stdout, "note: ICE's transcoded outputs, snapshots and CDN caches may serve the old content until they are refreshed")
	}
	return code
}

// putOutput is put's --json object.
type putOutput struct {
	Status  string `json:"status"` // done, unchanged
	MediaID string `json:"media_id"`
	*reupload.Result
	Media     *mediaOut        `json:"media,omitempty"`
	Backup    *reupload.Backup `json:"backup,omitempty"`
	Confirmed *bool            `json:"confirmed,omitempty"` // with --wait
	ICE       *iceJSON         `json:"ice,omitempty"`       // ICE's view of the file after --wait
}

// mediaOut is the preview in --json.
type mediaOut struct {
	Title        string   `json:"title"`
	Status       string   `json:"status,omitempty"`
	PreviousSize int64    `json:"previous_size"`
	PreviousFile string   `json:"previous_file,omitempty"`
	Duration     float64  `json:"duration,omitempty"`
	NewSize      int64    `json:"new_size"` // -1 for a stream
	Format       string   `json:"format,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
}

type iceJSON struct {
	Size         int64  `json:"size"`
	Status       string `json:"status"`
	ModifiedTime string `json:"modified_time,omitempty"`
}

func mediaJSON(p *reupload.Preview) *mediaOut {
	m := &mediaOut{NewSize: p.Size, Format: p.Format, Warnings: p.Warnings, PreviousSize: -1}
	if p.Media != nil {
		m.Title, m.Status = p.Media.Title, p.Media.Status
		m.PreviousSize, m.PreviousFile, m.Duration = p.Current.FileSize, p.Current.FileName, p.Current.Duration
	}
	return m
}

// previewSource is what Preview may look at: stdin cannot be peeked from
// here without being consumed, so a stream is previewed by ICE's side only.
func previewSource(path string) string {
	if path == "-" || reupload.IsStream(path) {
		return "-"
	}
	return path
}

// previewLine names what will be replaced, and with what.
func previewLine(mediaID, path string, p *reupload.Preview) string {
	newPart := reupload.QuoteName(reupload.DisplaySource(path))
	if path == "-" {
		newPart = "stdin"
	}
	if p.Size >= 0 {
		newPart += ", " + humanBytes(p.Size)
	}
	if p.Media == nil {
		return fmt.Sprintf("replacing the source of media %s with %s", mediaID, newPart)
	}
	cur := "no file"
	if p.Current.FileName != "" || p.Current.FileSize > 0 {
		cur = reupload.QuoteName(p.Current.FileName) + ", " + humanBytes(p.Current.FileSize)
		if p.Current.Duration > 0 {
			cur += fmt.Sprintf(", %s", (time.Duration(p.Current.Duration * float64(time.Second))).Round(time.Second/10))
		}
	}
	return fmt.Sprintf("replacing %s (media %s, %s): now %s → %s", reupload.QuoteName(strconv.Quote(p.Media.Title)), mediaID, p.Media.Status, cur, newPart)
}

// errDeclined is a "no" at the confirmation prompt: nothing was sent.
var errDeclined = errors.New("not replaced: the replacement was not confirmed")

// interactive reports whether a person can answer a prompt: stdin and
// stderr are both terminals.
func (e *env) interactive() bool {
	return isTerminal(e.stdin) && isTerminal(e.stderr)
}

// confirm asks on stderr and reads the answer from stdin; only y or yes
// (any case) confirms, and end of input declines.
func (e *env) confirm(p *reupload.Preview) (bool, error) {
	title, cur := "this media", "unknown size"
	if p.Media != nil {
		title = strconv.Quote(p.Media.Title)
		cur = humanBytes(p.Current.FileSize)
	}
	fmt.Fprintf(e.stderr, "Replace %s (%s → %s)? [y/N] ", title, cur, humanBytes(p.Size))
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(e.stderr)
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
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
// settingFlags are the flags that set the library's settings, for messages
// about them (reupload.InputError names the setting).
var settingFlags = map[string]string{
	"Config.StateDir":    "--state-dir",
	"Config.OSSEndpoint": "--oss-endpoint",
	"Options.PartSize":   "--part-size",
}

func describe(err error) errorInfo {
	code, requestID := reupload.ErrorCode(err)
	info := errorInfo{Code: code, RequestID: requestID, Message: oneLine(err.Error())}
	if ie := (*reupload.InputError)(nil); errors.As(err, &ie) && settingFlags[ie.Field] != "" {
		info.Message = strings.Replace(info.Message, ie.Field+": ", settingFlags[ie.Field]+": ", 1)
	}
	var (
		ue  *usageError
		ae  *refresh.APIError
		ce  *refresh.CallError
		oe  *ossupload.OSSError
		si  *ossupload.StreamInterruptedError
		nr  *reupload.NotResumableError
		ge  *reupload.GuardError
		mm  *ossupload.MismatchError
		ude *resume.UnsafeDirError
	)
	switch {
	case errors.As(err, &si):
		// A stream cannot resume: the message says what became of it.
		info.Code = "Interrupted"
	case errors.As(err, &nr):
		info.Message = "interrupted; nothing was replaced, and this source cannot be resumed (its server sends no ETag or Last-Modified)"
		info.Hint = "run the same command again to start over"
	case errors.Is(err, ossupload.ErrStopped):
		info.Message = "stopped: the parts sent so far are on OSS and in the checkpoint; nothing was replaced"
		info.Hint = "run the same command again to resume"
	case code == "Interrupted":
		info.Message = "interrupted; nothing was replaced"
		info.Hint = "the checkpoint is kept: run the same command again to resume"
	case errors.As(err, &ge):
		info.Code = "Refused"
		info.Hint = "nothing was sent; pass --allow-suspicious to upload it anyway"
	case errors.Is(err, errDeclined):
		info.Code = "Declined"
	case errors.As(err, &mm):
		info.Hint = "run the same command again to replace the object with this source"
	case errors.As(err, &ude):
		info.Code, info.Hint = "UnsafeStateDir", ude.Fix
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
	if e.scrub != nil {
		info.Message = e.scrub(info.Message)
	}
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
