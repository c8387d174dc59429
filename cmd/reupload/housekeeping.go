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
	cf.register(fs, e.stderr)
	stateDir := &cf.stateDir
	asJSON := fs.Bool("json", false, "one JSON object per upload on stdout")
	askOSS := fs.Bool("oss", false, "also ask OSS (ListParts) what it holds of each upload; with MEDIA_ID, also list every unfinished upload OSS holds for its object, checkpoint or not (needs oss:ListMultipartUploads)")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return e.help(fs, "usage: reupload status [flags] [MEDIA_ID]\n       reupload status --oss [flags] MEDIA_ID\n\nLists unfinished uploads (checkpoints) in the state dir: parts confirmed, age, source.\nWith --oss and a MEDIA_ID it also lists the multipart uploads OSS itself holds for\nthe media's object, including those whose checkpoint is gone; that needs your own\ncredential to have oss:ListMultipartUploads on the bucket.\n\nFlags:\n")
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
	var c *reupload.Client
	if *askOSS && (len(list) > 0 || len(pos) == 1) {
		if c, err = cf.client(); err != nil {
			return e.fail(err, false, "")
		}
	}
	if *askOSS && len(list) > 0 {
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
	var onOSS []reupload.OSSUpload
	var ossErr error
	if *askOSS && len(pos) == 1 {
		onOSS, ossErr = c.OSSUploads(ctx, pos[0])
		if errors.Is(ossErr, context.Canceled) {
			return e.fail(ossErr, false, pos[0])
		}
	}
	if *asJSON {
		for _, p := range list {
			writeJSON(e.stdout, p)
		}
		for _, u := range onOSS {
			writeJSON(e.stdout, ossUploadLine{u, true})
		}
	} else if len(list) == 0 && len(onOSS) == 0 && ossErr == nil {
		fmt.Fprintln(e.stdout, "no unfinished uploads in "+store.Dir())
	} else if len(list) > 0 {
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
			fmt.Fprintf(tw, "%s\toss://%s\t%s\t%s\t%s\t%s\n", p.MediaID, quoteObject(p.Bucket, p.Object), reupload.QuoteName(p.UploadID),
				confirmed, humanAge(time.Duration(p.AgeSeconds*float64(time.Second))), reupload.QuoteName(p.Source))
		}
		tw.Flush()
	}
	if !*asJSON && len(onOSS) > 0 {
		u0 := onOSS[0]
		fmt.Fprintf(e.stdout, "on OSS for media %s (oss://%s):\n", u0.MediaID, quoteObject(u0.Bucket, u0.Object))
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "UPLOAD_ID\tINITIATED\tCHECKPOINT")
		for _, u := range onOSS {
			cp := "none (abort --all-uploads removes it)"
			if u.Checkpoint {
				cp = "yes (the next run resumes it)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", reupload.QuoteName(u.UploadID), u.Initiated.UTC().Format(time.RFC3339), cp)
		}
		tw.Flush()
	} else if !*asJSON && *askOSS && len(pos) == 1 && ossErr == nil {
		fmt.Fprintf(e.stdout, "no unfinished upload on OSS for media %s\n", pos[0])
	}
	if ossErr != nil {
		return e.fail(ossErr, false, pos[0])
	}
	if len(pos) == 1 && len(list) == 0 && len(onOSS) == 0 {
		return reupload.ExitFailed
	}
	return reupload.ExitOK
}

// ossUploadLine is one line of `reupload status --oss --json MEDIA_ID` for
// an upload OSS lists.
type ossUploadLine struct {
	reupload.OSSUpload
	OnOSS bool `json:"on_oss"`
}

// quoteObject is bucket/object for a terminal: a name with a control
// character in it is quoted (reupload.QuoteName) rather than printed raw.
func quoteObject(bucket, object string) string {
	return reupload.QuoteName(bucket + "/" + object)
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
	cf.register(fs, e.stderr)
	olderThan := fs.String("older-than", "", "abort every unfinished upload not updated for this long, e.g. 7d")
	asJSON := fs.Bool("json", false, "one JSON object per aborted upload on stdout")
	allUploads := fs.Bool("all-uploads", false, "abort every unfinished upload OSS holds for MEDIA_ID's object, checkpoint or not (needs oss:ListMultipartUploads)")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return e.help(fs, "usage: reupload abort [flags] MEDIA_ID\n       reupload abort [flags] --older-than 7d\n       reupload abort [flags] --all-uploads MEDIA_ID\n\nAborts unfinished multipart uploads on OSS (their parts stop costing storage)\nand removes their checkpoints. --all-uploads also finds uploads whose checkpoint\nis gone, by listing the object's uploads on OSS with your own credential.\n\nFlags:\n")
	}
	var age time.Duration
	switch {
	case err != nil:
	case *allUploads && (*olderThan != "" || len(pos) != 1):
		err = usagef("--all-uploads takes one MEDIA_ID and no --older-than")
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
	if *allUploads {
		return e.abortAll(ctx, c, pos[0], *asJSON)
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
			fmt.Fprintf(e.stdout, "media %s: upload %s was already gone from OSS; checkpoint removed\n", r.MediaID, reupload.QuoteName(r.UploadID))
		default:
			fmt.Fprintf(e.stdout, "media %s: aborted upload %s on oss://%s; checkpoint removed\n", r.MediaID, reupload.QuoteName(r.UploadID), quoteObject(r.Bucket, r.Object))
		}
	}
	return code
}

// abortAll is abort --all-uploads MEDIA_ID.
func (e *env) abortAll(ctx context.Context, c *reupload.Client, id string, asJSON bool) int {
	rs, err := c.AbortOSSUploads(ctx, id)
	for _, r := range rs {
		switch {
		case asJSON:
			writeJSON(e.stdout, r)
		case r.Gone:
			fmt.Fprintf(e.stdout, "media %s: upload %s was already gone from OSS\n", r.MediaID, reupload.QuoteName(r.UploadID))
		default:
			fmt.Fprintf(e.stdout, "media %s: aborted upload %s on oss://%s\n", r.MediaID, reupload.QuoteName(r.UploadID), quoteObject(r.Bucket, r.Object))
		}
	}
	if err != nil {
		return e.fail(err, false, id)
	}
	if len(rs) == 0 && !asJSON {
		fmt.Fprintf(e.stdout, "media %s: no unfinished upload on OSS\n", id)
	}
	return reupload.ExitOK
}
