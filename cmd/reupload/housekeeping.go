package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/resume"
)

// pendingUpload is one line of `reupload status --json`.
type pendingUpload struct {
	MediaID        string    `json:"media_id"`
	Bucket         string    `json:"bucket"`
	Object         string    `json:"object"`
	UploadID       string    `json:"upload_id"`
	PartSize       int64     `json:"part_size"`
	PartsConfirmed int       `json:"parts_confirmed"`
	BytesConfirmed int64     `json:"bytes_confirmed"`
	Size           int64     `json:"size"`
	Source         string    `json:"source"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
	AgeSeconds     float64   `json:"age_seconds"` // since the last update
	// With --oss: what OSS itself holds (ListParts), the truth on resume.
	OSSParts *int   `json:"oss_parts,omitempty"`
	OSSBytes *int64 `json:"oss_bytes,omitempty"`
	OSSGone  bool   `json:"oss_gone,omitempty"` // OSS no longer knows the upload
}

func pending(cp *resume.Checkpoint, now time.Time) pendingUpload {
	p := pendingUpload{MediaID: cp.MediaID, Bucket: cp.Bucket, Object: cp.Key, UploadID: cp.UploadID, PartSize: cp.PartSize,
		PartsConfirmed: len(cp.Parts), Size: cp.Source.Size, Source: cp.Source.Path, Created: cp.Created, Updated: cp.Updated,
		AgeSeconds: now.Sub(cp.Updated).Seconds()}
	for _, pt := range cp.Parts {
		p.BytesConfirmed += pt.Size
	}
	return p
}

func (e *env) status(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	stateDir := &cf.stateDir
	asJSON := fs.Bool("json", false, "one JSON object per upload on stdout")
	askOSS := fs.Bool("oss", false, "also ask OSS (ListParts) what it holds of each upload; needs credentials")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return e.help(fs, "usage: reupload status [flags] [MEDIA_ID]\n\nLists unfinished uploads (checkpoints) in the state dir: parts confirmed, age, source.\n\nFlags:\n")
	}
	if err == nil && len(pos) > 1 {
		err = usagef("status takes at most one MEDIA_ID, got %d arguments", len(pos))
	}
	if err != nil {
		return e.fail(err, false, "")
	}
	store, err := resume.Open(*stateDir)
	if err != nil {
		return e.fail(&reupload.InputError{Field: "--state-dir", Err: err}, false, "")
	}
	cps, listErr := store.List()
	now := time.Now()
	var list []pendingUpload
	for _, cp := range cps {
		if len(pos) == 1 && cp.MediaID != pos[0] {
			continue
		}
		list = append(list, pending(cp, now))
	}
	if listErr != nil {
		fmt.Fprintln(e.stderr, "reupload: warning: "+oneLine(listErr.Error()))
	}
	if *askOSS && len(list) > 0 {
		c, err := cf.client()
		if err != nil {
			return e.fail(err, false, "")
		}
		byID := map[string]*resume.Checkpoint{}
		for _, cp := range cps {
			byID[cp.MediaID] = cp
		}
		for i := range list {
			parts, bytes, gone, err := c.Confirmed(ctx, byID[list[i].MediaID])
			if err != nil {
				return e.fail(err, *asJSON, list[i].MediaID)
			}
			list[i].OSSParts, list[i].OSSBytes, list[i].OSSGone = &parts, &bytes, gone
		}
	}
	if *asJSON {
		for _, p := range list {
			writeJSON(e.stdout, p)
		}
	} else if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no unfinished uploads in "+store.Dir())
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MEDIA_ID\tOBJECT\tUPLOAD_ID\tCONFIRMED\tAGE\tSOURCE")
		for _, p := range list {
			confirmed := fmt.Sprintf("%d parts, %s of %s", p.PartsConfirmed, humanBytes(p.BytesConfirmed), humanBytes(p.Size))
			switch {
			case p.OSSGone:
				confirmed = "gone from OSS (the next run starts afresh)"
			case p.OSSParts != nil:
				confirmed = fmt.Sprintf("%d parts, %s of %s on OSS", *p.OSSParts, humanBytes(*p.OSSBytes), humanBytes(p.Size))
			}
			fmt.Fprintf(tw, "%s\toss://%s/%s\t%s\t%s\t%s\t%s\n", p.MediaID, p.Bucket, p.Object, p.UploadID,
				confirmed, humanAge(time.Duration(p.AgeSeconds*float64(time.Second))), p.Source)
		}
		tw.Flush()
	}
	if len(pos) == 1 && len(list) == 0 {
		return reupload.ExitFailed
	}
	return reupload.ExitOK
}

func humanAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}

// parseAge reads a Go duration or a whole number of days ("7d").
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad age %q: use e.g. 7d, 36h or 90m", s)
	}
	return d, nil
}

func (e *env) abort(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("abort", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	olderThan := fs.String("older-than", "", "abort every unfinished upload not updated for this long, e.g. 7d")
	asJSON := fs.Bool("json", false, "one JSON object per aborted upload on stdout")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return e.help(fs, "usage: reupload abort [flags] MEDIA_ID\n       reupload abort [flags] --older-than 7d\n\nAborts unfinished multipart uploads on OSS (their parts stop costing storage)\nand removes their checkpoints.\n\nFlags:\n")
	}
	var age time.Duration
	switch {
	case err != nil:
	case *olderThan != "" && len(pos) > 0:
		err = usagef("give MEDIA_ID or --older-than, not both")
	case *olderThan == "" && len(pos) != 1:
		err = usagef("abort takes one MEDIA_ID (or --older-than AGE), got %d argument(s)", len(pos))
	case *olderThan != "":
		if age, err = parseAge(*olderThan); err != nil {
			err = usagef("--older-than: %v", err)
		}
	}
	if err != nil {
		return e.fail(err, false, "")
	}
	c, err := cf.client()
	if err != nil {
		return e.fail(err, false, "")
	}
	ids := pos
	if *olderThan != "" {
		stale, err := c.Stale(age, time.Now())
		if err != nil {
			fmt.Fprintln(e.stderr, "reupload: warning: "+oneLine(err.Error()))
		}
		for _, cp := range stale {
			ids = append(ids, cp.MediaID)
		}
		if len(ids) == 0 && !*asJSON {
			fmt.Fprintf(e.stdout, "no unfinished upload older than %s\n", *olderThan)
		}
	}
	code := reupload.ExitOK
	for _, id := range ids {
		r, err := c.Abort(ctx, id)
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("media %s has no unfinished upload in the state dir (see 'reupload status')", id)
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return e.fail(err, false, id)
			}
			code = max(code, e.fail(err, false, id)) // a bad MediaId is 2, any other failure 1
			continue
		}
		switch {
		case *asJSON:
			writeJSON(e.stdout, r)
		case r.Gone:
			fmt.Fprintf(e.stdout, "media %s: upload %s was already gone from OSS; checkpoint removed\n", r.MediaID, r.UploadID)
		default:
			fmt.Fprintf(e.stdout, "media %s: aborted upload %s on oss://%s/%s; checkpoint removed\n", r.MediaID, r.UploadID, r.Bucket, r.Object)
		}
	}
	return code
}
