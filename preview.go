package reupload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/reupload/reupload/refresh"
)

// Preview says what an overwrite would replace, and with what: ICE's view
// of the media (GetMediaInfo), the new source's size and kind, and what
// the guards (Options.Guards) would refuse.
type Preview struct {
	// Media is ICE's view of the media, nil when the caller may not call
	// GetMediaInfo (Forbidden.RAM): there is then no preview and no size
	// guard, and Warnings says so.
	Media *refresh.MediaInfo
	// Current is the media's source file as ICE reports it (zero when
	// unknown).
	Current refresh.FileInfo
	// Size is the new source's size; -1 when unknown (a stream).
	Size int64
	// Format names what the new source's first bytes look like ("video/mp4",
	// "application/zip", …; "" when not recognised).
	Format string
	// Problems are what Options.Guards refuses; Warnings only inform.
	Problems []Problem
	Warnings []string
}

// Problem is one reason the guards refuse a source.
type Problem struct {
	Code    string // ProblemEmpty, ProblemTruncated or ProblemNotMedia
	Message string
}

// Problem codes.
const (
	ProblemEmpty     = "Empty"     // the source has no bytes
	ProblemTruncated = "Truncated" // under TruncatedRatio of the current file
	ProblemNotMedia  = "NotMedia"  // a known non-media format (ZIP, PDF, HTML, …)
)

// TruncatedRatio: a source smaller than this fraction of the media's
// current file looks truncated.
const TruncatedRatio = 0.10

// GuardError is an overwrite refused by Options.Guards before anything was
// sent (ExitUsage).
type GuardError struct {
	MediaID  string
	Problems []Problem
}

func (e *GuardError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
	}
	return "refusing to replace the source of media " + e.MediaID + ": " + strings.Join(msgs, "; ")
}

// sniffSize is how much of a source Preview reads to tell its kind.
const sniffSize = 512

// Preview reports what replacing mediaID's source with source (a file, an
// http(s) URL, or "-"/a pipe, whose size is unknown) would do. It sends
// nothing to OSS and calls ICE GetMediaInfo once.
func (c *Client) Preview(ctx context.Context, mediaID, source string) (*Preview, error) {
	if err := refresh.ValidateMediaID(mediaID); err != nil {
		return nil, &InputError{Field: "MediaId", Err: err}
	}
	size, head := int64(-1), []byte(nil)
	if source != "-" && !IsStream(source) {
		o, err := c.open(ctx, source)
		if err != nil {
			return nil, err
		}
		size = o.src.Size
		head, err = readHead(o.src.R, size)
		o.close()
		if err != nil {
			return nil, &InputError{Field: "source", Err: err}
		}
	}
	p := &Preview{}
	if err := c.lookUp(ctx, mediaID, p); err != nil {
		return nil, err
	}
	p.judge(size, head)
	return p, nil
}

// lookUp fills in ICE's view of the media.
func (c *Client) lookUp(ctx context.Context, mediaID string, p *Preview) error {
	mi, err := c.ice.GetMediaInfo(ctx, mediaID)
	switch {
	case errors.Is(err, refresh.ErrPermission):
		p.Warnings = append(p.Warnings, "ICE refused GetMediaInfo (the caller lacks ice:GetMediaInfo): no preview, and no check of the new size against the current one")
	case err != nil:
		return err
	default:
		p.Media = mi
		p.Current, _ = mi.Source()
	}
	return nil
}

// judge finds the problems and warnings of a source of the given size (-1:
// unknown) that starts with head (nil: not looked at).
func (p *Preview) judge(size int64, head []byte) {
	p.Size, p.Problems, p.Format = size, nil, ""
	switch {
	case size == 0:
		p.Problems = append(p.Problems, Problem{ProblemEmpty, "the new source is empty (0 bytes)"})
	case size > 0 && p.Current.FileSize > 0 && float64(size) < TruncatedRatio*float64(p.Current.FileSize):
		p.Problems = append(p.Problems, Problem{ProblemTruncated, fmt.Sprintf("the new source (%d bytes) is under %.0f%% of the current file (%d bytes): it looks truncated",
			size, TruncatedRatio*100, p.Current.FileSize)})
	}
	if len(head) == 0 {
		return
	}
	format, media := sniff(head)
	p.Format = format
	switch {
	case media:
	case format != "":
		p.Problems = append(p.Problems, Problem{ProblemNotMedia, "the new source looks like " + format + ", not a video, audio, image or subtitle file"})
	default:
		p.Warnings = append(p.Warnings, "the new source's format is not one reupload recognises; uploading it anyway")
	}
}

// sniff names the format head starts with, and whether ICE takes it as
// media (video, audio, image, subtitles). An unknown format returns "".
func sniff(head []byte) (format string, media bool) {
	for _, sig := range []struct {
		prefix string
		name   string
	}{
		{"PK\x03\x04", "a ZIP archive"}, {"PK\x05\x06", "a ZIP archive"}, {"%PDF-", "a PDF document"},
		{"MZ", "a Windows executable"}, {"\x7fELF", "an ELF executable"},
		{"\xfe\xed\xfa\xce", "a Mach-O executable"}, {"\xfe\xed\xfa\xcf", "a Mach-O executable"},
		{"\xcf\xfa\xed\xfe", "a Mach-O executable"}, {"\xce\xfa\xed\xfe", "a Mach-O executable"},
		{"\x1f\x8b", "a gzip archive"}, {"Rar!\x1a\x07", "a RAR archive"}, {"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"},
	} {
		if bytes.HasPrefix(head, []byte(sig.prefix)) {
			return sig.name, false
		}
	}
	// MPEG transport streams (.ts) sync on 0x47 every 188 bytes.
	if len(head) > 188 && head[0] == 0x47 && head[188] == 0x47 {
		return "video/mp2t", true
	}
	ct := http.DetectContentType(head)
	ct, _, _ = strings.Cut(ct, ";")
	if ct == "text/plain" { // text, not binary that happens to start with "{"
		text := bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
		switch {
		case bytes.HasPrefix(text, []byte("WEBVTT")):
			return "text/vtt", true
		case isSRT(text):
			return "application/x-subrip", true
		case bytes.HasPrefix(text, []byte("{")) || bytes.HasPrefix(text, []byte("[")):
			return "JSON text", false
		}
	}
	switch {
	case strings.HasPrefix(ct, "video/"), strings.HasPrefix(ct, "audio/"), strings.HasPrefix(ct, "image/"), ct == "application/ogg":
		return ct, true
	case ct == "text/html":
		return "an HTML page", false
	case ct == "text/xml":
		return "an XML document", false
	}
	return "", false
}

// isSRT reports whether text starts like a SubRip subtitle file: a cue
// number, then a time line with "-->".
func isSRT(text []byte) bool {
	first, rest, ok := bytes.Cut(text, []byte("\n"))
	if !ok || len(bytes.TrimSpace(first)) == 0 || strings.Trim(string(bytes.TrimSpace(first)), "0123456789") != "" {
		return false
	}
	second, _, _ := bytes.Cut(rest, []byte("\n"))
	return bytes.Contains(second, []byte("-->"))
}

// guard refuses, when opts.Guards is set, a source of the given size (-1:
// unknown) starting with head that a preview finds problems with. It judges
// the source itself, and takes ICE's view of the media from opts.Preview
// when the caller made one.
func (c *Client) guard(ctx context.Context, mediaID string, size int64, head []byte, opts Options) error {
	if !opts.Guards {
		return nil
	}
	p := &Preview{}
	if opts.Preview != nil {
		p.Media, p.Current = opts.Preview.Media, opts.Preview.Current
	} else if err := c.lookUp(ctx, mediaID, p); err != nil {
		return err
	}
	p.judge(size, head)
	if len(p.Problems) > 0 {
		return &GuardError{MediaID: mediaID, Problems: p.Problems}
	}
	return nil
}

// readHead reads up to sniffSize bytes at the start of r.
func readHead(r io.ReaderAt, size int64) ([]byte, error) {
	if size <= 0 {
		return nil, nil // nothing to read (and no empty Range request to a URL)
	}
	head := make([]byte, min(sniffSize, size))
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return head[:n], nil
}
