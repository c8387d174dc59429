package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/ossupload"
)

// runHeader opens one run's lines in a --results file.
type runHeader struct {
	Run      string `json:"run"` // start time, UTC
	Manifest string `json:"manifest"`
	Media    int    `json:"media"`
	Shard    string `json:"shard"`
}

const batchHelp = `usage: reupload batch [flags] MANIFEST

Replaces the sources of many media. MANIFEST ("-" for stdin) is CSV
(media_id,source per line, optional header) or JSON Lines
({"media_id":…,"source":…} per line). Every line is checked before anything
is uploaded; bad lines and duplicate MediaIds are listed with their line
numbers (exit 2).

One JSON line per media goes to stdout (when it is not a terminal) or is
appended to --results FILE, after a header line for the run:
  {"media_id":…,"source":…,"line":N,"status":"done|failed|skipped|interrupted|unconfirmed|mismatch",
   "bytes":…,"seconds":…,"upload_id":…,"code":…,"message":…,"request_id":…}
Each media gets put's guards (--allow-suspicious). A media whose object
already holds its source is skipped, checked by content on OSS (--force
uploads it again), and a half-done one resumes. Ctrl-C lets parts in flight
finish (up to 10 s) and starts no new media; a second Ctrl-C stops at once.
--shard K/N takes every N-th line starting at line K (0-based); with --shards N,
K defaults to $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).

Exit: 0 all done, 3 some failed, 2 invalid manifest or flags, 4 done but ICE
did not confirm some in time (--wait), 5 every failure a mismatch, 130
interrupted.

Flags:
`

func (e *env) batch(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs, e.stderr)
	var partSize, limitRate sizeFlag
	partSize.auto = true
	fs.Var(&partSize, "part-size", "part size (auto, or e.g. 8MiB)")
	fs.Var(&limitRate, "limit-rate", "cap upload bandwidth of each media, e.g. 40MiB (per second)")
	files := fs.Int("files", reupload.DefaultFiles, "media uploaded at once (1..256)")
	jobs := fs.Int("j", reupload.DefaultParts, "parts in flight across all media (1..1024)")
	qps := fs.Float64("api-qps", 10, "ICE calls per second, client-side (0: no limit)")
	results := fs.String("results", "", "write the JSON result lines to FILE (default stdout)")
	force := fs.Bool("force", false, "upload even media whose object already holds their source (never switches the guards off)")
	allowSuspicious := fs.Bool("allow-suspicious", false, "upload sources the guards refuse: empty, under 10% of the current file, or not media")
	wait := fs.Bool("wait", false, "after each media, wait until ICE reports its new file (exit 4 if some are not confirmed in time)")
	waitTimeout := fs.Duration("wait-timeout", reupload.DefaultWaitTimeout, "how long --wait waits for each media")
	dry := fs.Bool("dry-run", false, "make every check a real run makes (manifest, sources, each media's GetMediaInfo, the guards, locks) with the same exit codes; upload nothing")
	shard := fs.String("shard", "", "K/N: process every N-th manifest line starting at K (0-based)")
	shards := fs.Int("shards", 0, "N shards, K from $JOB_COMPLETION_INDEX")
	quiet := fs.Bool("quiet", false, "no per-media lines on stderr")
	md5 := fs.Bool("md5", false, "also send Content-MD5 with every part")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return e.help(fs, batchHelp)
	}
	if err == nil && len(pos) != 1 {
		err = usagef("batch takes one MANIFEST, got %d argument(s); usage: reupload batch [flags] MANIFEST", len(pos))
	}
	switch {
	case err != nil:
	case *files < 1 || *files > 256:
		err = usagef("--files %d: want 1..256 media at once", *files)
	case *jobs < 1 || *jobs > 1024:
		err = usagef("-j %d: want 1..1024 parts in flight", *jobs)
	case *qps < 0:
		err = usagef("--api-qps %v: want 0 (no limit) or more", *qps)
	}
	k, n := 0, 1
	if err == nil {
		k, n, err = e.shardFlags(*shard, *shards)
	}
	if err != nil {
		return e.fail(err, false, "")
	}

	// Every line of the manifest, and the sources of this shard's lines,
	// are checked before any upload starts, dry run or not, and every
	// problem is listed at once: a missing file is the manifest's fault,
	// not a failure a rerun could cure.
	items, err := reupload.LoadManifest(pos[0], e.stdin, k, n)
	if err != nil {
		return e.manifestFail(err)
	}

	// JSON lines go to --results (appended, never truncated: earlier runs'
	// results stay), else to stdout unless it is a terminal, where the
	// per-media lines on stderr say it all and would interleave with them.
	var out io.Writer
	switch {
	case *results != "":
		f, err := os.OpenFile(*results, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return e.fail(&reupload.InputError{Field: "--results", Err: err}, false, "")
		}
		defer f.Close()
		out = f
		writeJSON(f, runHeader{Run: time.Now().UTC().Format(time.RFC3339), Manifest: reupload.DisplaySource(pos[0]), Media: len(items), Shard: fmt.Sprintf("%d/%d", k, n)})
	case !isTerminal(e.stdout):
		out = e.stdout
	}
	c, err := cf.client()
	if err != nil {
		return e.fail(err, false, "")
	}
	e.scrub = c.Scrub
	stop := e.graceful()
	opts := reupload.BatchOptions{
		Files: *files, Parts: *jobs, APIQPS: *qps, Force: *force, DryRun: *dry, Wait: *wait, WaitTimeout: *waitTimeout,
		Options: reupload.Options{PartSize: partSize.v, LimitRate: limitRate.v, MD5: *md5, Guards: !*allowSuspicious, Stop: stop.ch},
	}
	total := len(items)
	finished := 0
	var bar *batchBar
	if !*quiet && !*dry {
		bar = newBatchBar(e.stderr, localBytes(items), total)
	}
	if bar != nil {
		opts.Options.Progress = bar
	}
	opts.OnResult = func(r reupload.ItemResult) {
		if out != nil {
			writeJSON(out, r)
		}
		finished++
		switch {
		case bar != nil:
			bar.finished(resultLine(r, finished, total), r.Status == reupload.StatusFailed || r.Status == reupload.StatusMismatch)
		case !*quiet:
			fmt.Fprintln(e.stderr, resultLine(r, finished, total))
		}
	}
	res, err := c.Batch(ctx, items, opts)
	if bar != nil {
		bar.close()
	}
	if f, ok := out.(*os.File); ok && out != io.Writer(e.stdout) {
		if serr := f.Sync(); serr != nil && err == nil {
			return e.fail(fmt.Errorf("--results: %w", serr), false, "")
		}
	}
	if !*quiet || err != nil {
		fmt.Fprintln(e.stderr, summaryLine(res, total, *dry, err))
	}
	return reupload.ExitCode(err)
}

// shardFlags resolves --shard K/N and --shards N with $JOB_COMPLETION_INDEX.
func (e *env) shardFlags(shard string, shards int) (k, n int, err error) {
	switch {
	case shard != "" && shards != 0:
		return 0, 0, usagef("use --shard K/N or --shards N, not both")
	case shard != "":
		k, n, err = reupload.ParseShard(shard)
		if err != nil {
			return 0, 0, usagef("--shard: %v", err)
		}
		return k, n, nil
	case shards < 0:
		return 0, 0, usagef("--shards %d: want 1 or more", shards)
	case shards > 0:
		idx := e.getenv("JOB_COMPLETION_INDEX")
		if idx == "" {
			return 0, 0, usagef("--shards %d needs $JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job) or use --shard K/N", shards)
		}
		k, err := strconv.Atoi(idx)
		if err != nil || k < 0 || k >= shards {
			return 0, 0, usagef("$JOB_COMPLETION_INDEX=%q: want 0..%d for --shards %d", idx, shards-1, shards)
		}
		return k, shards, nil
	}
	return 0, 1, nil
}

// manifestFail prints every bad line of an invalid manifest on its own line.
func (e *env) manifestFail(err error) int {
	var me *reupload.ManifestError
	if !errors.As(err, &me) {
		return e.fail(err, false, "")
	}
	name := reupload.QuoteName(me.Name)
	if me.Name == "" {
		name = "manifest"
	}
	fmt.Fprintf(e.stderr, "reupload: invalid manifest %s: %d bad line(s); nothing was uploaded\n", name, len(me.Lines))
	for _, l := range me.Lines {
		fmt.Fprintf(e.stderr, "  %s:%d: %s\n", name, l.Line, oneLine(l.Problem))
	}
	return reupload.ExitCode(err)
}

func resultLine(r reupload.ItemResult, n, total int) string {
	prefix := fmt.Sprintf("[%d/%d] media %s", n, total, r.MediaID)
	switch r.Status {
	case reupload.StatusDone:
		s := fmt.Sprintf("%s done: %s in %.1fs", prefix, humanBytes(r.Bytes), r.Seconds)
		if r.Resumed {
			s += " (resumed)"
		}
		return s
	case reupload.StatusFailed:
		s := prefix + " failed: " + r.Code + ": " + r.Message
		if r.RequestID != "" && !strings.Contains(r.Message, r.RequestID) {
			s += " (request " + r.RequestID + ")"
		}
		return s
	case reupload.StatusSkipped:
		return prefix + " skipped: OSS already holds this source (--force uploads it again)"
	case reupload.StatusUnconfirmed, reupload.StatusMismatch, reupload.StatusInterrupted:
		return prefix + " " + r.Status + ": " + r.Message
	}
	return fmt.Sprintf("%s %s: %s", prefix, r.Status, humanBytes(r.Bytes))
}

func summaryLine(res []reupload.ItemResult, total int, dry bool, err error) string {
	counts := map[string]int{}
	var bytes int64
	for _, r := range res {
		counts[r.Status]++
		if r.Status == reupload.StatusDone {
			bytes += r.Bytes
		}
	}
	verb := "done"
	if dry {
		verb = "checked"
	}
	s := fmt.Sprintf("reupload: batch of %d media: %d %s (%s), %d failed, %d skipped",
		total, counts[reupload.StatusDone]+counts[reupload.StatusChecked]+counts[reupload.StatusUnconfirmed], verb, humanBytes(bytes),
		counts[reupload.StatusFailed]+counts[reupload.StatusMismatch], counts[reupload.StatusSkipped])
	if n := counts[reupload.StatusUnconfirmed]; n > 0 {
		s += fmt.Sprintf(", %d not yet confirmed by ICE", n)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, ossupload.ErrStopped) {
		s += fmt.Sprintf("; interrupted (%d in flight, %d not started): run the same command again to resume", counts[reupload.StatusInterrupted], total-len(res))
	} else if counts[reupload.StatusFailed]+counts[reupload.StatusMismatch] > 0 {
		s += "; run the same command again to retry the failed ones"
	}
	return s
}

// localBytes sums the sizes of the manifest's local files, for the total
// bar; sources it cannot stat count as they start.
func localBytes(items []reupload.Item) int64 {
	var n int64
	for _, it := range items {
		if fi, err := os.Stat(it.Source); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}
